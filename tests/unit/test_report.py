from __future__ import annotations

from typing import Any

import pytest

from claims.report import build_summary, table_lines, validate_summary
from claims.verdict import fmt, jsonable


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
        "parts": [{"name": "x", "value": value, "op": ">=", "threshold": 1.0, "passed": verdict == "PASS"}],
        "effect": {
            "name": "x - control",
            "measured": value,
            "control": 0.0,
            "value": value,
            "ci95": [value / 2, value * 2],
            "threshold": 0.0,
            "control_name": "untrained seeds",
            "method": "test",
            "scale": "difference",
            "detectable": 0.1,
        },
        "role": "claim",
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


def test_summary_keeps_the_reference_checklist_keys_and_validates() -> None:
    rows = [_row("U1", "PASS", axis="original"), _row("U1", "PASS"), _row("U1", "FAIL", axis="gt2")]
    summary = build_summary(rows, _run())
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


def test_schema_rejects_a_pass_without_an_effect_against_its_control() -> None:
    import jsonschema

    row = _row("U1", "PASS")
    row["effect"] = None
    with pytest.raises(jsonschema.ValidationError):
        validate_summary(jsonable(build_summary([row], _run())))


def test_table_lists_the_parts_that_failed() -> None:
    row = _row("P2", "FAIL", value=0.25)
    row["parts"] = [
        {"name": "depth growth", "value": 1.0, "op": ">=", "threshold": 1.0, "passed": True},
        {"name": "suppression share", "value": 0.2, "op": ">=", "threshold": 0.5, "passed": False},
    ]
    line = table_lines([row], width=400)[1]
    assert "1/2 parts held" in line
    assert "suppression share = 0.2 >= 0.5" in line


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
