"""The fast extraction path (a plain HF copy) must give the bridge's hook values on every supported architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fixtures import hooks
from fixtures.extraction import hooked_run
from fixtures.model_loading import load_model
from fixtures.models import resolve_model


def _build(kind: str, folder: Path) -> Path:
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from zoo.build import load_tokenizer

    torch.manual_seed(0)
    common = {"vocab_size": 4096, "bos_token_id": 0, "eos_token_id": 0}
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64, **common))
    elif kind == "neox":
        config = GPTNeoXConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            **common,
        )
        model = GPTNeoXForCausalLM(config)
    else:
        config = LlamaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=48,
            max_position_embeddings=64,
            **common,
        )
        model = LlamaForCausalLM(config)
    with torch.no_grad():  # random init leaves biases at zero and norm gains at one, which would hide a hook
        for name, param in model.named_parameters():  # that sees them differently (the bridge folds them away)
            if "ln" in name or "norm" in name:
                param.normal_(1.0 if name.endswith("weight") else 0.0, 0.2)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.1)
    model.save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


def _collect(model, kinds: list[str], plain: bool) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    out: dict[str, list[np.ndarray]] = {}

    def keep(act, name):  # type: ignore[no-untyped-def]
        out.setdefault(name, []).append(act.detach().float().numpy().copy())

    wanted = [(kind, layer, keep) for kind in kinds for layer in range(model.n_layers)]
    tokens = torch.tensor([[0, 5, 9, 300, 17, 4000, 12, 8], [0, 44, 45, 46, 47, 48, 49, 50]])
    with hooked_run(model, wanted, prefer_plain=plain) as run:
        run(tokens)
    return {k: np.concatenate(v) for k, v in out.items()}


@pytest.mark.parametrize("arch", ["gpt2", "neox", "llama"])
def test_fast_path_equals_the_bridge_hooks(arch: str, tmp_path: Path) -> None:
    model = load_model(resolve_model(str(_build(arch, tmp_path / arch))))
    kinds = [hooks.MLP_POST, hooks.MLP_PRE, *{"llama": [hooks.MLP_PRE_LINEAR], "gpt2": [hooks.ATTN_Z]}.get(arch, [])]
    fast = _collect(model, kinds, plain=True)
    slow = _collect(model, kinds, plain=False)
    assert model._plain is not None
    assert set(fast) == set(slow)
    for name in slow:
        np.testing.assert_allclose(fast[name], slow[name], atol=1e-5, rtol=1e-4, err_msg=name)


def test_hook_kinds_outside_the_table_use_the_bridge(tmp_path: Path) -> None:
    model = load_model(resolve_model(str(_build("gpt2", tmp_path / "gpt2"))))
    seen = []
    with hooked_run(model, [(hooks.ATTN_PATTERN, 0, lambda act, name: seen.append(name))]) as run:
        run(torch.tensor([[0, 5, 9]]))
    assert seen == ["blocks.0.attn.hook_pattern"]
    assert model._plain is None


def test_a_kind_the_plain_copy_lacks_does_not_move_the_others_to_the_bridge(tmp_path: Path) -> None:
    model = load_model(resolve_model(str(_build("neox", tmp_path / "neox"))))
    alone = _collect(model, [hooks.MLP_POST], plain=True)
    mixed = _collect(model, [hooks.MLP_POST, hooks.ATTN_Z], plain=True)
    bridge = _collect(model, [hooks.ATTN_Z], plain=False)
    for name in alone:
        np.testing.assert_array_equal(mixed[name], alone[name], err_msg=name)  # same route, same bits
    for name in bridge:
        np.testing.assert_array_equal(mixed[name], bridge[name], err_msg=name)
