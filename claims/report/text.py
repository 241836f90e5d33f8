"""Text shared by summary.md and report.html (and, for the generalisation labels, the terminal and docs/claims.md).

Key numbers, controls, criterion parts, effects, the generalisation table and the run, each formatted once so the
reports say the same thing.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Mapping
from typing import Any

from claims.report.style import AXIS_ORDER, AXIS_TITLES, LABEL_COLOURS, safe_part
from claims.verdict import CHECKLIST_KEYS, Axis, Verdict, fmt


def row_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """(id, axis, model, dataset): what identifies a claim row, in the summary and in figure entries."""
    return (str(row.get("id")), str(row.get("axis")), str(row.get("model")), str(row.get("dataset")))


def axes_present(summary: dict[str, Any]) -> list[tuple[Axis, str, str, str, list[dict[str, Any]]]]:
    """(axis, heading, verdict, rationale, rows) per axis, in report order; the original axis uses report.py's rule."""
    rows = list(summary.get("claims", []))
    out = []
    for axis in AXIS_ORDER:
        axis_rows = [r for r in rows if r.get("axis") == axis.value]
        key = CHECKLIST_KEYS.get(axis)
        if key is not None:
            verdict = str(summary.get("Checklist", {}).get(key, Verdict.NOT_RUN))
            text = str(summary.get("Rationale", {}).get(key, ""))
            heading = f"{key} ({AXIS_TITLES[axis]})"
        else:
            counts = Counter(r.get("verdict") for r in axis_rows)
            verdict = "reference" if axis_rows else str(Verdict.NOT_RUN)
            text = "The original setting, which the other axes are judged against: " + ", ".join(
                f"{n} {v}" for v, n in sorted(counts.items())
            )
            heading = AXIS_TITLES[axis]
        out.append((axis, heading, verdict, text, axis_rows))
    return out


def key_text(row: dict[str, Any], with_criterion: bool = True) -> str:
    """``name = value [criterion]`` of a row's key number (empty when the row has none).

    The one home of how a key number reads: the terminal table, summary.md, report.html, figure captions and
    docs/claims.md all call it.

    Args:
        row: a claim row.
        with_criterion: append the criterion in brackets (docs/claims.md prints the criterion in its own column).

    Returns:
        The key number with its criterion.
    """
    key = row.get("key") or {}
    if not key.get("name") or (not with_criterion and key.get("value") is None):
        return ""
    criterion = (key.get("criterion") or row.get("criterion", "")) if with_criterion else ""
    return f"{key['name']} = {fmt(key.get('value'))}" + (f" [{criterion}]" if criterion else "")


def flatten_control(control: Any, limit: int = 160) -> str:
    """A row's control dict as one compact line: ``a=1; b={x=2, y=[5 values: 0.1, 0.2, …]}``, cut at ``limit``.

    Args:
        control: the row's ``control`` (any JSON value).
        limit: maximum length; longer text ends in ``…``.

    Returns:
        The compact text ("" for an empty control).
    """

    def one(value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}={one(v)}" for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            shown = ", ".join(one(v) for v in value[:3])
            return f"[{shown}]" if len(value) <= 3 else f"[{len(value)} values: {shown}, …]"
        if isinstance(value, str):
            return textwrap.shorten(value, 70, placeholder="…")
        return fmt(value)

    if not control:
        return ""
    text = "; ".join(f"{k}={one(v)}" for k, v in control.items()) if isinstance(control, dict) else one(control)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tokens_text(row: dict[str, Any]) -> str:
    """The row's token count, ``-`` when it read none (weight-only claims, rows that did not run)."""
    n = row.get("n_tokens") or 0
    return fmt(int(n)) if isinstance(n, (int, float)) and n else "-"


def run_items(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) pairs describing the run, known fields first, then anything else."""
    items: list[tuple[str, str]] = []
    known = ("git_commit", "started", "finished", "profile", "device", "forward_passes", "hub_offline")
    labels = {"git_commit": "git commit", "forward_passes": "forward passes", "hub_offline": "hub offline"}
    for k in known:
        if k in run:
            items.append((labels.get(k, k), fmt(run[k]) if not isinstance(run[k], str) else run[k]))
    if isinstance(run.get("options"), dict):
        opts = run["options"]
        items.append(("options", ", ".join(f"{k}={_plain(v)}" for k, v in opts.items() if v not in (None, "", []))))
    if isinstance(run.get("versions"), dict):
        items.append(("versions", ", ".join(f"{k} {v}" for k, v in run["versions"].items())))
    if "baseline" in run:
        base = run["baseline"]
        items.append(("baseline", flatten_control(base, 400) if base else "none (no --claims-baseline)"))
    for k, v in run.items():
        if k not in (*known, "options", "versions", "baseline"):
            items.append((k, flatten_control(v, 400) if isinstance(v, (dict, list)) else _plain(v)))
    return items


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else fmt(value)


def label_text(label: str | None) -> str:
    """A generalisation label for people: ``does_not_generalise`` -> ``does not generalise``."""
    return "negative control" if label is None else label.replace("_", " ")


def labels_by_claim(summary: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{claim id: {axis: label for people}} per labelled claim: the terminal's and docs/claims.md's tables."""
    table: dict[str, dict[str, str]] = {}
    for entry in (summary.get("generalisation") or {}).get("claims", []):
        if entry.get("label"):
            table.setdefault(entry["id"], {})[entry["axis"]] = label_text(entry["label"])
    return table


