"""A1-A3 must be able to fail: decisions on inputs built to violate them, and the wiring on tiny models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from claims.papers.universal_neurons import ablation, attention
from claims.papers.universal_neurons.measures import attention as measures
from claims.verdict import Axis, Verdict

torch.set_num_threads(1)
NOT_PASS = (Verdict.FAIL, Verdict.INCONCLUSIVE)


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
    top, rand = measures.ablation_pairs(real, 2, 3, seed=0)
    assert top == [(0, 2, 1, 0), (1, 3, 2, 1)]
    assert all(p[0] < p[2] for p in rand)
    assert len(rand) == 3


def test_path_ablation_decision_fails_on_wrong_signs_and_correlated_random_pairs() -> None:
    small = dict(ablation.path_ablation_claim.claim.criterion.thresholds("small"))
    full = dict(ablation.path_ablation_claim.claim.criterion.thresholds("full"))

    def holds(top: list, rand: list, scale: str) -> bool:
        th = small if scale == "small" else full
        return all(p.passed for p in ablation.path_decision(top, rand, scale, th)[0])

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
    assert ablation.path_effect(top, quiet, 0.2).cleared
    loud = [{"rho_act": float(r)} for r in rng.uniform(-0.95, -0.7, 10)]  # random pairs correlate just as much
    assert not ablation.path_effect(top, loud, 0.2).cleared


# --- wiring on real tiny models -----------------------------------------------------------------------------


def test_random_init_has_no_heavy_heuristic_tail(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A2", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=512)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.key.value < 1.5


def test_random_init_has_no_bos_off_switch(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A1", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=2_048)
    assert evidence.verdict in NOT_PASS
    assert evidence.key.value > 0.5


# --- every PASS carries its effect against the control (synthetic measurements through the real checks) ----------


def _controls(monkeypatch: pytest.MonkeyPatch, ctx, names: list[str]):  # type: ignore[no-untyped-def]
    import dataclasses

    from claims.context import ClaimContext

    refs = tuple(dataclasses.replace(ctx.model, name=n, trained=False) for n in names)
    monkeypatch.setattr(ClaimContext, "untrained_controls", lambda self: refs)
    return refs


@pytest.mark.parametrize("scale", ["full", "small"])
def test_a1_pass_carries_its_effect_against_untrained(
    ctx_for, passes_with_effect, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    ctx = ctx_for("A1", scale)
    rng = np.random.default_rng(12)
    ratios = {ctx.model.name: np.exp(rng.normal(np.log(0.05), 0.3, (4, 4)))}
    for name in ("init-1", "init-2"):
        ratios[name] = np.exp(rng.normal(0, 0.1, (4, 4)))
    monkeypatch.setattr(
        attention, "value_norms", lambda c, ref: {"ratio": ratios[ref.name], "n_tokens": 4_096, "n_other": 4_000}
    )
    _controls(monkeypatch, ctx, ["init-1", "init-2"])
    passes_with_effect(ctx, attention.bos_off_switch(ctx))
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
    ctx_for, passes_with_effect, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    ctx = ctx_for("A2", scale)
    rng = np.random.default_rng(13)
    real, random = _scores(rng.standard_t(1.5, size=200_000)), _scores(rng.normal(size=200_000))
    scores = {"real": real, "random": random[np.isfinite(random)], "random_full": random, "k_bos_norm": np.ones((2, 4))}
    monkeypatch.setattr(attention, "heuristic_scores", lambda c, ref: scores)
    passes_with_effect(ctx, attention.bos_heuristic_tails(ctx))


def test_a2_on_a_single_layer_is_not_applicable(ctx_for, monkeypatch: pytest.MonkeyPatch) -> None:
    from claims.context import NotApplicable

    ctx = ctx_for("A2")
    nan = np.full((1, 8, 1, 2), np.nan)
    scores = {"real": nan, "random": np.array([]), "random_full": nan, "k_bos_norm": np.ones((1, 2))}
    monkeypatch.setattr(attention, "heuristic_scores", lambda c, ref: scores)
    with pytest.raises(NotApplicable, match="precondition: an attention layer after an MLP layer"):
        attention.bos_heuristic_tails(ctx)


@pytest.mark.parametrize("scale", ["full", "small"])
def test_a3_pass_carries_its_effect_against_random_pairs(
    ctx_for, passes_with_effect, monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    ctx = ctx_for("A3", scale)
    rng = np.random.default_rng(14)
    real = np.full((2, 40, 2, 10), np.nan)
    real[0, :, 1, :] = rng.normal(0, 0.1, (40, 10))
    real[0, :10, 1, :] += np.eye(10) * 5  # head k's best neuron is neuron k
    monkeypatch.setattr(ablation, "heuristic_scores", lambda c, ref: {"real": real, "random": rng.normal(size=100)})

    def fake_ablation(c, ref, pairs):  # type: ignore[no-untyped-def]
        out = []
        for k, pair in enumerate(pairs):
            act = rng.normal(size=500)
            noise = rng.normal(size=500)
            delta = (0.5 * act + 0.1 * noise) if k < 10 else noise  # top pairs respond, random pairs do not
            out.append({"pair": list(pair), "act": act, "delta_bos": delta, "delta_norm": -delta + 0.1 * noise})
        return {"pairs": out, "n_tokens": 2_048, "seconds": 0.0}

    monkeypatch.setattr(ablation, "path_ablation", fake_ablation)
    passes_with_effect(ctx, ablation.path_ablation_claim(ctx))
