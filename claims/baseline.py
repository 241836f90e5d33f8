"""CI gating on claim regressions against a committed baseline of verdicts and key numbers.

A regression is: a row that was PASS and is now FAIL / INCONCLUSIVE / ERROR; a key number that drifted beyond
the tolerance its claim declares; a criterion whose text changed while the claim's version did not (criteria
are pre-registered: changing one is a new version of the claim, never a silent edit); or a row of the baseline
that this run should have produced and did not. Improvements (now PASS) and new rows are listed, not failed.
Known FAILs of the paper at small scale are in the baseline as FAIL, so they do not break CI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claims.matrix import ClaimCase
from claims.verdict import Evidence, Verdict, fmt, jsonable

BASELINE_VERSION = 1


def row_key(claim_id: str, axis: str, model: str, dataset: str) -> str:
    """Identity of a row across runs."""
    return f"{claim_id}|{axis}|{model}|{dataset}"


def case_key(case: ClaimCase) -> str:
    """Row identity of a case."""
    return row_key(case.claim_id, case.axis.value, case.subject, case.dataset_label)


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Baseline rows by key."""
    data = json.loads(Path(path).read_text())
    if data.get("baseline_version") != BASELINE_VERSION:
        raise ValueError(f"{path}: baseline_version {data.get('baseline_version')} is not {BASELINE_VERSION}")
    return {r["key"]: r for r in data["rows"]}


