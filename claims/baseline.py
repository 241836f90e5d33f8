"""CI gating on claim regressions against a committed baseline of verdicts and key numbers.

A regression is: a row that was PASS and is now FAIL / INCONCLUSIVE / ERROR; a key number that drifted beyond
the tolerance its claim declares; a criterion whose text or thresholds changed while the claim's version did not
(criteria are pre-registered: changing one is a new version of the claim, never a silent edit); or a row of the
baseline that this run should have produced and did not. Improvements (now PASS) and new rows are listed, not
failed; a new claim version is listed with its old and new criterion and verdict, so a loosened criterion is seen.
`judge` is the one comparison: the per-test gate and the summary's gate block both call it.
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

BASELINE_VERSION = 2  # 2: rows carry the criterion's thresholds (its identity is text + thresholds)

NEW, VERSION, REGRESSION, IMPROVEMENT, UNCHANGED = "new", "version", "regression", "improvement", "unchanged"
ENTRY_FIELDS = ("key", "version", "verdict", "key_name", "key_value", "tolerance", "criterion", "thresholds")


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line naming the file and the fix."""


def row_key(claim_id: str, axis: str, model: str, dataset: str) -> str:
    """Identity of a row across runs."""
    return f"{claim_id}|{axis}|{model}|{dataset}"


def summary_row_key(row: Mapping[str, Any]) -> str:
    """Row identity of a summary row."""
    return row_key(row["id"], row["axis"], row["model"], row["dataset"])


def case_key(case: ClaimCase) -> str:
    """Row identity of a case."""
    return row_key(case.claim_id, case.axis.value, case.subject, case.dataset_label)


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Baseline rows by key, checked before any claim runs (a bad file is one line at start-up, not a traceback)."""
    fix = "regenerate it with --claims-update-baseline (delete the file first)"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: not a JSON baseline ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.get("baseline_version") != BASELINE_VERSION:
        found = data.get("baseline_version") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(f"{path}: baseline_version {found} is not {BASELINE_VERSION}; {fix}")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(ENTRY_FIELDS) <= set(r) for r in rows):
        raise BaselineError(f"{path}: every row needs the fields {', '.join(ENTRY_FIELDS)}; {fix}")
    return {r["key"]: r for r in rows}


def entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline entry of a summary row."""
    return {
        "key": summary_row_key(row),
        "version": row["version"],
        "verdict": row["verdict"],
        "key_name": row["key"].get("name", ""),
        "key_value": row["key"].get("value"),
        "tolerance": row["key"].get("tolerance", 0.0),
        "criterion": row["criterion"],
        "thresholds": row.get("thresholds") or {},
    }


def merged(
    expected: Mapping[str, Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], expanded: Sequence[ClaimCase]
) -> list[dict[str, Any]]:
    """The baseline after this run: its rows replace theirs, every other row is kept.

    A narrowed run (`-k`, `-m`, `--claims-models`) therefore updates what it ran and nothing else. Only rows the
    run would have produced and no longer can (a deleted or renamed claim: `missing` in `compare`) are dropped.
    """
    produced = {e["key"]: e for e in (entry(r) for r in rows)}
    gone = set(_missing(expected, rows, expanded))
    kept = {k: dict(v) for k, v in expected.items() if k not in produced and k not in gone}
    return sorted([*kept.values(), *produced.values()], key=lambda e: e["key"])


def write(path: Path, entries: Iterable[Mapping[str, Any]]) -> None:
    """Write baseline entries (sorted, one row per line for readable diffs), atomically."""
    from fixtures.storage import atomic_write_text

    rows = sorted(entries, key=lambda e: e["key"])
    lines = ",\n".join("  " + json.dumps({f: e.get(f) for f in ENTRY_FIELDS}, sort_keys=True) for e in rows)
    atomic_write_text(Path(path), f'{{"baseline_version": {BASELINE_VERSION}, "rows": [\n{lines}\n]}}\n')


def evidence_row(case: ClaimCase, evidence: Evidence) -> dict[str, Any]:
    """The fields of a summary row that the comparison reads, built from a test's Evidence (per-test gate)."""
    from claims.registry import REGISTRY

    claim = REGISTRY.get(case.claim_id)
    row = {
        "id": case.claim_id,
        "axis": case.axis.value,
        "model": case.subject,
        "dataset": case.dataset_label,
        "version": claim.version,
        "verdict": str(evidence.verdict),
        "key": {"name": evidence.key.name, "value": evidence.key.value, "tolerance": evidence.key.tolerance},
        "criterion": evidence.criterion,
        "thresholds": criterion_thresholds(claim, evidence.scale),
        "reason": evidence.reason,
    }
    return dict(jsonable(row))


def criterion_thresholds(claim: Any, scale: str) -> dict[str, Any]:
    """The thresholds a row was judged with (part of the criterion's identity with its text)."""
    return dict(claim.criterion.thresholds(scale)) if scale in ("full", "small") else {}


