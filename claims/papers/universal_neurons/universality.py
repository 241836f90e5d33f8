"""U1-U4: universality across seeds (§4.1, Fig. 2, 11-13), and its transfer to new data (GT2).

Universality is the paper's excess correlation ϱ = mean_m max_j corr(v_i, v_j^m) - mean_m (the same max against
a random rotation of m's neurons), on post-activations with BOS/EOS/pad and newline positions excluded.
At the paper's scale "universal" means ϱ > 0.5. For the zoo's tiny models the pre-registered threshold is 0.3
(a pilot on 4-layer models reached at most 0.42; docs/catalogue.md §3), with the fallback — the top 2 % by ϱ —
when fewer than 30 neurons pass. Every verdict carries an effect against a control with a 95 % interval: the same
pipeline on untrained seeds (U1, U3, U4, G2-overlap) or a rotated copy of the reference (U2); a family without
untrained controls is INCONCLUSIVE where the control decides, never PASS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK, Universality, universality
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, fmt
from engine.inference import (
    mean_difference,
    mean_interval,
    proportion_difference,
    spearman,
    wilson_interval,
)
from engine.universality import universal_mask
from fixtures.activations import MLP_POST_STREAM

FAMILY_AXES = (Axis.ORIGINAL, Axis.GT1, Axis.GT2)
CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_STREAM}), untrained_control=True)
MIN_TOKENS = 16_384  # kept positions; below this correlations of sparse neurons rest on too few firings


def _threshold(ctx: ClaimContext) -> float:
    return ctx.threshold("universal_threshold")


@dataclass(frozen=True)
class _Chosen:
    mask: np.ndarray
    rule: str


def _universal(excess: np.ndarray, ctx: ClaimContext) -> _Chosen:
    """The universal set by the pre-registered rule: excess > threshold, else the top 2 % (fewer than 30 pass)."""
    t = _threshold(ctx)
    mask, rule = universal_mask(excess, t, ctx.threshold("fallback_top_frac"), int(ctx.threshold("fallback_min_count")))
    return _Chosen(mask, f"excess > {t:g}" if rule == "threshold" else f"top 2 % by excess (fewer than 30 above {t:g})")


def _excess_histogram(u: Universality, threshold: float) -> dict[str, Any]:
    edges = np.linspace(-0.1, 1.0, 45)
    table = u.table
    series = {
        "mean max corr (trained)": [
            np.histogram(table.mean_corr[table.layer == layer], edges)[0] for layer in sorted(table.layer.unique())
        ],
        "Gaussian-rotation baseline": [
            np.histogram(table.mean_baseline[table.layer == layer], edges)[0] for layer in sorted(table.layer.unique())
        ],
        "orthogonal baseline": [
            np.histogram(table.mean_baseline_orth[table.layer == layer], edges)[0]
            for layer in sorted(table.layer.unique())
        ],
    }
    if u.control is not None:
        c = u.control
        series["untrained control (mean max corr)"] = [
            np.histogram(c.mean_corr[c.layer == layer], edges)[0] for layer in sorted(c.layer.unique())
        ]
    return {
        "layers": sorted(int(x) for x in table.layer.unique()),
        "bin_edges": edges,
        "series": series,
        "threshold": None,
    }


def _missing_control(u: Universality, parts: list[Part]) -> str | None:
    """INCONCLUSIVE when the control is missing and every other clause held; a failed clause is a finding anyway."""
    if u.control is not None or not all(p.passed for p in parts):
        return None
    return NO_CONTROL


@claim(
    "U1",
    title="only a few percent of neurons are universal",
    statement="""Only 1-5 % of neurons are universal: their activations correlate across models trained from
    different seeds well above a rotated baseline (excess correlation > 0.5).""",
    paper_ref="§4.1, abstract, Fig. 2a",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="fraction f with excess > {universal_threshold} lies in [{min_frac_pct} %, {max_frac_pct} %] "
        "(new families; the paper's own: 1-5 %); f(trained) - f(untrained seeds, same pipeline) has its Newcombe "
        "95 % lower bound > {min_effect}; reported at 0.4/0.5/0.6",
        small="f(excess > {universal_threshold}) of the trained family minus that of its untrained seeds (same "
        "pipeline) has its Newcombe 95 % lower bound > {min_effect}; f < {max_frac_pct} % (a minority); f's 95 % "
        "Wilson lower bound >= {control_ratio} x the untrained f; reported at 0.2/0.4/0.5",
        thresholds_full={"universal_threshold": 0.5, "min_frac_pct": 0.5, "max_frac_pct": 10.0, "min_effect": 0.005},
        thresholds_small={"universal_threshold": 0.3, "control_ratio": 5.0, "max_frac_pct": 50.0, "min_effect": 0.005},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.005,
    paper_numbers="4.16 % / 1.23 % / 1.26 % universal (GPT2-small-a / GPT2-medium-a / Pythia-160m); 547/444/173 above 0.6",
)
def universal_fraction(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    t = _threshold(ctx)
    excess = u.table.excess_corr.to_numpy()
    n = len(excess)
    count = int((excess > t).sum())
    f = count / n
    low, high = wilson_interval(count, n)
    sweep = {f"f(>{x:g})": float((excess > x).mean()) for x in (0.2, 0.3, 0.4, 0.5, 0.6)}
    if ctx.scale == "full":
        parts = [
            ctx.part(f"f(excess > {t:g}) in %", 100 * f, ">=", "min_frac_pct"),
            ctx.part(f"f(excess > {t:g}) in %", 100 * f, "<=", "max_frac_pct"),
        ]
    else:
        parts = [ctx.part(f"f(excess > {t:g}) in % (a minority)", 100 * f, "<", "max_frac_pct")]
    effect: Effect | None = None
    control_f, control_count = float("nan"), 0
    if u.control is not None:
        control_excess = u.control.excess_corr.to_numpy()
        control_count = int((control_excess > t).sum())
        control_f = control_count / len(control_excess)
        if ctx.scale == "small":
            ratio = ctx.threshold("control_ratio")
            parts.append(ctx.part(f"95 % Wilson low of f - {ratio:g} x untrained f", low - ratio * control_f, ">=", 0))
        diff, d_low, d_high = proportion_difference(count, n, control_count, len(control_excess))
        effect = Effect(
            name=f"f(excess > {t:g}): trained - untrained",
            measured=f,
            control=control_f,
            value=diff,
            low=d_low,
            high=d_high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline)",
            method="Newcombe hybrid score over neurons",
        )
    control_text = (
        f"untrained control {100 * control_f:.2f} %; trained - untrained {fmt(effect.value)} "
        f"(95 % CI {fmt(effect.low)}-{fmt(effect.high)})"
        if effect
        else "no untrained controls"
    )
    return ctx.evidence(
        key=(f"f(excess>{t:g})", f),
        reason=f"{count} of {n} neurons ({100 * f:.2f} %, 95 % CI {100 * low:.2f}-{100 * high:.2f} %) have excess > {t:g}; "
        f"{control_text}; max excess {excess.max():.3f}",
        measured={
            "fraction": f,
            "count": count,
            "n_neurons": n,
            "wilson_95": [low, high],
            "threshold_sweep": sweep,
            "max_excess": float(excess.max()),
            "comparisons": list(u.comparisons),
        },
        control={
            "untrained_fraction": control_f if effect else None,
            "untrained_count": control_count,
            "untrained_threshold_sweep": {f"f(>{x:g})": float((u.control.excess_corr > x).mean()) for x in (0.2, 0.3)}
            if u.control is not None
            else {},
        },
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=_missing_control(u, parts),
        figures={"excess_histogram": _excess_histogram(u, t)},
    )


@claim(
    "U2",
    title="excess over rotation baselines: a privileged basis",
    statement="""Neurons correlate across seeds far more than random rotations of the comparison model's neurons
    do; the neuron basis is privileged (Eq. 3, Fig. 2a/11).""",
    paper_ref="§4.1, Eq. 3, Fig. 2a, Fig. 11",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="every layer has mean excess > 0 with a 95 % t-interval above 0, under both the Gaussian and the "
        "orthogonal baseline; #(excess > {count_threshold}) >= {ratio} x that of a rotated copy of the reference; "
        "f(excess > {count_threshold}) of the reference minus that of its rotated copy (same comparison model) has "
        "its Newcombe 95 % lower bound > {min_effect}",
        small="every layer has mean excess > 0 with a 95 % t-interval above 0, under both the Gaussian and the "
        "orthogonal baseline; #(excess > {count_threshold}) >= {ratio} x that of a rotated copy of the reference "
        "(same comparison model; ratio uses max(rotated count, 1)); f(excess > {count_threshold}) of the reference "
        "minus that of its rotated copy has its Newcombe 95 % lower bound > {min_effect}",
        thresholds_full={"count_threshold": 0.3, "ratio": 10.0, "min_effect": 0.0},
        thresholds_small={"count_threshold": 0.2, "ratio": 10.0, "min_effect": 0.0},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=2.0,
    paper_numbers="excess mode ≈ 0.02-0.05 for all neurons; universal neurons mean_corr ≈ 0.76 vs mean_baseline ≈ 0.17",
)
def privileged_basis(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    table = u.table
    per_layer: dict[str, dict[str, Any]] = {}
    parts = []
    for baseline, column in (("Gaussian", "excess_corr"), ("orthogonal", "excess_corr_orth")):
        lows = []
        for layer, values in table.groupby("layer")[column]:
            low, high = mean_interval(values.to_numpy())
            per_layer[f"{baseline.lower()}/L{layer}"] = {"mean": float(values.mean()), "ci95": [low, high]}
            lows.append(low)
        parts.append(ctx.part(f"lowest per-layer 95 % t-low of mean excess ({baseline})", min(lows), ">", 0))
    t = ctx.threshold("count_threshold")
    n = len(u.single_comparison_excess)
    trained = int((u.single_comparison_excess > t).sum())
    rotated = int((u.rotated_numerator_excess > t).sum())
    ratio = trained / max(rotated, 1)
    parts.append(ctx.part(f"#(excess > {t:g}) reference / max(rotated copy, 1)", ratio, ">=", "ratio"))
    diff, low, high = proportion_difference(trained, n, rotated, len(u.rotated_numerator_excess))
    effect = Effect(
        name=f"f(excess > {t:g}): reference - rotated reference",
        measured=trained / n,
        control=rotated / len(u.rotated_numerator_excess),
        value=diff,
        low=low,
        high=high,
        threshold=ctx.threshold("min_effect"),
        control_name="Haar-rotated copy of the reference (same comparison model)",
        method="Newcombe hybrid score over neurons",
    )
    worst = min(p.value for p in parts[:2])
    return ctx.evidence(
        key=(f"#(excess>{t:g}) trained / rotated", ratio),
        reason=f"{trained} neurons above {t:g} against one comparison model vs {rotated} for a rotated reference "
        f"(ratio {ratio:.1f}; difference of fractions {fmt(diff)}, 95 % CI {fmt(low)}-{fmt(high)}); lowest per-layer "
        f"95 % bound of mean excess {worst:.4f}",
        measured={
            "per_layer_mean_excess": per_layer,
            "count_trained": trained,
            "ratio": ratio,
            "mean_excess_gaussian": float(table.excess_corr.mean()),
            "mean_excess_orthogonal": float(table.excess_corr_orth.mean()),
        },
        control={
            "count_rotated_reference": rotated,
            "mean_excess_rotated_reference": float(u.rotated_numerator_excess.mean()),
            "untrained_mean_excess": float(u.control.excess_corr.mean()) if u.control is not None else None,
        },
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
    )


@claim(
    "U3",
    title="consistency across comparison models",
    statement="""A neuron's correlation varies little across comparison models: mean(max_m - min_m) is 0.049 over
    all neurons and 0.105 over universal ones (GPT2-medium-a).""",
    paper_ref="§4.1 (variation across models)",
    axes=FAMILY_AXES,
    needs=Needs(seeds=4, products=frozenset({MLP_POST_STREAM}), untrained_control=True),
    version=2,
    criterion=Criterion(
        full="mean spread (max - min over comparison models) <= {max_spread_universal} over universal neurons and "
        "<= {max_spread_all} over all; leave-one-model-out universal sets have Jaccard >= {min_jaccard}; the "
        "universal neurons' excess against their worst comparison model minus the untrained seeds' universal "
        "neurons' excess (same rule) has its Welch 95 % lower bound > {min_effect}",
        small="mean spread <= {max_spread_universal} over universal neurons; leave-one-model-out universal sets "
        "have Jaccard >= {min_jaccard} with the full set; the universal neurons' excess against their worst "
        "comparison model minus the untrained seeds' universal neurons' excess (same rule) has its Welch 95 % "
        "lower bound > {min_effect}",
        thresholds_full={
            "max_spread_universal": 0.15,
            "max_spread_all": 0.08,
            "min_jaccard": 0.6,
            "universal_threshold": 0.5,
            "min_effect": 0.0,
            **FALLBACK,
        },
        thresholds_small={
            "max_spread_universal": 0.2,
            "min_jaccard": 0.4,
            "universal_threshold": 0.3,
            "min_effect": 0.0,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.05,
    paper_numbers="mean spread 0.049 (all neurons), 0.105 (universal), GPT2-medium-a",
)
def consistency(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    table = u.table
    chosen = _universal(table.excess_corr.to_numpy(), ctx)
    spread = (table.max_corr - table.min_corr).to_numpy()
    spread_u = float(spread[chosen.mask].mean())
    spread_all = float(spread.mean())
    jaccards = {}
    corr = np.stack([table[f"corr_{m}"].to_numpy() for m in u.comparisons])
    base = np.stack([table[f"baseline_{m}"].to_numpy() for m in u.comparisons])
    for k, left_out in enumerate(u.comparisons):
        keep = [i for i in range(len(u.comparisons)) if i != k]
        loo_excess = corr[keep].mean(0) - base[keep].mean(0)
        loo = _universal(loo_excess, ctx)
        jaccards[left_out] = float((loo.mask & chosen.mask).sum() / max(1, (loo.mask | chosen.mask).sum()))
    min_j = min(jaccards.values())
    parts = [
        ctx.part("mean spread over universal neurons", spread_u, "<=", "max_spread_universal"),
        ctx.part("lowest leave-one-model-out Jaccard", min_j, ">=", "min_jaccard"),
    ]
    if ctx.scale == "full":
        parts.append(ctx.part("mean spread over all neurons", spread_all, "<=", "max_spread_all"))
    worst = (corr - base).min(0)[chosen.mask]  # each universal neuron's excess against its worst comparison model
    effect: Effect | None = None
    control: dict[str, Any] = {}
    if u.control is not None:
        c = u.control
        c_chosen = _universal(c.excess_corr.to_numpy(), ctx)
        c_excess = c.excess_corr.to_numpy()[c_chosen.mask]
        diff, low, high = mean_difference(worst, c_excess)
        effect = Effect(
            name="excess of universal neurons (worst comparison model): trained - untrained",
            measured=float(worst.mean()),
            control=float(c_excess.mean()),
            value=diff,
            low=low,
            high=high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds' universal neurons (same rule)",
            method="Welch t over neurons",
        )
        control = {
            "untrained_mean_spread_all": float((c.max_corr - c.min_corr).mean()),
            "untrained_universal_rule": c_chosen.rule,
            "untrained_n_universal": int(c_chosen.mask.sum()),
            "untrained_universal_mean_excess": float(c_excess.mean()),
        }
    effect_text = (
        f"; worst-comparison excess of universal neurons {fmt(float(worst.mean()))} vs untrained universal "
        f"{fmt(effect.control)} (difference 95 % CI {fmt(effect.low)}-{fmt(effect.high)})"
        if effect
        else ""
    )
    return ctx.evidence(
        key=("mean spread (universal)", spread_u),
        reason=f"spread {spread_u:.3f} over {int(chosen.mask.sum())} universal neurons ({chosen.rule}), {spread_all:.3f} over all; "
        f"leave-one-out Jaccard min {min_j:.2f}{effect_text}",
        measured={
            "mean_spread_universal": spread_u,
            "mean_spread_all": spread_all,
            "universal_rule": chosen.rule,
            "n_universal": int(chosen.mask.sum()),
            "leave_one_out_jaccard": jaccards,
            "universal_worst_comparison_excess": float(worst.mean()),
        },
        control=control,
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=_missing_control(u, parts),
    )


@claim(
    "U4",
    title="depth specialisation of best matches",
    statement="""A neuron's most correlated neuron in another seed lies in the same relative layer: the
    layer-to-layer matrix of best matches has a dominant diagonal (Fig. 2c, 12c, 13c).""",
    paper_ref="§4.1, Fig. 2c, 12c, 13c",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=">= {row_share} of layers have their row argmax within +-1 layer; mean diagonal mass >= "
        "max(3/L, {min_diagonal}); Spearman(layer, argmax layer) >= {min_spearman}; the per-neuron share of best "
        "matches in the same layer, trained - untrained seeds, has its Welch 95 % lower bound > {min_effect}",
        small="every layer has P[l,l] >= 1/L + {margin} with its 95 % Wilson lower bound above 1/L; the per-neuron "
        "share of best matches in the same layer, trained - untrained seeds, has its Welch 95 % lower bound > "
        "{min_effect}",
        thresholds_full={"row_share": 0.9, "min_diagonal": 0.15, "min_spearman": 0.9, "min_effect": 0.0},
        thresholds_small={"margin": 0.15, "min_effect": 0.0},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.05,
    paper_numbers="≈20-50 % of a layer's best matches on the diagonal (Fig. 2c, read off the figure)",
)
def depth_specialisation(ctx: ClaimContext) -> Evidence:
    from engine.universality import depth_specialisation as depth_matrix

    u = universality(ctx)
    depth = u.depth
    n_layers = depth.shape[0]
    per_layer_n = int((u.table.layer == 0).sum()) * len(u.comparisons)
    diag = np.diag(depth)
    lows = [wilson_interval(round(d * per_layer_n), per_layer_n)[0] for d in diag]
    chance = 1 / n_layers
    if ctx.scale == "full":
        argmax = depth.argmax(1)
        near = float(np.mean(np.abs(argmax - np.arange(n_layers)) <= 1))
        rho = spearman(np.arange(n_layers), argmax)
        parts = [
            ctx.part("share of layers whose best-match argmax is within +-1 layer", near, ">=", "row_share"),
            ctx.part("mean diagonal mass", float(diag.mean()), ">=", max(3 / n_layers, ctx.threshold("min_diagonal"))),
            ctx.part("Spearman(layer, argmax layer)", rho, ">=", "min_spearman"),
        ]
    else:
        parts = [
            ctx.part(f"P[{layer},{layer}]", float(d), ">=", chance + ctx.threshold("margin"))
            for layer, d in enumerate(diag)
        ]
        parts.append(ctx.part("lowest 95 % Wilson low of P[l,l]", min(lows), ">", chance))
    same = _same_layer_share(u.table, n_layers)
    effect: Effect | None = None
    control: dict[str, Any] = {}
    if u.control is not None:
        labels = [c for c in u.control.columns if c.startswith("best_layer_")]
        control_depth = depth_matrix([u.control[c].to_numpy() for c in labels], n_layers, n_layers)
        control_same = _same_layer_share(u.control, n_layers)
        diff, low, high = mean_difference(same, control_same)
        effect = Effect(
            name="share of best matches in the same layer: trained - untrained",
            measured=float(same.mean()),
            control=float(control_same.mean()),
            value=diff,
            low=low,
            high=high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline)",
            method="Welch t over neurons",
        )
        control = {"untrained_diagonal": np.diag(control_depth), "untrained_matrix": control_depth, "chance": chance}
    held = [p.name for p in parts if p.passed]
    return ctx.evidence(
        key=("min diagonal share", float(diag.min())),
        reason=f"diagonal shares {', '.join(fmt(float(d)) for d in diag)} (chance {chance:.2f}); lowest 95 % bound "
        f"{min(lows):.3f}; {len(held)} of {len(parts)} clauses held"
        + (
            f"; same-layer share {fmt(effect.measured)} vs untrained {fmt(effect.control)} "
            f"(difference 95 % CI {fmt(effect.low)}-{fmt(effect.high)})"
            if effect
            else ""
        ),
        measured={"diagonal": diag, "wilson_low": lows, "matrix": depth, "same_layer_share": float(same.mean())},
        control=control,
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=_missing_control(u, parts),
        figures={
            "depth_heatmap": {
                "matrix": depth,
                "row_label": "layer of neuron (reference seed)",
                "col_label": "layer of best match (other seeds)",
            }
        },
    )


def _same_layer_share(table: pd.DataFrame, n_layers: int) -> np.ndarray:
    """Per neuron, the share of comparison models whose best match lies in the neuron's own layer."""
    labels = [c for c in table.columns if c.startswith("best_layer_")]
    layer = table.layer.to_numpy()
    return np.mean([table[c].to_numpy() == layer for c in labels], axis=0)