def write(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a baseline from summary rows (sorted, one row per line for readable diffs)."""
    from fixtures.storage import atomic_write_text

    entries = sorted(
        (
            {
                "key": row_key(r["id"], r["axis"], r["model"], r["dataset"]),
                "version": r["version"],
                "verdict": r["verdict"],
                "key_name": r["key"].get("name", ""),
                "key_value": r["key"].get("value"),
                "tolerance": r["key"].get("tolerance", 0.0),
                "criterion": r["criterion"],
            }
            for r in rows
        ),
        key=lambda e: e["key"],
    )
    lines = ",\n".join("  " + json.dumps(e, sort_keys=True) for e in entries)
    atomic_write_text(Path(path), f'{{"baseline_version": {BASELINE_VERSION}, "rows": [\n{lines}\n]}}\n')


def regression(expected: Mapping[str, Mapping[str, Any]], case: ClaimCase, evidence: Evidence) -> str | None:
    """Why this row regressed against the baseline, or None (new rows and improvements are not regressions)."""
    base = expected.get(case_key(case))
    if base is None:
        return None
    from claims.registry import REGISTRY

    claim = REGISTRY.get(case.claim_id)
    if base["version"] != claim.version:
        return None  # a new version of the claim is a new row: listed, not compared
    name = f"{case.claim_id} on {case.subject}/{case.dataset_label} ({case.axis.value})"
    if base["criterion"] and evidence.criterion and base["criterion"] != evidence.criterion:
        return (
            f"REGRESSION {name}: its criterion changed without a version bump (baseline: {base['criterion']!r}; "
            f"now: {evidence.criterion!r}). Criteria are pre-registered: bump the claim's version to change one"
        )
    was, now = base["verdict"], str(evidence.verdict)
    if was == Verdict.PASS and now != Verdict.PASS:
        return f"REGRESSION {name}: PASS -> {now}: {evidence.key.formatted()}: {evidence.reason}"
    if was == now and _beyond_tolerance(base, evidence.key.value):
        return (
            f"REGRESSION {name}: {evidence.key.name} moved from {fmt(base['key_value'])} to "
            f"{fmt(evidence.key.value)}, beyond the claim's tolerance {fmt(base['tolerance'])}"
        )
    return None


def _beyond_tolerance(base: Mapping[str, Any], new: Any) -> bool:
    """Whether a key number moved beyond the baseline row's tolerance (non-numbers and NaN never count).

    The baseline holds the summary's value, rounded by `jsonable`; `new` is rounded the same way before the
    comparison, or a claim with a near-zero tolerance "drifts" by its own rounding.
    """
    old, tol = base.get("key_value"), float(base.get("tolerance") or 0.0)
    if old is None or isinstance(old, str) or new is None or isinstance(new, str) or not math.isfinite(new):
        return False
    return abs(float(jsonable(float(new))) - float(old)) > tol + 1e-12


@dataclass
class GateResult:
    """Comparison of a whole run with the baseline (for the terminal and summary.json)."""

    regressions: list[str] = field(default_factory=list)
    improvements: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unchanged: int = 0

    def lines(self) -> list[str]:
        """Terminal lines: regressions first."""
        out = [f"regression: {r}" for r in self.regressions]
        out += [f"missing (in the baseline, not produced by this run): {m}" for m in self.missing]
        out += [f"improvement: {i}" for i in self.improvements]
        out += [f"new (not in the baseline): {n}" for n in self.new]
        out.append(
            f"{len(self.regressions)} regressions, {len(self.missing)} missing, {len(self.improvements)} improvements, "
            f"{len(self.new)} new, {self.unchanged} unchanged"
        )
        return out

    def as_dict(self) -> dict[str, Any]:
        """For summary.json."""
        return {
            "regressions": self.regressions,
            "missing": self.missing,
            "improvements": self.improvements,
            "new": self.new,
            "unchanged": self.unchanged,
        }


def compare(path: Path, rows: Sequence[Mapping[str, Any]], expanded: Sequence[ClaimCase] | None = None) -> GateResult:
    """Compare a run's rows with the baseline file.

    The rows' axes, models and datasets are what this run covers (they arrive on the xdist controller, which
    collects no items itself). `expanded` is the whole matrix before `-k` / `-m` selection: a covered baseline row
    still in it was deselected, not lost, so only rows the matrix no longer produces (a deleted or renamed claim)
    count as missing. Without it every covered row not produced counts.
    """
    expected = load(path)
    result = GateResult()
    seen = set()
    for r in rows:
        key = row_key(r["id"], r["axis"], r["model"], r["dataset"])
        seen.add(key)
        base = expected.get(key)
        label = f"{r['id']} on {r['model']}/{r['dataset']} ({r['axis']})"
        if base is None or base["version"] != r["version"]:
            result.new.append(f"{label}: {r['verdict']}")
            continue
        if base["verdict"] != Verdict.PASS and r["verdict"] == Verdict.PASS:
            result.improvements.append(f"{label}: {base['verdict']} -> PASS")
        elif base["verdict"] == Verdict.PASS and r["verdict"] != Verdict.PASS:
            result.regressions.append(f"{label}: PASS -> {r['verdict']}: {r['reason']}")
        elif base["verdict"] == r["verdict"]:
            if _beyond_tolerance(base, r["key"].get("value")):
                result.regressions.append(
                    f"{label}: {r['key']['name']} {fmt(base['key_value'])} -> {fmt(r['key']['value'])} (tolerance {fmt(base['tolerance'])})"
                )
            else:
                result.unchanged += 1
        else:
            result.unchanged += 1
    in_scope = _scope(rows)
    still_produced = {case_key(c) for c in expanded} if expanded is not None else set()
    for key in sorted(expected):
        if key not in seen and key not in still_produced and _expected_here(key, in_scope):
            result.missing.append(key)
    return result


def _scope(rows: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    return {str(r["axis"]) for r in rows}, {str(r["model"]) for r in rows}, {str(r["dataset"]) for r in rows}


def _expected_here(key: str, scope: tuple[set[str], set[str], set[str]]) -> bool:
    """A baseline row is expected when this run covered its axis, model and dataset (a deleted claim counts)."""
    _claim, axis, model, dataset = key.split("|", 3)
    axes, models, datasets = scope
    return axis in axes and model in models and (dataset in datasets or dataset == "weights")
