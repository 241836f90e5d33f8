"""Human-readable reports next to summary.json: summary.md, figures/*.png (+ .json) and one self-contained report.html.

summary.json is for machines and CI gating; people need to see at a glance whether each claim generalised,
and *why* (the numbers and the plots that back a verdict). The reports lead with the answer:

1. the generalisation table: claims (rows) x axes (gt1, gt2, gt3), each cell the claim's label on that axis
   (generalises, does not generalise, not reproduced, ...) with the reference it was judged against;
2. the Checklist with the claim counts behind each axis verdict;
3. the effect chart (``effects.png``): every row's effect against its control with its 95 % interval and the
   threshold the interval's lower end must clear, one panel per claim;
4. the verdict grid (``verdicts.png``), then per axis the Rationale and a table of claim rows, each row with
   every clause of its criterion (held / failed) and links to its figures; then the figures and the run.

Files:

* ``summary.md``: the sections above, figures linked relative to the report folder.
* ``figures/*.png``: one PNG per (claim row, figure kind), plus ``verdicts.png`` and ``effects.png``; beside
  each PNG a ``.json`` of the same name with the data it was drawn from (``{"figure", "kind", "claim",
  "caption", "data"}``).
* ``report.html``: everything above in one file (figures as base64 data URIs, inline CSS, no scripts, no
  external resources) that opens offline in any browser.

Figure kinds and their data (what a check puts into ``Evidence.figures[kind]``):

* ``excess_histogram``: ``{"layers": [int], "bin_edges": [float], "series": {name: [[count per bin] per
  layer]}, "threshold": float | None, "xlabel": str (optional)}``
* ``depth_heatmap``: ``{"matrix": [[float]], "row_label": str, "col_label": str}`` (fractions, 0-1)
* ``signature_boxes``: ``{"metrics": [str], "universal": {metric: [percentile]}, "other": {metric:
  [percentile]}, "expected": {metric: "low" | "high"}}``
* ``prediction_counts``: ``{"layers": [int], "series": {name: [count per layer]}, "ylabel": str}`` (any
  per-layer neuron counts: prediction/suppression, unigram, previous-token neurons ...)
* ``entropy_curves``: ``{"activation_values": [float], "panels": {metric: {"candidate": [float],
  "baselines": [[float]]}}, "candidate_label": str, "xlabel": str (optional)}``
* ``bos_heuristic``: ``{"scores": [float], "baseline_scores": [float], "pairs": {"heuristic": [float],
  "delta_bos": [float]} (optional), "xlabel": str (optional)}``
* ``scatter``: ``{"x": [float], "y": [float], "xlabel": str, "ylabel": str, "groups": [str] (optional),
  "fit": bool}``

Every figure is titled and captioned with its claim (id and title, from the summary row). Unknown kinds and
figures whose data cannot be drawn are skipped and listed in the reports; a figure never breaks the report.
Every file is written atomically (temporary sibling + ``os.replace``), so a reader sees the previous complete
file or the new one.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from claims.verdict import CHECKLIST_KEYS, Axis, Role, Verdict, fmt, jsonable
from fixtures import storage

SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
OVERVIEW = "verdicts"
EFFECTS = "effects"
GLOBAL_KINDS = (EFFECTS, OVERVIEW)  # figures of the whole run, not of one row
DPI = 110
WIDTH_IN = 12.4  # x DPI = ~1360 px

AXIS_ORDER: tuple[Axis, ...] = (Axis.ORIGINAL, Axis.GT1, Axis.GT2, Axis.GT3)
GT_AXES: tuple[Axis, ...] = (Axis.GT1, Axis.GT2, Axis.GT3)
AXIS_TITLES: dict[Axis, str] = {
    Axis.ORIGINAL: "Original setting (the paper's models and data)",
    Axis.GT1: "GT1 - model generalisation",
    Axis.GT2: "GT2 - data generalisation",
    Axis.GT3: "GT3 - method generalisation",
}
VERDICT_COLOURS: dict[str, str] = {
    Verdict.PASS: "#2e7d32",
    Verdict.FAIL: "#c62828",
    Verdict.INCONCLUSIVE: "#ef8f00",
    Verdict.NOT_APPLICABLE: "#5c7a8a",
    Verdict.NOT_RUN: "#9e9e9e",
    Verdict.ERROR: "#6a1b9a",
}
VERDICT_SHORT: dict[str, str] = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.INCONCLUSIVE: "INC",
    Verdict.NOT_APPLICABLE: "N/A",
    Verdict.NOT_RUN: "N/R",
    Verdict.ERROR: "ERR",
}
ALARMING = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR)

# generalisation labels (claims/generalisation.py): colour, and a coloured mark for Markdown
LABEL_COLOURS: dict[str, str] = {
    "generalises": "#2e7d32",
    "does_not_generalise": "#c62828",
    "not_reproduced": "#8e5b3e",
    "not_applicable": "#5c7a8a",
    "inconclusive": "#ef8f00",
    "not_run": "#9e9e9e",
}
LABEL_MARKS: dict[str, str] = {
    "generalises": "\U0001f7e2",  # green circle
    "does_not_generalise": "\U0001f534",  # red circle
    "not_reproduced": "\U0001f7e4",  # brown circle
    "not_applicable": "\u26aa",  # white circle
    "inconclusive": "\U0001f7e0",  # orange circle
    "not_run": "\u26ab",  # black circle
}

CAPTIONS: dict[str, str] = {
    "excess_histogram": "Per-layer distribution of neuron correlations across seeds. Trained neurons sitting to "
    "the right of the baselines means correlations beyond what chance alignment produces.",
    "depth_heatmap": "Where each neuron's best match sits: fraction of neurons of a reference layer (row) whose "
    "best-correlated neuron is in each layer (column). Mass on the diagonal = matches keep their depth.",
    "signature_boxes": "Within-layer percentiles of weight/activation statistics, universal vs other neurons. "
    "50 = layer median; the arrow shows the direction the paper predicts for universal neurons.",
    "prediction_counts": "Neurons per layer in each class the claim counts (coloured bars), against its control "
    "(grey hatched bars).",
    "entropy_curves": "Effect of fixing the candidate neuron's activation (x) on each metric, against baseline "
    "neurons given the same intervention.",
    "bos_heuristic": "Weight-based heuristic scores against a random-direction baseline (left, log counts); "
    "right: heuristic score vs the measured change in attention to the BOS token.",
    "scatter": "Scatter of the two quantities the claim relates, with a least-squares line and Pearson r.",
    OVERVIEW: "Verdict of every claim row: claims (rows) x model / dataset (columns).",
    EFFECTS: "Each claim's effect against its control (point; the name and control are under each panel) with its "
    "95 % interval (bar), one line per model / dataset; the dashed line is the threshold the interval's lower end "
    "must clear. Colour = row verdict; hollow markers = untrained models and negative controls, where the effect "
    "should be absent.",
}
# what each kind shows, as the second half of a figure title (the first half is the claim)
KIND_TITLES: dict[str, str] = {
    "excess_histogram": "correlation across seeds vs baselines",
    "depth_heatmap": "depth of each neuron's best match",
    "signature_boxes": "within-layer percentiles, universal vs other",
    "prediction_counts": "neurons per layer vs control",
    "entropy_curves": "intervention on the candidate vs baseline neurons",
    "bos_heuristic": "heuristic vs random directions",
    "scatter": "scatter",
}

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --- entry point ---------------------------------------------------------------------------------------------


def render_all(summary: dict[str, Any], figures: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write summary.md, figures/*.png with their data (figures/*.json) and report.html for one run.

    Args:
        summary: the summary.json dict (``Checklist``, ``Rationale``, ``generalisation``, ``claims``, ``run``).
        figures: figure data per claim row: ``{"row": {"id", "axis", "model", "dataset", "verdict"},
            "figures": {kind: data}}`` (kinds in the module docstring). The row is completed from the summary's
            matching claim row (title, key number ...), so titles and captions name the claim.
        out_dir: the report folder (summary.json's folder); ``figures/`` is created inside it. PNGs and JSONs
            left in ``figures/`` by an earlier run and not redrawn now are removed, so the folder matches the
            report.

    Returns:
        Every file written, by its path relative to ``out_dir`` (``"summary.md"``, ``"figures/x.png"``, ...).
    """
    out_dir = Path(out_dir)
    rows: list[dict[str, Any]] = list(summary.get("claims", []))
    by_key = {row_key(r): r for r in rows}
    written: dict[str, Path] = {}
    drawn: list[_Drawn] = []
    notes: list[str] = []

    plt = _pyplot()
    if plt is None:
        notes.append("matplotlib is not installed: no figures were drawn (install matplotlib to get them).")
    else:
        fig_dir = out_dir / FIGURES_DIR
        effects = effect_chart_data(rows)
        if effects["claims"]:
            png = _draw_safely(plt, draw_effects, effects, None)
            if isinstance(png, bytes):
                drawn.append(_Drawn(f"{EFFECTS}.png", EFFECTS, None, png, effects))
            else:
                notes.append(f"the effect chart could not be drawn: {png}")
        overview = _draw_safely(plt, _draw_verdicts, rows, None)
        if isinstance(overview, bytes):
            grid = [{k: r.get(k) for k in ("id", "axis", "model", "dataset", "verdict", "role")} for r in rows]
            drawn.append(_Drawn(f"{OVERVIEW}.png", OVERVIEW, None, overview, {"rows": grid}))
        else:
            notes.append(f"the verdict overview could not be drawn: {overview}")
        for entry in figures:
            small = entry.get("row", {})
            row = {**by_key.get(row_key(small), {}), **small}
            for kind, data in (entry.get("figures") or {}).items():
                where = f"{row.get('id', '?')} ({row.get('model', '?')} / {row.get('dataset', '?')}"
                where += f", {row.get('axis', '?')})"
                drawer = DRAWERS.get(kind)
                if drawer is None:
                    notes.append(f"skipped figure kind {kind!r} for {where}: no renderer for this kind")
                    continue
                png = _draw_safely(plt, drawer, data, row)
                if isinstance(png, bytes):
                    drawn.append(_Drawn(figure_filename(row, kind), kind, row, png, data))
                else:
                    notes.append(f"figure {kind!r} for {where} could not be drawn: {png}")
        for item in drawn:
            path = fig_dir / item.filename
            storage.atomic_write_bytes(path, item.png)
            written[f"{FIGURES_DIR}/{item.filename}"] = path
            data_path = fig_dir / item.data_filename
            storage.atomic_write_text(data_path, json.dumps(item.record(), ensure_ascii=False) + "\n")
            written[f"{FIGURES_DIR}/{item.data_filename}"] = data_path
        if fig_dir.is_dir():
            for stale in [*fig_dir.glob("*.png"), *fig_dir.glob("*.json")]:
                if f"{FIGURES_DIR}/{stale.name}" not in written:
                    stale.unlink(missing_ok=True)

    md_path = out_dir / SUMMARY_MD
    storage.atomic_write_text(md_path, summary_markdown(summary, drawn, notes))
    written[SUMMARY_MD] = md_path
    html_path = out_dir / REPORT_HTML
    storage.atomic_write_text(html_path, report_html(summary, drawn, notes))
    written[REPORT_HTML] = html_path
    return written