def generalisation_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The claim x axis table the reports open with, from the summary's ``generalisation`` block.

    Args:
        summary: the summary.json dict.

    Returns:
        One entry per claim id (sorted): ``{"id", "title", "original": [original rows], "cells": {axis: {"label",
        "references", "rows", "counted", "agree"}}}``: ``label`` is the claim's label on the axis (None when
        it only has negative-control rows), ``counted`` the rows that count, ``agree`` those with the claim's
        label.
    """
    titles: dict[str, str] = {}
    originals: dict[str, list[dict[str, Any]]] = {}
    for r in summary.get("claims", []):
        titles.setdefault(str(r.get("id")), str(r.get("title", "")))
        if r.get("axis") == Axis.ORIGINAL:
            originals.setdefault(str(r.get("id")), []).append(r)
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for c in (summary.get("generalisation") or {}).get("claims", []):
        counted = [x for x in c.get("rows", []) if x.get("label") is not None]
        cells.setdefault(str(c["id"]), {})[str(c["axis"])] = {
            "label": c.get("label"),
            "references": list(c.get("references") or []),
            "rows": list(c.get("rows", [])),
            "counted": len(counted),
            "agree": sum(1 for x in counted if x["label"] == c.get("label")),
        }
        titles.setdefault(str(c["id"]), str(c.get("title", "")))
    return [
        {"id": cid, "title": titles[cid], "original": originals.get(cid, []), "cells": cells.get(cid, {})}
        for cid in sorted(titles)
    ]


def rows_agreeing(cell: dict[str, Any]) -> str:
    """The rows behind a cell by label (``2 generalise, 1 not reproduced``), or the negative-control verdicts."""
    if cell["label"] is None:
        return "negative control: " + ", ".join(sorted({str(x.get("verdict")) for x in cell["rows"]}))
    counts = Counter(x["label"] for x in cell["rows"] if x.get("label") is not None)
    word = "row" if cell["counted"] == 1 else "rows"
    plural = {"generalises": "generalise", "does_not_generalise": "do not generalise"}
    return f"{cell['counted']} {word}: " + ", ".join(
        f"{counts[label]} {label_text(label) if counts[label] == 1 else plural.get(label, label_text(label))}"
        for label in LABEL_COLOURS
        if counts[label]
    )


def label_counts(counts: dict[str, int], empty: str = "no claims") -> str:
    """An axis's claim counts by label (``2 generalises, 1 not reproduced``), ``empty`` when all are 0."""
    return ", ".join(f"{n} {label_text(label)}" for label, n in counts.items() if n) or empty


def parts_items(row: dict[str, Any]) -> list[tuple[bool, str]]:
    """Every clause of a row's criterion as (held, ``name = value op threshold``), p-value clauses with BH q."""
    q_of = {t.get("part"): t.get("q") for t in (row.get("multiplicity") or {}).get("tests", [])}
    out = []
    for p in row.get("parts") or []:
        op = str(p.get("op", ""))
        if op == "p<":
            text = f"{p.get('name')}: p = {fmt(p.get('value'))} < {fmt(p.get('threshold'))}"
            if p.get("name") in q_of:
                text += f" (BH q = {fmt(q_of[p.get('name')])})"
        else:
            text = f"{p.get('name')} = {fmt(p.get('value'))} {op} {fmt(p.get('threshold'))}"
        out.append((bool(p.get("passed")), text))
    return out


def parts_cell(row: dict[str, Any]) -> str:
    """Every clause of the criterion in one line: ``1/2 held: ✓ a = 1 >= 0.5; ✗ b = 0.2 >= 0.5``."""
    items = parts_items(row)
    if not items:
        return ""
    held = sum(ok for ok, _ in items)
    return f"{held}/{len(items)} held: " + "; ".join(("✓ " if ok else "✗ ") + text for ok, text in items)


def ci95(effect: dict[str, Any]) -> tuple[Any, Any]:
    """(low, high) of an effect's 95 % interval as stored in the summary; None for an end that is missing."""
    ci = [*(effect.get("ci95") or []), None, None]
    return ci[0], ci[1]


def effect_text(row: dict[str, Any]) -> str:
    """``effect name = v [95 % lo, hi], lower end must clear t (control: c)``, or "" without an effect."""
    eff = row.get("effect")
    if not isinstance(eff, dict):
        return ""
    low, high = ci95(eff)
    return (
        f"{eff.get('name')} = {fmt(eff.get('value'))} [95 % {fmt(low)}, {fmt(high)}], lower end must clear "
        f"{fmt(eff.get('threshold'))} (control: {eff.get('control_name', '?')})"
    )


def row_anchor(row: dict[str, Any]) -> str:
    """The HTML id of a claim row in the per-axis tables."""
    return "row-" + "-".join(safe_part(p) for p in row_key(row))
