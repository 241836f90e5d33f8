"""Streaming Pearson correlation between every neuron of model A and every neuron of model B, with baselines.

The paper's universality measure (Gurnee et al. 2024, Eq. 3) needs, for each neuron i of A and each comparison
model m, the max over m's neurons of corr(v_i, v_j) and the same max against a random "rotation" of m's
neurons. Both come from second moments, so one pass over the token stream accumulates

    sums of A and B, the cross-product A^T B, the diagonal of A^T A, and B's within-layer blocks B_l^T B_l

and the rotated baseline is then exact algebra: cov(A, B_l R^T) = cov(A, B_l) R^T and
var((B_l R^T)_j) = r_j^T Sigma_l r_j — no rotated activations are ever materialised. Memory is bounded by
the chunk size and the neuron counts, never by the token count.

Numerics: each chunk is shifted by a per-neuron reference (the mean of the first chunks, re-estimated — with exact
float64 re-expression of the totals — until it rests on `_SETTLED_SHIFT_TOKENS` tokens) before its float32 matmul,
so the float32 products see near-centred data whatever the chunking. Products are accumulated in float32 for at
most `FLUSH_TOKENS` tokens (the same rounding as one float32 matmul over that many tokens) and then added to
float64 totals.

Precision (`precision`): "float32" (default) multiplies in plain float32. On a GPU, "tf32" lets the cross-product
GEMM use TF32 tensor cores, and "bfloat16" rounds each shifted chunk to bfloat16 once and computes every statistic
(cross products, squares, Gram blocks) from those rounded values with float32 accumulation, so the statistics are
exactly those of the rounded data and correlations stay within [-1, 1]. Rounding errors of centred data are
independent across tokens, so their effect on a correlation shrinks with the token count; `scripts/benchmark.py
--gpu` measures the difference from float32 on the same chunks.

Speed: the per-token work is one float32 GEMM [n_a+1, T] x [T, n_b+1] — a ones column appended to both shifted
chunks makes the same GEMM produce the column sums and the token count — plus B's within-layer Gram blocks
(a further n_b * d_b per token, i.e. 1/layers_a of the cross product; half that where `engine.blas` makes them a
symmetric rank-k update) and one elementwise square for diag(A^T A).
The shifted chunks are written into reused buffers, so no per-chunk allocation or float64 pass over [T, n] data
happens. On a CPU the products go through `engine.blas` (OpenBLAS where torch's MKL is slow, i.e. on non-Intel
CPUs). `scripts/benchmark.py` measures this against a plain matmul.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine import blas

PRECISIONS = ("float32", "tf32", "bfloat16")
CUDA_ALIGN = 64  # chunk buffers' columns on CUDA are a multiple of this (see CrossCorrelation._width)
FLUSH_TOKENS = 1 << 16  # float32 partial sums are moved into the float64 totals at least this often
_SETTLED_SHIFT_TOKENS = 4096  # until the shift rests on this many tokens, each chunk re-centres it (exactly)
_ROW_BLOCK = 4096  # rows of A per block when finishing (bounds the float64 temporaries)
# A neuron whose variance is below this fraction of its (shifted) second moment is constant up to float32 rounding
_DEAD_RELATIVE_VARIANCE = 1e-9


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

    def __init__(
        self,
        n_a: int,
        layers_b: int,
        d_b: int,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        *,
        partials: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.n_a, self.layers_b, self.d_b = n_a, layers_b, d_b
        self.device = torch.device(device)
        if precision != "float32" and self.device.type != "cuda":
            raise ValueError(f"precision {precision!r} needs a CUDA device (got {self.device}); use 'float32'")
        self.precision = precision
        if precision == "bfloat16":
            _check_bf16_product(self.device)
        n_b = layers_b * d_b
        f64: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        f32: dict[str, Any] = {"dtype": torch.float32, "device": self.device}
        self.n = 0
        self.shift_a: Tensor | None = None
        self.shift_b: Tensor | None = None
        # float64 totals (shifted coordinates)
        self.sum_a = torch.zeros(n_a, **f64)
        self.sum_b = torch.zeros(n_b, **f64)
        self.sq_a = torch.zeros(n_a, **f64)
        # a copy made by `rotated_copy` gets its totals from there: nothing [n_a, n_b]-sized is allocated for it here
        big = 1 if partials else 0
        self.cross = torch.zeros(n_a * big, n_b * big, **f64)
        self.blocks_b = torch.zeros(layers_b * big, d_b, d_b, **f64)
        # float32 partial sums since the last flush; the extra row/column hold sum_b / sum_a / token count (none
        # for a copy made by `rotated_copy`, which takes no updates: partials=False)
        self._partials = partials
        self._cross32 = torch.zeros(self._width(n_a + 1) * big, self._width(n_b + 1) * big, **f32)
        self._blocks32 = torch.zeros(layers_b * big, d_b, d_b, **f32)
        self._sq32 = torch.zeros(n_a * big, **f32)
        # A's within-layer Gram blocks, accumulated only after `track_gram_a` (what `rotated_copy` needs)
        self.layers_a, self.d_a = 0, 0
        self.blocks_a: Tensor | None = None
        self._blocks_a32: Tensor | None = None
        self._pending = 0
        self._lower_only = False  # whether the float32 Gram partials hold only their lower triangles
        self._shift_tokens = 0  # tokens the current shift was estimated from
        # chunk buffers by name: "a<n>" / "b<n>" [capacity, n + 1] with a last column of ones
        self._workspace: dict[str, Tensor] = {}

    def update(self, a: Tensor, b: Tensor) -> None:
        """Add a chunk of tokens: `a` is [tokens, n_a], `b` is [tokens, n_b] (the same tokens, same order).

        Any float dtype is accepted (float16 from the activation store is converted during the shift).
        """
        if not self._partials:
            raise ValueError("a rotated copy holds finished sums and takes no updates")
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"token counts differ: A has {a.shape[0]}, B has {b.shape[0]}")
        n_b = self.layers_b * self.d_b
        if a.ndim != 2 or a.shape[1] != self.n_a or b.ndim != 2 or b.shape[1] != n_b:
            raise ValueError(
                f"expected [tokens, {self.n_a}] and [tokens, {n_b}], got {tuple(a.shape)}, {tuple(b.shape)}"
            )
        t = a.shape[0]
        if t == 0:
            return
        if t > FLUSH_TOKENS:  # keep float32 partial sums over at most FLUSH_TOKENS tokens
            for start in range(0, t, FLUSH_TOKENS):
                self.update(a[start : start + FLUSH_TOKENS], b[start : start + FLUSH_TOKENS])
            return
        a = a.to(self.device)
        b = b.to(self.device)
        if self.shift_a is None:
            self.shift_a = a.float().mean(0)
            self.shift_b = b.float().mean(0)
            self._shift_tokens = t
        elif self._shift_tokens < _SETTLED_SHIFT_TOKENS:  # a shift from few tokens: move it to the mean so far
            self._reshift(a, b)
        assert self.shift_b is not None
        if self._pending + t > FLUSH_TOKENS:
            self._flush()
        buf_a = self._buffer(f"a{self.n_a}", t, self.n_a, ones_column=True)
        buf_b = self._buffer(f"b{n_b}", t, n_b, ones_column=True)
        a_s, b_s = buf_a[:, : self.n_a], buf_b[:, :n_b]
        for x, shift, out in ((a, self.shift_a, a_s), (b, self.shift_b, b_s)):
            if x.dtype == torch.float32:
                torch.sub(x, shift, out=out)
            else:  # convert with a plain copy first: mixed-dtype arithmetic is several times slower on CPU
                out.copy_(x)
                out.sub_(shift)
        # cross product, both column sums and the token count in one GEMM
        if self.precision == "bfloat16":
            a16 = self._buffer(f"a{self.n_a}bf16", t, self.n_a, ones_column=True, dtype=torch.bfloat16)
            b16 = self._buffer(f"b{n_b}bf16", t, n_b, ones_column=True, dtype=torch.bfloat16)
            a16[:, : self.n_a].copy_(a_s)
            b16[:, :n_b].copy_(b_s)
            a_s.copy_(a16[:, : self.n_a])  # squares and Gram blocks below use the same rounded values
            b_s.copy_(b16[:, :n_b])
            self._cross32.add_(torch.mm(a16.T, b16, out_dtype=torch.float32))
        else:
            with tf32(self.precision == "tf32"):
                blas.addmm_(self._cross32, buf_a.T, buf_b)
        if self._blocks_a32 is not None:  # before A is squared in place below
            al = a_s.unflatten(1, (self.layers_a, self.d_a)).transpose(0, 1)
            with tf32(self.precision != "float32"):
                self._lower_only |= blas.gram_lower_(self._blocks_a32, al)
        # diag(A^T A): square the shifted A in place (the GEMM is done with it) and sum with the ones column
        a_s.square_()
        self._sq32.addmv_(a_s.T, buf_a[:, self.n_a])
        # within-layer Gram blocks of B: a strided [layers, tokens, d_b] view of the same buffer
        bl = b_s.unflatten(1, (self.layers_b, self.d_b)).transpose(0, 1)
        # In bfloat16 the values are already rounded to 8 mantissa bits, which TF32 holds exactly, so TF32 changes
        # nothing there but the speed (in float32 on an H200 these blocks took as long as the cross product).
        with tf32(self.precision != "float32"):
            self._lower_only |= blas.gram_lower_(self._blocks32, bl)
        self._pending += t
        self.n += t

    def _reshift(self, a: Tensor, b: Tensor) -> None:
        """Move the shift to the mean of everything seen so far plus this chunk.

        The totals are re-expressed exactly (float64 algebra), so the result is unchanged up to rounding while
        later chunks are centred.
        """
        assert self.shift_a is not None
        assert self.shift_b is not None
        self._flush()
        n, t = float(self.n), float(a.shape[0])
        old_a, old_b = self.shift_a.double(), self.shift_b.double()
        mean_a = old_a + self.sum_a / n
        mean_b = old_b + self.sum_b / n
        new_a = ((n * mean_a + t * a.double().mean(0)) / (n + t)).float()
        new_b = ((n * mean_b + t * b.double().mean(0)) / (n + t)).float()
        da, db = new_a.double() - old_a, new_b.double() - old_b
        sa, sb = self.sum_a.clone(), self.sum_b.clone()
        self.cross += n * torch.outer(da, db) - torch.outer(da, sb) - torch.outer(sa, db)
        self.sq_a += n * da * da - 2.0 * da * sa
        self.blocks_b += _reshifted_blocks(n, db.view(self.layers_b, self.d_b), sb.view(self.layers_b, self.d_b))
        if self.blocks_a is not None:
            self.blocks_a += _reshifted_blocks(n, da.view(self.layers_a, self.d_a), sa.view(self.layers_a, self.d_a))
        self.sum_a -= n * da
        self.sum_b -= n * db
        self.shift_a, self.shift_b = new_a, new_b
        self._shift_tokens = self.n + a.shape[0]

    def _buffer(self, name: str, rows: int, cols: int, ones_column: bool, dtype: torch.dtype = torch.float32) -> Tensor:
        buf = self._workspace.get(name)
        if buf is None or buf.shape[0] < rows:
            buf = torch.zeros(rows, self._width(cols + ones_column), dtype=dtype, device=self.device)
            if ones_column:
                buf[:, cols] = 1.0
            self._workspace[name] = buf
        return buf[:rows]

    def _width(self, cols: int) -> int:
        """Columns of a chunk buffer: on CUDA, padded with zeros to a multiple of `CUDA_ALIGN`.

        An odd leading dimension (n + 1 with the ones column) keeps cuBLAS off its fast tensor-core kernels (an
        H200 ran the unpadded bfloat16 product at 158 TFLOP/s; docs/benchmark.md). Zeros add nothing to any sum.
        """
        return -(-cols // CUDA_ALIGN) * CUDA_ALIGN if self.device.type == "cuda" else cols

    def track_gram_a(self, layers_a: int) -> None:
        """Also accumulate A's within-layer Gram blocks (1/layers_a of the cross product's work), for `rotated_copy`."""
        if self.n or self.shift_a is not None:
            raise ValueError("track_gram_a must come before the first update")
        if layers_a < 1 or self.n_a % layers_a:
            raise ValueError(f"{self.n_a} neurons of A do not split into {layers_a} layers")
        self.layers_a, self.d_a = layers_a, self.n_a // layers_a
        self.blocks_a = torch.zeros(layers_a, self.d_a, self.d_a, dtype=torch.float64, device=self.device)
        self._blocks_a32 = torch.zeros(layers_a, self.d_a, self.d_a, dtype=torch.float32, device=self.device)

    def rotated_copy(self, rotation: Tensor) -> CrossCorrelation:
        """The sums that A rotated within each layer (a'_l = R_l a_l) against the same B would have accumulated.

        Exact algebra on these sums, no second product: sum_a' = R sum_a and cross' = R cross per layer, and
        diag(A'^T A') = r_k^T G_l r_k from A's within-layer Gram blocks G_l (`track_gram_a`). B's sums are shared.
        The rotated activations are never formed, so, unlike a stored rotated copy, they are not rounded either.

        Args:
            rotation: [layers_a, d_a, d_a]; row k of rotation[l] is the k-th rotated direction of layer l, as in
                torch.einsum("tld,lkd->tlk", a, rotation).

        Returns:
            A finished accumulator (it takes no updates) for `max_correlation` / `baseline_max_correlation`.
        """
        if self.blocks_a is None:
            raise ValueError("rotated_copy needs track_gram_a before the first update")
        if tuple(rotation.shape) != (self.layers_a, self.d_a, self.d_a):
            raise ValueError(f"rotation must be [{self.layers_a}, {self.d_a}, {self.d_a}], got {tuple(rotation.shape)}")
        self._flush()
        if self.shift_a is None or self.shift_b is None:
            raise ValueError("no tokens accumulated")
        r = rotation.to(self.device, torch.float64)
        layers, d = self.layers_a, self.d_a

        def rotate_rows(x: Tensor) -> Tensor:  # [n_a, ...] layer-major rows -> R_l x_l per layer
            return torch.bmm(r, x.reshape(layers, d, -1)).reshape(x.shape)

        copy = CrossCorrelation(self.n_a, self.layers_b, self.d_b, self.device, self.precision, partials=False)
        copy.n, copy._shift_tokens = self.n, self._shift_tokens
        copy.shift_a, copy.shift_b = rotate_rows(self.shift_a.double()).float(), self.shift_b.clone()
        copy.sum_a, copy.sum_b = rotate_rows(self.sum_a), self.sum_b.clone()
        copy.sq_a = (torch.bmm(r, self.blocks_a) * r).sum(2).reshape(-1)
        copy.cross = rotate_rows(self.cross)
        copy.blocks_b = self.blocks_b.clone()
        return copy

    def share_workspace(self, other: CrossCorrelation) -> None:
        """Use `other`'s chunk buffers instead of allocating a second set.

        The buffers are overwritten on every update, so accumulators fed one after the other (one reference model
        against several comparison models) can share them: memory is then one set of chunk buffers, not one per
        comparison model.
        """
        if other.device != self.device:
            raise ValueError("workspaces can only be shared on the same device")
        self._workspace = other._workspace

    def _flush(self) -> None:
        if self._pending == 0:
            return
        n_a, n_b = self.n_a, self.layers_b * self.d_b
        c = self._cross32
        self.cross += c[:n_a, :n_b]
        self.sum_a += c[:n_a, n_b]
        self.sum_b += c[n_a, :n_b]
        self.sq_a += self._sq32
        if self._lower_only:  # the Gram partials hold their lower triangles only (engine.blas.gram_lower_)
            blas.symmetrise_lower_(self._blocks32)
            if self._blocks_a32 is not None:
                blas.symmetrise_lower_(self._blocks_a32)
            self._lower_only = False
        self.blocks_b += self._blocks32
        c.zero_()
        self._sq32.zero_()
        self._blocks32.zero_()
        if self.blocks_a is not None and self._blocks_a32 is not None:
            self.blocks_a += self._blocks_a32
            self._blocks_a32.zero_()
        self._pending = 0

    def release_buffers(self) -> None:
        """Free the chunk buffers (they are re-created by the next `update`); the statistics are kept."""
        self._flush()
        self._workspace = {}

    # --- finishing -----------------------------------------------------------------------------------------

    def _means(self) -> tuple[Tensor, Tensor, Tensor]:
        """Means of A and B and the standard deviations of A (0 for dead neurons)."""
        self._flush()
        if self.n < 3:
            raise ValueError(f"need at least 3 tokens to correlate, got {self.n}")
        n = float(self.n)
        mean_a = self.sum_a / n
        mean_b = self.sum_b / n
        return mean_a, mean_b, _sd(self.sq_a / n - mean_a**2, self.sq_a / n)

    def _cov_rows(self, rows: slice, cols: slice, mean_a: Tensor, mean_b: Tensor) -> Tensor:
        """The covariance block cross / n - outer(mean_a, mean_b), as one new tensor (no temporaries of its size)."""
        return torch.addr(self.cross[rows, cols], mean_a[rows], mean_b[cols], beta=1.0 / self.n, alpha=-1.0)

    def _block_cov(self, mean_b: Tensor) -> Tensor:
        mb = mean_b.view(self.layers_b, self.d_b)
        return self.blocks_b / self.n - mb.unsqueeze(2) * mb.unsqueeze(1)

    def _sd_b(self, mean_b: Tensor) -> Tensor:
        var = torch.diagonal(self._block_cov(mean_b), dim1=1, dim2=2).reshape(-1)
        raw = torch.diagonal(self.blocks_b, dim1=1, dim2=2).reshape(-1) / self.n
        return _sd(var, raw)

    def correlation(self) -> Tensor:
        """The full [n_a, n_b] Pearson matrix (float64). Dead neurons (zero variance) get correlation 0."""
        mean_a, mean_b, sd_a = self._means()
        cov = self._cov_rows(slice(None), slice(None), mean_a, mean_b)
        return _correlations_(cov, sd_a, self._sd_b(mean_b))

    def max_correlation(self) -> CorrelationResult:
        """Per neuron of A: its best (signed max) correlation with any neuron of B, and where that neuron is.

        Ties go to the lowest flat index of B (layer-major), as `torch.max` does.
        """
        mean_a, mean_b, sd_a = self._means()
        sd_b = self._sd_b(mean_b)
        best = torch.empty(self.n_a, dtype=torch.float64, device=self.device)
        idx = torch.empty(self.n_a, dtype=torch.long, device=self.device)
        for start in range(0, self.n_a, _ROW_BLOCK):
            rows = slice(start, min(start + _ROW_BLOCK, self.n_a))
            cov = self._cov_rows(rows, slice(None), mean_a, mean_b)
            corr = _correlations_(cov, sd_a[rows], sd_b)
            best[rows], idx[rows] = corr.max(dim=1)
        return CorrelationResult(best, idx // self.d_b, idx % self.d_b, self.n)

    def baseline_max_correlation(self, rotations: Tensor) -> Tensor:
        """Per neuron of A: max correlation with the columns of B_l R_l^T (row j of R_l = direction j), all layers.

        Args:
            rotations: [layers_b, d_b, d_b]; row j of rotations[l] is the j-th random direction in layer l's
                neuron space (the paper's Gaussian-with-unit-rows matrix, or a Haar-orthogonal one).

        Returns:
            [n_a] float64 maxima over the layers_b * d_b rotated directions.
        """
        if tuple(rotations.shape) != (self.layers_b, self.d_b, self.d_b):
            raise ValueError(
                f"rotations must be [{self.layers_b}, {self.d_b}, {self.d_b}], got {tuple(rotations.shape)}"
            )
        mean_a, mean_b, sd_a = self._means()
        block = self._block_cov(mean_b)
        raw = self.blocks_b / self.n
        rot = rotations.to(self.device, torch.float64)
        best = torch.full((self.n_a,), -torch.inf, dtype=torch.float64, device=self.device)
        for layer in range(self.layers_b):
            r = rot[layer]
            cols = slice(layer * self.d_b, (layer + 1) * self.d_b)
            var_l = ((r @ block[layer]) * r).sum(1)  # r_j^T Sigma_l r_j
            sd_l = _sd(var_l, ((r @ raw[layer]) * r).sum(1))
            for start in range(0, self.n_a, _ROW_BLOCK):
                rows = slice(start, min(start + _ROW_BLOCK, self.n_a))
                cov_l = blas.mm(self._cov_rows(rows, cols, mean_a, mean_b), r.T)  # [rows, d_b]
                corr_l = _correlations_(cov_l, sd_a[rows], sd_l)
                best[rows] = torch.maximum(best[rows], corr_l.max(dim=1).values)
        return best


def _reshifted_blocks(n: float, delta: Tensor, sums: Tensor) -> Tensor:
    """What moving the shift by `delta` ([layers, d]) adds to within-layer Gram blocks with these shifted `sums`."""
    return (
        n * delta.unsqueeze(2) * delta.unsqueeze(1)
        - delta.unsqueeze(2) * sums.unsqueeze(1)
        - sums.unsqueeze(2) * delta.unsqueeze(1)
    )


def _check_bf16_product(device: torch.device) -> None:
    """bfloat16 mode needs `torch.mm(..., out_dtype=torch.float32)` (float32 results of bfloat16 inputs)."""
    x = torch.ones(8, 8, dtype=torch.bfloat16, device=device)
    try:
        torch.mm(x, x, out_dtype=torch.float32)
    except (TypeError, RuntimeError, NotImplementedError) as exc:
        raise ValueError(
            f"precision 'bfloat16' needs torch.mm(..., out_dtype=float32) on {device}, which torch "
            f"{torch.__version__} lacks; upgrade torch or use precision 'tf32'"
        ) from exc


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Let CUDA float32 matrix products use TF32 tensor cores inside the block (restores the setting after)."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def _sd(var: Tensor, raw_second_moment: Tensor) -> Tensor:
    """Standard deviation, 0 for a dead (constant) neuron: variance at rounding level of its second moment."""
    dead = var <= _DEAD_RELATIVE_VARIANCE * raw_second_moment
    return torch.where(dead, torch.zeros_like(var), var.clamp_min(0).sqrt())


def _correlations_(cov: Tensor, sd_rows: Tensor, sd_cols: Tensor) -> Tensor:
    """In place: cov[i, j] / (sd_rows[i] sd_cols[j]), clamped to [-1, 1] (rounding can overshoot); 0 for a dead neuron.

    Scaling by the reciprocal standard deviations keeps every temporary a vector (dividing by their outer product
    made five [rows, cols] float64 temporaries, most of finishing's time); the two differ by an ulp.
    """
    return cov.mul_(_reciprocal(sd_rows).unsqueeze(1)).mul_(_reciprocal(sd_cols)).clamp_(-1.0, 1.0)


def _reciprocal(sd: Tensor) -> Tensor:
    """1 / sd, and 0 where sd is 0 (a dead neuron correlates with nothing)."""
    alive = sd > 0
    return torch.where(alive, 1.0 / torch.where(alive, sd, torch.ones_like(sd)), torch.zeros_like(sd))


def gaussian_unit_rows(layers: int, d: int, generator: torch.Generator) -> Tensor:
    """The authors' baseline: R ~ N(0,1)^{d x d} per layer with rows normalised to unit length (not orthogonal).

    Args:
        layers: number of matrices.
        d: size of each (neurons per layer).
        generator: a seeded CPU generator (results are reproducible from its seed).

    Returns:
        [layers, d, d] float64.
    """
    r = torch.randn(layers, d, d, generator=generator, dtype=torch.float64)
    return r / r.norm(dim=2, keepdim=True)


def haar_orthogonal(layers: int, d: int, generator: torch.Generator) -> Tensor:
    """A true random rotation per layer: Haar-distributed orthogonal matrices (QR with sign correction).

    Args:
        layers: number of matrices.
        d: size of each.
        generator: a seeded CPU generator.

    Returns:
        [layers, d, d] float64 orthogonal matrices (determinant +1 or -1).
    """
    g = torch.randn(layers, d, d, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    signs = torch.sign(torch.diagonal(r, dim1=1, dim2=2))
    signs[signs == 0] = 1.0
    return q * signs.unsqueeze(1)
