"""X1 must be able to fail: antipodal shares on directions built to violate it, and the wiring on tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from claims.papers.universal_neurons import antipodal
from claims.papers.universal_neurons.measures import entropy as measures
from claims.verdict import Verdict

torch.set_num_threads(1)


def test_random_directions_have_no_antipodal_excess() -> None:
    g = torch.Generator().manual_seed(5)
    dirs = torch.randn(600, 4, generator=g)  # low dimension: random antipodes are common, so the control is too
    layers = np.repeat([0, 1], 300)
    labelled = np.random.default_rng(5).random(600) < 0.2
    stats = measures.antipodal_ratio(dirs, layers, labelled, -0.5)
    assert stats["pairs"] > 1000
    assert stats["ratio"] < 2.0


def test_antipodal_effect_is_the_labelled_share_minus_the_all_pairs_share() -> None:
    stats = {"pairs": 100, "antipodal": 30, "fraction": 0.3, "control_fraction": 0.01, "control_pairs": 100_000}
    effect = antipodal.antipodal_effect(stats, 0.0)
    assert effect.value == pytest.approx(0.29)
    assert effect.cleared
    chance = {"pairs": 100, "antipodal": 1, "fraction": 0.01, "control_fraction": 0.01, "control_pairs": 100_000}
    assert not antipodal.antipodal_effect(chance, 0.0).cleared


def test_constructed_antipodal_pairs_are_found() -> None:
    g = torch.Generator().manual_seed(6)
    dirs = torch.randn(400, 32, generator=g)
    dirs[1:20:2] = -dirs[0:19:2] + 0.05 * torch.randn(10, 32, generator=g)
    labelled = np.zeros(400, dtype=bool)
    labelled[:20] = True
    stats = measures.antipodal_ratio(dirs, np.zeros(400, dtype=int), labelled, -0.5)
    assert stats["antipodal"] >= 10
    assert stats["ratio"] > 5


# --- wiring on real tiny models -----------------------------------------------------------------------------


def test_x1_without_prediction_neurons_is_not_applicable(run_claim, tiny_dirs) -> None:
    evidence = run_claim("X1", str(tiny_dirs["random0"]), tokens=2_048)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith("precondition: prediction neurons by P1's rule")


@pytest.fixture
def antipodal_dir(tiny_dirs, tmp_path: Path) -> Path:
    """random0 with 10 exactly antipodal pairs among the first 20 neurons of layer 1."""
    from transformers import GPT2LMHeadModel

    from zoo.build import load_tokenizer

    model = GPT2LMHeadModel.from_pretrained(tiny_dirs["random0"])
    block: Any = model.transformer.h[1]
    with torch.no_grad():
        proj = block.mlp.c_proj.weight  # [d_mlp, d_model]
        proj[1:20:2] = -proj[0:19:2]
    model.save_pretrained(tmp_path / "antipodal")
    load_tokenizer().save_pretrained(tmp_path / "antipodal")
    return tmp_path / "antipodal"


def test_x1_pass_carries_its_effect_against_all_same_layer_pairs(
    ctx_for, passes_with_effect, antipodal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claims.papers.universal_neurons.measures import prediction

    ctx = ctx_for("X1", "small", antipodal_dir)
    n = 2 * 256
    labelled = np.zeros(n, dtype=bool)
    labelled[256:276] = True  # layer 1, neurons 0-19
    frame = pd.DataFrame(
        {
            "layer": np.repeat([0, 1], 256),
            "neuron": np.tile(np.arange(256), 2),
            "vocab_kurt": np.where(labelled, 20.0, 0.5),
            "vocab_skew_effective": np.where(np.arange(n) % 2 == 0, 1.0, -1.0),
            "activation_sign": np.ones(n),
        }
    )
    monkeypatch.setattr(prediction, "vocab_frame", lambda c, ref: frame)
    passes_with_effect(ctx, antipodal.antipodal_pairs(ctx))