def row_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """(id, axis, model, dataset): what identifies a claim row, in the summary and in figure entries."""
    return (str(row.get("id")), str(row.get("axis")), str(row.get("model")), str(row.get("dataset")))


class _Drawn:
    """A drawn figure: file name, kind, the row it belongs to (None for run-wide figures), PNG bytes and data."""

    def __init__(self, filename: str, kind: str, row: dict[str, Any] | None, png: bytes, data: Any = None) -> None:
        self.filename, self.kind, self.row, self.png, self.data = filename, kind, row, png, data

    @property
    def stem(self) -> str:
        """The file name without ``.png``: also the figure's anchor in report.html."""
        return self.filename.removesuffix(".png")

    @property
    def data_filename(self) -> str:
        """The JSON beside the PNG that holds the data it was drawn from."""
        return self.stem + ".json"

    @property
    def caption(self) -> str:
        """The claim (id, title, where) first, then what the kind of figure shows and the row's key number."""
        if not self.row:
            return CAPTIONS.get(self.kind, self.kind)
        r = self.row
        head = f"{r.get('id')}" + (f" - {r['title']}" if r.get("title") else "")
        head += f" ({r.get('axis')}; {r.get('model')} / {r.get('dataset')}; {r.get('verdict')}). "
        key = key_text(r)
        return head + CAPTIONS.get(self.kind, self.kind) + (f" Key number: {key}." if key else "")

    def record(self) -> dict[str, Any]:
        """The JSON written beside the PNG: which figure, which claim row, the caption and the data."""
        claim = (
            {k: self.row.get(k) for k in ("id", "title", "axis", "model", "dataset", "verdict")} if self.row else None
        )
        return jsonable(
            {"figure": self.filename, "kind": self.kind, "claim": claim, "caption": self.caption, "data": self.data}
        )


