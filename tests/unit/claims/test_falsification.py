"""Each claim must be able to FAIL: run it on real (tiny) models or tables built to violate it.

P2-P4 need prediction neurons by P1's rule; their cases are in test_prediction_mechanics.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from claims.verdict import Axis, Verdict

NOT_PASS = (Verdict.FAIL, Verdict.INCONCLUSIVE)


def test_permuted_copies_are_not_a_minority_of_universal_neurons(run_claim, declare, tiny_dirs) -> None:
    family = declare("copies", tiny_dirs["random0"], tiny_dirs["permuted0"])
    evidence = run_claim("U1", family)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.key.value > 0.5  # every neuron has its exact twin in the copy


def test_independent_random_seeds_show_no_privileged_basis(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim("U2", family).verdict is Verdict.FAIL


def test_independent_random_seeds_show_no_depth_specialisation(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim("U4", family).verdict is Verdict.FAIL


def test_independent_random_seeds_have_no_weight_signature(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim("S1", family).verdict in NOT_PASS


def test_independent_random_seeds_have_no_duplicate_excess(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim("M2", family).verdict in NOT_PASS


def test_random_heads_are_not_universal(run_claim, declare, tiny_dirs) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim("G3-heads", family, tokens=12_288).verdict is Verdict.FAIL


@pytest.mark.parametrize("claim_id", ["F1", "F3", "F4", "F7"])
def test_independent_random_seeds_have_no_neuron_family_beyond_their_control(
    run_claim, declare, tiny_dirs, claim_id: str
) -> None:
    family = declare("random", tiny_dirs["random0"], tiny_dirs["random1"])
    assert run_claim(claim_id, family).verdict in (*NOT_PASS, Verdict.NOT_APPLICABLE)


def test_untrained_model_has_no_prediction_neurons(run_claim, tiny_dirs) -> None:
    assert run_claim("P1", str(tiny_dirs["random0"]), tokens=2_048).verdict is Verdict.FAIL


def test_too_few_tokens_is_inconclusive_never_pass(run_claim, declare, tiny_dirs) -> None:
    family = declare("copies", tiny_dirs["random0"], tiny_dirs["permuted0"])
    evidence = run_claim("U2", family, tokens=4_096)
    assert evidence.verdict is Verdict.INCONCLUSIVE
    assert "below the pre-registered minimum" in evidence.reason


def test_single_model_is_not_applicable_for_cross_seed_claims(run_claim, tiny_dirs) -> None:
    evidence = run_claim("U1", str(tiny_dirs["random0"]))
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith("precondition: >= 2 seeds")


def test_a_copy_among_random_seeds_is_inconsistent_across_comparisons(run_claim, declare, tiny_dirs) -> None:
    family = declare("mixed", tiny_dirs["random0"], tiny_dirs["permuted0"], tiny_dirs["random1"], tiny_dirs["random2"])
    evidence = run_claim("U3", family)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.measured["mean_spread_universal"] > 0.2


def test_untrained_weights_show_no_frequency_cosine_relation(run_claim, tiny_dirs) -> None:
    assert run_claim("M1", str(tiny_dirs["random0"]), tokens=8_192).verdict in NOT_PASS


def test_unrelated_universal_sets_on_two_datasets_fail_the_transfer_check(
    run_claim, declare, tiny_dirs, monkeypatch
) -> None:
    from claims.papers.universal_neurons import universality_matches

    rng = np.random.default_rng(1)
    tables = {}

    def crafted(ctx, dataset=None):  # type: ignore[no-untyped-def]
        key = dataset or ctx.dataset
        if key not in tables:
            excess = rng.uniform(0, 0.6, 400)
            tables[key] = _universality(excess, excess)
        return tables[key]

    monkeypatch.setattr(universality_matches, "universality", crafted)
    family = declare("copies", tiny_dirs["random0"], tiny_dirs["permuted0"])
    evidence = run_claim("G2-overlap", family, axis=Axis.GT2, dataset="news")
    assert evidence.verdict is Verdict.FAIL


def _universality(excess: np.ndarray, excess_orth: np.ndarray):  # type: ignore[no-untyped-def]
    from claims.papers.universal_neurons.measures import Universality

    n = len(excess)
    table = pd.DataFrame(
        {
            "layer": np.repeat([0, 1], n // 2),
            "neuron": np.tile(np.arange(n // 2), 2),
            "excess_corr": excess,
            "excess_corr_orth": excess_orth,
            "mean_baseline": np.full(n, 0.1),
            "mean_baseline_orth": np.full(n, 0.1),
        }
    )
    return Universality(table, np.eye(2), None, excess, excess, 50_000, ("b",))


def test_baselines_that_disagree_fail_the_baseline_choice_check(run_claim, declare, tiny_dirs, monkeypatch) -> None:
    from claims.papers.universal_neurons import heads

    rng = np.random.default_rng(0)
    crafted = _universality(rng.uniform(0, 0.6, 400), rng.uniform(0, 0.6, 400))  # unrelated rankings
    monkeypatch.setattr(heads, "universality", lambda ctx: crafted)
    family = declare("copies", tiny_dirs["random0"], tiny_dirs["permuted0"])
    assert run_claim("G3-baseline", family).verdict is Verdict.FAIL


def test_published_fractions_off_by_a_point_fail(run_claim, monkeypatch) -> None:
    from claims.papers.universal_neurons import published, tables

    original = tables.universal

    def thinned(model: str) -> pd.DataFrame:
        frame = original(model)
        return frame.iloc[: int(len(frame) * 0.75)]

    monkeypatch.setattr(published.tables, "universal", thinned)
    evidence = run_claim("U1-published", "paper-tables", dataset=None)
    assert evidence.verdict is Verdict.FAIL


def test_published_signature_with_shuffled_labels_fails(run_claim, monkeypatch) -> None:
    from claims.papers.universal_neurons import published, tables

    weights = tables.gpt2_small_weights()
    rng = np.random.default_rng(0)

    def shuffled(model: str) -> pd.DataFrame:
        picks = weights.iloc[rng.choice(len(weights), 1533, replace=False)][["layer", "neuron"]]
        return picks.reset_index(drop=True)

    monkeypatch.setattr(published.tables, "universal", shuffled)
    assert run_claim("S1-published", "paper-tables", dataset=None).verdict is Verdict.FAIL


def test_published_position_candidates_spread_over_all_layers_fail(run_claim, monkeypatch) -> None:
    from claims.papers.universal_neurons import published, tables

    original = tables.universal

    def kurtosis_unrelated_to_layer(model: str) -> pd.DataFrame:
        frame = original(model).copy()
        frame["kurt"] = np.random.default_rng(0).permutation(frame["kurt"].to_numpy())
        return frame

    monkeypatch.setattr(published.tables, "universal", kurtosis_unrelated_to_layer)
    assert run_claim("F4-published", "paper-tables", dataset=None).verdict is Verdict.FAIL


@pytest.mark.parametrize(
    "claim_id", ["U1", "U2", "U3", "U4", "S1", "M2", "P3", "G2-overlap", "G3-heads", "G3-baseline"]
)
def test_cross_seed_claims_declare_a_control(claim_id: str) -> None:
    from claims.registry import load_all

    assert load_all()[claim_id].needs.untrained_control


def test_criterion_cannot_change_without_a_version_bump() -> None:
    from claims.baseline import regression
    from claims.matrix import ClaimCase
    from claims.registry import load_all
    from claims.verdict import Axis, Evidence, KeyNumber

    claim = load_all()["U1"]
    case = ClaimCase("zoo-gpt2-s", "sotu", "U1", Axis.ORIGINAL)
    evidence = Evidence(Verdict.PASS, KeyNumber("f", 0.01, "", 0.005), "r", criterion="looser text")
    expected = {
        "U1|original|zoo-gpt2-s|sotu": {
            "version": claim.version,
            "verdict": "PASS",
            "key_value": 0.01,
            "tolerance": 0.005,
            "criterion": claim.criterion.text("small"),
        }
    }
    assert "without a version bump" in (regression(expected, case, replace(evidence)) or "")
