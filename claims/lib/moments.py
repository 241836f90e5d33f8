"""Exact per-neuron moments of activations, streamed over chunks (no histograms).

The paper's activation statistics (mean, variance, skew, Pearson kurtosis, activation frequency) are per
neuron over every token. `StreamingMoments` keeps count, mean and central moment sums M2..M4 per neuron and
merges chunks with the pairwise update of Chan et al. / Pébay (2008), so the result equals the one-shot
computation (scipy.stats.skew / kurtosis(fisher=False), biased) up to float64 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Moments:
    """Per-neuron statistics (numpy float64 arrays of shape [n_neurons]).

    Attributes:
        count: tokens seen.
        mean, var: mean and (biased) variance.
        skew: standardised third moment (scipy `skew`, bias=True).
        kurt: Pearson kurtosis (Gaussian = 3; scipy `kurtosis(fisher=False)`).
        freq: activation frequency P(x > 0) (the paper's "sparsity" column).
    """

    count: int
    mean: np.ndarray
    var: np.ndarray
    skew: np.ndarray
    kurt: np.ndarray
    freq: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Arrays by name (for saving)."""
        return {
            "count": np.asarray(self.count),
            "mean": self.mean,
            "var": self.var,
            "skew": self.skew,
            "kurt": self.kurt,
            "freq": self.freq,
        }

    @classmethod
    def from_dict(cls, data: dict[str, np.ndarray]) -> Moments:
        """Inverse of `as_dict`."""
        return cls(int(data["count"]), data["mean"], data["var"], data["skew"], data["kurt"], data["freq"])


class StreamingMoments:
    """Accumulates per-neuron moments over chunks of shape [tokens, n_neurons]."""

    def __init__(self, n_neurons: int, device: str | torch.device = "cpu") -> None:
        f64 = {"dtype": torch.float64, "device": device}
        self.n = torch.zeros((), **f64)
        self.mean = torch.zeros(n_neurons, **f64)
        self.m2 = torch.zeros(n_neurons, **f64)
        self.m3 = torch.zeros(n_neurons, **f64)
        self.m4 = torch.zeros(n_neurons, **f64)
        self.positive = torch.zeros(n_neurons, **f64)

    def update(self, x: Tensor) -> None:
        """Merge a chunk [tokens, n_neurons] into the running moments."""
        if x.shape[0] == 0:
            return
        x = x.to(self.mean.device, torch.float64)
        nb = float(x.shape[0])
        mean_b = x.mean(0)
        d = x - mean_b
        d2 = d * d
        m2_b = d2.sum(0)
        m3_b = (d2 * d).sum(0)
        m4_b = (d2 * d2).sum(0)
        self.positive += (x > 0).sum(0, dtype=torch.float64)
        na = float(self.n)
        if na == 0:
            self.n += nb
            self.mean, self.m2, self.m3, self.m4 = mean_b, m2_b, m3_b, m4_b
            return
        n = na + nb
        delta = mean_b - self.mean
        d_n = delta / n
        m4 = (
            self.m4
            + m4_b
            + delta**4 * na * nb * (na * na - na * nb + nb * nb) / n**3
            + 6.0 * d_n * d_n * (na * na * m2_b + nb * nb * self.m2)
            + 4.0 * d_n * (na * m3_b - nb * self.m3)
        )
        m3 = self.m3 + m3_b + delta**3 * na * nb * (na - nb) / n**2 + 3.0 * d_n * (na * m2_b - nb * self.m2)
        m2 = self.m2 + m2_b + delta * delta * na * nb / n
        self.mean = self.mean + delta * nb / n
        self.m2, self.m3, self.m4 = m2, m3, m4
        self.n += nb

    def result(self) -> Moments:
        """The statistics so far. Constant neurons get skew 0 and kurtosis 0 (undefined, flagged by var == 0)."""
        n = float(self.n)
        if n == 0:
            raise ValueError("no tokens were accumulated")
        var = self.m2 / n
        safe = var > 0
        denom = torch.where(safe, var, torch.ones_like(var))
        skew = torch.where(safe, (self.m3 / n) / denom**1.5, torch.zeros_like(var))
        kurt = torch.where(safe, (self.m4 / n) / denom**2, torch.zeros_like(var))
        return Moments(
            int(n),
            self.mean.cpu().numpy(),
            var.cpu().numpy(),
            skew.cpu().numpy(),
            kurt.cpu().numpy(),
            (self.positive / n).cpu().numpy(),
        )


def moments(x: Tensor | np.ndarray, chunk: int = 65536) -> Moments:
    """One call version of `StreamingMoments` for a [tokens, n_neurons] array."""
    t = torch.as_tensor(x)
    acc = StreamingMoments(t.shape[1])
    for start in range(0, t.shape[0], chunk):
        acc.update(t[start : start + chunk])
    return acc.result()
