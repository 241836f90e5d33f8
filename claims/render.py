"""Human-readable reports next to summary.json: summary.md, figures/*.png and one self-contained report.html.

summary.json is for machines and CI gating; people need to see at a glance which claims held where, and *why*
(the numbers and the plots that back a verdict). This module turns the summary and the figure data that claim
checks attach to their Evidence into:

* ``summary.md``: per axis, the verdict, the Rationale and a table of claim rows; then the run.
* ``figures/*.png``: one PNG per (claim row, figure kind), plus ``verdicts.png``, the claim x (model, dataset)
  verdict matrix.
* ``report.html``: everything above in one file (figures as base64 data URIs, inline CSS, no scripts, no
  external resources) that opens offline in any browser.

Figure kinds and their data (what a check puts into ``Evidence.figures[kind]``):

* ``excess_histogram``: ``{"layers": [int], "bin_edges": [float], "series": {name: [[count per bin] per
  layer]}, "threshold": float | None, "xlabel": str (optional)}``
* ``depth_heatmap``: ``{"matrix": [[float]], "row_label": str, "col_label": str}`` (fractions, 0-1)
* ``signature_boxes``: ``{"metrics": [str], "universal": {metric: [percentile]}, "other": {metric:
  [percentile]}, "expected": {metric: "low" | "high"}}``
* ``prediction_counts``: ``{"layers": [int], "series": {name: [count per layer]}, "ylabel": str}``
* ``entropy_curves``: ``{"activation_values": [float], "panels": {metric: {"candidate": [float],
  "baselines": [[float]]}}, "candidate_label": str, "xlabel": str (optional)}``
* ``bos_heuristic``: ``{"scores": [float], "baseline_scores": [float], "pairs": {"heuristic": [float],
  "delta_bos": [float]} (optional), "xlabel": str (optional)}``
* ``scatter``: ``{"x": [float], "y": [float], "xlabel": str, "ylabel": str, "groups": [str] (optional),
  "fit": bool}``

Unknown kinds and figures whose data cannot be drawn are skipped and listed in the reports; a figure never
breaks the report. Every file is written atomically (temporary sibling + ``os.replace``), so a reader sees
the previous complete file or the new one.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from claims.verdict import CHECKLIST_KEYS, Axis, Verdict, fmt
from fixtures import storage

SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
OVERVIEW = "verdicts"
DPI = 110
WIDTH_IN = 12.4  # x DPI = ~1360 px

AXIS_ORDER: tuple[Axis, ...] = (Axis.ORIGINAL, Axis.GT1, Axis.GT2, Axis.GT3)
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
    Verdict.NOT_RUN: "#9e9e9e",
    Verdict.ERROR: "#6a1b9a",
}
VERDICT_SHORT: dict[str, str] = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.INCONCLUSIVE: "INC",
    Verdict.NOT_RUN: "N/R",
    Verdict.ERROR: "ERR",
}
ALARMING = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR)

CAPTIONS: dict[str, str] = {
    "excess_histogram": "Per-layer distribution of neuron correlations across seeds. Trained neurons sitting to "
    "the right of the baselines means correlations beyond what chance alignment produces.",
    "depth_heatmap": "Where each neuron's best match sits: fraction of neurons of a reference layer (row) whose "
    "best-correlated neuron is in each layer (column). Mass on the diagonal = matches keep their depth.",
    "signature_boxes": "Within-layer percentiles of weight/activation statistics, universal vs other neurons. "
    "50 = layer median; the arrow shows the direction the paper predicts for universal neurons.",
    "prediction_counts": "Neurons per layer classified as prediction / suppression neurons, against a "
    "random-direction control.",
    "entropy_curves": "Effect of fixing the candidate neuron's activation (x) on each metric, against baseline "
    "neurons given the same intervention.",
    "bos_heuristic": "Weight-based heuristic scores against a random-direction baseline (left, log counts); "
    "right: heuristic score vs the measured change in attention to the BOS token.",
    "scatter": "Scatter of the two quantities the claim relates, with a least-squares line and Pearson r.",
    OVERVIEW: "Verdict of every claim row: claims (rows) x model / dataset (columns).",
}

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --- entry point ---------------------------------------------------------------------------------------------


def render_all(summary: dict[str, Any], figures: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write summary.md, figures/*.png and report.html for one run.

    Args:
        summary: the summary.json dict (``Checklist``, ``Rationale``, ``claims``, ``run``).
        figures: figure data per claim row: ``{"row": {"id", "axis", "model", "dataset", "verdict"},
            "figures": {kind: data}}`` (kinds in the module docstring).
        out_dir: the report folder (summary.json's folder); ``figures/`` is created inside it. PNGs left in
            ``figures/`` by an earlier run and not redrawn now are removed, so the folder matches the report.

    Returns:
        Every file written, by its path relative to ``out_dir`` (``"summary.md"``, ``"figures/x.png"``, ...).
    """
    out_dir = Path(out_dir)
    rows: list[dict[str, Any]] = list(summary.get("claims", []))
    written: dict[str, Path] = {}
    drawn: list[_Drawn] = []
    notes: list[str] = []

    plt = _pyplot()
    if plt is None:
        notes.append("matplotlib is not installed: no figures were drawn (install matplotlib to get them).")
    else:
        fig_dir = out_dir / FIGURES_DIR
        overview = _draw_safely(plt, _draw_verdicts, rows, None)
        if isinstance(overview, bytes):
            drawn.append(_Drawn(f"{OVERVIEW}.png", OVERVIEW, None, overview))
        else:
            notes.append(f"the verdict overview could not be drawn: {overview}")
        for entry in figures:
            row = entry.get("row", {})
            for kind, data in (entry.get("figures") or {}).items():
                where = f"{row.get('id', '?')} ({row.get('model', '?')} / {row.get('dataset', '?')}"
                where += f", {row.get('axis', '?')})"
                drawer = DRAWERS.get(kind)
                if drawer is None:
                    notes.append(f"skipped figure kind {kind!r} for {where}: no renderer for this kind")
                    continue
                png = _draw_safely(plt, drawer, data, row)
                if isinstance(png, bytes):
                    drawn.append(_Drawn(figure_filename(row, kind), kind, row, png))
                else:
                    notes.append(f"figure {kind!r} for {where} could not be drawn: {png}")
        for item in drawn:
            path = fig_dir / item.filename
            storage.atomic_write_bytes(path, item.png)
            written[f"{FIGURES_DIR}/{item.filename}"] = path
        if fig_dir.is_dir():
            for stale in fig_dir.glob("*.png"):
                if f"{FIGURES_DIR}/{stale.name}" not in written:
                    stale.unlink(missing_ok=True)

    md_path = out_dir / SUMMARY_MD
    storage.atomic_write_text(md_path, summary_markdown(summary, drawn, notes))
    written[SUMMARY_MD] = md_path
    html_path = out_dir / REPORT_HTML
    storage.atomic_write_text(html_path, report_html(summary, drawn, notes))
    written[REPORT_HTML] = html_path
    return written


