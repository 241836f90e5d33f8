"""Uncertainty and significance for claim criteria: intervals, permutation tests and effect sizes.

Every directional claim carries an interval or a null: analytic where one exists (Wilson for proportions,
Student t for means), a seeded permutation within strata (layers) otherwise. Effect sizes (AUROC) are reported
beside p-values because with thousands of neurons almost any difference is "significant".
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); (0, 1) when n == 0."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for a mean; (nan, nan) with fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (math.nan, math.nan)
    se = x.std(ddof=1) / math.sqrt(len(x))
    t = stats.t.ppf(0.5 + level / 2, len(x) - 1)
    return (float(x.mean() - t * se), float(x.mean() + t * se))


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random positive > a random negative) + 0.5 P(tie), via the Mann-Whitney U statistic."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u / (len(pos) * len(neg)))


def mann_whitney_greater(positive: np.ndarray, negative: np.ndarray) -> float:
    """One-sided p-value that positives tend to be larger than negatives."""
    if len(positive) == 0 or len(negative) == 0:
        return math.nan
    return float(stats.mannwhitneyu(positive, negative, alternative="greater").pvalue)


def permutation_median_shift(
    values: np.ndarray, labels: np.ndarray, strata: np.ndarray, n_perm: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Median(values | label) - median(values | not label), and its two-sided p under shuffles within strata.

    Labels are permuted within each stratum (layer), so a layer-wise difference in the label rate cannot
    create a difference on its own. Returns (observed shift, p-value with the +1 correction).
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    observed = float(np.median(values[labels]) - np.median(values[~labels]))
    rng = np.random.default_rng(seed)
    order = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    perm_labels = np.empty((n_perm, len(labels)), dtype=bool)
    for idx in order:
        block = np.broadcast_to(labels[idx], (n_perm, len(idx)))
        perm_labels[:, idx] = rng.permuted(block, axis=1)
    shifts = np.empty(n_perm)
    for k in range(n_perm):
        lab = perm_labels[k]
        shifts[k] = np.median(values[lab]) - np.median(values[~lab])
    p = (1 + np.sum(np.abs(shifts) >= abs(observed) - 1e-12)) / (n_perm + 1)
    return observed, float(p)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (nan when undefined)."""
    if len(x) < 3:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def pearson_with_interval(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Pearson r with a Fisher-z interval: (r, low, high)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 4:
        return (math.nan, math.nan, math.nan)
    r = float(np.corrcoef(x, y)[0, 1])
    z = math.atanh(max(min(r, 0.999999), -0.999999))
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(len(x) - 3)
    return (r, math.tanh(z - half), math.tanh(z + half))
