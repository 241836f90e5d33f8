from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claims.report import axis_verdict, build_summary, rationale, table_lines, validate_summary
from claims.verdict import Axis, Verdict, fmt, jsonable


def _row(claim_id: str, verdict: str, axis: str = "gt1", value: float = 0.5) -> dict[str, Any]:
    return {
        "id": claim_id,
        "version": 1,
        "title": f"title {claim_id}",
        "statement": "statement",
        "paper_ref": "§1",
        "axis": axis,
        "model": "m",
        "dataset": "d",
        "verdict": verdict,
        "criterion": "x >= 1",
        "scale": "small",
        "key": {"name": "x", "value": value, "criterion": "x >= 1", "tolerance": 0.0},
        "reason": f"x was {value}",
        "measured": {"x": value},
        "control": {"x": 0.0},
        "n_tokens": 100,
        "seconds": 0.1,
        "forward_passes": 0,
        "nodeid": "t",
    }


def _run() -> dict[str, Any]:
    return {
        "started": "s",
        "finished": "f",
        "git_commit": "c",
        "versions": {},
        "device": "cpu",
        "profile": "default",
        "options": {},
        "forward_passes": 0,
    }


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([], Verdict.NOT_RUN),
        (["NOT_RUN"], Verdict.NOT_RUN),
        (["PASS", "PASS"], Verdict.PASS),
        (["PASS", "NOT_RUN"], Verdict.PASS),
        (["PASS", "INCONCLUSIVE"], Verdict.INCONCLUSIVE),
        (["PASS", "ERROR"], Verdict.INCONCLUSIVE),
        (["PASS", "FAIL", "INCONCLUSIVE"], Verdict.FAIL),
    ],
)
def test_axis_verdict_follows_the_documented_rule(verdicts: list[str], expected: Verdict) -> None:
    assert axis_verdict([_row(str(i), v) for i, v in enumerate(verdicts)]) == expected


@given(st.lists(st.sampled_from([v.value for v in Verdict]), max_size=8))
def test_axis_is_pass_only_when_every_counted_row_passes(verdicts: list[str]) -> None:
    rows = [_row(str(i), v) for i, v in enumerate(verdicts)]
    counted = [v for v in verdicts if v != "NOT_RUN"]
    assert (axis_verdict(rows) == Verdict.PASS) == (bool(counted) and all(v == "PASS" for v in counted))


def test_rationale_names_every_failed_claim_with_its_number() -> None:
    text = rationale(Axis.GT1, [_row("U1", "FAIL", value=0.123), _row("U2", "PASS")])
    assert text.startswith("FAIL:")
    assert "U1 (title U1)" in text
    assert "x = 0.123" in text


def test_summary_keeps_the_reference_checklist_keys_and_validates() -> None:
    summary = build_summary([_row("U1", "PASS"), _row("U2", "FAIL", axis="gt2")], _run())
    assert list(summary["Checklist"]) == [
        "GT1_ModelGeneralization",
        "GT2_DataGeneralization",
        "GT3_MethodGeneralization",
    ]
    assert summary["Checklist"] == {
        "GT1_ModelGeneralization": "PASS",
        "GT2_DataGeneralization": "FAIL",
        "GT3_MethodGeneralization": "NOT_RUN",
    }
    validate_summary(jsonable(summary))


def test_schema_rejects_a_pass_without_a_control() -> None:
    import jsonschema

    row = _row("U1", "PASS")
    row["control"] = {}
    with pytest.raises(jsonschema.ValidationError):
        validate_summary(jsonable(build_summary([row], _run())))


def test_table_shows_key_number_against_criterion() -> None:
    lines = table_lines([_row("U1", "FAIL", value=0.25)])
    assert "U1" in lines[1]
    assert "FAIL" in lines[1]
    assert "x = 0.25 [x >= 1]" in lines[1]


def test_number_formatting_is_stable() -> None:
    assert fmt(0.123456) == "0.123"
    assert fmt(12345.678) == "1.235e+04"
    assert fmt(3) == "3"
    assert jsonable({"a": float("nan")}) == {"a": "nan"}
