"""A1-A3 (GT3): the paper's attention (de)activation analysis applied in new settings.

Why GT3: §5.3 argues that attending to the start token is a head's "off switch" (its value vector writes almost
nothing), that a weight heuristic h_n = ŵ_outᵀ W_Q k_BOS / √d_head finds MLP neurons that switch later heads on
or off, and that a path ablation through the query confirms them (GPT2-M L4.3594 -> L5.H0). Here the same three
steps run on SmolLM2-135M (grouped-query attention: 9 query heads on 3 key/value heads, rotary positions,
RMSNorm, SwiGLU) and on the zoo's tiny GPT-2s.

Choices fixed before any result (the criteria repeat them):
  * A1. ‖W_O v_BOS‖ per head, with v the value at position 0 of the text contexts (a causal model computes it from
    the start token alone, so this equals the paper's BOS-only forward pass), divided by the mean ‖W_O v_s‖ over
    the other positions that do not hold the start token; the key number is the median over all heads. GQA: a
    query head reads the value of its kv head h // (n_heads / n_kv_heads). Control: untrained initialisations of
    the same config (the family's controls, else `fixtures.models.untrained_controls`, built once and cached);
    effect: median log10(mean ‖W_O v_s‖ / ‖W_O v_BOS‖) over heads, trained - untrained, two-sample bootstrap
    over heads.
  * A2. k_BOS from a forward pass of the start token alone; scores for every (MLP neuron of layer l, head of a
    later layer); baseline: as many seeded Gaussian unit directions per layer. b_Q and the destination's norm scale
    are ignored, as in the paper. Rotary models: k_BOS at position 0 is unrotated, and the heuristic is taken at
    relative offset 0, i.e. without the query's rotation (the paper's formula; A3 measures whether it still
    predicts the effect). For gated MLPs the sign of w_out is arbitrary, but every A2 criterion uses |h|, which
    does not depend on it. Effect: the tail-quantile ratio real / random with a two-sample bootstrap over
    neurons (each neuron's scores resampled together).
  * A3. For the top-|h| neuron of each of the 10 heads with the largest max |h|, and for 10 seeded random
    (neuron, later head) pairs: the neuron's contribution a_n·w_out is removed from the residual entering the
    head's layer at destination positions in the second half of each context, with that layer's keys and values
    overwritten by the clean ones, so only the query path changes (the block is replayed alone with the
    arguments recorded in the clean pass). Per destination: Δp_BOS = p_clean - p_ablated (attention to position
    0) and Δnorm = (‖z_clean‖ - ‖z_ablated‖) / ‖z_clean‖ (the head's output before W_O); both are the neuron's
    contribution, so a deactivation neuron (h > 0) gives ρ(a_n, Δp_BOS) > 0 and ρ(Δp_BOS, Δnorm) < 0. a_n and
    w_out are used raw (no sign flip): h and the ablation flip together, so the sign test is invariant.
    Effect: mean sign(h)·ρ(a_n, Δp_BOS) over the top pairs - mean |ρ| over the random pairs (Welch over pairs).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, part
from engine.interventions import single_threaded
from fixtures import hooks
from fixtures.models import ModelRef

A3_CONTEXTS = 32
BATCH = 16
N_TOP_HEADS = 10
N_RANDOM_PAIRS = 10
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
        import torch

        from engine.interventions import head_output_norms

        model = bench.model(ref)
        sample = bench.tokens(ref, ctx.corpus_name)
        n_ctx = min(
            len(sample.tokens), max(1, math.ceil(bench.settings.probe_tokens_for(ref.scale) / sample.context_length))
        )
        tokens = sample.tokens[:n_ctx]
        other = torch.from_numpy(tokens != model.start_token_id)
        other[:, 0] = False
        W_O = model.bridge.W_O.detach().float()
        n_layers, n_heads = W_O.shape[0], W_O.shape[1]
        bos = torch.zeros(n_layers, n_heads, dtype=torch.float64)
        sums = torch.zeros(n_layers, n_heads, dtype=torch.float64)
        state = {"row": 0}

        def hook_for(layer: int) -> Any:
            def hook(v: Any, hook: Any) -> None:
                norms = head_output_norms(v.detach().float(), W_O[layer]).cpu()  # [B, T, H]
                rows = slice(state["row"], state["row"] + norms.shape[0])
                if rows.start == 0:
                    bos[layer] = norms[0, 0].double()
                sums[layer] += (norms * other[rows].unsqueeze(-1)).sum((0, 1)).double()
                if layer == n_layers - 1:
                    state["row"] += norms.shape[0]

            return hook

        bench.forward_pass(
            model, tokens, [(hooks.attn_v(layer), hook_for(layer)) for layer in range(n_layers)], batch_size=BATCH
        )
        mean_other = sums / max(int(other.sum()), 1)
        return {
            "bos": bos.numpy(),
            "mean_other": mean_other.numpy(),
            "ratio": (bos / mean_other).numpy(),
            "n_tokens": int(tokens.size),
            "n_other": int(other.sum()),
        }

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "dtype": bench.settings.dtype,
    }
    return bench.derived("bos-value-norms", VALUE_NORMS_VERSION, inputs, single_threaded(compute))


def silencing(ratio: np.ndarray) -> np.ndarray:
    """Per head: log10(mean ‖W_O v_s‖ / ‖W_O v_BOS‖), how many orders of magnitude quieter BOS is (0: not at all)."""
    return -np.log10(np.asarray(ratio, dtype=np.float64).reshape(-1))


def off_switch_effect(trained: np.ndarray, controls: list[np.ndarray], seed: int, threshold: float) -> Effect:
    """A1's effect: median BOS silencing over heads, trained - untrained (heads pooled over the initialisations).

    The 95 % interval is a two-sample percentile bootstrap over heads (trained heads and control heads drawn
    independently); a model whose BOS value is as loud as its initialisation's has an effect near 0.
    """
    from engine.inference import two_sample_bootstrap_interval

    a = silencing(trained)
    b = np.concatenate([silencing(c) for c in controls]) if controls else np.array([])
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    measured = float(np.median(a)) if len(a) else math.nan
    control = float(np.median(b)) if len(b) else math.nan
    low, high = two_sample_bootstrap_interval(
        lambda ia, ib: float(np.median(a[ia]) - np.median(b[ib])), len(a), len(b), seed=seed
    )
    return Effect(
        name="median BOS silencing log10(other / BOS) over heads: trained - untrained",
        measured=measured,
        control=control,
        value=measured - control,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"untrained initialisations of the same config ({len(controls)})",
        method="two-sample percentile bootstrap over heads, 1000",
    )


def off_switch_parts(
    median_ratio: float, control_medians: list[float], scale: str, thresholds: dict[str, float]
) -> list[Part]:
    """A1's point clauses: the median head ratio is small and (small scale) below every initialisation's."""
    parts = [part("median ‖W_O v_BOS‖ / mean ‖W_O v_s‖ over heads", median_ratio, "<=", thresholds["max_median_ratio"])]
    if scale == "small":
        lowest = min(control_medians) if control_medians else math.nan
        parts.append(part("median head ratio - lowest untrained median", median_ratio - lowest, "<", 0.0))
    return parts


@claim(
    "A1",
    title="attending to BOS is a head's off switch (new setting)",
    statement="""(GT3) The start token's value vector is nearly silent after W_O: in GPT-2-medium-a the median head
    writes a 19.4x smaller ‖W_O v_BOS‖ than the average over other tokens, so attending to BOS switches a head off.""",
    paper_ref="§5.3",
    axes=(Axis.GT3,),
    needs=Needs(untrained_control=True),
    criterion=Criterion(
        full="the median over heads of ‖W_O v_BOS‖ / mean ‖W_O v_s‖ (s: positions not holding the start token; GQA "
        "heads read their kv head) is <= {max_median_ratio}; and the median over heads of log10(mean ‖W_O v_s‖ / "
        "‖W_O v_BOS‖), trained - untrained initialisations of the same config (heads pooled), has a 95 % lower bound "
        "(two-sample bootstrap over heads) > {min_effect} (no initialisation available: INCONCLUSIVE)",
        small="the median over heads of ‖W_O v_BOS‖ / mean ‖W_O v_s‖ is <= {max_median_ratio} and smaller than every "
        "untrained initialisation's median; and the median log10(mean ‖W_O v_s‖ / ‖W_O v_BOS‖), trained - untrained "
        "(heads pooled), has a 95 % lower bound (two-sample bootstrap over heads) > {min_effect} (none available: "
        "INCONCLUSIVE)",
        thresholds_full={"max_median_ratio": 0.2, "min_effect": 0.0},
        thresholds_small={"max_median_ratio": 0.5, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.05,
)
def bos_off_switch(ctx: ClaimContext) -> Evidence:
    trained = value_norms(ctx, ctx.model)
    ratio = trained["ratio"]
    median = float(np.median(ratio))
    controls: dict[str, np.ndarray] = {}
    for ref in ctx.untrained_controls():
        controls[ref.name] = np.asarray(value_norms(ctx, ref)["ratio"])
    medians = {name: float(np.median(r)) for name, r in controls.items()}
    thresholds = dict(ctx.claim.criterion.thresholds(ctx.scale))
    parts = off_switch_parts(median, list(medians.values()), ctx.scale, thresholds)
    effect = off_switch_effect(ratio, list(controls.values()), ctx.workbench.settings.seed, thresholds["min_effect"])
    layer_medians = np.median(ratio, axis=1)
    return ctx.evidence(
        key=("median ‖W_O v_BOS‖ / mean other", median),
        reason=f"median head ratio {median:.3f} (1/{1 / median:.1f}) over {ratio.size} heads; {int((ratio < 0.2).sum())} heads "
        f"below 0.2; untrained medians "
        + (", ".join(f"{v:.3f}" for v in medians.values()) or "none")
        + f"; silencing trained - untrained {effect.value:.3f} (95 % CI {effect.low:.3f} to {effect.high:.3f})",
        inconclusive=None if controls else "no untrained initialisation to compare with",
        parts=parts,
        effect=effect,
        measured={
            "median_ratio": median,
            "per_layer_median": layer_medians.tolist(),
            "ratio": ratio.tolist(),
            "share_heads_below_0.2": float((ratio < 0.2).mean()),
            "n_other_positions": trained["n_other"],
        },
        control={"untrained_median_ratio": medians},
        n_tokens=trained["n_tokens"],
        figures={
            "scatter": {
                "x": np.repeat(np.arange(ratio.shape[0]), ratio.shape[1]).tolist(),
                "y": np.log10(ratio).reshape(-1).tolist(),
                "xlabel": "layer",
                "ylabel": "log10 ‖W_O v_BOS‖ / mean ‖W_O v_s‖",
                "fit": False,
            }
        },
    )


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
        import torch

        model = bench.model(ref)
        keys: dict[int, Any] = {}

        def keep(layer: int) -> Any:
            def hook(k: Any, hook: Any) -> None:
                keys[layer] = k[0, 0].detach().float().cpu()  # [n_kv, d_head]

            return hook

        start = np.full((1, 1), model.start_token_id, dtype=np.int64)
        bench.forward_pass(
            model, start, [(hooks.attn_k(layer), keep(layer)) for layer in range(model.n_layers)], batch_size=1
        )
        return torch.stack([keys[layer] for layer in range(model.n_layers)]).numpy()

    return bench.derived("bos-keys", 1, {"model": ref.identity()}, single_threaded(compute))


def tail_decision(
    real: np.ndarray, random: np.ndarray, scale: str, thresholds: dict[str, float]
) -> tuple[list[Part], dict[str, float]]:
    """A2's point clauses on the finite scores (|h| is taken here): (parts, details)."""
    a, r = np.abs(real[np.isfinite(real)]), np.abs(random[np.isfinite(random)])
    q999 = float(np.quantile(a, 0.999) / np.quantile(r, 0.999))
    q9999 = float(np.quantile(a, 0.9999) / np.quantile(r, 0.9999))
    beyond = float((a > r.max()).mean())
    details = {
        "tail_ratio_p99.9": q999,
        "tail_ratio_p99.99": q9999,
        "share_beyond_random_max": beyond,
        "max_abs_real": float(a.max()),
        "max_abs_random": float(r.max()),
    }
    if scale == "full":
        parts = [
            part("share of real pairs beyond the random max |h|", beyond, ">=", thresholds["min_share_beyond"]),
            part("|h| p99.99 real / random", q9999, ">=", thresholds["min_ratio_9999"]),
        ]
    else:
        parts = [part("|h| p99.9 real / random", q999, ">=", thresholds["min_ratio_999"])]
    return parts, details


