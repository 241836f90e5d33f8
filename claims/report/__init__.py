"""The report stage: a run's claim rows -> reports/summary.json and the terminal tables.

Modules, by what they produce: ``summary``: the summary dict, its schema (claims/summary.schema.json) and
reports/summary.json, for machines and CI gating; ``terminal``: the tables printed at the end of a run.
``from claims import report`` gives both (``report.build_summary``, ``report.table_lines`` ...).
"""

from __future__ import annotations

from claims.report.summary import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    WEIGHTS_DATASET,
    ClaimRow,
    Summary,
    build_summary,
    git_commit,
    validate_summary,
    versions,
    write_summary,
)
from claims.report.terminal import checklist_lines, generalisation_lines, parts_text, table_lines

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "WEIGHTS_DATASET",
    "ClaimRow",
    "Summary",
    "build_summary",
    "checklist_lines",
    "generalisation_lines",
    "git_commit",
    "parts_text",
    "table_lines",
    "validate_summary",
    "versions",
    "write_summary",
]
