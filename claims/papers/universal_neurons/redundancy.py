"""M2 and P3: what distinguishes universal neurons by their weights (§4.2 Fig. 10; §5.1 Fig. 14).

M2: universal neurons have more near-duplicates — a higher max cosine similarity of their input (and output)
weights to another neuron of the same layer — yet few literal duplicates exist.
P3: in the last layer, universal neurons are mostly prediction-type (high vocabulary kurtosis or variance).
Both take the universal set from the family's cross-seed universality (measures.universality) and compare with
the untrained seeds, whose "universal" set is drawn by the same rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from claims.context import ClaimContext
from claims.lib.inference import auroc, mann_whitney_greater
from claims.lib.universality import universal_mask
from claims.papers.universal_neurons.measures import universality, weight_table
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Evidence
from fixtures.activations import MLP_POST_RAW
from fixtures.models import ModelRef

CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_RAW}), untrained_control=True)


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

    return bench.derived("max-cosine", 1, {"model": ref.identity(), "processing": "compat"}, compute)


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
        "Mann-Whitney p < 0.01; < {max_duplicate_pct} % of neurons have max cos > 0.95",
        small="AUROC(universal > non-universal) >= {min_auroc} for both max cos(w_in) and max cos(w_out), with "
        "Mann-Whitney p < 0.01; universal = excess > {universal_threshold}, else the top 2 %",
        thresholds_full={"min_auroc": 0.75, "max_duplicate_pct": 1.0, "universal_threshold": 0.5},
        thresholds_small={"min_auroc": 0.6, "universal_threshold": 0.3},
    ),
    min_tokens=16_384,
    key_tolerance=0.05,
    paper_numbers="non-universal max-cos mode ≈ 0.2, universal ≈ 0.3-0.9 (Fig. 10)",
)
def near_duplicates(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    mask, rule = universal_mask(u.table.excess_corr.to_numpy(), ctx.threshold("universal_threshold"), 0.02, 30)
    sims = max_cosine_to_others(ctx, ctx.model)
    measured: dict[str, Any] = {"universal_rule": rule, "n_universal": int(mask.sum())}
    ok = True
    for column in ("max_cos_in", "max_cos_out"):
        values = sims[column].to_numpy()
        a = auroc(values[mask], values[~mask])
        p = mann_whitney_greater(values[mask], values[~mask])
        measured[column] = {
            "auroc": a,
            "mann_whitney_p": p,
            "median_universal": float(np.median(values[mask])),
            "median_other": float(np.median(values[~mask])),
        }
        ok &= a >= ctx.threshold("min_auroc") and p < 0.01
    duplicates = 100 * float(np.mean(np.maximum(sims.max_cos_in, sims.max_cos_out) > 0.95))
    measured["duplicate_pct"] = duplicates
    if ctx.scale == "full":
        ok &= duplicates < ctx.threshold("max_duplicate_pct")
    control: dict[str, object] = {}
    if u.control is not None and ctx.family is not None and ctx.family.controls:
        cmask, _ = universal_mask(u.control.excess_corr.to_numpy(), ctx.threshold("universal_threshold"), 0.02, 30)
        csims = max_cosine_to_others(ctx, ctx.family.controls[0])
        control = {
            f"untrained_auroc_{c}": auroc(csims[c].to_numpy()[cmask], csims[c].to_numpy()[~cmask])
            for c in ("max_cos_in", "max_cos_out")
        }
    key = min(measured["max_cos_in"]["auroc"], measured["max_cos_out"]["auroc"])
    return ctx.evidence(
        ok,
        key=("min AUROC (in, out)", key),
        reason=f"AUROC of max cos(w_in) {measured['max_cos_in']['auroc']:.3f}, of max cos(w_out) "
        f"{measured['max_cos_out']['auroc']:.3f} for {int(mask.sum())} universal neurons ({rule}); {duplicates:.2f} % near-literal duplicates",
        measured=measured,
        control=control,
        n_tokens=u.n_tokens,
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
        "the layer's top 5 %",
        small="in the last layer, the share of universal neurons with vocab kurtosis > 10 or vocab variance in the "
        "layer's top 5 % exceeds the non-universal share (one-sided Fisher exact p < {max_p}); universal = excess > "
        "{universal_threshold}, else the top 2 %",
        thresholds_full={"min_share_pct": 60.0, "universal_threshold": 0.5},
        thresholds_small={"max_p": 0.05, "universal_threshold": 0.3},
    ),
    min_tokens=16_384,
    key_tolerance=0.1,
    paper_numbers="last layer: 80 % (GPT2-M), 64 % (GPT2-S), 72 % (Pythia) of universal neurons have vocab kurtosis > 10",
)
def late_universal_are_prediction(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    mask, rule = universal_mask(u.table.excess_corr.to_numpy(), ctx.threshold("universal_threshold"), 0.02, 30)
    weights = weight_table(ctx, ctx.model)
    last = int(weights.layer.max())
    in_last = (weights.layer == last).to_numpy()
    sub = weights[in_last]
    predictive = ((sub.vocab_kurt > 10) | (sub.vocab_var >= sub.vocab_var.quantile(0.95))).to_numpy()
    uni = mask[in_last]
    a, b = int((predictive & uni).sum()), int((~predictive & uni).sum())
    c, d = int((predictive & ~uni).sum()), int((~predictive & ~uni).sum())
    share_u = a / max(1, a + b)
    share_o = c / max(1, c + d)
    p = float(stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue)
    if ctx.scale == "full":
        passed = 100 * share_u >= ctx.threshold("min_share_pct")
    else:
        passed = share_u > share_o and p < ctx.threshold("max_p")
    inconclusive = None if a + b >= 3 else f"only {a + b} universal neurons in the last layer"
    return ctx.evidence(
        passed,
        key=("prediction-type share, universal (last layer)", share_u),
        reason=f"{a} of {a + b} last-layer universal neurons are prediction-type ({100 * share_u:.0f} %) vs {100 * share_o:.0f} % of "
        f"the other {c + d} (Fisher p = {p:.3g}); universal by {rule}",
        measured={
            "share_universal": share_u,
            "fisher_p": p,
            "n_universal_last": a + b,
            "universal_rule": rule,
            "vocab_kurt_gt_10_last_layer": int((sub.vocab_kurt > 10).sum()),
        },
        control={"share_nonuniversal": share_o},
        n_tokens=u.n_tokens,
        inconclusive=inconclusive,
    )
