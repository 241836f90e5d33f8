"""A3 (GT3): path ablation confirms the BOS heuristic's attention (de)activation neurons (new setting).

Why GT3: §5.3 argues that attending to the start token is a head's "off switch", that a weight heuristic
h_n = ŵ_outᵀ W_Q k_BOS / √d_head finds MLP neurons that switch later heads on or off (A1, A2: attention.py), and
that a path ablation through the query confirms them (GPT2-M L4.3594 -> L5.H0). Here the ablation runs on
SmolLM2-135M and on the zoo's tiny GPT-2s.

Choices fixed before any result (the criteria repeat them):
  * A3. For the top-|h| neuron of each of the 10 heads with the largest max |h|, and for 10 seeded random
    (neuron, later head) pairs: the neuron's contribution a_n·w_out is removed from the residual entering the
    head's layer at destination positions in the second half of each context, with that layer's keys and values
    overwritten by the clean ones, so only the query path changes (the block is replayed alone with the
    arguments recorded in the clean pass). Per destination: Δp_BOS = p_clean - p_ablated (attention to position
    0) and Δnorm = (‖z_clean‖ - ‖z_ablated‖) / ‖z_clean‖ (the head's output before W_O); both are the neuron's
    contribution, so a deactivation neuron (h > 0) gives ρ(a_n, Δp_BOS) > 0 and ρ(Δp_BOS, Δnorm) < 0. a_n and
    w_out are used raw (no sign flip): h and the ablation flip together, so the sign test is invariant.
    Effect: mean sign(h)·ρ(a_n, Δp_BOS) over the top pairs - mean |ρ| over the random pairs (Welch over pairs).
Where the code is: this module holds the claim and its decision; measures/attention.py picks the pairs and
memoises the ablation; fixtures/probes/attention.py runs it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.attention import (
    FIGURE_POINTS,
    ablation_pairs,
    heuristic_scores,
    path_ablation,
)
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, part
from engine.head_stats import figure_sample

N_TOP_HEADS = 10
N_RANDOM_PAIRS = 10


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
    signed = np.array([np.sign(p["h"]) * p["rho_act"] for p in top], dtype=float)
    rand_abs = np.abs(np.array([r["rho_act"] for r in random], dtype=float))
    return Effect.welch(
        "sign(h)·ρ(a_n, Δp_BOS): top pairs - |ρ| of random pairs",
        signed,
        rand_abs,
        measured=float(np.nanmean(signed)) if np.isfinite(signed).any() else math.nan,
        control=float(np.nanmean(rand_abs)) if np.isfinite(rand_abs).any() else math.nan,
        threshold=threshold,
        control_name=f"{len(random)} seeded random (neuron, later head) pairs",
        units="pairs",
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
                "scores": figure_sample(real[np.isfinite(real)], FIGURE_POINTS, seed),
                "baseline_scores": figure_sample(scores["random"], FIGURE_POINTS, seed),
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
