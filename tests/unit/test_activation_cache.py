"""The activation cache on a real (tiny, random) GPT-2 through TransformerBridge: keys, reuse, corruption, NaN.

Products are also keyed by the extraction code that made them (the last tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures import activations
from fixtures.activations import (
    FORWARD,
    MLP_POST_RAW,
    MLP_PRE_MOMENTS,
    ActivationError,
    ActivationStore,
    SampleSpec,
    cache_key,
)
from fixtures.corpora import load_corpus
from fixtures.fingerprint import ROOT
from fixtures.model_loading import load_model
from fixtures.models import resolve_model
from fixtures.tokens import TokenBudgetError, sample_contexts

TEXT = "The committee met on Tuesday.\nIt agreed to meet again in May, and again in June.\n" * 40


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from zoo.build import load_tokenizer

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


def _get(store: ActivationStore, model, corpus, products, n_tokens: int = 512):  # type: ignore[no-untyped-def]
    spec = SampleSpec(corpus.name, n_tokens, 32, 0)

    def draw(m):  # type: ignore[no-untyped-def]
        return sample_contexts(m.tokenizer, corpus, n_tokens, 32, m.start_token_id, m.excluded_token_ids, 0)

    return store.get(model.identity, spec, corpus.sha256, "float32", products, lambda: model, draw)


def test_samples_start_every_context_with_bos_and_exclude_newlines(tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    sample = sample_contexts(tiny_model.tokenizer, corpus, 320, 32, 0, tiny_model.excluded_token_ids)
    assert sample.tokens.shape == (10, 32)
    assert (sample.tokens[:, 0] == 0).all()
    newline = tiny_model.tokenizer("\n", add_special_tokens=False)["input_ids"][0]
    assert sample.excluded[sample.tokens == newline].all()


def test_same_request_gives_the_same_tokens(tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    first = sample_contexts(tiny_model.tokenizer, corpus, 256, 32, 0, (0,), seed=3)
    second = sample_contexts(tiny_model.tokenizer, corpus, 256, 32, 0, (0,), seed=3)
    np.testing.assert_array_equal(first.tokens, second.tokens)


@pytest.mark.parametrize("n_tokens", [0, -5])
def test_non_positive_token_budget_is_refused(tiny_model, corpus, n_tokens: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenBudgetError, match="positive"):
        sample_contexts(tiny_model.tokenizer, corpus, n_tokens, 32, 0, (0,))


def test_budget_larger_than_the_corpus_names_both_numbers(tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TokenBudgetError, match=r"has only [\d,]+ tokens.*10,000,000 were requested"):
        sample_contexts(tiny_model.tokenizer, corpus, 10_000_000, 32, 0, (0,))


def test_too_small_corpus_is_tokenised_once_per_document_not_once_per_cap_doubling(tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def counting(text, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(text))
        return tiny_model.tokenizer(text, **kwargs)

    counting.eos_token_id = tiny_model.tokenizer.eos_token_id  # type: ignore[attr-defined]
    with pytest.raises(TokenBudgetError, match="has only"):
        sample_contexts(counting, corpus, 10_000_000, 32, 0, (0,))
    assert len(calls) <= 2 * corpus.n_documents  # one pass that cuts, one that does not


def test_segments_cut_from_long_documents_drop_both_edge_tokens(tiny_model) -> None:  # type: ignore[no-untyped-def]
    from fixtures.tokens import _segments

    words = " ".join(f"word{i}" for i in range(4000))
    ids = tiny_model.tokenizer(words, add_special_tokens=False)["input_ids"]
    for seed in range(60):  # the seeded offsets land on the window's first and last tokens for some seeds
        stream, owner, cut = _segments(tiny_model.tokenizer, [words], [0], 8, 1000, 0, seed)
        assert cut
        assert stream[-1] == 0
        assert owner[-1] == -1
        body = stream[:-1]
        assert 0 < len(body) <= 8
        # no token of a word cut by the character window: the segment is a run of the whole document's tokens
        assert any(ids[i : i + len(body)] == body for i in range(len(ids) - len(body) + 1)), seed


def test_second_request_reuses_the_cache_without_a_forward_pass(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS])
    before = FORWARD.count
    second = _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS])
    assert first.computed
    assert not second.computed
    assert FORWARD.count == before
    np.testing.assert_array_equal(first.raw(MLP_POST_RAW), second.raw(MLP_POST_RAW))


def test_raw_activations_equal_a_direct_bridge_run(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    import torch

    acts = _get(ActivationStore(tmp_path), tiny_model, corpus, [MLP_POST_RAW])
    tokens = torch.from_numpy(acts.tokens[:2])
    _, cache = tiny_model.bridge.run_with_cache(tokens, names_filter=["blocks.1.mlp.hook_post"])
    direct = cache["blocks.1.mlp.hook_post"].reshape(-1, tiny_model.d_mlp).numpy()
    np.testing.assert_allclose(acts.raw(MLP_POST_RAW)[: direct.shape[0], 1], direct, atol=2e-3, rtol=2e-3)


def test_missing_product_is_added_in_one_forward_pass(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    _get(store, tiny_model, corpus, [MLP_POST_RAW])
    before = FORWARD.count
    both = _get(store, tiny_model, corpus, [MLP_POST_RAW, MLP_PRE_MOMENTS])
    assert FORWARD.count == before + 1
    assert set(both.products) == {MLP_POST_RAW, MLP_PRE_MOMENTS}


def test_corrupted_cache_file_is_detected_and_recomputed(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_POST_RAW])
    expected = np.array(first.raw(MLP_POST_RAW))
    path = tmp_path / first.key / "mlp_post.raw.npy"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    again = _get(store, tiny_model, corpus, [MLP_POST_RAW])
    assert again.computed
    np.testing.assert_array_equal(expected, again.raw(MLP_POST_RAW))


def test_truncated_cache_file_is_detected_and_recomputed(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    store = ActivationStore(tmp_path)
    first = _get(store, tiny_model, corpus, [MLP_PRE_MOMENTS])
    path = tmp_path / first.key / "mlp_pre.moments.npz"
    path.write_bytes(path.read_bytes()[:100])
    assert _get(store, tiny_model, corpus, [MLP_PRE_MOMENTS]).computed


def test_key_changes_with_everything_that_changes_the_numbers() -> None:
    spec = SampleSpec("sotu", 1000, 128, 0)
    base = cache_key("m", spec, "c", "float32")
    variants = [
        cache_key("m2", spec, "c", "float32"),
        cache_key("m", SampleSpec("sotu", 1001, 128, 0), "c", "float32"),
        cache_key("m", SampleSpec("sotu", 1000, 64, 0), "c", "float32"),
        cache_key("m", SampleSpec("sotu", 1000, 128, 1), "c", "float32"),
        cache_key("m", SampleSpec("code", 1000, 128, 0), "c", "float32"),
        cache_key("m", spec, "c2", "float32"),
        cache_key("m", spec, "c", "bfloat16"),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_nan_activations_are_refused_not_averaged(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    source = tiny_model.ref.local_dir()
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] = float("nan")
    model.save_pretrained(tmp_path / "nan-model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, tmp_path / "nan-model" / name)
    poisoned = load_model(resolve_model(str(tmp_path / "nan-model")))
    with pytest.raises(ActivationError, match=r"NaN/inf values in blocks\.0\.mlp\.hook_pre"):
        _get(ActivationStore(tmp_path / "cache"), poisoned, corpus, [MLP_PRE_MOMENTS])
    assert not any((tmp_path / "cache").rglob("*.npz"))


def test_manifest_records_checksums_of_every_file(tmp_path: Path, tiny_model, corpus) -> None:  # type: ignore[no-untyped-def]
    acts = _get(ActivationStore(tmp_path), tiny_model, corpus, [MLP_POST_RAW])
    manifest = json.loads((tmp_path / acts.key / "manifest.json").read_text())
    assert set(manifest["files"]) == {"tokens", "excluded", MLP_POST_RAW}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())


# --- products are keyed by the extraction code that made them ---------------------------------------------


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
    import engine.moments
    from fixtures import extraction, hooks, tokens

    covered = {(ROOT / path).resolve() for path in activations.EXTRACTION_CODE}
    for module in (activations, extraction, hooks, tokens, engine.moments):
        assert Path(module.__file__ or "").resolve() in covered, module.__name__
