"""Per-neuron weight statistics (S1, P1, M1): input bias, norms, L2 penalty, cos(w_in, w_out), W_U moments.

The definitions follow the authors' weights.py / utils.vector_moments (docs/catalogue.md §1.5): w_in is the column
W_in[l, :, n], w_out the row W_out[l, n, :]; l2_penalty = ‖w_in‖² + ‖w_out‖²; in_out_sim = cos(w_in, w_out);
vocab_* are the mean, (biased) variance, skew and Pearson kurtosis (mean of z⁴, Gaussian = 3) over the vocabulary
of cos(W_U[:, v], w_out). Pass the *processed* weights the claims use (folded LN, centred writing weights and
unembedding), as the paper does. Everything is vectorised over the neurons of a layer; the [neurons, vocab]
cosine matrix is built in row blocks so memory stays bounded for large vocabularies.

Gated MLPs (SwiGLU: SmolLM2, Llama): hook_post = silu(gate) * up with W_in = the up projection and W_gate = the
gate projection, no biases. There
  * input_bias is NaN: the paper's "input bias" shifts the pre-activation of the single nonlinearity, and these
    models have no bias (nor a single pre-activation: the up projection enters linearly);
  * "w_in" for w_in_norm, in_out_sim and l2_penalty is the **gate** column, because the gate decides whether the
    neuron fires (silu(gate) plays the role of GELU(pre)), like the GELU input in GPT-2;
  * the gate and up norms are reported separately (w_gate_norm, w_up_norm); both are NaN for ungated models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from engine import blas
from engine.moments import StreamingMoments

COLUMNS = (
    "layer",
    "neuron",
    "input_bias",
    "w_in_norm",
    "w_out_norm",
    "l2_penalty",
    "in_out_sim",
    "w_gate_norm",
    "w_up_norm",
    "vocab_mean",
    "vocab_var",
    "vocab_skew",
    "vocab_kurt",
)


def weight_statistics(
    W_in: Tensor | np.ndarray,
    b_in: Tensor | np.ndarray | None,
    W_out: Tensor | np.ndarray,
    W_U: Tensor | np.ndarray,
    W_gate: Tensor | np.ndarray | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    block_elements: int = 1 << 21,
) -> pd.DataFrame:
    """Per-neuron weight statistics, one row per neuron (layer-major).

    Args:
        W_in: [n_layers, d_model, d_mlp] input weights (the up projection for gated MLPs).
        b_in: [n_layers, d_mlp] input bias, or None (gated MLPs: must be None or all zero).
        W_out: [n_layers, d_mlp, d_model] output weights.
        W_U: [d_model, d_vocab] unembedding. Columns of zero norm (no direction) are left out of the vocab moments.
        W_gate: [n_layers, d_model, d_mlp] gate projection of a gated MLP, else None.
        dtype: computation dtype (float64 by default, so results do not depend on the input precision).
        block_elements: largest [vocab, neurons] cosine block held at once (small enough to stay in cache).

    Returns:
        DataFrame with the columns in `COLUMNS`. A neuron with a zero w_out (or zero w_in) gets NaN cosines and
        NaN vocab moments.

    Raises:
        ValueError: inconsistent shapes, or a nonzero b_in for a gated MLP.
    """
    w_in = torch.as_tensor(W_in)
    w_out = torch.as_tensor(W_out)
    w_u = torch.as_tensor(W_U)
    gate = None if W_gate is None else torch.as_tensor(W_gate)
    n_layers, d_model, d_mlp = w_in.shape
    if tuple(w_out.shape) != (n_layers, d_mlp, d_model):
        raise ValueError(f"W_out must be [{n_layers}, {d_mlp}, {d_model}], got {tuple(w_out.shape)}")
    if w_u.ndim != 2 or w_u.shape[0] != d_model:
        raise ValueError(f"W_U must be [{d_model}, d_vocab], got {tuple(w_u.shape)}")
    if gate is not None and tuple(gate.shape) != tuple(w_in.shape):
        raise ValueError(f"W_gate must match W_in {tuple(w_in.shape)}, got {tuple(gate.shape)}")
    bias = None if b_in is None else torch.as_tensor(b_in)
    if bias is not None and tuple(bias.shape) != (n_layers, d_mlp):
        raise ValueError(f"b_in must be [{n_layers}, {d_mlp}], got {tuple(bias.shape)}")
    if gate is not None and bias is not None and bool((bias != 0).any()):
        raise ValueError("a gated MLP with a nonzero input bias has no single 'input bias'; pass b_in=None")

    u = w_u.to(dtype)
    u_norm = u.norm(dim=0)
    u_t = (u[:, u_norm > 0] / u_norm[u_norm > 0]).T.contiguous()  # unit columns, as rows: [vocab, d_model]
    vocab_per_block = max(1, block_elements // max(d_mlp, 1))

    columns: dict[str, list[np.ndarray]] = {c: [] for c in COLUMNS}
    nan = np.full(d_mlp, np.nan)
    for layer in range(n_layers):
        up = w_in[layer].to(dtype)  # [d_model, d_mlp]
        act_in = up if gate is None else gate[layer].to(dtype)  # the column deciding whether the neuron fires
        out = w_out[layer].to(dtype)  # [d_mlp, d_model]
        in_norm = act_in.norm(dim=0)
        out_norm = out.norm(dim=1)
        cos = (act_in.T * out).sum(1) / (in_norm * out_norm)
        unit_out = out / out_norm.unsqueeze(1)  # NaN rows for zero w_out, which propagate to the moments
        mean, var, skew, kurt = _vocab_moments(unit_out, u_t, vocab_per_block)
        columns["layer"].append(np.full(d_mlp, layer))
        columns["neuron"].append(np.arange(d_mlp))
        columns["input_bias"].append(nan if gate is not None or bias is None else _np(bias[layer].to(dtype)))
        columns["w_in_norm"].append(_np(in_norm))
        columns["w_out_norm"].append(_np(out_norm))
        columns["l2_penalty"].append(_np(in_norm**2 + out_norm**2))
        columns["in_out_sim"].append(_np(torch.where((in_norm > 0) & (out_norm > 0), cos, torch.nan)))
        columns["w_gate_norm"].append(nan if gate is None else _np(in_norm))
        columns["w_up_norm"].append(nan if gate is None else _np(up.norm(dim=0)))
        for name, value in zip(
            ("vocab_mean", "vocab_var", "vocab_skew", "vocab_kurt"), (mean, var, skew, kurt), strict=True
        ):
            columns[name].append(value)
    return pd.DataFrame({c: np.concatenate(v) for c, v in columns.items()})


def _vocab_moments(
    unit_out: Tensor, unit_u_t: Tensor, vocab_per_block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Moments over the vocabulary of cos(W_U[:, v], w_out) for each row of unit_out (authors' vector_moments).

    The authors' arithmetic is mean, diff = c - mean, var = mean(diff²), z = diff / sd, mean(z³), mean(z⁴): the
    biased skew and the Pearson kurtosis that `engine.moments` computes for activations. So the cosines are made a
    vocabulary block at a time, [block, neurons], and streamed into `StreamingMoments` as if the vocabulary were
    tokens (exact merging across blocks, float64 totals). A block small enough to stay in cache made SmolLM2's
    layers 1.46 -> 1.22 s each (against a [neurons, whole vocabulary] block), and closer to float64.
    """
    acc = StreamingMoments(unit_out.shape[0], unit_out.device)
    for start in range(0, unit_u_t.shape[0], vocab_per_block):
        acc.update(blas.mm(unit_u_t[start : start + vocab_per_block], unit_out.T))
    result = acc.result()
    # a zero w_out has no direction: its (NaN) row would read as a constant neuron (variance 0) in StreamingMoments
    undefined = ~torch.isfinite(unit_out).all(1).cpu().numpy()
    mean, var, skew, kurt = (
        np.where(undefined, np.nan, x) for x in (result.mean, result.var, result.skew, result.kurt)
    )
    return mean, var, skew, kurt


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float64)