def figure_filename(row: dict[str, Any], kind: str) -> str:
    """``<claimid>-<axis>-<model>-<dataset>-<kind>.png`` with anything but letters, digits, ``._-`` as ``_``.

    Args:
        row: the claim row (``id``, ``axis``, ``model``, ``dataset``).
        kind: the figure kind.

    Returns:
        A file name safe on every file system (no ``/``, ``:`` or spaces).
    """
    parts = [str(row.get(k, "x")) for k in ("id", "axis", "model", "dataset")] + [kind]
    return "-".join(_SAFE.sub("_", p).strip("_") or "x" for p in parts) + ".png"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_safely(plt: Any, drawer: Callable[..., Any], data: Any, row: dict[str, Any] | None) -> bytes | str:
    """PNG bytes, or the reason the figure could not be drawn (a bad payload must not break the report)."""
    style = {
        "font.size": 10,
        "axes.titlesize": 10.5,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "figure.titlesize": 12,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    fig = None
    try:
        with plt.rc_context(style):
            fig = drawer(plt, data, row or {})
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
        return buf.getvalue()
    except Exception as exc:  # any bad payload becomes a note in the report
        return f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if fig is not None:
            plt.close(fig)


# --- numbers -------------------------------------------------------------------------------------------------


def _arr(values: Any) -> Any:
    """A float array; ``"nan"``/``"inf"`` strings (how summary JSON stores them) and None become floats."""
    import numpy as np

    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.asarray([_arr(v) if isinstance(v, (list, tuple)) else _num(v) for v in values], dtype=float)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _title(row: dict[str, Any], what: str) -> str:
    """Figure title: the claim (id - title) first, then the axis, the model / dataset and what the plot shows."""
    claim = f"{row.get('id', '?')}" + (f" - {row['title']}" if row.get("title") else "")
    where = f"{row.get('model', '?')}" + (f" / {row['dataset']}" if row.get("dataset") else "")
    text = f"{claim}\n[{row.get('axis', '?')}] {where}: {what}"
    return "\n".join(textwrap.fill(line, 110) for line in text.splitlines())


def _grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def _pearson(x: Any, y: Any) -> float:
    import numpy as np

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return math.nan
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


# --- figure kinds --------------------------------------------------------------------------------------------

_STRONG = "#d62728"
_OTHERS = ("#1f77b4", "#7f7f7f", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#bcbd22")
_GROUPS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 1)))


def draw_excess_histogram(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """One panel per layer: step histograms of the trained correlations and of each baseline.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"layers", "bin_edges", "series": {name: [[count per bin] per layer]}, "threshold"}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    layers = list(data["layers"])
    edges = _arr(data["bin_edges"])
    series = {name: _arr(counts) for name, counts in data["series"].items()}
    threshold = data.get("threshold")
    nrows, ncols = _grid(len(layers))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_IN, 0.9 + 2.6 * nrows), squeeze=False, sharex=True)
    handles: dict[str, Any] = {}
    for i, layer in enumerate(layers):
        ax = axes[i // ncols][i % ncols]
        for j, (name, counts) in enumerate(series.items()):
            if j == 0:
                ax.stairs(counts[i], edges, fill=True, color=_STRONG, alpha=0.22)
                h = ax.stairs(counts[i], edges, color=_STRONG, linewidth=2.0, label=name)
            else:
                h = ax.stairs(
                    counts[i],
                    edges,
                    color=_OTHERS[(j - 1) % len(_OTHERS)],
                    linewidth=1.6,
                    linestyle=_DASHES[(j - 1) % len(_DASHES)],
                    label=name,
                )
            handles.setdefault(name, h)
        if threshold is not None:
            handles.setdefault(
                f"threshold = {fmt(_num(threshold))}",
                ax.axvline(_num(threshold), color="black", linestyle="--", linewidth=1.1),
            )
        ax.set_title(f"layer {layer}")
        ax.grid(axis="y", alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel("neurons (count)")
        if i // ncols == nrows - 1 or i + ncols >= len(layers):
            ax.set_xlabel(data.get("xlabel", "correlation (Pearson r)"))
            ax.tick_params(labelbottom=True)
    for k in range(len(layers), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle(_title(row, KIND_TITLES["excess_histogram"]))
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="upper center",
        ncol=min(5, len(handles)),
        bbox_to_anchor=(0.5, 0.0),
        frameon=False,
    )
    fig.tight_layout()
    return fig


def draw_depth_heatmap(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """Annotated heatmap of fractions (0-1 colour scale) with the diagonal outlined.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"matrix": [[float]], "row_label": str, "col_label": str}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.patches import Rectangle

    m = _arr(data["matrix"])
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    n_r, n_c = m.shape
    side = min(7.6, max(4.8, 0.4 * max(n_r, n_c) + 2.4))
    fig, ax = plt.subplots(figsize=(side + 1.4, side))
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    if max(n_r, n_c) <= 24:
        size = 9 if max(n_r, n_c) <= 12 else 6.5
        for r in range(n_r):
            for c in range(n_c):
                v = m[r, c]
                text = "" if not math.isfinite(v) else (f"{v:.2f}".lstrip("0") if v < 1 else "1")
                ax.text(c, r, text, ha="center", va="center", fontsize=size, color="white" if v > 0.55 else "#222")
    for d in range(min(n_r, n_c)):
        ax.add_patch(Rectangle((d - 0.5, d - 0.5), 1, 1, fill=False, edgecolor="#ff7f0e", linewidth=1.8))
    step = 1 if max(n_r, n_c) <= 24 else 2
    ax.set_xticks(range(0, n_c, step))
    ax.set_yticks(range(0, n_r, step))
    ax.set_xlabel(data.get("col_label", "layer of best match"))
    ax.set_ylabel(data.get("row_label", "layer (reference model)"))
    for side_name in ("top", "right"):
        ax.spines[side_name].set_visible(True)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cbar.set_label("fraction of the row's neurons (0-1)")
    diag = float(sum(m[d, d] for d in range(min(n_r, n_c)) if math.isfinite(m[d, d])))
    rows_total = float(m[: min(n_r, n_c)].sum()) if math.isfinite(m.sum()) else math.nan
    share = diag / rows_total if rows_total else math.nan
    ax.set_title(f"orange boxes: same depth (diagonal holds {share:.0%} of the mass)", fontsize=9.5)
    fig.suptitle(_title(row, KIND_TITLES["depth_heatmap"]))
    fig.tight_layout()
    return fig


