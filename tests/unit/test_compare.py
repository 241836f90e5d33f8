"""`python -m claims.compare` says what differs between two summaries: inputs, code, results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claims.compare import main


def _summary(commit: str = "abc", verdict: str = "PASS", value: float = 0.5, weights: str = "sha256:1") -> dict:
    row = {
        "id": "U1",
        "axis": "original",
        "model": "zoo-gpt2-s",
        "dataset": "sotu",
        "verdict": verdict,
        "key": {"name": "f", "value": value},
        "provenance": {"models": {"zoo-gpt2-s:a": weights}, "samples": {"zoo-gpt2-s:a": "s1"}},
    }
    run = {"git_commit": commit, "profile": "default", "device": "cpu", "options": {"tokens_small": 32768}}
    return {"claims": [row], "run": run}


def _write(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_identical_summaries_report_no_difference_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = _write(tmp_path, "a", _summary())
    assert main([a, a]) == 0
    assert capsys.readouterr().out.splitlines() == ["inputs: same", "code: same", "results: same"]


def test_a_moved_verdict_is_reported_with_its_input_and_code_changes_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a = _write(tmp_path, "a", _summary())
    b = _write(tmp_path, "b", _summary(commit="def", verdict="FAIL", value=0.1, weights="sha256:2"))
    assert main([a, b]) == 1
    out = capsys.readouterr().out
    assert "run.git_commit: 'abc' -> 'def'" in out
    assert "U1|original|zoo-gpt2-s|sotu: provenance" in out
    assert "U1|original|zoo-gpt2-s|sotu: PASS -> FAIL" in out
    assert "U1|original|zoo-gpt2-s|sotu: f 0.5 -> 0.1" in out


def test_a_file_that_is_not_a_summary_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit, match=r"not a summary\.json"):
        main([str(bad), str(bad)])
