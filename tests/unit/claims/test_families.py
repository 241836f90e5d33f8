from __future__ import annotations

import numpy as np
import pytest

from claims.context import NotApplicable
from claims.lib import features as F
from claims.lib.inference import auroc
from claims.papers.universal_neurons import families as fam
from claims.registry import load_all
from claims.verdict import Verdict

CURRENT = [
    ("contains_comma", F.KIND_TOKEN),
    ("start_w_a", F.KIND_TOKEN),
    ("letter_a", F.KIND_LETTER),
    ("letter_b", F.KIND_LETTER),
    ("unigram_the", F.KIND_UNIGRAM),
    ("unigram_on", F.KIND_UNIGRAM),
]
NAMES = tuple(n for n, _ in CURRENT) + tuple(F.PREV + n for n, _ in CURRENT)
KINDS = tuple(k for _, k in CURRENT) + tuple(F.PREV + k for _, k in CURRENT)
N_LAYERS, D_MLP = 4, 10
LAYER = np.repeat(np.arange(N_LAYERS), D_MLP)


def _thresholds(claim_id: str, scale: str = "small") -> dict[str, float]:
    return dict(load_all()[claim_id].criterion.thresholds(scale))


def _vr(seed: int = 0, n_neurons: int = N_LAYERS * D_MLP) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.1, (n_neurons, len(NAMES)))


def _universal(layers: list[int], per_layer: int = 3, layer: np.ndarray = LAYER) -> np.ndarray:
    mask = np.zeros(len(layer), dtype=bool)
    for l_ in layers:
        mask[np.flatnonzero(layer == l_)[:per_layer]] = True
    return mask


def _column(name: str) -> int:
    return NAMES.index(name)


# --- F1 ---------------------------------------------------------------------------------------------------------


def _f1(vr: np.ndarray, universal: np.ndarray, scale: str = "small", layer: np.ndarray = LAYER) -> bool:
    t = _thresholds("F1", scale)
    n_layers = int(layer.max()) + 1
    counts = fam.unigram_family_counts(vr, KINDS, NAMES, layer, universal, n_layers, t["min_vr"])
    return fam.unigram_passes(counts, scale, t)[0]


def test_unigram_neurons_only_in_the_last_layer_fail() -> None:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[universal & (LAYER == 3), _column("unigram_the")] = 0.9
    assert not _f1(vr, universal)


def test_no_unigram_neuron_fails() -> None:
    assert not _f1(_vr(), _universal([0, 1, 2, 3]))


def test_unigram_neurons_in_layer_zero_pass() -> None:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[universal & (LAYER == 0), _column("unigram_the")] = 0.9
    assert _f1(vr, universal)


def test_unigram_vr_of_non_universal_neurons_does_not_count() -> None:
    vr = _vr()
    universal = _universal([1, 2, 3])
    vr[LAYER == 0, _column("unigram_on")] = 0.9
    assert not _f1(vr, universal)


def test_token_labelled_neurons_in_late_layers_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(12), D_MLP)
    vr = _vr(n_neurons=len(layer))
    universal = _universal(list(range(12)), layer=layer)
    late = universal & (layer >= 6)
    vr[late, _column("unigram_the")] = 0.9  # >= 3 families of >= 3 neurons, but all deep
    vr[late, _column("unigram_on")] = 0.8
    vr[late, _column("letter_a")] = 0.7
    assert not _f1(vr, universal, "full", layer)


# --- F2 ---------------------------------------------------------------------------------------------------------


def _letters_features() -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(f"letter_{c}" for c in F.LETTERS)
    return names, np.full(len(names), 500)


def test_letters_without_a_selective_universal_neuron_fail() -> None:
    names, positives = _letters_features()
    vr = np.random.default_rng(0).uniform(0, 0.2, (40, len(names)))
    universal = np.arange(40) < 6
    letters = fam.alphabet_letters(vr, names, positives, universal, min_count=20)
    passed, found, inconclusive = fam.alphabet_passes(letters, {}, "small", _thresholds("F2"))
    assert (passed, found, inconclusive) == (False, 0, None)


