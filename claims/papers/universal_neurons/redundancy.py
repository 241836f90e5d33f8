"""M2 and P3: what distinguishes universal neurons by their weights (§4.2 Fig. 10; §5.1 Fig. 14).

M2: universal neurons have more near-duplicates — a higher max cosine similarity of their input (and output)
weights to another neuron of the same layer — yet few literal duplicates exist.
P3: in the last layer, universal neurons are mostly prediction-type (high vocabulary kurtosis or variance).
Both take the universal set from the family's cross-seed universality (measures.universality). M2's effect is its
AUROC against the untrained seeds', whose "universal" set is drawn by the same rule; P3's is the prediction-type
share of universal against non-universal last-layer neurons, and P3 needs prediction neurons by P1's rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from claims.context import ClaimContext
from claims.papers.universal_neurons.measures import universality, weight_table
from claims.papers.universal_neurons.measures.prediction import require_prediction_neurons
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part
from engine.inference import auroc, mann_whitney_greater, proportion_difference, two_sample_bootstrap_interval
from engine.universality import universal_mask
from fixtures.activations import MLP_POST_STREAM
from fixtures.models import ModelRef

COLUMNS = ("max_cos_in", "max_cos_out")
CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_STREAM}), untrained_control=True)


def max_cosine_to_others(ctx: ClaimContext, ref: ModelRef) -> pd.DataFrame:
    """Per neuron: max cos of its w_in (and w_out) with any other neuron's in the same layer."""
    bench = ctx.workbench

    def compute() -> pd.DataFrame:
        import torch

        model = bench.model(ref)
        b = model.bridge
        w_in = (b.W_gate if model.gated else b.W_in).detach().float()  # [L, d_model, d_mlp]
        w_out = b.W_out.detach().float()  # [L, d_mlp, d_model]
        rows = []
        for layer in range(model.n_layers):
            parts = {}
            for name, vectors in (("in", w_in[layer].T), ("out", w_out[layer])):
                unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
                sims = unit @ unit.T
                sims.fill_diagonal_(-torch.inf)
                parts[f"max_cos_{name}"] = sims.max(dim=1).values.numpy()
            rows.append(pd.DataFrame({"layer": layer, "neuron": np.arange(model.d_mlp), **parts}))
        return pd.concat(rows, ignore_index=True)

    inputs = {"model": ref.identity(), "processing": "compat", "dtype": bench.settings.dtype}  # weights as loaded
    return bench.derived("max-cosine", 1, inputs, compute)


