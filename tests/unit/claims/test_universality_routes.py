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


def _universality(name: str, text_dir: Path, plan: dict, cap: int | None = None) -> tuple:  # type: ignore[type-arg]
    from claims.papers.universal_neurons.measures import universality
    from fixtures.workbench import RunSettings, Workbench

    bench = Workbench(RunSettings(8192, 8192, 64, "cpu", "float32", 0, cap, cap))
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


def test_raw_activations_on_a_capped_sample_leave_universality_to_the_streaming_pass(
    declare, tiny_dirs, text_dir, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Token-level claims keep raw activations of at most the sample cap; the cross-seed sums still see every token."""
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))
    seeds = [tiny_dirs[k] for k in ("random0", "random1", "random2")]
    models.declare_family("capped", [str(d) for d in seeds], controls=[str(seeds[2]), str(seeds[0])])
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "whole"))
    whole, _ = _universality("capped", text_dir, set())
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "capped"))
    capped, _ = _universality("capped", text_dir, {MLP_POST_RAW}, cap=2048)
    assert capped.n_tokens == whole.n_tokens  # the streamed route, over the whole budget, not the 2,048 stored
    np.testing.assert_allclose(capped.table["max_corr"], whole.table["max_corr"], atol=1e-5)

    bench = Workbench(RunSettings(8192, 8192, 64, "cpu", "float32", 0, 2048, 2048))
    ref = models.resolve_family("capped").members[0]
    raw = bench.activations(ref, str(text_dir), (MLP_POST_RAW,)).raw(MLP_POST_RAW)
    moments = bench.activations(ref, str(text_dir), ("mlp_post.moments",)).moments("mlp_post.moments", "all")
    assert raw.shape[0] == 2048  # bounded by the cap
    assert int(moments["count"]) == 8192  # the moments are streamed over the whole budget
    with pytest.raises(ValueError, match="separately"):
        bench.activations(ref, str(text_dir), (MLP_POST_RAW, "mlp_post.moments"))


def test_named_neurons_read_from_a_stored_sample_equal_their_own_pass(
    tiny_dirs, text_dir, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P4's suppression neurons: a run that stores the raw sample reads their columns instead of a second pass."""
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    ref = models.resolve_model(str(tiny_dirs["random0"]))
    neurons = [(1, 3), (0, 5), (1, 0), (0, 5)]

    def read(plan: set[str]) -> tuple[np.ndarray, np.ndarray, int]:
        bench = Workbench(RunSettings(4096, 4096, 64, "cpu", "float32", 0, None, None))
        bench.plan = {(ref.name, str(text_dir)): frozenset(plan)}
        if plan:
            bench.activations(ref, str(text_dir), (MLP_POST_RAW,))  # another claim stored the sample
        before = FORWARD.count
        acts, tokens = bench.neuron_post(ref, str(text_dir), neurons)
        return acts, tokens, FORWARD.count - before

    stored, stored_tokens, stored_passes = read({MLP_POST_RAW})
    passed, passed_tokens, passes = read(set())
    assert (stored_passes, passes) == (0, 1)
    np.testing.assert_array_equal(stored_tokens, passed_tokens)
    assert stored.shape == (stored_tokens.size, len(neurons))
    assert stored.dtype == np.float32
    np.testing.assert_array_equal(stored, passed)
    np.testing.assert_array_equal(stored[:, 1], stored[:, 3])
