"""Figure kinds, their drawers, and the record of a drawn figure (file name, caption, the data it was drawn from).

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

The drawers live in claims/report/layer_figures.py (per-layer plots) and claims/report/neuron_figures.py
(plots of neurons and their scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from claims.report.layer_figures import draw_depth_heatmap, draw_excess_histogram, draw_prediction_counts
from claims.report.neuron_figures import draw_bos_heuristic, draw_entropy_curves, draw_scatter, draw_signature_boxes
from claims.report.style import CAPTIONS, EFFECTS, safe_part
from claims.report.text import key_text, row_key
from claims.verdict import Axis, jsonable

DRAWERS: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {
    "excess_histogram": draw_excess_histogram,
    "depth_heatmap": draw_depth_heatmap,
    "signature_boxes": draw_signature_boxes,
    "prediction_counts": draw_prediction_counts,
    "entropy_curves": draw_entropy_curves,
    "bos_heuristic": draw_bos_heuristic,
    "scatter": draw_scatter,
}


class Drawn:
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
    return "-".join(safe_part(p) for p in parts) + ".png"


def figures_of(drawn: Sequence[Drawn], axis: Axis) -> list[Drawn]:
    """The figures of one axis, grouped by claim (then model, dataset) for the reports."""
    chosen = [d for d in drawn if d.row and d.row.get("axis") == axis.value]
    return sorted(chosen, key=lambda d: tuple(str((d.row or {}).get(k, "")) for k in ("id", "model", "dataset")))


def first_of_kind(drawn: Sequence[Drawn], kind: str) -> Drawn | None:
    """The first drawn figure of ``kind`` (the run-wide ``effects`` and ``verdicts`` are drawn once), or None."""
    return next((d for d in drawn if d.kind == kind), None)


def _figure_index(drawn: Sequence[Drawn]) -> dict[tuple[str, str, str, str], list[Drawn]]:
    index: dict[tuple[str, str, str, str], list[Drawn]] = {}
    for d in drawn:
        if d.row is not None:
            index.setdefault(row_key(d.row), []).append(d)
    return index


def row_figures(row: dict[str, Any], drawn: Sequence[Drawn]) -> list[tuple[str, Drawn]]:
    """(link text, figure) for a row: its own figures, then the effect chart when the row has an effect."""
    out = [(d.kind, d) for d in _figure_index(drawn).get(row_key(row), [])]
    chart = first_of_kind(drawn, EFFECTS)
    if chart is not None and isinstance(row.get("effect"), dict):
        out.append(("effect", chart))
    return out
