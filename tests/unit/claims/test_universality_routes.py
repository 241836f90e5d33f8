"""U1-U4's cross-seed statistics: the streaming family pass and the stored-activation route agree, and streaming
stores no activations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claims.context import ClaimContext
from claims.registry import load_all
from claims.verdict import Axis
from fixtures import models
from fixtures.activations import FORWARD, MLP_POST_RAW


def _universality(name: str, text_dir: Path, plan: dict) -> tuple:  # type: ignore[type-arg]
    from claims.papers.universal_neurons.measures import universality
    from fixtures.workbench import RunSettings, Workbench

    bench = Workbench(RunSettings(8192, 8192, 64, "cpu", "float32", 0))
    family = models.resolve_family(name)
    bench.plan = {(ref.name, str(text_dir)): frozenset(plan) for ref in (*family.members, *family.controls)}
    ctx = ClaimContext(load_all()["U1"], Axis.GT1, name, family.members[0], family, str(text_dir), bench)
    before = FORWARD.count
    return universality(ctx), FORWARD.count - before


def test_the_streamed_and_the_stored_route_give_the_same_universality(
    declare, tiny_dirs, text_dir, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))
    seeds = [tiny_dirs[k] for k in ("random0", "random1", "random2")]
    models.declare_family("routes", [str(d) for d in seeds], controls=[str(seeds[2]), str(seeds[0])])

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "streamed"))
    streamed, passes = _universality("routes", text_dir, set())
    assert passes == 5  # 3 seeds + 2 controls, each once
    assert not list((tmp_path / "streamed").rglob("manifest.json")), "the streaming route stored activations"

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "stored"))
    stored, _ = _universality("routes", text_dir, {MLP_POST_RAW})
    assert list((tmp_path / "stored").rglob("manifest.json"))

    assert streamed.n_tokens == stored.n_tokens > 0
    assert list(streamed.table.columns) == list(stored.table.columns)
    for column in streamed.table.columns:
        np.testing.assert_allclose(streamed.table[column], stored.table[column], atol=1e-5, err_msg=column)
    np.testing.assert_allclose(streamed.control.excess_corr, stored.control.excess_corr, atol=1e-5)
    np.testing.assert_allclose(streamed.rotated_numerator_excess, stored.rotated_numerator_excess, atol=1e-5)
    np.testing.assert_allclose(streamed.depth, stored.depth, atol=1e-12)


def test_a_family_with_a_single_control_streams_without_a_control_table(
    declare, tiny_dirs, text_dir, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))
    seeds = [str(tiny_dirs[k]) for k in ("random0", "random1")]
    models.declare_family("one-control", seeds, controls=[str(tiny_dirs["random2"])])
    u, passes = _universality("one-control", text_dir, set())
    assert u.control is None  # one control has nothing to be compared with (as on the stored route)
    assert passes == 2
