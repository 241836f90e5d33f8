"""F5: syntax neurons (§5, Fig. 20), labelled by VR on a part-of-speech tagger's labels.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.

Measurement choices of F5, fixed before any run:

* F5 labels tokens with spaCy's `en_core_web_sm` 3.8.0 (fixtures/tagger.py; the paper used `en_core_web_trf`, which
  is not on PyPI): part-of-speech labels on the zoo, part-of-speech, dependency and morphology labels at full scale.
  The tagger is English, so code and other-language corpora are NOT_APPLICABLE.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from claims.papers.universal_neurons.measures.family_features import syntax_vr
from claims.registry import Criterion, claim
from claims.verdict import Evidence, Part
from claims.verdict import part as make_part
from engine.family_stats import per_layer
from fixtures.activations import MLP_POST_RAW

NOT_ENGLISH_PROSE = {"code", "other-language"}  # corpus roles an English tagger cannot label


def syntax_parts(
    best: np.ndarray, layer: np.ndarray, universal: np.ndarray, n_layers: int, scale: str, t: Mapping[str, float]
) -> tuple[list[Part], float, dict[str, Any]]:
    """F5's clauses besides the effect: (parts, key number, details)."""
    universal = np.asarray(universal, dtype=bool)
    if scale == "full":
        pool = np.flatnonzero(universal)
        top = pool[np.argsort(-best[pool], kind="stable")[: int(t["top_n"])]]
        hist = np.bincount(layer[top], minlength=n_layers)
        share = float(hist.max() / len(top)) if len(top) else 1.0
        parts = [
            make_part(
                "distinct layers of the top universal neurons by syntax VR",
                int((hist > 0).sum()),
                ">=",
                t["min_layers"],
            ),
            make_part("largest share of them in one layer", share, "<=", t["max_layer_share"]),
        ]
        return parts, float((hist > 0).sum()), {"top_layers": hist.tolist(), "n_top": len(top)}
    found = universal & (best >= t["min_vr"])
    parts = [make_part("universal neurons with part-of-speech VR >= min_vr", int(found.sum()), ">=", t["min_neurons"])]
    return parts, float(found.sum()), {"per_layer": per_layer(found, layer, n_layers)}


def syntax_share(best: np.ndarray, universal: np.ndarray, min_vr: float) -> tuple[int, int]:
    """(universal neurons whose best syntax VR is >= min_vr, universal neurons)."""
    universal = np.asarray(universal, dtype=bool)
    return int((universal & (best >= min_vr)).sum()), int(universal.sum())


@claim(
    "F5",
    title="syntax neurons across depth",
    statement="""Neurons selective for linguistic features (negation, plurals, verb tense, ...) exist and are not
    concentrated in any part of the network.""",
    paper_ref="§5, Fig. 20",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=3,
    criterion=Criterion(
        full="the top {top_n} universal neurons by syntax VR (the best over part-of-speech, dependency and "
        "morphology labels of spaCy en_core_web_sm 3.8.0; the paper used en_core_web_trf) cover >= {min_layers} "
        "distinct layers and no layer holds > {max_layer_share} of them; and the share of universal neurons with "
        "syntax VR >= {min_vr}, trained - untrained control (same rule, pipeline and number of comparison seeds), "
        "has a 95 % Newcombe lower bound > {min_effect}; a label is tested when it holds at >= max(10, 3e-4 x "
        "kept positions) positions and is absent from as many; corpora that are not English prose (code, other "
        "languages) are NOT_APPLICABLE; universal = excess > {universal_threshold}, else the top 2 %",
        small=">= {min_neurons} universal neuron has VR >= {min_vr} on a part-of-speech label (spaCy "
        "en_core_web_sm 3.8.0; the paper used en_core_web_trf); and the share of universal neurons with such VR, "
        "trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % Newcombe "
        "lower bound > {min_effect}; a label is tested when it holds at >= max(10, 3e-4 x kept positions) "
        "positions and is absent from as many; corpora that are not English prose (code, other languages) are "
        "NOT_APPLICABLE; universal = excess > {universal_threshold}, else the top 2 %",
        thresholds_full={
            "top_n": 25,
            "min_layers": 8,
            "max_layer_share": 0.3,
            "min_vr": 0.3,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={"min_neurons": 1, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def syntax_neurons(ctx: ClaimContext) -> Evidence:
    """F5: universal neurons whose variance a part-of-speech (full: any syntax) label explains, against control."""
    from fixtures.tagger import DEP, MORPH, POS

    role = ctx.workbench.corpus(ctx.dataset).role if ctx.dataset is not None else None
    if role in NOT_ENGLISH_PROSE:
        raise NotApplicable(
            f"precondition: F5's labels come from an English part-of-speech tagger; corpus {ctx.dataset!r} is "
            f"{role}, not English prose"
        )
    kinds = (POS, DEP, MORPH) if ctx.scale == "full" else (POS,)
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    n_neurons = len(trained.universal)
    sv = syntax_vr(ctx, trained.ref, np.flatnonzero(trained.universal | who.matched.universal))
    d_mlp = ctx.activations(trained.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW).shape[2]
    n_layers = n_neurons // d_mlp
    layer = np.arange(n_neurons) // d_mlp
    best, label = sv.best(kinds, n_neurons)
    parts, key, details = syntax_parts(best, layer, trained.universal, n_layers, ctx.scale, t)
    pool = np.flatnonzero(trained.universal & (label >= 0))
    strongest = [
        {"neuron": neuron_name(int(i), d_mlp), "label": sv.names[label[i]], "vr": float(best[i])}
        for i in pool[np.argsort(-best[pool], kind="stable")[:10]]
    ]
    tested = sv.tested(kinds)
    control_details: dict[str, Any] = {}
    effect = None
    series = {"trained": per_layer(trained.universal & (best >= t["min_vr"]), layer, n_layers)}
    if control is not None:
        cv = syntax_vr(ctx, control.ref, np.flatnonzero(control.universal))
        cbest, _ = cv.best(kinds, n_neurons)  # an untrained copy: the reference's shape
        _, ckey, control_details = syntax_parts(cbest, layer, control.universal, n_layers, ctx.scale, t)
        control_details["key"] = ckey
        effect = share_effect(
            f"share of universal neurons with {'syntax' if ctx.scale == 'full' else 'part-of-speech'} VR >= "
            f"{t['min_vr']:g}",
            syntax_share(best, who.matched.universal, t["min_vr"]),
            syntax_share(cbest, control.universal, t["min_vr"]),
            t["min_effect"],
            "universal neurons",
        )
        series["untrained control"] = per_layer(control.universal & (cbest >= t["min_vr"]), layer, n_layers)
    text = ", ".join(f"{e['neuron']} {e['label']} {e['vr']:.2f}" for e in strongest[:4])
    return ctx.evidence(
        key=("distinct layers of the top syntax neurons" if ctx.scale == "full" else "universal syntax neurons", key),
        reason=f"{details}; strongest: {text or 'none'}; {len(tested)} labels tested ({sv.tagger}); "
        f"untrained control {control_details or 'n/a'}; {trained.rule}" + effect_text(effect, who),
        measured={
            **details,
            "examples": strongest,
            "labels_tested": tested,
            "tagger": sv.tagger,
            "universal_rule": trained.rule,
        },
        control={"untrained": control_details},
        n_tokens=sv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(n_layers)),
                "series": series,
                "ylabel": f"universal neurons with syntax VR >= {t['min_vr']:g}",
            }
        },
    )
