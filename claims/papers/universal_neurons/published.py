"""Claims checked on the paper's own published tables (tier (a) of the catalogue: no model needed).

They pin what the paper reports to the data the authors released, with the paper's exact definitions, so that
every later claim on new models compares against numbers we have reproduced rather than copied.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims import Axis, ClaimContext, Criterion, Effect, Evidence, Needs, claim, fmt
from claims.papers.universal_neurons import tables
from engine.inference import proportion_difference

PAPER_PERCENT: dict[str, float] = tables.reference_numbers()["universal_pct_paper"]


@claim(
    "U1-published",
    title="universal fractions (published tables)",
    statement="""Only 1-5 % of neurons are universal: 4.16 % of GPT2-small-a, 1.23 % of GPT2-medium-a and 1.26 % of
    Pythia-160m have excess correlation = mean_corr - mean_baseline > 0.5.""",
    paper_ref="§4.1, abstract; universal.csv",
    axes=[Axis.ORIGINAL],
    needs=Needs(published=True, text=False),
    criterion=Criterion(
        full="every recomputed fraction is within {tolerance_pct} percentage points of the paper's 4.16/1.23/1.26 %; "
        "excess_corr == mean_corr - mean_baseline within {identity_tol} on every row; every row has excess > {universal_threshold}",
        thresholds_full={"tolerance_pct": 0.005, "identity_tol": 1e-6, "universal_threshold": 0.5},
    ),
    key_tolerance=1e-9,
)
def universal_fraction_published(ctx: ClaimContext) -> Evidence:
    fractions, identity, minimum, above = {}, {}, {}, {}
    for model, meta in tables.MODELS.items():
        frame = tables.universal(model)
        fractions[model] = 100.0 * len(frame) / meta["n_neurons"]
        identity[model] = float((frame.excess_corr - (frame.mean_corr - frame.mean_baseline)).abs().max())
        minimum[model] = float(frame.excess_corr.min())
        above[model] = {t: int((frame.excess_corr > t).sum()) for t in (0.6, 0.7)}
    errors = {m: abs(fractions[m] - PAPER_PERCENT[m]) for m in fractions}
    worst = max(errors.values())
    parts = [
        ctx.part("max |recomputed fraction - paper| (points)", worst, "<=", "tolerance_pct"),
        ctx.part("max |excess_corr - (mean_corr - mean_baseline)|", max(identity.values()), "<=", "identity_tol"),
        ctx.part("min excess_corr over published rows", min(minimum.values()), ">", "universal_threshold"),
    ]
    listing = ", ".join(f"{m} {fractions[m]:.4f} % (paper {PAPER_PERCENT[m]})" for m in fractions)
    return ctx.evidence(
        parts=parts,
        key=("max |fraction - paper| (points)", worst),
        reason=f"recomputed {listing}; identity error {max(identity.values()):.1e}",
        measured={"fraction_pct": fractions, "identity_max_abs_error": identity, "min_excess": minimum},
        control={
            "counts_at_stricter_thresholds": above,
            "note": "threshold sensitivity: the count falls steeply above 0.5 (the notebook's max_corr-based "
            "definition reported 2706/2238/777 instead of 1533/1211/465)",
        },
    )


@claim(
    "U3-published",
    title="cross-seed consistency (published tables)",
    statement="""Universal neurons' correlations vary little across comparison models: the mean of
    max_m c_m - min_m c_m over universal neurons is about 0.1 (GPT2-medium-a 0.105).""",
    paper_ref="§4.1 (variation across models); universal.csv",
    axes=[Axis.ORIGINAL],
    needs=Needs(published=True, text=False),
    criterion=Criterion(
        full="mean (max_corr - min_corr) over universal neurons <= {max_spread} in every published model",
        thresholds_full={"max_spread": 0.15},
    ),
    key_tolerance=1e-6,
)
def consistency_published(ctx: ClaimContext) -> Evidence:
    spread = {m: float((tables.universal(m).max_corr - tables.universal(m).min_corr).mean()) for m in tables.MODELS}
    baseline_spread = {
        m: float((tables.universal(m).max_baseline - tables.universal(m).min_baseline).mean()) for m in tables.MODELS
    }
    worst = max(spread.values())
    return ctx.evidence(
        parts=[ctx.part("max over models of mean (max_corr - min_corr)", worst, "<=", "max_spread")],
        key=("max over models of mean spread", worst),
        reason="mean spread " + ", ".join(f"{m} {v:.4f}" for m, v in spread.items()),
        measured={"mean_spread": spread},
        control={"mean_spread_of_rotation_baseline": baseline_spread},
    )


SIGNATURE_METRICS = ("input_bias", "in_out_sim", "l2_penalty")
PAPER_MEDIANS: dict[str, float] = {
    m: tables.reference_numbers()["computed_gpt2_small_weight_percentile_medians"][m] for m in SIGNATURE_METRICS
}


@claim(
    "S1-published",
    title="weight signature percentiles (published tables)",
    statement="""Universal neurons have very negative input bias, high cos(w_in, w_out) and a large L2 penalty
    relative to their layer: within-layer percentile medians 18.2 / 71.3 / 83.0 in GPT2-small-a (Fig. 3).""",
    paper_ref="§4.2, Fig. 3; weight table of all GPT2-small-a neurons",
    axes=[Axis.ORIGINAL],
    needs=Needs(published=True, text=False),
    criterion=Criterion(
        full="each median within-layer percentile of universal neurons is within {tolerance} of the paper "
        "(input bias 18.2, cos 71.3, L2 83.0); a layer-matched random non-universal sample stays within "
        "{control_band} of 50",
        thresholds_full={"tolerance": 1.0, "control_band": 10.0},
    ),
    key_tolerance=1e-6,
)
def signature_published(ctx: ClaimContext) -> Evidence:
    from engine.percentiles import within_layer_percentile

    frame = tables.gpt2_small_weights()
    universal = tables.universal("stanford-gpt2-small-a")
    is_universal = pd.MultiIndex.from_frame(frame[["layer", "neuron"]]).isin(
        pd.MultiIndex.from_frame(universal[["layer", "neuron"]])
    )
    pct = {m: within_layer_percentile(frame[m].to_numpy(), frame.layer.to_numpy()) for m in SIGNATURE_METRICS}
    medians = {m: float(np.median(pct[m][is_universal])) for m in SIGNATURE_METRICS}
    control_idx = _layer_matched_sample(frame.layer.to_numpy(), is_universal, seed=0)
    control = {m: float(np.median(pct[m][control_idx])) for m in SIGNATURE_METRICS}
    errors = {m: abs(medians[m] - PAPER_MEDIANS[m]) for m in SIGNATURE_METRICS}
    worst = max(errors.values())
    control_off = max(abs(v - 50.0) for v in control.values())
    parts = [
        ctx.part("max |median within-layer percentile - paper|", worst, "<=", "tolerance"),
        ctx.part("max |non-universal control median - 50|", control_off, "<=", "control_band"),
    ]
    return ctx.evidence(
        parts=parts,
        key=("max |median - paper|", worst),
        reason="medians "
        + ", ".join(f"{m} {medians[m]:.1f} (paper {PAPER_MEDIANS[m]})" for m in SIGNATURE_METRICS)
        + f"; non-universal control {', '.join(f'{v:.1f}' for v in control.values())}",
        measured={"median_percentile_universal": medians, "n_universal": int(is_universal.sum())},
        control={"median_percentile_layer_matched_nonuniversal": control},
    )


def _layer_matched_sample(layers: np.ndarray, chosen: np.ndarray, seed: int) -> np.ndarray:
    """Indices of non-chosen neurons, as many per layer as chosen ones (seeded)."""
    rng = np.random.default_rng(seed)
    picks = []
    for layer in np.unique(layers):
        pool = np.flatnonzero((layers == layer) & ~chosen)
        k = int(((layers == layer) & chosen).sum())
        picks.append(rng.choice(pool, size=min(k, len(pool)), replace=False))
    return np.concatenate(picks)


EARLY_LAYERS = 3  # "concentrated in layers 0-2" (§5.3, Fig. 19)
ROTARY = "pythia-160m"  # rotary position embeddings: the paper finds no sub-Gaussian universal neuron there


@claim(
    "F4-published",
    title="position-neuron candidates (published tables)",
    statement="""Position neurons are concentrated in layers 0-2; the authors' candidates are the universal neurons
    with sub-Gaussian activation (kurtosis < 2), of which Pythia-160m, with rotary position embeddings, has none.""",
    paper_ref="§5.3, Fig. 19; universal.csv (kurt column), the position notebook's candidate rule",
    axes=[Axis.ORIGINAL],
    needs=Needs(published=True, text=False),
    criterion=Criterion(
        full="in each GPT-2 model, >= {min_share} of the universal neurons with kurtosis < {max_kurt} lie in layers "
        "0-2, and their share there minus that of all its universal neurons has a 95 % Newcombe lower bound > "
        "{min_effect} (the weaker model is reported); the rotary model has <= {max_rotary} such neurons",
        thresholds_full={"min_share": 0.7, "max_kurt": 2.0, "min_effect": 0.0, "max_rotary": 0},
    ),
    key_tolerance=1e-9,
)
def position_candidates_published(ctx: ClaimContext) -> Evidence:
    max_kurt = ctx.threshold("max_kurt")
    shares: dict[str, float] = {}  # candidates in layers 0-2, per GPT-2 model
    priors: dict[str, float] = {}  # all universal neurons in layers 0-2 (the control)
    intervals: dict[str, tuple[float, float, float]] = {}  # shares - priors with its Newcombe interval
    counts: dict[str, int] = {}
    for model in tables.MODELS:
        frame = tables.universal(model)
        candidate = frame["kurt"] < max_kurt  # frame.kurt is the DataFrame method
        early = frame.layer < EARLY_LAYERS
        counts[model] = int(candidate.sum())
        if model == ROTARY:
            continue
        k, n = int((candidate & early).sum()), counts[model]
        shares[model] = k / n if n else float("nan")
        priors[model] = int(early.sum()) / len(frame)
        intervals[model] = proportion_difference(k, n, int(early.sum()), len(frame))
    weaker = min(intervals, key=lambda m: intervals[m][1])  # the lower 95 % end
    diff, low, high = intervals[weaker]
    parts = [ctx.part(f"{m}: share of candidates in layers 0-2", s, ">=", "min_share") for m, s in shares.items()]
    parts.append(
        ctx.part(f"{ROTARY}: universal neurons with kurtosis < {max_kurt:g}", counts[ROTARY], "<=", "max_rotary")
    )
    return ctx.evidence(
        parts=parts,
        effect=Effect(
            f"share in layers 0-2, candidates - all universal neurons ({weaker})",
            shares[weaker],
            priors[weaker],
            diff,
            low,
            high,
            ctx.threshold("min_effect"),
            "all universal neurons of the same model (the layer prior)",
            "Newcombe interval over neurons",
        ),
        key=("min share of candidates in layers 0-2", min(shares.values())),
        reason="candidates (kurtosis < 2) in layers 0-2: "
        + ", ".join(f"{m} {fmt(shares[m])} of {counts[m]}" for m in shares)
        + f"; {ROTARY} has {counts[ROTARY]}",
        measured={"n_candidates": counts, "share_in_layers_0_2": shares},
        control={m: {"share_of_all_universal_in_layers_0_2": p} for m, p in priors.items()},
    )