TAIL_Q = {"full": 0.9999, "small": 0.999}  # the tail quantile of A2's effect at each scale


def tail_effect(real: np.ndarray, random: np.ndarray, q: float, seed: int, threshold: float) -> Effect:
    """A2's effect: the q-quantile of |h|, real neurons / random directions, with a bootstrap over neurons.

    real, random: [L, d_mlp, L, H] scores (NaN where the head is not later). The unit of inference is the
    neuron (or random direction): all its scores are resampled together, on each side independently.
    """
    from engine.inference import ClusterTail, two_sample_bootstrap_interval

    def tail(scores: np.ndarray) -> ClusterTail:
        rows = np.broadcast_to(
            np.arange(scores.shape[0] * scores.shape[1]).reshape((*scores.shape[:2], 1, 1)), scores.shape
        )
        return ClusterTail(np.abs(scores), rows, q)

    a, b = tail(real), tail(random)
    measured, control = a.quantile(q), b.quantile(q)
    low, high = two_sample_bootstrap_interval(
        lambda ia, ib: a.resampled(ia, q) / b.resampled(ib, q), a.n_clusters, b.n_clusters, seed=seed
    )
    return Effect(
        name=f"|h| p{100 * q:g}: real neurons / random directions",
        measured=measured,
        control=control,
        value=measured / control if control > 0 else math.nan,
        low=low,
        high=high,
        threshold=threshold,
        control_name="seeded Gaussian directions, as many per layer as neurons",
        method="two-sample percentile bootstrap over neurons / directions, 1000",
        scale="ratio",
    )


