"""F1 unigram and F2 alphabet neurons: their clauses on synthetic VR tables."""

from __future__ import annotations

import numpy as np
from family_tables import D_MLP, KINDS, LAYER, NAMES, column, random_vr, thresholds, universal_in

from claims.papers.universal_neurons.family_alphabet import alphabet_letters, alphabet_passes, begins_with_effect
from claims.papers.universal_neurons.family_unigram import unigram_family_counts, unigram_passes
from engine import features as F


def _f1(vr: np.ndarray, universal: np.ndarray, scale: str = "small", layer: np.ndarray = LAYER) -> bool:
    t = thresholds("F1", scale)
    n_layers = int(layer.max()) + 1
    counts = unigram_family_counts(vr, KINDS, NAMES, layer, universal, n_layers, t["min_vr"])
    return unigram_passes(counts, scale, t)[0]


def test_unigram_neurons_only_in_the_last_layer_fail() -> None:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[universal & (LAYER == 3), column("unigram_the")] = 0.9
    assert not _f1(vr, universal)


def test_no_unigram_neuron_fails() -> None:
    assert not _f1(random_vr(), universal_in([0, 1, 2, 3]))


def test_unigram_neurons_in_layer_zero_pass() -> None:
    vr = random_vr()
    universal = universal_in([0, 1, 2, 3])
    vr[universal & (LAYER == 0), column("unigram_the")] = 0.9
    assert _f1(vr, universal)


def test_unigram_vr_of_non_universal_neurons_does_not_count() -> None:
    vr = random_vr()
    universal = universal_in([1, 2, 3])
    vr[LAYER == 0, column("unigram_on")] = 0.9
    assert not _f1(vr, universal)


def test_token_labelled_neurons_in_late_layers_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(12), D_MLP)
    vr = random_vr(n_neurons=len(layer))
    universal = universal_in(list(range(12)), layer=layer)
    late = universal & (layer >= 6)
    vr[late, column("unigram_the")] = 0.9  # >= 3 families of >= 3 neurons, but all deep
    vr[late, column("unigram_on")] = 0.8
    vr[late, column("letter_a")] = 0.7
    assert not _f1(vr, universal, "full", layer)


def _letters_features() -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(f"letter_{c}" for c in F.LETTERS)
    return names, np.full(len(names), 500)


def test_letters_without_a_selective_universal_neuron_fail() -> None:
    names, positives = _letters_features()
    vr = np.random.default_rng(0).uniform(0, 0.2, (40, len(names)))
    universal = np.arange(40) < 6
    letters = alphabet_letters(vr, names, positives, universal, min_count=20)
    passed, found, inconclusive = alphabet_passes(letters, {}, "small", thresholds("F2"))
    assert (passed, found, inconclusive) == (False, 0, None)


def test_letter_selective_non_universal_neurons_do_not_count() -> None:
    names, positives = _letters_features()
    vr = np.random.default_rng(0).uniform(0, 0.2, (40, len(names)))
    vr[30:, :] = 0.9
    letters = alphabet_letters(vr, names, positives, np.arange(40) < 6, min_count=20)
    assert not alphabet_passes(letters, {}, "small", thresholds("F2"))[0]


def test_vocabulary_without_single_letter_tokens_is_inconclusive_never_pass() -> None:
    names = ("contains_comma", "letter_a", "letter_b")
    vr = np.full((10, 3), 0.9)
    letters = alphabet_letters(vr, names, np.array([100, 100, 100]), np.ones(10, dtype=bool), min_count=20)
    passed, found, inconclusive = alphabet_passes(letters, {}, "small", thresholds("F2"))
    assert not passed
    assert found == 2
    assert "only 2 letters" in (inconclusive or "")


def test_rare_letters_are_not_testable() -> None:
    names, positives = _letters_features()
    positives[:] = 5
    letters = alphabet_letters(np.full((4, 26), 0.9), names, positives, np.ones(4, dtype=bool), min_count=20)
    assert alphabet_passes(letters, {}, "small", thresholds("F2"))[2] is not None


def test_alphabet_neurons_without_the_begins_with_effect_fail_at_full_scale() -> None:
    names, positives = _letters_features()
    vr = np.full((30, 26), 0.05)
    vr[np.arange(26), np.arange(26)] = 0.8
    letters = alphabet_letters(vr, names, positives, np.ones(30, dtype=bool), min_count=100)
    assert not alphabet_passes(letters, dict.fromkeys(F.LETTERS, False), "full", thresholds("F2", "full"))[0]
    assert alphabet_passes(letters, dict.fromkeys(F.LETTERS, True), "full", thresholds("F2", "full"))[0]


def test_begins_with_effect_is_absent_for_a_letter_blind_neuron() -> None:
    rng = np.random.default_rng(0)
    names = ("start_w_c", "letter_c", "letter_d")
    current = np.zeros((4000, 3), dtype=bool)
    current[:1000, 0] = True
    current[1000:1100, 1] = True
    acts = rng.standard_normal(4000)
    _, _, p = begins_with_effect(acts, current, names, "c")
    assert p > 0.01
    acts[:1000] += 1.0
    assert begins_with_effect(acts, current, names, "c")[2] < 1e-6
