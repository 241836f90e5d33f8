"""U3, U4, G2-overlap: where a universal neuron's matches lie (§4.1, Fig. 2c, 12c, 13c; GT2).

Across comparison models (U3: the spread of a neuron's correlation and the leave-one-model-out universal set),
across layers (U4: the layer of each neuron's best match in another seed) and across datasets (G2-overlap: the
universal set found on the original data, found again on new data). The measurement and the universal-neuron rule
are U1-U2's (universality.py's docstring; the rule is `universal_set` in measures/cross_seed.py); every verdict
carries an effect against the untrained seeds (same pipeline and rule) with a 95 % interval, and a family without
untrained controls is INCONCLUSIVE where the control decides, never PASS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK, universality
from claims.papers.universal_neurons.measures.cross_seed import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    missing_control,
    universal_set,
)
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, fmt
from engine.inference import spearman, wilson_interval
from engine.universality_stats import overlap_lift, same_layer_share
from fixtures.activations import MLP_POST_STREAM


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
    chosen = universal_set(table.excess_corr.to_numpy(), ctx)
    spread = (table.max_corr - table.min_corr).to_numpy()
    spread_u = float(spread[chosen.mask].mean())
    spread_all = float(spread.mean())
    jaccards = {}
    corr = np.stack([table[f"corr_{m}"].to_numpy() for m in u.comparisons])
    base = np.stack([table[f"baseline_{m}"].to_numpy() for m in u.comparisons])
    for k, left_out in enumerate(u.comparisons):
        keep = [i for i in range(len(u.comparisons)) if i != k]
        loo_excess = corr[keep].mean(0) - base[keep].mean(0)
        loo = universal_set(loo_excess, ctx)
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
        c_chosen = universal_set(c.excess_corr.to_numpy(), ctx)
        c_excess = c.excess_corr.to_numpy()[c_chosen.mask]
        effect = Effect.welch(
            "excess of universal neurons (worst comparison model): trained - untrained",
            worst,
            c_excess,
            measured=float(worst.mean()),
            control=float(c_excess.mean()),
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds' universal neurons (same rule)",
            units="neurons",
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
        inconclusive=missing_control(u, parts),
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
    same = same_layer_share(u.table, n_layers)
    effect: Effect | None = None
    control: dict[str, Any] = {}
    if u.control is not None:
        labels = [c for c in u.control.columns if c.startswith("best_layer_")]
        control_depth = depth_matrix([u.control[c].to_numpy() for c in labels], n_layers, n_layers)
        control_same = same_layer_share(u.control, n_layers)
        effect = Effect.welch(
            "share of best matches in the same layer: trained - untrained",
            same,
            control_same,
            measured=float(same.mean()),
            control=float(control_same.mean()),
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline)",
            units="neurons",
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
        inconclusive=missing_control(u, parts),
        figures={
            "depth_heatmap": {
                "matrix": depth,
                "row_label": "layer of neuron (reference seed)",
                "col_label": "layer of best match (other seeds)",
            }
        },
    )


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
    a = universal_set(old.table.excess_corr.to_numpy(), ctx)
    b = universal_set(new.table.excess_corr.to_numpy(), ctx)
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
        c_mask = universal_set(old.control.excess_corr.to_numpy(), ctx).mask
        c_carried = new.control.excess_corr.to_numpy()[c_mask]
        effect = Effect.welch(
            f"excess on {ctx.dataset} of the neurons universal on {original}: trained - untrained",
            carried,
            c_carried,
            measured=float(np.nanmean(carried)),
            control=float(np.nanmean(c_carried)),
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline and rule on both datasets)",
            units="neurons",
        )
        control["untrained_spearman_excess"] = spearman(
            old.control.excess_corr.to_numpy(), new.control.excess_corr.to_numpy()
        )
        control["untrained_overlap_lift"] = overlap_lift(
            c_mask, universal_set(new.control.excess_corr.to_numpy(), ctx).mask
        )
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