class _Drawn:
    """A drawn figure: file name, kind, the row it belongs to (None for the overview) and the PNG bytes."""

    def __init__(self, filename: str, kind: str, row: dict[str, Any] | None, png: bytes) -> None:
        self.filename, self.kind, self.row, self.png = filename, kind, row, png

    @property
    def caption(self) -> str:
        head = f"{self.row.get('id')} on {self.row.get('model')} / {self.row.get('dataset')}: " if self.row else ""
        return head + CAPTIONS.get(self.kind, self.kind)


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
    where = f"{row.get('model', '?')}" + (f" / {row['dataset']}" if row.get("dataset") else "")
    text = f"{row.get('id', '?')} [{row.get('axis', '?')}] - {what}\n{where}"
    return "\n".join(textwrap.fill(line, 120) for line in text.splitlines())


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
    fig.suptitle(_title(row, "neuron correlation across seeds vs baselines"))
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
    fig.suptitle(_title(row, "depth of each neuron's best match"))
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
    fig.suptitle(_title(row, "statistical signature of universal neurons"))
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
    fig.suptitle(_title(row, "prediction / suppression neurons by layer"))
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
    fig.suptitle(_title(row, "intervention on the candidate neuron vs baseline neurons"))
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
    fig.suptitle(_title(row, "BOS-attention heuristic"))
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
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=5, frameon=False, fontsize=8.5)
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


