"""E1, E2 (GT3): the paper's entropy-neuron intervention in new settings.

Why GT3: the paper found an entropy neuron in GPT-2 by a weight query (huge norm, almost no direct effect on the
logits) and showed causally that fixing its activation raises the final LayerNorm scale and next-token entropy
while keeping the ranking (§5.2, Fig. 7, 25). Here the same method runs on SmolLM2-135M (RMSNorm, SwiGLU MLPs,
tied 49k vocabulary) and on the zoo's tiny GPT-2s, where a candidate need not exist at all.

Method, as pre-registered in the criteria:
  * Candidate (E1). Full scale: a neuron in the last two layers with l2_penalty >= the model's 99.9th percentile
    and vocab_var <= its 0.1st percentile (lowest vocab_var wins). Small scale: among final-layer neurons whose
    w_out has > 50 % of its energy in the bottom 5 % singular subspace of W_U (as a map from the residual
    stream: the left singular vectors; centred subspace for LayerNorm), the one maximising ‖w_out‖² x that share.
    No candidate: NOT_APPLICABLE (the claim is about such a neuron; the reason names the rule and the nearest
    neuron). E2 needs E1's candidate, so it is NOT_APPLICABLE too.
  * Intervention. The neuron's activation (`mlp.hook_post`; for gated MLPs silu(gate)·up) is fixed at every
    position to s·g·A for g in MULTIPLIERS, where A is the candidate's 99.9th percentile of |activation| on the
    sample (start positions left out) and s the sign of its activation skew (+1 for GELU models, whose outputs are
    bounded below). Every neuron of one comparison gets the same magnitudes g·A (the paper fixes all neurons to
    the same values 0...6), each with its own sign. Measured: mean final-norm scale over all counted
    predictions, and mean entropy, reciprocal rank of the true token and loss over a seeded subset of them
    (max(256, 2^23 / d_vocab) positions: the softmax over 49k tokens is the cost). A prediction counts when it
    is not made at position 0 or the last position and neither its input nor its target token is excluded
    (BOS/EOS/pad/newline).
  * Cost: one cached clean pass serves every value of a final-layer neuron; a penultimate-layer neuron re-runs
    only the last block (fixtures/probes/entropy.py says how).
  * Baselines: 20 seeded random neurons — full scale: last two layers, l2_penalty <= 90th and vocab_var >= 10th
    percentile (the authors' `sample_baseline_neurons`); small scale: final layer.
  * E2: the anti-entropy partner is the most negative cosine (of sign-corrected output directions) among
    high-norm neurons (l2_penalty >= the 95th percentile) in the last two layers; its slopes are taken over
    g <= 1 (the paper's [0, 2] of [0, 6]), on its own activation scale; E1's baselines are fixed to the same
    magnitudes as its control.
  * Effects against the control (they decide too): the candidate's entropy slope (E1) or the partner's entropy
    reduction (E2) minus the baselines' mean, with a t prediction interval over the 20 baselines (the interval
    of the difference between the neuron and a new random neuron): its lower end must be > 0.
Where the code is: this module holds the claims and their decisions; measures/entropy.py chooses the candidate,
the baselines and the partner and memoises the measurements; fixtures/probes/entropy.py runs the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.entropy import (
    PARTNER_L2_PCT,
    EntropyRun,
    curve_slopes,
    intervention_curves,
    measure_entropy_neuron,
    partner_of,
)
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, part
from fixtures.probes.entropy import METRICS

RESTRICTED = 3  # E2 slopes over the first three grid points (g <= 1)
METRIC_LABELS = {
    "scale": "final-norm scale",
    "entropy": "entropy (nats)",
    "rr": "reciprocal rank",
    "loss": "loss (nats)",
}


# --- decisions (pure) -------------------------------------------------------------------------------------------


def entropy_decision(
    result: dict[str, Any], scale: str, thresholds: dict[str, float]
) -> tuple[list[Part], dict[str, Any]]:
    """E1's point clauses on intervention curves whose first neuron row is the candidate and the rest the baselines.

    Returns (parts, details); details["checks"] repeats each clause's outcome by its criterion label.
    """
    slopes = curve_slopes(result)
    s_c, s_b = float(slopes["scale"][0]), slopes["scale"][1:]
    e_c, e_b = float(slopes["entropy"][0]), slopes["entropy"][1:]
    rr = [np.asarray(r["rr"]) for r in result["neurons"]]
    d_rr_c = float(rr[0][-1] - rr[0][0])
    d_rr_b = np.array([float(r[-1] - r[0]) for r in rr[1:]])
    max_abs_b = float(np.max(np.abs(s_b))) if len(s_b) else math.nan
    ratio = s_c / max_abs_b if max_abs_b > 0 else math.inf
    details: dict[str, Any] = {
        "scale_slope": s_c,
        "entropy_slope": e_c,
        "delta_mrr": d_rr_c,
        "baseline_scale_slopes": s_b.tolist(),
        "baseline_entropy_slopes": e_b.tolist(),
        "baseline_delta_mrr": d_rr_b.tolist(),
        "scale_ratio_to_max_baseline": ratio,
    }
    if scale == "full":
        rel = abs(d_rr_c) / rr[0][0] if rr[0][0] > 0 else math.inf
        rank_bound = max(float(np.median(np.abs(d_rr_b))), thresholds["mrr_rel"] * float(rr[0][0]))
        labelled = {
            "b_scale_positive": part("(b) scale slope", s_c, ">", 0.0),
            "b_scale_ratio": part(
                "(b) scale slope / max |baseline scale slope|", ratio, ">=", thresholds["scale_ratio"]
            ),
            "c_entropy_positive": part("(c) entropy slope", e_c, ">", 0.0),
            "c_entropy_above_baselines": part(
                "(c) entropy slope - max baseline entropy slope", e_c - float(np.max(e_b)), ">", 0.0
            ),
            "d_ranks": part(
                "(d) |dMRR(0 -> 3A)| vs max(baselines' median |dMRR|, mrr_rel x MRR at 0)",
                abs(d_rr_c),
                "<=",
                rank_bound,
            ),
        }
        details["relative_delta_mrr"] = rel
    else:
        q = thresholds["baseline_pct"]
        labelled = {
            "ii_scale": part(f"(ii) scale slope vs baselines' p{q:g}", s_c, ">", float(np.percentile(s_b, q))),
            "ii_entropy": part(f"(ii) entropy slope vs baselines' p{q:g}", e_c, ">", float(np.percentile(e_b, q))),
        }
    details["checks"] = {k: v.passed for k, v in labelled.items()}
    return list(labelled.values()), details


def entropy_effect(result: dict[str, Any], threshold: float) -> Effect:
    """E1's effect: the candidate's entropy slope - the baselines' mean, with a t prediction interval over them."""
    from engine.inference import difference_from_sample

    slopes = curve_slopes(result)["entropy"]
    diff, low, high = difference_from_sample(float(slopes[0]), slopes[1:])
    return Effect(
        name="entropy slope (nats per unit activation): candidate - random baseline neurons",
        measured=float(slopes[0]),
        control=float(np.mean(slopes[1:])) if len(slopes) > 1 else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"{len(slopes) - 1} seeded random baseline neurons, same fixed magnitudes",
        method="t prediction interval over the baseline neurons (candidate vs a new random neuron)",
    )


