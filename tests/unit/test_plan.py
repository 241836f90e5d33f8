"""`--claims-plan` estimates: a streamed family keeps no activations; stored ones cost tokens x neurons x 2 bytes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from claims import plan
from claims.matrix import ClaimCase
from claims.verdict import Axis
from fixtures.activations import MLP_POST_RAW
from fixtures.models import resolve_family
from fixtures.workbench import RunSettings

SETTINGS = RunSettings(262_144, 262_144, 128, "cpu", "float32", 0)


def _group(planned: frozenset[str]) -> plan.Group:
    family = resolve_family("zoo-gpt2-s")
    case = ClaimCase("zoo-gpt2-s", "sotu", "U1", Axis.ORIGINAL)
    products = {(r.name, "sotu"): planned for r in (*family.members, *family.controls)}
    (group,) = plan.estimate([case], products, SETTINGS)
    return group


def test_a_streamed_family_needs_no_disk_and_memory_independent_of_tokens() -> None:
    group = _group(frozenset())
    assert group.route == "stream"
    assert group.disk_bytes == 0
    more = plan.estimate(
        [ClaimCase("zoo-gpt2-s", "sotu", "U1", Axis.ORIGINAL)],
        {},
        RunSettings(1 << 24, 1 << 24, 128, "cpu", "float32", 0),
    )[0]
    assert more.memory_bytes == group.memory_bytes
    assert more.correlation_flops == 64 * group.correlation_flops  # time grows with tokens, memory does not


def test_stored_raw_activations_cost_tokens_times_neurons_times_two_bytes_per_model() -> None:
    group = _group(frozenset({MLP_POST_RAW}))
    family = resolve_family("zoo-gpt2-s")
    layers, _, d_mlp, _ = plan.shape(family.members[0])
    assert group.route == "stored"
    assert group.disk_bytes == group.models * 262_144 * layers * d_mlp * 2


def test_the_paper_models_have_known_shapes_before_their_config_is_downloaded() -> None:
    ref = SimpleNamespace(name="x", location="EleutherAI/pythia-410m-seed3", config=lambda: {}["missing"])
    assert plan.shape(ref) == (24, 1024, 4096, 405e6)
    unknown = SimpleNamespace(name="y", location="someone/else", config=lambda: {}["missing"])
    with pytest.raises(ValueError, match=r"no config\.json for y and no known shape"):
        plan.shape(unknown)


def test_stored_raw_activations_are_bounded_by_the_sample_cap_not_the_token_budget() -> None:
    family = resolve_family("zoo-gpt2-s")
    case = ClaimCase("zoo-gpt2-s", "sotu", "U1", Axis.ORIGINAL)
    products = {(r.name, "sotu"): frozenset({MLP_POST_RAW}) for r in (*family.members, *family.controls)}
    layers, _, d_mlp, _ = plan.shape(family.members[0])
    groups = [
        plan.estimate([case], products, RunSettings(budget, budget, 128, "cpu", "float32", 0, 32_768, 32_768))[0]
        for budget in (65_536, 1 << 24)
    ]
    assert [g.route for g in groups] == ["both", "both"]  # raw on the capped sample, statistics streamed
    assert groups[0].disk_bytes == groups[1].disk_bytes == groups[0].models * 32_768 * layers * d_mlp * 2
    assert groups[0].memory_bytes == groups[1].memory_bytes
