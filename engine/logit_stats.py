"""Per-neuron activation statistics behind the entropy-neuron intervention (E1/E2): the sign and the scale.

Why here: they need only arrays (a neuron's activations on a sample and the mask of counted predictions), so
they sit with the other statistics rather than in the probe that records the activations
(fixtures/probes/entropy.py) or the claims that use them.

* The sign of a neuron's output direction: gated MLPs (silu(gate)·up) can fire large with either sign, so the
  direction is taken as sign(activation skew)·w_out; GELU-type MLPs, bounded below, get +1.
* A: a neuron's 99.9th percentile of |activation|, the unit of the intervention grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def activation_signs(post: Any, valid: np.ndarray, gated: bool) -> np.ndarray:
    """Per neuron: sign of the activation skew over counted positions (gated MLPs), +1 for GELU-type MLPs."""
    n = post.shape[-1]
    if not gated:
        return np.ones(n)
    x = post.reshape(-1, n)[np.flatnonzero(valid.reshape(-1))].double()
    centred = x - x.mean(0)
    skew = (centred**3).mean(0).numpy()
    signs = np.sign(skew)
    signs[signs == 0] = 1.0
    return signs


def activation_scale(post: Any, valid: np.ndarray, neuron: int) -> float:
    """A: the 99.9th percentile of |activation| of one neuron over counted positions."""
    x = post[..., neuron].reshape(-1)[np.flatnonzero(valid.reshape(-1))].abs().numpy()
    return float(np.quantile(x, 0.999))
