"""Small statistics on universality tables and universal sets, for U4 and G2-overlap.

`same_layer_share` is U4's per-neuron effect (how often a neuron's best match in another seed lies in its own
layer) over the `best_layer_<m>` columns of a universality table (engine/universality.py); `overlap_lift` is
G2-overlap's measure of how much two universal sets overlap beyond chance. Arrays and tables in, numbers out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def same_layer_share(table: pd.DataFrame, n_layers: int) -> np.ndarray:
    """Per neuron, the share of comparison models whose best match lies in the neuron's own layer."""
    labels = [c for c in table.columns if c.startswith("best_layer_")]
    layer = table.layer.to_numpy()
    return np.mean([table[c].to_numpy() == layer for c in labels], axis=0)


def overlap_lift(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| over its hypergeometric expectation |a| |b| / n."""
    chance = a.sum() * b.sum() / len(a)
    return float((a & b).sum() / chance) if chance else float("nan")