def anti_entropy_decision(
    cosine: float, slopes: dict[str, float], scale: str, thresholds: dict[str, float]
) -> list[Part]:
    """E2's point clauses: antipodal to the entropy neuron and lowering entropy (and, full scale, the norm scale)."""
    parts = [
        part("cos(partner, entropy neuron)", cosine, "<=", thresholds["max_cos"]),
        part("partner entropy slope, g <= 1", slopes["entropy"], "<", 0.0),
    ]
    if scale == "full":
        parts.append(part("partner scale slope, g <= 1", slopes["scale"], "<", 0.0))
    return parts


def anti_entropy_effect(result: dict[str, Any], threshold: float) -> Effect:
    """E2's effect: the partner's entropy reduction per unit activation (g <= 1) - the random baselines' mean.

    `result`'s first row is the partner, the rest random baseline neurons fixed to the same magnitudes.
    """
    from engine.inference import difference_from_sample

    reduction = -curve_slopes(result, RESTRICTED)["entropy"]
    diff, low, high = difference_from_sample(float(reduction[0]), reduction[1:])
    return Effect(
        name="entropy reduction -d entropy / d activation (g <= 1): partner - random baseline neurons",
        measured=float(reduction[0]),
        control=float(np.mean(reduction[1:])) if len(reduction) > 1 else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"{len(reduction) - 1} seeded random baseline neurons, same fixed magnitudes",
        method="t prediction interval over the baseline neurons (partner vs a new random neuron)",
    )


# --- E1 ----------------------------------------------------------------------------------------------------------


def entropy_run(ctx: ClaimContext) -> EntropyRun:
    """E1's candidate, baselines and intervention at the row's scale, by E1's thresholds (shared with E2)."""
    thresholds = dict(entropy_neuron.claim.criterion.thresholds(ctx.scale))  # type: ignore[attr-defined]
    return measure_entropy_neuron(ctx, thresholds)


def _curves_figure(result: dict[str, Any], label: str, xlabel: str) -> dict[str, Any]:
    rows = result["neurons"]
    return {
        "activation_values": result["magnitudes"],
        "panels": {METRIC_LABELS[m]: {"candidate": rows[0][m], "baselines": [r[m] for r in rows[1:]]} for m in METRICS},
        "candidate_label": label,
        "xlabel": xlabel,
    }


