"""Exact per-neuron moments of activations, streamed over chunks (no histograms).

The paper's activation statistics (mean, variance, skew, Pearson kurtosis, activation frequency) are per
neuron over every token. `StreamingMoments` keeps count, mean and central moment sums M2..M4 per neuron and
merges chunks with the pairwise update of Chan et al. / Pébay (2008), so the result equals the one-shot
computation (scipy.stats.skew / kurtosis(fisher=False), biased) up to rounding, whatever the chunking.

Numerics and speed: inside a chunk, the tokens are processed in small blocks (see `_CPU_BLOCK_ELEMENTS`). Each
block is shifted by the running mean (so the powers see near-centred data); its power sums Σd, Σd², Σd³, Σd⁴ and
the count of positive values are taken with a few elementwise ops into reused buffers and added to float64
totals; the chunk's shifted sums are then turned into central moments and merged. Block arithmetic runs in
float64 for float64 input (agreement with scipy to ~1e-12) and in float32 for float32/float16 input — the
activations' own precision — with float64 accumulation across blocks (relative error ~1e-6 on the moments, the
size of float32 forward-pass noise). `scripts/benchmark.py` times this against a per-neuron scipy loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

# Block size. With one intra-op thread (or on a GPU) a block is large enough to amortise the per-op dispatch and
# the five sums are one reduction. With several threads on CPU a block stays below torch's parallel grain size
# (at::internal::GRAIN_SIZE = 32768 elements) and the sums are taken one by one, so every op runs inline on the
# calling thread: no thread-pool synchronisation per op, which on an oversubscribed machine (xdist workers, a
# background training job) costs milliseconds each time.
_SINGLE_THREAD_BLOCK_ELEMENTS = 1 << 16
_CPU_BLOCK_ELEMENTS = 32767
_MAX_BLOCK_ROWS = 1024  # bounds the length of each float32 partial sum


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
    """Accumulates per-neuron moments over chunks of shape [tokens, n_neurons].

    Args:
        n_neurons: columns of every chunk.
        device: where the accumulators and block buffers live.
    """

    def __init__(self, n_neurons: int, device: str | torch.device = "cpu") -> None:
        f64: dict[str, Any] = {"dtype": torch.float64, "device": device}
        self.n_neurons = n_neurons
        self.device = torch.device(device)
        self.n = torch.zeros((), **f64)
        self.mean = torch.zeros(n_neurons, **f64)
        self.m2 = torch.zeros(n_neurons, **f64)
        self.m3 = torch.zeros(n_neurons, **f64)
        self.m4 = torch.zeros(n_neurons, **f64)
        self.positive = torch.zeros(n_neurons, **f64)
        self._work: dict[torch.dtype, Tensor] = {}
        self._eps = float(torch.finfo(torch.float64).eps)  # resolution of the arithmetic used so far

    def update(self, x: Tensor) -> None:
        """Merge a chunk [tokens, n_neurons] into the running moments."""
        if x.ndim != 2 or x.shape[1] != self.n_neurons:
            raise ValueError(f"expected [tokens, {self.n_neurons}], got {tuple(x.shape)}")
        if x.shape[0] == 0:
            return
        x = x.to(self.device)
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            x = x.to(torch.float64)
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        self._eps = max(self._eps, float(torch.finfo(dtype).eps))
        na = float(self.n)
        shift64 = self.mean if na > 0 else x[:_MAX_BLOCK_ROWS].to(torch.float64).mean(0)
        sums = self._shifted_sums(x, shift64.to(dtype), dtype)  # [5, n]: Σd, Σd², Σd³, Σd⁴, #(x > 0)
        nb = float(x.shape[0])
        # the chunk's central moments from its power sums about the shift
        mu = sums[0] / nb
        s2, s3, s4 = sums[1], sums[2], sums[3]
        m2_b = (s2 - nb * mu * mu).clamp_min(0)
        m3_b = s3 - 3.0 * mu * s2 + 2.0 * nb * mu**3
        m4_b = (s4 - 4.0 * mu * s3 + 6.0 * mu * mu * s2 - 3.0 * nb * mu**4).clamp_min(0)
        mean_b = shift64.to(dtype).to(torch.float64) + mu
        self.positive += sums[4]
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

    def _shifted_sums(self, x: Tensor, shift: Tensor, dtype: torch.dtype) -> Tensor:
        """Power sums of (x - shift) and the positive count, block by block in `dtype`, totals in float64."""
        n = self.n_neurons
        inline = self.device.type == "cpu" and torch.get_num_threads() > 1
        if self.device.type != "cpu":
            rows = x.shape[0]
        else:
            elements = _CPU_BLOCK_ELEMENTS if inline else _SINGLE_THREAD_BLOCK_ELEMENTS
            rows = min(_MAX_BLOCK_ROWS, max(1, elements // max(n, 1)))
        work = self._work.get(dtype)
        if work is None or work.shape[1] < rows:
            work = self._work[dtype] = torch.empty(5, rows, n, dtype=dtype, device=self.device)
        totals = torch.zeros(5, n, dtype=torch.float64, device=self.device)
        for start in range(0, x.shape[0], rows):
            xb = x[start : start + rows]
            w = work[:, : xb.shape[0]]
            d, d2, d3, d4, pos = w
            if xb.dtype == dtype:
                torch.gt(xb, 0, out=pos)
                torch.sub(xb, shift, out=d)
            else:  # float16 input: convert once
                d.copy_(xb)
                torch.gt(d, 0, out=pos)
                d.sub_(shift)
            torch.mul(d, d, out=d2)
            torch.mul(d2, d, out=d3)
            torch.mul(d2, d2, out=d4)
            if inline:
                for k, power in enumerate(w):
                    totals[k] += power.sum(0)
            else:
                totals += w.sum(1)
        return totals

    def result(self) -> Moments:
        """The statistics so far.

        A constant neuron — variance below the square of the arithmetic's resolution at its mean, i.e. zero up
        to rounding — gets var 0, skew 0 and kurtosis 0 (undefined, flagged by var == 0).
        """
        n = float(self.n)
        if n == 0:
            raise ValueError("no tokens were accumulated")
        var = self.m2 / n
        safe = var > (4.0 * self._eps * self.mean.abs()) ** 2
        var = torch.where(safe, var, torch.zeros_like(var))
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
    """One call version of `StreamingMoments` for a [tokens, n_neurons] array.

    Args:
        x: activations (numpy arrays, including float16 memory maps, are read chunk by chunk).
        chunk: tokens converted to a tensor at a time.

    Returns:
        The per-neuron statistics.
    """
    acc = StreamingMoments(x.shape[1])
    for start in range(0, x.shape[0], chunk):
        part = x[start : start + chunk]
        acc.update(part if isinstance(part, Tensor) else torch.from_numpy(np.ascontiguousarray(part)))
    return acc.result()
