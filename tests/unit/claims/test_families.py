from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons import families as fam
from claims.registry import load_all
from claims.verdict import Axis, Effect, Verdict
from engine import features as F
from engine.inference import auroc, group_pair_u, weighted_group_auroc
from fixtures.models import ModelRef

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


def test_a_single_layer_model_is_not_applicable_for_previous_token_neurons() -> None:
    assert "precondition" in (fam.previous_token_precondition(1, "small") or "")


def test_too_few_layers_for_a_first_third_without_layer_zero_is_not_applicable_at_full_scale() -> None:
    assert "first third of depth" in (fam.previous_token_precondition(3, "full") or "")


def test_four_layers_hold_a_first_third_without_layer_zero() -> None:
    assert fam.previous_token_precondition(4, "full") is None


def test_previous_token_share_counts_universal_neurons_past_layer_zero() -> None:
    prev = np.array([0.5, 0.5, 0.1, 0.6])
    cur = np.array([0.1, 0.1, 0.0, 0.7])
    layer = np.array([0, 1, 1, 2])
    assert fam.previous_token_share(prev, cur, layer, np.ones(4, dtype=bool), 0.3) == (1, 3)


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


def test_position_candidates_cover_every_first_half_universal_neuron() -> None:
    layer = np.repeat(np.arange(4), 50)
    mi = np.where(layer >= 2, 1.0, 0.0) + np.random.default_rng(0).random(200) * 0.01
    cands, sample = fam.position_candidates(mi, np.ones(200, dtype=bool), layer, 4, cap=8)
    np.testing.assert_array_equal(sample, np.arange(100))
    assert len(cands) == 108  # the first half, plus the top 8 by MI


def test_position_share_sample_is_a_seeded_subset_beyond_its_cap() -> None:
    layer = np.repeat(np.arange(4), 50)
    _, sample = fam.position_candidates(np.zeros(200), np.ones(200, dtype=bool), layer, 4, cap=8, sample_cap=30)
    assert len(sample) == 30
    assert (layer[sample] < 2).all()


def _share_effect(low: float, high: float) -> Effect:
    return Effect("share: trained - untrained", 0.1, 0.05, (low + high) / 2, low, high, 0.0, "untrained", "test")


def test_rotary_negative_control_passes_when_the_excess_is_shown_below_its_margin() -> None:
    effect, inconclusive = fam.negative_control(_share_effect(-0.05, 0.06), margin=0.1, min_effect=0.0)
    assert (effect.cleared, inconclusive) == (True, None)


def test_rotary_negative_control_fails_when_position_neurons_exceed_the_control() -> None:
    effect, inconclusive = fam.negative_control(_share_effect(0.05, 0.4), margin=0.1, min_effect=0.0)
    assert (effect.cleared, inconclusive) == (False, None)


def test_rotary_negative_control_without_power_is_inconclusive() -> None:
    _, inconclusive = fam.negative_control(_share_effect(-0.2, 0.2), margin=0.1, min_effect=0.0)
    assert "neither shown below" in (inconclusive or "")


