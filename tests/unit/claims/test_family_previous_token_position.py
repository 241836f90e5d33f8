"""F3 previous-token and F4 position neurons: clauses, preconditions, the rotary negative control."""

from __future__ import annotations

import json

import numpy as np
import pytest
from family_tables import D_MLP, KINDS, LAYER, column, random_vr, thresholds, universal_in

from claims.papers.universal_neurons.family_position import negative_control, position_passes, positional_embedding
from claims.papers.universal_neurons.family_previous_token import (
    previous_token_passes,
    previous_token_precondition,
    previous_token_share,
    previous_token_vr,
)
from claims.papers.universal_neurons.measures.family_features import position_candidates
from claims.verdict import Effect
from engine import features as F
from fixtures.models import ModelRef


def _f3(vr: np.ndarray, universal: np.ndarray, scale: str = "small", layer: np.ndarray = LAYER) -> bool:
    prev, _, cur = previous_token_vr(vr, KINDS)
    n_layers = int(layer.max()) + 1
    return previous_token_passes(prev, cur, layer, universal, n_layers, scale, thresholds("F3", scale))[0]


def test_neurons_better_explained_by_the_current_token_fail() -> None:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[universal, column("prev_contains_comma")] = 0.5
    vr[universal, column("unigram_the")] = 0.7
    assert not _f3(vr, universal)


def test_previous_token_neurons_only_in_layer_zero_fail() -> None:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[universal & (LAYER == 0), column("prev_unigram_on")] = 0.6
    assert not _f3(vr, universal)


def test_previous_token_neuron_in_layer_one_passes() -> None:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[np.flatnonzero(universal & (LAYER == 1))[0], column("prev_contains_comma")] = 0.6
    assert _f3(vr, universal)


def test_previous_token_neurons_deep_in_the_network_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), D_MLP)
    vr = random_vr(n_neurons=len(layer))
    universal = universal_in(list(range(24)), layer=layer)
    vr[universal & (layer >= 18), column("prev_contains_comma")] = 0.8
    assert not _f3(vr, universal, "full", layer)


def test_previous_token_neurons_in_the_first_third_pass_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), D_MLP)
    vr = random_vr(n_neurons=len(layer))
    universal = universal_in(list(range(24)), per_layer=2, layer=layer) | (layer == 5)
    vr[universal, column("prev_contains_comma")] = 0.3
    vr[universal & (layer == 5), column("prev_unigram_on")] = 0.8
    assert _f3(vr, universal, "full", layer)
    vr[universal & (layer == 5), column("unigram_on")] = 0.9  # explained better by the current token
    assert not _f3(vr, universal, "full", layer)


def test_a_single_layer_model_is_not_applicable_for_previous_token_neurons() -> None:
    assert "precondition" in (previous_token_precondition(1, "small") or "")


def test_too_few_layers_for_a_first_third_without_layer_zero_is_not_applicable_at_full_scale() -> None:
    assert "first third of depth" in (previous_token_precondition(3, "full") or "")


def test_four_layers_hold_a_first_third_without_layer_zero() -> None:
    assert previous_token_precondition(4, "full") is None


def test_previous_token_share_counts_universal_neurons_past_layer_zero() -> None:
    prev = np.array([0.5, 0.5, 0.1, 0.6])
    cur = np.array([0.1, 0.1, 0.0, 0.7])
    layer = np.array([0, 1, 1, 2])
    assert previous_token_share(prev, cur, layer, np.ones(4, dtype=bool), 0.3) == (1, 3)


def _position_stats(firing: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict[int, float], dict[int, float]]:
    keep = np.ones(firing.shape[:2], dtype=bool)
    keep[:, 0] = False
    mi = F.position_mutual_information(firing, keep)
    null = F.shuffled_position_mi(firing, keep, n_perm=199, seed=seed)
    p = {k: float((1 + np.sum(null[:, k] >= mi[k] - 1e-12)) / 200) for k in range(len(mi))}
    q99 = {k: float(np.quantile(null[:, k], 0.99)) for k in range(len(mi))}
    return mi, p, q99