@claim(
    "E1",
    title="entropy neuron: fixing it scales the final norm and entropy (new setting)",
    statement="""(GT3) A high-norm late neuron writing into W_U's effective null space acts as an entropy neuron:
    fixing its activation to larger values raises the final norm's scale and next-token entropy while largely
    keeping the token ranking; random neurons do not (GPT2-M L23.945, GPT2-S L11.3030).""",
    paper_ref="§5.2, Fig. 7, Fig. 25",
    axes=(Axis.GT3,),
    needs=Needs(intervention=True),
    criterion=Criterion(
        full="(b) the OLS slope of mean final-norm scale on the fixed activation is > 0 and >= {scale_ratio} x the "
        "largest |baseline slope|; (c) the entropy slope is > 0 and above every baseline's; (d) |dMRR(0 -> 3A)| <= "
        "max(the baselines' median |dMRR|, {mrr_rel} x the candidate's MRR at 0); (e) the entropy slope - the "
        "baselines' mean has a 95 % lower bound (t prediction interval over the baselines) > {min_effect}; "
        "candidate: a last-two-layer neuron with l2_penalty >= p{l2_pct} and vocab_var <= p{vocab_var_pct} (none: "
        "NOT_APPLICABLE); intervention: its activation (hook_post; "
        "gated MLPs: silu(gate)*up, signed by its activation skew) fixed at all positions to g x A, g in {{0, 0.5, 1, "
        "2, 3}}, A = its 99.9th percentile |activation|; the same magnitudes for 20 seeded random baselines from the "
        "last two layers (l2 <= p90, vocab_var >= p10)",
        small="(ii) the candidate's scale and entropy slopes both exceed the baselines' {baseline_pct}th percentile, "
        "and its entropy slope - the baselines' mean has a 95 % lower bound (t prediction interval over the "
        "baselines) > {min_effect}; candidate = the final-layer neuron maximising ||w_out||^2 x its energy share in "
        "the bottom-{bottom_frac} fraction of W_U's singular directions, among shares > {min_energy} (none: "
        "NOT_APPLICABLE); intervention as at full scale, against 20 seeded random final-layer neurons",
        thresholds_full={"l2_pct": 99.9, "vocab_var_pct": 0.1, "scale_ratio": 5.0, "mrr_rel": 0.01, "min_effect": 0.0},
        thresholds_small={"bottom_frac": 0.05, "min_energy": 0.5, "baseline_pct": 95.0, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.5,
)
def entropy_neuron(ctx: ClaimContext) -> Evidence:
    run = entropy_run(ctx)
    parts, details = entropy_decision(run.result, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = entropy_effect(run.result, ctx.threshold("min_effect"))
    layer, neuron = run.measured_neuron
    label = f"L{layer}.{neuron}"
    res = run.result
    cand = res["neurons"][0]
    at_max = {  # the size of the effect at the largest grid value (3A), beside the slopes the criterion uses
        "scale_relative": cand["scale"][-1] / cand["scale"][0] - 1,
        "entropy_nats": cand["entropy"][-1] - cand["entropy"][0],
    }
    reason = (
        f"{label}: scale slope {details['scale_slope']:.4g} per unit activation ({details['scale_ratio_to_max_baseline']:.2f}"
        f" x max |baseline|), entropy slope {details['entropy_slope']:.4g} (baseline max "
        f"{max(details['baseline_entropy_slopes']):.4g}), dMRR {details['delta_mrr']:+.4f}; at 3A the scale moves "
        f"{100 * at_max['scale_relative']:+.2f} % and entropy {at_max['entropy_nats']:+.4f} nats; checks "
        + ", ".join(f"{k} {'ok' if v else 'failed'}" for k, v in details["checks"].items())
        + f"; entropy slope vs baselines' mean {effect.value:+.4g} (95 % PI {effect.low:.4g} to {effect.high:.4g})"
    )
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("scale slope / max |baseline slope|", details["scale_ratio_to_max_baseline"]),
        reason=reason,
        measured={
            "candidate": list(run.candidate.neuron) if run.candidate.neuron else None,
            "measured_neuron": [layer, neuron],
            "selection_rule": run.candidate.rule,
            "selection": run.candidate.info,
            "activation_scale_A": res["A"],
            "activation_sign": cand["sign"],
            "grid_magnitudes": res["magnitudes"],
            "curves": {m: cand[m] for m in METRICS},
            "effect_at_3A": at_max,
            "clean": res["clean"],
            "n_counted_predictions": res["n_counted"],
            "n_softmax_positions": res["n_eval"],
            "seconds": res["seconds"],
            **{k: v for k, v in details.items() if not k.startswith("baseline_")},
        },
        control={
            "baselines": [list(n) for n in run.baselines],
            "baseline_scale_slopes": details["baseline_scale_slopes"],
            "baseline_entropy_slopes": details["baseline_entropy_slopes"],
            "baseline_delta_mrr": details["baseline_delta_mrr"],
        },
        n_tokens=res["n_tokens"],
        figures={
            "entropy_curves": _curves_figure(res, label, f"|activation| fixed on the neuron (A = {res['A']:.3g})")
        },
    )


# --- E2 ----------------------------------------------------------------------------------------------------------


@claim(
    "E2",
    title="anti-entropy partner lowers the final-norm scale and entropy (new setting)",
    statement="""(GT3) The entropy neuron has an antipodal high-norm partner (GPT2-M L22.2882, cos = -0.886 with
    L23.945) whose activation lowers the final norm's scale and next-token entropy.""",
    paper_ref="§5.2, Fig. 7, Fig. 25",
    axes=(Axis.GT3,),
    needs=Needs(intervention=True),
    criterion=Criterion(
        full="cos(partner, entropy neuron) <= {max_cos}, and fixing the partner's activation to g x A_p, g in "
        "{{0, 0.5, 1}} (A_p its own 99.9th percentile |activation|), gives scale slope < 0 and entropy slope < 0; "
        "and the partner's entropy reduction (-slope) - that of E1's 20 random baselines fixed to the same "
        "magnitudes has a 95 % lower bound (t prediction interval over the baselines) > {min_effect}; partner = the "
        "most negative cosine of sign-corrected w_out among last-two-layer neurons with l2_penalty >= p95; E1 "
        "without a candidate or no such neuron: NOT_APPLICABLE",
        small="cos(partner, entropy neuron) <= {max_cos} and the partner's entropy slope over g in {{0, 0.5, 1}} is "
        "< 0, and its entropy reduction (-slope) - that of E1's 20 random baselines fixed to the same magnitudes has "
        "a 95 % lower bound (t prediction interval over the baselines) > {min_effect} (partner as at full scale); E1 "
        "without a candidate: NOT_APPLICABLE",
        thresholds_full={"max_cos": -0.7, "min_effect": 0.0},
        thresholds_small={"max_cos": -0.5, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.1,
)
def anti_entropy_neuron(ctx: ClaimContext) -> Evidence:
    run = entropy_run(ctx)
    target = run.measured_neuron
    partner, cosine, n_searched = partner_of(ctx, ctx.model, run.frame, target)
    if partner is None:
        raise NotApplicable(
            f"precondition: a high-norm neuron (l2_penalty >= p{PARTNER_L2_PCT:g}) in the last two layers besides the "
            f"entropy neuron; none in {ctx.model.name}"
        )
    baselines = [b for b in run.baselines if b != partner]
    result = intervention_curves(ctx, ctx.model, [partner, *baselines], partner)
    restricted = {m: float(v[0]) for m, v in curve_slopes(result, RESTRICTED).items()}
    full_range = {m: float(v[0]) for m, v in curve_slopes(result).items()}
    parts = anti_entropy_decision(cosine, restricted, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = anti_entropy_effect(result, ctx.threshold("min_effect"))
    checks = {p.name: p.passed for p in parts}
    base_restricted = curve_slopes(result, RESTRICTED)
    label = f"L{partner[0]}.{partner[1]}"
    row = result["neurons"][0]
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("cos(partner, entropy neuron)", cosine),
        reason=f"{label} vs L{target[0]}.{target[1]}: cos {cosine:.3f}; over g <= 1 scale slope {restricted['scale']:.4g}, "
        f"entropy slope {restricted['entropy']:.4g} (over the full grid {full_range['entropy']:.4g}); entropy "
        f"reduction vs baselines' mean {effect.value:+.4g} (95 % PI {effect.low:.4g} to {effect.high:.4g})",
        measured={
            "entropy_neuron": list(target),
            "partner": list(partner),
            "cosine": cosine,
            "n_high_norm_searched": n_searched,
            "activation_scale_A": result["A"],
            "activation_sign": row["sign"],
            "slopes_g_le_1": restricted,
            "slopes_full_grid": full_range,
            "curves": {m: row[m] for m in METRICS},
            "grid_magnitudes": result["magnitudes"],
            "checks": checks,
        },
        control={
            "baselines": [list(b) for b in baselines],
            "baseline_entropy_slopes_g_le_1": base_restricted["entropy"][1:].tolist(),
            "baseline_scale_slopes_g_le_1": base_restricted["scale"][1:].tolist(),
        },
        n_tokens=result["n_tokens"],
        figures={
            "entropy_curves": _curves_figure(
                result, label, f"|activation| fixed on the partner (A = {result['A']:.3g})"
            )
        },
    )
