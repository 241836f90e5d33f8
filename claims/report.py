"""Claim rows -> reports/summary.json (Checklist + Rationale + claims + run) and the terminal table.

The axis verdict rule (also in the README): an axis is NOT_RUN when no row ran on it; FAIL when any row on it
FAILed; otherwise INCONCLUSIVE when any row is INCONCLUSIVE or ERROR; PASS only when every row PASSed
(NOT_RUN rows — claims that do not apply to a model — are listed but do not count). The Rationale is generated
from the rows' measured numbers and names every FAIL, INCONCLUSIVE and ERROR row.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from claims.verdict import CHECKLIST_KEYS, Axis, Verdict, fmt, jsonable

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")


class ClaimRow(TypedDict):
    """One claim on one (model, dataset): the unit of the report and of CI gating."""

    id: str
    version: int
    title: str
    statement: str
    paper_ref: str
    axis: str
    model: str  # the subject: a model or a family spec
    dataset: str  # corpus spec, or "weights" for weight-only claims
    verdict: str
    criterion: str
    scale: str  # which criterion applied: "full" (paper-size models) or "small" (the zoo)
    key: dict[str, Any]  # {"name", "value", "criterion", "tolerance"}
    reason: str
    measured: dict[str, Any]
    control: dict[str, Any]
    n_tokens: int
    seconds: float
    forward_passes: int
    nodeid: str


class Summary(TypedDict):
    """reports/summary.json."""

    schema_version: int
    Checklist: dict[str, str]
    Rationale: dict[str, str]
    claims: list[ClaimRow]
    run: dict[str, Any]


WEIGHTS_DATASET = "weights"


def axis_verdict(rows: Sequence[ClaimRow]) -> Verdict:
    """The axis verdict from its rows (rule in the module docstring)."""
    counted = [Verdict(r["verdict"]) for r in rows if r["verdict"] != Verdict.NOT_RUN]
    if not counted:
        return Verdict.NOT_RUN
    if Verdict.FAIL in counted:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in counted or Verdict.ERROR in counted:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def _row_phrase(row: ClaimRow) -> str:
    key = row["key"]
    where = f"{row['model']}" + ("" if row["dataset"] == WEIGHTS_DATASET else f" on {row['dataset']}")
    number = f"{key['name']} = {fmt(key['value'])} [{key['criterion']}]" if key.get("name") else ""
    return f"{row['id']} ({row['title']}) {where}: {number}{'; ' if number else ''}{row['reason']}"


def rationale(axis: Axis, rows: Sequence[ClaimRow]) -> str:
    """Text for one axis, generated from the rows' numbers; every non-PASS row is named."""
    if not rows:
        return f"NOT_RUN: no claim was run on {axis.value} (not selected, or no model/dataset of this axis in the run)."
    counts = Counter(r["verdict"] for r in rows)
    verdict = axis_verdict(rows)
    models = sorted({r["model"] for r in rows})
    datasets = sorted({r["dataset"] for r in rows})
    head = (
        f"{verdict}: {len(rows)} claim rows on {', '.join(models)} x {', '.join(datasets)}: "
        + ", ".join(f"{counts[v]} {v}" for v in Verdict if counts[v])
        + ". Rule: PASS only if every applicable row passes; any FAIL fails the axis."
    )
    parts = [head]
    for label in (Verdict.FAIL, Verdict.ERROR, Verdict.INCONCLUSIVE, Verdict.PASS, Verdict.NOT_RUN):
        chosen = [r for r in rows if r["verdict"] == label]
        if chosen:
            parts.append(f"{label}: " + " | ".join(_row_phrase(r) for r in chosen))
    return " ".join(parts)


def build_summary(rows: Iterable[ClaimRow], run: dict[str, Any]) -> Summary:
    """The summary dict (rows sorted by axis, claim id, model, dataset for stable diffs)."""
    ordered = sorted(rows, key=lambda r: (r["axis"], r["id"], r["model"], r["dataset"]))
    checklist, texts = {}, {}
    for axis, key in CHECKLIST_KEYS.items():
        axis_rows = [r for r in ordered if r["axis"] == axis.value]
        checklist[key] = str(axis_verdict(axis_rows))
        texts[key] = rationale(axis, axis_rows)
    return {
        "schema_version": SCHEMA_VERSION,
        "Checklist": checklist,
        "Rationale": texts,
        "claims": ordered,
        "run": run,
    }


def write_summary(path: Path, summary: Summary) -> None:
    """Write atomically: a reader sees the previous complete file or the new complete file, never a prefix."""
    from fixtures.storage import atomic_write_text

    atomic_write_text(path, json.dumps(jsonable(summary), indent=2, ensure_ascii=False) + "\n")


def validate_summary(data: dict[str, Any]) -> None:
    """Validate against claims/summary.schema.json (raises jsonschema.ValidationError)."""
    import jsonschema

    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))


def versions() -> dict[str, str]:
    """Versions of the packages that change numbers."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("neuron-claims", "torch", "transformers", "transformer-lens", "numpy", "scipy", "pandas", "datasets"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git_commit(root: Path) -> str:
    """HEAD of the checkout (with "+dirty" when there are uncommitted changes), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# --- terminal ------------------------------------------------------------------------------------------------


def table_lines(rows: Sequence[ClaimRow], width: int = 160) -> list[str]:
    """The claim table: claim, model, dataset, verdict, key number vs criterion."""
    header = ("claim", "axis", "model", "dataset", "verdict", "key number [criterion]")
    body = [
        (
            r["id"],
            r["axis"],
            r["model"],
            r["dataset"],
            r["verdict"],
            (
                f"{r['key']['name']} = {fmt(r['key']['value'])} [{r['key']['criterion']}]"
                if r["key"].get("name")
                else r["reason"]
            ),
        )
        for r in sorted(rows, key=lambda r: (r["axis"], r["id"], r["model"], r["dataset"]))
    ]
    widths = [max(len(str(x[i])) for x in (header, *body)) for i in range(5)]
    lines = []
    for cells in (header, *body):
        fixed = "  ".join(str(c).ljust(w) for c, w in zip(cells[:5], widths, strict=True))
        lines.append((fixed + "  " + str(cells[5]))[:width])
    return lines


def checklist_lines(summary: Summary) -> list[str]:
    """One line per axis verdict."""
    return [f"{key}: {value}" for key, value in summary["Checklist"].items()]
