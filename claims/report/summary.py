"""Claim rows -> reports/summary.json (Checklist + Rationale + generalisation + claims + run).

The Checklist is decided per claim, relative to the original setting, by the pre-registered rule in
claims/generalisation.py (also in the README); the Rationale names the claims by label and stays under 2,000
characters, the numbers living in the rows.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

from claims import generalisation
from claims.verdict import CHECKLIST_KEYS, jsonable
from fixtures.fingerprint import installed_versions

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).parents[1] / "summary.schema.json"  # claims/summary.schema.json


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
    parts: list[dict[str, Any]]  # every clause of the criterion: name, value, op, threshold, passed, p_value
    effect: dict[str, Any] | None  # the effect against the control with its 95 % interval
    role: str  # "claim", or "negative_control" (never counted for generalisation)


class Summary(TypedDict):
    """reports/summary.json."""

    schema_version: int
    Checklist: dict[str, str]
    Rationale: dict[str, str]
    generalisation: dict[str, Any]  # per axis: verdict, counts and claims by label; per claim: rows and references
    claims: list[ClaimRow]
    run: dict[str, Any]


WEIGHTS_DATASET = "weights"


def row_order(row: ClaimRow | dict[str, Any]) -> tuple[str, str, str, str]:
    """(axis, claim id, model, dataset): the order of rows in summary.json and in the terminal's claim table."""
    return (row["axis"], row["id"], row["model"], row["dataset"])


def build_summary(rows: Iterable[ClaimRow], run: dict[str, Any]) -> Summary:
    """The summary dict (rows sorted by axis, claim id, model, dataset for stable diffs)."""
    ordered = [dict(r) for r in sorted(rows, key=row_order)]
    block = generalisation.judge(ordered)
    checklist = {key: block["axes"][key]["verdict"] for key in CHECKLIST_KEYS.values()}
    texts = {key: generalisation.rationale(key, block, block["claims"]) for key in CHECKLIST_KEYS.values()}
    return {
        "schema_version": SCHEMA_VERSION,
        "Checklist": checklist,
        "Rationale": texts,
        "generalisation": block,
        "claims": ordered,  # type: ignore[typeddict-item]
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
    names = ("neuron-claims", "torch", "transformers", "transformer-lens", "numpy", "scipy", "pandas", "datasets")
    found = installed_versions(names)
    return {"python": platform.python_version(), **{name: found[name] or "not installed" for name in names}}


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
