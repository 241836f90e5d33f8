"""The workbench keeps tiny models loaded (a family runs on several corpora) and bounds real-size ones."""

from __future__ import annotations

import dataclasses

import pytest

from fixtures.models import resolve_model
from fixtures.workbench import RunSettings, Workbench


def test_tiny_models_beyond_max_loaded_stay_loaded_and_real_size_ones_are_released(
    tiny_dirs, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    bench = Workbench(RunSettings(2048, 2048, 64, "cpu", "float32", 0), max_loaded=1)
    tiny = [resolve_model(str(tiny_dirs[k])) for k in ("random0", "random1", "random2")]
    assert {r.scale for r in tiny} == {"small"}
    for ref in (*tiny, *tiny):
        bench.model(ref)
    assert bench.loads == 3  # the second round found all three loaded

    # the same weights declared real-size count against max_loaded (1): each evicts the previous one
    full = [dataclasses.replace(r, name=f"{r.name}-full", scale="full") for r in tiny[:2]]
    for ref in (*full, *full):
        bench.model(ref)
    assert bench.loads == 3 + 4
    assert sum(m.ref.scale == "full" for m in bench._models.values()) == 1
    assert sum(m.ref.scale == "small" for m in bench._models.values()) == 3
