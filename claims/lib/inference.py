"""Uncertainty and significance for claim criteria: intervals, permutation tests and effect sizes.

Every directional claim carries an interval or a null: analytic where one exists (Wilson for proportions,
Student t for means), a seeded permutation within strata (layers) otherwise. Effect sizes (AUROC) are reported
beside p-values because with thousands of neurons almost any difference is "significant".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


# --- effects against controls ---------------------------------------------------------------------------------


def proportion_difference(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's hybrid-score 95 % interval (from the two Wilson intervals): (diff, low, high).

    Well-behaved at 0 and 1, which matters here: an untrained control often has no neuron above a threshold.
    """
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (diff, low, high)


def mean_difference(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """mean(x) - mean(y) with a Welch t interval: (diff, low, high); NaNs when either side has < 2 values."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return (math.nan, math.nan, math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return (diff, diff, diff)
    dof = (va + vb) ** 2 / ((va**2 / (len(a) - 1) if len(a) > 1 else 0) + (vb**2 / (len(b) - 1) if len(b) > 1 else 0))
    t = stats.t.ppf(0.5 + level / 2, dof)
    return (diff, diff - t * se, diff + t * se)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], n_units: int, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(indices)` over resampled units (contexts, seeds, neurons).

    `statistic` receives an index array (units drawn with replacement) and returns the effect on that resample;
    the caller decides what a unit is, which is the claim's unit of inference.
    """
    if n_units < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_units, n_units)) for _ in range(n_boot)], dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < n_boot // 2:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), via scipy; NaNs stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), math.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0), method="bh")
    return [float(v) for v in out]
