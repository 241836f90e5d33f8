"""Array statistics of the neuron families (F1-F7, claims/papers/universal_neurons/family_*.py).

The best feature of every neuron from a VR table, post-activation columns of chosen neurons, per-layer counts,
position MI of every neuron, layer-matched random samples and which tagger labels can be tested: arrays in,
arrays out. The claims choose the models, the universal sets and the thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine import features as F


def best_of(vr: np.ndarray, kinds: Sequence[str], wanted: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the largest VR over the features of the wanted kinds and that feature's index (-1: none)."""
    cols = np.flatnonzero(np.isin(np.asarray(kinds), list(wanted)))
    if len(cols) == 0:
        return np.zeros(vr.shape[0]), np.full(vr.shape[0], -1)
    sub = vr[:, cols]
    arg = sub.argmax(1)
    return sub[np.arange(len(arg)), arg].astype(np.float64), cols[arg]


def read_columns(raw: np.ndarray, neurons: np.ndarray, d_mlp: int) -> np.ndarray:
    """[positions, len(neurons)] float32 post-activations of the given layer-major neuron indices."""
    neurons = np.asarray(neurons, dtype=np.int64)
    out = np.empty((raw.shape[0], len(neurons)), dtype=np.float32)
    for layer in np.unique(neurons // d_mlp):
        sel = np.flatnonzero(neurons // d_mlp == layer)
        out[:, sel] = np.asarray(raw[:, int(layer), :])[:, neurons[sel] % d_mlp]
    return out


def per_layer(mask: np.ndarray, layer: np.ndarray, n_layers: int) -> list[int]:
    """How many neurons of `mask` each of the `n_layers` layers holds."""
    return np.bincount(layer[mask], minlength=n_layers).astype(int).tolist()


def position_mi_all(raw: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Position MI of every neuron (layer-major), firing = post-activation > 0."""
    n_ctx, ctx_len = keep.shape
    _, n_layers, d_mlp = raw.shape
    out = np.empty(n_layers * d_mlp)
    for layer in range(n_layers):
        firing = (np.asarray(raw[:, layer, :]) > 0).reshape(n_ctx, ctx_len, d_mlp)
        out[layer * d_mlp : (layer + 1) * d_mlp] = F.position_mutual_information(firing, keep)
    return out


def layer_matched_sample(universal: np.ndarray, layer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As many non-universal neurons per layer as there are universal ones there (fewer if the layer runs out)."""
    universal = np.asarray(universal, dtype=bool)
    out = np.zeros(len(universal), dtype=bool)
    for layer_ in np.unique(layer[universal]):
        others = np.flatnonzero((layer == layer_) & ~universal)
        k = min(int((universal & (layer == layer_)).sum()), len(others))
        out[rng.choice(others, k, replace=False)] = True
    return out


def testable_labels(positives: np.ndarray, n_positions: int) -> np.ndarray:
    """[labels] bool, which tagger labels F5 tests on a sample.

    A label is tested when it holds at >= the unigram count rule's number of kept positions and leaves as many
    without it (a variance split needs both groups).
    """
    floor = F.unigram_min_count(n_positions)
    return (positives >= floor) & (positives <= n_positions - floor)