def test_letter_selective_non_universal_neurons_do_not_count() -> None:
    names, positives = _letters_features()
    vr = np.random.default_rng(0).uniform(0, 0.2, (40, len(names)))
    vr[30:, :] = 0.9
    letters = fam.alphabet_letters(vr, names, positives, np.arange(40) < 6, min_count=20)
    assert not fam.alphabet_passes(letters, {}, "small", _thresholds("F2"))[0]


def test_vocabulary_without_single_letter_tokens_is_inconclusive_never_pass() -> None:
    names = ("contains_comma", "letter_a", "letter_b")
    vr = np.full((10, 3), 0.9)
    letters = fam.alphabet_letters(vr, names, np.array([100, 100, 100]), np.ones(10, dtype=bool), min_count=20)
    passed, found, inconclusive = fam.alphabet_passes(letters, {}, "small", _thresholds("F2"))
    assert not passed
    assert found == 2
    assert "only 2 letters" in (inconclusive or "")


def test_rare_letters_are_not_testable() -> None:
    names, positives = _letters_features()
    positives[:] = 5
    letters = fam.alphabet_letters(np.full((4, 26), 0.9), names, positives, np.ones(4, dtype=bool), min_count=20)
    assert fam.alphabet_passes(letters, {}, "small", _thresholds("F2"))[2] is not None


def test_alphabet_neurons_without_the_begins_with_effect_fail_at_full_scale() -> None:
    names, positives = _letters_features()
    vr = np.full((30, 26), 0.05)
    vr[np.arange(26), np.arange(26)] = 0.8
    letters = fam.alphabet_letters(vr, names, positives, np.ones(30, dtype=bool), min_count=100)
    assert not fam.alphabet_passes(letters, dict.fromkeys(F.LETTERS, False), "full", _thresholds("F2", "full"))[0]
    assert fam.alphabet_passes(letters, dict.fromkeys(F.LETTERS, True), "full", _thresholds("F2", "full"))[0]


def test_begins_with_effect_is_absent_for_a_letter_blind_neuron() -> None:
    rng = np.random.default_rng(0)
    names = ("start_w_c", "letter_c", "letter_d")
    current = np.zeros((4000, 3), dtype=bool)
    current[:1000, 0] = True
    current[1000:1100, 1] = True
    acts = rng.standard_normal(4000)
    _, _, p = fam.begins_with_effect(acts, current, names, "c")
    assert p > 0.01
    acts[:1000] += 1.0
    assert fam.begins_with_effect(acts, current, names, "c")[2] < 1e-6


# --- F3 ---------------------------------------------------------------------------------------------------------


def _f3(vr: np.ndarray, universal: np.ndarray, scale: str = "small", layer: np.ndarray = LAYER) -> bool:
    prev, _, cur = fam.previous_token_vr(vr, KINDS)
    n_layers = int(layer.max()) + 1
    return fam.previous_token_passes(prev, cur, layer, universal, n_layers, scale, _thresholds("F3", scale))[0]


def test_neurons_better_explained_by_the_current_token_fail() -> None:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[universal, _column("prev_contains_comma")] = 0.5
    vr[universal, _column("unigram_the")] = 0.7
    assert not _f3(vr, universal)


def test_previous_token_neurons_only_in_layer_zero_fail() -> None:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[universal & (LAYER == 0), _column("prev_unigram_on")] = 0.6
    assert not _f3(vr, universal)


def test_previous_token_neuron_in_layer_one_passes() -> None:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[np.flatnonzero(universal & (LAYER == 1))[0], _column("prev_contains_comma")] = 0.6
    assert _f3(vr, universal)


def test_previous_token_neurons_deep_in_the_network_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), D_MLP)
    vr = _vr(n_neurons=len(layer))
    universal = _universal(list(range(24)), layer=layer)
    vr[universal & (layer >= 18), _column("prev_contains_comma")] = 0.8
    assert not _f3(vr, universal, "full", layer)


