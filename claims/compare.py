"""Say what differs between two runs' summary.json files: inputs, code, results.

    python -m claims.compare reports/previous/summary.json reports/summary.json

Inputs are the run options, library versions, device and profile, and per row the provenance (each model's
weights identity, each token sample's digest); code is `run.git_commit`; results are the verdicts and key numbers
of the rows both runs have, plus the rows only one has. Exit status 0 when every shared row has the same verdict
and key number and no row is missing from either side, else 1 — so a script can ask "did anything move?".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claims.baseline import summary_row_key
from claims.verdict import fmt

RUN_FIELDS = ("git_commit", "profile", "device", "options", "versions")


def load(path: Path) -> dict[str, Any]:
    """A summary.json (one-line error for an unreadable file)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: not a readable summary.json ({exc})") from None
    if not isinstance(data, dict) or "claims" not in data or "run" not in data:
        raise SystemExit(f"{path}: not a summary.json (no 'claims' and 'run')")
    return data


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(input lines, code lines, result lines) describing how run `b` differs from run `a`."""
    inputs: list[str] = []
    code: list[str] = []
    for name in RUN_FIELDS:
        old, new = a["run"].get(name), b["run"].get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    inputs.append(f"run.{name}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
        elif old != new:
            (code if name == "git_commit" else inputs).append(f"run.{name}: {old!r} -> {new!r}")
    rows_a = {summary_row_key(r): r for r in a["claims"]}
    rows_b = {summary_row_key(r): r for r in b["claims"]}
    results = [f"only in the first run: {k} ({rows_a[k]['verdict']})" for k in sorted(set(rows_a) - set(rows_b))]
    results += [f"only in the second run: {k} ({rows_b[k]['verdict']})" for k in sorted(set(rows_b) - set(rows_a))]
    for k in sorted(set(rows_a) & set(rows_b)):
        old_row, new_row = rows_a[k], rows_b[k]
        if old_row.get("provenance") != new_row.get("provenance"):
            inputs.append(f"{k}: provenance {old_row.get('provenance')} -> {new_row.get('provenance')}")
        if old_row["verdict"] != new_row["verdict"]:
            results.append(f"{k}: {old_row['verdict']} -> {new_row['verdict']}")
        old_value, new_value = old_row["key"].get("value"), new_row["key"].get("value")
        if old_value != new_value:
            results.append(f"{k}: {new_row['key'].get('name')} {fmt(old_value)} -> {fmt(new_value)}")
    return inputs, code, results


def main(argv: list[str] | None = None) -> int:
    """Print the differences; 0 when the results agree, 1 when any row moved or is on one side only."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m claims.compare FIRST/summary.json SECOND/summary.json", file=sys.stderr)
        return 2
    inputs, code, results = differences(load(Path(args[0])), load(Path(args[1])))
    for title, lines in (("inputs", inputs), ("code", code), ("results", results)):
        print(f"{title}: {'same' if not lines else f'{len(lines)} differences'}")
        for line in lines:
            print(f"  {line}")
    return 1 if results else 0


if __name__ == "__main__":
    raise SystemExit(main())