def draw_signature_boxes(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """Paired box plots of within-layer percentiles (universal vs other) per metric, with the expected direction.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"metrics", "universal": {metric: [pct]}, "other": {metric: [pct]}, "expected": {metric: dir}}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    metrics = list(data["metrics"])
    expected = data.get("expected", {})
    fig, ax = plt.subplots(figsize=(min(WIDTH_IN, 2.0 + 1.55 * len(metrics)), 5.4))
    colours = {"universal": "#d62728", "other": "#7f7f7f"}
    n_u = n_o = 0
    for i, metric in enumerate(metrics):
        for offset, group in ((-0.2, "universal"), (0.2, "other")):
            values = _arr(data[group].get(metric, []))
            values = values[np.isfinite(values)]
            if group == "universal":
                n_u = max(n_u, len(values))
            else:
                n_o = max(n_o, len(values))
            if not len(values):
                continue
            bp = ax.boxplot(
                values,
                positions=[i + offset],
                widths=0.34,
                patch_artist=True,
                showfliers=True,
                flierprops={"markersize": 2.5, "alpha": 0.4},
                medianprops={"color": "black"},
            )
            for patch in bp["boxes"]:
                patch.set_facecolor(colours[group])
                patch.set_alpha(0.55 if group == "universal" else 0.35)
        direction = expected.get(metric)
        if direction in ("high", "low"):
            up = direction == "high"
            ax.annotate(
                "",
                xy=(i - 0.5, 97 if up else 3),
                xytext=(i - 0.5, 72 if up else 28),
                arrowprops={"arrowstyle": "-|>", "color": "#1f4e9c", "lw": 1.6},
            )
    ax.axhline(50, color="black", linestyle="--", linewidth=1, alpha=0.7)
    ax.set_xticks(range(len(metrics)))
    labels = []
    for metric in metrics:
        direction = expected.get(metric)
        hint = {"high": "\n(expected high)", "low": "\n(expected low)"}.get(direction, "")
        labels.append(textwrap.fill(str(metric), 16) + hint)
    ax.set_xticklabels(labels)
    ax.set_ylim(-4, 104)
    ax.set_xlim(-0.7, len(metrics) - 0.55)
    ax.set_ylabel("percentile within layer (0-100)")
    ax.grid(axis="y", alpha=0.3)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=colours["universal"], alpha=0.55, label=f"universal neurons (n={n_u})"),
        Patch(facecolor=colours["other"], alpha=0.35, label=f"other neurons (n={n_o})"),
        Line2D([], [], color="black", linestyle="--", label="layer median (50)"),
        Line2D(
            [],
            [],
            color="#1f4e9c",
            marker=r"$\uparrow$",
            linestyle="",
            markersize=10,
            label="direction predicted for universal",
        ),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    fig.suptitle(_title(row, KIND_TITLES["signature_boxes"]))
    fig.tight_layout()
    return fig


def draw_prediction_counts(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """Grouped bars per layer, one bar per series (controls hatched grey).

    Args:
        plt: matplotlib.pyplot.
        data: ``{"layers": [int], "series": {name: [count per layer]}, "ylabel": str}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    layers = list(data["layers"])
    series = {name: _arr(v) for name, v in data["series"].items()}
    x = np.arange(len(layers))
    width = 0.8 / max(1, len(series))
    palette = iter(("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"))
    fig, ax = plt.subplots(figsize=(min(WIDTH_IN, 3.5 + 0.55 * len(layers) * max(1, len(series)) / 2), 4.6))
    for j, (name, values) in enumerate(series.items()):
        control = any(w in name.lower() for w in ("control", "random", "baseline", "shuffle"))
        colour = "#b0b0b0" if control else next(palette, "#17becf")
        ax.bar(
            x - 0.4 + width * (j + 0.5),
            values,
            width,
            label=name,
            color=colour,
            hatch="//" if control else None,
            edgecolor="#555" if control else colour,
        )
    ax.set_xticks(x)
    ax.set_xticklabels([str(layer) for layer in layers])
    ax.set_xlabel("layer")
    ax.set_ylabel(data.get("ylabel", "neurons (count)"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    fig.suptitle(_title(row, KIND_TITLES["prediction_counts"]))
    fig.tight_layout()
    return fig


def draw_entropy_curves(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """One panel per metric: the candidate's curve over activation values against thin grey baseline curves.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"activation_values", "panels": {metric: {"candidate", "baselines"}}, "candidate_label"}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    xs = _arr(data["activation_values"])
    panels = data["panels"]
    nrows, ncols = _grid(len(panels), 3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_IN, 0.9 + 3.4 * nrows), squeeze=False)
    label = data.get("candidate_label", "candidate neuron")
    handles: dict[str, Any] = {}
    for i, (metric, panel) in enumerate(panels.items()):
        ax = axes[i // ncols][i % ncols]
        baselines = [_arr(b) for b in panel.get("baselines", [])]
        for b in baselines:
            (h,) = ax.plot(xs, b, color="#9a9a9a", linewidth=0.8, alpha=0.7)
            handles.setdefault(f"baseline neurons (n={len(baselines)})", h)
        (h,) = ax.plot(xs, _arr(panel["candidate"]), color=_STRONG, linewidth=2.6, marker="o", markersize=3.5)
        handles.setdefault(label, h)
        ax.set_title(str(metric))
        ax.set_ylabel(str(metric))
        ax.set_xlabel(data.get("xlabel", "activation value set on the neuron"))
        ax.grid(alpha=0.3)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle(_title(row, KIND_TITLES["entropy_curves"]))
    fig.legend(handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def draw_bos_heuristic(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """Histogram (log counts) of heuristic scores vs a random-direction baseline; scatter vs measured BOS change.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"scores", "baseline_scores", "pairs": {"heuristic", "delta_bos"} (optional)}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    scores = _arr(data["scores"])
    base = _arr(data.get("baseline_scores", []))
    pairs = data.get("pairs")
    scores, base = scores[np.isfinite(scores)], base[np.isfinite(base)]
    fig, axes = plt.subplots(1, 2 if pairs else 1, figsize=(WIDTH_IN if pairs else 7.0, 4.6), squeeze=False)
    ax = axes[0][0]
    both = np.concatenate([scores, base]) if len(base) else scores
    bins = np.linspace(float(both.min()), float(both.max()), 41) if len(both) else 10
    ax.hist(base, bins=bins, color="#7f7f7f", alpha=0.55, label=f"random-direction baseline (n={len(base)})")
    ax.hist(scores, bins=bins, histtype="step", color=_STRONG, linewidth=2, label=f"heuristic (n={len(scores)})")
    ax.set_yscale("log")
    ax.set_xlabel(data.get("xlabel", "heuristic score"))
    ax.set_ylabel("count (log scale)")
    ax.set_title("heuristic scores vs baseline")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    if pairs:
        ax = axes[0][1]
        hx, dy = _arr(pairs["heuristic"]), _arr(pairs["delta_bos"])
        r = _pearson(hx, dy)
        ax.scatter(hx, dy, s=14, alpha=0.6, color="#1f77b4", label=f"Pearson r = {r:.2f} (n={len(hx)})")
        ax.axhline(0, color="black", linewidth=0.8, alpha=0.6)
        ax.set_xlabel(data.get("xlabel", "heuristic score"))
        ax.set_ylabel("measured change in BOS attention (fraction)")
        ax.set_title("heuristic vs measured effect")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle(_title(row, KIND_TITLES["bos_heuristic"]))
    fig.tight_layout()
    return fig


def draw_scatter(plt: Any, data: dict[str, Any], row: dict[str, Any]) -> Any:
    """Generic scatter, coloured by group when given, with an optional least-squares line and Pearson r.

    Args:
        plt: matplotlib.pyplot.
        data: ``{"x", "y", "xlabel", "ylabel", "groups" (optional), "fit": bool}``.
        row: the claim row (for the title).

    Returns:
        The matplotlib Figure.
    """
    import numpy as np

    x, y = _arr(data["x"]), _arr(data["y"])
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)})")
    groups = data.get("groups")
    fig, ax = plt.subplots(figsize=(7.6, 5.4))
    if groups and len(groups) == len(x):
        names = list(dict.fromkeys(str(g) for g in groups))
        g = np.asarray([str(v) for v in groups])
        for k, name in enumerate(names):
            sel = g == name
            colour = _GROUPS[k % len(_GROUPS)]
            ax.scatter(x[sel], y[sel], s=16, alpha=0.65, color=colour, label=f"{name} (n={int(sel.sum())})")
    else:
        ax.scatter(x, y, s=14, alpha=0.55, color="#1f77b4", label=f"n={len(x)}")
    ok = np.isfinite(x) & np.isfinite(y)
    if data.get("fit") and ok.sum() >= 3 and np.std(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        grid = np.linspace(x[ok].min(), x[ok].max(), 50)
        ax.plot(
            grid,
            slope * grid + intercept,
            color="black",
            linewidth=1.6,
            label=f"least squares (Pearson r = {_pearson(x, y):.2f})",
        )
    ax.set_xlabel(data.get("xlabel", "x"))
    ax.set_ylabel(data.get("ylabel", "y"))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8.5)
    fig.suptitle(_title(row, f"{data.get('ylabel', 'y')} vs {data.get('xlabel', 'x')}"), fontsize=11)
    fig.tight_layout()
    return fig


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
        ci = [*(eff.get("ci95") or []), None, None]
        low, high, threshold = _num(ci[0]), _num(ci[1]), _num(eff.get("threshold"))
        entry = {
            "axis": r.get("axis"),
            "model": r.get("model"),
            "dataset": r.get("dataset"),
            "verdict": r.get("verdict"),
            "role": r.get("role", Role.CLAIM),
            "untrained": "untrained" in str(r.get("model", "")).lower(),
            "name": str(eff.get("name", "effect")),
            "value": _num(eff.get("value")),
            "low": low,
            "high": high,
            "threshold": threshold,
            "measured": _num(eff.get("measured")),
            "control": _num(eff.get("control")),
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


def _draw_verdicts(plt: Any, rows: Sequence[dict[str, Any]], _row: dict[str, Any]) -> Any:
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


def _figures_of(drawn: Sequence[_Drawn], axis: Axis) -> list[_Drawn]:
    """The figures of one axis, grouped by claim (then model, dataset) for the reports."""
    chosen = [d for d in drawn if d.row and d.row.get("axis") == axis.value]
    return sorted(chosen, key=lambda d: tuple(str((d.row or {}).get(k, "")) for k in ("id", "model", "dataset")))


def _two_lines(model: str, dataset: str) -> str:
    return f"{textwrap.shorten(model, 34, placeholder='…')}\n{textwrap.shorten(dataset, 34, placeholder='…')}"


def _axis_rank(axis: str) -> int:
    values = [a.value for a in AXIS_ORDER]
    return values.index(axis) if axis in values else len(values)


DRAWERS: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {
    "excess_histogram": draw_excess_histogram,
    "depth_heatmap": draw_depth_heatmap,
    "signature_boxes": draw_signature_boxes,
    "prediction_counts": draw_prediction_counts,
    "entropy_curves": draw_entropy_curves,
    "bos_heuristic": draw_bos_heuristic,
    "scatter": draw_scatter,
}


# --- text helpers shared by Markdown and HTML ----------------------------------------------------------------


def _axes_present(summary: dict[str, Any]) -> list[tuple[Axis, str, str, str, list[dict[str, Any]]]]:
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


def key_text(row: dict[str, Any]) -> str:
    """``name = value [criterion]`` of a row's key number (empty when the row has none).

    Args:
        row: a claim row.

    Returns:
        The key number with its criterion.
    """
    key = row.get("key") or {}
    if not key.get("name"):
        return ""
    criterion = key.get("criterion") or row.get("criterion", "")
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


def _tokens(row: dict[str, Any]) -> str:
    n = row.get("n_tokens") or 0
    return fmt(int(n)) if isinstance(n, (int, float)) and n else "-"


def _run_items(run: dict[str, Any]) -> list[tuple[str, str]]:
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


def _rows_agreeing(cell: dict[str, Any]) -> str:
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


def _label_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label_text(label)}" for label, n in counts.items() if n) or "no claims"


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


