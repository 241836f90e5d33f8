"""The family checks decided against their untrained control, and the family claims' declarations."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from family_tables import D_MLP, KINDS, LAYER, N_LAYERS, NAMES, column, random_vr, universal_in

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.families import Subject, Subjects, share_effect
from claims.papers.universal_neurons.measures.family_features import FeatureVR
from claims.registry import load_all
from claims.verdict import Axis, Verdict
from fixtures.models import ModelRef


def _fake_vr(vr: np.ndarray, n_layers: int) -> FeatureVR:
    return FeatureVR(
        names=NAMES,
        kinds=KINDS,
        vr=vr,
        positives=np.full(len(NAMES), 1000),
        n_positions=50_000,
        n_layers=n_layers,
        d_mlp=len(vr) // n_layers,
        unigram_min_count=10,
    )


def _run_check(
    monkeypatch: pytest.MonkeyPatch,
    claim_id: str,
    trained: tuple[np.ndarray, np.ndarray],
    control: tuple[np.ndarray, np.ndarray] | None,
    n_layers: int,
):  # type: ignore[no-untyped-def]
    """Run a family check on synthetic VR tables: (vr, universal) of the trained model and of its control."""
    ref = ModelRef("fake", "local", "/nonexistent", scale="small")
    subject = Subject("trained", ref, np.zeros(len(trained[1])), trained[1], "test rule")
    ctrl = None if control is None else Subject("untrained control", ref, np.zeros(len(control[1])), control[1], "r")
    # The check looks these names up in its own claim module (family_unigram.py, ...): patch them there. A module
    # that did not look one up would make setattr raise, so a patch cannot silently miss.
    module = sys.modules[load_all()[claim_id].check.__module__]
    monkeypatch.setattr(module, "subjects", lambda ctx: Subjects(subject, ctrl, subject))
    monkeypatch.setattr(module, "feature_vr", lambda ctx, r, neurons=None: _fake_vr(trained[0], n_layers))
    if control is not None:
        monkeypatch.setattr(module, "control_vr", lambda ctx, c: _fake_vr(control[0], n_layers))
    bench = SimpleNamespace(settings=SimpleNamespace(seed=0))
    ctx = ClaimContext(load_all()[claim_id], Axis.ORIGINAL, "fake", ref, None, "sotu", bench)  # type: ignore[arg-type]
    return load_all()[claim_id].check(ctx)


def _unigram_model(strength: float) -> tuple[np.ndarray, np.ndarray]:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[universal & (LAYER <= 1), column("unigram_the")] = strength
    return vr, universal


def test_unigram_neurons_beyond_the_control_pass_with_their_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _run_check(monkeypatch, "F1", _unigram_model(0.9), _unigram_model(0.05), N_LAYERS)
    assert (evidence.verdict, evidence.effect is not None and evidence.effect.cleared) == (Verdict.PASS, True)


def test_unigram_neurons_the_control_has_too_do_not_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _run_check(monkeypatch, "F1", _unigram_model(0.9), _unigram_model(0.9), N_LAYERS)
    assert evidence.verdict is Verdict.FAIL


def test_unigram_neurons_without_a_control_are_inconclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _run_check(monkeypatch, "F1", _unigram_model(0.9), None, N_LAYERS)
    assert evidence.verdict is Verdict.INCONCLUSIVE


def test_every_clause_of_unigram_neurons_is_a_part(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _run_check(monkeypatch, "F1", _unigram_model(0.9), _unigram_model(0.05), N_LAYERS)
    assert len(evidence.parts) == 3  # count, layer-0 > last layer, the effect


def test_a_single_layer_model_gives_previous_token_neurons_not_applicable(monkeypatch: pytest.MonkeyPatch) -> None:
    vr, universal = random_vr(n_neurons=D_MLP), np.ones(D_MLP, dtype=bool)
    with pytest.raises(NotApplicable, match="precondition"):
        _run_check(monkeypatch, "F3", (vr, universal), (vr, universal), 1)


def _interpretable_model(gap: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    layer = np.repeat(np.arange(4), 200)
    universal = rng.random(len(layer)) < 0.1
    vr = rng.uniform(0, 0.2, (len(layer), len(NAMES)))
    vr[universal, column("unigram_on")] += gap
    return vr, universal


def test_universal_neurons_more_interpretable_than_the_controls_pass_with_their_effect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evidence = _run_check(monkeypatch, "F7", _interpretable_model(0.4), _interpretable_model(0.0, seed=1), 4)
    assert (evidence.verdict, evidence.effect is not None and evidence.effect.cleared) == (Verdict.PASS, True)


def test_an_interpretability_gap_the_control_shows_too_does_not_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    evidence = _run_check(monkeypatch, "F7", _interpretable_model(0.4), _interpretable_model(0.4, seed=1), 4)
    assert evidence.verdict is Verdict.FAIL


def test_share_effect_of_equal_shares_does_not_clear_zero() -> None:
    assert not share_effect("x", (5, 50), (5, 50), 0.0, "neurons").cleared


def test_share_effect_of_a_share_the_control_lacks_clears_zero() -> None:
    assert share_effect("x", (20, 50), (0, 50), 0.0, "neurons").cleared


@pytest.mark.parametrize("claim_id", ["F1", "F2", "F3", "F4", "F5", "F6", "F7"])
def test_family_criteria_state_the_effect_against_the_untrained_control(claim_id: str) -> None:
    item = load_all()[claim_id]
    for scale in ("small", "full"):
        assert "trained - untrained control" in item.criterion.text(scale)
        assert "min_effect" in item.criterion.thresholds(scale)


@pytest.mark.parametrize("claim_id", ["F1", "F2", "F3", "F4", "F5", "F6", "F7"])
def test_family_claims_declare_a_control_and_both_scales(claim_id: str) -> None:
    item = load_all()[claim_id]
    assert item.needs.untrained_control
    assert item.needs.seeds == 2
    assert item.criterion.text("full") != ""
    assert item.criterion.text("small") != ""
    assert item.min_tokens > 0
