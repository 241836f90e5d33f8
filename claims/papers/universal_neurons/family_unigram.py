"""F1: unigram neurons (§5, Fig. 4a, 15, 16), read off each universal neuron's VR on unigram and letter features.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    effect_text,
    share_effect,
    subjects,
)
from claims.papers.universal_neurons.measures.family_features import control_vr, feature_vr
from claims.registry import Criterion, claim
from claims.verdict import Evidence, Part
from claims.verdict import part as make_part
from engine import features as F
from engine.family_stats import best_of, per_layer


def early_layers(n_layers: int) -> int:
    """How many leading layers count as "layers 0-1 or the first 1/6 of depth" (F1 full)."""
    return max(2, math.ceil(n_layers / 6))


def unigram_family_counts(
    vr: np.ndarray,
    kinds: Sequence[str],
    names: Sequence[str],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    min_vr: float,
) -> dict[str, Any]:
    """F1's numbers for one model.

    Args:
        vr: [neurons, features] VR.
        kinds: the kind of each feature.
        names: the name of each feature.
        layer: [neurons] layer of each neuron.
        universal: [neurons] bool.
        n_layers: layers of the model.
        min_vr: VR a feature must reach to label a neuron.

    Returns:
        unigram_per_layer: universal neurons with VR >= min_vr on a unigram or letter feature, per layer;
        token_labelled_per_layer: universal neurons whose best current-token feature has VR >= min_vr, per layer;
        families: unigram/letter feature -> universal neurons with VR >= min_vr on it (non-zero ones);
        universal_per_layer: universal neurons per layer.
    """
    universal = np.asarray(universal, dtype=bool)
    uni_best, _ = best_of(vr, kinds, (F.KIND_UNIGRAM, F.KIND_LETTER))
    cur_best, _ = best_of(vr, kinds, F.CURRENT_KINDS)
    cols = np.flatnonzero(np.isin(np.asarray(kinds), (F.KIND_UNIGRAM, F.KIND_LETTER)))
    carried = ((vr[:, cols] >= min_vr) & universal[:, None]).sum(0)
    families = {names[int(c)]: int(n) for c, n in zip(cols, carried, strict=True) if n > 0}
    return {
        "unigram_per_layer": per_layer(universal & (uni_best >= min_vr), layer, n_layers),
        "token_labelled_per_layer": per_layer(universal & (cur_best >= min_vr), layer, n_layers),
        "families": dict(sorted(families.items(), key=lambda kv: -kv[1])),
        "universal_per_layer": per_layer(universal, layer, n_layers),
    }


def unigram_parts(counts: Mapping[str, Any], scale: str, t: Mapping[str, float]) -> tuple[list[Part], float]:
    """F1's clauses (besides the effect) from `unigram_family_counts`: (parts, key number)."""
    if scale == "full":
        labelled = np.asarray(counts["token_labelled_per_layer"])
        early = early_layers(len(labelled))
        share = float(labelled[:early].sum() / labelled.sum()) if labelled.sum() else 0.0
        big = sum(1 for n in counts["families"].values() if n >= t["min_family_size"])
        return [
            make_part(
                f"share of token-labelled universal neurons in layers 0-{early - 1}", share, ">=", t["min_early_share"]
            ),
            make_part(
                f"unigram features with >= {t['min_family_size']:g} universal neurons", big, ">=", t["min_families"]
            ),
        ], share
    per_layer = counts["unigram_per_layer"]
    total = int(sum(per_layer))
    return [
        make_part("universal unigram neurons", total, ">=", t["min_neurons"]),
        make_part("universal unigram neurons in layer 0 minus in the last layer", per_layer[0] - per_layer[-1], ">", 0),
    ], float(total)


def unigram_passes(counts: Mapping[str, Any], scale: str, t: Mapping[str, float]) -> tuple[bool, float]:
    """F1's clauses besides the effect: (all held, key number)."""
    parts, key = unigram_parts(counts, scale, t)
    return all(p.passed for p in parts), key


def unigram_share(counts: Mapping[str, Any]) -> tuple[int, int]:
    """(universal neurons with a unigram or letter feature of VR >= min_vr, universal neurons)."""
    return int(sum(counts["unigram_per_layer"])), int(sum(counts["universal_per_layer"]))


