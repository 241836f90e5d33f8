"""Measurement glue of E1, E2 (the entropy-neuron intervention) and X1 (antipodal pairs): subjects, probes, memos.

Why a module of its own: the claims (entropy.py for E1/E2, antipodal.py for X1) decide; this module chooses the
neurons by the pre-registered rules, runs the model-running probes of fixtures/probes/entropy.py on the row's
sample and memoises what they measure (`ctx.workbench.derived`, so a re-run with a warm cache loads no model).

* Candidate (E1). Full scale: a neuron in the last two layers with l2_penalty >= the model's 99.9th percentile
  and vocab_var <= its 0.1st percentile (lowest vocab_var wins). Small scale: among final-layer neurons whose
  w_out has > 50 % of its energy in the bottom 5 % singular subspace of W_U, the one maximising ‖w_out‖² x that
  share (`select_entropy_candidate`).
* Baselines: 20 seeded random neurons (`baseline_neurons`); E2's partner: the most negative cosine of
  sign-corrected output directions among high-norm neurons of the last two layers (`select_partner`).
* Intervention sample: the first probe tokens of the row's sample (`capture`), one clean pass per session.
* X1: the antipodal share among labelled same-layer pairs against all same-layer pairs (`antipodal_ratio`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import weight_table
from engine.interventions import single_threaded
from fixtures.models import ModelRef
from fixtures.probes.entropy import (
    METRICS,
    Capture,
    capture_pass,
    fixed_activation_curves,
    norm_kind,
    signed_directions,
)

INTERVENTION_VERSION = 1
MULTIPLIERS = (0.0, 0.5, 1.0, 2.0, 3.0)  # x A (the neuron's 99.9th percentile |activation|)
EVAL_ELEMENTS = 1 << 23  # positions x vocabulary per evaluation of the softmax metrics (at least MIN_EVAL positions)
MIN_EVAL = 256
BATCH = 16  # contexts per forward batch
N_BASELINES = 20
PARTNER_L2_PCT = 95.0


# --- the cached clean pass and the intervention ------------------------------------------------------------------


def capture(ctx: ClaimContext, ref: ModelRef) -> Capture:
    """The clean pass over the first probe tokens of the row's sample (once per session and model)."""
    bench = ctx.workbench
    assert ctx.dataset is not None

    def compute() -> Capture:
        model = bench.model(ref)
        sample = bench.tokens(ref, ctx.corpus_name)
        n_ctx = min(
            len(sample.tokens), max(1, math.ceil(bench.settings.probe_tokens_for(ref.scale) / sample.context_length))
        )
        tokens, excluded = sample.tokens[:n_ctx], sample.excluded[:n_ctx]
        return capture_pass(model, tokens, excluded, bench.forward_pass, BATCH)

    spec = bench.sample_spec(ref, ctx.dataset)
    key = (
        "gt3-capture",
        ref.identity(),
        tuple(sorted(spec.__dict__.items())),
        bench.settings.probe_tokens_for(ref.scale),
    )
    return bench.memo(key, single_threaded(compute))


def intervention_curves(
    ctx: ClaimContext, ref: ModelRef, neurons: list[tuple[int, int]], reference: tuple[int, int]
) -> dict[str, Any]:
    """Fix each neuron's activation to s·g·A (g in MULTIPLIERS, A from `reference`) and measure the readout.

    Returns (memoised on disk): `fixtures.probes.entropy.fixed_activation_curves`'s result and "seconds".
    """
    bench = ctx.workbench
    assert ctx.dataset is not None
    spec = bench.sample_spec(ref, ctx.dataset)

    def compute() -> dict[str, Any]:
        started = time.time()
        cap = capture(ctx, ref)
        model = bench.model(ref)
        result = fixed_activation_curves(
            model,
            cap,
            neurons,
            reference,
            MULTIPLIERS,
            EVAL_ELEMENTS,
            MIN_EVAL,
            bench.settings.seed,
            bench.settings.dtype,
        )
        return {**result, "seconds": time.time() - started}

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "text": bench.corpus(spec.corpus).sha256,
        "scale": ref.scale,
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "neurons": [list(n) for n in neurons],
        "reference": list(reference),
        "grid": MULTIPLIERS,
        "eval_elements": EVAL_ELEMENTS,
        "min_eval": MIN_EVAL,
        "dtype": bench.settings.dtype,
        "seed": bench.settings.seed,
    }
    return bench.derived("entropy-intervention", INTERVENTION_VERSION, inputs, single_threaded(compute))


