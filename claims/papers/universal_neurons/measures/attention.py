"""Measurement glue of A1-A3 (the BOS attention analysis): the sample, the probes, the memos.

Why a module of its own: the claims (attention.py for A1/A2, ablation.py for A3) decide; this module picks the
row's sample and budget, runs the probes of fixtures/probes/attention.py (value norms, the start token's keys,
the query-path ablation), computes the weight heuristic h for every (neuron, later head) pair and picks A3's
pairs, memoising each on disk (`ctx.workbench.derived`) or in the session (`ctx.workbench.memo`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from claims.context import ClaimContext
from engine.interventions import single_threaded
from fixtures.models import ModelRef
from fixtures.probes.attention import bos_value_norms, query_path_ablation, start_token_keys

A3_CONTEXTS = 32
BATCH = 16
FIGURE_POINTS = 20_000
ABLATION_VERSION = 1
VALUE_NORMS_VERSION = 1


# --- A1 ---------------------------------------------------------------------------------------------------------


def value_norms(ctx: ClaimContext, ref: ModelRef) -> dict[str, Any]:
    """Per head: ‖W_O v‖ at the start token and its mean over other positions (memoised on disk)."""
    bench = ctx.workbench
    assert ctx.dataset is not None
    spec = bench.sample_spec(ref, ctx.dataset)

    def compute() -> dict[str, Any]:
        model = bench.model(ref)
        sample = bench.tokens(ref, ctx.corpus_name)
        n_ctx = min(
            len(sample.tokens), max(1, math.ceil(bench.settings.probe_tokens_for(ref.scale) / sample.context_length))
        )
        tokens = sample.tokens[:n_ctx]
        return bos_value_norms(model, tokens, bench.forward_pass, BATCH)

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "text": bench.corpus(ctx.dataset).sha256,  # the sample names its corpus; this is what the corpus holds
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "dtype": bench.settings.dtype,
    }
    return bench.derived("bos-value-norms", VALUE_NORMS_VERSION, inputs, single_threaded(compute))


# --- A2 ---------------------------------------------------------------------------------------------------------


def heuristic_scores(ctx: ClaimContext, ref: ModelRef) -> dict[str, Any]:
    """Scores h for every (neuron, later head) pair and for Gaussian unit directions (in-process memo, ~1 s; k_BOS on disk).

    Returns:
        {"real": [L, d_mlp, L, H] float32 (NaN where the head is not later), "random": flat finite scores,
         "random_full": the random directions' scores shaped like "real", "k_bos_norm": [L, n_kv]}.
    """
    bench = ctx.workbench

    def compute() -> dict[str, Any]:
        import torch

        from engine.interventions import bos_heuristic

        model = bench.model(ref)
        b = model.bridge
        k_bos = torch.from_numpy(bos_keys(ctx, ref))
        W_Q = b.W_Q.detach().float().cpu()
        W_out = b.W_out.detach().float().cpu()
        real = bos_heuristic(W_out, W_Q, k_bos)
        gen = torch.Generator().manual_seed(bench.settings.seed)
        random = bos_heuristic(torch.randn(W_out.shape, generator=gen), W_Q, k_bos)
        rand = random[torch.isfinite(random)]
        return {
            "real": real.numpy(),
            "random": rand.numpy(),
            "random_full": random.numpy(),
            "k_bos_norm": k_bos.norm(dim=-1).numpy(),
        }

    return bench.memo(("bos-heuristic", ref.identity(), bench.settings.seed), single_threaded(compute))


def bos_keys(ctx: ClaimContext, ref: ModelRef) -> np.ndarray:
    """[layers, n_kv, d_head] keys of the start token alone, cached on disk (a re-run does no forward pass)."""
    bench = ctx.workbench

    def compute() -> np.ndarray:
        model = bench.model(ref)
        return start_token_keys(model, bench.forward_pass)

    inputs = {"model": ref.identity(), "dtype": bench.settings.dtype}  # the forward pass runs in the model's dtype
    return bench.derived("bos-keys", 1, inputs, single_threaded(compute))


# --- A3 ---------------------------------------------------------------------------------------------------------


def ablation_pairs(
    real: np.ndarray, n_heads: int, n_random: int, seed: int
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:  # (layer, neuron, attn layer, head)
    """(top pairs: the top-|h| neuron of each of the `n_heads` heads with the largest max |h|; seeded random pairs).

    Pairs are (mlp_layer, neuron, head_layer, head) indices into `real` [L, d_mlp, L, H].
    """
    mag = np.where(np.isfinite(real), np.abs(real), -1.0)
    L, d_mlp, _, H = real.shape
    per_head = mag.transpose(2, 3, 0, 1).reshape(L * H, L * d_mlp)  # head -> every (layer, neuron)
    best = per_head.argmax(1)
    order = np.argsort(-per_head.max(1))
    top: list[tuple[int, ...]] = []
    for head in order[:n_heads]:
        if per_head[head, best[head]] < 0:
            break
        layer, neuron = divmod(int(best[head]), d_mlp)
        top.append((layer, neuron, int(head // H), int(head % H)))
    valid = np.argwhere(np.isfinite(real))
    rng = np.random.default_rng(seed)
    picked = valid[rng.choice(len(valid), size=min(n_random, len(valid)), replace=False)]
    return top, [tuple(int(v) for v in p) for p in picked]


def path_ablation(ctx: ClaimContext, ref: ModelRef, pairs: list[tuple[int, ...]]) -> dict[str, Any]:
    """Query-path ablation of each (layer, neuron, head_layer, head) pair on A3_CONTEXTS contexts (memoised on disk).

    Returns:
        {"pairs": [{"pair", "act", "delta_bos", "delta_norm"} per pair (second-half destinations, flattened)],
         "n_tokens", "seconds"}.
    """
    bench = ctx.workbench
    assert ctx.dataset is not None
    spec = bench.sample_spec(ref, ctx.dataset)

    def compute() -> dict[str, Any]:
        started = time.time()
        model = bench.model(ref)
        sample = bench.tokens(ref, ctx.corpus_name)
        tokens = sample.tokens[:A3_CONTEXTS]
        result = query_path_ablation(model, tokens, pairs, bench.forward_pass, BATCH)
        return {**result, "seconds": time.time() - started}

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "text": bench.corpus(spec.corpus).sha256,
        "contexts": A3_CONTEXTS,
        "pairs": [list(p) for p in pairs],
        "dtype": bench.settings.dtype,
    }
    return bench.derived("path-ablation", ABLATION_VERSION, inputs, single_threaded(compute))