@pytest.mark.parametrize(
    ("config", "kind"),
    [({"model_type": "gpt_neox", "rotary_pct": 0.25}, "rotary"), ({"model_type": "gpt2"}, "learned absolute")],
)
def test_position_encoding_is_read_from_the_config(tmp_path, config: dict, kind: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert fam.positional_embedding(ModelRef("m", "untrained", str(tmp_path))) == kind


# --- F5 ---------------------------------------------------------------------------------------------------------


def _syntax_vr(n_neurons: int, measured: np.ndarray, pos: dict[int, float]) -> fam.SyntaxVR:
    names = ("dep_nsubj", "morph_Number=Plur", "pos_DET", "pos_NOUN", "pos_X")
    kinds = ("dep", "morph", "pos", "pos", "pos")
    vr = np.full((len(measured), len(names)), 0.05, dtype=np.float32)
    vr[:, 4] = np.nan  # pos_X: too rare to test
    for row, neuron in enumerate(measured):
        vr[row, 2] = pos.get(int(neuron), 0.05)
        vr[row, 0] = 0.9  # a dependency label: counts at full scale only
    return fam.SyntaxVR(names, kinds, measured, vr, np.array([50, 50, 50, 50, 2]), 1000, "test tagger")


def test_syntax_vr_takes_the_best_testable_label_of_the_asked_kinds_and_zero_where_not_measured() -> None:
    sv = _syntax_vr(N_LAYERS * D_MLP, np.array([3, 12]), {12: 0.6})
    best, label = sv.best(("pos",), N_LAYERS * D_MLP)
    assert best[12] == pytest.approx(0.6)
    assert sv.names[label[12]] == "pos_DET"
    assert best[3] == pytest.approx(0.05)
    assert best[0] == 0.0
    assert label[0] == -1
    full, _ = sv.best(("pos", "dep", "morph"), N_LAYERS * D_MLP)
    assert full[3] == pytest.approx(0.9)


def test_one_universal_part_of_speech_neuron_passes_the_small_clause_and_none_fails() -> None:
    universal = _universal([0, 1, 2, 3])
    best = np.zeros(len(universal))
    t = _thresholds("F5")
    assert not fam.syntax_parts(best, LAYER, universal, N_LAYERS, "small", t)[0][0].passed
    best[np.flatnonzero(universal)[0]] = 0.4
    best[np.flatnonzero(~universal)[:5]] = 0.9  # non-universal neurons do not count
    parts, key, _ = fam.syntax_parts(best, LAYER, universal, N_LAYERS, "small", t)
    assert parts[0].passed
    assert key == 1


def test_syntax_neurons_concentrated_in_one_layer_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), 40)
    universal = _universal(list(range(24)), per_layer=2, layer=layer) | _universal([7], per_layer=30, layer=layer)
    t = _thresholds("F5", "full")
    best = np.where(universal & (layer == 7), 0.9, np.where(universal, 0.1, 0.0))  # the top 25 all in layer 7
    assert not all(p.passed for p in fam.syntax_parts(best, layer, universal, 24, "full", t)[0])
    everywhere = _universal(list(range(24)), per_layer=2, layer=layer)
    spread = np.where(everywhere, 0.5, 0.0)
    assert all(p.passed for p in fam.syntax_parts(spread, layer, everywhere, 24, "full", t)[0])


def test_syntax_share_counts_universal_neurons_at_the_vr_floor() -> None:
    assert fam.syntax_share(np.array([0.3, 0.29, 0.8, 0.9]), np.array([True, True, True, False]), 0.3) == (2, 3)


@pytest.mark.parametrize("role", ["code", "other-language"])
def test_syntax_claim_is_not_applicable_on_corpora_an_english_tagger_cannot_label(role: str) -> None:
    corpus = SimpleNamespace(role=role)
    ctx = SimpleNamespace(dataset="x", workbench=SimpleNamespace(corpus=lambda name: corpus))
    with pytest.raises(NotApplicable, match=f"English part-of-speech tagger; corpus 'x' is {role}, not English prose"):
        load_all()["F5"].check(ctx)  # type: ignore[arg-type]


def test_syntax_claim_on_untrained_seeds_is_measured_and_never_passes(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    evidence = run_claim("F5", family)
    assert evidence.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)
    assert evidence.measured["tagger"].startswith("spaCy en_core_web_sm 3.8.0")


# --- F6 ---------------------------------------------------------------------------------------------------------

YEARS = [1798, 1858, 1868, 1908, 1939, 1965]


def _era(
    values: np.ndarray, doc: np.ndarray, scale: str = "small", years: list[int] = YEARS
) -> tuple[bool, float, float]:
    t = _thresholds("F6", scale)
    groups, sizes, sums = fam.rank_sums(values, doc)
    label = np.asarray([years[g] >= t["split_year"] for g in groups])
    stat = fam.era_statistic(fam.auroc_from_rank_sums(sizes, sums, label), scale)
    null, exact = fam.relabelling_null(sizes, sums, int(label.sum()), scale, seed=0)
    p = fam.relabelling_p(stat, null, exact)
    return stat >= t["min_auroc"] and p < t["max_relabel_p"], stat, p


def _docs(per_doc: int = 400, n_docs: int = len(YEARS)) -> np.ndarray:
    return np.repeat(np.arange(n_docs), per_doc)


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


def test_three_speeches_per_era_cannot_reach_the_relabelling_threshold() -> None:
    doc = _docs()
    values = np.random.default_rng(0).standard_normal((len(doc), 2))
    values[doc >= 3, 0] += 10.0
    passed, stat, p = _era(values, doc)
    assert (passed, stat, p) == (False, pytest.approx(1.0), pytest.approx(0.1))  # 2 best splits of 20


def test_a_perfect_era_neuron_over_four_speeches_per_era_passes() -> None:
    years = [1798, 1810, 1858, 1868, 1908, 1939, 1965, 2001]
    doc = _docs(n_docs=len(years))
    values = np.random.default_rng(0).standard_normal((len(doc), 2))
    values[doc >= 4, 0] += 10.0
    passed, _, p = _era(values, doc, years=years)
    assert (passed, p) == (True, pytest.approx(2 / 70))


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


