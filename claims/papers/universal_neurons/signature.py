"""S1: the statistical signature of universal neurons (§4.2, Fig. 3), as within-layer percentiles.

Per neuron: pre-activation moments computed exactly (no histograms) with BOS positions left out, activation
frequency P(pre > 0), and the weight statistics of the folded/centred weights; each ranked within its layer
(scipy `percentileofscore(kind="rank")`). The claim is about where universal neurons sit in those ranks, and
its control is the untrained seeds: the same signature score (mean claimed-direction shift over the metrics) on
their reference and its universal set by the same rule must be clearly lower.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from claims.context import NO_CONTROL, ClaimContext
from claims.papers.universal_neurons.measures import universality
from claims.papers.universal_neurons.measures.signature import neuron_frame
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, fmt
from engine.inference import auroc, mann_whitney_greater, permutation_median_shift, two_sample_bootstrap_interval
from engine.percentiles import within_layer_percentile
from engine.universality import universal_mask
from fixtures.activations import MLP_POST_STREAM, MLP_PRE_MOMENTS

# metric column -> the direction the paper reports for universal neurons (docs/catalogue.md §4.1)
GATED_METRICS = {"freq": "low", "skew": "high", "kurt": "high", "input_bias": "low", "l2_penalty": "high"}
REPORTED_METRICS = {"mean": "low", "in_out_sim": "high", "vocab_kurt": "high"}
LABELS = {
    "freq": "activation frequency",
    "skew": "pre-act skew",
    "kurt": "pre-act kurtosis",
    "input_bias": "input bias",
    "l2_penalty": "L2 penalty",
    "mean": "pre-act mean",
    "in_out_sim": "cos(w_in, w_out)",
    "vocab_kurt": "W_U kurtosis",
}


def signature_shifts(
    frame: pd.DataFrame, mask: np.ndarray, metrics: dict[str, str], seed: int
) -> dict[str, dict[str, Any]]:
    """Per metric: median within-layer percentile of universal vs other neurons, shift, permutation p, AUROC."""
    out = {}
    layers = frame.layer.to_numpy()
    for metric, direction in metrics.items():
        values = frame[metric].to_numpy(dtype=np.float64)
        if np.all(np.isnan(values)):
            continue  # e.g. input bias of a gated MLP: undefined, not counted
        pct = within_layer_percentile(values, layers)
        ok = ~np.isnan(pct)
        shift, p = permutation_median_shift(pct[ok], mask[ok], layers[ok], n_perm=500, seed=seed)
        u, o = pct[ok & mask], pct[ok & ~mask]
        signed = (u, o) if direction == "high" else (-u, -o)
        out[metric] = {
            "median_universal": float(np.median(u)),
            "median_other": float(np.median(o)),
            "shift": shift,
            "permutation_p": p,
            "auroc_claimed_direction": auroc(*signed),
            "mann_whitney_p": mann_whitney_greater(*signed),
            "direction": direction,
        }
    return out


def _moved(stats: dict[str, float], min_shift: float, max_p: float) -> bool:
    sign = 1 if stats["direction"] == "high" else -1
    return sign * stats["shift"] >= min_shift and stats["permutation_p"] < max_p


@claim(
    "S1",
    title="universal neurons have a statistical signature",
    statement="""Universal neurons have large weight norm, a very negative input bias and hence low activation
    frequency, and very high pre-activation skew and kurtosis; non-universal neurons are Gaussian-like.""",
    paper_ref="§4.2, Fig. 3, Fig. 14",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=Needs(seeds=2, products=frozenset({MLP_POST_STREAM, MLP_PRE_MOMENTS}), untrained_control=True),
    version=2,
    criterion=Criterion(
        full="every signature metric's universal median within-layer percentile is <= {low_max} (low) or >= "
        "{high_min} (high), with one-sided Mann-Whitney p < {max_mw_p} and AUROC >= {min_auroc}; non-universal "
        "median skew in [-{skew_band}, {skew_band}] and kurtosis in [{kurt_low}, {kurt_high}]; the signature score "
        "(mean over the signature metrics of the universal - other median percentile shift, in the claimed "
        "direction) of the trained reference minus that of the untrained seeds' reference (same rule) has its "
        "bootstrap 95 % lower bound > {min_effect} points",
        small="at least {min_metrics} of the 5 signature metrics (activation frequency low, skew high, kurtosis high, "
        "input bias low, L2 penalty high) move the claimed way by >= {min_shift} percentile points with a "
        "within-layer permutation p < {max_p}; universal = excess > {universal_threshold}, else the top 2 %; the "
        "signature score (mean claimed-direction shift over those metrics) of the trained reference minus that of "
        "the untrained seeds' reference (same rule) has its bootstrap 95 % lower bound > {min_effect} points",
        thresholds_full={
            "low_max": 35,
            "high_min": 65,
            "max_mw_p": 1e-3,
            "min_auroc": 0.65,
            "skew_band": 0.3,
            "kurt_low": 2.5,
            "kurt_high": 4.5,
            "universal_threshold": 0.5,
            "min_effect": 0.0,
        },
        thresholds_small={
            "min_metrics": 4,
            "min_shift": 10,
            "max_p": 0.05,
            "universal_threshold": 0.3,
            "min_effect": 0.0,
        },
    ),
    min_tokens=16_384,
    key_tolerance=1.0,
    paper_numbers="median within-layer percentiles (GPT2-small-a): act freq ≈23, skew ≈94, kurtosis ≈95, input bias 18.2, L2 83.0",
)
def signature(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    mask, rule = universal_mask(u.table.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
    frame = neuron_frame(ctx, ctx.model)
    seed = ctx.workbench.settings.seed
    shifts = signature_shifts(frame, mask, GATED_METRICS, seed)
    reported = signature_shifts(frame, mask, REPORTED_METRICS, seed)
    with_bos = signature_shifts(neuron_frame(ctx, ctx.model, "all"), mask, GATED_METRICS, seed)
    parts: list[Part] = []
    if ctx.scale == "full":
        good = []
        for m, s in shifts.items():
            label = LABELS[m]
            if s["direction"] == "low":
                placed = ctx.part(f"universal median percentile of {label}", s["median_universal"], "<=", "low_max")
            else:
                placed = ctx.part(f"universal median percentile of {label}", s["median_universal"], ">=", "high_min")
            clauses = [
                placed,
                ctx.part(f"Mann-Whitney ({label}, claimed direction)", s["mann_whitney_p"], "p<", "max_mw_p"),
                ctx.part(f"AUROC of {label} (claimed direction)", s["auroc_claimed_direction"], ">=", "min_auroc"),
            ]
            parts += clauses
            if all(c.passed for c in clauses):
                good.append(m)
        other = frame[~mask]
        parts += [
            ctx.part("|non-universal median skew|", abs(float(other["skew"].median())), "<=", "skew_band"),
            ctx.part("non-universal median kurtosis", float(other["kurt"].median()), ">=", "kurt_low"),
            ctx.part("non-universal median kurtosis", float(other["kurt"].median()), "<=", "kurt_high"),
        ]
    else:
        good = [m for m, s in shifts.items() if _moved(s, ctx.threshold("min_shift"), ctx.threshold("max_p"))]
        parts.append(ctx.part("signature metrics moved the claimed way", float(len(good)), ">=", "min_metrics"))
    effect: Effect | None = None
    control: dict[str, object] = {}
    controls = ctx.family.controls if ctx.family is not None else ()
    if u.control is not None and controls:
        cmask, crule = universal_mask(u.control.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
        cframe = neuron_frame(ctx, controls[0])
        cshifts = signature_shifts(cframe, cmask, GATED_METRICS, seed)
        metrics = {m: GATED_METRICS[m] for m in shifts if m in cshifts}
        trained_score = SignatureScore(frame, mask, metrics)
        control_score = SignatureScore(cframe, cmask, metrics)
        low, high = two_sample_bootstrap_interval(
            lambda ia, ib: trained_score(ia) - control_score(ib), trained_score.n, control_score.n, seed=seed
        )
        measured_score, control_value = trained_score(), control_score()
        effect = Effect(
            name="signature score (percentile points): trained - untrained",
            measured=measured_score,
            control=control_value,
            value=measured_score - control_value,
            low=low,
            high=high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds' reference, its universal set by the same rule",
            method="percentile bootstrap over neurons (each model resampled on its own), 1000",
        )
        control = {
            "untrained_rule": crule,
            "untrained_shift": {m: s["shift"] for m, s in cshifts.items()},
            "untrained_metrics_moved": [m for m, s in cshifts.items() if _moved(s, 10, 0.05)],
            "untrained_signature_score": control_value,
        }
    missing = None if effect is not None or not all(p.passed for p in parts) else NO_CONTROL
    summary = ", ".join(
        f"{LABELS[m]} {s['median_universal']:.0f} vs {s['median_other']:.0f}" for m, s in shifts.items()
    )
    effect_text = (
        f"; signature score {effect.measured:.1f} vs untrained {effect.control:.1f} points (difference 95 % CI "
        f"{fmt(effect.low)} to {fmt(effect.high)})"
        if effect
        else ""
    )
    return ctx.evidence(
        key=("signature metrics moved", float(len(good))),
        reason=f"{len(good)} of {len(shifts)} metrics moved the claimed way ({', '.join(LABELS[m] for m in good) or 'none'}); "
        f"median percentiles universal vs other: {summary}; {int(mask.sum())} universal neurons ({rule}){effect_text}",
        measured={
            "metrics": shifts,
            "reported_not_gated": reported,
            "with_bos_included": {m: s["shift"] for m, s in with_bos.items()},
            "universal_rule": rule,
            "n_universal": int(mask.sum()),
            "nonuniversal_median_skew": float(frame.loc[~mask, "skew"].median()),
            "nonuniversal_median_kurt": float(frame.loc[~mask, "kurt"].median()),
            "signature_score": effect.measured if effect else None,
        },
        control=control,
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=missing,
        figures={"signature_boxes": _boxes(frame, mask)},
    )


class SignatureScore:
    """Mean over metrics of the claimed-direction shift of universal vs other median within-layer percentiles.

    Percentiles are ranked once within each layer over all neurons; calling with an index array (neurons drawn
    with replacement) recomputes the medians on that resample, for a bootstrap over neurons.
    """

    def __init__(self, frame: pd.DataFrame, mask: np.ndarray, metrics: dict[str, str]) -> None:
        layers = frame.layer.to_numpy()
        columns = []
        for metric, direction in metrics.items():
            pct = within_layer_percentile(frame[metric].to_numpy(dtype=np.float64), layers)
            columns.append(pct if direction == "high" else 100 - pct)
        self.pct = np.stack(columns, axis=1) if columns else np.empty((len(frame), 0))
        self.mask = np.asarray(mask, dtype=bool)
        self.n = len(self.mask)

    def __call__(self, idx: np.ndarray | None = None) -> float:
        """The score on all neurons, or on the neurons `idx` (NaN when one group is empty)."""
        pct, mask = (self.pct, self.mask) if idx is None else (self.pct[idx], self.mask[idx])
        if self.pct.shape[1] == 0 or not mask.any() or mask.all():
            return float("nan")
        shift = np.nanmedian(pct[mask], axis=0) - np.nanmedian(pct[~mask], axis=0)
        return float(np.mean(shift))


def _boxes(frame: pd.DataFrame, mask: np.ndarray) -> dict[str, object]:
    metrics = {**GATED_METRICS, **REPORTED_METRICS}
    layers = frame.layer.to_numpy()
    universal, other, expected = {}, {}, {}
    rng = np.random.default_rng(0)
    for metric, direction in metrics.items():
        values = frame[metric].to_numpy(dtype=np.float64)
        if np.all(np.isnan(values)):
            continue
        pct = within_layer_percentile(values, layers)
        label = LABELS[metric]
        universal[label] = pct[mask & ~np.isnan(pct)]
        rest = pct[~mask & ~np.isnan(pct)]
        other[label] = rng.choice(rest, size=min(len(rest), 2000), replace=False)
        expected[label] = direction
    return {"metrics": list(universal), "universal": universal, "other": other, "expected": expected}