@claim(
    "F1",
    title="unigram neurons, mostly in the first layers",
    statement="""Unigram neurons, which activate when the current token is a particular word or word piece, are the
    most common family; they sit predominantly in the first two layers and often have near-duplicates.""",
    paper_ref="§5, Fig. 4a, 15, 16",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="among universal neurons whose best current-token feature has VR >= {min_vr}, >= {min_early_share} are "
        "in layers 0-1 (the first max(2, ceil(L/6)) layers); >= {min_families} unigram features each have VR >= "
        "{min_vr} in >= {min_family_size} distinct universal neurons; and the share of universal neurons with VR >= "
        "{min_vr} on a unigram or single-letter feature, trained - untrained control (same rule, pipeline and number "
        "of comparison seeds), has a "
        "95 % Newcombe lower bound > {min_effect}; universal = excess > {universal_threshold}, else the top 2 %",
        small=">= {min_neurons} universal neuron has VR >= {min_vr} on a unigram or single-letter feature, and the "
        "fraction of such neurons in layer 0 exceeds that in the last layer; and the share of universal neurons with "
        "such a feature, trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % "
        "Newcombe lower bound > "
        "{min_effect}; universal = excess > {universal_threshold}, else the top 2 %",
        thresholds_full={
            "min_vr": 0.5,
            "min_early_share": 0.6,
            "min_families": 3,
            "min_family_size": 3,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={"min_vr": 0.5, "min_neurons": 1, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def unigram_neurons(ctx: ClaimContext) -> Evidence:
    """F1: count universal neurons labelled by a unigram feature, per layer, against the untrained control."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    fv = feature_vr(ctx, trained.ref)
    counts = unigram_family_counts(fv.vr, fv.kinds, fv.names, fv.layer, trained.universal, fv.n_layers, t["min_vr"])
    matched = unigram_family_counts(
        fv.vr, fv.kinds, fv.names, fv.layer, who.matched.universal, fv.n_layers, t["min_vr"]
    )
    parts, key = unigram_parts(counts, ctx.scale, t)
    control_counts: dict[str, Any] = {}
    effect = None
    if control is not None:
        cv = control_vr(ctx, control)
        control_counts = unigram_family_counts(
            cv.vr, cv.kinds, cv.names, cv.layer, control.universal, cv.n_layers, t["min_vr"]
        )
        control_counts["universal_rule"] = control.rule
        effect = share_effect(
            f"share of universal neurons with unigram/letter VR >= {t['min_vr']:g}",
            unigram_share(matched),
            unigram_share(control_counts),
            t["min_effect"],
            "universal neurons",
        )
    top = list(counts["families"].items())[:8]
    series = {
        "universal unigram neurons (trained)": counts["unigram_per_layer"],
        "universal neurons (trained)": counts["universal_per_layer"],
    }
    if control_counts:
        series["universal unigram neurons (untrained control)"] = control_counts["unigram_per_layer"]
    return ctx.evidence(
        key=("early share" if ctx.scale == "full" else "universal unigram neurons", key),
        reason=f"universal neurons with unigram/letter VR >= {t['min_vr']:g} per layer: {counts['unigram_per_layer']} "
        f"(of {counts['universal_per_layer']} universal; {trained.rule}); best current-token VR >= {t['min_vr']:g} per "
        f"layer: {counts['token_labelled_per_layer']}; top families {top or 'none'}; untrained control "
        f"{control_counts.get('unigram_per_layer', 'n/a')} of {control_counts.get('universal_per_layer', 'n/a')}"
        + effect_text(effect, who),
        measured={
            **counts,
            "universal_rule": trained.rule,
            "n_features": len(fv.names),
            "n_unigram_features": fv.kinds.count(F.KIND_UNIGRAM),
            "unigram_min_count": fv.unigram_min_count,
        },
        control={"untrained": control_counts},
        n_tokens=fv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(fv.n_layers)),
                "series": series,
                "ylabel": f"neurons with unigram VR >= {t['min_vr']:g}",
            }
        },
    )