def _figure_sample(values: np.ndarray, n: int, seed: int, keep_above: float | None = None) -> list[float]:
    """A seeded subsample for figure data, plus every value above `keep_above` in absolute value (the tail)."""
    finite = values[np.isfinite(values)]
    rng = np.random.default_rng(seed)
    picked = finite[rng.choice(len(finite), size=min(n, len(finite)), replace=False)]
    if keep_above is not None:
        picked = np.concatenate([picked, finite[np.abs(finite) > keep_above]])
    return picked.astype(float).tolist()


@claim(
    "A2",
    title="BOS heuristic finds (de)activation neurons: heavy tails vs random directions (new setting)",
    statement="""(GT3) The weight heuristic h_n = ŵ_outᵀ W_Qᵀ k_BOS / √d_head over all (MLP neuron, later head) pairs
    has much heavier tails than the same score for random unit directions (real ±12 vs random ±2.5 in GPT2-M).""",
    paper_ref="§5.3, Fig. 8a",
    axes=(Axis.GT3,),
    needs=Needs(text=False),  # weights + one forward pass of the start token alone
    criterion=Criterion(
        full="a share >= {min_share_beyond} of real pairs exceeds the random directions' max |h|, and the 99.99th "
        "percentile of |h| is >= {min_ratio_9999} x the random directions' (k_BOS from the start token alone; "
        "GQA heads read their kv head; rotary: offset 0); and the 95 % lower bound of that ratio (two-sample "
        "bootstrap over neurons and random directions) is > {min_ratio_low}; a single layer: NOT_APPLICABLE",
        small="the 99.9th percentile of |h| over real pairs is >= {min_ratio_999} x that of random unit directions, "
        "and the ratio's 95 % lower bound (two-sample bootstrap over neurons and random directions) is > "
        "{min_ratio_low}; a single layer: NOT_APPLICABLE",
        thresholds_full={"min_share_beyond": 1e-4, "min_ratio_9999": 2.0, "min_ratio_low": 1.0},
        thresholds_small={"min_ratio_999": 1.5, "min_ratio_low": 1.0},
    ),
    version=2,
    key_tolerance=0.3,
)
def bos_heuristic_tails(ctx: ClaimContext) -> Evidence:
    scores = heuristic_scores(ctx, ctx.model)
    real, rand = scores["real"], scores["random"]
    if not np.isfinite(real).any():
        raise NotApplicable("precondition: an attention layer after an MLP layer; the model has a single layer")
    parts, details = tail_decision(real, rand, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = tail_effect(
        real, scores["random_full"], TAIL_Q[ctx.scale], ctx.workbench.settings.seed, ctx.threshold("min_ratio_low")
    )
    key = "tail_ratio_p99.99" if ctx.scale == "full" else "tail_ratio_p99.9"
    flat = real[np.isfinite(real)]
    idx = np.unravel_index(np.nanargmax(np.abs(real)), real.shape)
    top = {
        "layer": int(idx[0]),
        "neuron": int(idx[1]),
        "head_layer": int(idx[2]),
        "head": int(idx[3]),
        "h": float(real[idx]),
    }
    seed = ctx.workbench.settings.seed
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=(f"|h| {key.split('_')[-1]} real / random", details[key]),
        reason=f"{flat.size:,} pairs: |h| p99.9 ratio {details['tail_ratio_p99.9']:.2f}, p99.99 ratio "
        f"{details['tail_ratio_p99.99']:.2f}, {details['share_beyond_random_max']:.2e} beyond the random max "
        f"{details['max_abs_random']:.2f}; real range {np.nanmin(real):.2f}..{np.nanmax(real):.2f}; top pair "
        f"L{top['layer']}.{top['neuron']} -> A{top['head_layer']}H{top['head']} (h = {top['h']:.2f}); "
        f"{effect.name} {effect.value:.2f} (95 % CI {effect.low:.2f} to {effect.high:.2f})",
        measured={
            **details,
            "n_pairs": int(flat.size),
            "min_h": float(np.nanmin(real)),
            "max_h": float(np.nanmax(real)),
            "top_pair": top,
            "k_bos_norm": scores["k_bos_norm"].tolist(),
        },
        control={"random_quantiles": {q: float(np.quantile(np.abs(rand), q)) for q in (0.5, 0.99, 0.999, 0.9999)}},
        figures={
            "bos_heuristic": {
                "scores": _figure_sample(flat, FIGURE_POINTS, seed, details["max_abs_random"]),
                "baseline_scores": _figure_sample(rand, FIGURE_POINTS, seed),
                "xlabel": "h = ŵ_out·W_Q k_BOS / √d_head (subsample + the tail beyond the random max)",
            }
        },
    )


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


