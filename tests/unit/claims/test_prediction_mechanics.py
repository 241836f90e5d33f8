"""P1-P4, M1, M2: preconditions name themselves, every clause is a part, a PASS carries its effect, and each can FAIL.

The tiny models here are the session's random GPT-2s (conftest) with crafted weights: token classes that share one
unembedding direction and neurons that write along (+) or against (-) it, so P1's rule holds where a claim needs
prediction neurons; and neurons whose firing rate falls as cos(w_in, w_out) rises, for M1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claims.verdict import Verdict

NOT_PASS = (Verdict.FAIL, Verdict.INCONCLUSIVE)
PRECONDITION = "precondition: prediction neurons by P1's rule"


def _save(model, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    from zoo.build import load_tokenizer

    model.save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


def _with_vocab_neurons(source: Path, layer: int, seed: int, quiet_last: bool = False):  # type: ignore[no-untyped-def]
    """A copy of `source` with 32 suppression and 32 prediction neurons in `layer` (classes of 20 tokens each)."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(source)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w_u = model.lm_head.weight  # tied with the embedding
        proj = model.transformer.h[layer].mlp.c_proj.weight  # [d_mlp, d_model]
        if quiet_last:
            last = model.transformer.h[-1].mlp.c_proj.weight
            last.copy_(torch.randn(last.shape, generator=gen) * 0.02)
        for n in range(64):
            direction = torch.randn(w_u.shape[1], generator=gen)
            w_u[200 + 40 * n : 220 + 40 * n] = direction * 0.5
            proj[n] = -direction if n < 32 else direction
    return model


@pytest.fixture(scope="module")
def crafted(tiny_dirs, tmp_path_factory):  # type: ignore[no-untyped-def]
    """calibrated{0,1}: both kinds in the last layer; first_layer: both kinds in layer 0 only; anti: M1's relation."""
    root = tmp_path_factory.mktemp("crafted")
    out = {
        "calibrated0": _save(_with_vocab_neurons(tiny_dirs["random0"], -1, 3), root / "calibrated0"),
        "calibrated1": _save(_with_vocab_neurons(tiny_dirs["random1"], -1, 3), root / "calibrated1"),
        "first_layer": _save(_with_vocab_neurons(tiny_dirs["random0"], 0, 3, quiet_last=True), root / "first_layer"),
        "anti": _save(_anti_correlated(tiny_dirs["random0"]), root / "anti"),
        "gated": _save(_tiny_llama(), root / "gated"),
    }
    return out


def _anti_correlated(source: Path):  # type: ignore[no-untyped-def]
    """Every neuron: w_out at a chosen cosine t to w_in, and an input bias that makes it fire less as t rises."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(source)
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for block in model.transformer.h:
            w_in, w_out = block.mlp.c_fc.weight, block.mlp.c_proj.weight  # [d_model, d_mlp], [d_mlp, d_model]
            t = torch.rand(w_in.shape[1], generator=gen) * 1.6 - 0.8
            for n in range(w_in.shape[1]):
                u = w_in[:, n] / w_in[:, n].norm()
                v = torch.randn(w_in.shape[0], generator=gen)
                v = v - (v @ u) * u
                w_out[n] = w_out[n].norm() * (t[n] * u + (1 - t[n] ** 2).sqrt() * v / v.norm())
            block.mlp.c_fc.bias.copy_(-3.0 * t * w_in.norm(dim=0))
    return model


def _tiny_llama():  # type: ignore[no-untyped-def]
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=4096,
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


# --- P1: the rule, its effect against random directions, and the precondition it sets ---------------------------


def test_prediction_neurons_pass_with_an_effect_against_random_directions(run_claim, crafted) -> None:
    evidence = run_claim("P1", str(crafted["calibrated0"]), tokens=2_048)
    assert evidence.verdict is Verdict.PASS
    assert evidence.effect is not None
    assert evidence.effect.low > 0
    assert evidence.measured["prediction"] >= 32
    assert evidence.measured["suppression"] >= 32
    assert {p.name.split(" ")[0] for p in evidence.parts} >= {"prediction", "suppression", "95"}


@pytest.mark.parametrize(("claim_id", "model"), [("P2", "random0"), ("P4", "random0"), ("P4", "suppressing")])
def test_claims_on_prediction_neurons_are_not_applicable_without_them(run_claim, tiny_dirs, claim_id, model) -> None:
    """Random weights have neither kind; the suppressing model has suppression neurons only (P1 needs both)."""
    evidence = run_claim(claim_id, str(tiny_dirs[model]), tokens=8_192)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith(PRECONDITION)


def test_late_universal_neurons_are_not_applicable_without_prediction_neurons(run_claim, declare, tiny_dirs) -> None:
    family = declare("random-p3", tiny_dirs["random0"], tiny_dirs["random1"])
    evidence = run_claim("P3", family)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith(PRECONDITION)


def test_prediction_only_model_lacks_p1s_rule(run_claim, tiny_dirs) -> None:
    """One sign of skew is not P1's rule: the inverted-depth model writes token directions with + only."""
    evidence = run_claim("P2", str(tiny_dirs["inverted_depth"]), tokens=2_048)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith(PRECONDITION)