def judge(base: Mapping[str, Any] | None, row: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, message) of one summary row against its baseline entry: the one comparison of the gate.

    The per-test gate and the run summary both call this, so a test and the summary never disagree.
    """
    label = f"{row['id']} on {row['model']}/{row['dataset']} ({row['axis']})"
    now = row["verdict"]
    if base is None:
        return NEW, f"{label}: {now}"
    was = base["verdict"]
    if base["version"] != row["version"]:
        change = (
            f"{label}: v{base['version']} -> v{row['version']}, verdict {was} -> {now}; criterion was "
            f"{base['criterion']!r} {base.get('thresholds') or {}}, now {row['criterion']!r} {row.get('thresholds') or {}}"
        )
        entry = _changelog(row["id"], base["version"])
        if entry is None:
            return REGRESSION, (
                f"REGRESSION {change}; the bump has no entry in its paper's claim changelog (README.md of the paper "
                f"folder: a bullet '{row['id']} v{base['version']} -> v{row['version']}: why')"
            )
        return VERSION, f"{change}; changelog: {entry[:300]}"
    if _criterion_changed(base, row):
        return REGRESSION, (
            f"REGRESSION {label}: its criterion changed without a version bump (baseline: {base['criterion']!r} "
            f"{base.get('thresholds')}; now: {row['criterion']!r} {row.get('thresholds')}). Criteria are "
            "pre-registered: bump the claim's version to change one"
        )
    if was == Verdict.PASS and now != Verdict.PASS:
        key = row["key"]
        return (
            REGRESSION,
            f"REGRESSION {label}: PASS -> {now}: {key.get('name')} = {fmt(key.get('value'))}: {row.get('reason', '')}",
        )
    if was != Verdict.PASS and now == Verdict.PASS:
        return IMPROVEMENT, f"{label}: {was} -> PASS"
    if was == now and _beyond_tolerance(base, row["key"].get("value")):
        return REGRESSION, (
            f"REGRESSION {label}: {row['key'].get('name')} moved from {fmt(base['key_value'])} to "
            f"{fmt(row['key'].get('value'))}, beyond the claim's tolerance {fmt(base['tolerance'])}"
        )
    return UNCHANGED, label


def _changelog(claim_id: str, old_version: int) -> str | None:
    """The changelog bullet that records this claim's bump from `old_version` (None: none, or unknown claim)."""
    from claims.registry import REGISTRY, changelog_entry

    try:
        claim = REGISTRY.get(claim_id)
    except KeyError:
        return None
    return changelog_entry(claim, int(old_version))


def regression(expected: Mapping[str, Mapping[str, Any]], case: ClaimCase, evidence: Evidence) -> str | None:
    """Why this test's row regressed against the baseline, or None (the per-test gate; same rule as `compare`)."""
    kind, message = judge(expected.get(case_key(case)), evidence_row(case, evidence))
    return message if kind == REGRESSION else None


def _criterion_changed(base: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Text or thresholds differ (rows without a criterion, e.g. ERROR rows, are not compared)."""
    if not base["criterion"] or not row["criterion"]:
        return False
    return bool(
        base["criterion"] != row["criterion"] or (base.get("thresholds") or {}) != (row.get("thresholds") or {})
    )


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
    versions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unchanged: int = 0

    def lines(self) -> list[str]:
        """Terminal lines: regressions first."""
        out = [f"regression: {r}" for r in self.regressions]
        out += [f"missing (in the baseline, not produced by this run): {m}" for m in self.missing]
        out += [f"new claim version (old vs new criterion and verdict): {v}" for v in self.versions]
        out += [f"improvement: {i}" for i in self.improvements]
        out += [f"new (not in the baseline): {n}" for n in self.new]
        out.append(
            f"{len(self.regressions)} regressions, {len(self.missing)} missing, {len(self.improvements)} improvements, "
            f"{len(self.versions)} new versions, {len(self.new)} new, {self.unchanged} unchanged"
        )
        return out

    def as_dict(self) -> dict[str, Any]:
        """For summary.json."""
        return {
            "regressions": self.regressions,
            "missing": self.missing,
            "improvements": self.improvements,
            "versions": self.versions,
            "new": self.new,
            "unchanged": self.unchanged,
        }


def compare(
    expected: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    expanded: Sequence[ClaimCase] | None = None,
) -> GateResult:
    """Compare a run's rows with the loaded baseline (`judge` per row, then the rows this run lost).

    The rows' axes, models and datasets are what this run covers (they arrive on the xdist controller, which
    collects no items itself). `expanded` is the whole matrix before `-k` / `-m` selection: a covered baseline row
    still in it was deselected, not lost, so only rows the matrix no longer produces (a deleted or renamed claim)
    count as missing. Without it every covered row not produced counts.
    """
    result = GateResult()
    buckets = {
        NEW: result.new,
        VERSION: result.versions,
        REGRESSION: result.regressions,
        IMPROVEMENT: result.improvements,
    }
    for r in rows:
        kind, message = judge(expected.get(summary_row_key(r)), r)
        if kind == UNCHANGED:
            result.unchanged += 1
        else:
            buckets[kind].append(message.removeprefix("REGRESSION "))
    result.missing = _missing(expected, rows, expanded)
    return result


def _missing(
    expected: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    expanded: Sequence[ClaimCase] | None,
) -> list[str]:
    """Baseline rows this run covered (axis, model, dataset), did not produce, and could no longer produce."""
    seen = {summary_row_key(r) for r in rows}
    in_scope = _scope(rows)
    still_produced = {case_key(c) for c in expanded} if expanded is not None else set()
    return [k for k in sorted(expected) if k not in seen and k not in still_produced and _expected_here(k, in_scope)]


def _scope(rows: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[str], set[str]]:
    return {str(r["axis"]) for r in rows}, {str(r["model"]) for r in rows}, {str(r["dataset"]) for r in rows}


def _expected_here(key: str, scope: tuple[set[str], set[str], set[str]]) -> bool:
    """A baseline row is expected when this run covered its axis, model and dataset (a deleted claim counts)."""
    _claim, axis, model, dataset = key.split("|", 3)
    axes, models, datasets = scope
    return axis in axes and model in models and (dataset in datasets or dataset == "weights")
