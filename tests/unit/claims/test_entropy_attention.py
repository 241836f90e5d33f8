"""E1, E2, X1, A1-A3 must be able to fail: decisions on inputs built to violate them, and the wiring on tiny models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from claims.lib import interventions as iv
from claims.papers.universal_neurons import attention, entropy
from claims.verdict import Axis, Verdict

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
    passed, _ = entropy.entropy_decision(_curves(rows[0], rows[1:]), scale, thresholds)
    assert not passed
    rows[0] = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(0.0, 0.5), "loss": _line(0.0)}
    passed, details = entropy.entropy_decision(_curves(rows[0], rows[1:]), scale, thresholds)
    assert passed, details


def test_rank_destroying_neuron_fails_e1_full() -> None:
    base = [{m: _line(0.001 * (i - 10)) for m in entropy.METRICS} for i in range(20)]
    cand = {"scale": _line(1.0), "entropy": _line(1.0), "rr": _line(-0.1, 0.5), "loss": _line(0.0)}
    passed, details = entropy.entropy_decision(_curves(cand, base), "full", E1_FULL)
    assert not passed
    assert not details["checks"]["d_ranks"]


# --- E2 -----------------------------------------------------------------------------------------------------


def test_anti_entropy_needs_antipodal_weights_and_falling_entropy() -> None:
    th_full = dict(entropy.anti_entropy_neuron.claim.criterion.thresholds("full"))
    assert not entropy.anti_entropy_decision(-0.2, {"scale": -1.0, "entropy": -1.0}, "full", th_full)[0]
    assert not entropy.anti_entropy_decision(-0.9, {"scale": -1.0, "entropy": 0.1}, "full", th_full)[0]
    assert not entropy.anti_entropy_decision(-0.9, {"scale": 0.1, "entropy": -1.0}, "full", th_full)[0]
    assert entropy.anti_entropy_decision(-0.9, {"scale": -1.0, "entropy": -1.0}, "full", th_full)[0]


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


def test_off_switch_decision() -> None:
    small = dict(attention.bos_off_switch.claim.criterion.thresholds("small"))
    assert attention.off_switch_decision(0.9, [1.0], "small", small) == (False, None)
    assert attention.off_switch_decision(0.3, [0.2], "small", small) == (False, None)  # not below the untrained
    assert attention.off_switch_decision(0.3, [], "small", small)[1] == "no untrained control to compare with"
    assert attention.off_switch_decision(0.3, [1.0], "small", small) == (True, None)


@pytest.mark.parametrize("scale", ["full", "small"])
def test_heuristic_distributed_like_random_fails_a2(scale: str) -> None:
    rng = np.random.default_rng(7)
    thresholds = dict(attention.bos_heuristic_tails.claim.criterion.thresholds(scale))
    real, random = rng.normal(size=200_000), rng.normal(size=200_000)
    assert not attention.tail_decision(real, random, scale, thresholds)[0]
    heavy = rng.standard_t(2, size=200_000)
    assert attention.tail_decision(heavy, random, scale, thresholds)[0]


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
    good = [{"h": 1.0, "rho_act": 0.9, "rho_norm": -0.9}] * 10
    quiet = [{"rho_act": 0.01}] * 10
    assert attention.path_decision(good, quiet, "small", small)[0]
    assert attention.path_decision(good, quiet, "full", full)[0]
    flipped = [{"h": -1.0, "rho_act": 0.9, "rho_norm": -0.9}] * 10
    assert not attention.path_decision(flipped, quiet, "small", small)[0]
    assert not attention.path_decision(flipped, quiet, "full", full)[0]
    loud = [{"rho_act": 0.8}] * 10
    assert not attention.path_decision(good, loud, "small", small)[0]
    assert not attention.path_decision(good, loud, "full", full)[0]
    assert not attention.path_decision(good[:5], quiet, "full", full)[0]  # fewer than 10 heads


# --- wiring on real tiny models -----------------------------------------------------------------------------


def test_random_init_has_no_heavy_heuristic_tail(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A2", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=512)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.key.value < 1.5


def test_random_init_has_no_bos_off_switch(run_claim, tiny_dirs) -> None:
    evidence = run_claim("A1", str(tiny_dirs["random0"]), axis=Axis.GT3, tokens=2_048)
    assert evidence.verdict in NOT_PASS
    assert evidence.key.value > 0.5


def test_random_init_has_no_antipodal_functional_pairs(run_claim, tiny_dirs) -> None:
    assert run_claim("X1", str(tiny_dirs["random0"]), tokens=2_048).verdict in NOT_PASS


@pytest.fixture
def tiny_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_dir: Path, tiny_dirs):  # type: ignore[no-untyped-def]
    from claims.context import ClaimContext
    from claims.registry import load_all
    from fixtures.models import resolve_model
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(entropy.TOKENS, "small", 512)
    bench = Workbench(RunSettings(1_024, 1_024, 64, "cpu", "float32", 0))
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


def test_entropy_claim_without_null_space_is_inconclusive(tiny_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entropy, "N_BASELINES", 3)
    monkeypatch.setitem(entropy.TOKENS, "small", 1_024)  # the claim's min_tokens
    evidence = entropy.entropy_neuron(tiny_ctx)
    assert evidence.verdict is Verdict.INCONCLUSIVE
    assert "no entropy-neuron candidate" in evidence.reason
    assert math.isfinite(evidence.key.value)
