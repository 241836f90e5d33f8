"""Architecture facts come from one declared table keyed by config.json's model_type (fixtures/architectures.py)."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.architectures import ARCHITECTURES, architecture


@pytest.mark.parametrize(
    ("config", "gated", "position", "norm"),
    [
        ({"model_type": "gpt2", "n_layer": 2}, False, "learned absolute", "LN"),
        ({"model_type": "gpt_neox", "rotary_pct": 0.25}, False, "rotary", "LN"),
        ({"model_type": "llama", "rope_theta": 1e4, "rms_norm_eps": 1e-5}, True, "rotary", "RMS"),
        ({"model_type": "qwen3"}, True, "rotary", "RMS"),
    ],
)
def test_declared_types_read_from_the_table(config: dict[str, Any], gated: bool, position: str, norm: str) -> None:
    facts = architecture(config)
    assert (facts.gated, facts.position, facts.norm) == (gated, position, norm)


def test_an_undeclared_type_is_inferred_from_keys_only_one_kind_writes() -> None:
    assert "my-new-model" not in ARCHITECTURES
    assert architecture({"model_type": "my-new-model"}).position == "learned absolute"
    rotary = architecture({"model_type": "my-new-model", "rope_theta": 1e4, "rms_norm_eps": 1e-6})
    assert (rotary.position, rotary.norm, rotary.gated) == ("rotary", "RMS", False)


def test_every_rotary_or_gated_type_the_suite_knew_before_the_table_is_declared() -> None:
    # the sets F4 and --claims-plan used to spell out for themselves
    gated = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2", "phi3"}
    rotary = {"gpt_neox", "gptj", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2"}
    assert {t for t, a in ARCHITECTURES.items() if a.gated} == gated
    assert rotary <= {t for t, a in ARCHITECTURES.items() if a.position == "rotary"}
