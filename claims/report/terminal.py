"""The terminal's view of a run: the claim table, the generalisation table and the Checklist lines.

Printed at the end of a run (claims/session.py) from the same summary that goes to reports/summary.json, so the
terminal and the file never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claims.report.summary import ClaimRow, Summary, row_order
from claims.report.text import key_text, label_counts, labels_by_claim
from claims.verdict import fmt


def parts_text(row: ClaimRow | dict[str, Any]) -> str:
    """`k/n parts held; failed: a = 1 > 2` — what held and what did not, for the table and the reports."""
    parts = row.get("parts") or []
    if not parts:
        return ""
    failed = [p for p in parts if not p.get("passed")]
    text = f"{len(parts) - len(failed)}/{len(parts)} parts held"
    if failed:
        text += "; failed: " + "; ".join(
            f"{p['name']} = {fmt(p['value'])} {p['op']} {fmt(p['threshold'])}" for p in failed
        )
    return text


def table_lines(rows: Sequence[ClaimRow], width: int = 160) -> list[str]:
    """The claim table: claim, model, dataset, verdict, key number vs criterion, and which parts held."""
    header = ("claim", "axis", "model", "dataset", "verdict", "key number [criterion]; parts")
    body = [
        (
            r["id"],
            r["axis"],
            r["model"],
            r["dataset"],
            r["verdict"] + ("*" if r.get("role") == "negative_control" else ""),
            (key_text(dict(r)) or r["reason"]) + (f"; {parts_text(r)}" if parts_text(r) else ""),
        )
        for r in sorted(rows, key=row_order)
    ]
    widths = [max(len(str(x[i])) for x in (header, *body)) for i in range(5)]
    lines = []
    for cells in (header, *body):
        fixed = "  ".join(str(c).ljust(w) for c, w in zip(cells[:5], widths, strict=True))
        lines.append((fixed + "  " + str(cells[5]))[:width])
    return lines


def generalisation_lines(summary: Summary) -> list[str]:
    """Claim x axis: each claim's generalisation label, with the reference it was judged against."""
    by_claim = labels_by_claim(summary)
    if not by_claim:
        return []
    axes = ("gt1", "gt2", "gt3")
    width = max(len(c) for c in by_claim) + 2
    lines = ["claim".ljust(width) + "".join(a.ljust(22) for a in axes)]
    for cid in sorted(by_claim):
        lines.append(cid.ljust(width) + "".join(by_claim[cid].get(a, "-").ljust(22) for a in axes))
    return lines


def checklist_lines(summary: Summary) -> list[str]:
    """One line per axis verdict, with the claim counts behind it."""
    out = []
    axes = (summary.get("generalisation") or {}).get("axes", {})
    for key, value in summary["Checklist"].items():
        counts = axes.get(key, {}).get("counts", {})
        detail = label_counts(counts, empty="")
        out.append(f"{key}: {value}" + (f"  ({detail})" if detail else ""))
    return out