@claim(
    "M2",
    title="universal neurons have more near-duplicates",
    statement="""Universal neurons have higher maximum cosine similarity of their input and output weights to other
    neurons than non-universal neurons do, but literal duplicates are rare.""",
    paper_ref="§4.2, Fig. 10",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=CROSS_SEED,
    criterion=Criterion(
        full="AUROC(universal > non-universal) >= {min_auroc} for both max cos(w_in) and max cos(w_out), with "
        "Mann-Whitney p < {max_p}; < {max_duplicate_pct} % of neurons have max cos > {duplicate_cos}; and min over (w_in, w_out) of "
        "AUROC(trained) - AUROC(untrained seeds, universal by the same rule) has a 95 % bootstrap lower bound (over "
        "neurons) > {min_effect}",
        small="AUROC(universal > non-universal) >= {min_auroc} for both max cos(w_in) and max cos(w_out), with "
        "Mann-Whitney p < {max_p}; universal = excess > {universal_threshold}, else the top 2 %; and min over (w_in, "
        "w_out) of AUROC(trained) - AUROC(untrained seeds, universal by the same rule) has a 95 % bootstrap lower "
        "bound (over neurons) > {min_effect}",
        thresholds_full={
            "min_auroc": 0.75,
            "max_p": 0.01,
            "max_duplicate_pct": 1.0,
            "duplicate_cos": 0.95,
            "universal_threshold": 0.5,
            "min_effect": 0.0,
        },
        thresholds_small={
            "min_auroc": 0.6,
            "max_p": 0.01,
            "duplicate_cos": 0.95,
            "universal_threshold": 0.3,
            "min_effect": 0.0,
        },
    ),
    version=2,
    min_tokens=16_384,
    key_tolerance=0.05,
    paper_numbers="non-universal max-cos mode ≈ 0.2, universal ≈ 0.3-0.9 (Fig. 10)",
)
def near_duplicates(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    mask, rule = universal_mask(u.table.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
    sims = max_cosine_to_others(ctx, ctx.model)
    measured: dict[str, Any] = {"universal_rule": rule, "n_universal": int(mask.sum())}
    parts: list[Part] = []
    for column in COLUMNS:
        values = sims[column].to_numpy()
        a = auroc(values[mask], values[~mask])
        p = mann_whitney_greater(values[mask], values[~mask])
        measured[column] = {
            "auroc": a,
            "mann_whitney_p": p,
            "median_universal": float(np.median(values[mask])),
            "median_other": float(np.median(values[~mask])),
        }
        name = column.replace("max_cos_", "max cos(w_") + ")"
        parts.append(ctx.part(f"AUROC(universal > other) of {name}", a, ">=", "min_auroc"))
        parts.append(ctx.part(f"Mann-Whitney universal > other, {name}", p, "p<", "max_p"))
    duplicates = 100 * float(np.mean(np.maximum(sims.max_cos_in, sims.max_cos_out) > ctx.threshold("duplicate_cos")))
    measured["duplicate_pct"] = duplicates
    if ctx.scale == "full":
        parts.append(
            ctx.part(
                f"% of neurons with max cos > {ctx.threshold('duplicate_cos'):g}", duplicates, "<", "max_duplicate_pct"
            )
        )
    control: dict[str, object] = {}
    effect = None
    controls = ctx.family.controls if ctx.family is not None else ()
    if u.control is not None and controls:
        cmask, _ = universal_mask(u.control.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
        csims = max_cosine_to_others(ctx, controls[0])
        control = {
            f"untrained_auroc_{c}": auroc(csims[c].to_numpy()[cmask], csims[c].to_numpy()[~cmask]) for c in COLUMNS
        }
        effect = _auroc_gain(ctx, sims, mask, csims, cmask)
    key = min(measured["max_cos_in"]["auroc"], measured["max_cos_out"]["auroc"])
    return ctx.evidence(
        key=("min AUROC (in, out)", key),
        reason=f"AUROC of max cos(w_in) {measured['max_cos_in']['auroc']:.3f}, of max cos(w_out) "
        f"{measured['max_cos_out']['auroc']:.3f} for {int(mask.sum())} universal neurons ({rule}); {duplicates:.2f} % "
        "near-literal duplicates"
        + (f"; untrained {effect.control:.3f} (min over in, out)" if effect is not None else ""),
        measured=measured,
        control=control,
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=None if effect is not None else "no untrained control to compare with",
    )


def _auroc_gain(
    ctx: ClaimContext, sims: pd.DataFrame, mask: np.ndarray, csims: pd.DataFrame, cmask: np.ndarray
) -> Effect:
    """The smaller over (w_in, w_out) of AUROC(trained) - AUROC(untrained), bootstrapped over each model's neurons."""
    trained = [sims[c].to_numpy() for c in COLUMNS]
    untrained = [csims[c].to_numpy() for c in COLUMNS]

    def gains(ia: np.ndarray, ib: np.ndarray) -> list[float]:
        return [
            auroc(t[ia][mask[ia]], t[ia][~mask[ia]]) - auroc(c[ib][cmask[ib]], c[ib][~cmask[ib]])
            for t, c in zip(trained, untrained, strict=True)
        ]

    every_a, every_b = np.arange(len(mask)), np.arange(len(cmask))
    point = gains(every_a, every_b)
    worst = int(np.argmin(point))
    low, high = two_sample_bootstrap_interval(
        lambda ia, ib: min(gains(ia, ib)), len(mask), len(cmask), seed=ctx.workbench.settings.seed
    )
    measured = auroc(trained[worst][mask], trained[worst][~mask])
    return Effect(
        name="min over (w_in, w_out) of AUROC(universal > other): trained - untrained",
        measured=measured,
        control=measured - point[worst],
        value=min(point),
        low=low,
        high=high,
        threshold=ctx.threshold("min_effect"),
        control_name="untrained seeds (universal by the same rule)",
        method="percentile bootstrap over the neurons of each model (two samples), 1000",
    )


@claim(
    "P3",
    title="late-layer universal neurons are prediction-type",
    statement="""Almost all universal neurons in the later layers are prediction-neuron variants (high kurtosis of
    W_U·w_out, or a partition-like high variance).""",
    paper_ref="§5.1, Fig. 14",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=CROSS_SEED,
    criterion=Criterion(
        full=">= {min_share_pct} % of the last layer's universal neurons have vocab kurtosis > 10 or vocab variance in "
        "the layer's top 5 %; and that share minus the non-universal neurons' share has a 95 % Newcombe lower bound > "
        "{min_effect}; precondition: prediction neurons by P1's rule",
        small="in the last layer, the share of universal neurons with vocab kurtosis > 10 or vocab variance in the "
        "layer's top 5 % exceeds the non-universal share (one-sided Fisher exact p < {max_p}); universal = excess > "
        "{universal_threshold}, else the top 2 %; and the share difference (universal - non-universal) has a 95 % "
        "Newcombe lower bound > {min_effect}; precondition: prediction neurons by P1's rule",
        thresholds_full={"min_share_pct": 60.0, "universal_threshold": 0.5, "min_effect": 0.0},
        thresholds_small={"max_p": 0.05, "universal_threshold": 0.3, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=16_384,
    key_tolerance=0.1,
    paper_numbers="last layer: 80 % (GPT2-M), 64 % (GPT2-S), 72 % (Pythia) of universal neurons have vocab kurtosis > 10",
)
def late_universal_are_prediction(ctx: ClaimContext) -> Evidence:
    require_prediction_neurons(ctx)
    u = universality(ctx)
    mask, rule = universal_mask(u.table.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
    weights = weight_table(ctx, ctx.model)
    last = int(weights.layer.max())
    in_last = (weights.layer == last).to_numpy()
    predictive = _prediction_type(weights[in_last])
    uni = mask[in_last]
    a, b = int((predictive & uni).sum()), int((~predictive & uni).sum())
    c, d = int((predictive & ~uni).sum()), int((~predictive & ~uni).sum())
    share_u = a / max(1, a + b)
    share_o = c / max(1, c + d)
    p = float(stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue)
    if ctx.scale == "full":
        parts = [
            ctx.part("% of last-layer universal neurons that are prediction-type", 100 * share_u, ">=", "min_share_pct")
        ]
    else:
        parts = [
            ctx.part("prediction-type share: universal - non-universal (last layer)", share_u - share_o, ">", 0.0),
            ctx.part("Fisher exact, universal more often prediction-type", p, "p<", "max_p"),
        ]  # fmt: skip
    diff, low, high = proportion_difference(a, a + b, c, c + d)
    effect = Effect(
        name="prediction-type share in the last layer: universal - non-universal",
        measured=share_u,
        control=share_o,
        value=diff,
        low=low,
        high=high,
        threshold=ctx.threshold("min_effect"),
        control_name="non-universal neurons of the last layer",
        method="Newcombe hybrid score over neurons",
    )
    control: dict[str, Any] = {"share_nonuniversal": share_o}
    if u.control is not None and ctx.family is not None and ctx.family.controls:
        cmask, _ = universal_mask(u.control.excess_corr.to_numpy(), ctx.threshold("universal_threshold"))
        cweights = weight_table(ctx, ctx.family.controls[0])
        c_last = (cweights.layer == int(cweights.layer.max())).to_numpy()
        c_uni = cmask[c_last]
        control["untrained_share_universal"] = (
            float(_prediction_type(cweights[c_last])[c_uni].mean()) if c_uni.any() else None
        )
    inconclusive = None if a + b >= 3 else f"only {a + b} universal neurons in the last layer"
    return ctx.evidence(
        key=("prediction-type share, universal (last layer)", share_u),
        reason=f"{a} of {a + b} last-layer universal neurons are prediction-type ({100 * share_u:.0f} %) vs {100 * share_o:.0f} % of "
        f"the other {c + d} (Fisher p = {p:.3g}); universal by {rule}",
        measured={
            "share_universal": share_u,
            "fisher_p": p,
            "n_universal_last": a + b,
            "universal_rule": rule,
            "vocab_kurt_gt_10_last_layer": int((weights[in_last].vocab_kurt > 10).sum()),
        },
        control=control,
        n_tokens=u.n_tokens,
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
    )


def _prediction_type(layer: pd.DataFrame) -> np.ndarray:
    """Per neuron of one layer: vocab kurtosis > 10 or vocab variance in the layer's top 5 %."""
    return ((layer.vocab_kurt > 10) | (layer.vocab_var >= layer.vocab_var.quantile(0.95))).to_numpy()
