from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from engine.percentiles import within_layer_percentile


def _scipy(values: np.ndarray, layers: np.ndarray) -> np.ndarray:
    out = np.empty(values.shape)
    for i, (x, layer) in enumerate(zip(values, layers, strict=True)):
        out[i] = stats.percentileofscore(values[layers == layer], x, kind="rank", nan_policy="omit")
    return out


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(-4, 4)), min_size=1, max_size=60),
)
def test_matches_scipy_rank_with_ties(data: list[tuple[int, int]]) -> None:
    layers = np.array([layer for layer, _ in data])
    values = np.array([v for _, v in data], dtype=np.float64) / 2  # few distinct values: many ties
    np.testing.assert_allclose(within_layer_percentile(values, layers), _scipy(values, layers), rtol=0, atol=1e-12)


def test_matches_scipy_on_continuous_values() -> None:
    rng = np.random.default_rng(0)
    layers = rng.integers(0, 5, size=500)
    values = rng.standard_normal(500) + layers
    np.testing.assert_allclose(within_layer_percentile(values, layers), _scipy(values, layers), atol=1e-12)


def test_nan_values_are_left_out_of_the_layer_and_get_nan() -> None:
    values = np.array([1.0, np.nan, 3.0, 2.0, np.nan, 5.0])
    layers = np.array([0, 0, 0, 1, 1, 1])
    result = within_layer_percentile(values, layers)
    np.testing.assert_array_equal(np.isnan(result), np.isnan(values))
    np.testing.assert_allclose(result, _scipy(values, layers))


def test_infinite_values_rank_like_scipy() -> None:
    values = np.array([-np.inf, 0.0, 1.0, np.inf, np.inf, 2.0])
    layers = np.zeros(6, dtype=int)
    np.testing.assert_allclose(within_layer_percentile(values, layers), _scipy(values, layers))


def test_layer_of_only_nan_gives_nan() -> None:
    result = within_layer_percentile(np.array([np.nan, np.nan, 1.0]), np.array([0, 0, 1]))
    assert np.isnan(result[:2]).all()
    assert result[2] == 100.0