def _query_ablation_hooks(
    layer: int, head: int, state: dict[str, Any], got: dict[str, list[Any]]
) -> list[tuple[str, Any]]:
    """Hooks for one replay of block `layer`: clean keys/values from `state`, the head's BOS attention and ‖z‖ to `got`."""

    def clean_k(t: Any, hook: Any) -> Any:
        return state["k"].to(t.device, t.dtype)

    def clean_v(t: Any, hook: Any) -> Any:
        return state["v"].to(t.device, t.dtype)

    def bos(t: Any, hook: Any) -> None:
        got["bos"].append(t[:, head, :, 0].detach().float().cpu())

    def znorm(t: Any, hook: Any) -> None:
        got["znorm"].append(t[:, :, head].detach().float().norm(dim=-1).cpu())

    return [
        (hooks.attn_k(layer), clean_k),
        (hooks.attn_v(layer), clean_v),
        (hooks.hook_name(hooks.ATTN_PATTERN, layer), bos),
        (hooks.attn_z(layer), znorm),
    ]


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
        import torch

        from fixtures.probes.blocks import block_call_recorder, run_block

        started = time.time()
        model = bench.model(ref)
        b = model.bridge
        sample = bench.tokens(ref, ctx.corpus_name)
        tokens = sample.tokens[:A3_CONTEXTS]
        T = tokens.shape[1]
        dest = torch.arange(T // 2, T)
        mlp_layers = sorted({p[0] for p in pairs})
        attn_layers = sorted({p[2] for p in pairs})
        neurons = {layer: sorted({p[1] for p in pairs if p[0] == layer}) for layer in mlp_layers}
        store: dict[str, list[Any]] = {}

        def keep(key: str, select: Any = None) -> Any:
            def hook(t: Any, hook: Any) -> None:
                x = t.detach().float()
                store.setdefault(key, []).append((select(x) if select else x).cpu())

            return hook

        fwd = []
        for layer in mlp_layers:
            cols = torch.tensor(neurons[layer])
            fwd.append((hooks.hook_name(hooks.MLP_POST, layer), keep(f"post{layer}", lambda x, c=cols: x[..., c])))
        for layer in attn_layers:
            fwd += [
                (hooks.resid_pre(layer), keep(f"resid{layer}")),
                (hooks.attn_k(layer), keep(f"k{layer}")),
                (hooks.attn_v(layer), keep(f"v{layer}")),
                (hooks.hook_name(hooks.ATTN_PATTERN, layer), keep(f"bos{layer}", lambda x: x[..., 0])),  # [B, H, T]
                (hooks.attn_z(layer), keep(f"znorm{layer}", lambda x: x.norm(dim=-1))),  # [B, T, H]
            ]
        calls: dict[int, list[Any]] = {layer: [] for layer in attn_layers}
        handles = [block_call_recorder(model, layer, calls[layer]) for layer in attn_layers]
        try:
            bench.forward_pass(model, tokens, fwd, batch_size=BATCH)
        finally:
            for handle in handles:
                handle.remove()
        cat = {key: torch.cat(parts) for key, parts in store.items()}
        W_out = {layer: b.W_out[layer].detach().float().cpu() for layer in mlp_layers}
        batches = [(s, min(s + BATCH, len(tokens))) for s in range(0, len(tokens), BATCH)]
        results = []
        for layer, neuron, head_layer, head in pairs:
            act = cat[f"post{layer}"][..., neurons[layer].index(neuron)]  # [n_ctx, T]
            shift = torch.zeros_like(act)
            shift[:, dest] = act[:, dest]
            resid = cat[f"resid{head_layer}"] - shift.unsqueeze(-1) * W_out[layer][neuron]
            got: dict[str, list[Any]] = {"bos": [], "znorm": []}
            state: dict[str, Any] = {}
            abl_hooks = _query_ablation_hooks(head_layer, head, state, got)
            with b.hooks(fwd_hooks=abl_hooks):
                for (s, e), (args, kwargs) in zip(batches, calls[head_layer], strict=True):
                    state["k"], state["v"] = cat[f"k{head_layer}"][s:e], cat[f"v{head_layer}"][s:e]
                    run_block(model, head_layer, resid[s:e], args, kwargs)
            bos_abl, z_abl = torch.cat(got["bos"])[:, dest], torch.cat(got["znorm"])[:, dest]
            bos_clean = cat[f"bos{head_layer}"][:, head][:, dest]
            z_clean = cat[f"znorm{head_layer}"][:, :, head][:, dest]
            results.append(
                {
                    "pair": [layer, neuron, head_layer, head],
                    "act": act[:, dest].reshape(-1).numpy(),
                    "delta_bos": (bos_clean - bos_abl).reshape(-1).numpy(),
                    "delta_norm": ((z_clean - z_abl) / z_clean.clamp_min(1e-12)).reshape(-1).numpy(),
                }
            )
        return {"pairs": results, "n_tokens": int(tokens.size), "seconds": time.time() - started}

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "contexts": A3_CONTEXTS,
        "pairs": [list(p) for p in pairs],
        "dtype": bench.settings.dtype,
    }
    return bench.derived("path-ablation", ABLATION_VERSION, inputs, single_threaded(compute))


