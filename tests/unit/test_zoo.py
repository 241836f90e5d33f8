"""The committed zoo: every declared member is present, carries its card, and loads offline through the bridge."""

from __future__ import annotations

import json
import time

import pytest

from zoo.card import RECIPE_FIELDS, differences
from zoo.families import BASE_FAMILY, FAMILIES

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
    from fixtures.model_loading import load_model
    from fixtures.models import resolve_model

    start = time.time()
    model = load_model(resolve_model(f"{family}:{member}"))
    assert time.time() - start < 20
    spec = FAMILIES[family]
    assert (model.n_layers, model.d_mlp, model.d_model) == (spec.n_layer, spec.d_mlp, spec.d_model)
    assert model.ref.scale == "small"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_card_has_a_universality_profile_against_the_untrained_control(family: str) -> None:
    card = json.loads((FAMILIES[family].folder / "card.json").read_text())
    profile = card["universality"]
    assert {"trained", "untrained"} <= set(profile)
    assert profile["trained"]["comparisons"] == len(FAMILIES[family].members) - 1
    assert "python -m zoo.card" in card["profile_command"]
    assert card["differs_from_base"] == differences(FAMILIES[family]), "card is stale: rerun python -m zoo.card"


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {BASE_FAMILY}))
def test_gt1_families_differ_from_the_base_family_in_shape_only_not_in_tokens_or_recipe(family: str) -> None:
    changed = differences(FAMILIES[family])
    assert changed, f"{family} is a copy of the base family"
    assert not set(changed) & set(RECIPE_FIELDS), changed
    assert len(FAMILIES[family].members) >= 4, "U3 needs >= 4 seeds"


def test_zoo_stays_under_its_size_budget() -> None:
    from zoo.families import ZOO_DIR

    total = sum(p.stat().st_size for p in ZOO_DIR.rglob("*") if p.is_file())
    assert total < 120 * 2**20, f"the committed zoo is {total / 2**20:.1f} MiB"


@pytest.fixture
def tiny_recipe(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A 6-step recipe of the base family's shape class, on a seeded random token stream (the recipe is tested)."""
    import dataclasses

    import numpy as np

    from zoo import train

    stream = np.random.default_rng(0).integers(1, 4096, 20_000).astype(np.uint16)
    monkeypatch.setattr(train, "token_stream", lambda corpus, tokenizer_dir=None: stream)
    return dataclasses.replace(
        FAMILIES["zoo-gpt2-s"],
        name="tiny",
        n_layer=1,
        d_model=32,
        n_head=2,
        d_mlp=64,
        n_ctx=16,
        batch_size=4,
        tokens=6 * 4 * 15,
        warmup_frac=0.3,
    )


def test_a_member_trained_in_two_stretches_ends_identical_to_one_trained_in_one_go(tmp_path, tiny_recipe) -> None:
    """Resume restores weights, AdamW moments, both random generators and the step (zoo/train.py checkpoints)."""
    import numpy as np
    from safetensors.numpy import load_file

    from zoo import train

    once = train.train_member(tiny_recipe, "a", tmp_path / "once")
    checkpoint = tmp_path / "a.ckpt"
    assert (
        train.train_member(
            tiny_recipe, "a", tmp_path / "twice", checkpoint=checkpoint, checkpoint_every=2, stop_after=3
        )
        is None
    )
    assert checkpoint.is_file()
    assert not (tmp_path / "twice").exists()
    twice = train.train_member(tiny_recipe, "a", tmp_path / "twice", checkpoint=checkpoint)
    assert not checkpoint.exists()
    assert once is not None
    assert twice is not None
    assert [e["loss"] for e in once["train_log"]] == [e["loss"] for e in twice["train_log"]]
    a, b = load_file(tmp_path / "once" / "model.safetensors"), load_file(tmp_path / "twice" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_recipe_is_refused(tmp_path, tiny_recipe) -> None:
    import dataclasses

    from zoo import train

    checkpoint = tmp_path / "a.ckpt"
    train.train_member(tiny_recipe, "a", tmp_path / "x", checkpoint=checkpoint, checkpoint_every=2, stop_after=2)
    with pytest.raises(ValueError, match="checkpoint of another recipe"):
        train.train_member(dataclasses.replace(tiny_recipe, lr=1e-3), "a", tmp_path / "x", checkpoint=checkpoint)
