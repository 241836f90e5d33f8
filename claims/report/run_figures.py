"""Figures of the whole run, not of one row.

The effect chart (every row's effect against its control, one panel per claim) and the verdict grid (claims x
model / dataset).
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any

from claims.report.plotting import to_float
from claims.report.style import AXIS_ORDER, VERDICT_COLOURS, VERDICT_SHORT, WIDTH_IN
from claims.report.text import ci95, row_key
from claims.verdict import Role, Verdict


def effect_chart_data(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The effect chart's data: per claim (by id), one entry per row that has an effect.

    Args:
        rows: the summary's claim rows.

    Returns:
        ``{"claims": [{"id", "title", "entries": [{"axis", "model", "dataset", "verdict", "role", "untrained",
        "name", "value", "low", "high", "threshold", "measured", "control", "control_name", "scale",
        "cleared"}]}]}``, claims in id order and entries in axis, model, dataset order (non-finite numbers
        are NaN).
    """
    claims: dict[str, dict[str, Any]] = {}
    ordered = sorted(rows, key=lambda r: (str(r.get("id")), _axis_rank(str(r.get("axis"))), *row_key(r)[2:]))
    for r in ordered:
        eff = r.get("effect")
        if not isinstance(eff, dict):
            continue
        ends = ci95(eff)
        low, high, threshold = to_float(ends[0]), to_float(ends[1]), to_float(eff.get("threshold"))
        entry = {
            "axis": r.get("axis"),
            "model": r.get("model"),
            "dataset": r.get("dataset"),
            "verdict": r.get("verdict"),
            "role": r.get("role", Role.CLAIM),
            "untrained": "untrained" in str(r.get("model", "")).lower(),
            "name": str(eff.get("name", "effect")),
            "value": to_float(eff.get("value")),
            "low": low,
            "high": high,
            "threshold": threshold,
            "measured": to_float(eff.get("measured")),
            "control": to_float(eff.get("control")),
            "control_name": str(eff.get("control_name", "")),
            "scale": str(eff.get("scale", "difference")),
            "cleared": bool(math.isfinite(low) and math.isfinite(threshold) and low > threshold),
        }
        cid = str(r.get("id"))
        claims.setdefault(cid, {"id": cid, "title": r.get("title", ""), "entries": []})["entries"].append(entry)
    return {"claims": list(claims.values())}


_EFFECT_LINE_IN = 0.22  # figure height per row of the effect chart
_EFFECT_PANEL_IN = 1.0  # title, x label and ticks of one panel


