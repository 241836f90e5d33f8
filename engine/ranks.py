"""Rank statistics over groups of positions: F6's era test of context neurons (§5, Fig. 21).

Every column is ranked once over all positions and its ranks summed per group (a document); the AUROC of any
split of the groups follows from those sums, so the document-relabelling null (every split of the documents into
groups of the observed sizes, or a seeded sample of them) costs no re-ranking.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats

MAX_LABELINGS = 5_000  # F6: enumerate every relabelling of the speeches up to this many, else sample


def rank_sums(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank every column of `values` (ties averaged) and sum the ranks per group.

    Returns:
        (the distinct groups [G], their sizes [G], rank sums [G, columns]).
    """
    ranks = stats.rankdata(values, axis=0)
    uniq, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(uniq), values.shape[1]))
    np.add.at(sums, inverse, ranks)
    return uniq, np.bincount(inverse, minlength=len(uniq)), sums


def auroc_from_rank_sums(sizes: np.ndarray, sums: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AUROC of every column for "group is positive", from per-group rank sums (Mann-Whitney U / n1 n0)."""
    positive = np.asarray(positive, dtype=bool)
    n1 = float(sizes[positive].sum())
    n0 = float(sizes.sum()) - n1
    r1 = sums[positive].sum(0)
    return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)


def era_statistic(aurocs: np.ndarray, scale: str) -> float:
    """Small: the best AUROC in either direction; full: the weaker era's best AUROC."""
    if scale == "full":
        return float(min(aurocs.max(), (1 - aurocs).max()))
    return float(np.maximum(aurocs, 1 - aurocs).max())


def relabelling_null(
    sizes: np.ndarray, sums: np.ndarray, n_positive: int, scale: str, seed: int, limit: int = MAX_LABELINGS
) -> tuple[np.ndarray, bool]:
    """`era_statistic` under every split of the documents into groups of the observed sizes (or a sample of them).

    Returns:
        (statistics, exact): exact is True when every split was enumerated (the observed one among them).
    """
    n = len(sizes)
    total = math.comb(n, n_positive)
    splits: Iterable[Any]
    if total <= limit:
        splits = itertools.combinations(range(n), n_positive)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        splits = (rng.choice(n, n_positive, replace=False) for _ in range(limit))
        exact = False
    out = []
    for chosen in splits:
        label = np.zeros(n, dtype=bool)
        label[list(chosen)] = True
        out.append(era_statistic(auroc_from_rank_sums(sizes, sums, label), scale))
    return np.asarray(out), exact


def relabelling_p(observed: float, null: np.ndarray, exact: bool) -> float:
    """Share of splits at least as separable as the observed one (+1 correction when sampled)."""
    hits = int(np.sum(null >= observed - 1e-12))
    return hits / len(null) if exact else (1 + hits) / (len(null) + 1)


def era_candidates(aurocs: np.ndarray, per_direction: int) -> np.ndarray:
    """The most era-selective columns in each direction (those the era statistic can come from)."""
    by_after = np.argsort(-aurocs, kind="stable")[:per_direction]
    by_before = np.argsort(aurocs, kind="stable")[:per_direction]
    return np.unique(np.concatenate([by_after, by_before]))