def effect_text(row: dict[str, Any]) -> str:
    """``effect name = v [95 % lo, hi], lower end must clear t (control: c)``, or "" without an effect."""
    eff = row.get("effect")
    if not isinstance(eff, dict):
        return ""
    ci = [*(eff.get("ci95") or []), None, None]
    return (
        f"{eff.get('name')} = {fmt(eff.get('value'))} [95 % {fmt(ci[0])}, {fmt(ci[1])}], lower end must clear "
        f"{fmt(eff.get('threshold'))} (control: {eff.get('control_name', '?')})"
    )


def row_anchor(row: dict[str, Any]) -> str:
    """The HTML id of a claim row in the per-axis tables."""
    return "row-" + "-".join(_SAFE.sub("_", p).strip("_") or "x" for p in row_key(row))


def _figure_index(drawn: Sequence[_Drawn]) -> dict[tuple[str, str, str, str], list[_Drawn]]:
    index: dict[tuple[str, str, str, str], list[_Drawn]] = {}
    for d in drawn:
        if d.row is not None:
            index.setdefault(row_key(d.row), []).append(d)
    return index


def row_figures(row: dict[str, Any], drawn: Sequence[_Drawn]) -> list[tuple[str, _Drawn]]:
    """(link text, figure) for a row: its own figures, then the effect chart when the row has an effect."""
    out = [(d.kind, d) for d in _figure_index(drawn).get(row_key(row), [])]
    chart = [d for d in drawn if d.kind == EFFECTS]
    if chart and isinstance(row.get("effect"), dict):
        out.append(("effect", chart[0]))
    return out