def test_position_independent_firing_fails() -> None:
    rng = np.random.default_rng(3)
    firing = rng.random((300, 32, 4)) < 0.3
    mi, p, q99 = _position_stats(firing)
    layer = np.array([0, 0, 1, 1])
    passed, found, _ = position_passes(mi, p, q99, layer, np.ones(4, dtype=bool), 4, "small", thresholds("F4"))
    assert not passed
    assert found == 0


def test_position_neuron_in_the_first_layer_passes() -> None:
    rng = np.random.default_rng(3)
    firing = rng.random((300, 32, 2)) < 0.3
    firing[:, :, 0] = rng.random((300, 32)) < np.linspace(0.1, 0.6, 32)
    mi, p, q99 = _position_stats(firing)
    t = thresholds("F4")
    assert position_passes(mi, p, q99, np.array([0, 3]), np.ones(2, dtype=bool), 4, "small", t)[0]
    assert not position_passes(mi, p, q99, np.array([3, 0]), np.ones(2, dtype=bool), 4, "small", t)[0]


def test_position_neurons_in_late_layers_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(12), 5)
    mi = np.where(layer >= 6, 0.5, 0.01)
    p = dict.fromkeys(range(len(mi)), 0.005)
    q99 = dict.fromkeys(range(len(mi)), 0.001)
    universal = np.ones(len(mi), dtype=bool)
    t = thresholds("F4", "full")
    assert not position_passes(mi, p, q99, layer, universal, 12, "full", t)[0]
    assert position_passes(np.where(layer <= 2, 0.5, 0.01), p, q99, layer, universal, 12, "full", t)[0]


def test_position_candidates_cover_every_first_half_universal_neuron() -> None:
    layer = np.repeat(np.arange(4), 50)
    mi = np.where(layer >= 2, 1.0, 0.0) + np.random.default_rng(0).random(200) * 0.01
    cands, sample = position_candidates(mi, np.ones(200, dtype=bool), layer, 4, cap=8)
    np.testing.assert_array_equal(sample, np.arange(100))
    assert len(cands) == 108  # the first half, plus the top 8 by MI


def test_position_share_sample_is_a_seeded_subset_beyond_its_cap() -> None:
    layer = np.repeat(np.arange(4), 50)
    _, sample = position_candidates(np.zeros(200), np.ones(200, dtype=bool), layer, 4, cap=8, sample_cap=30)
    assert len(sample) == 30
    assert (layer[sample] < 2).all()


def _share_effect(low: float, high: float) -> Effect:
    return Effect("share: trained - untrained", 0.1, 0.05, (low + high) / 2, low, high, 0.0, "untrained", "test")


def test_rotary_negative_control_passes_when_the_excess_is_shown_below_its_margin() -> None:
    effect, inconclusive = negative_control(_share_effect(-0.05, 0.06), margin=0.1, min_effect=0.0)
    assert (effect.cleared, inconclusive) == (True, None)


def test_rotary_negative_control_fails_when_position_neurons_exceed_the_control() -> None:
    effect, inconclusive = negative_control(_share_effect(0.05, 0.4), margin=0.1, min_effect=0.0)
    assert (effect.cleared, inconclusive) == (False, None)


def test_rotary_negative_control_without_power_is_inconclusive() -> None:
    _, inconclusive = negative_control(_share_effect(-0.2, 0.2), margin=0.1, min_effect=0.0)
    assert "neither shown below" in (inconclusive or "")


@pytest.mark.parametrize(
    ("config", "kind"),
    [({"model_type": "gpt_neox", "rotary_pct": 0.25}, "rotary"), ({"model_type": "gpt2"}, "learned absolute")],
)
def test_position_encoding_is_read_from_the_config(tmp_path, config: dict, kind: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert positional_embedding(ModelRef("m", "untrained", str(tmp_path))) == kind
