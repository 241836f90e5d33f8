"""F7: best-feature VR of universal neurons against a layer-matched sample."""

from __future__ import annotations

import numpy as np
from family_tables import thresholds

from claims.papers.universal_neurons.family_interpretability import interpretability_gap, interpretability_passes
from engine.family_stats import layer_matched_sample


def test_universal_neurons_no_more_interpretable_than_others_fail() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 200)
    best = rng.uniform(0, 0.6, len(layer))
    universal = rng.random(len(layer)) < 0.05
    sample = layer_matched_sample(universal, layer, np.random.default_rng(1))
    gap = interpretability_gap(best, universal, sample)
    assert not interpretability_passes(gap, thresholds("F7"))


def test_universal_neurons_with_higher_vr_pass() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 200)
    universal = rng.random(len(layer)) < 0.05
    best = rng.uniform(0, 0.3, len(layer)) + 0.3 * universal
    sample = layer_matched_sample(universal, layer, np.random.default_rng(1))
    assert interpretability_passes(interpretability_gap(best, universal, sample), thresholds("F7", "full"))


def test_layer_matched_sample_matches_layers_and_avoids_universal_neurons() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 50)
    universal = rng.random(200) < 0.1
    sample = layer_matched_sample(universal, layer, rng)
    assert not (sample & universal).any()
    np.testing.assert_array_equal(np.bincount(layer[sample], minlength=4), np.bincount(layer[universal], minlength=4))
