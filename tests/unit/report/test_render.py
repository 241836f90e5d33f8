"""render_all as a whole (claims/report/render.py): what it writes, skips, replaces and survives."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from render_fakes import _figrow, fake_figures, fake_summary

from claims.report import render, validate_summary
from claims.verdict import jsonable


def test_unknown_kind_is_skipped_and_mentioned_in_summary(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, written = rendered
    assert not any("mystery_plot" in name for name in written)
    md = (out / "summary.md").read_text()
    assert "mystery_plot" in md
    assert "skipped" in md


def test_broken_figure_data_becomes_a_note_not_a_crash(tmp_path: Path) -> None:
    figures = [{"row": _figrow("U1", "gt1", "m", "d", "PASS"), "figures": {"scatter": {"x": [1, 2], "y": [1]}}}]
    written = render.render_all(fake_summary(), figures, tmp_path)
    assert not any(name.endswith("-scatter.png") for name in written)
    assert "could not be drawn" in (tmp_path / "summary.md").read_text()


def test_files_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    through_atomic: list[Path] = []
    original = render.storage.atomic_write_bytes

    def spy(path: Path, data: bytes) -> None:
        through_atomic.append(path)
        original(path, data)

    monkeypatch.setattr(render.storage, "atomic_write_bytes", spy)
    figures = [entry for entry in fake_figures() if "scatter" in entry["figures"]]
    written = render.render_all(fake_summary(), figures, tmp_path)
    assert set(written.values()) <= set(through_atomic)
    assert not list(tmp_path.rglob("*.partial"))


def test_stale_figures_from_an_earlier_run_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "figures" / "OLD-gt1-m-d-scatter.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    render.render_all(fake_summary(), [], tmp_path)
    assert not stale.exists()


def test_without_matplotlib_reports_are_written_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    written = render.render_all(fake_summary(), fake_figures(), tmp_path)
    assert set(written) == {"summary.md", "report.html"}
    assert "matplotlib is not installed" in (tmp_path / "summary.md").read_text()
    assert "matplotlib is not installed" in (tmp_path / "report.html").read_text()


def test_stale_figure_data_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / "figures" / "OLD-gt1-m-d-scatter.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    render.render_all(fake_summary(), [], tmp_path)
    assert not stale.exists()


# --- the report leads with the answer ------------------------------------------------------------------------


def test_fake_summary_validates_against_the_schema() -> None:
    validate_summary(jsonable(fake_summary()))
