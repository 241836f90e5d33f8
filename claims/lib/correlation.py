"""Streaming Pearson correlation between every neuron of model A and every neuron of model B, with baselines.

The paper's universality measure (Gurnee et al. 2024, Eq. 3) needs, for each neuron i of A and each comparison
model m, the max over m's neurons of corr(v_i, v_j) and the same max against a random "rotation" of m's
neurons. Both come from second moments, so one pass over the token stream accumulates

    sums of A and B, the cross-product A^T B, the diagonal of A^T A, and B's within-layer blocks B_l^T B_l

and the rotated baseline is then exact algebra: cov(A, B_l R^T) = cov(A, B_l) R^T and
var((B_l R^T)_j) = r_j^T Sigma_l r_j — no rotated activations are ever materialised. Memory is bounded by
the chunk size and the neuron counts, never by the token count.

Numerics: each chunk is shifted by a per-neuron reference (the first chunk's mean) before its float32 matmul, so
the float32 products see near-centred data; the per-chunk products are accumulated in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class CorrelationResult:
    """Everything a universality claim needs from one (reference model, comparison model) pair.

    Attributes:
        max_corr: [n_a] max_j corr(a_i, b_j) (signed max, as the paper's code).
        argmax_layer: [n_a] layer of B holding that best match (for depth specialisation).
        argmax_neuron: [n_a] index within that layer.
        n_tokens: tokens the statistics were accumulated over.
    """

    max_corr: Tensor
    argmax_layer: Tensor
    argmax_neuron: Tensor
    n_tokens: int


class CrossCorrelation:
    """Accumulates the second moments of two models' neuron activations over a token stream.

    Args:
        n_a: neurons of A (all layers flattened, layer-major).
        layers_b: number of layers of B; B has `layers_b * d_b` neurons, layer-major.
        d_b: neurons per layer of B.
        device: where the accumulators live (the GPU when one is present).
    """

    def __init__(self, n_a: int, layers_b: int, d_b: int, device: str | torch.device = "cpu") -> None:
        self.n_a, self.layers_b, self.d_b = n_a, layers_b, d_b
        n_b = layers_b * d_b
        f64 = {"dtype": torch.float64, "device": device}
        self.n = 0
        self.shift_a: Tensor | None = None
        self.shift_b: Tensor | None = None
        self.sum_a = torch.zeros(n_a, **f64)
        self.sum_b = torch.zeros(n_b, **f64)
        self.sq_a = torch.zeros(n_a, **f64)
        self.cross = torch.zeros(n_a, n_b, **f64)
        self.blocks_b = torch.zeros(layers_b, d_b, d_b, **f64)
        self.device = torch.device(device)

    def update(self, a: Tensor, b: Tensor) -> None:
        """Add a chunk of tokens: `a` is [tokens, n_a], `b` is [tokens, n_b] (the same tokens, same order)."""
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"token counts differ: A has {a.shape[0]}, B has {b.shape[0]}")
        if a.shape[0] == 0:
            return
        a = a.to(self.device, torch.float32)
        b = b.to(self.device, torch.float32)
        if self.shift_a is None:
            self.shift_a, self.shift_b = a.mean(0), b.mean(0)
        assert self.shift_b is not None
        a = a - self.shift_a
        b = b - self.shift_b
        self.n += a.shape[0]
        self.sum_a += a.sum(0, dtype=torch.float64)
        self.sum_b += b.sum(0, dtype=torch.float64)
        self.sq_a += (a * a).sum(0, dtype=torch.float64)
        self.cross += (a.T @ b).double()
        bl = b.view(-1, self.layers_b, self.d_b).transpose(0, 1)  # [layers, tokens, d]
        self.blocks_b += torch.bmm(bl.transpose(1, 2), bl).double()

    # --- finishing -----------------------------------------------------------------------------------------

    def _moments(self) -> tuple[Tensor, Tensor, Tensor]:
        if self.n < 3:
            raise ValueError(f"need at least 3 tokens to correlate, got {self.n}")
        n = float(self.n)
        mean_a = self.sum_a / n
        mean_b = self.sum_b / n
        var_a = (self.sq_a / n - mean_a**2).clamp_min(0)
        cov = self.cross / n - torch.outer(mean_a, mean_b)
        return mean_b, var_a, cov

    def _block_cov(self, mean_b: Tensor) -> Tensor:
        mb = mean_b.view(self.layers_b, self.d_b)
        return self.blocks_b / self.n - mb.unsqueeze(2) * mb.unsqueeze(1)

    def correlation(self) -> Tensor:
        """The full [n_a, n_b] Pearson matrix (float64). Dead neurons (zero variance) get correlation 0."""
        mean_b, var_a, cov = self._moments()
        var_b = torch.diagonal(self._block_cov(mean_b), dim1=1, dim2=2).reshape(-1).clamp_min(0)
        return _safe_divide(cov, torch.outer(var_a.sqrt(), var_b.sqrt()))

    def max_correlation(self) -> CorrelationResult:
        """Per neuron of A: its best (signed max) correlation with any neuron of B, and where that neuron is."""
        corr = self.correlation()
        best, idx = corr.max(dim=1)
        return CorrelationResult(best, idx // self.d_b, idx % self.d_b, self.n)

    def baseline_max_correlation(self, rotations: Tensor) -> Tensor:
        """Per neuron of A: max correlation with the columns of R_l B_l over all layers of B.

        Args:
            rotations: [layers_b, d_b, d_b]; row j of rotations[l] is the j-th random direction in layer l's
                neuron space (the paper's Gaussian-with-unit-rows matrix, or a Haar-orthogonal one).
        """
        mean_b, var_a, cov = self._moments()
        block = self._block_cov(mean_b)
        rot = rotations.to(self.device, torch.float64)
        best = torch.full((self.n_a,), -torch.inf, dtype=torch.float64, device=self.device)
        sd_a = var_a.sqrt()
        for layer in range(self.layers_b):
            r = rot[layer]
            cov_l = cov[:, layer * self.d_b : (layer + 1) * self.d_b] @ r.T  # [n_a, d_b]
            var_l = torch.einsum("jd,de,je->j", r, block[layer], r).clamp_min(0)  # r_j^T Sigma_l r_j
            corr_l = _safe_divide(cov_l, torch.outer(sd_a, var_l.sqrt()))
            best = torch.maximum(best, corr_l.max(dim=1).values)
        return best


def _safe_divide(num: Tensor, den: Tensor) -> Tensor:
    out = torch.zeros_like(num)
    ok = den > 1e-12
    out[ok] = num[ok] / den[ok]
    return out


def gaussian_unit_rows(layers: int, d: int, generator: torch.Generator) -> Tensor:
    """The authors' baseline: R ~ N(0,1)^{d x d} per layer with rows normalised to unit length (not orthogonal)."""
    r = torch.randn(layers, d, d, generator=generator, dtype=torch.float64)
    return r / r.norm(dim=2, keepdim=True)


def haar_orthogonal(layers: int, d: int, generator: torch.Generator) -> Tensor:
    """A true random rotation per layer: Haar-distributed orthogonal matrices (QR with sign correction)."""
    g = torch.randn(layers, d, d, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    signs = torch.sign(torch.diagonal(r, dim1=1, dim2=2))
    signs[signs == 0] = 1.0
    return q * signs.unsqueeze(1)
