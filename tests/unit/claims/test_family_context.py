"""F6 context neurons: era AUROC from rank sums, the document-relabelling null, the effect interval."""

from __future__ import annotations

import numpy as np
import pytest
from family_tables import thresholds

from claims.papers.universal_neurons.family_context import era_effect_interval, speech_years
from claims.verdict import Verdict
from engine.inference import auroc, group_pair_u, weighted_group_auroc
from engine.ranks import auroc_from_rank_sums, era_statistic, rank_sums, relabelling_null, relabelling_p

YEARS = [1798, 1858, 1868, 1908, 1939, 1965]


def _era(
    values: np.ndarray, doc: np.ndarray, scale: str = "small", years: list[int] = YEARS
) -> tuple[bool, float, float]:
    t = thresholds("F6", scale)
    groups, sizes, sums = rank_sums(values, doc)
    label = np.asarray([years[g] >= t["split_year"] for g in groups])
    stat = era_statistic(auroc_from_rank_sums(sizes, sums, label), scale)
    null, exact = relabelling_null(sizes, sums, int(label.sum()), scale, seed=0)
    p = relabelling_p(stat, null, exact)
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
    groups, sizes, sums = rank_sums(values, doc)
    positive = np.isin(groups, [1, 3])
    got = auroc_from_rank_sums(sizes, sums, positive)
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
    low, _ = era_effect_interval(u_trained, u_control, sizes, positive, "small", seed=0)
    assert low > 0.2


def test_era_effect_interval_covers_zero_for_two_era_blind_models() -> None:
    doc = _docs(per_doc=200, n_docs=8)
    rng = np.random.default_rng(1)
    positive = np.arange(8) >= 4
    _, sizes, u_trained = group_pair_u(rng.standard_normal((len(doc), 3)), doc)
    _, _, u_control = group_pair_u(rng.standard_normal((len(doc), 3)), doc)
    low, high = era_effect_interval(u_trained, u_control, sizes, positive, "small", seed=0)
    assert low < 0 < high


def test_relabelling_null_enumerates_every_split() -> None:
    sizes = np.full(6, 10)
    sums = np.random.default_rng(0).random((6, 2))
    null, exact = relabelling_null(sizes, sums, 3, "small", seed=0)
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
    assert speech_years(["1790-Washington-1", "2014-Obama-1"]) == [1790, 2014]
    assert speech_years(["1790-Washington-1", "lee:001"]) is None
