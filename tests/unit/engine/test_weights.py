from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from engine.weights import COLUMNS, weight_statistics

torch.set_num_threads(1)

L, D_MODEL, D_MLP, VOCAB = 3, 8, 12, 50


def _weights(seed: int, gated: bool = False):
    g = torch.Generator().manual_seed(seed)
    w_in = torch.randn(L, D_MODEL, D_MLP, generator=g)
    b_in = None if gated else torch.randn(L, D_MLP, generator=g)
    w_out = torch.randn(L, D_MLP, D_MODEL, generator=g)
    w_u = torch.randn(D_MODEL, VOCAB, generator=g)
    w_gate = torch.randn(L, D_MODEL, D_MLP, generator=g) if gated else None
    return w_in, b_in, w_out, w_u, w_gate


def _loop_reference(w_in, b_in, w_out, w_u, w_gate) -> list[dict[str, float]]:
    u = w_u.double().numpy()
    u = u / np.linalg.norm(u, axis=0)
    rows = []
    for layer in range(L):
        for n in range(D_MLP):
            up = w_in[layer, :, n].double().numpy()
            x = up if w_gate is None else w_gate[layer, :, n].double().numpy()
            o = w_out[layer, n, :].double().numpy()
            cos = (o / np.linalg.norm(o)) @ u
            rows.append(
                {
                    "layer": layer,
                    "neuron": n,
                    "input_bias": np.nan if b_in is None else float(b_in[layer, n]),
                    "w_in_norm": np.linalg.norm(x),
                    "w_out_norm": np.linalg.norm(o),
                    "l2_penalty": np.linalg.norm(x) ** 2 + np.linalg.norm(o) ** 2,
                    "in_out_sim": x @ o / (np.linalg.norm(x) * np.linalg.norm(o)),
                    "w_gate_norm": np.nan if w_gate is None else np.linalg.norm(x),
                    "w_up_norm": np.nan if w_gate is None else np.linalg.norm(up),
                    "vocab_mean": cos.mean(),
                    "vocab_var": cos.var(),
                    "vocab_skew": stats.skew(cos),
                    "vocab_kurt": stats.kurtosis(cos, fisher=False),
                }
            )
    return rows


@pytest.mark.parametrize("gated", [False, True])
def test_weight_statistics_match_a_per_neuron_loop(gated: bool) -> None:
    weights = _weights(0, gated)
    table = weight_statistics(*weights, block_elements=7 * VOCAB)  # vocabulary blocks of 29: merged across blocks
    expected = _loop_reference(*weights)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == L * D_MLP
    for column in COLUMNS:
        np.testing.assert_allclose(
            table[column].to_numpy(dtype=float), [r[column] for r in expected], rtol=1e-10, atol=1e-12, err_msg=column
        )


def test_gated_mlp_has_nan_input_bias_and_uses_the_gate_column() -> None:
    w_in, _, w_out, w_u, w_gate = _weights(1, gated=True)
    table = weight_statistics(w_in, None, w_out, w_u, w_gate)
    assert table["input_bias"].isna().all()
    np.testing.assert_allclose(table["w_in_norm"], table["w_gate_norm"])
    np.testing.assert_allclose(table["w_up_norm"].iloc[:D_MLP], w_in[0].double().norm(dim=0).numpy())


def test_gated_mlp_with_nonzero_bias_is_rejected() -> None:
    w_in, _, w_out, w_u, w_gate = _weights(2, gated=True)
    with pytest.raises(ValueError, match="gated"):
        weight_statistics(w_in, torch.ones(L, D_MLP), w_out, w_u, w_gate)


def test_prediction_like_w_out_has_high_vocab_kurtosis_and_sign_of_skew_follows_direction() -> None:
    g = torch.Generator().manual_seed(3)
    d_model, vocab = 128, 400
    w_u = torch.randn(d_model, vocab, generator=g)
    direction = w_u[:, :2].sum(1)  # boosts two tokens
    w_out = torch.stack([direction, -direction]).reshape(1, 2, d_model)
    w_in = torch.randn(1, d_model, 2, generator=g)
    table = weight_statistics(w_in, torch.zeros(1, 2), w_out, w_u)
    assert (table["vocab_kurt"] > 10).all()
    assert table["vocab_skew"].iloc[0] > 0 > table["vocab_skew"].iloc[1]


def test_shape_mismatch_raises() -> None:
    w_in, b_in, w_out, w_u, _ = _weights(4)
    with pytest.raises(ValueError, match="W_out"):
        weight_statistics(w_in, b_in, w_out.transpose(1, 2), w_u)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_neuron_with_zero_w_out_has_undefined_vocab_moments(dtype: torch.dtype) -> None:
    w_in, b_in, w_out, w_u, _ = _weights(5)
    w_out[1, 4] = 0.0
    table = weight_statistics(w_in, b_in, w_out, w_u, dtype=dtype, block_elements=7 * VOCAB)
    dead = table[(table["layer"] == 1) & (table["neuron"] == 4)].iloc[0]
    for column in ("vocab_mean", "vocab_var", "vocab_skew", "vocab_kurt"):
        assert np.isnan(dead[column]), column
    assert table.drop(dead.name)[["vocab_var", "vocab_kurt"]].notna().all().all()