# --- P2: every clause is a part; a model with the neurons in the first layer fails ------------------------------


def test_prediction_neurons_in_the_first_layer_only_fail_the_depth_pattern(run_claim, crafted) -> None:
    evidence = run_claim("P2", str(crafted["first_layer"]), tokens=2_048)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.effect is not None
    assert evidence.effect.value < 0
    assert len(evidence.parts) == 4  # three seed shares and the effect


def test_depth_pattern_reports_each_clause_at_full_scale() -> None:
    """SmolLM2's case: depth growth holds, suppression dominance fails; the parts say which."""
    from claims.context import ClaimContext
    from claims.papers.universal_neurons.prediction import _depth_parts
    from claims.registry import load_all
    from claims.verdict import Axis
    from fixtures.models import ModelRef

    ref = ModelRef("m", "local", "/nowhere", scale="full")
    ctx = ClaimContext(load_all()["P2"], Axis.GT1, "m", ref, None, "sotu", None)  # type: ignore[arg-type]
    checks = {
        "early_pct": 0.0,
        "inversions_last4": 0.0,
        "suppression_share_last": 0.3,
        "suppression_share_at_0.75L": 0.1,
    }
    parts = _depth_parts(ctx, {"m": checks}, [False])
    assert [p.passed for p in parts] == [True, True, False, True]
    assert "last layer" in parts[2].name


# --- P3, P4: applicable on crafted models, and able to fail -------------------------------------------------------


def test_suppression_neurons_that_fire_at_random_fail(run_claim, crafted) -> None:
    evidence = run_claim("P4", str(crafted["calibrated0"]), tokens=8_192)
    assert evidence.verdict in NOT_PASS


def test_crafted_vocabulary_neurons_that_are_not_universal_fail(run_claim, declare, crafted) -> None:
    family = declare("calibrated", crafted["calibrated0"], crafted["calibrated1"])
    evidence = run_claim("P3", family)
    assert evidence.verdict in NOT_PASS


# --- M1: the effect against the within-layer shuffle decides; gated MLPs are undefined ----------------------------


def test_frequency_cosine_relation_passes_with_an_effect_beyond_the_layer_shuffle(run_claim, crafted) -> None:
    evidence = run_claim("M1", str(crafted["anti"]), tokens=8_192)
    assert evidence.verdict is Verdict.PASS
    assert evidence.effect is not None
    assert evidence.effect.low > 0
    assert evidence.control["shuffled_pairing_r"] == pytest.approx(0, abs=0.15)


def test_frequency_cosine_relation_is_undefined_for_gated_mlps(run_claim, crafted) -> None:
    evidence = run_claim("M1", str(crafted["gated"]), tokens=8_192)
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith("undefined:")


def test_layer_level_correlation_is_not_an_effect_beyond_the_shuffle() -> None:
    from engine.inference import pearson_beyond_shuffle

    rng = np.random.default_rng(0)
    layers = np.repeat(np.arange(4), 500)
    x = layers + rng.normal(size=layers.size)  # x and y share only their layer means
    y = layers + rng.normal(size=layers.size)
    r, control, _gap, low, high = pearson_beyond_shuffle(x, y, layers, n_boot=300)
    assert r > 0.5
    assert control == pytest.approx(r, abs=0.05)
    assert low < 0 < high
    within = x + rng.normal(size=layers.size) * 0.1  # now paired neuron by neuron
    assert pearson_beyond_shuffle(x, within, layers, n_boot=300)[3] > 0.2


# --- M2: the effect against untrained seeds ------------------------------------------------------------------------


def test_near_duplicates_of_random_seeds_carry_an_effect_that_does_not_clear(run_claim, declare, tiny_dirs) -> None:
    family = declare("random-m2", tiny_dirs["random0"], tiny_dirs["random1"])
    evidence = run_claim("M2", family)
    assert evidence.verdict in NOT_PASS
    assert evidence.effect is not None
    assert not evidence.effect.cleared
