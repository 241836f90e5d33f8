"""The report tests' `rendered` fixture: the fake summary and figures (render_fakes.py) rendered into a folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_fakes import fake_figures, fake_summary

from claims.report import render


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("reports")
    return out, render.render_all(fake_summary(), fake_figures(), out)
