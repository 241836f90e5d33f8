"""matplotlib plumbing shared by every figure.

Loading pyplot, drawing one figure to PNG bytes without letting a bad payload break the report, the house style,
and small numeric helpers for payloads read back from JSON.

Drawn figures are kept in the cache (`figures/`), keyed by the drawer, the data, the row it is captioned with, the
suite's code (`fixtures.fingerprint.suite_fingerprint`) and the drawing libraries' versions (figures are drawn from
matplotlib's default style plus the house style, never the user's matplotlibrc): a re-run whose results did not
change copies its PNGs instead of drawing them again (about 20 s of matplotlib per full report on 2 cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import math
import textwrap
from collections.abc import Callable
from typing import Any

from claims.report.style import DPI
from fixtures import storage
from fixtures.fingerprint import installed_versions, suite_fingerprint

STRONG = "#d62728"


def has_matplotlib() -> bool:
    """Whether matplotlib is installed, without importing it (pyplot costs ~0.4 s; cached figures need none)."""
    return importlib.util.find_spec("matplotlib") is not None


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# What differs between two runs of the same result: a row's time and its forward passes (none on a warm run). No
# drawer reads them, so they are left out of a figure's cache key.
VOLATILE = ("seconds", "forward_passes")
DRAWING_LIBRARIES = ("matplotlib", "pillow", "numpy")  # what turns data into PNG bytes (matplotlib ships the fonts)


def draw_safely(drawer: Callable[..., Any], data: Any, row: dict[str, Any] | None) -> bytes | str:
    """PNG bytes, or the reason the figure could not be drawn (a bad payload must not break the report).

    A figure drawn before from the same drawer, data and row by the same code is read from the cache (pyplot is
    then never imported); a failure is never cached.
    """
    try:
        path = storage.cache_dir("figures") / f"{_figure_key(drawer, data, row)}.png"
    except storage.StorageError:
        return _draw(drawer, data, row)  # no usable cache (read-only, full): draw every time
    cached = storage.read_checked(path)
    if cached is not None:
        return cached
    png = _draw(drawer, data, row)
    if isinstance(png, bytes):
        with contextlib.suppress(storage.StorageError):
            storage.write_checked(path, png)
    return png


def _figure_key(drawer: Callable[..., Any], data: Any, row: dict[str, Any] | None) -> str:
    stable_row = {k: v for k, v in (row or {}).items() if k not in VOLATILE}
    payload = {
        "drawer": f"{drawer.__module__}.{drawer.__qualname__}",
        "data": data,
        "row": stable_row,
        "code": suite_fingerprint(),
        "libraries": installed_versions(DRAWING_LIBRARIES),
    }
    text = json.dumps(payload, sort_keys=True, default=_exact)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _exact(value: Any) -> Any:
    """JSON for what a payload may hold besides JSON types: arrays and numpy scalars exactly, anything else by repr."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


def _draw(drawer: Callable[..., Any], data: Any, row: dict[str, Any] | None) -> bytes | str:
    plt = pyplot()
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
        with plt.style.context("default"), plt.rc_context(style):  # the user's matplotlibrc must not change a PNG
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