# --- Markdown ------------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_verdict(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ALARMING else verdict


def _md_label(label: str | None) -> str:
    if label is None:
        return "negative control"
    text = f"{LABEL_MARKS.get(label, '')} {label_text(label)}".strip()
    return f"**{text}**" if label == "does_not_generalise" else text


def _md_link(text: str, d: _Drawn) -> str:
    return f"[{_md(text)}]({FIGURES_DIR}/{d.filename})"


def summary_markdown(summary: dict[str, Any], drawn: Sequence[_Drawn] = (), notes: Iterable[str] = ()) -> str:
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
            cells.append(f"{_md_label(cell['label'])} ({_rows_agreeing(cell)}) {marks}".strip())
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
    for axis, heading, verdict, _text, axis_rows in _axes_present(summary):
        key = CHECKLIST_KEYS.get(axis)
        detail = _label_counts(axes_block.get(key, {}).get("counts", {})) if key else f"{len(axis_rows)} rows"
        out.append(f"| {_md(heading)} | {_md_verdict(verdict)} | {_md(detail)} |")
    chart = [d for d in drawn if d.kind == EFFECTS]
    if chart:
        out += [
            "",
            "## Effects against controls",
            "",
            f"![{_md(CAPTIONS[EFFECTS])}]({FIGURES_DIR}/{chart[0].filename})",
        ]
        out += [
            "",
            f"*{_md(CAPTIONS[EFFECTS])}* Data: [{chart[0].data_filename}]({FIGURES_DIR}/{chart[0].data_filename})",
        ]
    overview = [d for d in drawn if d.kind == OVERVIEW]
    if overview:
        out += ["", "## Verdict of every row", "", f"![{CAPTIONS[OVERVIEW]}]({FIGURES_DIR}/{overview[0].filename})"]
    for axis, heading, verdict, text, axis_rows in _axes_present(summary):
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
                _md(_tokens(r)),
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
            chosen = _figures_of(per_row, axis)
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
    for label, text in _run_items(summary.get("run", {})):
        out.append(f"- **{label}**: {_md(text)}")
    return "\n".join(out) + "\n"


