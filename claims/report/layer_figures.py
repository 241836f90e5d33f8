"""Per-layer figures of one claim row.

Correlation histograms per layer, the depth heatmap of best matches, and neuron counts per layer against a control.
"""

from __future__ import annotations

import math
from typing import Any

from claims.report.plotting import STRONG, figure_title, floats, panel_grid, to_float
from claims.report.style import KIND_TITLES, WIDTH_IN
from claims.verdict import fmt

_OTHERS = ("#1f77b4", "#7f7f7f", "#9467bd", "#2ca02c", "#8c564b", "#e377c2", "#bcbd22")
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
    edges = floats(data["bin_edges"])
    series = {name: floats(counts) for name, counts in data["series"].items()}
    threshold = data.get("threshold")
    nrows, ncols = panel_grid(len(layers))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_IN, 0.9 + 2.6 * nrows), squeeze=False, sharex=True)
    handles: dict[str, Any] = {}
    for i, layer in enumerate(layers):
        ax = axes[i // ncols][i % ncols]
        for j, (name, counts) in enumerate(series.items()):
            if j == 0:
                ax.stairs(counts[i], edges, fill=True, color=STRONG, alpha=0.22)
                h = ax.stairs(counts[i], edges, color=STRONG, linewidth=2.0, label=name)
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
                f"threshold = {fmt(to_float(threshold))}",
                ax.axvline(to_float(threshold), color="black", linestyle="--", linewidth=1.1),
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
    fig.suptitle(figure_title(row, KIND_TITLES["excess_histogram"]))
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

    m = floats(data["matrix"])
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
    fig.suptitle(figure_title(row, KIND_TITLES["depth_heatmap"]))
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
    series = {name: floats(v) for name, v in data["series"].items()}
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
    fig.suptitle(figure_title(row, KIND_TITLES["prediction_counts"]))
    fig.tight_layout()
    return fig
