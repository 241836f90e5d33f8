"""The baseline gate compares a run with the committed rows the way the summary stores them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from claims.baseline import case_key, regression
from claims.matrix import ClaimCase
from claims.registry import REGISTRY
from claims.verdict import Axis, Evidence, KeyNumber, Verdict, jsonable

CASE = ClaimCase(subject="paper-tables", dataset=None, claim_id="U1-published", axis=Axis.ORIGINAL)


def _evidence(value: float, verdict: Verdict = Verdict.PASS) -> Evidence:
    return Evidence(verdict=verdict, key=KeyNumber("x", value, "x < 1", 1e-9), reason="measured", criterion="")


def _baseline(value: float, verdict: str = "PASS") -> dict[str, dict]:
    version = REGISTRY.get("U1-published").version
    row = {"version": version, "verdict": verdict, "key_value": jsonable(value), "tolerance": 1e-9, "criterion": ""}
    return {case_key(CASE): row}


def test_a_value_equal_to_its_rounded_baseline_is_not_a_drift_even_at_zero_tolerance() -> None:
    value = 0.0018928649  # stored as 0.00189286: 4.9e-9 of rounding, above the tolerance
    assert regression(_baseline(value), CASE, _evidence(value)) is None


def test_a_value_beyond_the_tolerance_is_a_regression_naming_the_claim() -> None:
    message = regression(_baseline(0.0018929), CASE, _evidence(0.0019))
    assert message is not None
    assert "U1-published" in message
    assert "moved" in message


def test_pass_turning_into_fail_is_a_regression() -> None:
    message = regression(_baseline(0.001), CASE, _evidence(0.001, Verdict.FAIL))
    assert message is not None
    assert "PASS -> FAIL" in message


def test_a_threshold_changed_without_a_version_bump_is_a_regression_even_when_the_text_is_the_same() -> None:
    version = REGISTRY.get("U1-published").version
    row = {"version": version, "verdict": "PASS", "key_value": 0.001, "tolerance": 1e-9}
    base = {case_key(CASE): row | {"criterion": "x < 1", "thresholds": {"fallback_top_frac": 0.02}}}
    evidence = replace(_evidence(0.001), criterion="x < 1", scale="full")
    message = regression(base, CASE, evidence)  # the published claim's real thresholds differ from the stored ones
    assert message is not None
    assert "criterion changed without a version bump" in message


def test_every_claim_version_above_1_has_its_changelog_entry_in_the_paper_readme() -> None:
    from claims.registry import changelog_entry, load_all

    missing = [
        f"{c.id} v{v} -> v{v + 1}"
        for c in load_all().values()
        for v in range(1, c.version)
        if changelog_entry(replace(c, version=v + 1), v) is None
    ]
    assert missing == []


def test_a_bullet_for_every_claim_covers_only_its_own_move_not_one_it_names_for_another_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claims import registry
    from claims.registry import changelog_entry, load_all

    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n- every claim v1 -> v2 (X1 v2 -> v3): controls decide.\n- F5 v3 -> v4: a reason.\n")
    monkeypatch.setattr(registry, "claim_readme", lambda claim: readme)
    f5 = load_all()["F5"]
    assert changelog_entry(replace(f5, version=2), 1) == "every claim v1 -> v2 (X1 v2 -> v3): controls decide."
    assert changelog_entry(replace(f5, version=3), 2) is None  # "X1 v2 -> v3" is X1's move, not F5's
    assert changelog_entry(replace(load_all()["X1"], version=3), 2) is not None
    assert changelog_entry(replace(f5, version=4), 3) == "F5 v3 -> v4: a reason."
