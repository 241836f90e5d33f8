"""E1, E2 must be able to fail: decisions on inputs built to violate them, the intervention on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from claims.papers.universal_neurons import entropy
from claims.papers.universal_neurons.measures import entropy as measures
from claims.verdict import Axis
from engine import interventions as iv
from fixtures.probes import entropy as probe
from fixtures.probes.entropy import METRICS

torch.set_num_threads(1)
E1_SMALL = dict(entropy.entropy_neuron.claim.criterion.thresholds("small"))
E1_FULL = dict(entropy.entropy_neuron.claim.criterion.thresholds("full"))


def _frame(w_out: torch.Tensor, l2: np.ndarray | None = None, vocab_var: np.ndarray | None = None) -> pd.DataFrame:
    n_layers, d_mlp, _ = w_out.shape
    norms = w_out.norm(dim=-1).reshape(-1).numpy()
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(n_layers), d_mlp),
            "neuron": np.tile(np.arange(d_mlp), n_layers),
            "w_out_norm": norms,
            "l2_penalty": norms**2 + 1 if l2 is None else l2,
            "vocab_var": rng.uniform(0.5, 1.0, n_layers * d_mlp) if vocab_var is None else vocab_var,
        }
    )


def _energy(w_out: torch.Tensor, W_U: torch.Tensor) -> np.ndarray:
    basis, _ = iv.bottom_singular_basis(W_U, E1_SMALL["bottom_frac"], "LN")
    return iv.subspace_energy_fraction(w_out.reshape(-1, w_out.shape[-1]), basis).numpy()


# --- E1 -----------------------------------------------------------------------------------------------------


def test_w_u_without_null_space_gives_no_entropy_candidate() -> None:
    g = torch.Generator().manual_seed(0)
    W_U = torch.randn(64, 300, generator=g)  # isotropic: every residual direction is read out
    w_out = torch.randn(2, 50, 64, generator=g)
    cand = measures.select_entropy_candidate(_frame(w_out), _energy(w_out, W_U), 2, "small", E1_SMALL)
    assert cand.neuron is None
    assert "null space" in cand.reason
    assert cand.fallback[0] == 1  # the near-candidate is still a final-layer neuron, for information


def test_a_null_space_neuron_is_selected() -> None:
    g = torch.Generator().manual_seed(1)
    W_U = torch.randn(64, 300, generator=g)
    basis, _ = iv.bottom_singular_basis(W_U, E1_SMALL["bottom_frac"], "LN")
    w_out = torch.randn(2, 50, 64, generator=g) * 0.1
    w_out[1, 7] = basis[:, 0] * 3
    cand = measures.select_entropy_candidate(_frame(w_out), _energy(w_out, W_U), 2, "small", E1_SMALL)
    assert cand.neuron == (1, 7)


def test_full_rule_needs_both_extreme_norm_and_extreme_vocab_variance() -> None:
    w_out = torch.randn(2, 2000, 8, generator=torch.Generator().manual_seed(2))
    l2 = np.arange(4000, dtype=float)
    vocab_var = np.arange(4000, dtype=float)  # the largest norms have the largest vocab variance
    cand = measures.select_entropy_candidate(_frame(w_out, l2, vocab_var), np.zeros(4000), 2, "full", E1_FULL)
    assert cand.neuron is None
    vocab_var = vocab_var[::-1].copy()  # now the top-norm neuron also has the lowest vocab variance
    cand = measures.select_entropy_candidate(_frame(w_out, l2, vocab_var), np.zeros(4000), 2, "full", E1_FULL)
    assert cand.neuron == (1, 1999)


def _curves(cand: dict[str, list[float]], base: list[dict[str, list[float]]]) -> dict:
    return {"magnitudes": [0.0, 0.5, 1.0, 2.0, 3.0], "neurons": [cand, *base]}


def _line(slope: float, start: float = 1.0) -> list[float]:
    return [start + slope * x for x in (0.0, 0.5, 1.0, 2.0, 3.0)]


@pytest.mark.parametrize("scale", ["full", "small"])
def test_candidate_like_its_baselines_fails_e1(scale: str) -> None:
    rng = np.random.default_rng(3)
    rows = [{m: _line(float(rng.normal(0, 0.01))) for m in METRICS} for _ in range(21)]
    thresholds = E1_FULL if scale == "full" else E1_SMALL
    rows[0] = {m: _line(0.0) for m in METRICS}  # a neuron with no effect at all
    curves = _curves(rows[0], rows[1:])
    parts, _ = entropy.entropy_decision(curves, scale, thresholds)
    assert not all(p.passed for p in parts)
    assert not entropy.entropy_effect(curves, thresholds["min_effect"]).cleared
    rows[0] = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    curves = _curves(rows[0], rows[1:])
    parts, details = entropy.entropy_decision(curves, scale, thresholds)
    assert all(p.passed for p in parts), details
    assert entropy.entropy_effect(curves, thresholds["min_effect"]).cleared


def test_e1_reports_each_clause_of_its_criterion_as_a_part() -> None:
    base = [{m: _line(0.001 * (i - 10)) for m in METRICS} for i in range(20)]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    full, _ = entropy.entropy_decision(_curves(cand, base), "full", E1_FULL)
    assert [p.name[:3] for p in full] == ["(b)", "(b)", "(c)", "(c)", "(d)"]
    small, _ = entropy.entropy_decision(_curves(cand, base), "small", E1_SMALL)
    assert [p.name[:4] for p in small] == ["(ii)", "(ii)"]


def test_candidate_inside_the_baseline_spread_has_no_e1_effect() -> None:
    """Above the baselines' mean but within their spread: the prediction interval includes 0."""
    base = [{m: _line(0.1 * (i - 10)) for m in METRICS} for i in range(20)]
    cand = {m: _line(0.5) for m in METRICS}
    effect = entropy.entropy_effect(_curves(cand, base), 0.0)
    assert effect.value > 0
    assert effect.low < 0
    assert not effect.cleared


