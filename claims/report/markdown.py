"""summary.md: the report as Markdown, figures linked relative to the report folder."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from claims.report.figures import Drawn, figures_of, first_of_kind, row_figures
from claims.report.style import (
    ALARMING,
    AXIS_ORDER,
    AXIS_TITLES,
    CAPTIONS,
    EFFECTS,
    FIGURES_DIR,
    GT_AXES,
    LABEL_COLOURS,
    LABEL_MARKS,
    OVERVIEW,
)
from claims.report.text import (
    axes_present,
    effect_text,
    flatten_control,
    generalisation_table,
    key_text,
    label_counts,
    label_text,
    parts_cell,
    rows_agreeing,
    run_items,
    tokens_text,
)
from claims.verdict import CHECKLIST_KEYS, Axis, Role, Verdict


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_verdict(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ALARMING else verdict


def _md_label(label: str | None) -> str:
    if label is None:
        return "negative control"
    text = f"{LABEL_MARKS.get(label, '')} {label_text(label)}".strip()
    return f"**{text}**" if label == "does_not_generalise" else text


def _md_link(text: str, d: Drawn) -> str:
    return f"[{_md(text)}]({FIGURES_DIR}/{d.filename})"


def summary_markdown(summary: dict[str, Any], drawn: Sequence[Drawn] = (), notes: Iterable[str] = ()) -> str:
    """summary.md: generalisation table, Checklist, effect chart, verdict grid, per-axis tables, figures, the run.

    Args:
        summary: the summary.json dict.
        drawn: the figures written (linked relative to the report folder).
        notes: lines about figures skipped or missing.

    Returns:
        The Markdown text.
    """
    out = ["# neuron-claims report", ""]
    rows = summary.get("claims", [])
    counts = {v: sum(1 for r in rows if r.get("verdict") == v) for v in Verdict}
    out.append(f"{len(rows)} claim rows: " + ", ".join(f"{_md_verdict(v)} {n}" for v, n in counts.items() if n) + ".")
    block = summary.get("generalisation") or {}
    table = generalisation_table(summary)
    out += ["", "## Does each claim generalise?", ""]
    out.append(
        "Each cell: the claim's label on the axis, the rows that share it, and [n] the reference it was judged "
        "against (listed below). " + " · ".join(f"{LABEL_MARKS[label]} {label_text(label)}" for label in LABEL_COLOURS)
    )
    refs: dict[str, int] = {}
    out += ["", "| claim | original (reference) | gt1 | gt2 | gt3 |", "|---|---|---|---|---|"]
    for entry in table:
        cells = [f"{entry['id']}: {entry['title']}"]
        originals = entry["original"]
        cells.append(", ".join(_md_verdict(str(r.get("verdict"))) for r in originals) if originals else "-")
        for axis in GT_AXES:
            cell = entry["cells"].get(axis.value)
            if cell is None:
                cells.append("-")
                continue
            marks = "".join(f"[{refs.setdefault(ref, len(refs) + 1)}]" for ref in cell["references"])
            cells.append(f"{_md_label(cell['label'])} ({rows_agreeing(cell)}) {marks}".strip())
        out.append("| " + " | ".join(_md(c) for c in cells) + " |")
    if not table:
        out.append("| _no claim rows in this run_ | | | | |")
    if refs:
        out += ["", "References:", ""]
        out += [f"{n}. {_md(ref)}" for ref, n in sorted(refs.items(), key=lambda kv: kv[1])]
    if block.get("rule"):
        out += ["", f"> Rule: {_md(block['rule'])}"]
    out += ["", "## Checklist", "", "| axis | verdict | claims |", "|---|---|---|"]
    axes_block = block.get("axes") or {}
    for axis, heading, verdict, _text, axis_rows in axes_present(summary):
        key = CHECKLIST_KEYS.get(axis)
        detail = label_counts(axes_block.get(key, {}).get("counts", {})) if key else f"{len(axis_rows)} rows"
        out.append(f"| {_md(heading)} | {_md_verdict(verdict)} | {_md(detail)} |")
    chart = first_of_kind(drawn, EFFECTS)
    if chart is not None:
        out += [
            "",
            "## Effects against controls",
            "",
            f"![{_md(CAPTIONS[EFFECTS])}]({FIGURES_DIR}/{chart.filename})",
        ]
        out += [
            "",
            f"*{_md(CAPTIONS[EFFECTS])}* Data: [{chart.data_filename}]({FIGURES_DIR}/{chart.data_filename})",
        ]
    overview = first_of_kind(drawn, OVERVIEW)
    if overview is not None:
        out += ["", "## Verdict of every row", "", f"![{CAPTIONS[OVERVIEW]}]({FIGURES_DIR}/{overview.filename})"]
    for axis, heading, verdict, text, axis_rows in axes_present(summary):
        out += ["", f"## {heading}: {_md_verdict(verdict)}", "", f"> {_md(text)}", ""]
        if not axis_rows:
            out.append("_No claim rows on this axis._")
            continue
        out += [
            "| claim | model | dataset | verdict | generalisation | key number [criterion]; effect | parts of the "
            "criterion | control | tokens | figures |",
            "|---|---|---|---|---|---|---|---|---:|---|",
        ]
        for r in axis_rows:
            if axis == Axis.ORIGINAL:
                label = "reference" if r.get("role", Role.CLAIM) == Role.CLAIM else "negative control"
            else:
                label = _md_label(r.get("generalisation"))
            key = key_text(r) or str(r.get("reason", ""))
            if effect_text(r):
                key += "; effect: " + effect_text(r)
            cells = [
                _md(f"{r.get('id')}: {r.get('title', '')}"),
                _md(r.get("model", "")),
                _md(r.get("dataset", "")),
                _md_verdict(str(r.get("verdict"))),
                label,
                _md(textwrap.shorten(key, 320, placeholder="…")),
                _md(parts_cell(r)),
                _md(flatten_control(r.get("control"), 160)),
                _md(tokens_text(r)),
                ", ".join(_md_link(text, d) for text, d in row_figures(r, drawn)) or "-",
            ]
            out.append("| " + " | ".join(cells) + " |")
        flagged = [r for r in axis_rows if r.get("verdict") in ALARMING]
        if flagged:
            out += ["", "Why not PASS:", ""]
            for r in flagged:
                out.append(
                    f"- {_md_verdict(str(r['verdict']))} {r['id']} on {r['model']} / {r['dataset']}: "
                    + _md(r.get("reason", ""))
                )
    per_row = [d for d in drawn if d.row is not None]
    notes = list(notes)
    if per_row or notes:
        out += ["", "## Figures", ""]
        for note in notes:
            out.append(f"- {_md(note)}")
        for axis in AXIS_ORDER:
            chosen = figures_of(per_row, axis)
            if chosen:
                out += ["", f"### {AXIS_TITLES[axis]}", ""]
                for d in chosen:
                    row = d.row or {}
                    alt = f"{row.get('id')} - {row.get('title', '')} ({d.kind})"
                    out += [
                        f"![{_md(alt)}]({FIGURES_DIR}/{d.filename})",
                        "",
                        f"*{_md(d.caption)}* Data: [{d.data_filename}]({FIGURES_DIR}/{d.data_filename})",
                        "",
                    ]
    out += ["", "## Run", ""]
    for label, text in run_items(summary.get("run", {})):
        out.append(f"- **{label}**: {_md(text)}")
    return "\n".join(out) + "\n"