def curve_slopes(result: dict[str, Any], upto: int | None = None) -> dict[str, np.ndarray]:
    """OLS slopes of each metric on the magnitude, per neuron row, over the first `upto` grid points (all: None)."""
    from engine.interventions import ols_slope

    x = np.asarray(result["magnitudes"])[:upto]
    return {m: np.array([float(ols_slope(x, np.asarray(r[m])[:upto])) for r in result["neurons"]]) for m in METRICS}


# --- subjects: the candidate, its baselines and E2's partner (pure, tested on synthetic tables) ----------


@dataclass(frozen=True)
class Candidate:
    """A selected neuron (or none) and why.

    Attributes:
        neuron: (layer, index) or None when no neuron meets the rule.
        rule: the rule in words.
        reason: why none qualified (empty when one did).
        fallback: the best near-candidate, measured for information when none qualified.
        info: the numbers the selection rested on.
    """

    neuron: tuple[int, int] | None
    rule: str
    reason: str
    fallback: tuple[int, int]
    info: dict[str, Any]


def select_entropy_candidate(
    frame: pd.DataFrame, energy: np.ndarray, n_layers: int, scale: str, thresholds: dict[str, float]
) -> Candidate:
    """E1's candidate by the pre-registered rule of the row's scale.

    Args:
        frame: the weight table (layer, neuron, l2_penalty, vocab_var, w_out_norm), one row per neuron.
        energy: per row of `frame`, the share of w_out's energy in W_U's bottom singular subspace.
        n_layers: layers of the model.
        scale: "full" or "small".
        thresholds: the claim's thresholds of that scale.
    """
    energy = np.asarray(energy, dtype=np.float64)
    layer = frame.layer.to_numpy()
    if scale == "full":
        l2_cut = float(np.percentile(frame.l2_penalty, thresholds["l2_pct"]))
        vv_cut = float(np.percentile(frame.vocab_var, thresholds["vocab_var_pct"]))
        late = layer >= n_layers - 2
        ok = late & (frame.l2_penalty.to_numpy() >= l2_cut) & (frame.vocab_var.to_numpy() <= vv_cut)
        rule = (
            f"last two layers, l2_penalty >= {l2_cut:.4g} (p{thresholds['l2_pct']:g}) and vocab_var <= "
            f"{vv_cut:.4g} (p{thresholds['vocab_var_pct']:g}); lowest vocab_var"
        )
        near = late & (frame.l2_penalty.to_numpy() >= float(np.percentile(frame.l2_penalty, 99.0)))
        pool = np.flatnonzero(near if near.any() else late)
        fallback_row = int(pool[np.argmin(frame.vocab_var.to_numpy()[pool])])
        chosen = np.flatnonzero(ok)
        row = int(chosen[np.argmin(frame.vocab_var.to_numpy()[chosen])]) if len(chosen) else None
        reason = (
            ""
            if row is not None
            else (
                "no neuron in the last two layers has both l2_penalty >= the 99.9th and vocab_var <= the 0.1st percentile"
            )
        )
        info = {"l2_cut": l2_cut, "vocab_var_cut": vv_cut, "n_qualifying": int(ok.sum())}
    else:
        final = layer == n_layers - 1
        score = frame.w_out_norm.to_numpy() ** 2 * energy
        ok = final & (energy > thresholds["min_energy"])
        rule = (
            f"final layer, energy share in W_U's bottom {100 * thresholds['bottom_frac']:g} % singular subspace "
            f"> {thresholds['min_energy']:g}; max ‖w_out‖² x share"
        )
        pool = np.flatnonzero(final)
        fallback_row = int(pool[np.nanargmax(score[pool])])
        chosen = np.flatnonzero(ok)
        row = int(chosen[np.nanargmax(score[chosen])]) if len(chosen) else None
        reason = (
            ""
            if row is not None
            else (
                f"no final-layer neuron has > {thresholds['min_energy']:g} of its w_out energy in W_U's bottom singular "
                f"subspace (max {np.nanmax(energy[pool]):.3f}): W_U has no usable null space"
            )
        )
        info = {"n_qualifying": int(ok.sum()), "max_energy_final_layer": float(np.nanmax(energy[pool]))}

    def ident(r: int) -> tuple[int, int]:
        return int(frame.layer.iloc[r]), int(frame.neuron.iloc[r])

    described = row if row is not None else fallback_row
    info.update(
        {
            "layer": int(frame.layer.iloc[described]),
            "neuron": int(frame.neuron.iloc[described]),
            "l2_penalty_pct": float(100 * (frame.l2_penalty < frame.l2_penalty.iloc[described]).mean()),
            "vocab_var_pct": float(100 * (frame.vocab_var < frame.vocab_var.iloc[described]).mean()),
            "null_space_energy": float(energy[described]),
            "w_out_norm": float(frame.w_out_norm.iloc[described]),
        }
    )
    return Candidate(ident(row) if row is not None else None, rule, reason, ident(fallback_row), info)