def test_era_effect_interval_excludes_zero_for_an_era_neuron_the_control_lacks() -> None:
    doc = _docs(per_doc=200, n_docs=8)
    rng = np.random.default_rng(0)
    trained, control = rng.standard_normal((len(doc), 3)), rng.standard_normal((len(doc), 3))
    trained[doc >= 4, 0] += 2.0
    positive = np.arange(8) >= 4
    _, sizes, u_trained = group_pair_u(trained, doc)
    _, _, u_control = group_pair_u(control, doc)
    low, _ = fam.era_effect_interval(u_trained, u_control, sizes, positive, "small", seed=0)
    assert low > 0.2


def test_era_effect_interval_covers_zero_for_two_era_blind_models() -> None:
    doc = _docs(per_doc=200, n_docs=8)
    rng = np.random.default_rng(1)
    positive = np.arange(8) >= 4
    _, sizes, u_trained = group_pair_u(rng.standard_normal((len(doc), 3)), doc)
    _, _, u_control = group_pair_u(rng.standard_normal((len(doc), 3)), doc)
    low, high = fam.era_effect_interval(u_trained, u_control, sizes, positive, "small", seed=0)
    assert low < 0 < high


def test_relabelling_null_enumerates_every_split() -> None:
    sizes = np.full(6, 10)
    sums = np.random.default_rng(0).random((6, 2))
    null, exact = fam.relabelling_null(sizes, sums, 3, "small", seed=0)
    assert exact
    assert len(null) == 20


def test_group_pair_u_gives_the_auroc_of_a_resample_without_re_ranking() -> None:
    rng = np.random.default_rng(0)
    doc = rng.integers(0, 5, 300)
    values = np.round(rng.standard_normal((300, 2)), 1)
    groups, sizes, u = group_pair_u(values, doc)
    weights = np.array([2, 0, 1, 3, 1])
    rows = np.concatenate([np.flatnonzero(doc == g) for g in groups for _ in range(weights[g])])
    mask = np.isin(doc[rows], [1, 3])
    want = [auroc(values[rows][mask, k], values[rows][~mask, k]) for k in range(2)]
    np.testing.assert_allclose(weighted_group_auroc(u, sizes, np.isin(groups, [1, 3]), weights), want, atol=1e-12)


def test_context_neurons_on_undated_text_are_not_applicable(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    evidence = run_claim("F6", family)
    assert (evidence.verdict, "precondition" in evidence.reason) == (Verdict.NOT_APPLICABLE, True)


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


# --- checks decided against their control ----------------------------------------------------------------------


def _fake_vr(vr: np.ndarray, n_layers: int) -> fam.FeatureVR:
    return fam.FeatureVR(
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
    subject = fam.Subject("trained", ref, np.zeros(len(trained[1])), trained[1], "test rule")
    ctrl = (
        None if control is None else fam.Subject("untrained control", ref, np.zeros(len(control[1])), control[1], "r")
    )
    monkeypatch.setattr(fam, "subjects", lambda ctx: fam.Subjects(subject, ctrl, subject))
    monkeypatch.setattr(fam, "feature_vr", lambda ctx, r, neurons=None: _fake_vr(trained[0], n_layers))
    if control is not None:
        monkeypatch.setattr(fam, "control_vr", lambda ctx, c: _fake_vr(control[0], n_layers))
    bench = SimpleNamespace(settings=SimpleNamespace(seed=0))
    ctx = ClaimContext(load_all()[claim_id], Axis.ORIGINAL, "fake", ref, None, "sotu", bench)  # type: ignore[arg-type]
    return load_all()[claim_id].check(ctx)


def _unigram_model(strength: float) -> tuple[np.ndarray, np.ndarray]:
    vr = _vr()
    universal = _universal([0, 1, 2, 3])
    vr[universal & (LAYER <= 1), _column("unigram_the")] = strength
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
    vr, universal = _vr(n_neurons=D_MLP), np.ones(D_MLP, dtype=bool)
    with pytest.raises(NotApplicable, match="precondition"):
        _run_check(monkeypatch, "F3", (vr, universal), (vr, universal), 1)


def _interpretable_model(gap: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    layer = np.repeat(np.arange(4), 200)
    universal = rng.random(len(layer)) < 0.1
    vr = rng.uniform(0, 0.2, (len(layer), len(NAMES)))
    vr[universal, _column("unigram_on")] += gap
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
    assert not fam.share_effect("x", (5, 50), (5, 50), 0.0, "neurons").cleared


def test_share_effect_of_a_share_the_control_lacks_clears_zero() -> None:
    assert fam.share_effect("x", (20, 50), (0, 50), 0.0, "neurons").cleared


# --- declarations -----------------------------------------------------------------------------------------------


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
