"""X1: antipodal pairs of functional neurons.

X1 (weights plus the activation sign): among neurons with vocabulary kurtosis above the cut, same-layer pairs
with cos(w_out) <= -0.5 must be >= 5x as common as among all same-layer pairs. For gated MLPs the sign of w_out
is arbitrary (flipping the up projection flips it), so cosines use sign(activation skew)·w_out, as in
prediction.py. Effect: the labelled antipodal share minus the all-pairs share (Newcombe interval over pairs).
Precondition: prediction neurons by P1's rule (none: NOT_APPLICABLE).
The share is measured in measures/entropy.py (`antipodal_ratio`); this module decides.
"""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import binom

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.entropy import antipodal_ratio
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence
from fixtures.activations import MLP_POST_MOMENTS


def antipodal_effect(stats: dict[str, float], threshold: float) -> Effect:
    """X1's effect: antipodal share among labelled same-layer pairs - the share among all same-layer pairs.

    Newcombe's interval from the two Wilson (binomial) intervals over pairs; the control share (weighted over
    layers like the labelled pairs) counts as control_fraction x control_pairs hits of control_pairs.
    """
    from engine.inference import proportion_difference

    n2 = int(stats["control_pairs"])
    k2 = round(stats["control_fraction"] * n2) if n2 and math.isfinite(stats["control_fraction"]) else 0
    diff, low, high = proportion_difference(int(stats["antipodal"]), int(stats["pairs"]), k2, n2)
    return Effect(
        name="share of same-layer pairs with cos <= max_cos: labelled neurons - all neurons",
        measured=stats["fraction"],
        control=stats["control_fraction"],
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name="all same-layer pairs of the same layers",
        method="Newcombe (Wilson) over pairs",
    )


@claim(
    "X1",
    title="functional neurons form antipodal pairs",
    statement="""Prediction/suppression (and entropy/anti-entropy) neurons often form antipodal pairs: same-layer
    pairs whose output weights point in nearly opposite directions (e.g. cos = -0.886).""",
    paper_ref="§5.2 (antipodal pairs), Fig. 7",
    axes=(Axis.ORIGINAL, Axis.GT1),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=Criterion(
        full="among neurons with vocab kurtosis > {kurt} (prediction and suppression; gated MLPs: w_out signed by "
        "the activation skew), the share of same-layer pairs with cos(w_out) <= {max_cos} is >= {min_ratio} x the "
        "share among all same-layer pairs of those layers, with >= {min_antipodal} antipodal pairs and a one-sided "
        "binomial p < {max_p} against that share, and the difference of the two shares has a 95 % lower bound "
        "(Newcombe) > {min_share_diff}; no prediction neurons (P1's rule) or no same-layer labelled pair: "
        "NOT_APPLICABLE; < {min_pairs} labelled pairs: INCONCLUSIVE",
        small="as at full scale with vocab kurtosis > {kurt}: share of same-layer pairs with cos <= {max_cos} >= "
        "{min_ratio} x all same-layer pairs, >= {min_antipodal} antipodal pairs, binomial p < {max_p}, and the "
        "difference of the shares has a 95 % lower bound (Newcombe) > {min_share_diff}; no prediction neurons (P1's "
        "rule) or no same-layer labelled pair: NOT_APPLICABLE; < {min_pairs} labelled pairs: INCONCLUSIVE",
        thresholds_full={
            "kurt": 10.0,
            "max_cos": -0.5,
            "min_ratio": 5.0,
            "min_pairs": 10,
            "min_antipodal": 5,
            "max_p": 0.01,
            "min_share_diff": 0.0,
        },
        thresholds_small={
            "kurt": 5.0,
            "max_cos": -0.5,
            "min_ratio": 5.0,
            "min_pairs": 10,
            "min_antipodal": 5,
            "max_p": 0.01,
            "min_share_diff": 0.0,
        },
    ),
    version=3,
    min_tokens=1_024,
    key_tolerance=2.0,
)
def antipodal_pairs(ctx: ClaimContext) -> Evidence:
    import torch

    from claims.papers.universal_neurons.measures.prediction import require_prediction_neurons, vocab_frame

    census = require_prediction_neurons(ctx)  # NOT_APPLICABLE unless P1's rule finds prediction neurons
    frame = vocab_frame(ctx, ctx.model)
    model = ctx.workbench.model(ctx.model)
    W_out = model.bridge.W_out.detach().float().cpu().reshape(-1, model.d_model)
    rows = frame.layer.to_numpy() * model.d_mlp + frame.neuron.to_numpy()
    directions = W_out[rows] * torch.tensor(frame.activation_sign.to_numpy(), dtype=torch.float32).unsqueeze(1)
    high = (frame.vocab_kurt > ctx.threshold("kurt")).to_numpy()
    layers = frame.layer.to_numpy()
    stats = antipodal_ratio(directions, layers, high, ctx.threshold("max_cos"))
    pred = high & (frame.vocab_skew_effective.to_numpy() > 0)
    supp = high & (frame.vocab_skew_effective.to_numpy() < 0)
    by_class = {
        name: antipodal_ratio(directions, layers, mask, ctx.threshold("max_cos"))
        for name, mask in (("prediction", pred), ("suppression", supp))
    }
    cross = {k: stats[k] - by_class["prediction"][k] - by_class["suppression"][k] for k in ("pairs", "antipodal")}
    # v2: the count must also be surprising under the control share (v1 could pass on a single pair).
    p_value = (
        float(binom.sf(stats["antipodal"] - 1, stats["pairs"], stats["control_fraction"]))
        if stats["pairs"]
        else math.nan
    )
    if not stats["pairs"]:
        raise NotApplicable(
            f"precondition: a same-layer pair of neurons with vocab kurtosis > {ctx.threshold('kurt'):g}; the "
            f"{int(high.sum())} in {ctx.model.name} are in different layers (the antipodal share is undefined)"
        )
    parts = [
        ctx.part("antipodal share / all same-layer pairs", stats["ratio"], ">=", "min_ratio"),
        ctx.part("antipodal labelled pairs", stats["antipodal"], ">=", "min_antipodal"),
        ctx.part("one-sided binomial test against the all-pairs share", p_value, "p<", "max_p"),
    ]
    effect = antipodal_effect(stats, ctx.threshold("min_share_diff"))
    few = stats["pairs"] < ctx.threshold("min_pairs")
    acts = ctx.activations(ctx.model, (MLP_POST_MOMENTS,))
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("antipodal share / all same-layer pairs", stats["ratio"] if math.isfinite(stats["ratio"]) else 0.0),
        reason=f"{stats['antipodal']} of {stats['pairs']} same-layer pairs of {int(high.sum())} neurons with vocab kurtosis > "
        f"{ctx.threshold('kurt'):g} have cos <= {ctx.threshold('max_cos'):g} ({stats['fraction']:.4f}) vs "
        f"{stats['control_fraction']:.5f} of all same-layer pairs (ratio {stats['ratio']:.1f}; binomial p = {p_value:.2g}, "
        f"{cross['antipodal']} of them prediction-suppression pairs)",
        inconclusive=f"only {stats['pairs']} same-layer pairs of labelled neurons" if few else None,
        measured={
            **stats,
            "binomial_p": p_value,
            "n_labelled": int(high.sum()),
            "p1_census": census.summary(),
            "by_class": by_class,
            "prediction_suppression_pairs": cross,
            "labelled_per_layer": pd.Series(high).groupby(layers).sum().astype(int).tolist(),
        },
        control={"all_same_layer_pairs_fraction": stats["control_fraction"]},
        n_tokens=int(acts.tokens.size),
    )
