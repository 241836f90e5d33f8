from __future__ import annotations

from claims.matrix import ClaimCase
from claims.scheduling import case_groups, scope_of
from claims.verdict import Axis

CASES = [
    ClaimCase("zoo-gpt2-s", "sotu", "U1", Axis.ORIGINAL),
    ClaimCase("zoo-gpt2-s", "sotu", "F1", Axis.GT3),
    ClaimCase("zoo-gpt2-s", "code", "U1", Axis.GT2),
    ClaimCase("smollm2-135m-instruct-q4", None, "A2", Axis.GT3),
]


def test_cases_of_one_subject_and_dataset_share_a_scope_across_claims_and_axes() -> None:
    groups = case_groups(CASES)
    scopes = [scope_of(f"tests/claims/test_claims.py::test_claim[{c.test_id}]", groups) for c in CASES]
    assert scopes == ["zoo-gpt2-s@sotu", "zoo-gpt2-s@sotu", "zoo-gpt2-s@code", "smollm2-135m-instruct-q4@weights"]


def test_other_tests_are_each_their_own_scope() -> None:
    groups = case_groups(CASES)
    for nodeid in ("tests/unit/test_plugin.py::test_x[workers0]", "tests/unit/test_matrix.py::test_y"):
        assert scope_of(nodeid, groups) == nodeid
