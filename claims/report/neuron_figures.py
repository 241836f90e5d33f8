"""Figures of neurons and their scores for one claim row.

Signature percentiles, intervention curves, the BOS heuristic against random directions, and the generic scatter.
"""

from __future__ import annotations

import textwrap
from typing import Any

from claims.report.plotting import STRONG, figure_title, floats, panel_grid, pearson
from claims.report.style import KIND_TITLES, WIDTH_IN

_GROUPS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


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
            values = floats(data[group].get(metric, []))
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
    fig.suptitle(figure_title(row, KIND_TITLES["signature_boxes"]))
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
    xs = floats(data["activation_values"])
    panels = data["panels"]
    nrows, ncols = panel_grid(len(panels), 3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH_IN, 0.9 + 3.4 * nrows), squeeze=False)
    label = data.get("candidate_label", "candidate neuron")
    handles: dict[str, Any] = {}
    for i, (metric, panel) in enumerate(panels.items()):
        ax = axes[i // ncols][i % ncols]
        baselines = [floats(b) for b in panel.get("baselines", [])]
        for b in baselines:
            (h,) = ax.plot(xs, b, color="#9a9a9a", linewidth=0.8, alpha=0.7)
            handles.setdefault(f"baseline neurons (n={len(baselines)})", h)
        (h,) = ax.plot(xs, floats(panel["candidate"]), color=STRONG, linewidth=2.6, marker="o", markersize=3.5)
        handles.setdefault(label, h)
        ax.set_title(str(metric))
        ax.set_ylabel(str(metric))
        ax.set_xlabel(data.get("xlabel", "activation value set on the neuron"))
        ax.grid(alpha=0.3)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle(figure_title(row, KIND_TITLES["entropy_curves"]))
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

    scores = floats(data["scores"])
    base = floats(data.get("baseline_scores", []))
    pairs = data.get("pairs")
    scores, base = scores[np.isfinite(scores)], base[np.isfinite(base)]
    fig, axes = plt.subplots(1, 2 if pairs else 1, figsize=(WIDTH_IN if pairs else 7.0, 4.6), squeeze=False)
    ax = axes[0][0]
    both = np.concatenate([scores, base]) if len(base) else scores
    bins = np.linspace(float(both.min()), float(both.max()), 41) if len(both) else 10
    ax.hist(base, bins=bins, color="#7f7f7f", alpha=0.55, label=f"random-direction baseline (n={len(base)})")
    ax.hist(scores, bins=bins, histtype="step", color=STRONG, linewidth=2, label=f"heuristic (n={len(scores)})")
    ax.set_yscale("log")
    ax.set_xlabel(data.get("xlabel", "heuristic score"))
    ax.set_ylabel("count (log scale)")
    ax.set_title("heuristic scores vs baseline")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    if pairs:
        ax = axes[0][1]
        hx, dy = floats(pairs["heuristic"]), floats(pairs["delta_bos"])
        r = pearson(hx, dy)
        ax.scatter(hx, dy, s=14, alpha=0.6, color="#1f77b4", label=f"Pearson r = {r:.2f} (n={len(hx)})")
        ax.axhline(0, color="black", linewidth=0.8, alpha=0.6)
        ax.set_xlabel(data.get("xlabel", "heuristic score"))
        ax.set_ylabel("measured change in BOS attention (fraction)")
        ax.set_title("heuristic vs measured effect")
        ax.legend(frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle(figure_title(row, KIND_TITLES["bos_heuristic"]))
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

    x, y = floats(data["x"]), floats(data["y"])
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
            label=f"least squares (Pearson r = {pearson(x, y):.2f})",
        )
    ax.set_xlabel(data.get("xlabel", "x"))
    ax.set_ylabel(data.get("ylabel", "y"))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8.5)
    fig.suptitle(figure_title(row, f"{data.get('ylabel', 'y')} vs {data.get('xlabel', 'x')}"), fontsize=11)
    fig.tight_layout()
    return fig
