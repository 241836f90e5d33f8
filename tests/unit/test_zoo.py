"""The committed zoo: every declared member is present, carries its card, and loads offline through the bridge."""

from __future__ import annotations

import json
import time

import pytest

from zoo.families import FAMILIES

MEMBERS = [(name, m) for name, spec in FAMILIES.items() for m in spec.members]
CARD_FIELDS = (
    "init_seed",
    "data_seed",
    "tokens_seen",
    "wall_seconds",
    "final_train_loss",
    "eval_loss_nats",
    "machine",
    "git_commit",
)


@pytest.mark.parametrize(("family", "member"), MEMBERS)
def test_every_declared_member_is_committed_with_its_card(family: str, member: str) -> None:
    folder = FAMILIES[family].folder / member
    card = json.loads((folder / "card.json").read_text())
    assert all(card.get(k) is not None for k in CARD_FIELDS), card.keys()
    assert card["tokens_seen"] >= 0.99 * FAMILIES[family].tokens
    assert (folder / "model.safetensors").stat().st_size > 0


@pytest.mark.parametrize(("family", "member"), MEMBERS)
def test_zoo_member_loads_offline_through_the_bridge_in_seconds(family: str, member: str) -> None:
    from fixtures.models import load_model, resolve_model

    start = time.time()
    model = load_model(resolve_model(f"{family}:{member}"))
    assert time.time() - start < 20
    spec = FAMILIES[family]
    assert (model.n_layers, model.d_mlp, model.d_model) == (spec.n_layer, spec.d_mlp, spec.d_model)
    assert model.ref.scale == "small"


def test_family_card_has_a_universality_profile_against_the_untrained_control() -> None:
    card = json.loads((FAMILIES["zoo-gpt2-s"].folder / "card.json").read_text())
    profile = card["universality"]
    assert {"trained", "untrained"} <= set(profile)
    assert profile["trained"]["comparisons"] == len(FAMILIES["zoo-gpt2-s"].members) - 1
    assert "python -m zoo.card" in card["profile_command"]


def test_zoo_stays_under_its_size_budget() -> None:
    from zoo.families import ZOO_DIR

    total = sum(p.stat().st_size for p in ZOO_DIR.rglob("*") if p.is_file())
    assert total < 45 * 2**20, f"the committed zoo is {total / 2**20:.1f} MiB"
