"""E1, E2, X1, A1-A3 must be able to fail: decisions on inputs built to violate them, and the wiring on tiny models."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from claims.papers.universal_neurons import attention, entropy
from claims.verdict import Axis, Verdict
from engine import interventions as iv

torch.set_num_threads(1)
NOT_PASS = (Verdict.FAIL, Verdict.INCONCLUSIVE)
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
    cand = entropy.select_entropy_candidate(_frame(w_out), _energy(w_out, W_U), 2, "small", E1_SMALL)
    assert cand.neuron is None
    assert "null space" in cand.reason
    assert cand.fallback[0] == 1  # the near-candidate is still a final-layer neuron, for information


def test_a_null_space_neuron_is_selected() -> None:
    g = torch.Generator().manual_seed(1)
    W_U = torch.randn(64, 300, generator=g)
    basis, _ = iv.bottom_singular_basis(W_U, E1_SMALL["bottom_frac"], "LN")
    w_out = torch.randn(2, 50, 64, generator=g) * 0.1
    w_out[1, 7] = basis[:, 0] * 3
    cand = entropy.select_entropy_candidate(_frame(w_out), _energy(w_out, W_U), 2, "small", E1_SMALL)
    assert cand.neuron == (1, 7)


def test_full_rule_needs_both_extreme_norm_and_extreme_vocab_variance() -> None:
    w_out = torch.randn(2, 2000, 8, generator=torch.Generator().manual_seed(2))
    l2 = np.arange(4000, dtype=float)
    vocab_var = np.arange(4000, dtype=float)  # the largest norms have the largest vocab variance
    cand = entropy.select_entropy_candidate(_frame(w_out, l2, vocab_var), np.zeros(4000), 2, "full", E1_FULL)
    assert cand.neuron is None
    vocab_var = vocab_var[::-1].copy()  # now the top-norm neuron also has the lowest vocab variance
    cand = entropy.select_entropy_candidate(_frame(w_out, l2, vocab_var), np.zeros(4000), 2, "full", E1_FULL)
    assert cand.neuron == (1, 1999)


def _curves(cand: dict[str, list[float]], base: list[dict[str, list[float]]]) -> dict:
    return {"magnitudes": [0.0, 0.5, 1.0, 2.0, 3.0], "neurons": [cand, *base]}


def _line(slope: float, start: float = 1.0) -> list[float]:
    return [start + slope * x for x in (0.0, 0.5, 1.0, 2.0, 3.0)]


@pytest.mark.parametrize("scale", ["full", "small"])
def test_candidate_like_its_baselines_fails_e1(scale: str) -> None:
    rng = np.random.default_rng(3)
    rows = [{m: _line(float(rng.normal(0, 0.01))) for m in entropy.METRICS} for _ in range(21)]
    thresholds = E1_FULL if scale == "full" else E1_SMALL
    rows[0] = {m: _line(0.0) for m in entropy.METRICS}  # a neuron with no effect at all
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
    base = [{m: _line(0.001 * (i - 10)) for m in entropy.METRICS} for i in range(20)]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    full, _ = entropy.entropy_decision(_curves(cand, base), "full", E1_FULL)
    assert [p.name[:3] for p in full] == ["(b)", "(b)", "(c)", "(c)", "(d)"]
    small, _ = entropy.entropy_decision(_curves(cand, base), "small", E1_SMALL)
    assert [p.name[:4] for p in small] == ["(ii)", "(ii)"]


def test_candidate_inside_the_baseline_spread_has_no_e1_effect() -> None:
    """Above the baselines' mean but within their spread: the prediction interval includes 0."""
    base = [{m: _line(0.1 * (i - 10)) for m in entropy.METRICS} for i in range(20)]
    cand = {m: _line(0.5) for m in entropy.METRICS}
    effect = entropy.entropy_effect(_curves(cand, base), 0.0)
    assert effect.value > 0
    assert effect.low < 0
    assert not effect.cleared


def test_rank_destroying_neuron_fails_e1_full() -> None:
    base = [{m: _line(0.001 * (i - 10)) for m in entropy.METRICS} for i in range(20)]
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
    base = [{m: _line(float(rng.normal(-0.05, 0.01))) for m in entropy.METRICS} for _ in range(20)]
    like_baselines = {m: _line(-0.05) for m in entropy.METRICS}  # falls, but no more than a random neuron
    assert not entropy.anti_entropy_effect(_curves(like_baselines, base), 0.0).cleared
    partner = {m: _line(-1.0) for m in entropy.METRICS}
    effect = entropy.anti_entropy_effect(_curves(partner, base), 0.0)
    assert effect.cleared
    assert effect.measured == pytest.approx(1.0)  # the reduction, -slope


