"""Build a zoo member from its declaration: the architecture at initialisation, the shared tokenizer, the untrained copy.

fixtures/ builds the untrained controls of zoo families on demand, so it needs these builders; they import only
the zoo's declarations (zoo/families.py), torch and transformers, never fixtures/, so the sources stage can use
them without an import loop (training and cards, in zoo/train.py and zoo/card.py, do import fixtures/).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch

from zoo.families import TOKENIZER_DIR, FamilySpec


@functools.cache
def load_tokenizer(tokenizer_dir: Path = TOKENIZER_DIR):  # type: ignore[no-untyped-def]
    """The zoo tokenizer (shared by every family)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


def build_model(spec: FamilySpec, seed: int) -> Any:
    """A freshly initialised model of the family's architecture (deterministic given `seed`)."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    config: Any
    if spec.arch == "gpt2":
        config = GPT2Config(
            vocab_size=spec.vocab_size,
            n_positions=spec.n_ctx,
            n_embd=spec.d_model,
            n_layer=spec.n_layer,
            n_head=spec.n_head,
            n_inner=spec.d_mlp,
            activation_function="gelu_new",
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
            tie_word_embeddings=spec.tie_embeddings,
        )
        model: Any = GPT2LMHeadModel(config)
    elif spec.arch == "neox":
        config = GPTNeoXConfig(  # type: ignore[call-arg]  # rotary_pct is a config kwarg mypy cannot see
            vocab_size=spec.vocab_size,
            hidden_size=spec.d_model,
            num_hidden_layers=spec.n_layer,
            num_attention_heads=spec.n_head,
            intermediate_size=spec.d_mlp,
            max_position_embeddings=spec.n_ctx,
            hidden_act="gelu",
            rotary_pct=float(spec.extra.get("rotary_pct", 0.25)),  # type: ignore[arg-type]
            use_parallel_residual=bool(spec.extra.get("use_parallel_residual", True)),
            attention_dropout=0.0,
            hidden_dropout=0.0,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
            tie_word_embeddings=spec.tie_embeddings,
        )
        model = GPTNeoXForCausalLM(config)
    else:
        raise ValueError(f"unknown arch {spec.arch!r}")
    model.config._attn_implementation = "eager"  # type: ignore[union-attr]
    return model


def save_untrained(spec: FamilySpec, member: str, out_dir: Path) -> None:
    """Save a member's initialisation (the untrained control): deterministic from the family's init seed."""
    model = build_model(spec, spec.init_seed(member))
    model.half().save_pretrained(out_dir)
    load_tokenizer(spec.tokenizer_dir).save_pretrained(out_dir)
    card = {
        "family": spec.name,
        "member": member,
        "trained": False,
        "init_seed": spec.init_seed(member),
        "torch": torch.__version__,
    }
    write_card(out_dir, card)


def write_card(out_dir: Path, card: dict) -> None:
    """Write a member's card.json (what it is, how it was made)."""
    (out_dir / "card.json").write_text(json.dumps(card, indent=1) + "\n")
