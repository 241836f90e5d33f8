"""Synthetic VR tables for the neuron-family tests (F1-F7): features, layers and universal sets.

Not a test module: the family test files import it (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import numpy as np

from claims.registry import load_all
from engine import features as F

CURRENT = [
    ("contains_comma", F.KIND_TOKEN),
    ("start_w_a", F.KIND_TOKEN),
    ("letter_a", F.KIND_LETTER),
    ("letter_b", F.KIND_LETTER),
    ("unigram_the", F.KIND_UNIGRAM),
    ("unigram_on", F.KIND_UNIGRAM),
]
NAMES = tuple(n for n, _ in CURRENT) + tuple(F.PREV + n for n, _ in CURRENT)
KINDS = tuple(k for _, k in CURRENT) + tuple(F.PREV + k for _, k in CURRENT)
N_LAYERS, D_MLP = 4, 10
LAYER = np.repeat(np.arange(N_LAYERS), D_MLP)


def thresholds(claim_id: str, scale: str = "small") -> dict[str, float]:
    return dict(load_all()[claim_id].criterion.thresholds(scale))


def random_vr(seed: int = 0, n_neurons: int = N_LAYERS * D_MLP) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.1, (n_neurons, len(NAMES)))


def universal_in(layers: list[int], per_layer: int = 3, layer: np.ndarray = LAYER) -> np.ndarray:
    mask = np.zeros(len(layer), dtype=bool)
    for l_ in layers:
        mask[np.flatnonzero(layer == l_)[:per_layer]] = True
    return mask


def column(name: str) -> int:
    return NAMES.index(name)
