"""Degenerate text is refused, never measured: NUL bytes, binary data, one word (or one token) repeated.

Corpus-level rules (fixtures.corpus_text.check_text_content) run on every load, without a tokenizer; the sample-level
rule (fixtures.tokens.check_sample) runs where a sample is drawn, and catches what only a tokenizer shows. The
start-up path (a usage error from `pytest --claims-datasets=...`) is in tests/unit/reliability/test_reliability_corpus_content.py.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from fixtures import corpus_hub, corpus_text, tokens
from fixtures.corpora import CORPORA, CorpusError, load_corpus
from fixtures.corpus_text import check_text_content
from fixtures.tokens import DegenerateSampleError, check_sample, sample_contexts

REGISTERED = sorted(CORPORA)
# 29 distinct words: a local corpus made of it passes the word rules.
GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent a new nation, conceived in Liberty, "
    "and dedicated to the proposition that all men are created equal.\n"
)
# The suite's own fixture corpus (tests/unit/reliability/conftest.py, tests/unit/test_activation_cache.py).
FIXTURE_TEXT = "The committee met on Tuesday.\nIt agreed to meet again in May, and again in June.\n" * 40


@pytest.fixture(scope="module")
def zoo_tokenizer() -> Any:
    from zoo.build import load_tokenizer

    return load_tokenizer()


def _file(tmp_path: Path, content: bytes | str, name: str = "corpus.txt") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return str(path)


def _docs(*texts: str) -> list[dict[str, str]]:
    return [{"id": f"doc{k}", "text": text} for k, text in enumerate(texts)]


# --- corpus level: NUL and binary content ---------------------------------------------------------------------


def test_nul_byte_corpus_file_is_refused_naming_the_corpus_and_the_fix(tmp_path: Path) -> None:
    path = _file(tmp_path, b"\x00" * 4096)
    with pytest.raises(CorpusError) as error:
        load_corpus(path)
    message = str(error.value)
    assert message.startswith(f"corpus {path!r} contains 4,096 NUL characters (first in 'corpus.txt')")
    assert "binary data, or UTF-16/UTF-32 text" in message
    assert "Fix: remove non-text files, or convert the text to UTF-8" in message
    assert "\n" not in message


def test_a_single_nul_in_otherwise_good_text_is_refused_naming_the_file(tmp_path: Path) -> None:
    _file(tmp_path, GETTYSBURG, "a.txt")
    _file(tmp_path, GETTYSBURG + "\x00", "b.txt")
    with pytest.raises(
        CorpusError,
        match=rf"^corpus {re.escape(repr(str(tmp_path)))} contains 1 NUL characters "
        r"\(first in 'b\.txt'\)",
    ):
        load_corpus(str(tmp_path))


def test_random_bytes_file_is_refused_as_binary_not_sent_to_iconv(tmp_path: Path) -> None:
    path = _file(tmp_path, random.Random(0).randbytes(65_536), "blob.txt")
    with pytest.raises(CorpusError) as error:
        load_corpus(path)
    message = str(error.value)
    assert message.startswith(f"{path} is binary data, not text: ")
    assert re.search(r"[\d,]+ of 65,536 bytes are NUL or control bytes \(at most 1% in text\)", message)
    assert "Fix: pass UTF-8 text files only" in message
    assert "iconv -f latin1" not in message


def test_utf16_text_file_is_refused_naming_the_conversion(tmp_path: Path) -> None:
    path = _file(tmp_path, GETTYSBURG.encode("utf-16"), "speech.txt")
    with pytest.raises(CorpusError, match=r"speech\.txt is binary data, not text.*`iconv -f utf-16 -t utf-8`"):
        load_corpus(path)


def test_latin1_text_still_gets_the_iconv_hint_not_the_binary_message(tmp_path: Path) -> None:
    path = _file(tmp_path, ("Café crème, déjà vu. " + GETTYSBURG).encode("latin-1"))
    with pytest.raises(CorpusError, match=r"is not valid UTF-8 \(byte 3\); convert it, e\.g\. `iconv -f latin1"):
        load_corpus(path)


def test_binary_data_converted_to_utf8_is_refused_for_its_control_characters(tmp_path: Path) -> None:
    # What `iconv -f latin1 -t utf-8` makes of a binary file: valid UTF-8, full of C0 and C1 controls.
    binary = random.Random(1).randbytes(65_536).replace(b"\x00", b"A").decode("latin-1")
    path = _file(tmp_path, binary, "blob.txt")
    with pytest.raises(CorpusError) as error:
        load_corpus(path)
    message = str(error.value)
    assert re.match(
        rf"corpus {re.escape(repr(path))} looks like binary data, not text: [\d,]+ of 65,536 characters "
        r"\(\d+\.\d%; at most 1% allowed\) are control characters or U\+FFFD, most of them in 'blob\.txt'\. "
        r"Fix: pass plain UTF-8 text",
        message,
    ), message


def test_control_characters_are_allowed_up_to_one_percent_of_the_text() -> None:
    text = GETTYSBURG * 10
    n = int(len(text) * corpus_text.MAX_CONTROL_SHARE)
    allowed = text[: len(text) - n] + "\x0c" * n  # form feeds: a page break is not binary
    check_text_content("ok", _docs(allowed))
    with pytest.raises(CorpusError, match=r"looks like binary data"):
        check_text_content("too many", _docs(allowed[:-1] + "\x0c\x0c"))


def test_replacement_characters_count_as_unreadable() -> None:
    with pytest.raises(CorpusError, match=r"corpus 'lossy' looks like binary data.*U\+FFFD"):
        check_text_content("lossy", _docs(GETTYSBURG + "\ufffd" * 100))


def test_tab_newline_and_carriage_return_are_text() -> None:
    check_text_content("ok", _docs(GETTYSBURG.replace(" ", "\t").replace("\n", "\r\n") * 5))


# --- corpus level: empty and too few distinct words ------------------------------------------------------------


@pytest.mark.parametrize("texts", [(), (" \n\t",), ("", "\n\n")])
def test_corpus_that_is_empty_after_stripping_is_refused(texts: tuple[str, ...]) -> None:
    with pytest.raises(CorpusError, match=r"^corpus 'blank' is empty: its documents hold no text$"):
        check_text_content("blank", _docs(*texts))


def test_corpus_of_one_word_repeated_is_refused_for_too_few_distinct_words(tmp_path: Path) -> None:
    path = _file(tmp_path, "hello " * 5000)
    with pytest.raises(CorpusError) as error:
        load_corpus(path)
    assert str(error.value) == (
        f"corpus {path!r} has too few distinct words to measure anything: 1 distinct among 5,000 words "
        "(at least 20 needed). Fix: use varied natural text"
    )


def test_corpus_without_any_word_is_refused() -> None:
    with pytest.raises(CorpusError, match=r"0 distinct among 0 words"):
        check_text_content("punctuation", _docs("... --- !!! ??? ***\n" * 50))


def test_corpus_that_is_mostly_one_word_is_refused_even_with_enough_distinct_words() -> None:
    with pytest.raises(CorpusError) as error:
        check_text_content("padded", _docs(GETTYSBURG + " the" * 1000))
    assert str(error.value) == (
        "corpus 'padded' is mostly one word repeated: 'the' is 1,001 of its 1,030 words (97%; at most 50% "
        "allowed). Fix: use varied natural text"
    )


def test_hub_dataset_text_goes_through_the_same_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))

    fake = datasets.Dataset.from_dict({"text": ["\x00\x00\x00", "ok"]})
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: fake)
    with pytest.raises(CorpusError, match=r"^corpus 'hf:someone/nul-bytes' contains 3 NUL characters \(first in '0'\)"):
        corpus_hub.load_hub(corpus_hub.HubSpec.parse("hf:someone/nul-bytes"))
    assert not list(tmp_path.rglob("hf-*.jsonl")), "refused text was cached"


def test_the_suites_fixture_text_passes_so_thresholds_stay_below_it(tmp_path: Path) -> None:
    # 28 distinct words, top word 7%: the smallest corpus the suite's own tests use. Raising MIN_DISTINCT_WORDS past
    # it means giving those fixtures richer text first.
    _file(tmp_path, FIXTURE_TEXT, "a.txt")
    _file(tmp_path, FIXTURE_TEXT.upper(), "b.txt")
    assert load_corpus(str(tmp_path)).n_documents == 2


@pytest.mark.parametrize("name", REGISTERED)
def test_every_packaged_corpus_passes_the_content_checks(name: str) -> None:
    dataset = load_corpus(name).dataset  # load_corpus runs the checks; call them once more, visibly
    check_text_content(name, [{"id": i, "text": t} for i, t in zip(dataset["id"], dataset["text"], strict=True)])


# --- sample level: too few distinct tokens ---------------------------------------------------------------------


def _unchecked_corpus(name: str, *texts: str) -> Any:
    """A corpus that skipped check_text_content, as sample_contexts sees it."""
    return SimpleNamespace(name=name, sha256="x", n_documents=len(texts), dataset={"text": list(texts)})


def test_sample_of_one_token_repeated_is_refused_naming_the_numbers(zoo_tokenizer: Any) -> None:
    corpus = _unchecked_corpus("thes", "the " * 3000, "the " * 3000)
    with pytest.raises(DegenerateSampleError) as error:
        sample_contexts(zoo_tokenizer, corpus, 1024, 32, 0, (0,))
    message = str(error.value)
    assert re.match(
        r"the token sample of corpus 'thes' is degenerate under this tokenizer: [12] distinct token ids in "
        r"[\d,]+ positions \(at least 20 needed\); token id \d+ \('.*the'\) fills (?:9\d|100)% of its [\d,]+ positions "
        r"\(at most 75%\)\. The text is one token repeated",
        message,
    ), message
    assert message.endswith("Fix: use varied text this model's tokenizer covers")


def test_sample_of_a_word_split_into_a_few_tokens_is_refused_for_too_few_distinct_ids(zoo_tokenizer: Any) -> None:
    corpus = _unchecked_corpus("hellos", "hello " * 3000, "hello " * 3000)  # 'hello' is 3 tokens of the zoo's
    with pytest.raises(
        DegenerateSampleError, match=r"'hellos' .*: 3 distinct token ids in [\d,]+ positions \(at least 20"
    ):
        sample_contexts(zoo_tokenizer, corpus, 1024, 32, 0, (0,))


class _UnkTokenizer:
    """Knows only '.', ',' and the end-of-text token; every other word is <unk> (id 1)."""

    eos_token_id = 0
    vocab: ClassVar[dict[str, int]] = {"<|endoftext|>": 0, "<unk>": 1, ".": 2, ",": 3}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        words = re.findall(r"\w+|[^\w\s]", text)
        return {"input_ids": [self.vocab.get(w, 1) for w in words]}

    def convert_ids_to_tokens(self, token_id: int) -> str:
        return {v: k for k, v in self.vocab.items()}[token_id]


def test_text_the_tokenizer_reads_as_unk_is_refused_though_the_corpus_passes(tmp_path: Path) -> None:
    corpus = load_corpus(_file(tmp_path, GETTYSBURG * 100))  # varied words: the corpus-level rules let it in
    with pytest.raises(DegenerateSampleError, match=r"3 distinct token ids.*token id 1 \('<unk>'\) fills 9\d% of its"):
        sample_contexts(_UnkTokenizer(), corpus, 512, 32, 0, (0,))


def test_sample_rule_thresholds_at_their_boundaries() -> None:
    def sample(ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        array = np.asarray([[0, *ids]], dtype=np.int64)
        excluded = np.zeros_like(array, dtype=bool)
        excluded[:, 0] = True
        return array, excluded

    varied = [k % 20 + 1 for k in range(100)]  # 100 kept positions: floor min(20, 100 // 4) = 20
    check_sample(*sample(varied), "ok")
    with pytest.raises(DegenerateSampleError, match=r"19 distinct token ids in 100 positions \(at least 20 needed\)"):
        check_sample(*sample([k % 19 + 1 for k in range(100)]), "few")
    top = [1] * 75 + list(range(2, 27))  # 75% one id, 26 distinct
    check_sample(*sample(top), "ok")
    with pytest.raises(DegenerateSampleError, match=r"token id 1 fills 76% of its 100 positions \(at most 75%\)"):
        check_sample(*sample([1] * 76 + list(range(2, 26))), "one")
    tiny = [1, 2, 3, 1, 2, 3, 1, 2]  # 8 kept: floor 8 // 4 = 2, so a tiny test sample is not refused
    check_sample(*sample(tiny), "tiny")
    assert tokens.MIN_DISTINCT_TOKENS == 20  # the numbers above are built around these two
    assert tokens.MAX_TOP_TOKEN_SHARE == 0.75


def test_sample_with_no_kept_position_is_refused() -> None:
    array = np.zeros((2, 8), dtype=np.int64)
    with pytest.raises(DegenerateSampleError, match=r"corpus 'seps' has no position left for statistics"):
        check_sample(array, np.ones_like(array, dtype=bool), "seps")


def test_fixture_text_sample_passes(zoo_tokenizer: Any, tmp_path: Path) -> None:
    _file(tmp_path, FIXTURE_TEXT, "a.txt")
    _file(tmp_path, FIXTURE_TEXT.upper(), "b.txt")
    newline = zoo_tokenizer("\n", add_special_tokens=False)["input_ids"]
    for n_tokens in (64, 2048):
        sample_contexts(zoo_tokenizer, load_corpus(str(tmp_path)), n_tokens, 32, 0, (0, *newline))


@pytest.mark.parametrize("name", REGISTERED)
def test_every_packaged_corpus_gives_a_sample_that_passes(name: str, zoo_tokenizer: Any) -> None:
    newline = zoo_tokenizer("\n", add_special_tokens=False)["input_ids"]
    sample = sample_contexts(zoo_tokenizer, load_corpus(name), 4096, 64, 0, (0, *newline))
    assert len(np.unique(sample.tokens[~sample.excluded])) >= 400
