from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from engine.variance_reduction import variance_reduction

torch.set_num_threads(1)


def _pandas_vr(v: np.ndarray, y: np.ndarray, ddof: int) -> float:
    frame = pd.DataFrame({"v": v, "y": y})
    beta = y.mean()
    within = frame.groupby("y")["v"].var(ddof=ddof)
    return 1 - ((1 - beta) * within[False] + beta * within[True]) / frame["v"].var(ddof=ddof)


def test_vr_is_one_when_v_is_affine_in_y() -> None:
    rng = np.random.default_rng(0)
    y = rng.random((1000, 3)) < [0.1, 0.5, 0.9]
    v = np.stack([2.5 * y[:, 0] + 7.0, -3.0 * y[:, 1] - 1.0, 0.01 * y[:, 2] + 100.0], axis=1)
    vr = variance_reduction(v, y)
    np.testing.assert_allclose(np.diag(vr), 1.0, atol=1e-9)


def test_vr_is_near_zero_for_independent_v() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((20_000, 4))
    y = rng.random((20_000, 5)) < 0.3
    assert np.abs(variance_reduction(v, y)).max() < 2e-3


def test_ddof_zero_and_one_agree_for_large_n() -> None:
    rng = np.random.default_rng(2)
    y = rng.random((50_000, 3)) < [0.02, 0.3, 0.7]
    v = rng.gamma(1.0, size=(50_000, 2)) + 2.0 * y[:, :2]
    np.testing.assert_allclose(variance_reduction(v, y, ddof=0), variance_reduction(v, y, ddof=1), atol=1e-3)


@pytest.mark.parametrize("ddof", [0, 1])
def test_matches_the_pandas_groupby_definition(ddof: int) -> None:
    rng = np.random.default_rng(3)
    y = rng.random((3000, 4)) < [0.05, 0.2, 0.5, 0.8]
    v = rng.standard_normal((3000, 3)) + y[:, :3] * [1.0, 0.3, 2.0] + 5.0
    vr = variance_reduction(v, y, ddof=ddof, chunk=701)
    expected = np.array([[_pandas_vr(v[:, i], y[:, j], ddof) for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(vr, expected, atol=1e-10)


def test_constant_feature_gives_zero() -> None:
    rng = np.random.default_rng(4)
    v = rng.standard_normal((100, 2))
    y = np.zeros((100, 2), dtype=bool)
    y[:, 1] = True
    np.testing.assert_array_equal(variance_reduction(v, y), 0.0)


def test_constant_neuron_gives_zero() -> None:
    rng = np.random.default_rng(5)
    v = np.full((100, 1), 0.3)
    y = rng.random((100, 2)) < 0.5
    np.testing.assert_array_equal(variance_reduction(v, y), 0.0)


def test_torch_input_and_chunking_give_the_same_result() -> None:
    rng = np.random.default_rng(6)
    y = rng.random((999, 3)) < 0.4
    v = rng.standard_normal((999, 2)) + y[:, :2]
    whole = variance_reduction(v, y, chunk=10_000)
    chunked = variance_reduction(torch.from_numpy(v).float(), torch.from_numpy(y), chunk=100)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