def test_previous_token_neurons_in_the_first_third_pass_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), D_MLP)
    vr = _vr(n_neurons=len(layer))
    universal = _universal(list(range(24)), per_layer=2, layer=layer) | (layer == 5)
    vr[universal, _column("prev_contains_comma")] = 0.3
    vr[universal & (layer == 5), _column("prev_unigram_on")] = 0.8
    assert _f3(vr, universal, "full", layer)
    vr[universal & (layer == 5), _column("unigram_on")] = 0.9  # explained better by the current token
    assert not _f3(vr, universal, "full", layer)


# --- F4 ---------------------------------------------------------------------------------------------------------


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
    passed, found, _ = fam.position_passes(mi, p, q99, layer, np.ones(4, dtype=bool), 4, "small", _thresholds("F4"))
    assert not passed
    assert found == 0


def test_position_neuron_in_the_first_layer_passes() -> None:
    rng = np.random.default_rng(3)
    firing = rng.random((300, 32, 2)) < 0.3
    firing[:, :, 0] = rng.random((300, 32)) < np.linspace(0.1, 0.6, 32)
    mi, p, q99 = _position_stats(firing)
    t = _thresholds("F4")
    assert fam.position_passes(mi, p, q99, np.array([0, 3]), np.ones(2, dtype=bool), 4, "small", t)[0]
    assert not fam.position_passes(mi, p, q99, np.array([3, 0]), np.ones(2, dtype=bool), 4, "small", t)[0]


def test_position_neurons_in_late_layers_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(12), 5)
    mi = np.where(layer >= 6, 0.5, 0.01)
    p = dict.fromkeys(range(len(mi)), 0.005)
    q99 = dict.fromkeys(range(len(mi)), 0.001)
    universal = np.ones(len(mi), dtype=bool)
    t = _thresholds("F4", "full")
    assert not fam.position_passes(mi, p, q99, layer, universal, 12, "full", t)[0]
    assert fam.position_passes(np.where(layer <= 2, 0.5, 0.01), p, q99, layer, universal, 12, "full", t)[0]


def test_position_candidates_include_the_first_half() -> None:
    layer = np.repeat(np.arange(4), 50)
    mi = np.where(layer >= 2, 1.0, 0.0) + np.random.default_rng(0).random(200) * 0.01
    cands = fam.position_candidates(mi, np.ones(200, dtype=bool), layer, 4, cap=8)
    assert (layer[cands] < 2).sum() == 8
    assert len(cands) == 16


# --- F5 ---------------------------------------------------------------------------------------------------------


def test_syntax_claim_is_not_run_with_its_reason() -> None:
    with pytest.raises(NotApplicable, match="part-of-speech"):
        load_all()["F5"].check(None)  # type: ignore[arg-type]


def test_syntax_claim_row_is_visible_as_not_run(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    evidence = run_claim("F5", family)
    assert evidence.verdict is Verdict.NOT_RUN
    assert "spaCy" in evidence.reason


# --- F6 ---------------------------------------------------------------------------------------------------------

YEARS = [1798, 1858, 1868, 1908, 1939, 1965]


def _era(values: np.ndarray, doc: np.ndarray, scale: str = "small") -> tuple[bool, float, float]:
    t = _thresholds("F6", scale)
    groups, sizes, sums = fam.rank_sums(values, doc)
    label = np.asarray([YEARS[g] >= t["split_year"] for g in groups])
    stat = fam.era_statistic(fam.auroc_from_rank_sums(sizes, sums, label), scale)
    null, exact = fam.relabelling_null(sizes, sums, int(label.sum()), scale, seed=0)
    p = fam.relabelling_p(stat, null, exact)
    return stat >= t["min_auroc"] and p <= t["max_relabel_p"], stat, p


def _docs(per_doc: int = 400) -> np.ndarray:
    return np.repeat(np.arange(len(YEARS)), per_doc)


def test_era_blind_neurons_fail() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 5))
    passed, stat, _ = _era(values, doc)
    assert not passed
    assert stat < 0.6


