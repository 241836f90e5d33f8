"""F3: previous-token neurons (§5, Fig. 18), whose best previous-token VR beats their best current-token VR.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    effect_text,
    neuron_name,
    share_effect,
    subjects,
)
from claims.papers.universal_neurons.measures.family_features import control_vr, feature_vr
from claims.registry import Criterion, claim
from claims.verdict import Evidence, Part
from claims.verdict import part as make_part
from engine import features as F
from engine.family_stats import best_of, per_layer


def previous_token_vr(vr: np.ndarray, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron: best previous-token VR, its feature index, and the best current-token VR."""
    prev, prev_idx = best_of(vr, kinds, F.PREV_KINDS)
    cur, _ = best_of(vr, kinds, F.CURRENT_KINDS)
    return prev, prev_idx, cur


def first_third(n_layers: int) -> tuple[int, int]:
    """Layers [lo, hi] of "the first third of depth, layer 0 excluded" (F3 full); empty (hi < lo) below 4 layers."""
    return 1, math.ceil(n_layers / 3) - 1


def previous_token_parts(
    prev: np.ndarray,
    cur: np.ndarray,
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[list[Part], float, dict[str, Any]]:
    """F3's clauses besides the effect: (parts, key number, details)."""
    universal = np.asarray(universal, dtype=bool)
    if scale == "full":
        pool = np.flatnonzero(universal)
        top = pool[np.argsort(-prev[pool], kind="stable")[: int(t["top_n"])]]
        hist = np.bincount(layer[top], minlength=n_layers)
        mode = int(hist.argmax()) if len(top) else -1
        lo, hi = first_third(n_layers)
        above = int((prev[top] > cur[top]).sum())
        share = above / len(top) if len(top) else 0.0
        parts = [
            make_part("modal layer of the top universal neurons by previous-token VR", mode, ">=", lo),
            make_part("modal layer of the top universal neurons by previous-token VR", mode, "<=", hi),
            make_part("share of them with previous-token VR above current-token VR", share, ">=", 1.0),
        ]
        details = {"top_layers": hist.tolist(), "mode": mode, "prev_above_current": above, "n_top": len(top)}
        return parts, float(mode), {**details, "mode_range": [lo, hi]}
    found = universal & (prev >= t["min_vr"]) & (prev > cur)
    later = found & (layer >= 1)
    details = {"per_layer": per_layer(found, layer, n_layers), "layer0": int((found & (layer == 0)).sum())}
    parts = [make_part("universal previous-token neurons in layers >= 1", int(later.sum()), ">=", t["min_neurons"])]
    return parts, float(later.sum()), details


def previous_token_passes(
    prev: np.ndarray,
    cur: np.ndarray,
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[bool, float, dict[str, Any]]:
    """F3's clauses besides the effect: (all held, key number, details)."""
    parts, key, details = previous_token_parts(prev, cur, layer, universal, n_layers, scale, t)
    return all(p.passed for p in parts), key, details


def previous_token_share(
    prev: np.ndarray, cur: np.ndarray, layer: np.ndarray, universal: np.ndarray, min_vr: float
) -> tuple[int, int]:
    """(universal neurons in layers >= 1 with previous-token VR >= min_vr above current-token VR, universal there)."""
    pool = np.asarray(universal, dtype=bool) & (layer >= 1)
    return int((pool & (prev >= min_vr) & (prev > cur)).sum()), int(pool.sum())


def previous_token_precondition(n_layers: int, scale: str) -> str | None:
    """Why F3 cannot be asked of a model this deep, or None."""
    if n_layers < 2:
        return (
            f"precondition: F3 needs >= 2 layers (a previous-token neuron in layer 0 only reflects layer-0 "
            f"attention); the model has {n_layers}"
        )
    lo, hi = first_third(n_layers)
    if scale == "full" and hi < lo:
        return (
            f"precondition: the first third of depth excluding layer 0 (layers 1..ceil(L/3) - 1) holds no layer "
            f"when L = {n_layers}; F3's full criterion needs >= 4 layers"
        )
    return None


@claim(
    "F3",
    title="previous-token neurons",
    statement="""Some neurons activate purely as a function of the previous token (found by rerunning VR with the
    labels shifted by one), most often in layers 4-6 of GPT2-medium.""",
    paper_ref="§5, Fig. 18",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="the top {top_n} universal neurons by previous-token VR have their modal layer in the first third of "
        "depth excluding layer 0 (layers 1..ceil(L/3) - 1; fewer than 4 layers is NOT_APPLICABLE), and each has "
        "previous-token VR above its best current-token VR; and the share of universal neurons in layers >= 1 with "
        "previous-token VR >= {min_vr} above their best current-token VR, trained - untrained control (same rule, "
        "pipeline and number of comparison seeds), has a 95 % Newcombe lower bound > {min_effect}",
        small=">= {min_neurons} universal neuron in a layer >= 1 has previous-token VR >= {min_vr} above its best "
        "current-token VR (fewer than 2 layers is NOT_APPLICABLE); and the share of universal neurons in layers >= 1 "
        "with such VR, trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % "
        "Newcombe lower bound > "
        "{min_effect}; layer-0 cases are reported",
        thresholds_full={"top_n": 25, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.5, **FALLBACK},
        thresholds_small={"min_neurons": 1, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def previous_token_neurons(ctx: ClaimContext) -> Evidence:
    """F3: universal neurons whose best previous-token VR beats their best current-token VR."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    fv = feature_vr(ctx, trained.ref)
    problem = previous_token_precondition(fv.n_layers, ctx.scale)
    if problem:
        raise NotApplicable(problem)
    prev, prev_idx, cur = previous_token_vr(fv.vr, fv.kinds)
    parts, key, details = previous_token_parts(prev, cur, fv.layer, trained.universal, fv.n_layers, ctx.scale, t)
    pool = np.flatnonzero(trained.universal & (prev > cur))
    best = pool[np.argsort(-prev[pool], kind="stable")[:10]]
    examples = [
        {
            "neuron": neuron_name(int(i), fv.d_mlp),
            "feature": fv.names[prev_idx[i]],
            "prev_vr": float(prev[i]),
            "current_vr": float(cur[i]),
        }
        for i in best
    ]
    control_details: dict[str, Any] = {}
    effect = None
    series = {"trained": per_layer(trained.universal & (prev >= t["min_vr"]) & (prev > cur), fv.layer, fv.n_layers)}
    if control is not None:
        cv = control_vr(ctx, control)
        cprev, _, ccur = previous_token_vr(cv.vr, cv.kinds)
        _, ckey, control_details = previous_token_parts(
            cprev, ccur, cv.layer, control.universal, cv.n_layers, ctx.scale, t
        )
        control_details["key"] = ckey
        effect = share_effect(
            f"share of universal neurons in layers >= 1 with previous-token VR >= {t['min_vr']:g} above current",
            previous_token_share(prev, cur, fv.layer, who.matched.universal, t["min_vr"]),
            previous_token_share(cprev, ccur, cv.layer, control.universal, t["min_vr"]),
            t["min_effect"],
            "universal neurons",
        )
        series["untrained control"] = per_layer(
            control.universal & (cprev >= t["min_vr"]) & (cprev > ccur), cv.layer, cv.n_layers
        )
    strongest = ", ".join(
        f"{e['neuron']} {e['feature']} {e['prev_vr']:.2f} (current {e['current_vr']:.2f})" for e in examples[:4]
    )
    return ctx.evidence(
        key=("modal layer" if ctx.scale == "full" else "previous-token neurons in layers >= 1", key),
        reason=f"{details}; strongest: {strongest or 'none'}; "
        f"untrained control {control_details or 'n/a'}; {trained.rule}" + effect_text(effect, who),
        measured={**details, "examples": examples, "universal_rule": trained.rule},
        control={"untrained": control_details},
        n_tokens=fv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(fv.n_layers)),
                "series": series,
                "ylabel": f"universal neurons with prev-token VR >= {t['min_vr']:g} > current",
            }
        },
    )