# --- Markdown ------------------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_verdict(verdict: str) -> str:
    return f"**{verdict}**" if verdict in ALARMING else verdict


def summary_markdown(summary: dict[str, Any], drawn: Sequence[_Drawn] = (), notes: Iterable[str] = ()) -> str:
    """summary.md: Checklist, per-axis verdict + Rationale + claim table, figures, notes, the run.

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
    out += ["", "| axis | verdict |", "|---|---|"]
    for _axis, heading, verdict, _text, _rows in _axes_present(summary):
        out.append(f"| {_md(heading)} | {_md_verdict(verdict)} |")
    overview = [d for d in drawn if d.kind == OVERVIEW]
    if overview:
        out += ["", f"![{CAPTIONS[OVERVIEW]}]({FIGURES_DIR}/{overview[0].filename})"]
    for _axis, heading, verdict, text, axis_rows in _axes_present(summary):
        out += ["", f"## {heading}: {_md_verdict(verdict)}", "", f"> {_md(text)}", ""]
        if not axis_rows:
            out.append("_No claim rows on this axis._")
            continue
        out += [
            "| claim | model | dataset | verdict | key number [criterion] | control | tokens |",
            "|---|---|---|---|---|---|---:|",
        ]
        for r in axis_rows:
            cells = [
                f"{r.get('id')}: {r.get('title', '')}",
                r.get("model", ""),
                r.get("dataset", ""),
                None,
                textwrap.shorten(key_text(r) or str(r.get("reason", "")), 220, placeholder="…"),
                flatten_control(r.get("control"), 160),
                _tokens(r),
            ]
            text_cells = [_md_verdict(str(r.get("verdict"))) if c is None else _md(c) for c in cells]
            out.append("| " + " | ".join(text_cells) + " |")
        flagged = [r for r in axis_rows if r.get("verdict") in ALARMING]
        if flagged:
            out += ["", "Why not PASS:", ""]
            for r in flagged:
                out.append(
                    f"- {_md_verdict(str(r['verdict']))} {r['id']} on {r['model']} / {r['dataset']}: "
                    + _md(r.get("reason", ""))
                )
    per_row = [d for d in drawn if d.kind != OVERVIEW]
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
                    alt = f"{(d.row or {}).get('id')} {d.kind}"
                    out += [f"![{_md(alt)}]({FIGURES_DIR}/{d.filename})", "", f"*{_md(d.caption)}*", ""]
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
.meta{color:#555;font-size:13px}
.badges{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px;margin:10px 0 14px}
.card{background:#fff;border:1px solid #dde;border-radius:8px;padding:10px 14px}
.card .name{font-size:12.5px;color:#444;margin-bottom:6px}
.badge{display:inline-block;padding:2px 9px;border-radius:11px;color:#fff;font-weight:600;font-size:12.5px;
letter-spacing:.02em;white-space:nowrap}
.badge.big{font-size:15px;padding:4px 14px}
.v-PASS{background:#2e7d32}.v-FAIL{background:#c62828}.v-INCONCLUSIVE{background:#ef8f00;color:#111}
.v-NOT_RUN{background:#9e9e9e}.v-ERROR{background:#6a1b9a}
.rationale{background:#fff;border-left:4px solid #c5cbd6;padding:8px 14px;margin:6px 0 12px;font-size:13px;
overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;background:#fff;font-size:12.5px;margin:6px 0 10px}
th,td{border:1px solid #dfe2e7;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
tr:nth-child(even) td:not(.verdict){background:#fafbfc}
td.verdict{font-weight:700;text-align:center;white-space:nowrap;color:#fff}
td.verdict.v-INCONCLUSIVE{color:#111}
td.num{text-align:right;white-space:nowrap}
td.control{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px;color:#333;max-width:360px;
overflow-wrap:anywhere}
td.model,td.dataset{overflow-wrap:anywhere;max-width:180px}
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


def _img(d: _Drawn) -> str:
    data = base64.b64encode(d.png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(d.caption)}">'


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
    notes = list(notes)
    h: list[str] = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>neuron-claims report {_e(run.get('finished', ''))}</title><style>{_CSS}</style></head><body><main>",
        "<h1>neuron-claims report</h1>",
        f'<p class="meta">Universal Neurons in GPT2 Language Models - {len(rows)} claim rows; '
        f"run finished {_e(run.get('finished', '?'))}; commit <code>{_e(run.get('git_commit', '?'))}</code>; "
        f"profile {_e(run.get('profile', '?'))}; device {_e(run.get('device', '?'))}</p>",
        '<nav><a href="#checklist">Checklist</a><a href="#rationale">Rationale</a><a href="#claims">Claims</a>'
        '<a href="#figures">Figures</a><a href="#run">Run</a></nav>',
        '<h2 id="checklist">Checklist</h2><div class="badges">',
    ]
    for _axis, heading, verdict, _text, axis_rows in axes:
        h.append(
            f'<div class="card"><div class="name">{_e(heading)}</div>{_badge(verdict, big=True)} '
            f'<span class="meta">{len(axis_rows)} rows</span></div>'
        )
    h.append("</div>")
    overview = [d for d in drawn if d.kind == OVERVIEW]
    if overview:
        h.append(f"<figure>{_img(overview[0])}<figcaption>{_e(overview[0].caption)}</figcaption></figure>")
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
            "<table><thead><tr><th>claim</th><th>model</th><th>dataset</th><th>verdict</th>"
            "<th>key number [criterion]</th><th>control</th><th>tokens</th></tr></thead><tbody>"
        )
        for r in axis_rows:
            verdict_r = str(r.get("verdict"))
            reason = r.get("reason", "")
            control_full = flatten_control(r.get("control"), 4000)
            h.append(
                f'<tr title="{_e(r.get("statement", ""))}"><td><b>{_e(r.get("id"))}</b> '
                f'<span class="title">{_e(r.get("title", ""))}</span></td>'
                f'<td class="model">{_e(r.get("model", ""))}</td><td class="dataset">{_e(r.get("dataset", ""))}</td>'
                f'<td class="verdict v-{_SAFE.sub("_", verdict_r)}">{_e(verdict_r)}</td>'
                f"<td>{_e(key_text(r))}"
                + (f'<div class="reason">{_e(reason)}</div>' if verdict_r in ALARMING or not key_text(r) else "")
                + f'</td><td class="control" title="{_e(control_full)}">{_e(flatten_control(r.get("control"), 300))}'
                f'</td><td class="num">{_e(_tokens(r))}</td></tr>'
            )
        h.append("</tbody></table>")
    h.append('<h2 id="figures">Figures</h2>')
    per_row = [d for d in drawn if d.kind != OVERVIEW]
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
                f'<figure id="{_e(d.filename[:-4])}">{_img(d)}<figcaption>{_badge(str(d.row.get("verdict", "")))} '
                f"{_e(d.caption)}</figcaption></figure>"
            )
    h.append('<h2 id="run">Run</h2><dl class="run">')
    for label, text in _run_items(run):
        h.append(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>")
    h.append("</dl></main></body></html>")
    return "\n".join(h) + "\n"
