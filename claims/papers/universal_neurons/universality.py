"""U1-U2: universality across seeds (§4.1, Fig. 2, 11): how many neurons are universal, and against what baseline.

Universality is the paper's excess correlation ϱ = mean_m max_j corr(v_i, v_j^m) - mean_m (the same max against
a random rotation of m's neurons), on post-activations with BOS/EOS/pad and newline positions excluded.
At the paper's scale "universal" means ϱ > 0.5. For the zoo's tiny models the pre-registered threshold is 0.3
(a pilot on 4-layer models reached at most 0.42; docs/catalogue.md §3), with the fallback — the top 2 % by ϱ —
when fewer than 30 neurons pass. Every verdict carries an effect against a control with a 95 % interval: the same
pipeline on untrained seeds (U1, U3, U4, G2-overlap) or a rotated copy of the reference (U2); a family without
untrained controls is INCONCLUSIVE where the control decides, never PASS. U3, U4 and G2-overlap (where the
matches lie: across comparison models, layers and datasets) are in universality_matches.py; the rule, the needs
and the missing-control verdict both modules share are in measures/cross_seed.py.
"""

from __future__ import annotations

from typing import Any

from claims.context import ClaimContext
from claims.papers.universal_neurons.measures import universality
from claims.papers.universal_neurons.measures.cross_seed import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    excess_histogram,
    missing_control,
    universal_threshold,
)
from claims.registry import Criterion, claim
from claims.verdict import Effect, Evidence, fmt
from engine.inference import mean_interval, proportion_difference, wilson_interval


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
    t = universal_threshold(ctx)
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
        inconclusive=missing_control(u, parts),
        figures={"excess_histogram": excess_histogram(u, t)},
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
