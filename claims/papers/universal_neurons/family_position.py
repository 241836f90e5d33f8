"""F4: position neurons (§5, Fig. 19), from the mutual information between firing and position.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.

Measurement choices of F4, fixed before any run:

* F4 fires = post-activation > 0, which is pre-activation > 0 for GELU MLPs (GELU(x) > 0 iff x > 0); gated MLPs
  are NOT_APPLICABLE. Models with rotary position (GPT-NeoX, Llama) are the declared negative control of F4 (the
  paper's Pythia has no universal neuron with kurtosis < 2): their rows carry role NEGATIVE_CONTROL and pass when
  the trained - untrained share of position neurons is shown to stay below a pre-registered margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    distinct_subjects,
    effect_text,
    neuron_name,
    share_effect,
    subjects,
    vocabulary,
)
from claims.papers.universal_neurons.measures.family_features import PositionStats, position_statistics
from claims.registry import Criterion, claim
from claims.verdict import Effect, Evidence, Part, Role
from claims.verdict import part as make_part
from engine import features as F
from engine.family_stats import per_layer
from fixtures.activations import MLP_POST_RAW
from fixtures.architectures import architecture
from fixtures.models import ModelRef

N_PERM = 199  # F4: position shuffles (p >= 1/200, so p < 0.01 is reachable)


def position_parts(
    mi: np.ndarray,
    p: Mapping[int, float],
    q99: Mapping[int, float],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[list[Part], float, dict[str, Any]]:
    """F4's clauses besides the effect, from MI, shuffled-null p-values and 99th percentiles: (parts, key, details)."""
    pool = np.flatnonzero(np.asarray(universal, dtype=bool))
    if scale == "full":
        top = pool[np.argsort(-mi[pool], kind="stable")[: int(t["top_n"])]]
        share = float(np.mean(layer[top] <= 2)) if len(top) else 0.0
        above = [bool(mi[i] > q99.get(int(i), np.inf)) for i in top]
        parts = [
            make_part(
                f"share of the top {len(top)} universal neurons by position MI in layers 0-2",
                share,
                ">=",
                t["min_early_share"],
            ),
            make_part(
                "share of them above their shuffled null's 99th percentile",
                float(np.mean(above)) if above else 0.0,
                ">=",
                1.0,
            ),
        ]
        details = {"top_layers": np.bincount(layer[top], minlength=n_layers).tolist(), "all_above_null": all(above)}
        return parts, share, details
    half = math.ceil(n_layers / 2)
    found = [int(i) for i in pool if layer[i] < half and p.get(int(i), 1.0) < t["max_p"]]
    parts = [
        make_part("universal position neurons in the first half of the layers", len(found), ">=", t["min_neurons"])
    ]
    return parts, float(len(found)), {"found": found, "first_half_layers": half}


