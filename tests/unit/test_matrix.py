from __future__ import annotations

from pathlib import Path

import pytest

from claims.matrix import ClaimCase, case_scale, expand
from claims.profiles import PROFILES, axis_of
from claims.registry import Criterion, Needs, Registry, claim
from claims.verdict import Axis


def _claims(**needs: object) -> list:
    registry = Registry()
    crit = Criterion(full="x", small="x")
    claim(
        "C1",
        title="t",
        statement="s",
        paper_ref="§",
        axes=list(Axis)[:3],
        criterion=crit,
        needs=Needs(**needs),
        min_tokens=1,
        registry=registry,
    )(lambda ctx: None)
    claim(
        "G1",
        title="t",
        statement="s",
        paper_ref="§",
        axes=[Axis.GT3],
        criterion=crit,
        needs=Needs(**needs),
        min_tokens=1,
        registry=registry,
    )(lambda ctx: None)
    return registry.all()


@pytest.mark.parametrize(
    ("subject", "dataset", "method", "axis"),
    [
        ("zoo-gpt2-s", "sotu", False, Axis.ORIGINAL),
        ("zoo-gpt2-s:c", "sotu", False, Axis.ORIGINAL),
        ("smollm2-135m-instruct-q4", "sotu", False, Axis.GT1),
        ("zoo-gpt2-s", "code", False, Axis.GT2),
        ("smollm2-135m-instruct-q4", "code", False, Axis.GT2),
        ("smollm2-135m-instruct-q4", None, False, Axis.GT1),
        ("zoo-gpt2-s", "sotu", True, Axis.GT3),
    ],
)
def test_axis_is_derived_from_what_is_new(subject: str, dataset: str | None, method: bool, axis: Axis) -> None:
    assert axis_of(subject, dataset, method) is axis


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_profile_cells_agree_with_the_axis_rule(profile: str) -> None:
    for axis, cell in PROFILES[profile].cells.items():
        for subject in cell.subjects:
            for dataset in cell.datasets:
                assert axis_of(subject, dataset, axis is Axis.GT3) is axis, (axis, subject, dataset)


def test_default_profile_puts_the_base_family_on_sotu_in_the_original_axis() -> None:
    cases = expand(_claims(), PROFILES["default"])
    original = [c for c in cases if c.axis is Axis.ORIGINAL]
    assert {(c.subject, c.dataset) for c in original} == {("zoo-gpt2-s", "sotu")}


def test_method_claims_only_join_gt3() -> None:
    cases = expand(_claims(), PROFILES["default"])
    assert {c.axis for c in cases if c.claim_id == "G1"} == {Axis.GT3}


def test_user_models_replace_the_profile_and_derive_axes() -> None:
    cases = expand(_claims(), PROFILES["default"], models=["zoo-gpt2-n"], datasets=["sotu", "code"])
    assert {(c.claim_id, c.axis, c.dataset) for c in cases} == {
        ("C1", Axis.ORIGINAL, "sotu"),  # the profile's original row: what GT1/GT2 are judged against
        ("C1", Axis.GT1, "sotu"),
        ("C1", Axis.GT2, "code"),
        ("G1", Axis.GT3, "sotu"),
        ("G1", Axis.GT3, "code"),
    }


def test_weight_only_claims_run_once_per_subject() -> None:
    cases = expand(_claims(text=False), PROFILES["default"], models=["m"], datasets=["sotu", "code"])
    assert [c.dataset for c in cases if c.claim_id == "C1" and c.subject == "m"] == [None]


def test_published_claims_run_once_on_the_paper_tables() -> None:
    cases = expand(_claims(published=True, text=False), PROFILES["default"])
    assert {(c.subject, c.axis) for c in cases} == {("paper-tables", Axis.ORIGINAL)}


def test_cases_are_sorted_by_subject_to_keep_models_loaded_once() -> None:
    cases = expand(_claims(), PROFILES["default"])
    subjects = [c.subject for c in cases]
    assert subjects == sorted(subjects)


@pytest.mark.parametrize(
    ("subject", "scale"),
    [
        ("zoo-gpt2-s", "small"),
        ("zoo-gpt2-n:a", "small"),
        ("smollm2-135m-instruct-q4", "full"),
        ("paper-tables", "full"),
    ],
)
def test_every_case_knows_its_scale_before_anything_is_measured(subject: str, scale: str) -> None:
    assert case_scale(ClaimCase(subject, "sotu", "U1", Axis.GT1)) == scale


def test_a_subject_that_does_not_resolve_has_no_scale_rather_than_a_guessed_one(tmp_path: Path) -> None:
    assert case_scale(ClaimCase(str(tmp_path / "missing"), "sotu", "U1", Axis.GT1)) == ""