def test_partner_is_the_most_antipodal_high_norm_neuron() -> None:
    g = torch.Generator().manual_seed(4)
    dirs = {0: torch.randn(40, 8, generator=g), 1: torch.randn(40, 8, generator=g)}
    dirs[0][3] = -dirs[1][5] * 2
    frame = _frame(torch.stack([dirs[0], dirs[1]]))
    frame.loc[(frame.layer == 0) & (frame.neuron == 3), "l2_penalty"] = 1e6
    partner, cos, _ = entropy.select_partner(frame, dirs, (1, 5), 2, 95.0)
    assert partner == (0, 3)
    assert cos == pytest.approx(-1.0)


# --- X1 -----------------------------------------------------------------------------------------------------


def test_random_directions_have_no_antipodal_excess() -> None:
    g = torch.Generator().manual_seed(5)
    dirs = torch.randn(600, 4, generator=g)  # low dimension: random antipodes are common, so the control is too
    layers = np.repeat([0, 1], 300)
    labelled = np.random.default_rng(5).random(600) < 0.2
    stats = entropy.antipodal_ratio(dirs, layers, labelled, -0.5)
    assert stats["pairs"] > 1000
    assert stats["ratio"] < 2.0


def test_antipodal_effect_is_the_labelled_share_minus_the_all_pairs_share() -> None:
    stats = {"pairs": 100, "antipodal": 30, "fraction": 0.3, "control_fraction": 0.01, "control_pairs": 100_000}
    effect = entropy.antipodal_effect(stats, 0.0)
    assert effect.value == pytest.approx(0.29)
    assert effect.cleared
    chance = {"pairs": 100, "antipodal": 1, "fraction": 0.01, "control_fraction": 0.01, "control_pairs": 100_000}
    assert not entropy.antipodal_effect(chance, 0.0).cleared


def test_constructed_antipodal_pairs_are_found() -> None:
    g = torch.Generator().manual_seed(6)
    dirs = torch.randn(400, 32, generator=g)
    dirs[1:20:2] = -dirs[0:19:2] + 0.05 * torch.randn(10, 32, generator=g)
    labelled = np.zeros(400, dtype=bool)
    labelled[:20] = True
    stats = entropy.antipodal_ratio(dirs, np.zeros(400, dtype=int), labelled, -0.5)
    assert stats["antipodal"] >= 10
    assert stats["ratio"] > 5


# --- A1-A3 --------------------------------------------------------------------------------------------------


def test_off_switch_parts() -> None:
    small = dict(attention.bos_off_switch.claim.criterion.thresholds("small"))

    def holds(median: float, controls: list[float]) -> bool:
        return all(p.passed for p in attention.off_switch_parts(median, controls, "small", small))

    assert not holds(0.9, [1.0])
    assert not holds(0.3, [0.2])  # not below the untrained
    assert not holds(0.3, [])  # no control: the clause cannot hold (the claim reports INCONCLUSIVE)
    assert holds(0.3, [1.0])


def test_off_switch_effect_needs_trained_heads_quieter_than_untrained() -> None:
    rng = np.random.default_rng(9)
    untrained = [np.exp(rng.normal(0, 0.1, (4, 6))) for _ in range(2)]  # ratios near 1
    same = np.exp(rng.normal(0, 0.1, (4, 6)))
    assert not attention.off_switch_effect(same, untrained, 0, 0.0).cleared
    quiet = np.exp(rng.normal(np.log(0.3), 0.3, (4, 6)))
    effect = attention.off_switch_effect(quiet, untrained, 0, 0.0)
    assert effect.cleared
    assert effect.value == pytest.approx(-np.log10(0.3), abs=0.15)
    assert not math.isfinite(attention.off_switch_effect(quiet, [], 0, 0.0).low)  # no control: nothing clears


@pytest.mark.parametrize("scale", ["full", "small"])
def test_heuristic_distributed_like_random_fails_a2(scale: str) -> None:
    rng = np.random.default_rng(7)
    thresholds = dict(attention.bos_heuristic_tails.claim.criterion.thresholds(scale))
    real, random = rng.normal(size=200_000), rng.normal(size=200_000)
    assert not all(p.passed for p in attention.tail_decision(real, random, scale, thresholds)[0])
    heavy = rng.standard_t(2, size=200_000)
    assert all(p.passed for p in attention.tail_decision(heavy, random, scale, thresholds)[0])