def baseline_neurons(
    frame: pd.DataFrame, n_layers: int, scale: str, exclude: tuple[int, int], n: int, seed: int
) -> list[tuple[int, int]]:
    """The seeded random baseline neurons (full: last two layers, l2 <= p90, vocab_var >= p10; small: final layer)."""
    layer = frame.layer.to_numpy()
    if scale == "full":
        pool = (
            (layer >= n_layers - 2)
            & (frame.l2_penalty.to_numpy() <= np.percentile(frame.l2_penalty, 90))
            & (frame.vocab_var.to_numpy() >= np.percentile(frame.vocab_var, 10))
        )
    else:
        pool = layer == n_layers - 1
    pool &= ~((layer == exclude[0]) & (frame.neuron.to_numpy() == exclude[1]))
    rows = np.flatnonzero(pool)
    picked = np.sort(np.random.default_rng(seed).choice(rows, size=min(n, len(rows)), replace=False))
    return [(int(frame.layer.iloc[r]), int(frame.neuron.iloc[r])) for r in picked]


def null_space_energy(ctx: ClaimContext, ref: ModelRef, frame: pd.DataFrame, bottom_frac: float) -> np.ndarray:
    """Per weight-table row: share of w_out's energy in W_U's bottom singular subspace (memoised)."""
    bench = ctx.workbench

    def compute() -> np.ndarray:
        from engine.interventions import bottom_singular_basis, subspace_energy_fraction

        model = bench.model(ref)
        b = model.bridge
        basis, _ = bottom_singular_basis(b.W_U.detach().float().cpu(), bottom_frac, norm_kind(model)[0])
        W_out = b.W_out.detach().float().cpu()
        per_layer = [subspace_energy_fraction(W_out[layer], basis).numpy() for layer in range(W_out.shape[0])]
        return np.concatenate(per_layer)[frame.layer.to_numpy() * W_out.shape[1] + frame.neuron.to_numpy()]

    return bench.derived(
        "null-space-energy", 1, {"model": ref.identity(), "bottom_frac": bottom_frac}, single_threaded(compute)
    )


def select_partner(
    frame: pd.DataFrame, directions: dict[int, Any], candidate: tuple[int, int], n_layers: int, l2_pct: float
) -> tuple[tuple[int, int] | None, float, int]:
    """Most negative cosine with the candidate among high-norm neurons of the last two layers.

    Args:
        frame: the weight table.
        directions: layer -> [d_mlp, d_model] sign-corrected output directions of the last two layers.
        candidate: the entropy neuron.
        n_layers: layers of the model.
        l2_pct: the high-norm cut (percentile of l2_penalty over the model).

    Returns:
        (partner or None, its cosine, number of high-norm neurons searched).
    """
    import torch

    cut = np.percentile(frame.l2_penalty, l2_pct)
    late = frame[(frame.layer >= n_layers - 2) & (frame.l2_penalty >= cut)]
    late = late[~((late.layer == candidate[0]) & (late.neuron == candidate[1]))]
    if late.empty:
        return None, math.nan, 0
    c = directions[candidate[0]][candidate[1]]
    c = c / c.norm()
    vecs = torch.stack([directions[int(r.layer)][int(r.neuron)] for r in late.itertuples()])
    cos = (vecs / vecs.norm(dim=-1, keepdim=True)) @ c
    i = int(torch.argmin(cos))
    row = late.iloc[i]
    return (int(row.layer), int(row.neuron)), float(cos[i]), len(late)