@claim(
    "G2-overlap",
    title="the universal set found on prose is found again on new data",
    statement="""(GT2 check of §4.1) Universality is a property of the neuron, not of the text: the neurons that are
    universal on the original data are universal on new data too.""",
    paper_ref="§4.1; docs/catalogue.md §5 (what a correct GT2 needs)",
    axes=[Axis.GT2],
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="Jaccard(universal on original data, universal on new data) >= {min_jaccard}; the mean excess on the "
        "new data of the neurons universal on the original data, trained - untrained seeds (same rule), has its "
        "Welch 95 % lower bound > {min_effect}",
        small="overlap of the universal sets >= {min_lift} x chance (hypergeometric expectation) and Spearman of "
        "per-neuron excess between the two datasets >= {min_spearman}; the mean excess on the new data of the "
        "neurons universal on the original data, trained - untrained seeds (same rule), has its Welch 95 % lower "
        "bound > {min_effect}",
        thresholds_full={"min_jaccard": 0.5, "universal_threshold": 0.5, "min_effect": 0.0, **FALLBACK},
        thresholds_small={
            "min_lift": 5.0,
            "min_spearman": 0.4,
            "universal_threshold": 0.3,
            "min_effect": 0.0,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.5,
)
def universal_set_transfers(ctx: ClaimContext) -> Evidence:
    from claims.profiles import ORIGINAL_DATASETS

    original = "sotu" if ctx.scale == "small" else next(iter(sorted(ORIGINAL_DATASETS)))
    if ctx.dataset == original:
        raise NotApplicable(f"precondition: a dataset other than the original one ({original}); this row's is it")
    new = universality(ctx)
    old = universality(ctx, original)
    a = _universal(old.table.excess_corr.to_numpy(), ctx)
    b = _universal(new.table.excess_corr.to_numpy(), ctx)
    n = len(a.mask)
    both = int((a.mask & b.mask).sum())
    chance = a.mask.sum() * b.mask.sum() / n
    lift = both / max(chance, 1e-9)
    jaccard = both / max(1, int((a.mask | b.mask).sum()))
    rho = spearman(old.table.excess_corr.to_numpy(), new.table.excess_corr.to_numpy())
    if ctx.scale == "full":
        parts = [ctx.part("Jaccard of the universal sets", jaccard, ">=", "min_jaccard")]
    else:
        parts = [
            ctx.part("overlap / chance", lift, ">=", "min_lift"),
            ctx.part("Spearman of per-neuron excess", rho, ">=", "min_spearman"),
        ]
    effect: Effect | None = None
    control: dict[str, Any] = {"chance_overlap": chance}
    carried = new.table.excess_corr.to_numpy()[a.mask]  # excess on the new data of the original universal set
    if old.control is not None and new.control is not None:
        c_mask = _universal(old.control.excess_corr.to_numpy(), ctx).mask
        c_carried = new.control.excess_corr.to_numpy()[c_mask]
        diff, low, high = mean_difference(carried, c_carried)
        effect = Effect(
            name=f"excess on {ctx.dataset} of the neurons universal on {original}: trained - untrained",
            measured=float(np.nanmean(carried)),
            control=float(np.nanmean(c_carried)),
            value=diff,
            low=low,
            high=high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline and rule on both datasets)",
            method="Welch t over neurons",
        )
        control["untrained_spearman_excess"] = spearman(
            old.control.excess_corr.to_numpy(), new.control.excess_corr.to_numpy()
        )
        control["untrained_overlap_lift"] = _lift(c_mask, _universal(new.control.excess_corr.to_numpy(), ctx).mask)
    missing = None
    if effect is None and all(p.passed for p in parts):
        missing = NO_CONTROL
    return ctx.evidence(
        key=("overlap / chance" if ctx.scale == "small" else "Jaccard", lift if ctx.scale == "small" else jaccard),
        reason=f"{both} neurons universal on both ({a.rule} on {original}: {int(a.mask.sum())}; on {ctx.dataset}: {int(b.mask.sum())}); "
        f"chance {chance:.1f}, lift {lift:.1f}, Jaccard {jaccard:.2f}, Spearman of excess {rho:.2f}"
        + (
            f"; their excess on {ctx.dataset} {effect.measured:.3f} vs the untrained seeds' {effect.control:.3f} "
            f"(difference 95 % CI {fmt(effect.low)} to {fmt(effect.high)})"
            if effect
            else ""
        ),
        measured={
            "overlap": both,
            "jaccard": jaccard,
            "lift": lift,
            "spearman_excess": rho,
            "universal_set_excess_on_new_data": float(np.nanmean(carried)),
            "n_universal_original": int(a.mask.sum()),
            "n_universal_new": int(b.mask.sum()),
            "rule_original": a.rule,
            "rule_new": b.rule,
        },
        control=control,
        n_tokens=min(new.n_tokens, old.n_tokens),
        parts=parts,
        effect=effect,
        inconclusive=missing,
    )


def _lift(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| over its hypergeometric expectation |a| |b| / n."""
    chance = a.sum() * b.sum() / len(a)
    return float((a & b).sum() / chance) if chance else float("nan")
