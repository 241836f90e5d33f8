from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from engine.moments import StreamingMoments, moments

torch.set_num_threads(1)


def _scipy(x: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "mean": x.mean(0),
        "var": x.var(0),
        "skew": stats.skew(x, axis=0),
        "kurt": stats.kurtosis(x, axis=0, fisher=False),
        "freq": (x > 0).mean(0),
    }


def _check(result, x: np.ndarray, rtol: float = 1e-9) -> None:
    expected = _scipy(x)
    assert result.count == x.shape[0]
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(result, name), value, rtol=rtol, atol=1e-12, err_msg=name)


def _sample(seed: int, tokens: int, neurons: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, neurons))
    x[:, 1] = rng.gamma(0.5, size=tokens)  # heavy right tail
    x[:, 2] = rng.standard_t(4, size=tokens) - 1.0
    return x


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(1, 299), max_size=8))
def test_streaming_moments_equal_scipy_for_any_chunking(seed: int, cuts: list[int]) -> None:
    x = _sample(seed, 300)
    acc = StreamingMoments(x.shape[1])
    edges = [0, *sorted(set(cuts)), x.shape[0]]
    for lo, hi in itertools.pairwise(edges):
        acc.update(torch.from_numpy(x[lo:hi]))
    _check(acc.result(), x)


def test_merging_chunks_of_very_different_sizes_is_exact() -> None:
    x = _sample(1, 100_003)
    acc = StreamingMoments(x.shape[1])
    for lo, hi in [(0, 1), (1, 3), (3, 100_000), (100_000, 100_002), (100_002, 100_003)]:
        acc.update(torch.from_numpy(x[lo:hi]))
    _check(acc.result(), x)


def test_large_mean_is_numerically_stable() -> None:
    x = _sample(2, 20_000) + 1e6
    centred = x - 1e6  # the same distribution without the offset (exact in float64 at this scale)
    result = moments(x, chunk=997)
    expected = _scipy(centred)
    np.testing.assert_allclose(result.mean, x.mean(0), rtol=1e-12)
    for name in ("var", "skew", "kurt"):
        np.testing.assert_allclose(getattr(result, name), expected[name], rtol=1e-6, err_msg=name)


def test_constant_neuron_has_zero_variance_and_zero_skew_and_kurtosis() -> None:
    x = _sample(4, 1000)
    x[:, 0] = 3.0
    result = moments(x, chunk=128)
    assert result.var[0] == 0
    assert result.skew[0] == 0
    assert result.kurt[0] == 0
    assert result.freq[0] == 1.0


def test_moments_round_trip_through_a_dict() -> None:
    result = moments(_sample(5, 200))
    again = type(result).from_dict(result.as_dict())
    assert again.count == result.count
    np.testing.assert_array_equal(again.kurt, result.kurt)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_input_agrees_with_float64_scipy_to_float32_precision(dtype: type) -> None:
    x = _sample(6, 30_000).astype(dtype)
    x[:, 3] += 50.0  # offset mean
    result = moments(x, chunk=7000)
    expected = _scipy(x.astype(np.float64))
    for name in ("mean", "var", "kurt", "freq"):
        np.testing.assert_allclose(getattr(result, name), expected[name], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(result.skew, expected["skew"], rtol=1e-5, atol=1e-6)


def test_constant_neuron_with_an_inexact_mean_is_flagged_constant() -> None:
    x = np.full((1001, 2), 0.1)
    x[:, 1] = np.float32(0.1)
    for data in (x, x.astype(np.float32)):
        result = moments(data, chunk=333)
        assert (result.var == 0).all()
        assert (result.kurt == 0).all()


@pytest.fixture(params=[1, 2], ids=["one_thread", "two_threads"])
def threads(request: pytest.FixtureRequest):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def test_single_and_multi_thread_block_paths_equal_scipy(threads: int) -> None:
    x = _sample(7, 1200, neurons=2500)  # wide: several rows per block on both paths
    _check(moments(x, chunk=2222), x, rtol=1e-8)
