"""Pure tensor code behind the paper's causal and attention claims (§5.2-5.3, E1-E2, A1-A3, X1).

Why here and not in the claim modules: these are the numbers the verdicts rest on, so each one is a small
function with a unit test against a brute-force or closed-form reference (tests/unit/engine/test_interventions.py).

* Final-norm readout (E1/E2): the final LayerNorm/RMSNorm scale, next-token entropy, reciprocal rank of the true
  token and its loss, for a final residual stream; and the same for the residual shifted along one direction by
  per-position amounts, computed without a matmul per shift (logits are affine in the shift before the norm).
* OLS slopes of a metric on the activation value the neuron was fixed to.
* The bottom singular subspace of W_U as a map from the residual stream (the "null space" an entropy neuron
  writes into) and the share of a vector's energy inside it.
* The BOS heuristic h_n = ŵ_outᵀ W_Q k_BOS / √d_head for every (MLP neuron, later head) pair (A2), with the
  grouped-query mapping of query heads to key/value heads (SmolLM2 has 9 query heads on 3 kv heads).
* Per-head output norms ‖W_O v‖ (A1), Pearson correlation (A3), and antipodal-pair fractions (X1).

Conventions: the residual stream is [..., d_model]; W_U is [d_model, d_vocab] with the final norm's gain folded
in (TransformerBridge compatibility mode), so logits = normalise(x) @ W_U + b_U. "LN" centres before scaling,
"RMS" does not. Entropy is in nats; reciprocal rank is 1 / (1 + #tokens with a strictly larger logit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from engine import blas

NORM_KINDS = ("LN", "RMS")
THREADS = 1  # intra-op threads for the intervention computations (see `torch_threads`)
T = TypeVar("T")


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with `n` intra-op threads, then restore the previous count.

    The interventions are thousands of mid-sized ops; on the project's shared 2-core machines (load 4-7) two
    threads per process made them 16x slower than one (44 s vs 2.8 s for five neurons of the zoo model).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(fn: Callable[[], T]) -> Callable[[], T]:
    """`fn` run under `torch_threads(THREADS)` (wraps the claims' memoised computations)."""

    def run() -> T:
        with torch_threads(THREADS):
            return fn()

    return run


# --- final norm and readout ----------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in NORM_KINDS:
        raise ValueError(f"norm kind must be one of {NORM_KINDS}, got {kind!r}")


def centred(resid: Tensor, kind: str) -> Tensor:
    """The part of the residual the norm divides: mean-removed for LayerNorm, unchanged for RMSNorm."""
    _check_kind(kind)
    return resid - resid.mean(-1, keepdim=True) if kind == "LN" else resid


def norm_scale(resid: Tensor, kind: str, eps: float) -> Tensor:
    """The final norm's scale sqrt(mean(x_c²) + eps) (TransformerLens `ln_final.hook_scale`), shape [...]."""
    x = centred(resid, kind)
    return (x.pow(2).mean(-1) + eps).sqrt()


def readout_logits(resid: Tensor, W_U: Tensor, b_U: Tensor | None, kind: str, eps: float) -> Tensor:
    """Logits of a final residual: normalise(x) @ W_U + b_U (gain folded into W_U)."""
    x = centred(resid, kind)
    logits = blas.mm(x / norm_scale(resid, kind, eps).unsqueeze(-1), W_U)
    return logits + b_U if b_U is not None else logits


def entropy(logits: Tensor) -> Tensor:
    """Next-token entropy -Σ p log p in nats over the last axis."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def reciprocal_rank(logits: Tensor, targets: Tensor) -> Tensor:
    """1 / (1 + number of tokens whose logit is strictly larger than the target's) — the paper's 1/(rank + 1)."""
    target_logit = logits.gather(-1, targets.unsqueeze(-1))
    rank = (logits > target_logit).sum(-1)
    return 1.0 / (rank.to(logits.dtype) + 1.0)


def token_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy -log p(target) per position."""
    return -torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _vocab_metrics(logits: Tensor, targets: Tensor, with_rank: bool) -> dict[str, Tensor]:
    """Entropy, loss and (optionally) reciprocal rank with one exp pass (the cost of every intervention value)."""
    top = logits.amax(-1, keepdim=True)
    e = (logits - top).exp_()
    total = e.sum(-1)
    lse = total.log() + top.squeeze(-1)
    ent = lse - torch.einsum("...j,...j->...", e, logits) / total
    target_logit = logits.gather(-1, targets.unsqueeze(-1))
    out = {"entropy": ent, "loss": lse - target_logit.squeeze(-1)}
    if with_rank:
        out["rr"] = 1.0 / ((logits > target_logit).sum(-1, dtype=torch.int32).to(logits.dtype) + 1.0)
    return out


def readout_metrics(
    resid: Tensor,
    W_U: Tensor,
    b_U: Tensor | None,
    targets: Tensor,
    kind: str,
    eps: float,
    chunk: int = 256,
    with_rank: bool = True,
) -> dict[str, Tensor]:
    """Per-position final-norm scale, entropy, loss and reciprocal rank of a final residual stream.

    Args:
        resid: [n, d_model] final residual stream (the final norm's input).
        W_U: [d_model, d_vocab] unembedding (final norm gain folded in).
        b_U: [d_vocab] unembedding bias, or None.
        targets: [n] true next-token ids.
        kind: "LN" or "RMS".
        eps: the norm's epsilon.
        chunk: positions per block (bounds the [chunk, d_vocab] temporaries).
        with_rank: also compute the reciprocal rank (one more pass over the vocabulary).

    Returns:
        {"scale", "entropy", "loss", "rr" (if with_rank)}: each [n].
    """
    parts: dict[str, list[Tensor]] = {}
    for start in range(0, resid.shape[0], chunk):
        block = resid[start : start + chunk]
        logits = readout_logits(block, W_U, b_U, kind, eps)
        metrics = {
            "scale": norm_scale(block, kind, eps),
            **_vocab_metrics(logits, targets[start : start + chunk], with_rank),
        }
        for name, value in metrics.items():
            parts.setdefault(name, []).append(value)
    return {name: torch.cat(values) for name, values in parts.items()}


def shifted_readout_metrics(
    resid: Tensor,
    direction: Tensor,
    shifts: Tensor,
    W_U: Tensor,
    b_U: Tensor | None,
    targets: Tensor,
    kind: str,
    eps: float,
    chunk: int = 128,
    rank_rows: Sequence[int] | None = None,
) -> dict[str, Tensor]:
    """Readout metrics of resid + shifts[i, :, None] * direction for every row i, with one matmul in total.

    Fixing a final-layer neuron's activation to v changes only the final residual, by (v - a)·w_out. Before the
    norm the logits are affine in that shift: x_c' @ W_U = x_c @ W_U + δ·(w_c @ W_U), so the [n, d_vocab] product is
    computed once and each shift costs an elementwise pass (the expensive part is then the softmax itself).

    Args:
        resid: [n, d_model] final residual stream.
        direction: [d_model] the neuron's output weights w_out.
        shifts: [n_rows, n] the amount added along `direction` at each position, per row (value - activation).
        W_U: [d_model, d_vocab] unembedding (final norm gain folded in).
        b_U: [d_vocab] unembedding bias, or None.
        targets: [n] true next-token ids.
        kind: "LN" or "RMS".
        eps: the norm's epsilon.
        chunk: positions per block.
        rank_rows: rows for which the reciprocal rank is computed (None: all); other rows get NaN.

    Returns:
        {"scale", "entropy", "loss", "rr"}: each [n_rows, n].
    """
    n_rows, n = shifts.shape
    if n != resid.shape[0]:
        raise ValueError(f"shifts cover {n} positions, resid has {resid.shape[0]}")
    ranked = set(range(n_rows)) if rank_rows is None else set(rank_rows)
    x = centred(resid, kind)
    w = centred(direction, kind)
    u = w @ W_U  # [d_vocab]
    out = {
        k: torch.full((n_rows, n), math.nan, dtype=resid.dtype, device=resid.device)
        for k in ("scale", "entropy", "loss", "rr")
    }
    xx, xw, ww = x.pow(2).sum(-1), x @ w, w.pow(2).sum()
    d = resid.shape[-1]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        base = blas.mm(x[start:stop], W_U)  # [c, d_vocab]
        tgt = targets[start:stop]
        for row in range(n_rows):
            delta = shifts[row, start:stop]
            # ‖x_c + δ w_c‖² expanded: no [c, d_model] temporary per row
            scale = ((xx[start:stop] + 2 * delta * xw[start:stop] + delta.pow(2) * ww) / d + eps).sqrt()
            logits = torch.addcmul(base, delta.unsqueeze(-1), u.unsqueeze(0)).div_(scale.unsqueeze(-1))
            if b_U is not None:
                logits.add_(b_U)
            metrics = _vocab_metrics(logits, tgt, row in ranked)
            out["scale"][row, start:stop] = scale
            for name, value in metrics.items():
                out[name][row, start:stop] = value
    return out


# --- slopes and the W_U null space -------------------------------------------------------------------------------


def ols_slope(x: Tensor | np.ndarray, y: Tensor | np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis (y may be [..., n]); NaN when x has no spread."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    xc = xs - xs.mean()
    denom = float((xc**2).sum())
    if denom == 0.0:
        return np.full(ys.shape[:-1], math.nan)
    return ((ys - ys.mean(-1, keepdims=True)) * xc).sum(-1) / denom


def bottom_singular_basis(W_U: Tensor, fraction: float, kind: str) -> tuple[Tensor, Tensor]:
    """Orthonormal basis of the bottom `fraction` of W_U's singular subspace, as a map from the residual stream.

    For LayerNorm the residual is centred before the readout, so the map is W_U restricted to the centred
    subspace (dimension d_model - 1); the trivial all-ones direction (which LN removes) is never counted.
    k = ceil(fraction x dimension) left singular vectors with the smallest singular values.

    Args:
        W_U: [d_model, d_vocab] unembedding (gain folded in).
        fraction: share of the dimensions to keep (e.g. 0.05).
        kind: "LN" or "RMS".

    Returns:
        (basis [d_model, k] with orthonormal columns, singular values of the map in descending order).
    """
    _check_kind(kind)
    d = W_U.shape[0]
    W = W_U.detach().double()
    if kind == "LN":
        ones = torch.ones(d, 1, dtype=W.dtype) / math.sqrt(d)
        full, _, _ = torch.linalg.svd(torch.eye(d, dtype=W.dtype) - ones @ ones.T)
        embed = full[:, : d - 1]  # orthonormal basis of the centred subspace
    else:
        embed = torch.eye(d, dtype=W.dtype)
    U, S, _ = torch.linalg.svd(embed.T @ W, full_matrices=False)
    k = max(1, math.ceil(fraction * embed.shape[1]))
    return (embed @ U[:, -k:]).to(W_U.dtype), S.to(W_U.dtype)


def subspace_energy_fraction(vectors: Tensor, basis: Tensor) -> Tensor:
    """‖Bᵀv‖² / ‖v‖² for each row v of `vectors` [n, d] and orthonormal basis B [d, k] (NaN for zero rows)."""
    inside = (vectors @ basis).pow(2).sum(-1)
    total = vectors.pow(2).sum(-1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.full_like(total, math.nan))


# --- attention: GQA mapping, BOS heuristic, head output norms --------------------------------------------------


def kv_head_index(n_heads: int, n_kv_heads: int) -> Tensor:
    """For each query head, the key/value head it reads (grouped-query attention: consecutive groups).

    Llama/SmolLM2 (HF `repeat_kv`) repeat each kv head n_heads / n_kv_heads times in order, so query head h
    uses kv head h // (n_heads / n_kv_heads). Multi-head attention is the identity mapping.
    """
    if n_kv_heads <= 0 or n_heads % n_kv_heads:
        raise ValueError(f"{n_heads} query heads cannot be grouped over {n_kv_heads} kv heads")
    return torch.arange(n_heads) // (n_heads // n_kv_heads)


def bos_query_directions(W_Q: Tensor, k_bos: Tensor) -> Tensor:
    """W_Q[A, h] k_BOS[A, kv(h)] / √d_head for every attention layer A and query head h.

    Args:
        W_Q: [n_layers, n_heads, d_model, d_head].
        k_bos: [n_layers, n_kv_heads, d_head] key of the start token at position 0 (n_kv_heads may equal n_heads).

    Returns:
        [n_layers, n_heads, d_model]: a residual direction per head whose dot product with a (unit) vector written
        into the residual is that vector's contribution to the head's BOS attention score.
    """
    n_heads, d_head = W_Q.shape[1], W_Q.shape[-1]
    keys = k_bos[:, kv_head_index(n_heads, k_bos.shape[1])]  # [L, H, d_head]
    return torch.einsum("lhde,lhe->lhd", W_Q, keys) / math.sqrt(d_head)


def bos_heuristic(directions: Tensor, W_Q: Tensor, k_bos: Tensor) -> Tensor:
    """The heuristic h = ŵᵀ W_Q k_BOS / √d_head for every (MLP layer l, direction n, attention layer A, head h).

    Args:
        directions: [n_layers, n, d_model] vectors written by layer l's MLP (w_out rows, or random directions);
            they are unit-normalised here (the paper's ŵ_out).
        W_Q: [n_layers, n_heads, d_model, d_head].
        k_bos: [n_layers, n_kv_heads, d_head] key of the start token at position 0.

    Returns:
        [n_layers, n, n_layers, n_heads] scores, NaN where the head does not come after the MLP (A <= l).
    """
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    q = bos_query_directions(W_Q, k_bos)  # [L, H, d]
    scores = torch.einsum("lnd,ahd->lnah", unit, q)
    n_layers = directions.shape[0]
    later = torch.arange(n_layers).view(1, -1) > torch.arange(n_layers).view(-1, 1)  # [l, A]: A > l
    return scores.masked_fill(~later.view(n_layers, 1, n_layers, 1).to(scores.device), math.nan)


def head_output_norms(v: Tensor, W_O: Tensor) -> Tensor:
    """‖v_kv(h) W_O[h]‖ per position and query head: the norm a head writes when it attends fully to a position.

    Args:
        v: [..., n_kv_heads, d_head] value vectors of one layer.
        W_O: [n_heads, d_head, d_model] that layer's output weights.

    Returns:
        [..., n_heads] norms.
    """
    values = v[..., kv_head_index(W_O.shape[0], v.shape[-2]), :]  # [..., H, d_head]
    return torch.einsum("...he,hed->...hd", values, W_O).norm(dim=-1)


# --- statistics -----------------------------------------------------------------------------------------------


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over finite pairs; NaN with < 3 pairs or no spread."""
    a, b = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else math.nan


def upper_quantile(values: Tensor | np.ndarray, q: float) -> float:
    """The q-quantile (0-1) of the finite values (NaN if none), in float64."""
    x = np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    return float(np.quantile(x, q)) if len(x) else math.nan


def antipodal_counts(directions: Tensor, groups: Sequence[Tensor], threshold: float) -> tuple[int, int]:
    """(# pairs with cosine <= threshold, # pairs) over all unordered pairs within each group of row indices."""
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    hits = total = 0
    for idx in groups:
        m = len(idx)
        if m < 2:
            continue
        cos = unit[idx] @ unit[idx].T
        upper = torch.triu(torch.ones(m, m, dtype=torch.bool, device=cos.device), diagonal=1)
        hits += int((cos[upper] <= threshold).sum())
        total += m * (m - 1) // 2
    return hits, total


def all_pairs_antipodal_fraction(directions: Tensor, threshold: float, chunk: int = 2048) -> float:
    """Fraction of all unordered pairs of rows of `directions` [n, d] with cosine <= threshold."""
    n = directions.shape[0]
    if n < 2:
        return math.nan
    unit = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    hits = 0
    for start in range(0, n, chunk):
        cos = unit[start : start + chunk] @ unit.T  # [c, n]
        rows = torch.arange(start, min(start + chunk, n), device=cos.device).unsqueeze(1)
        later = torch.arange(n, device=cos.device).unsqueeze(0) > rows
        hits += int(((cos <= threshold) & later).sum())
    return hits / (n * (n - 1) // 2)