def position_passes(
    mi: np.ndarray,
    p: Mapping[int, float],
    q99: Mapping[int, float],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[bool, float, dict[str, Any]]:
    """F4's clauses besides the effect: (all held, key, details)."""
    parts, key, details = position_parts(mi, p, q99, layer, universal, n_layers, scale, t)
    return all(x.passed for x in parts), key, details


def position_share(stats_: PositionStats, max_p: float) -> tuple[int, int]:
    """(first-half universal neurons of the sample with shuffled-null p < max_p, neurons in the sample)."""
    return sum(stats_.p[int(i)] < max_p for i in stats_.sample), len(stats_.sample)


def absence_effect(effect: Effect, margin: float) -> Effect:
    """A negative control's effect: control - trained, with threshold -margin.

    Its lower end clears -margin iff the trained excess's upper end is below margin: the effect is shown to stay
    under the margin.
    """
    return Effect(
        name=f"{effect.name.replace(': trained - untrained', '')}: untrained - trained (negative control)",
        measured=effect.measured,
        control=effect.control,
        value=-effect.value,
        low=-effect.high,
        high=-effect.low,
        threshold=-margin,
        control_name=effect.control_name,
        method=effect.method,
    )


def negative_control(effect: Effect, margin: float, min_effect: float) -> tuple[Effect, str | None]:
    """F4 on a rotary model: the absence effect, and why the row is INCONCLUSIVE (None when it is decided).

    PASS when the trained - untrained interval lies below `margin`; FAIL when it is not and its lower end is above
    `min_effect` (position neurons beyond the control where the claim expects none); INCONCLUSIVE otherwise.
    """
    reason = None
    if not (effect.high < margin or effect.low > min_effect):
        reason = (
            f"the negative control's excess of position neurons over its untrained control lies in "
            f"[{effect.low:.3f}, {effect.high:.3f}]: neither shown below {margin:g} nor above {min_effect:g}"
        )
    return absence_effect(effect, margin), reason


def positional_embedding(ref: ModelRef) -> str:
    """How the model encodes position, from its config: "learned absolute" or "rotary"."""
    return architecture(ref.config()).position


F4_EFFECT = (
    "; and the share of first-half universal neurons with shuffled-null p < {max_p}, trained - untrained control "
    "(same rule, pipeline and number of comparison seeds), has a 95 % Newcombe lower bound > {min_effect}. On "
    "rotary-position models (the "
    "declared negative control) the row instead passes when that difference's 95 % upper bound is < "
    "{max_control_excess}, fails when its lower bound is > {min_effect}, and is otherwise INCONCLUSIVE"
)


@claim(
    "F4",
    title="position neurons in the first layers",
    statement="""Position neurons, whose activation is a function of the absolute position in the context, exist and
    are concentrated in layers 0-2 (Voita et al.; Fig. 19 shows 20 in GPT2-small).""",
    paper_ref="§5, Fig. 19",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=">= {min_early_share} of the top {top_n} universal neurons by position MI (firing = pre-activation > 0) "
        "lie in layers 0-2, and each has MI above the 99th percentile of its position-shuffled null ({n_perm} "
        "shuffles)" + F4_EFFECT,
        small=">= {min_neurons} universal neuron in the first half of the layers has position MI (firing = "
        "pre-activation > 0) above its position-shuffled null with p < {max_p} ({n_perm} shuffles)" + F4_EFFECT,
        thresholds_full={
            "min_early_share": 0.7,
            "top_n": 20,
            "n_perm": N_PERM,
            "max_p": 0.01,
            "min_effect": 0.0,
            "max_control_excess": 0.1,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "min_neurons": 1,
            "max_p": 0.01,
            "n_perm": N_PERM,
            "min_effect": 0.0,
            "max_control_excess": 0.1,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def position_neurons(ctx: ClaimContext) -> Evidence:
    """F4: position MI of universal neurons against a position-shuffled null, and against the untrained control."""
    config = ctx.model.config()
    if architecture(config).gated:
        raise NotApplicable(
            "precondition: F4 fires on pre-activation > 0, which a GELU MLP's post-activation shows; a gated MLP's "
            "post-activation does not show its sign"
        )
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    _, special = vocabulary(ctx)
    seed = ctx.workbench.settings.seed
    results: dict[str, dict[str, Any]] = {}
    shares: dict[str, tuple[int, int]] = {}
    for subject in distinct_subjects(trained, control, who.matched):
        st = position_statistics(ctx, subject, special, int(t["n_perm"]), seed)
        mi, cands, p = st.mi, st.candidates, st.p
        n_layers, d_mlp = ctx.activations(subject.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW).shape[1:]
        layer = np.repeat(np.arange(n_layers), d_mlp)
        clauses, value, details = position_parts(mi, p, st.q99, layer, subject.universal, n_layers, ctx.scale, t)
        shares[subject.label] = position_share(st, t["max_p"])
        top = cands[np.argsort(-mi[cands])][:8]
        results[subject.label] = {
            "parts": clauses,
            "passed": all(x.passed for x in clauses),
            "key": value,
            **details,
            "share_sample": list(shares[subject.label]),
            "rule": subject.rule,
            "top": [{"neuron": neuron_name(int(i), d_mlp), "mi": float(mi[i]), "p": p[int(i)]} for i in top],
            "mean_mi_per_layer": [float(mi[layer == layer_].mean()) for layer_ in range(n_layers)],
            "significant_per_layer": per_layer(
                np.isin(np.arange(len(mi)), [i for i, v in p.items() if v < t["max_p"]]), layer, n_layers
            ),
            "mi": mi,
            "layer": layer,
            "universal": subject.universal,
        }
    main = results[trained.label]
    kind = positional_embedding(ctx.model)
    negative = kind == "rotary"
    ctrl = results.get("untrained control", {})
    effect = None
    if control is not None:
        effect = share_effect(
            f"share of first-half universal neurons with shuffled-null p < {t['max_p']:g}",
            shares[who.matched.label],
            shares[control.label],
            t["min_effect"],
            "first-half universal neurons",
        )
    parts: list[Part] = list(main["parts"])
    inconclusive: str | None = None
    passed: bool | None = None
    role = Role.CLAIM
    key = ("early share" if ctx.scale == "full" else "position neurons in the first half", main["key"])
    if negative:  # the claim expects no absolute-position neurons beyond the control: show the excess is small
        role = Role.NEGATIVE_CONTROL
        parts = []
        key = ("position-neuron share: trained - untrained", effect.value if effect is not None else math.nan)
        if effect is not None:
            effect, inconclusive = negative_control(effect, t["max_control_excess"], t["min_effect"])
        else:  # without a control the excess over it is unmeasured
            passed, inconclusive = False, NO_CONTROL
    universal = main["universal"]
    strongest = ", ".join(f"{e['neuron']} MI {e['mi']:.3f} (p {e['p']:.3f})" for e in main["top"][:4])
    main_max = float(main["mi"][universal].max()) if universal.any() else float("nan")
    ctrl_max = float(ctrl["mi"][ctrl["universal"]].max()) if ctrl and ctrl["universal"].any() else float("nan")
    strip = ("mi", "layer", "universal", "parts")
    return ctx.evidence(
        key=key,
        reason=f"position embedding: {kind}{' (the negative control of this claim)' if negative else ''}; "
        f"universal neurons with shuffled-null p < {t['max_p']:g} per layer {main['significant_per_layer']}; "
        f"first-half sample {main['share_sample'][0]}/{main['share_sample'][1]}; strongest {strongest}; untrained "
        f"control: per layer {ctrl.get('significant_per_layer', 'n/a')}, first-half sample "
        f"{'/'.join(map(str, ctrl.get('share_sample', ['n/a'])))}, max universal MI {ctrl_max:.3f} vs {main_max:.3f} "
        f"trained; {trained.rule}" + effect_text(effect, who),
        measured={k: v for k, v in main.items() if k not in strip} | {"positional_embedding": kind},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        n_tokens=int(F.kept_positions(ctx.activations(ctx.model, (MLP_POST_RAW,)).tokens, special).sum()),
        passed=passed,
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
        role=role,
        figures={
            "scatter": {
                "x": main["layer"][universal] + np.linspace(-0.3, 0.3, int(universal.sum())),
                "y": main["mi"][universal],
                "xlabel": "layer (universal neurons)",
                "ylabel": "position MI (nats)",
                "fit": False,
            }
        },
    )