def test_a_neuron_for_one_speech_is_not_an_era_neuron() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 1))
    values[doc == 0] += 5.0
    assert not _era(values, doc)[0]


def test_a_split_that_is_not_the_era_has_a_large_relabelling_p() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 1))
    values[np.isin(doc, [0, 3, 4])] += 0.8  # separates three speeches, two of them modern
    values[doc == 1] += 2.5  # and one old speech strongly: era AUROC alone would be high
    passed, _, p = _era(values, doc)
    assert not passed
    assert p > 0.1


def test_a_perfect_era_neuron_passes_at_the_smallest_possible_p() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 2))
    values[doc >= 3, 0] += 10.0
    passed, stat, p = _era(values, doc)
    assert passed
    assert stat == pytest.approx(1.0)
    assert p == pytest.approx(0.1)  # a 3-vs-3 split and its mirror image are the two best of 20


def test_full_scale_needs_a_neuron_for_each_era() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 2))
    values[doc >= 3, 0] += 10.0
    assert not _era(values, doc, "full")[0]


def test_auroc_from_rank_sums_matches_mann_whitney_with_ties() -> None:
    rng = np.random.default_rng(0)
    doc = rng.integers(0, 5, 300)
    values = np.round(rng.standard_normal((300, 3)), 1)
    groups, sizes, sums = fam.rank_sums(values, doc)
    positive = np.isin(groups, [1, 3])
    got = fam.auroc_from_rank_sums(sizes, sums, positive)
    mask = np.isin(doc, [1, 3])
    want = [auroc(values[mask, k], values[~mask, k]) for k in range(3)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_relabelling_null_enumerates_every_split() -> None:
    sizes = np.full(6, 10)
    sums = np.random.default_rng(0).random((6, 2))
    null, exact = fam.relabelling_null(sizes, sums, 3, "small", seed=0)
    assert exact
    assert len(null) == 20


def test_speech_years_need_a_year_on_every_id() -> None:
    assert fam.speech_years(["1790-Washington-1", "2014-Obama-1"]) == [1790, 2014]
    assert fam.speech_years(["1790-Washington-1", "lee:001"]) is None


# --- F7 ---------------------------------------------------------------------------------------------------------


def test_universal_neurons_no_more_interpretable_than_others_fail() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 200)
    best = rng.uniform(0, 0.6, len(layer))
    universal = rng.random(len(layer)) < 0.05
    sample = fam.layer_matched_sample(universal, layer, np.random.default_rng(1))
    gap = fam.interpretability_gap(best, universal, sample)
    assert not fam.interpretability_passes(gap, _thresholds("F7"))


def test_universal_neurons_with_higher_vr_pass() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 200)
    universal = rng.random(len(layer)) < 0.05
    best = rng.uniform(0, 0.3, len(layer)) + 0.3 * universal
    sample = fam.layer_matched_sample(universal, layer, np.random.default_rng(1))
    assert fam.interpretability_passes(fam.interpretability_gap(best, universal, sample), _thresholds("F7", "full"))


def test_layer_matched_sample_matches_layers_and_avoids_universal_neurons() -> None:
    rng = np.random.default_rng(0)
    layer = np.repeat(np.arange(4), 50)
    universal = rng.random(200) < 0.1
    sample = fam.layer_matched_sample(universal, layer, rng)
    assert not (sample & universal).any()
    np.testing.assert_array_equal(np.bincount(layer[sample], minlength=4), np.bincount(layer[universal], minlength=4))


# --- declarations -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim_id", ["F1", "F2", "F3", "F4", "F5", "F6", "F7"])
def test_family_claims_declare_a_control_and_both_scales(claim_id: str) -> None:
    item = load_all()[claim_id]
    assert item.needs.untrained_control
    assert item.needs.seeds == 2
    assert item.criterion.text("full") != ""
    assert item.criterion.text("small") != ""
    assert item.min_tokens > 0
