"""Array statistics of the attention claims (A1-A3) that need no model: BOS silencing and figure subsamples.

Why here: both take plain arrays (per-head norm ratios, a score array), so they sit with the other statistics;
the measurements that produce those arrays are in fixtures/probes/attention.py.
"""

from __future__ import annotations

import numpy as np


def silencing(ratio: np.ndarray) -> np.ndarray:
    """Per head: log10(mean ‖W_O v_s‖ / ‖W_O v_BOS‖), how many orders of magnitude quieter BOS is (0: not at all)."""
    return -np.log10(np.asarray(ratio, dtype=np.float64).reshape(-1))


def figure_sample(values: np.ndarray, n: int, seed: int, keep_above: float | None = None) -> list[float]:
    """A seeded subsample for figure data, plus every value above `keep_above` in absolute value (the tail)."""
    finite = values[np.isfinite(values)]
    rng = np.random.default_rng(seed)
    picked = finite[rng.choice(len(finite), size=min(n, len(finite)), replace=False)]
    if keep_above is not None:
        picked = np.concatenate([picked, finite[np.abs(finite) > keep_above]])
    return picked.astype(float).tolist()
