"""M1: activation frequency against cos(w_in, w_out) (§6, Fig. 9).

Activation frequency is P(pre-activation > 0) over the sample (BOS positions left out); cos(w_in, w_out) uses the
folded weights. The control permutes cos(w_in, w_out) across neurons within each layer, which keeps every layer's
distribution of both quantities (so a correlation that only comes from layers differing in both survives it) and
destroys the neuron-level pairing; the effect is r(shuffled) - r(real), the anti-correlation the pairing adds.

Gated MLPs (SwiGLU: SmolLM2, Llama) are NOT_APPLICABLE: the neuron is silu(w_gate·x) (w_up·x) w_out, and flipping
w_up and w_out together leaves it unchanged, so the sign of cos(w_gate, w_out) (the "w_in" of engine/weights.py)
is arbitrary per neuron and a correlation of frequency with it is undefined.
"""

from __future__ import annotations

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.signature import neuron_frame
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence
from engine.inference import pearson_beyond_shuffle, pearson_with_interval
from fixtures.activations import MLP_PRE_MOMENTS
from fixtures.architectures import declared_architecture
from fixtures.models import ModelSpecError


def _gated(ctx: ClaimContext) -> bool:
    """Whether the row's model has a gated MLP.

    Declared by its config.json's type, so an undefined row loads no weights; from the loaded model when the
    config is not on disk yet (a hub model) or its type is not declared.
    """
    try:
        declared = declared_architecture(ctx.model.config())
    except ModelSpecError:
        declared = None
    return declared.gated if declared is not None else ctx.loaded(ctx.model).gated


@claim(
    "M1",
    title="activation frequency falls as cos(w_in, w_out) rises",
    statement="""Activation frequency is strongly anti-correlated with cos(w_in, w_out) (Pearson r = -0.69 /
    -0.63 / -0.58 in GPT2-small / medium / Pythia-160m), with a ceiling and floor near +-0.8.""",
    paper_ref="§6, Fig. 9",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=Needs(products=frozenset({MLP_PRE_MOMENTS})),
    criterion=Criterion(
        full="Pearson r <= {max_r} over all neurons and >= {cos_share_pct} % of neurons have |cos| <= {cos_bound}; "
        "and r(cos permuted across neurons within each layer) - r(real) has a 95 % bootstrap lower bound (over "
        "neurons) > {min_effect}; undefined for gated MLPs (the sign of cos(w_gate, w_out) is arbitrary)",
        small="Pearson r < 0 with its 95 % Fisher interval below 0; and r(cos permuted across neurons within each "
        "layer) - r(real) has a 95 % bootstrap lower bound (over neurons) > {min_effect}; undefined for gated MLPs "
        "(the sign of cos(w_gate, w_out) is arbitrary)",
        thresholds_full={"max_r": -0.45, "cos_share_pct": 99.9, "cos_bound": 0.85, "min_effect": 0.0},
        thresholds_small={"min_effect": 0.0},
    ),
    version=2,
    min_tokens=4_096,
    key_tolerance=0.05,
    paper_numbers="Pearson r = -0.69 / -0.63 / -0.58 (GPT2-small / medium / Pythia-160m)",
)
def frequency_vs_cosine(ctx: ClaimContext) -> Evidence:
    if _gated(ctx):
        raise NotApplicable(
            f"undefined: {ctx.model.name} has a gated MLP (silu(w_gate·x) (w_up·x) w_out); flipping w_up and w_out "
            "together leaves every neuron unchanged, so the sign of cos(w_gate, w_out) is arbitrary and its "
            "correlation with activation frequency is not defined"
        )
    frame = neuron_frame(ctx, ctx.model)
    freq, cos, layers = frame.freq.to_numpy(), frame.in_out_sim.to_numpy(), frame.layer.to_numpy()
    r, low, high = pearson_with_interval(freq, cos)
    seed = ctx.workbench.settings.seed
    _, r_control, gap, gap_low, gap_high = pearson_beyond_shuffle(freq, cos, layers, seed=seed)
    effect = Effect(
        name="anti-correlation -r(freq, cos): real - within-layer shuffled",
        measured=-r,
        control=-r_control,
        value=-gap,
        low=-gap_high,
        high=-gap_low,
        threshold=ctx.threshold("min_effect"),
        control_name="cos(w_in, w_out) permuted across neurons within each layer (mean of 100 shuffles)",
        method="percentile bootstrap over neurons with a fresh shuffle per replicate, 1000",
    )
    if ctx.scale == "full":
        bounded = 100 * float(np.mean(np.abs(cos[np.isfinite(cos)]) <= ctx.threshold("cos_bound")))
        parts = [
            ctx.part("Pearson r(freq, cos)", r, "<=", "max_r"),
            ctx.part(f"% of neurons with |cos| <= {ctx.threshold('cos_bound'):g}", bounded, ">=", "cos_share_pct"),
        ]
    else:
        bounded = None
        parts = [ctx.part("95 % Fisher high of Pearson r(freq, cos)", high, "<", 0.0)]
    by_layer = {
        int(layer): pearson_with_interval(g.freq.to_numpy(), g.in_out_sim.to_numpy())[0]
        for layer, g in frame.groupby("layer")
    }
    n_tokens = int(ctx.activations(ctx.model, (MLP_PRE_MOMENTS,)).moments(MLP_PRE_MOMENTS)["count"])
    rng = np.random.default_rng(seed)
    shown = np.sort(rng.choice(len(frame), size=min(len(frame), 4000), replace=False))
    return ctx.evidence(
        key=("Pearson r(freq, cos)", r),
        reason=f"r = {r:.3f} (95 % CI {low:.3f} to {high:.3f}) over {len(frame)} neurons; within-layer shuffled "
        f"control r = {r_control:.3f}, so the pairing adds {-gap:.3f} of anti-correlation (95 % CI {-gap_high:.3f} "
        f"to {-gap_low:.3f})"
        + (f"; {bounded:.2f} % have |cos| <= {ctx.threshold('cos_bound'):g}" if bounded is not None else ""),
        measured={
            "pearson_r": r,
            "ci95": [low, high],
            "per_layer_r": by_layer,
            "share_abs_cos_bounded_pct": bounded,
            "median_activation_frequency": float(np.median(freq)),
        },
        control={"shuffled_pairing_r": r_control},
        n_tokens=n_tokens,
        parts=parts,
        effect=effect,
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