def _scores(values: np.ndarray) -> np.ndarray:
    """[L=2, d_mlp, L=2, H=2] scores with NaN where the head is not later (only layer 0 -> layer 1 is finite)."""
    out = np.full((2, len(values) // 2, 2, 2), np.nan)
    out[0, :, 1, :] = values.reshape(-1, 2)
    return out


def test_tail_effect_interval_excludes_one_only_for_heavier_real_tails() -> None:
    rng = np.random.default_rng(10)
    random = _scores(rng.normal(size=40_000))
    same = attention.tail_effect(_scores(rng.normal(size=40_000)), random, 0.999, 0, 1.0)
    assert same.low < 1.0 < same.high
    assert not same.cleared
    heavy = attention.tail_effect(_scores(rng.standard_t(2, size=40_000)), random, 0.999, 0, 1.0)
    assert heavy.cleared
    assert heavy.scale == "ratio"


def test_ablation_pairs_pick_the_best_neuron_per_head() -> None:
    real = np.full((3, 4, 3, 2), np.nan)
    real[0, :, 1:, :] = 0.1
    real[1, :, 2:, :] = 0.1
    real[0, 2, 1, 0] = -5.0
    real[1, 3, 2, 1] = 4.0
    top, rand = attention.ablation_pairs(real, 2, 3, seed=0)
    assert top == [(0, 2, 1, 0), (1, 3, 2, 1)]
    assert all(p[0] < p[2] for p in rand)
    assert len(rand) == 3


def test_path_ablation_decision_fails_on_wrong_signs_and_correlated_random_pairs() -> None:
    small = dict(attention.path_ablation_claim.claim.criterion.thresholds("small"))
    full = dict(attention.path_ablation_claim.claim.criterion.thresholds("full"))

    def holds(top: list, rand: list, scale: str) -> bool:
        th = small if scale == "small" else full
        return all(p.passed for p in attention.path_decision(top, rand, scale, th)[0])

    good = [{"h": 1.0, "rho_act": 0.9, "rho_norm": -0.9}] * 10
    quiet = [{"rho_act": 0.01}] * 10
    assert holds(good, quiet, "small")
    assert holds(good, quiet, "full")
    flipped = [{"h": -1.0, "rho_act": 0.9, "rho_norm": -0.9}] * 10
    assert not holds(flipped, quiet, "small")
    assert not holds(flipped, quiet, "full")
    loud = [{"rho_act": 0.8}] * 10
    assert not holds(good, loud, "small")
    assert not holds(good, loud, "full")
    assert not holds(good[:5], quiet, "full")  # fewer than 10 heads


def test_path_effect_compares_top_pairs_with_random_pairs() -> None:
    rng = np.random.default_rng(11)
    top = [{"h": 1.0, "rho_act": float(r)} for r in rng.uniform(0.7, 0.95, 10)]
    quiet = [{"rho_act": float(r)} for r in rng.normal(0, 0.05, 10)]
    assert attention.path_effect(top, quiet, 0.2).cleared
    loud = [{"rho_act": float(r)} for r in rng.uniform(-0.95, -0.7, 10)]  # random pairs correlate just as much
    assert not attention.path_effect(top, loud, 0.2).cleared


# --- wiring on real tiny models -----------------------------------------------------------------------------


def test_random_init_has_no_heavy_heuristic_tail(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A2", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=512)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.key.value < 1.5


def test_random_init_has_no_bos_off_switch(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A1", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=2_048)
    assert evidence.verdict in NOT_PASS
    assert evidence.key.value > 0.5


def test_x1_without_prediction_neurons_is_not_applicable(run_claim, tiny_dirs) -> None:
    evidence = run_claim("X1", str(tiny_dirs["random0"]), tokens=2_048)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith("precondition: prediction neurons by P1's rule")


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
    result = entropy.intervention_curves(ctx, ctx.model, neurons, (1, 7))
    model = ctx.workbench.model(ctx.model)
    cap = entropy.capture(ctx, ctx.model)
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
            ref = iv.readout_metrics(resid, b.W_U.detach(), entropy._maybe_bias(b), targets, cap.kind, cap.eps)
            for metric in entropy.METRICS:
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


@pytest.fixture
def ctx_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_dir: Path, tiny_dirs):  # type: ignore[no-untyped-def]
    """A context for a claim on the tiny random model (measurements are monkeypatched per test)."""
    import dataclasses

    from claims.context import ClaimContext
    from claims.registry import load_all
    from fixtures.models import resolve_model
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    bench = Workbench(RunSettings(2_048, 2_048, 64, "cpu", "float32", 0))

    def make(claim_id: str, scale: str = "small", model: Path | None = None) -> ClaimContext:
        folder = str(model or tiny_dirs["random0"])
        ref = dataclasses.replace(resolve_model(folder), scale=scale)
        axis = Axis.GT3 if claim_id[0] in "AE" else Axis.GT1
        return ClaimContext(load_all()[claim_id], axis, folder, ref, None, str(text_dir), bench)

    return make


def _passes_with_effect(ctx, evidence) -> None:  # type: ignore[no-untyped-def]
    from claims.runner import _check_numbers

    assert evidence.verdict is Verdict.PASS, evidence.reason
    assert evidence.effect is not None
    assert evidence.effect.cleared
    assert evidence.parts[-1].name == f"95 % low of {evidence.effect.name}"
    assert len(evidence.parts) >= 2  # the point clauses are reported too
    _check_numbers(ctx.claim, evidence)  # the runner accepts it


def _controls(monkeypatch: pytest.MonkeyPatch, ctx, names: list[str]):  # type: ignore[no-untyped-def]
    import dataclasses

    from claims.context import ClaimContext

    refs = tuple(dataclasses.replace(ctx.model, name=n, trained=False) for n in names)
    monkeypatch.setattr(ClaimContext, "untrained_controls", lambda self: refs)
    return refs


@pytest.mark.parametrize("scale", ["full", "small"])
def test_a1_pass_carries_its_effect_against_untrained(ctx_for, monkeypatch: pytest.MonkeyPatch, scale: str) -> None:
    ctx = ctx_for("A1", scale)
    rng = np.random.default_rng(12)
    ratios = {ctx.model.name: np.exp(rng.normal(np.log(0.05), 0.3, (4, 4)))}
    for name in ("init-1", "init-2"):
        ratios[name] = np.exp(rng.normal(0, 0.1, (4, 4)))
    monkeypatch.setattr(
        attention, "value_norms", lambda c, ref: {"ratio": ratios[ref.name], "n_tokens": 4_096, "n_other": 4_000}
    )
    _controls(monkeypatch, ctx, ["init-1", "init-2"])
    _passes_with_effect(ctx, attention.bos_off_switch(ctx))
    ratios[ctx.model.name] = np.exp(rng.normal(0, 0.1, (4, 4)))  # like the initialisations
    assert attention.bos_off_switch(ctx).verdict is Verdict.FAIL


def test_a1_without_untrained_control_is_inconclusive(ctx_for, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ctx_for("A1", "full")
    quiet = np.full((4, 4), 0.05)
    monkeypatch.setattr(attention, "value_norms", lambda c, ref: {"ratio": quiet, "n_tokens": 4_096, "n_other": 4_000})
    _controls(monkeypatch, ctx, [])
    evidence = attention.bos_off_switch(ctx)
    assert evidence.verdict is Verdict.INCONCLUSIVE
    assert "no untrained initialisation" in evidence.reason


@pytest.mark.parametrize("scale", ["full", "small"])
def test_a2_pass_carries_its_effect_against_random_directions(
    ctx_for, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    ctx = ctx_for("A2", scale)
    rng = np.random.default_rng(13)
    real, random = _scores(rng.standard_t(1.5, size=200_000)), _scores(rng.normal(size=200_000))
    scores = {"real": real, "random": random[np.isfinite(random)], "random_full": random, "k_bos_norm": np.ones((2, 4))}
    monkeypatch.setattr(attention, "heuristic_scores", lambda c, ref: scores)
    _passes_with_effect(ctx, attention.bos_heuristic_tails(ctx))


def test_a2_on_a_single_layer_is_not_applicable(ctx_for, monkeypatch: pytest.MonkeyPatch) -> None:
    from claims.context import NotApplicable

    ctx = ctx_for("A2")
    nan = np.full((1, 8, 1, 2), np.nan)
    scores = {"real": nan, "random": np.array([]), "random_full": nan, "k_bos_norm": np.ones((1, 2))}
    monkeypatch.setattr(attention, "heuristic_scores", lambda c, ref: scores)
    with pytest.raises(NotApplicable, match="precondition: an attention layer after an MLP layer"):
        attention.bos_heuristic_tails(ctx)


@pytest.mark.parametrize("scale", ["full", "small"])
def test_a3_pass_carries_its_effect_against_random_pairs(ctx_for, monkeypatch: pytest.MonkeyPatch, scale: str) -> None:
    ctx = ctx_for("A3", scale)
    rng = np.random.default_rng(14)
    real = np.full((2, 40, 2, 10), np.nan)
    real[0, :, 1, :] = rng.normal(0, 0.1, (40, 10))
    real[0, :10, 1, :] += np.eye(10) * 5  # head k's best neuron is neuron k
    monkeypatch.setattr(attention, "heuristic_scores", lambda c, ref: {"real": real, "random": rng.normal(size=100)})

    def ablation(c, ref, pairs):  # type: ignore[no-untyped-def]
        out = []
        for k, pair in enumerate(pairs):
            act = rng.normal(size=500)
            noise = rng.normal(size=500)
            delta = (0.5 * act + 0.1 * noise) if k < 10 else noise  # top pairs respond, random pairs do not
            out.append({"pair": list(pair), "act": act, "delta_bos": delta, "delta_norm": -delta + 0.1 * noise})
        return {"pairs": out, "n_tokens": 2_048, "seconds": 0.0}

    monkeypatch.setattr(attention, "path_ablation", ablation)
    _passes_with_effect(ctx, attention.path_ablation_claim(ctx))


def _run(curves_rows: list[dict[str, list[float]]]) -> dict:
    rows = [{"layer": 1, "neuron": k, "sign": 1.0, "act_p999": 1.0, **r} for k, r in enumerate(curves_rows)]
    return {
        "A": 1.0,
        "magnitudes": [0.0, 0.5, 1.0, 2.0, 3.0],
        "neurons": rows,
        "clean": {m: 1.0 for m in entropy.METRICS},
        "n_tokens": 2_048,
        "n_counted": 1_900,
        "n_eval": 256,
        "seconds": 0.0,
    }


@pytest.mark.parametrize("scale", ["full", "small"])
def test_e1_and_e2_passes_carry_their_effects_against_baselines(
    ctx_for, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    rng = np.random.default_rng(15)
    base = [
        {"scale": _line(float(s)), "entropy": _line(float(e)), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
        for s, e in rng.normal(0, 0.01, (20, 2))
    ]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    chosen = entropy.Candidate((1, 0), "rule", "", (1, 0), {})
    run = entropy.EntropyRun(chosen, (1, 0), [(1, k) for k in range(1, 21)], _run([cand, *base]), pd.DataFrame())
    monkeypatch.setattr(entropy, "entropy_run", lambda c: run)
    ctx = ctx_for("E1", scale)
    _passes_with_effect(ctx, entropy.entropy_neuron(ctx))

    partner = {"scale": _line(-1.0), "entropy": _line(-1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    monkeypatch.setattr(entropy, "partner_of", lambda c, ref, frame, target: ((0, 3), -0.9, 12))
    monkeypatch.setattr(entropy, "intervention_curves", lambda c, ref, neurons, reference: _run([partner, *base]))
    ctx = ctx_for("E2", scale)
    _passes_with_effect(ctx, entropy.anti_entropy_neuron(ctx))


@pytest.fixture
def antipodal_dir(tiny_dirs, tmp_path: Path) -> Path:
    """random0 with 10 exactly antipodal pairs among the first 20 neurons of layer 1."""
    from transformers import GPT2LMHeadModel

    from zoo.train import load_tokenizer

    model = GPT2LMHeadModel.from_pretrained(tiny_dirs["random0"])
    block: Any = model.transformer.h[1]
    with torch.no_grad():
        proj = block.mlp.c_proj.weight  # [d_mlp, d_model]
        proj[1:20:2] = -proj[0:19:2]
    model.save_pretrained(tmp_path / "antipodal")
    load_tokenizer().save_pretrained(tmp_path / "antipodal")
    return tmp_path / "antipodal"


def test_x1_pass_carries_its_effect_against_all_same_layer_pairs(
    ctx_for, antipodal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claims.papers.universal_neurons.measures import prediction

    ctx = ctx_for("X1", "small", antipodal_dir)
    n = 2 * 256
    labelled = np.zeros(n, dtype=bool)
    labelled[256:276] = True  # layer 1, neurons 0-19
    frame = pd.DataFrame(
        {
            "layer": np.repeat([0, 1], 256),
            "neuron": np.tile(np.arange(256), 2),
            "vocab_kurt": np.where(labelled, 20.0, 0.5),
            "vocab_skew_effective": np.where(np.arange(n) % 2 == 0, 1.0, -1.0),
            "activation_sign": np.ones(n),
        }
    )
    monkeypatch.setattr(prediction, "vocab_frame", lambda c, ref: frame)
    _passes_with_effect(ctx, entropy.antipodal_pairs(ctx))