def path_decision(
    top: list[dict[str, Any]], random: list[dict[str, Any]], scale: str, thresholds: dict[str, float]
) -> tuple[list[Part], dict[str, Any]]:
    """A3's point clauses: (parts, details).

    Args:
        top: per top pair {"h", "rho_act" = ρ(a_n, Δp_BOS), "rho_norm" = ρ(Δp_BOS, Δnorm)}, best head first.
        random: per random pair {"rho_act"}.
        scale: "full" or "small".
        thresholds: the claim's thresholds of that scale.
    """
    rand_abs = np.array([abs(r["rho_act"]) for r in random], dtype=float)
    rand_abs = np.where(np.isfinite(rand_abs), rand_abs, 0.0)
    if scale == "full":
        sign_ok = [bool(np.sign(p["rho_act"]) == np.sign(p["h"])) for p in top]
        rho_ok = [bool(abs(p["rho_act"]) >= thresholds["min_abs_rho"]) for p in top]
        norm_ok = [bool(p["rho_norm"] <= thresholds["max_norm_rho"]) for p in top]
        ok = [a and b and c for a, b, c in zip(sign_ok, rho_ok, norm_ok, strict=True)]
        head_share = 100 * float(np.mean(ok)) if ok else 0.0
        random_share = 100 * float(np.mean(rand_abs < thresholds["random_abs_rho"])) if len(rand_abs) else 0.0
        parts = [
            part("top heads with a selected neuron", len(top), ">=", thresholds["n_heads"]),
            part(
                "% of top heads confirmed (sign, |ρ|, ρ(Δp_BOS, Δnorm))", head_share, ">=", thresholds["min_share_pct"]
            ),
            part(
                f"% of random pairs with |ρ(a_n, Δp_BOS)| < {thresholds['random_abs_rho']:g}",
                random_share,
                ">=",
                thresholds["min_share_pct"],
            ),
        ]

        def share(flags: list[bool]) -> float:
            return 100 * float(np.mean(flags)) if flags else 0.0

        details = {
            "heads_ok": ok,
            "head_share_pct": head_share,
            "random_small_share_pct": random_share,
            "sign_match_pct": share(sign_ok),
            "abs_rho_ok_pct": share(rho_ok),
            "norm_rho_ok_pct": share(norm_ok),
        }
        return parts, details
    first = top[0] if top else {"h": math.nan, "rho_act": math.nan}
    signed = float(np.sign(first["h"]) * first["rho_act"])
    median = float(np.median(rand_abs)) if len(rand_abs) else math.nan
    parts = [
        part("sign(h)·ρ(a_n, Δp_BOS) of the top pair", signed, ">=", thresholds["min_abs_rho"]),
        part("median |ρ(a_n, Δp_BOS)| of random pairs", median, "<", thresholds["random_median_abs_rho"]),
    ]
    return parts, {"top_signed_rho": signed, "random_median_abs_rho": median}


