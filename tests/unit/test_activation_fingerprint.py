"""Activation products are keyed by the extraction code that made them (tiny random GPT-2, private cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures import activations
from fixtures.activations import FORWARD, MLP_POST_RAW, MLP_PRE_MOMENTS, ActivationStore, SampleSpec
from fixtures.corpora import load_corpus
from fixtures.fingerprint import ROOT
from fixtures.models import load_model, resolve_model
from fixtures.tokens import sample_contexts

TEXT = "The committee met on Tuesday.\nIt agreed to meet again in May, and again in June.\n" * 40


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from zoo.train import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=4096, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return load_model(resolve_model(str(folder)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("text")
    (folder / "a.txt").write_text(TEXT)
    (folder / "b.txt").write_text(TEXT.upper())
    return load_corpus(str(folder))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))


def _get(store: ActivationStore, model, corpus, products):  # type: ignore[no-untyped-def]
    spec = SampleSpec(corpus.name, 512, 32, 0)

    def draw(m):  # type: ignore[no-untyped-def]
        return sample_contexts(m.tokenizer, corpus, 512, 32, m.start_token_id, m.excluded_token_ids, 0)

    return store.get(model.identity, spec, corpus.sha256, "float32", products, lambda: model, draw)


def _records(root: Path, key: str) -> dict[str, dict[str, object]]:
    return json.loads((root / key / "manifest.json").read_text())["files"]


def test_a_product_made_by_other_extraction_code_is_recomputed(
    tmp_path: Path, tiny_model, corpus, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS])
    expected = np.array(first.raw(MLP_POST_RAW))

    monkeypatch.setattr(activations, "extraction_fingerprint", lambda: "edited-extraction-code")
    before = FORWARD.count
    again = _get(store, tiny_model, corpus, [MLP_POST_RAW])
    assert again.computed
    assert FORWARD.count == before + 1
    np.testing.assert_array_equal(expected, again.raw(MLP_POST_RAW))
    records = _records(tmp_path, again.key)
    assert records[MLP_POST_RAW]["code"] == "edited-extraction-code"
    assert records[MLP_PRE_MOMENTS]["code"] != "edited-extraction-code"  # not asked for: left as it was

    assert _get(store, tiny_model, corpus, [MLP_PRE_MOMENTS]).computed  # ... and recomputed when asked for
    assert not _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS]).computed


def test_adding_a_product_keeps_the_products_of_the_same_code(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_POST_RAW])
    kept = _records(tmp_path, first.key)[MLP_POST_RAW]
    mtime = (tmp_path / first.key / "mlp_post.raw.npy").stat().st_mtime_ns
    _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS])
    assert _records(tmp_path, first.key)[MLP_POST_RAW] == kept
    assert (tmp_path / first.key / "mlp_post.raw.npy").stat().st_mtime_ns == mtime


def test_a_cache_entry_written_before_fingerprints_is_recomputed(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_POST_RAW])
    path = tmp_path / first.key / "manifest.json"
    manifest = json.loads(path.read_text())
    for record in manifest["files"].values():
        del record["code"]
    path.write_text(json.dumps(manifest))
    assert _get(store, tiny_model, corpus, [MLP_POST_RAW]).computed


def test_extraction_fingerprint_covers_extraction_hooks_moments_and_sampler() -> None:
    import claims.lib.moments
    from fixtures import extraction, hooks, tokens

    covered = {(ROOT / path).resolve() for path in activations.EXTRACTION_CODE}
    for module in (activations, extraction, hooks, tokens, claims.lib.moments):
        assert Path(module.__file__ or "").resolve() in covered, module.__name__
