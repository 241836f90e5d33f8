"""matplotlib plumbing shared by every figure.

Loading pyplot, drawing one figure to PNG bytes without letting a bad payload break the report, the house style,
and small numeric helpers for payloads read back from JSON.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable
from typing import Any

from claims.report.style import DPI

STRONG = "#d62728"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_safely(plt: Any, drawer: Callable[..., Any], data: Any, row: dict[str, Any] | None) -> bytes | str:
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


def floats(values: Any) -> Any:
    """A float array; ``"nan"``/``"inf"`` strings (how summary JSON stores them) and None become floats."""
    import numpy as np

    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return np.asarray([floats(v) if isinstance(v, (list, tuple)) else to_float(v) for v in values], dtype=float)


def to_float(value: Any) -> float:
    """``float(value)``, or NaN for what is not a number (None, ``"n/a"`` ...)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def figure_title(row: dict[str, Any], what: str) -> str:
    """Figure title: the claim (id - title) first, then the axis, the model / dataset and what the plot shows."""
    claim = f"{row.get('id', '?')}" + (f" - {row['title']}" if row.get("title") else "")
    where = f"{row.get('model', '?')}" + (f" / {row['dataset']}" if row.get("dataset") else "")
    text = f"{claim}\n[{row.get('axis', '?')}] {where}: {what}"
    return "\n".join(textwrap.fill(line, 110) for line in text.splitlines())


def panel_grid(n: int, max_cols: int = 4) -> tuple[int, int]:
    """(rows, columns) of a grid for ``n`` panels, at most ``max_cols`` wide."""
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def pearson(x: Any, y: Any) -> float:
    """Pearson r over the finite pairs, NaN with fewer than 3 of them or a constant side."""
    import numpy as np

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return math.nan
    return float(np.corrcoef(x[ok], y[ok])[0, 1])
