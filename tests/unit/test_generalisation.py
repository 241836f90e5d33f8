from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims import generalisation as g
from claims.matrix import expand, serves
from claims.profiles import get_profile
from claims.registry import load_all
from claims.verdict import Axis, Verdict


def _row(
    claim_id: str, verdict: str, axis: str, model: str = "zoo-gpt2-s", dataset: str = "sotu", scale: str = "small"
) -> dict[str, Any]:
    return {
        "id": claim_id,
        "title": claim_id,
        "paper_ref": "§4",
        "axis": axis,
        "model": model,
        "dataset": dataset,
        "verdict": verdict,
        "scale": scale,
        "role": "claim",
        "parts": [],
    }


@pytest.mark.parametrize(
    ("verdict", "reference", "expected"),
    [
        ("PASS", "held", g.GENERALISES),
        ("FAIL", "held", g.DOES_NOT),
        ("INCONCLUSIVE", "held", g.INCONCLUSIVE),
        ("ERROR", "held", g.INCONCLUSIVE),
        ("PASS", "not_held", g.NOT_REPRODUCED),
        ("FAIL", "not_held", g.NOT_REPRODUCED),
        ("FAIL", "missing", g.INCONCLUSIVE),
        ("PASS", "missing", g.INCONCLUSIVE),
        ("NOT_APPLICABLE", "missing", g.NOT_APPLICABLE),
        ("NOT_APPLICABLE", "held", g.NOT_APPLICABLE),
        ("NOT_RUN", "held", g.NOT_RUN),
    ],
)
def test_row_label_is_judged_relative_to_the_original(verdict: str, reference: str, expected: str) -> None:
    assert g.row_label(verdict, reference) == expected


def test_negative_control_rows_never_count() -> None:
    assert g.row_label("FAIL", "held", "negative_control") is None


def test_a_claim_that_fails_in_the_original_is_not_reproduced_and_cannot_fail_the_axis() -> None:
    rows = [_row("P2", "FAIL", "original"), _row("P2", "FAIL", "gt1", model="zoo-gpt2-n")]
    block = g.judge(rows)
    assert rows[1]["generalisation"] == g.NOT_REPRODUCED
    assert block["axes"]["GT1_ModelGeneralization"]["verdict"] != Verdict.FAIL
    assert block["axes"]["GT1_ModelGeneralization"]["claims"][g.NOT_REPRODUCED] == ["P2"]


def test_a_claim_that_holds_in_the_original_and_fails_on_a_new_model_fails_the_axis() -> None:
    rows = [
        _row("U1", "PASS", "original"),
        _row("U1", "FAIL", "gt1", model="zoo-gpt2-n"),
        _row("U2", "PASS", "original"),
        _row("U2", "PASS", "gt1", model="zoo-gpt2-n"),
    ]
    block = g.judge(rows)
    axis = block["axes"]["GT1_ModelGeneralization"]
    assert axis["verdict"] == Verdict.FAIL
    assert axis["claims"][g.DOES_NOT] == ["U1"]
    assert axis["claims"][g.GENERALISES] == ["U2"]


def test_full_scale_rows_are_judged_against_the_paper_when_the_run_has_no_full_scale_original() -> None:
    rows = [_row("P1", "FAIL", "original"), _row("P1", "PASS", "gt1", model="smollm2", scale="full")]
    g.judge(rows)
    assert rows[1]["reference"]["source"].startswith("paper")
    assert rows[1]["generalisation"] == g.GENERALISES


def test_gt1_run_without_original_rows_says_the_reference_is_missing_and_cannot_judge() -> None:
    rows = [_row("U1", "PASS", "gt1", model="zoo-gpt2-n")]
    g.judge(rows)
    assert rows[0]["reference"]["status"] == "missing"
    assert rows[0]["generalisation"] == g.INCONCLUSIVE


@pytest.mark.parametrize("original", ["ERROR", "NOT_RUN"])
def test_an_original_that_errored_or_did_not_run_leaves_the_row_inconclusive_not_unreproduced(original: str) -> None:
    rows = [_row("U1", original, "original"), _row("U1", "FAIL", "gt1", model="zoo-gpt2-n")]
    block = g.judge(rows)
    assert rows[1]["reference"]["status"] == "missing"
    assert rows[1]["generalisation"] == g.INCONCLUSIVE
    assert block["axes"]["GT1_ModelGeneralization"]["claims"][g.NOT_REPRODUCED] == []


@pytest.mark.parametrize("original", ["FAIL", "INCONCLUSIVE", "NOT_APPLICABLE"])
def test_an_original_that_did_not_hold_makes_the_row_not_reproduced(original: str) -> None:
    rows = [_row("U1", original, "original"), _row("U1", "PASS", "gt1", model="zoo-gpt2-n")]
    g.judge(rows)
    assert rows[1]["reference"]["status"] == "not_held"
    assert rows[1]["generalisation"] == g.NOT_REPRODUCED