# --- HTML ----------------------------------------------------------------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:#1d1d1f;
background:#f6f7f9;line-height:1.45;font-size:14px}
main{max-width:1400px;margin:0 auto;padding:20px 28px 60px}
h1{margin:.2em 0 .1em;font-size:26px}
h2{margin:1.6em 0 .5em;font-size:20px;border-bottom:2px solid #d8dbe0;padding-bottom:4px}
h3{margin:1.2em 0 .4em;font-size:16px}
nav a{margin-right:14px;color:#1f4e9c;text-decoration:none}
a{color:#1f4e9c}
.meta{color:#555;font-size:13px}
.badges{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px;margin:10px 0 14px}
.card{background:#fff;border:1px solid #dde;border-radius:8px;padding:10px 14px}
.card .name{font-size:12.5px;color:#444;margin-bottom:6px}
.card .counts{font-size:12px;color:#444;margin-top:6px}
.badge{display:inline-block;padding:2px 9px;border-radius:11px;color:#fff;font-weight:600;font-size:12.5px;
letter-spacing:.02em;white-space:nowrap}
.badge.big{font-size:15px;padding:4px 14px}
.v-PASS{background:#2e7d32}.v-FAIL{background:#c62828}.v-INCONCLUSIVE{background:#ef8f00;color:#111}
.v-NOT_APPLICABLE{background:#5c7a8a}.v-NOT_RUN{background:#9e9e9e}.v-ERROR{background:#6a1b9a}
.v-reference{background:#1f4e9c}
.g-generalises{background:#2e7d32}.g-does_not_generalise{background:#c62828}.g-not_reproduced{background:#8e5b3e}
.g-not_applicable{background:#5c7a8a}.g-inconclusive{background:#ef8f00;color:#111}.g-not_run{background:#9e9e9e}
.g-none{background:#e0e3e8;color:#333}
.rationale{background:#fff;border-left:4px solid #c5cbd6;padding:8px 14px;margin:6px 0 12px;font-size:13px;
overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;background:#fff;font-size:12.5px;margin:6px 0 10px}
th,td{border:1px solid #dfe2e7;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
tr:nth-child(even) td:not(.verdict){background:#fafbfc}
tr:target td{outline:2px solid #1f4e9c}
td.verdict{font-weight:700;text-align:center;white-space:nowrap;color:#fff;width:1%}
td.parts{min-width:240px}
td.verdict.v-INCONCLUSIVE{color:#111}
td.num{text-align:right;white-space:nowrap}
td.control{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;color:#333;min-width:150px;max-width:240px;
overflow-wrap:anywhere}
td.model,td.dataset{overflow-wrap:anywhere;min-width:96px;max-width:150px}
td.figs a{display:inline-block;margin:0 6px 2px 0;white-space:nowrap}
table.gen td{vertical-align:middle}
table.gen td.gcell{width:22%}
.lab{display:inline-block;padding:2px 9px;border-radius:11px;color:#fff;font-weight:600;font-size:12.5px;
white-space:nowrap;text-decoration:none}
.lab.g-inconclusive,.lab.g-none{color:#111}
.sub{color:#555;font-size:11px;margin-top:3px;overflow-wrap:anywhere}
.legend{margin:4px 0 8px;font-size:12px}.legend .lab{font-size:11.5px;margin-right:4px}
ul.parts{list-style:none;margin:0;padding:0;font-size:11.5px}
ul.parts li{margin:1px 0;overflow-wrap:anywhere}
ul.parts li.held::before{content:"✓ ";color:#2e7d32;font-weight:700}
ul.parts li.failed::before{content:"✗ ";color:#c62828;font-weight:700}
ul.parts li.failed{color:#8a1c1c}
.effect{color:#333;font-size:11.5px;margin-top:3px}
.reason{color:#666;font-size:11.5px;margin-top:3px}
.title{color:#444}
figure{background:#fff;border:1px solid #dde;border-radius:8px;margin:12px 0 18px;padding:10px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:12.5px;color:#444;margin-top:6px}
.note{background:#fff8e1;border:1px solid #f0d58a;border-radius:6px;padding:6px 10px;margin:6px 0;font-size:13px}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;background:#fff;padding:12px 16px;
border:1px solid #dde;border-radius:8px;font-size:13px}
dl.run dt{font-weight:600;color:#333}dl.run dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,Menlo,
Consolas,monospace;font-size:12px}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _badge(verdict: str, big: bool = False) -> str:
    cls = _SAFE.sub("_", verdict)
    return f'<span class="badge v-{cls}{" big" if big else ""}">{_e(verdict)}</span>'


def _label(label: str | None, href: str = "", tip: str = "") -> str:
    """A coloured generalisation label, a link to the claim's rows when ``href`` is given."""
    cls = f"lab g-{label or 'none'}"
    title = f' title="{_e(tip)}"' if tip else ""
    if href:
        return f'<a class="{cls}" href="#{_e(href)}"{title}>{_e(label_text(label))}</a>'
    return f'<span class="{cls}"{title}>{_e(label_text(label))}</span>'


def _img(d: _Drawn) -> str:
    data = base64.b64encode(d.png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(d.caption)}">'


def _generalisation_html(summary: dict[str, Any]) -> list[str]:
    """The claim x axis table: coloured labels linking to the claim's rows, the reference in small text."""
    block = summary.get("generalisation") or {}
    table = generalisation_table(summary)
    first_row: dict[tuple[str, str], str] = {}
    for r in summary.get("claims", []):
        first_row.setdefault((str(r.get("id")), str(r.get("axis"))), row_anchor(r))
    h = [
        '<div class="legend">' + " ".join(_label(label) for label in LABEL_COLOURS) + "</div>",
        '<table class="gen"><thead><tr><th>claim</th><th>original (reference)</th>'
        + "".join(f"<th>{_e(AXIS_TITLES[a])}</th>" for a in GT_AXES)
        + "</tr></thead><tbody>",
    ]
    for entry in table:
        cid = entry["id"]
        originals = " ".join(
            f'<a href="#{_e(row_anchor(r))}" title="{_e(r.get("model"))} / {_e(r.get("dataset"))}">'
            f"{_badge(str(r.get('verdict')))}</a>"
            for r in entry["original"]
        )
        cells = [f'<td><b>{_e(cid)}</b> <span class="title">{_e(entry["title"])}</span></td>']
        cells.append(f"<td>{originals or '-'}</td>")
        for axis in GT_AXES:
            cell = entry["cells"].get(axis.value)
            if cell is None:
                cells.append('<td class="gcell"><span class="meta">-</span></td>')
                continue
            tip = "\n".join(
                f"{x.get('model')} / {x.get('dataset')}: {x.get('verdict')}"
                + (f" (after BH: {x.get('verdict_adjusted')})" if x.get("verdict_adjusted") != x.get("verdict") else "")
                + f" -> {label_text(x.get('label'))}"
                for x in cell["rows"]
            )
            tip += "\nreference: " + "; ".join(cell["references"]) if cell["references"] else ""
            refs = "; ".join(textwrap.shorten(ref, 90, placeholder="…") for ref in cell["references"])
            cells.append(
                f'<td class="gcell">{_label(cell["label"], first_row.get((cid, axis.value), ""), tip)}'
                f'<div class="sub">{_e(_rows_agreeing(cell))}' + (f" · vs {_e(refs)}" if refs else "") + "</div></td>"
            )
        h.append(f'<tr id="gen-{_e(_SAFE.sub("_", cid))}">' + "".join(cells) + "</tr>")
    if not table:
        h.append('<tr><td colspan="5" class="meta">No claim rows in this run.</td></tr>')
    h.append("</tbody></table>")
    if block.get("rule"):
        h.append(f'<div class="rationale"><b>Rule.</b> {_e(block["rule"])}</div>')
    return h


def _parts_html(row: dict[str, Any]) -> str:
    items = parts_items(row)
    if not items:
        return '<span class="meta">-</span>'
    held = sum(ok for ok, _ in items)
    head = f'<div class="meta">{held}/{len(items)} held</div>'
    lis = "".join(f'<li class="{"held" if ok else "failed"}">{_e(text)}</li>' for ok, text in items)
    return f'{head}<ul class="parts">{lis}</ul>'


def report_html(summary: dict[str, Any], drawn: Sequence[_Drawn] = (), notes: Iterable[str] = ()) -> str:
    """report.html: one self-contained page (inline CSS, figures as data URIs, no scripts or external links).

    Args:
        summary: the summary.json dict.
        drawn: the figures to embed.
        notes: lines about figures skipped or missing.

    Returns:
        The HTML text.
    """
    run = summary.get("run", {})
    rows = summary.get("claims", [])
    axes = _axes_present(summary)
    axes_block = (summary.get("generalisation") or {}).get("axes") or {}
    notes = list(notes)
    h: list[str] = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>neuron-claims report {_e(run.get('finished', ''))}</title><style>{_CSS}</style></head><body><main>",
        "<h1>neuron-claims report</h1>",
        f'<p class="meta">Universal Neurons in GPT2 Language Models - {len(rows)} claim rows; '
        f"run finished {_e(run.get('finished', '?'))}; commit <code>{_e(run.get('git_commit', '?'))}</code>; "
        f"profile {_e(run.get('profile', '?'))}; device {_e(run.get('device', '?'))}</p>",
        '<nav><a href="#generalisation">Generalisation</a><a href="#checklist">Checklist</a>'
        '<a href="#effects">Effects</a><a href="#rationale">Rationale</a><a href="#claims">Claims</a>'
        '<a href="#figures">Figures</a><a href="#run">Run</a></nav>',
        '<h2 id="generalisation">Does each claim generalise?</h2>',
        *_generalisation_html(summary),
        '<h2 id="checklist">Checklist</h2><div class="badges">',
    ]
    for axis, heading, verdict, _text, axis_rows in axes:
        key = CHECKLIST_KEYS.get(axis)
        counts = _label_counts(axes_block.get(key, {}).get("counts", {})) if key else "the reference for small models"
        h.append(
            f'<div class="card"><div class="name">{_e(heading)}</div>{_badge(verdict, big=True)} '
            f'<span class="meta">{len(axis_rows)} rows</span><div class="counts">{_e(counts)}</div></div>'
        )
    h.append("</div>")
    chart = [d for d in drawn if d.kind == EFFECTS]
    h.append('<h2 id="effects">Effects against controls</h2>')
    if chart:
        h.append(
            f'<figure id="{_e(chart[0].stem)}">{_img(chart[0])}<figcaption>{_e(chart[0].caption)}</figcaption></figure>'
        )
    else:
        h.append('<p class="meta">No effect chart: no row has an effect against a control, or figures are off.</p>')
    overview = [d for d in drawn if d.kind == OVERVIEW]
    if overview:
        h.append('<h2 id="verdicts">Verdict of every row</h2>')
        h.append(
            f'<figure id="{_e(overview[0].stem)}">{_img(overview[0])}'
            f"<figcaption>{_e(overview[0].caption)}</figcaption></figure>"
        )
    h.append('<h2 id="rationale">Rationale</h2>')
    for _axis, heading, verdict, text, _rows in axes:
        h.append(f'<h3>{_e(heading)} {_badge(verdict)}</h3><div class="rationale">{_e(text)}</div>')
    h.append('<h2 id="claims">Claims</h2>')
    for axis, heading, verdict, _text, axis_rows in axes:
        h.append(f'<h3 id="claims-{axis.value}">{_e(heading)} {_badge(verdict)}</h3>')
        if not axis_rows:
            h.append('<p class="meta">No claim rows on this axis.</p>')
            continue
        h.append(
            "<table><thead><tr><th>claim</th><th>model</th><th>dataset</th><th>verdict</th><th>generalisation</th>"
            "<th>key number [criterion]; effect</th><th>parts of the criterion</th><th>control</th><th>tokens</th>"
            "<th>figures</th></tr></thead><tbody>"
        )
        for r in axis_rows:
            verdict_r = str(r.get("verdict"))
            reason = r.get("reason", "")
            control_full = flatten_control(r.get("control"), 4000)
            if axis == Axis.ORIGINAL:
                role = r.get("role", Role.CLAIM)
                label = _badge("reference") if role == Role.CLAIM else _label(None)
            else:
                ref = (r.get("reference") or {}).get("source", "")
                label = _label(r.get("generalisation"), tip=f"reference: {ref}" if ref else "")
                label += f'<div class="sub">vs {_e(textwrap.shorten(ref, 80, placeholder="…"))}</div>' if ref else ""
            effect = effect_text(r)
            links = " ".join(f'<a href="#{_e(d.stem)}">{_e(text)}</a>' for text, d in row_figures(r, drawn))
            h.append(
                f'<tr id="{_e(row_anchor(r))}" title="{_e(r.get("statement", ""))}"><td><b>{_e(r.get("id"))}</b> '
                f'<span class="title">{_e(r.get("title", ""))}</span></td>'
                f'<td class="model">{_e(r.get("model", ""))}</td><td class="dataset">{_e(r.get("dataset", ""))}</td>'
                f'<td class="verdict v-{_SAFE.sub("_", verdict_r)}">{_e(verdict_r)}</td><td>{label}</td>'
                f"<td>{_e(key_text(r))}"
                + (f'<div class="effect">effect: {_e(effect)}</div>' if effect else "")
                + (f'<div class="reason">{_e(reason)}</div>' if verdict_r in ALARMING or not key_text(r) else "")
                + f'</td><td class="parts">{_parts_html(r)}</td>'
                f'<td class="control" title="{_e(control_full)}">{_e(flatten_control(r.get("control"), 220))}</td>'
                f'<td class="num">{_e(_tokens(r))}</td><td class="figs">{links or "-"}</td></tr>'
            )
        h.append("</tbody></table>")
    h.append('<h2 id="figures">Figures</h2>')
    per_row = [d for d in drawn if d.row is not None]
    for note in notes:
        h.append(f'<div class="note">{_e(note)}</div>')
    if not per_row and not notes:
        h.append('<p class="meta">No claim attached figure data in this run.</p>')
    for axis in AXIS_ORDER:
        chosen = _figures_of(per_row, axis)
        if not chosen:
            continue
        h.append(f"<h3>{_e(AXIS_TITLES[axis])}</h3>")
        for d in chosen:
            assert d.row is not None
            h.append(
                f'<figure id="{_e(d.stem)}">{_img(d)}<figcaption>{_badge(str(d.row.get("verdict", "")))} '
                f'{_e(d.caption)} <a href="#{_e(row_anchor(d.row))}">row</a> · data: '
                f"<code>{_e(FIGURES_DIR)}/{_e(d.data_filename)}</code></figcaption></figure>"
            )
    h.append('<h2 id="run">Run</h2><dl class="run">')
    for label, text in _run_items(run):
        h.append(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>")
    h.append("</dl></main></body></html>")
    return "\n".join(h) + "\n"