def draw_effects(plt: Any, data: dict[str, Any], _row: dict[str, Any]) -> Any:
    """One panel per claim: each row's effect (point) with its 95 % interval (bar) against the threshold (dashed).

    Args:
        plt: matplotlib.pyplot.
        data: :func:`effect_chart_data`'s output.
        _row: unused (the chart covers the run).

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    claims = list(data["claims"])
    if not claims:
        raise ValueError("no row has an effect")
    sizes = [max(1, len(c["entries"])) for c in claims]
    columns = _split_columns(sizes, 1 if len(claims) <= 3 else 2)
    weight = [_EFFECT_LINE_IN * n + _EFFECT_PANEL_IN for n in sizes]
    height = max(sum(weight[i] for i in col) for col in columns)
    fig = plt.figure(figsize=(WIDTH_IN, height + 1.1), layout="constrained")
    outer = fig.add_gridspec(1, len(columns))
    for c, col in enumerate(columns):
        ratios = [_EFFECT_LINE_IN * sizes[i] + 0.12 for i in col]
        spare = height - sum(weight[i] for i in col)
        if spare > 0.3:
            ratios.append(spare)
        inner = outer[0, c].subgridspec(len(ratios), 1, height_ratios=ratios)
        for k, i in enumerate(col):
            _effect_panel(fig.add_subplot(inner[k, 0]), claims[i])
        if spare > 0.3:
            fig.add_subplot(inner[len(ratios) - 1, 0]).axis("off")
    present = [v for v in VERDICT_COLOURS if any(e["verdict"] == v for c in claims for e in c["entries"])]
    handles: list[Any] = [Patch(color=VERDICT_COLOURS[v], label=v) for v in present]
    handles += [
        Line2D([], [], color="#444", marker="o", markersize=6, linewidth=2.2, label="effect, 95 % interval"),
        Line2D(
            [],
            [],
            color="#444",
            marker="o",
            markersize=6,
            markerfacecolor="white",
            linestyle="",
            label=("untrained model / negative control"),
        ),
        Line2D([], [], color="black", linestyle="--", linewidth=1.1, label="threshold (lower end must clear it)"),
    ]
    n_rows = sum(len(c["entries"]) for c in claims)
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncol=min(7, len(handles)),
        frameon=False,
        fontsize=8.5,
        title=f"Effects against controls: {len(claims)} claims, {n_rows} rows",
        title_fontproperties={"size": 11.5, "weight": "bold"},
    )
    return fig


def _effect_panel(ax: Any, claim: dict[str, Any]) -> None:
    """One claim's rows: interval bars and points, coloured by verdict, on the claim's own effect scale."""
    import numpy as np
    from matplotlib.transforms import blended_transform_factory

    entries = claim["entries"]
    n = len(entries)
    ys = list(range(n - 1, -1, -1))  # first entry on top
    finite = [v for e in entries for v in (e["value"], e["low"], e["high"], e["threshold"]) if math.isfinite(v)]
    label_at = blended_transform_factory(ax.transAxes, ax.transData)
    for y, e in zip(ys, entries, strict=True):
        colour = VERDICT_COLOURS.get(str(e["verdict"]), "#000000")
        hollow = e["role"] != Role.CLAIM or e["untrained"]
        if math.isfinite(e["low"]) and math.isfinite(e["high"]):
            ax.plot([e["low"], e["high"]], [y, y], color=colour, linewidth=2.2, alpha=0.75, solid_capstyle="butt")
            ax.plot([e["low"], e["high"]], [y, y], color=colour, linestyle="", marker="|", markersize=7)
        if math.isfinite(e["value"]):
            ax.plot(
                e["value"],
                y,
                marker="o",
                markersize=6,
                markerfacecolor="white" if hollow else colour,
                markeredgecolor=colour,
                markeredgewidth=1.6,
                linestyle="",
            )
        else:
            ax.text(0.01, y, "no effect measured", transform=label_at, va="center", fontsize=7.5, color="#666")
    thresholds = sorted({e["threshold"] for e in entries if math.isfinite(e["threshold"])})
    if len(thresholds) == 1:
        ax.axvline(thresholds[0], color="black", linestyle="--", linewidth=1.1)
    else:
        for y, e in zip(ys, entries, strict=True):
            if math.isfinite(e["threshold"]):
                ax.plot([e["threshold"]] * 2, [y - 0.45, y + 0.45], color="black", linestyle="--", linewidth=1.1)
    for k in range(1, n):
        if entries[k]["axis"] != entries[k - 1]["axis"]:
            ax.axhline(ys[k] + 0.5, color="#b0b0b0", linewidth=0.8)
    ax.set_yticks(ys)
    labels = []
    for e in entries:
        mark = " (neg. control)" if e["role"] != Role.CLAIM else ""  # untrained: the model name says so
        labels.append(f"{e['axis']}  {_clip(str(e['model']), 22)} / {_clip(str(e['dataset']), 16)}{mark}")
    ax.set_yticklabels(labels, fontsize=7.5)
    for tick, e in zip(ax.get_yticklabels(), entries, strict=True):
        if e["role"] != Role.CLAIM or e["untrained"]:
            tick.set_color("#666666")
            tick.set_fontstyle("italic")
    ax.set_ylim(-0.6, n - 0.4)
    if finite:
        lo, hi = float(np.min(finite)), float(np.max(finite))
        pad = 0.08 * (hi - lo) if hi > lo else max(0.05, 0.1 * abs(hi))
        ax.set_xlim(lo - pad, hi + pad)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(
        textwrap.shorten(f"{claim['id']} - {claim.get('title', '')}", 56, placeholder="…"),
        loc="left",
        fontsize=9.5,
        fontweight="bold",
    )
    names = Counter(e["name"] for e in entries)
    first = entries[0]
    unit = f"{names.most_common(1)[0][0]} ({first['scale']}; control: {first['control_name'] or '?'})"
    ax.set_xlabel(textwrap.shorten(unit, 95, placeholder="…"), fontsize=8)


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when cut (unlike textwrap.shorten, keeps long words)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _split_columns(sizes: Sequence[int], ncols: int) -> list[list[int]]:
    """Indices of ``sizes`` cut into ``ncols`` (1 or 2) consecutive columns with the most even total height."""
    weight = [_EFFECT_LINE_IN * n + _EFFECT_PANEL_IN for n in sizes]
    if ncols == 1 or len(sizes) < 2:
        return [list(range(len(sizes)))]
    cut = min(range(1, len(sizes)), key=lambda k: max(sum(weight[:k]), sum(weight[k:])))
    return [list(range(cut)), list(range(cut, len(sizes)))]


def draw_verdicts(plt: Any, rows: Sequence[dict[str, Any]], _row: dict[str, Any]) -> Any:
    """Claims (rows, grouped by axis) x model/dataset (columns), cells coloured by verdict."""
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    keys = sorted({(r["axis"], r["id"]) for r in rows}, key=lambda k: (_axis_rank(k[0]), k[1]))
    cols = sorted({(r["model"], r["dataset"]) for r in rows})
    if not keys:
        fig, ax = plt.subplots(figsize=(6, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no claim rows in this run", ha="center", va="center", fontsize=12)
        return fig
    cell: dict[tuple[int, int], str] = {}
    for r in rows:
        cell[(keys.index((r["axis"], r["id"])), cols.index((r["model"], r["dataset"])))] = str(r["verdict"])
    width = min(WIDTH_IN, 3.2 + 0.85 * len(cols))
    height = min(30.0, 1.9 + 0.27 * len(keys))
    fig, ax = plt.subplots(figsize=(width, height))
    image = [[(1.0, 1.0, 1.0)] * len(cols) for _ in keys]
    for (i, j), verdict in cell.items():
        image[i][j] = to_rgb(VERDICT_COLOURS.get(verdict, "#000000"))
    ax.imshow(image, aspect="auto", interpolation="nearest")
    for (i, j), verdict in cell.items():
        colour = "black" if verdict == Verdict.INCONCLUSIVE else "white"
        ax.text(j, i, VERDICT_SHORT.get(verdict, verdict[:4]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{cid}  [{axis}]" for axis, cid in keys], fontsize=8)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([_two_lines(m, d) for m, d in cols], rotation=40, ha="right", fontsize=7.5)
    ax.set_xticks([j - 0.5 for j in range(len(cols) + 1)], minor=True)
    ax.set_yticks([i - 0.5 for i in range(len(keys) + 1)], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    for i in range(1, len(keys)):
        if keys[i][0] != keys[i - 1][0]:
            ax.axhline(i - 0.5, color="black", linewidth=1.4)
    for side in ax.spines.values():
        side.set_visible(False)
    counts = {v: sum(1 for x in cell.values() if x == v) for v in VERDICT_COLOURS}
    handles = [Patch(color=c, label=f"{v} ({counts[v]})") for v, c in VERDICT_COLOURS.items()]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=6, frameon=False, fontsize=8.5)
    # the legend sits on the axes' top edge and is ~20 pt tall: lift the title above it at any figure height
    ax.set_title(f"verdicts: {len(rows)} claim rows", loc="left", pad=26, fontsize=11)
    fig.tight_layout()
    return fig


def _two_lines(model: str, dataset: str) -> str:
    return f"{textwrap.shorten(model, 34, placeholder='…')}\n{textwrap.shorten(dataset, 34, placeholder='…')}"


def _axis_rank(axis: str) -> int:
    values = [a.value for a in AXIS_ORDER]
    return values.index(axis) if axis in values else len(values)
