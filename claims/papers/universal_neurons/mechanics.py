"""M1: activation frequency against cos(w_in, w_out) (§6, Fig. 9).

Activation frequency is P(pre-activation > 0) over the sample (BOS positions left out); for gated MLPs the
pre-activation is the gate (the neuron fires when silu(gate) is large). cos(w_in, w_out) uses the folded
weights (the gate column for gated MLPs, see claims/lib/weights.py). The control shuffles w_out across neurons
within each layer, which keeps both marginal distributions and destroys the pairing.
"""

from __future__ import annotations

import numpy as np

from claims.context import ClaimContext
from claims.lib.inference import pearson_with_interval
from claims.papers.universal_neurons.signature import neuron_frame
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Evidence
from fixtures.activations import MLP_PRE_MOMENTS


@claim(
    "M1",
    title="activation frequency falls as cos(w_in, w_out) rises",
    statement="""Activation frequency is strongly anti-correlated with cos(w_in, w_out) (Pearson r = -0.69 /
    -0.63 / -0.58 in GPT2-small / medium / Pythia-160m), with a ceiling and floor near +-0.8.""",
    paper_ref="§6, Fig. 9",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=Needs(products=frozenset({MLP_PRE_MOMENTS})),
    criterion=Criterion(
        full="Pearson r <= {max_r} over all neurons and >= {cos_share_pct} % of neurons have |cos| <= {cos_bound}",
        small="Pearson r < 0 with its 95 % Fisher interval below 0",
        thresholds_full={"max_r": -0.45, "cos_share_pct": 99.9, "cos_bound": 0.85},
        thresholds_small={},
    ),
    min_tokens=4_096,
    key_tolerance=0.05,
    paper_numbers="Pearson r = -0.69 / -0.63 / -0.58 (GPT2-small / medium / Pythia-160m)",
)
def frequency_vs_cosine(ctx: ClaimContext) -> Evidence:
    frame = neuron_frame(ctx, ctx.model)
    freq, cos = frame.freq.to_numpy(), frame.in_out_sim.to_numpy()
    r, low, high = pearson_with_interval(freq, cos)
    rng = np.random.default_rng(ctx.workbench.settings.seed)
    shuffled = cos.copy()
    for layer in np.unique(frame.layer):
        idx = np.flatnonzero(frame.layer.to_numpy() == layer)
        shuffled[idx] = rng.permutation(shuffled[idx])
    r_control, c_low, c_high = pearson_with_interval(freq, shuffled)
    bounded = (
        100 * float(np.mean(np.abs(cos[np.isfinite(cos)]) <= ctx.threshold("cos_bound")))
        if ctx.scale == "full"
        else None
    )
    passed = (
        (r <= ctx.threshold("max_r") and bounded >= ctx.threshold("cos_share_pct")) if bounded is not None else high < 0
    )
    by_layer = {
        int(layer): pearson_with_interval(g.freq.to_numpy(), g.in_out_sim.to_numpy())[0]
        for layer, g in frame.groupby("layer")
    }
    n_tokens = int(ctx.activations(ctx.model, (MLP_PRE_MOMENTS,)).moments(MLP_PRE_MOMENTS)["count"])
    shown = np.sort(rng.choice(len(frame), size=min(len(frame), 4000), replace=False))
    return ctx.evidence(
        passed,
        key=("Pearson r(freq, cos)", r),
        reason=f"r = {r:.3f} (95 % CI {low:.3f} to {high:.3f}) over {len(frame)} neurons; shuffled-pairing control r = {r_control:.3f}"
        + (f"; {bounded:.2f} % have |cos| <= {ctx.threshold('cos_bound'):g}" if bounded is not None else ""),
        measured={
            "pearson_r": r,
            "ci95": [low, high],
            "per_layer_r": by_layer,
            "share_abs_cos_bounded_pct": bounded,
            "median_activation_frequency": float(np.median(freq)),
        },
        control={"shuffled_pairing_r": r_control, "shuffled_ci95": [c_low, c_high]},
        n_tokens=n_tokens,
        figures={
            "scatter": {
                "x": cos[shown],
                "y": freq[shown],
                "xlabel": "cos(w_in, w_out)",
                "ylabel": "activation frequency P(pre > 0)",
                "groups": _depth_groups(frame.layer.to_numpy()[shown]),
                "fit": True,
            }
        },
    )


def _depth_groups(layers: np.ndarray) -> list[str]:
    """Early / middle / late thirds of depth (a legend of one entry per layer is unreadable for deep models)."""
    n = int(layers.max()) + 1
    edges = [0, -(-n // 3), -(-2 * n // 3), n]
    names = [
        f"layer {edges[k]}" if edges[k + 1] - 1 == edges[k] else f"layers {edges[k]}-{edges[k + 1] - 1}"
        for k in range(3)
    ]
    return [names[min(2, int(np.searchsorted(edges, layer, side="right")) - 1)] for layer in layers]
