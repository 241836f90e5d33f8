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
    """P(a random positive > a random negative) + 0.5 P(tie), via the Mann-Whitney U statistic.

    U is the positives' rank sum (average ranks for ties) minus n_pos (n_pos + 1) / 2, which is how
    `scipy.stats.mannwhitneyu` computes its statistic; calling rankdata directly skips that function's p-value
    machinery, which the bootstraps (a thousand AUROCs per interval) paid for and never read. Rank sums of
    half-integers are exact in float64, so the value is the same to the bit (tests/unit/engine/test_inference.py).
    NaN anywhere gives NaN, as before.
    """
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    n_pos, n_neg = len(pos), len(neg)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


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


# --- one unit against a sample of control units; two-sample and cluster bootstraps ------------------------------


def difference_from_sample(value: float, sample: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """The difference value - mean(sample) with a Student-t prediction interval: (diff, low, high).

    For one selected unit (a candidate neuron) against a sample of control units (random baseline neurons): the
    interval is that of the difference between the candidate and a new unit drawn like the controls,
    ± t(n-1) · sd · sqrt(1 + 1/n), so its lower end clears 0 only when the candidate lies beyond what a control
    unit does. NaNs with fewer than 2 finite control values or a non-finite value.
    """
    x = np.asarray(sample, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < 2 or not math.isfinite(value):
        return (math.nan, math.nan, math.nan)
    diff = float(value - x.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) * math.sqrt(1 + 1 / len(x)))
    return (diff, diff - half, diff + half)


def two_sample_bootstrap_interval(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    n_a: int,
    n_b: int,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic(indices_a, indices_b)`, resampling the two groups independently.

    For an effect between two independent samples of units (heads of a trained model vs heads of its untrained
    initialisations; neurons vs random directions): each group's units are drawn with replacement on their own.
    (nan, nan) when a group has fewer than 2 units or most resamples give a non-finite statistic.
    """
    if n_a < 2 or n_b < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic(rng.integers(0, n_a, n_a), rng.integers(0, n_b, n_b)) for _ in range(n_boot)], dtype=np.float64
    )
    values = values[np.isfinite(values)]
    if len(values) < n_boot // 2:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))


class ClusterTail:
    """Upper quantiles of values that come in clusters (all scores of one neuron), fast under cluster resampling.

    A bootstrap over clusters gives each cluster an integer count; the quantile of the resample is a weighted
    quantile. Only the top of the sorted values is kept (`margin` x the tail of the lowest quantile asked for),
    with a fallback to all values when a resample's tail reaches below it.

    Args:
        values: the scores (non-finite ones are dropped).
        clusters: the cluster label of each score (any hashable integers), same shape.
        q_min: the lowest quantile that will be asked for (e.g. 0.999).
        margin: how many times the tail to keep.
    """

    def __init__(self, values: np.ndarray, clusters: np.ndarray, q_min: float, margin: float = 5.0) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        c = np.asarray(clusters).ravel()
        ok = np.isfinite(v)
        v, c = v[ok], c[ok]
        _, inverse = np.unique(c, return_inverse=True)
        self.sizes = np.bincount(inverse)
        self.n_clusters = len(self.sizes)
        order = np.argsort(-v, kind="stable")
        self._all_values, self._all_clusters = v[order], inverse[order]
        keep = min(len(v), max(1, math.ceil(margin * (1 - q_min) * len(v))))
        self._top_values, self._top_clusters = self._all_values[:keep], self._all_clusters[:keep]

    def quantile(self, q: float, counts: np.ndarray | None = None) -> float:
        """The q-quantile of the values with cluster k counted counts[k] times (None: once each)."""
        if self.n_clusters == 0:
            return math.nan
        weights = np.ones(self.n_clusters) if counts is None else np.asarray(counts, dtype=np.float64)
        tail = (1 - q) * float((weights * self.sizes).sum())
        for values, clusters in ((self._top_values, self._top_clusters), (self._all_values, self._all_clusters)):
            cumulative = np.cumsum(weights[clusters])
            k = int(np.searchsorted(cumulative, tail, side="left"))
            if k < len(cumulative):
                return float(values[k])
        return float(self._all_values[-1])

    def resampled(self, indices: np.ndarray, q: float) -> float:
        """The q-quantile after drawing clusters `indices` (0 .. n_clusters - 1, with repetition)."""
        return self.quantile(q, np.bincount(indices, minlength=self.n_clusters))


# --- a correlation against the same correlation with the pairing shuffled within strata ------------------------


def permuted_within_strata(values: np.ndarray, strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`values` with their order shuffled inside each stratum (layer): the strata's marginals are kept."""
    values, strata = np.asarray(values), np.asarray(strata)
    grouped = np.argsort(strata, kind="stable")
    shuffled = np.lexsort((rng.random(len(strata)), strata))
    out = np.empty_like(values)
    out[grouped] = values[shuffled]
    return out


def pearson_beyond_shuffle(
    x: np.ndarray, y: np.ndarray, strata: np.ndarray, n_shuffles: int = 100, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float, float, float]:
    """Pearson r(x, y) minus r(x, y shuffled within strata), with a bootstrap interval over units.

    The within-strata shuffle keeps every stratum's distribution of x and y (so a correlation that only comes
    from strata differing in both, e.g. layers, survives it) and destroys the unit-level pairing. The control r is
    the mean over `n_shuffles` shuffles; each bootstrap replicate resamples units and draws a fresh shuffle, so
    the interval covers both sources of noise. Returns (r, r_shuffled, r - r_shuffled, low, high); NaNs with
    fewer than 4 finite pairs.
    """
    x, y, strata = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), np.asarray(strata)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, strata = x[ok], y[ok], strata[ok]
    if len(x) < 4:
        return (math.nan, math.nan, math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)

    def r(a: np.ndarray, b: np.ndarray) -> float:
        if a.std() == 0 or b.std() == 0:
            return math.nan
        return float(np.corrcoef(a, b)[0, 1])

    real = r(x, y)
    control = float(np.nanmean([r(x, permuted_within_strata(y, strata, rng)) for _ in range(n_shuffles)]))

    def statistic(idx: np.ndarray) -> float:
        xs, ys, ss = x[idx], y[idx], strata[idx]
        return r(xs, ys) - r(xs, permuted_within_strata(ys, ss, rng))

    low, high = bootstrap_interval(statistic, len(x), n_boot=n_boot, seed=seed + 1)
    return (real, control, real - control, low, high)


# --- several independent groups; Mann-Whitney U between groups of units --------------------------------------


def groups_bootstrap_interval(
    statistic: Callable[[list[np.ndarray]], float],
    sizes: Sequence[int],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic([indices of group 0, indices of group 1, ...])`.

    Every group is resampled with replacement on its own (universal neurons and their comparison sample, in a
    trained model and in its untrained control: four independent sets of units). (nan, nan) when a group has
    fewer than 2 units or most resamples give a non-finite statistic.
    """
    if not sizes or min(sizes) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = np.array(
        [statistic([rng.integers(0, n, n) for n in sizes]) for _ in range(n_boot)],
        dtype=np.float64,
    )
    values = values[np.isfinite(values)]
    if len(values) < n_boot // 2:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))


def group_pair_u(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Whitney U of every column between every ordered pair of groups of rows (documents, contexts).

    u[k, i, j] counts the pairs (x in group i, y in group j) with x > y in column k, ties counting 1/2. The
    AUROC of a set of groups against another, with groups drawn any number of times, follows without re-ranking
    (`weighted_group_auroc`), so a bootstrap over groups is exact and cheap. O(rows x groups) per column.

    Args:
        values: [rows, columns].
        groups: [rows] group label of each row.

    Returns:
        (the distinct groups [G], their sizes [G], u [columns, G, G]).
    """
    values = np.asarray(values)
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = len(uniq)
    sizes = np.bincount(inverse, minlength=n_groups)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    u = np.empty((values.shape[1], n_groups, n_groups))
    for k in range(values.shape[1]):
        distinct, block = np.unique(values[:, k], return_inverse=True)
        counts = np.bincount(block * n_groups + inverse, minlength=len(distinct) * n_groups)
        counts = counts.reshape(len(distinct), n_groups).astype(np.float64)
        below = np.cumsum(counts, axis=0) - counts + 0.5 * counts  # per value: group j's rows below it (ties 1/2)
        u[k] = np.add.reduceat(below[block[order]], starts, axis=0)
    return uniq, sizes, u


def weighted_group_auroc(u: np.ndarray, sizes: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of every column for "row is in a positive group", each group counted `weights[g]` times.

    Args:
        u: [columns, G, G] from `group_pair_u`.
        sizes: [G] rows per group.
        positive: [G] bool.
        weights: [G] how often each group is drawn (ones: the sample itself; bootstrap counts otherwise).

    Returns:
        [columns] AUROC; NaN when either side has no rows.
    """
    positive = np.asarray(positive, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    wp, wn = w * positive, w * ~positive
    den = float(wp @ sizes) * float(wn @ sizes)
    if den == 0:
        return np.full(u.shape[0], math.nan)
    return (u @ wn) @ wp / den
