"""summary.md (claims/report/markdown.py) and the text formatting it shares with report.html (text.py)."""

from __future__ import annotations

from pathlib import Path

from render_fakes import fake_summary

from claims.report.text import flatten_control, label_counts


def test_summary_md_lists_every_claim_row_and_bolds_non_passing_verdicts(
    rendered: tuple[Path, dict[str, Path]],
) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    table_lines = [line for line in md.splitlines() if line.startswith("| ") and ": " in line.split("|")[1]]
    summary = fake_summary()
    for row in summary["claims"]:
        matches = [
            line
            for line in table_lines
            if f"| {row['id']}: " in line and f"| {row['model']} |" in line and f"| {row['dataset']} |" in line
        ]
        assert matches, f"row {row['id']} {row['model']} {row['dataset']} missing"
        verdict = row["verdict"]
        expected = f"**{verdict}**" if verdict in ("FAIL", "INCONCLUSIVE", "ERROR") else f"| {verdict} |"
        assert any(expected in line for line in matches)
    assert "GT1_ModelGeneralization" in md
    assert "## Run" in md
    assert "0123456789abcdef+dirty" in md


def test_summary_md_escapes_pipes_in_cells(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    assert "CUDA out of memory \\| retry" in md


def test_control_is_flattened_compactly_and_truncated() -> None:
    text = flatten_control({"a": {"b": 1, "c": [1.0, 2.0, 3.0, 4.0]}, "note": "x" * 500}, limit=80)
    assert text.startswith("a={b=1, c=[4 values: 1, 2, 3, …]}")
    assert len(text) <= 80
    assert text.endswith("…")


# --- the report leads with the answer ------------------------------------------------------------------------


def test_summary_md_opens_with_the_generalisation_table(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Does each claim generalise?", "## Checklist", "## Effects against controls"]
    section = md.split("## Does each claim generalise?")[1].split("## Checklist")[0]
    assert "| claim | original (reference) | gt1 | gt2 | gt3 |" in section
    u1 = next(line for line in section.splitlines() if line.startswith("| U1: "))
    gt1, gt2 = u1.split(" | ")[2:4]
    assert "does not generalise" in gt1
    assert "(2 rows: 2 do not generalise)" in gt1  # gpt2-medium and untrained5 both fail
    assert "generalises" in gt2
    assert "original setting (stanford-gpt2-small-a on pile-10k: PASS)" in section  # the reference, as a footnote
    p1 = next(line for line in section.splitlines() if line.startswith("| P1: "))
    assert "not applicable" in p1


def test_checklist_shows_the_claim_counts(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    counts = summary["generalisation"]["axes"]["GT1_ModelGeneralization"]["counts"]
    text = label_counts(counts)
    assert "1 does not generalise" in text
    assert text in (out / "report.html").read_text()
    assert text in (out / "summary.md").read_text()
