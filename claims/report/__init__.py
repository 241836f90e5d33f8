"""The report stage: a run's claim rows -> reports/summary.json, the terminal tables and the human-readable reports.

Modules, by what they produce:

* ``summary``: the summary dict, its schema (claims/summary.schema.json) and reports/summary.json, for machines
  and CI gating; ``terminal``: the tables printed at the end of a run.
* ``render``: the entry point that writes summary.md, figures/ and report.html beside summary.json, with
  ``markdown`` (summary.md), ``html_page`` (report.html) and the figures: ``figures`` (the figure kinds, their
  files and captions), ``layer_figures`` and ``neuron_figures`` (one claim row's figures), ``run_figures`` (the
  effect chart and the verdict grid of the whole run) and ``plotting`` (matplotlib plumbing).
* ``style`` (names, colours, captions) and ``text`` (formatting shared by summary.md and report.html).

``from claims import report`` gives the summary and the terminal tables (``report.build_summary``,
``report.table_lines`` ...); the human-readable reports are imported from their modules
(``from claims.report import render``), so code that only needs summary.json never loads them.
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