def test_a_claim_without_an_original_setting_is_judged_against_the_paper() -> None:
    row = _row("G2-overlap", "PASS", "gt2", dataset="wiki") | {"axes": ["gt2"]}
    block = g.judge([row])
    assert row["reference"]["source"].startswith("paper")
    assert row["reference"]["status"] == "held"
    assert block["axes"]["GT2_DataGeneralization"]["claims"][g.GENERALISES] == ["G2-overlap"]


def test_a_claim_with_an_original_setting_is_never_judged_against_the_paper_at_small_scale() -> None:
    row = _row("U1", "PASS", "gt2", dataset="wiki") | {"axes": ["original", "gt2"]}
    g.judge([row])
    assert row["reference"]["status"] == "missing"


def test_rows_of_the_other_scale_are_not_the_reference() -> None:
    rows = [_row("U1", "PASS", "original", scale="full"), _row("U1", "FAIL", "gt1", model="zoo-gpt2-n")]
    g.judge(rows)
    assert rows[1]["reference"]["status"] == "missing"


def _marginal_pass_among(others: str) -> list[dict]:
    """An original PASS, then one GT2 row passing at p = 0.04 among nine `others` rows at p = 0.5."""
    rows = [_row("U1", "PASS", "original")]
    for i in range(10):
        row = _row("U1", "PASS" if i == 0 else others, "gt2", dataset=f"d{i}")
        row["parts"] = [
            {"name": "t", "value": 0.04 if i == 0 else 0.5, "op": "p<", "threshold": 0.05, "passed": i == 0}
        ]
        rows.append(row)
    return rows


def test_benjamini_hochberg_turns_a_marginal_pass_into_inconclusive() -> None:
    rows = _marginal_pass_among("FAIL")
    g.judge(rows)
    assert rows[1]["multiplicity"]["verdict"] == Verdict.INCONCLUSIVE
    assert rows[1]["generalisation"] == g.INCONCLUSIVE


def test_benjamini_hochberg_counts_the_p_values_of_inconclusive_rows_too() -> None:
    rows = _marginal_pass_among("INCONCLUSIVE")
    g.judge(rows)
    assert rows[1]["multiplicity"]["n_tests"] == 10
    assert rows[1]["multiplicity"]["verdict"] == Verdict.INCONCLUSIVE
    assert rows[2]["multiplicity"]["verdict"] == Verdict.INCONCLUSIVE  # only a PASS is ever demoted


def test_an_axis_where_nothing_was_measured_is_not_run_and_says_why() -> None:
    rows = [_row("U1", "NOT_APPLICABLE", "gt1", model="smollm2", scale="full"), _row("F5", "NOT_RUN", "gt1")]
    block = g.judge(rows)
    assert block["axes"]["GT1_ModelGeneralization"]["verdict"] == Verdict.NOT_RUN
    text = g.rationale("GT1_ModelGeneralization", block, block["claims"])
    assert text.startswith("NOT_RUN:")
    assert "1 not applicable, 1 not run" in text
    assert "U1" in text
    assert "F5" in text


def test_rationale_stays_under_the_limit_and_names_claims() -> None:
    rows = []
    for i in range(80):
        cid = f"CLAIM-WITH-A-LONG-NAME-{i}"
        rows += [_row(cid, "PASS", "original"), _row(cid, "FAIL" if i % 2 else "PASS", "gt1", model=f"model-{i}")]
    block = g.judge(rows)
    text = g.rationale("GT1_ModelGeneralization", block, block["claims"])
    assert len(text) <= g.RATIONALE_LIMIT
    assert text.startswith("FAIL:")
    assert "CLAIM-WITH-A-LONG-NAME-1 (model-1)" in text
    assert "more" in text


@given(st.lists(st.sampled_from(list(g.LABELS)), max_size=12))
def test_axis_fails_only_when_some_claim_does_not_generalise(labels: list[str]) -> None:
    verdict = g.axis_verdict({str(i): label for i, label in enumerate(labels)})
    if verdict == Verdict.FAIL:
        assert g.DOES_NOT in labels
    if verdict == Verdict.PASS:
        assert g.DOES_NOT not in labels
        assert g.GENERALISES in labels


def test_a_full_scale_selection_does_not_bring_the_small_zoo_originals() -> None:
    claims = [c for c in load_all().values() if c.id == "P1"]
    cases = expand(claims, get_profile("default"), models=["smollm2-135m-instruct-q4"])
    assert not [c for c in cases if c.axis is Axis.ORIGINAL], "full-size rows are judged against the paper here"


def test_a_gt1_selection_brings_the_original_rows_it_is_judged_against() -> None:
    claims = [c for c in load_all().values() if c.id == "U1"]
    cases = expand(claims, get_profile("default"), models=["zoo-gpt2-n"])
    originals = [c for c in cases if c.axis is Axis.ORIGINAL]
    assert originals, "the original rows of U1 must be part of a --claims-models run"
    assert Axis.GT1 in serves(originals[0], cases)
