"""Drawn figures are kept in the cache: the same drawer, data, row and code give the stored PNG, anything else a new one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claims.report import plotting


@pytest.fixture
def drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    return []


def _line(calls: list[Any]):  # type: ignore[no-untyped-def]
    def draw_line(plt: Any, data: Any, row: dict[str, Any]) -> Any:
        calls.append(data)
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(data["y"])
        ax.set_title(row.get("title", ""))
        return fig

    return draw_line


ROW = {"id": "T1", "title": "toy", "verdict": "PASS", "seconds": 1.5, "forward_passes": 7}


def test_a_figure_drawn_before_is_read_back_even_when_the_row_took_another_time(drawn: list[Any]) -> None:
    first = plotting.draw_safely(_line(drawn), {"y": [1, 2, 3]}, ROW)
    again = plotting.draw_safely(_line(drawn), {"y": [1, 2, 3]}, {**ROW, "seconds": 0.01, "forward_passes": 0})
    assert isinstance(first, bytes)
    assert first[:4] == b"\x89PNG"
    assert again == first
    assert len(drawn) == 1


def test_other_data_another_row_or_other_code_draw_again(drawn: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    plotting.draw_safely(_line(drawn), {"y": [1, 2, 3]}, ROW)
    plotting.draw_safely(_line(drawn), {"y": [1, 2, 4]}, ROW)
    plotting.draw_safely(_line(drawn), {"y": [1, 2, 3]}, {**ROW, "verdict": "FAIL"})
    monkeypatch.setattr(plotting, "suite_fingerprint", lambda: "another tree")
    plotting.draw_safely(_line(drawn), {"y": [1, 2, 3]}, ROW)
    assert len(drawn) == 4


def test_a_figure_that_cannot_be_drawn_is_not_cached(drawn: list[Any]) -> None:

    def broken(plt: Any, data: Any, row: dict[str, Any]) -> Any:
        drawn.append(data)
        raise ValueError("bad payload")

    assert plotting.draw_safely(broken, {"y": []}, ROW) == "ValueError: bad payload"
    assert plotting.draw_safely(broken, {"y": []}, ROW) == "ValueError: bad payload"
    assert len(drawn) == 2


def test_a_cache_that_cannot_be_written_still_draws(drawn: list[Any], tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(blocker))
    png = plotting.draw_safely(_line(drawn), {"y": [1, 2]}, ROW)
    assert isinstance(png, bytes)
    assert png[:4] == b"\x89PNG"
