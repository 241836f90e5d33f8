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

Figure kinds and the data a check attaches for each: claims/report/figures.py.

Every figure is titled and captioned with its claim (id and title, from the summary row). Unknown kinds and
figures whose data cannot be drawn are skipped and listed in the reports; a figure never breaks the report.
Every file is written atomically (temporary sibling + ``os.replace``), so a reader sees the previous complete
file or the new one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from claims.report.figures import DRAWERS, Drawn, figure_filename
from claims.report.html_page import report_html
from claims.report.markdown import summary_markdown
from claims.report.plotting import draw_safely, has_matplotlib
from claims.report.run_figures import draw_effects, draw_verdicts, effect_chart_data
from claims.report.style import EFFECTS, FIGURES_DIR, OVERVIEW, REPORT_HTML, SUMMARY_MD
from claims.report.text import row_key
from fixtures import storage


def render_all(summary: dict[str, Any], figures: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write summary.md, figures/*.png with their data (figures/*.json) and report.html for one run.

    Args:
        summary: the summary.json dict (``Checklist``, ``Rationale``, ``generalisation``, ``claims``, ``run``).
        figures: figure data per claim row: ``{"row": {"id", "axis", "model", "dataset", "verdict"},
            "figures": {kind: data}}`` (kinds in claims/report/figures.py). The row is completed from the summary's
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
    drawn: list[Drawn] = []
    notes: list[str] = []

    if not has_matplotlib():
        notes.append("matplotlib is not installed: no figures were drawn (install matplotlib to get them).")
    else:
        fig_dir = out_dir / FIGURES_DIR
        effects = effect_chart_data(rows)
        if effects["claims"]:
            png = draw_safely(draw_effects, effects, None)
            if isinstance(png, bytes):
                drawn.append(Drawn(f"{EFFECTS}.png", EFFECTS, None, png, effects))
            else:
                notes.append(f"the effect chart could not be drawn: {png}")
        grid = [{k: r.get(k) for k in ("id", "axis", "model", "dataset", "verdict", "role")} for r in rows]
        overview = draw_safely(draw_verdicts, grid, None)
        if isinstance(overview, bytes):
            drawn.append(Drawn(f"{OVERVIEW}.png", OVERVIEW, None, overview, {"rows": grid}))
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
                png = draw_safely(drawer, data, row)
                if isinstance(png, bytes):
                    drawn.append(Drawn(figure_filename(row, kind), kind, row, png, data))
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
