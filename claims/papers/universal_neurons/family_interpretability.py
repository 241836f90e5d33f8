"""F7: are universal neurons more interpretable than non-universal ones of the same layers? (abstract, §5, §7)

The paper labelled only universal neurons; F7 compares their best-feature VR with a layer-matched random sample.
measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CONTROL_NAME,
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    N_BOOT,
    Subject,
    effect_text,
    neuron_name,
    subjects,
)
from claims.papers.universal_neurons.measures.family_features import FeatureVR, control_vr, feature_vr
from claims.registry import Criterion, claim
from claims.verdict import Effect, Evidence, Part
from claims.verdict import part as make_part
from engine import features as F
from engine.family_stats import best_of, layer_matched_sample
from engine.inference import auroc, groups_bootstrap_interval, mann_whitney_greater

N_RESAMPLES = 200  # F7: resamples of the random comparison set, reported for robustness


def interpretability_gap(best: np.ndarray, universal: np.ndarray, sample: np.ndarray) -> dict[str, float]:
    """Best-feature VR of universal neurons vs a comparison set: medians, difference, one-sided Mann-Whitney p."""
    u, s = best[np.asarray(universal, dtype=bool)], best[np.asarray(sample, dtype=bool)]
    return {
        "median_universal": float(np.median(u)),
        "median_sample": float(np.median(s)),
        "median_difference": float(np.median(u) - np.median(s)),
        "mann_whitney_p": mann_whitney_greater(u, s),
        "auroc": auroc(u, s),
    }


def interpretability_parts(gap: Mapping[str, float], t: Mapping[str, float]) -> list[Part]:
    """F7's clauses besides the effect."""
    return [
        make_part("Mann-Whitney p (universal > layer-matched sample)", gap["mann_whitney_p"], "p<", t["max_p"]),
        make_part("median best-feature VR difference", gap["median_difference"], ">=", t["min_median_diff"]),
    ]


def interpretability_passes(gap: Mapping[str, float], t: Mapping[str, float]) -> bool:
    """F7's clauses besides the effect all hold."""
    return all(p.passed for p in interpretability_parts(gap, t))


def interpretability_effect_interval(
    trained: tuple[np.ndarray, np.ndarray], control: tuple[np.ndarray, np.ndarray], seed: int
) -> tuple[float, float]:
    """95 % bootstrap interval of (median universal - median sample) trained minus the same in the control.

    Args:
        trained: (best-feature VR of the universal neurons, of their layer-matched sample) of the trained model.
        control: the same for the untrained control; the four sets of neurons are resampled independently.
        seed: bootstrap seed.
    """
    groups = [np.asarray(x, dtype=np.float64) for x in (*trained, *control)]

    def statistic(idx: list[np.ndarray]) -> float:
        u, s, cu, cs = (g[i] for g, i in zip(groups, idx, strict=True))
        return float(np.median(u) - np.median(s) - (np.median(cu) - np.median(cs)))

    return groups_bootstrap_interval(statistic, [len(g) for g in groups], N_BOOT, seed)


def _f7_measure(fv: FeatureVR, subject: Subject, seed: int, t: Mapping[str, float]) -> dict[str, Any]:
    best, idx = best_of(fv.vr, fv.kinds, F.CURRENT_KINDS + F.PREV_KINDS)
    layer = fv.layer
    rng = np.random.default_rng(seed)
    sample = layer_matched_sample(subject.universal, layer, rng)
    gap = interpretability_gap(best, subject.universal, sample)
    out: dict[str, Any] = {
        **gap,
        "passed": interpretability_passes(gap, t),
        "n_universal": int(subject.universal.sum()),
    }
    if not np.isnan(best).any():  # every neuron computed (the trained model): resamples and all non-universal ones
        resampled = [
            interpretability_gap(best, subject.universal, layer_matched_sample(subject.universal, layer, rng))
            for _ in range(N_RESAMPLES)
        ]
        out["resampled_pass_rate"] = float(np.mean([interpretability_passes(g, t) for g in resampled]))
        out["resampled_median_difference"] = float(np.median([g["median_difference"] for g in resampled]))
        out["vs_all_nonuniversal"] = interpretability_gap(best, subject.universal, ~subject.universal)
    top = np.flatnonzero(subject.universal)[np.argsort(-best[subject.universal])][:8]
    out["top_labels"] = [
        {"neuron": neuron_name(int(i), fv.d_mlp), "feature": fv.names[idx[i]], "vr": float(best[i])} for i in top
    ]
    return {**out, "rule": subject.rule, "best": best, "sample": sample}


