"""Variance reduction (the paper's Eq. 4, F0): how much of a neuron's variance a binary token feature explains.

VR(v, y) = 1 − [(1−β)·σ²(v|y=0) + β·σ²(v|y=1)] / σ²(v), β = mean(y). The families F1–F7 take, per neuron, the
feature with the largest VR over hundreds of features, so this evaluates all neurons × all features at once from
sums — Σv, Σv², and the matrix products vᵀY, (v²)ᵀY — streamed over token chunks in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

_CONSTANT_RELATIVE = 1e-12  # a neuron whose centred sum of squares is this small relative to its raw one is constant


def variance_reduction(
    v: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    ddof: int = 1,
    chunk: int = 65536,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """VR of every neuron for every binary feature.

    σ² are sample variances with `ddof` (1 by default: the authors take pandas `.var()`), the group variances
    use their group's size. Edge cases, defined here so that an argmax over features is always well defined:

    * a constant feature (all 0 or all 1) explains nothing: VR = 0;
    * a constant neuron (σ²(v) = 0) has nothing to explain: VR = 0;
    * a group with at most `ddof` tokens has no defined variance; it contributes 0 (its weight β or 1−β is
      at most ddof / n_tokens).

    VR is 1 when v is a function of y (v = c·y + const) and near 0 for independent v (slightly negative values
    are possible with ddof = 1).

    Args:
        v: [tokens, neurons] activations (the paper uses post-GELU).
        y: [tokens, features] binary labels (bool or 0/1).
        ddof: delta degrees of freedom of all three variances.
        chunk: tokens per step (each chunk is shifted by the first chunk's mean before its float64 products).
        device: where the products run.

    Returns:
        [neurons, features] float64.
    """
    v_t = torch.as_tensor(v)
    y_t = torch.as_tensor(y)
    if v_t.ndim != 2 or y_t.ndim != 2:
        raise ValueError(
            f"v must be [tokens, neurons] and y [tokens, features]; got {tuple(v_t.shape)}, {tuple(y_t.shape)}"
        )
    if v_t.shape[0] != y_t.shape[0]:
        raise ValueError(f"v has {v_t.shape[0]} tokens, y has {y_t.shape[0]}")
    if ddof < 0:
        raise ValueError("ddof must be >= 0")
    f64: dict[str, Any] = {"dtype": torch.float64, "device": device}
    n_tok, n_neu = v_t.shape
    n_feat = y_t.shape[1]
    s, q = torch.zeros(n_neu, **f64), torch.zeros(n_neu, **f64)
    s1, q1 = torch.zeros(n_neu, n_feat, **f64), torch.zeros(n_neu, n_feat, **f64)
    n1 = torch.zeros(n_feat, **f64)
    shift: Tensor | None = None
    for start in range(0, n_tok, chunk):
        x = v_t[start : start + chunk].to(**f64)
        lab = y_t[start : start + chunk].to(**f64)
        if shift is None:
            shift = x.mean(0)
        x = x - shift
        x2 = x * x
        s += x.sum(0)
        q += x2.sum(0)
        s1 += x.T @ lab
        q1 += x2.T @ lab
        n1 += lab.sum(0)
    n = float(n_tok)
    n0 = n - n1
    ss = (q - s * s / n).clamp_min(0)  # total sum of squared deviations
    ss1 = (q1 - s1 * s1 / n1.clamp_min(1)).clamp_min(0)
    s0, q0 = s.unsqueeze(1) - s1, q.unsqueeze(1) - q1
    ss0 = (q0 - s0 * s0 / n0.clamp_min(1)).clamp_min(0)
    constant_neuron = ss <= _CONSTANT_RELATIVE * q  # zero up to rounding (q = shifted second moment sum)
    var = ss / max(n - ddof, 1.0)
    var1 = torch.where(n1 > ddof, ss1 / (n1 - ddof).clamp_min(1e-300), torch.zeros_like(ss1))
    var0 = torch.where(n0 > ddof, ss0 / (n0 - ddof).clamp_min(1e-300), torch.zeros_like(ss0))
    beta = n1 / n
    explained = ((1 - beta) * var0 + beta * var1) / torch.where(constant_neuron, torch.ones_like(var), var).unsqueeze(1)
    vr = 1.0 - explained
    constant_feature = (n1 == 0) | (n0 == 0)
    vr = torch.where(constant_feature.unsqueeze(0) | constant_neuron.unsqueeze(1), torch.zeros_like(vr), vr)
    return vr.cpu().numpy()