def test_rank_destroying_neuron_fails_e1_full() -> None:
    base = [{m: _line(0.001 * (i - 10)) for m in METRICS} for i in range(20)]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(-0.1, 0.5), "loss": _line(0.0)}
    parts, details = entropy.entropy_decision(_curves(cand, base), "full", E1_FULL)
    assert not all(p.passed for p in parts)
    assert not details["checks"]["d_ranks"]


# --- E2 -----------------------------------------------------------------------------------------------------


def test_anti_entropy_needs_antipodal_weights_and_falling_entropy() -> None:
    th_full = dict(entropy.anti_entropy_neuron.claim.criterion.thresholds("full"))

    def holds(cos: float, slopes: dict[str, float]) -> bool:
        return all(p.passed for p in entropy.anti_entropy_decision(cos, slopes, "full", th_full))

    assert not holds(-0.2, {"scale": -1.0, "entropy": -1.0})
    assert not holds(-0.9, {"scale": -1.0, "entropy": 0.1})
    assert not holds(-0.9, {"scale": 0.1, "entropy": -1.0})
    assert holds(-0.9, {"scale": -1.0, "entropy": -1.0})


def test_anti_entropy_effect_is_against_baselines_at_the_same_magnitudes() -> None:
    rng = np.random.default_rng(8)
    base = [{m: _line(float(rng.normal(-0.05, 0.01))) for m in METRICS} for _ in range(20)]
    like_baselines = {m: _line(-0.05) for m in METRICS}  # falls, but no more than a random neuron
    assert not entropy.anti_entropy_effect(_curves(like_baselines, base), 0.0).cleared
    partner = {m: _line(-1.0) for m in METRICS}
    effect = entropy.anti_entropy_effect(_curves(partner, base), 0.0)
    assert effect.cleared
    assert effect.measured == pytest.approx(1.0)  # the reduction, -slope


def test_partner_is_the_most_antipodal_high_norm_neuron() -> None:
    g = torch.Generator().manual_seed(4)
    dirs = {0: torch.randn(40, 8, generator=g), 1: torch.randn(40, 8, generator=g)}
    dirs[0][3] = -dirs[1][5] * 2
    frame = _frame(torch.stack([dirs[0], dirs[1]]))
    frame.loc[(frame.layer == 0) & (frame.neuron == 3), "l2_penalty"] = 1e6
    partner, cos, _ = measures.select_partner(frame, dirs, (1, 5), 2, 95.0)
    assert partner == (0, 3)
    assert cos == pytest.approx(-1.0)


# --- wiring on a real tiny model -----------------------------------------------------------------------------


@pytest.fixture
def tiny_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_dir: Path, tiny_dirs):  # type: ignore[no-untyped-def]
    from claims.context import ClaimContext
    from claims.registry import load_all
    from fixtures.models import resolve_model
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    bench = Workbench(RunSettings(1_024, 1_024, 64, "cpu", "float32", 0, probe_small=512))
    ref = resolve_model(str(tiny_dirs["random0"]))
    return ClaimContext(load_all()["E1"], Axis.GT3, str(tiny_dirs["random0"]), ref, None, str(text_dir), bench)