F7_CRITERION = (
    "best-feature VR (every current- and previous-token feature) of universal neurons exceeds that of a "
    "layer-matched random sample of as many non-universal neurons: one-sided Mann-Whitney p < {max_p} and median "
    "difference >= {min_median_diff}; and that median difference, trained - untrained control (same rule, pipeline "
    "and number of comparison seeds), has a 95 % bootstrap lower bound (over neurons) > {min_effect}; universal = "
    "excess > {universal_threshold}, else the top 2 %"
)


@claim(
    "F7",
    title="universal neurons are more interpretable",
    statement="""Those few neurons which are universal are often interpretable (abstract, §7). The paper labelled
    only universal neurons; the comparison with non-universal neurons was never run.""",
    paper_ref="abstract, §5, §7",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=F7_CRITERION,
        small=F7_CRITERION,
        thresholds_full={
            "max_p": 0.01,
            "min_median_diff": 0.1,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "max_p": 0.01,
            "min_median_diff": 0.05,
            "min_effect": 0.0,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.05,
)
def universal_interpretable(ctx: ClaimContext) -> Evidence:
    """F7: best-feature VR of universal neurons vs a layer-matched random sample of non-universal ones."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    seed = ctx.workbench.settings.seed
    fv = feature_vr(ctx, trained.ref)
    main = _f7_measure(fv, trained, seed, t)
    ctrl: dict[str, Any] = {}
    effect = None
    if control is not None:
        ctrl = _f7_measure(control_vr(ctx, control), control, seed, t)
        same = main if who.matched is trained else _f7_measure(fv, who.matched, seed, t)
        low, high = interpretability_effect_interval(
            (same["best"][who.matched.universal], same["best"][same["sample"]]),
            (ctrl["best"][control.universal], ctrl["best"][ctrl["sample"]]),
            seed,
        )
        effect = Effect(
            name="median best-feature VR difference (universal - sample): trained - untrained",
            measured=same["median_difference"],
            control=ctrl["median_difference"],
            value=same["median_difference"] - ctrl["median_difference"],
            low=low,
            high=high,
            threshold=t["min_effect"],
            control_name=CONTROL_NAME,
            method=f"percentile bootstrap over neurons ({N_BOOT} resamples; universal and sample neurons of each "
            "model resampled independently)",
        )
    strip = ("best", "sample")
    shown = trained.universal | main["sample"]
    return ctx.evidence(
        key=("median VR difference", main["median_difference"]),
        reason=f"median best-feature VR {main['median_universal']:.3f} ({main['n_universal']} universal, "
        f"{trained.rule}) "
        f"vs {main['median_sample']:.3f} (layer-matched sample), difference {main['median_difference']:.3f}, "
        f"Mann-Whitney p {main['mann_whitney_p']:.2g}; {100 * main['resampled_pass_rate']:.0f} % of {N_RESAMPLES} "
        f"resamples pass; untrained control difference {ctrl.get('median_difference', float('nan')):.3f} "
        f"(p {ctrl.get('mann_whitney_p', float('nan')):.2g})" + effect_text(effect, who),
        measured={k: v for k, v in main.items() if k not in strip},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        inconclusive=None if control is not None else NO_CONTROL,
        parts=interpretability_parts(main, t),
        effect=effect,
        n_tokens=fv.n_positions,
        figures={
            "scatter": {
                "x": trained.excess[shown],
                "y": main["best"][shown],
                "xlabel": "excess correlation",
                "ylabel": "best-feature VR",
                "groups": np.where(trained.universal[shown], "universal", "layer-matched sample").tolist(),
                "fit": False,
            }
        },
    )
