"""A1, A2 (GT3): the paper's attention (de)activation analysis applied in new settings (A3: ablation.py).

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
Where the code is: this module holds the claims and their decisions; measures/attention.py picks the sample and
memoises the measurements; fixtures/probes/attention.py runs the model.
"""

from __future__ import annotations

import math

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.attention import FIGURE_POINTS, heuristic_scores, value_norms
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, part
from engine.head_stats import figure_sample, silencing

# --- A1 ---------------------------------------------------------------------------------------------------------


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
                "scores": figure_sample(flat, FIGURE_POINTS, seed, details["max_abs_random"]),
                "baseline_scores": figure_sample(rand, FIGURE_POINTS, seed),
                "xlabel": "h = ŵ_out·W_Q k_BOS / √d_head (subsample + the tail beyond the random max)",
            }
        },
    )