def test_intervention_matches_full_forward_passes_with_a_fixed_neuron(tiny_ctx) -> None:
    """The one-pass readout (final layer) and the last-block replay (penultimate layer) equal re-running the model."""
    from fixtures import hooks

    ctx = tiny_ctx
    neurons = [(1, 7), (0, 5)]
    result = measures.intervention_curves(ctx, ctx.model, neurons, (1, 7))
    model = ctx.workbench.model(ctx.model)
    cap = measures.capture(ctx, ctx.model)
    assert result["n_eval"] == result["n_counted"]  # every counted prediction is in the softmax subset here
    flat = np.flatnonzero(cap.valid.reshape(-1))
    targets = torch.from_numpy(np.roll(cap.tokens, -1, axis=1).reshape(-1)[flat])
    b = model.bridge
    for row, (layer, neuron) in zip(result["neurons"], neurons, strict=True):
        for i, magnitude in enumerate(result["magnitudes"]):
            value = row["sign"] * magnitude
            finals: list[torch.Tensor] = []

            def fix(t, hook, n=neuron, v=value):  # type: ignore[no-untyped-def]
                t[..., n] = v
                return t

            with (
                torch.no_grad(),
                b.hooks(
                    fwd_hooks=[
                        (hooks.hook_name(hooks.MLP_POST, layer), fix),
                        (hooks.LN_FINAL_IN, lambda t, hook, out=finals: out.append(t.detach().clone())),
                    ]
                ),
            ):
                b(torch.from_numpy(cap.tokens), return_type=None)
            resid = torch.cat(finals).reshape(-1, model.d_model)[flat]
            ref = iv.readout_metrics(resid, b.W_U.detach(), probe._maybe_bias(b), targets, cap.kind, cap.eps)
            for metric in METRICS:
                assert row[metric][i] == pytest.approx(float(ref[metric].mean()), rel=2e-4, abs=1e-5), (
                    layer,
                    metric,
                    i,
                )


def test_entropy_claims_without_null_space_are_not_applicable(tiny_ctx) -> None:
    from claims.context import NotApplicable

    with pytest.raises(NotApplicable, match="precondition: an entropy-neuron candidate"):
        entropy.entropy_neuron(tiny_ctx)
    with pytest.raises(NotApplicable, match="precondition: an entropy-neuron candidate"):
        entropy.anti_entropy_neuron(tiny_ctx)


# --- every PASS carries its effect against the control (synthetic measurements through the real checks) ----------


def _run(curves_rows: list[dict[str, list[float]]]) -> dict:
    rows = [{"layer": 1, "neuron": k, "sign": 1.0, "act_p999": 1.0, **r} for k, r in enumerate(curves_rows)]
    return {
        "A": 1.0,
        "magnitudes": [0.0, 0.5, 1.0, 2.0, 3.0],
        "neurons": rows,
        "clean": {m: 1.0 for m in METRICS},
        "n_tokens": 2_048,
        "n_counted": 1_900,
        "n_eval": 256,
        "seconds": 0.0,
    }


@pytest.mark.parametrize("scale", ["full", "small"])
def test_e1_and_e2_passes_carry_their_effects_against_baselines(
    ctx_for, passes_with_effect, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    rng = np.random.default_rng(15)
    base = [
        {"scale": _line(float(s)), "entropy": _line(float(e)), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
        for s, e in rng.normal(0, 0.01, (20, 2))
    ]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    chosen = measures.Candidate((1, 0), "rule", "", (1, 0), {})
    run = measures.EntropyRun(chosen, (1, 0), [(1, k) for k in range(1, 21)], _run([cand, *base]), pd.DataFrame())
    monkeypatch.setattr(entropy, "entropy_run", lambda c: run)
    ctx = ctx_for("E1", scale)
    passes_with_effect(ctx, entropy.entropy_neuron(ctx))

    partner = {"scale": _line(-1.0), "entropy": _line(-1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    monkeypatch.setattr(entropy, "partner_of", lambda c, ref, frame, target: ((0, 3), -0.9, 12))
    monkeypatch.setattr(entropy, "intervention_curves", lambda c, ref, neurons, reference: _run([partner, *base]))
    ctx = ctx_for("E2", scale)
    passes_with_effect(ctx, entropy.anti_entropy_neuron(ctx))
