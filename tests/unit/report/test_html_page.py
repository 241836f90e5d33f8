"""report.html (claims/report/html_page.py): self-contained, the answer first, every row with its parts and figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

from render_fakes import fake_figures, fake_summary

from claims.report import style
from claims.report.text import row_anchor, row_key


def test_html_is_self_contained(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert refs
    assert not [r for r in refs if r.startswith(("http://", "https://", "//"))]
    images = re.findall(r'<img[^>]*src="([^"]*)"', page)
    assert len(images) == len(list((out / "figures").glob("*.png")))
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


def test_html_shows_checklist_rationale_and_coloured_verdicts(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    summary = fake_summary()
    for key, verdict in summary["Checklist"].items():
        assert key in page
        assert f'class="badge v-{verdict} big"' in page
    assert 'class="verdict v-FAIL"' in page
    assert (
        page.index('id="checklist"') < page.index('id="claims"') < page.index('id="figures"') < page.index('id="run"')
    )


# --- the report leads with the answer ------------------------------------------------------------------------


def test_html_opens_with_the_generalisation_table(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    first_h2 = re.search(r"<h2 id=\"([^\"]+)\"", page)
    assert first_h2 is not None
    assert first_h2.group(1) == "generalisation"
    order = ['id="generalisation"', 'id="checklist"', 'id="effects"', 'id="rationale"', 'id="claims"']
    assert [page.index(x) for x in order] == sorted(page.index(x) for x in order)
    gen = page[page.index('id="generalisation"') : page.index('id="checklist"')]
    assert '<tr id="gen-U1">' in gen
    u1 = gen[gen.index('<tr id="gen-U1">') :].split("</tr>")[0]
    assert 'class="lab g-does_not_generalise"' in u1
    assert 'class="lab g-generalises"' in u1
    assert "vs original setting (stanford-gpt2-small-a on pile-10k: PASS)" in u1
    # each label links to the claim's first row on that axis, which exists in the page
    for href in re.findall(r'<a class="lab[^"]*" href="#([^"]+)"', gen):
        assert f'id="{href}"' in page


def test_every_row_links_to_an_existing_figure(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    with_figures = {row_key(e["row"]) for e in fake_figures()}
    page = (out / "report.html").read_text()
    md_lines = (out / "summary.md").read_text().splitlines()
    for row in summary["claims"]:
        anchor = row_anchor(row)
        tr = page[page.index(f'<tr id="{anchor}"') :].split("</tr>")[0]
        hrefs = re.findall(r'href="#([^"]+)"', tr)
        md_line = next(
            line
            for line in md_lines
            if line.startswith(f"| {row['id']}: ") and f"| {row['model']} | {row['dataset']} |" in line
        )
        links = re.findall(r"\]\((figures/[^)]+\.png)\)", md_line)
        if row["effect"] is not None or row_key(row) in with_figures:
            assert hrefs, f"{anchor} links to no figure"
            assert links, f"{anchor} links to no figure in summary.md"
        for href in hrefs:
            assert f'<figure id="{href}">' in page
            assert (out / "figures" / f"{href}.png").is_file()
        for link in links:
            assert (out / link).is_file()
        if row["effect"] is not None:
            assert "effects" in hrefs
            assert "figures/effects.png" in links
    f1 = next(r for r in summary["claims"] if r["id"] == "F1")
    tr = page[page.index(f'<tr id="{row_anchor(f1)}"') :].split("</tr>")[0]
    assert 'href="#F1-gt1-gpt2-medium-pile-10k-prediction_counts"' in tr


def test_not_applicable_renders_with_its_own_colour(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    assert 'class="verdict v-NOT_APPLICABLE"' in page
    assert ".v-NOT_APPLICABLE{background:" in page
    assert style.VERDICT_COLOURS["NOT_APPLICABLE"] not in (style.VERDICT_COLOURS["NOT_RUN"], "#000000")
    assert style.VERDICT_SHORT["NOT_APPLICABLE"] == "N/A"
    assert 'class="lab g-not_applicable"' in page
    md = (out / "summary.md").read_text()
    assert "| gpt2-medium | weights | NOT_APPLICABLE |" in md
    grid = json.loads((out / "figures" / "verdicts.json").read_text())
    assert any(r["verdict"] == "NOT_APPLICABLE" for r in grid["data"]["rows"])


def test_every_part_of_the_criterion_is_shown_per_row(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    row = next(r for r in summary["claims"] if r["id"] == "U1" and r["model"] == "gpt2-medium")
    page = (out / "report.html").read_text()
    tr = page[page.index(f'<tr id="{row_anchor(row)}"') :].split("</tr>")[0]
    assert "1/3 held" in tr
    assert '<li class="failed">f(excess&gt;0.5) = 0.0011 &gt;= 0.02</li>' in tr
    assert '<li class="held">permutation test: p = 0.001 &lt; 0.05' in tr
    md = (out / "summary.md").read_text()
    assert "1/3 held: ✗ f(excess>0.5) = 0.0011 >= 0.02; ✗ 95 % low of excess" in md
