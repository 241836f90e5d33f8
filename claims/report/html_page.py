"""report.html: the report as one self-contained page.

Inline CSS, figures as base64 data URIs, no scripts and no external resources, so it opens offline in any browser.
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from claims.report.figures import Drawn, figures_of, first_of_kind, row_figures
from claims.report.style import (
    ALARMING,
    AXIS_ORDER,
    AXIS_TITLES,
    EFFECTS,
    FIGURES_DIR,
    GT_AXES,
    LABEL_COLOURS,
    OVERVIEW,
    SAFE,
)
from claims.report.text import (
    axes_present,
    effect_text,
    flatten_control,
    generalisation_table,
    key_text,
    label_counts,
    label_text,
    parts_items,
    row_anchor,
    rows_agreeing,
    run_items,
    tokens_text,
)
from claims.verdict import CHECKLIST_KEYS, Axis, Role

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
    cls = SAFE.sub("_", verdict)
    return f'<span class="badge v-{cls}{" big" if big else ""}">{_e(verdict)}</span>'


def _label(label: str | None, href: str = "", tip: str = "") -> str:
    """A coloured generalisation label, a link to the claim's rows when ``href`` is given."""
    cls = f"lab g-{label or 'none'}"
    title = f' title="{_e(tip)}"' if tip else ""
    if href:
        return f'<a class="{cls}" href="#{_e(href)}"{title}>{_e(label_text(label))}</a>'
    return f'<span class="{cls}"{title}>{_e(label_text(label))}</span>'


def _img(d: Drawn) -> str:
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
                f'<div class="sub">{_e(rows_agreeing(cell))}' + (f" · vs {_e(refs)}" if refs else "") + "</div></td>"
            )
        h.append(f'<tr id="gen-{_e(SAFE.sub("_", cid))}">' + "".join(cells) + "</tr>")
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


def report_html(summary: dict[str, Any], drawn: Sequence[Drawn] = (), notes: Iterable[str] = ()) -> str:
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
    axes = axes_present(summary)
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
        counts = label_counts(axes_block.get(key, {}).get("counts", {})) if key else "the reference for small models"
        h.append(
            f'<div class="card"><div class="name">{_e(heading)}</div>{_badge(verdict, big=True)} '
            f'<span class="meta">{len(axis_rows)} rows</span><div class="counts">{_e(counts)}</div></div>'
        )
    h.append("</div>")
    chart = first_of_kind(drawn, EFFECTS)
    h.append('<h2 id="effects">Effects against controls</h2>')
    if chart is not None:
        h.append(f'<figure id="{_e(chart.stem)}">{_img(chart)}<figcaption>{_e(chart.caption)}</figcaption></figure>')
    else:
        h.append('<p class="meta">No effect chart: no row has an effect against a control, or figures are off.</p>')
    overview = first_of_kind(drawn, OVERVIEW)
    if overview is not None:
        h.append('<h2 id="verdicts">Verdict of every row</h2>')
        h.append(
            f'<figure id="{_e(overview.stem)}">{_img(overview)}<figcaption>{_e(overview.caption)}</figcaption></figure>'
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
                f'<td class="verdict v-{SAFE.sub("_", verdict_r)}">{_e(verdict_r)}</td><td>{label}</td>'
                f"<td>{_e(key_text(r))}"
                + (f'<div class="effect">effect: {_e(effect)}</div>' if effect else "")
                + (f'<div class="reason">{_e(reason)}</div>' if verdict_r in ALARMING or not key_text(r) else "")
                + f'</td><td class="parts">{_parts_html(r)}</td>'
                f'<td class="control" title="{_e(control_full)}">{_e(flatten_control(r.get("control"), 220))}</td>'
                f'<td class="num">{_e(tokens_text(r))}</td><td class="figs">{links or "-"}</td></tr>'
            )
        h.append("</tbody></table>")
    h.append('<h2 id="figures">Figures</h2>')
    per_row = [d for d in drawn if d.row is not None]
    for note in notes:
        h.append(f'<div class="note">{_e(note)}</div>')
    if not per_row and not notes:
        h.append('<p class="meta">No claim attached figure data in this run.</p>')
    for axis in AXIS_ORDER:
        chosen = figures_of(per_row, axis)
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
    for label, text in run_items(run):
        h.append(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>")
    h.append("</dl></main></body></html>")
    return "\n".join(h) + "\n"