def partner_of(
    ctx: ClaimContext, ref: ModelRef, frame: pd.DataFrame, target: tuple[int, int]
) -> tuple[tuple[int, int] | None, float, int]:
    """E2's partner of `target` with sign-corrected directions (signs from the intervention sample; memoised)."""
    bench = ctx.workbench
    assert ctx.dataset is not None

    def compute() -> tuple[tuple[int, int] | None, float, int]:
        model = bench.model(ref)
        cap = capture(ctx, ref)
        directions = signed_directions(model, cap)
        return select_partner(frame, directions, target, model.n_layers, PARTNER_L2_PCT)

    inputs = {
        "model": ref.identity(),
        "sample": bench.sample_spec(ref, ctx.dataset).__dict__,
        "text": bench.corpus(ctx.dataset).sha256,
        "scale": ref.scale,
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "target": list(target),
        "l2_pct": PARTNER_L2_PCT,
    }
    return bench.derived("entropy-partner", 1, inputs, single_threaded(compute))


@dataclass(frozen=True)
class EntropyRun:
    """E1's selection and measurement, shared with E2."""

    candidate: Candidate
    measured_neuron: tuple[int, int]
    baselines: list[tuple[int, int]]
    result: dict[str, Any]
    frame: pd.DataFrame


def measure_entropy_neuron(ctx: ClaimContext, thresholds: dict[str, float]) -> EntropyRun:
    """Select E1's candidate (`thresholds`: E1's at the row's scale), its baselines, and run the intervention.

    No candidate: NotApplicable (E1 and E2 are claims about an entropy neuron; a model without one does not meet
    their precondition). Everything here is memoised on disk, so a re-run with a warm cache loads no model.
    """
    ref = ctx.model
    frame = weight_table(ctx, ref)
    n_layers = int(frame.layer.max()) + 1
    energy = null_space_energy(ctx, ref, frame, thresholds.get("bottom_frac", 0.05))
    cand = select_entropy_candidate(frame, energy, n_layers, ctx.scale, thresholds)
    if cand.neuron is None:
        raise NotApplicable(
            f"precondition: an entropy-neuron candidate ({ctx.scale}-scale rule: {cand.rule}); none in "
            f"{ref.name}: {cand.reason} (nearest L{cand.fallback[0]}.{cand.fallback[1]})"
        )
    target = cand.neuron
    base = baseline_neurons(frame, n_layers, ctx.scale, target, N_BASELINES, ctx.workbench.settings.seed)
    result = intervention_curves(ctx, ref, [target, *base], target)
    return EntropyRun(cand, target, base, result, frame)


# --- X1 --------------------------------------------------------------------------------------------------


def antipodal_ratio(directions: Any, layers: np.ndarray, functional: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of same-layer pairs of functional neurons with cos <= threshold vs the share among all same-layer pairs.

    Args:
        directions: [n, d_model] (sign-corrected) output directions, one per neuron.
        layers: [n] layer of each neuron.
        functional: [n] bool, the labelled neurons (e.g. vocabulary kurtosis above the cut).
        threshold: the antipodal cosine cut (-0.5).

    Returns:
        {"pairs", "antipodal", "fraction", "control_fraction" (all same-layer pairs, weighted like the functional
        pairs over layers), "ratio" (fraction / max(control, 1 / control pairs))}.
    """
    import torch

    from engine.interventions import all_pairs_antipodal_fraction, antipodal_counts

    groups, control_hits, control_pairs, weights = [], 0.0, 0, 0
    for layer in np.unique(layers):
        idx = np.flatnonzero((layers == layer) & functional)
        if len(idx) < 2:
            continue
        groups.append(torch.from_numpy(idx))
        pairs = len(idx) * (len(idx) - 1) // 2
        members = torch.from_numpy(np.flatnonzero(layers == layer))
        control_hits += pairs * all_pairs_antipodal_fraction(directions[members], threshold)
        weights += pairs
        control_pairs += len(members) * (len(members) - 1) // 2
    hits, total = antipodal_counts(directions, groups, threshold)
    fraction = hits / total if total else math.nan
    control = control_hits / weights if weights else math.nan
    floor = 1 / control_pairs if control_pairs else math.nan
    ratio = fraction / max(control, floor) if total else math.nan
    return {
        "pairs": total,
        "antipodal": hits,
        "fraction": fraction,
        "control_fraction": control,
        "control_pairs": control_pairs,
        "ratio": ratio,
    }
