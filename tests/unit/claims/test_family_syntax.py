"""F5 syntax neurons: tagger-label VR, clauses, and corpora an English tagger cannot label."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from family_tables import D_MLP, LAYER, N_LAYERS, thresholds, universal_in

from claims.context import NotApplicable
from claims.papers.universal_neurons.family_syntax import syntax_parts, syntax_share
from claims.papers.universal_neurons.measures.family_features import SyntaxVR
from claims.registry import load_all
from claims.verdict import Verdict


def _syntax_vr(n_neurons: int, measured: np.ndarray, pos: dict[int, float]) -> SyntaxVR:
    names = ("dep_nsubj", "morph_Number=Plur", "pos_DET", "pos_NOUN", "pos_X")
    kinds = ("dep", "morph", "pos", "pos", "pos")
    vr = np.full((len(measured), len(names)), 0.05, dtype=np.float32)
    vr[:, 4] = np.nan  # pos_X: too rare to test
    for row, neuron in enumerate(measured):
        vr[row, 2] = pos.get(int(neuron), 0.05)
        vr[row, 0] = 0.9  # a dependency label: counts at full scale only
    return SyntaxVR(names, kinds, measured, vr, np.array([50, 50, 50, 50, 2]), 1000, "test tagger")


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
    universal = universal_in([0, 1, 2, 3])
    best = np.zeros(len(universal))
    t = thresholds("F5")
    assert not syntax_parts(best, LAYER, universal, N_LAYERS, "small", t)[0][0].passed
    best[np.flatnonzero(universal)[0]] = 0.4
    best[np.flatnonzero(~universal)[:5]] = 0.9  # non-universal neurons do not count
    parts, key, _ = syntax_parts(best, LAYER, universal, N_LAYERS, "small", t)
    assert parts[0].passed
    assert key == 1


def test_syntax_neurons_concentrated_in_one_layer_fail_at_full_scale() -> None:
    layer = np.repeat(np.arange(24), 40)
    universal = universal_in(list(range(24)), per_layer=2, layer=layer) | universal_in([7], per_layer=30, layer=layer)
    t = thresholds("F5", "full")
    best = np.where(universal & (layer == 7), 0.9, np.where(universal, 0.1, 0.0))  # the top 25 all in layer 7
    assert not all(p.passed for p in syntax_parts(best, layer, universal, 24, "full", t)[0])
    everywhere = universal_in(list(range(24)), per_layer=2, layer=layer)
    spread = np.where(everywhere, 0.5, 0.0)
    assert all(p.passed for p in syntax_parts(spread, layer, everywhere, 24, "full", t)[0])


def test_syntax_share_counts_universal_neurons_at_the_vr_floor() -> None:
    assert syntax_share(np.array([0.3, 0.29, 0.8, 0.9]), np.array([True, True, True, False]), 0.3) == (2, 3)


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