def path_effect(top: list[dict[str, Any]], random: list[dict[str, Any]], threshold: float) -> Effect:
    """A3's effect: mean sign(h)·ρ(a_n, Δp_BOS) over the top pairs - mean |ρ(a_n, Δp_BOS)| over random pairs.

    The random pairs enter with |ρ| (a correlation of either sign counts against the heuristic); Welch t interval
    over pairs. Pairs whose ρ is undefined (a neuron silent at every destination) are left out.
    """
    from engine.inference import mean_difference

    signed = np.array([np.sign(p["h"]) * p["rho_act"] for p in top], dtype=float)
    rand_abs = np.abs(np.array([r["rho_act"] for r in random], dtype=float))
    diff, low, high = mean_difference(signed, rand_abs)
    return Effect(
        name="sign(h)·ρ(a_n, Δp_BOS): top pairs - |ρ| of random pairs",
        measured=float(np.nanmean(signed)) if np.isfinite(signed).any() else math.nan,
        control=float(np.nanmean(rand_abs)) if np.isfinite(rand_abs).any() else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"{len(random)} seeded random (neuron, later head) pairs",
        method="Welch t over pairs",
    )


@claim(
    "A3",
    title="path ablation confirms attention (de)activation neurons (new setting)",
    statement="""(GT3) Removing a heuristic-selected neuron's contribution to a later head's query changes that head's
    attention to BOS in proportion to the neuron's activation and moves its output norm the other way (GPT2-M
    L4.3594 -> L5.H0: ρ(a, Δp_BOS) = 0.94, ρ(Δp_BOS, Δnorm) = -0.92).""",
    paper_ref="§5.3, Fig. 8b-c, Fig. 26",
    axes=(Axis.GT3,),
    needs=Needs(intervention=True),
    criterion=Criterion(
        full="for the top-|h| neuron of each of the {n_heads} heads with the largest max |h|: sign(ρ(a_n, Δp_BOS)) = "
        "sign(h), |ρ| >= {min_abs_rho} and ρ(Δp_BOS, Δnorm) <= {max_norm_rho} in >= {min_share_pct} % of the heads; "
        "for 10 seeded random pairs |ρ(a_n, Δp_BOS)| < {random_abs_rho} in >= {min_share_pct} %; and the mean "
        "sign(h)·ρ(a_n, Δp_BOS) over the top pairs - the mean |ρ| over the random pairs has a 95 % lower bound "
        "(Welch t over pairs) > {min_effect}; query-path ablation over destinations in the second half of 32 "
        "contexts, Δ = clean - ablated; a single layer: NOT_APPLICABLE",
        small="for the top-|h| pair: sign(h)·ρ(a_n, Δp_BOS) >= {min_abs_rho}, and the median |ρ(a_n, Δp_BOS)| over 10 "
        "seeded random pairs is < {random_median_abs_rho}; and the mean sign(h)·ρ(a_n, Δp_BOS) over the 10 top pairs "
        "- the mean |ρ| over the random pairs has a 95 % lower bound (Welch t over pairs) > {min_effect}; ablation as "
        "at full scale; a single layer: NOT_APPLICABLE",
        thresholds_full={
            "n_heads": 10,
            "min_abs_rho": 0.5,
            "max_norm_rho": -0.5,
            "min_share_pct": 80.0,
            "random_abs_rho": 0.2,
            "min_effect": 0.3,
        },
        thresholds_small={"min_abs_rho": 0.3, "random_median_abs_rho": 0.1, "min_effect": 0.2},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.1,
)
def path_ablation_claim(ctx: ClaimContext) -> Evidence:
    from engine.inference import spearman
    from engine.interventions import pearson

    scores = heuristic_scores(ctx, ctx.model)
    real = scores["real"]
    if not np.isfinite(real).any():
        raise NotApplicable("precondition: an attention layer after an MLP layer; the model has a single layer")
    seed = ctx.workbench.settings.seed
    top_pairs, random_pairs = ablation_pairs(real, N_TOP_HEADS, N_RANDOM_PAIRS, seed)
    result = path_ablation(ctx, ctx.model, top_pairs + random_pairs)
    rows: list[dict[str, Any]] = []
    for entry in result["pairs"]:
        layer, neuron, head_layer, head = entry["pair"]
        rows.append(
            {
                "pair": f"L{layer}.{neuron}->A{head_layer}H{head}",
                "h": float(real[layer, neuron, head_layer, head]),
                "rho_act": pearson(entry["act"], entry["delta_bos"]),
                "rho_norm": pearson(entry["delta_bos"], entry["delta_norm"]),
                "spearman_act": spearman(entry["act"], entry["delta_bos"]),
                "mean_delta_bos": float(np.mean(entry["delta_bos"])),
                "mean_abs_delta_bos": float(np.mean(np.abs(entry["delta_bos"]))),
                "mean_abs_act": float(np.mean(np.abs(entry["act"]))),
            }
        )
    top, rand = rows[: len(top_pairs)], rows[len(top_pairs) :]
    parts, details = path_decision(top, rand, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = path_effect(top, rand, ctx.threshold("min_effect"))
    if ctx.scale == "full":
        key = ("share of top heads confirmed", details["head_share_pct"] / 100)
    else:
        key = ("sign(h)·ρ(a_n, Δp_BOS), top pair", details["top_signed_rho"])
    first = result["pairs"][0]
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=key,
        reason=f"top pair {top[0]['pair']} (h = {top[0]['h']:.2f}): ρ(a, Δp_BOS) = {top[0]['rho_act']:.2f}, ρ(Δp_BOS, Δnorm) = "
        f"{top[0]['rho_norm']:.2f}; top heads with sign match and |ρ| >= 0.5: "
        f"{sum(np.sign(r['rho_act']) == np.sign(r['h']) and abs(r['rho_act']) >= 0.5 for r in top)}/{len(top)}; "
        f"random pairs median |ρ| {np.median([abs(r['rho_act']) for r in rand]):.2f}; median mean |Δp_BOS| top "
        f"{np.median([r['mean_abs_delta_bos'] for r in top]):.2e} vs random {np.median([r['mean_abs_delta_bos'] for r in rand]):.2e}; {effect.name} {effect.value:.2f} (95 % CI "
        f"{effect.low:.2f} to {effect.high:.2f})",
        measured={
            "top_pairs": top,
            **details,
            "n_points_per_pair": len(first["act"]),
            "seconds": result["seconds"],
            # effect size beside the (scale-free) correlations; not part of the criterion
            "median_mean_abs_delta_bos_top": float(np.median([r["mean_abs_delta_bos"] for r in top])),
            "median_mean_abs_delta_bos_random": float(np.median([r["mean_abs_delta_bos"] for r in rand])),
        },
        control={"random_pairs": rand},
        n_tokens=result["n_tokens"],
        figures={
            "bos_heuristic": {
                "scores": _figure_sample(real[np.isfinite(real)], FIGURE_POINTS, seed),
                "baseline_scores": _figure_sample(scores["random"], FIGURE_POINTS, seed),
                "pairs": {"heuristic": [r["h"] for r in rows], "delta_bos": [r["mean_delta_bos"] for r in rows]},
            },
            "scatter": {
                "x": first["act"].tolist(),
                "y": first["delta_bos"].tolist(),
                "fit": True,
                "xlabel": f"activation of L{first['pair'][0]}.{first['pair'][1]}",
                "ylabel": f"Δp(BOS) of A{first['pair'][2]}H{first['pair'][3]} (clean - ablated)",
            },
        },
    )
