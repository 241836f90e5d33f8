"""Real tiny models and text for the claims' falsification tests: input built so that a claim must not PASS."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from claims.matrix import ClaimCase
from claims.registry import load_all
from claims.runner import run_case
from claims.verdict import Axis, Evidence, Verdict
from fixtures import models

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "if",
    "so",
    "no",
    "will",
    "can",
    "more",
    "other",
    "about",
    "time",
    "people",
    "government",
    "congress",
    "nation",
    "war",
    "peace",
    "law",
    "states",
    "united",
    "year",
    "years",
    "public",
    "country",
    "great",
    "state",
    "duty",
    "power",
]


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    """Tiny models are slower with two threads on a busy 2-core machine (OpenMP spin-waits)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~40k words of seeded pseudo-prose in a few .txt files (a local corpus: no download)."""
    folder = tmp_path_factory.mktemp("text")
    rng = random.Random(0)
    for k in range(4):
        sentences = []
        for _ in range(1200):
            n = rng.randint(5, 14)
            sentences.append(" ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + ".")
        (folder / f"doc{k}.txt").write_text(" ".join(sentences))
    return folder


def _save(model, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    from zoo.build import load_tokenizer

    model.save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny GPT-2s: two independent random inits, and an MLP-neuron-permuted copy of the first."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("tiny")
    config = GPT2Config(
        vocab_size=4096, n_positions=64, n_embd=64, n_layer=2, n_head=4, n_inner=256, bos_token_id=0, eos_token_id=0
    )
    out = {}
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        out[f"random{seed}"] = _save(GPT2LMHeadModel(config), root / f"random{seed}")
    torch.manual_seed(0)
    base = GPT2LMHeadModel(config)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for block in base.transformer.h:
            perm = torch.randperm(config.n_inner, generator=gen)
            block.mlp.c_fc.weight.copy_(block.mlp.c_fc.weight[:, perm])  # Conv1D: [d_model, d_mlp]
            block.mlp.c_fc.bias.copy_(block.mlp.c_fc.bias[perm])
            block.mlp.c_proj.weight.copy_(block.mlp.c_proj.weight[perm, :])  # [d_mlp, d_model]
    out["permuted0"] = _save(base, root / "permuted0")
    torch.manual_seed(0)
    inverted = GPT2LMHeadModel(config)  # prediction-like neurons in layer 0, none in the last layer
    with torch.no_grad():
        w_u = inverted.lm_head.weight  # [vocab, d_model] (tied)
        first = inverted.transformer.h[0].mlp.c_proj.weight  # [d_mlp, d_model]
        first.copy_(w_u[: config.n_inner] * 3.0)
        last = inverted.transformer.h[-1].mlp.c_proj.weight
        last.copy_(torch.randn(last.shape, generator=gen) * 0.02)
    out["inverted_depth"] = _save(inverted, root / "inverted_depth")
    torch.manual_seed(0)
    suppressing = GPT2LMHeadModel(config)  # last-layer neurons that suppress token classes, firing at random
    with torch.no_grad():
        w_u = suppressing.lm_head.weight  # tied with the embedding: classes of tokens that share one direction
        proj = suppressing.transformer.h[-1].mlp.c_proj.weight
        for n in range(32):
            direction = torch.randn(config.n_embd, generator=gen)
            w_u[200 + 40 * n : 220 + 40 * n] = direction * 0.5
            proj[n] = -direction
    out["suppressing"] = _save(suppressing, root / "suppressing")
    return out


@pytest.fixture(scope="session")
def claims_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for these tests (activations are keyed by weights, so sharing is safe and saves passes)."""
    return tmp_path_factory.mktemp("claims-cache")


@pytest.fixture
def run_claim(claims_cache: Path, monkeypatch: pytest.MonkeyPatch, text_dir: Path) -> Callable[..., Evidence]:
    """Run one registered claim on a declared family or model, on the tiny text, with a test-only cache."""
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(claims_cache))
    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))
    registry = load_all()

    def run(
        claim_id: str, subject: str, axis: Axis = Axis.GT1, dataset: str | None = None, tokens: int = 20_480
    ) -> Evidence:
        bench = Workbench(RunSettings(tokens, tokens, 64, "cpu", "float32", 0))
        case = ClaimCase(subject, dataset or str(text_dir), claim_id, axis)
        return run_case(case, registry[claim_id], bench)

    return run


@pytest.fixture
def ctx_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_dir: Path, tiny_dirs):  # type: ignore[no-untyped-def]
    """A context for a claim on the tiny random model (measurements are monkeypatched per test)."""
    import dataclasses

    from claims.context import ClaimContext
    from claims.registry import load_all
    from fixtures.models import resolve_model
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    bench = Workbench(RunSettings(2_048, 2_048, 64, "cpu", "float32", 0))

    def make(claim_id: str, scale: str = "small", model: Path | None = None) -> ClaimContext:
        folder = str(model or tiny_dirs["random0"])
        ref = dataclasses.replace(resolve_model(folder), scale=scale)
        axis = Axis.GT3 if claim_id[0] in "AE" else Axis.GT1
        return ClaimContext(load_all()[claim_id], axis, folder, ref, None, str(text_dir), bench)

    return make


@pytest.fixture
def passes_with_effect() -> Callable[..., None]:
    """Assert that a claim's evidence PASSes with its effect against the control cleared, as the runner accepts it."""

    def check(ctx, evidence) -> None:  # type: ignore[no-untyped-def]
        from claims.runner import _check_numbers

        assert evidence.verdict is Verdict.PASS, evidence.reason
        assert evidence.effect is not None
        assert evidence.effect.cleared
        assert evidence.parts[-1].name == f"95 % low of {evidence.effect.name}"
        assert len(evidence.parts) >= 2  # the point clauses are reported too
        _check_numbers(ctx.claim, evidence)  # the runner accepts it

    return check


@pytest.fixture
def declare():  # type: ignore[no-untyped-def]
    """Declare a family of local model dirs for this test."""

    def declare_family(name: str, *dirs: Path) -> str:
        models.declare_family(name, [str(d) for d in dirs])
        return name

    return declare_family
