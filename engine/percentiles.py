"""Within-layer percentiles (S1, Fig. 3): scipy's `percentileofscore(kind="rank")` for every neuron at once.

The paper ranks each neuron's statistic among all neurons of its own layer (docs/catalogue.md §1.6). Calling scipy
once per neuron is O(n²) per layer; sorting each layer once and using two `searchsorted` calls gives the same
numbers (ties included) in O(n log n).
"""

from __future__ import annotations

import numpy as np


def within_layer_percentile(values: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Percentile of every value among the values of its layer, exactly as scipy's kind="rank".

    For a layer with (non-NaN) values a and a score x: left = #(a < x), right = #(a <= x), and the percentile
    is (left + right + [right > left]) * 50 / len(a) — scipy's definition, which averages the ranks of tied
    values. NaN values are left out of their layer's reference set (scipy's nan_policy="omit") and get NaN;
    ±inf are ordinary values.

    Args:
        values: [n_neurons] statistic (any real dtype).
        layers: [n_neurons] layer index of each neuron (any hashable integer labels).

    Returns:
        [n_neurons] float64 percentiles in (0, 100].
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    layers = np.asarray(layers).reshape(-1)
    if values.shape != layers.shape:
        raise ValueError(f"values {values.shape} and layers {layers.shape} differ in length")
    out = np.full(values.shape, np.nan)
    if values.size == 0:
        return out
    labels, inverse = np.unique(layers, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(labels) + 1))
    for g in range(len(labels)):
        idx = order[bounds[g] : bounds[g + 1]]
        v = values[idx]
        ok = ~np.isnan(v)
        ref = np.sort(v[ok])
        if ref.size == 0:
            continue
        left = np.searchsorted(ref, v[ok], side="left")
        right = np.searchsorted(ref, v[ok], side="right")
        out[idx[ok]] = (left + right + (right > left)) * (50.0 / ref.size)
    return out
