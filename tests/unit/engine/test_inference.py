"""engine.inference: the AUROC the bootstraps call a thousand times per interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.inference import auroc


def _mann_whitney_auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The definition the suite used before: scipy's U statistic (of float64 copies) over n_pos * n_neg."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (len(positive) * len(negative)))


@pytest.mark.parametrize("kind", ["continuous", "ties", "half_precision", "infinities"])
def test_auroc_equals_the_mann_whitney_statistic_to_the_bit(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        n_pos, n_neg = int(rng.integers(1, 40)), int(rng.integers(1, 200))
        if kind == "ties":
            pos, neg = rng.integers(0, 4, n_pos).astype(float), rng.integers(0, 4, n_neg).astype(float)
        elif kind == "half_precision":
            pos, neg = rng.normal(size=n_pos).astype(np.float32), rng.normal(size=n_neg).astype(np.float16)
        else:
            pos, neg = rng.normal(0.3, 1, n_pos), rng.normal(size=n_neg)
            if kind == "infinities":
                pos[0], neg[-1] = -np.inf, np.inf
        assert auroc(pos, neg) == _mann_whitney_auroc(pos, neg)


def test_auroc_is_nan_for_an_empty_group_or_a_nan_value() -> None:
    assert math.isnan(auroc(np.array([]), np.array([1.0])))
    assert math.isnan(auroc(np.array([1.0, math.nan]), np.array([0.0, 2.0])))


def test_auroc_of_separated_groups_is_one_and_of_equal_values_one_half() -> None:
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0])) == 0.5
