"""From activations of several seeds to the paper's universality table (U1–U4).

`cross_model_correlations` streams a reference model's activations against each comparison model's through
`CrossCorrelation` (memory bounded by the chunk, not the token count) and returns, per comparison model, the
max-correlation result and the rotation-baseline maxima for both baselines: "gaussian" (the authors' row-normalised
Gaussian matrix, docs/catalogue.md §2.2) and "orthogonal" (a Haar rotation, the U2 robustness check, §2.3).
`universality_table` turns those into the paper's per-neuron columns with ϱ = excess_corr = mean_corr −
mean_baseline exactly (never max_corr − mean_baseline, the reference notebook's error, docs/catalogue.md §2.5);
`depth_specialisation` builds U4's layer-to-layer matrix; `universal_mask` applies ϱ > 0.5 with the
pre-registered top-2 % fallback of docs/catalogue.md §3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from engine.correlation import CorrelationResult, CrossCorrelation, gaussian_unit_rows, haar_orthogonal

BASELINES = ("gaussian", "orthogonal")
RULE_THRESHOLD = "threshold"  # universal = excess > threshold (the paper's rule)
RULE_TOP_FRACTION = "top_fraction"  # too few passed: the pre-registered top-fraction fallback
FALLBACK_TOP_FRACTION = 0.02  # the fallback's share of neurons (pre-registered for every claim that uses the rule)
FALLBACK_MIN_COUNT = 30  # fewest threshold passes for which the paper's threshold rule is used


@dataclass(frozen=True)
class ComparisonRun:
    """Correlation results of one reference model against its comparison models.

    Attributes:
        results: one `CorrelationResult` per comparison model, in the order given.
        baselines: baseline kind ("gaussian", "orthogonal") -> one [n_a] float64 tensor per comparison model.
        n_tokens: positions that entered the statistics (after the keep mask).
    """

    results: list[CorrelationResult]
    baselines: dict[str, list[Tensor]]
    n_tokens: int


def cross_model_correlations(
    reference: np.ndarray,
    comparisons: Sequence[np.ndarray],
    keep: np.ndarray | None,
    generator: torch.Generator,
    *,
    baselines: Sequence[str] = BASELINES,
    chunk_positions: int = 16384,
    device: str | torch.device = "cpu",
    precision: str = "float32",
) -> ComparisonRun:
    """Correlate every neuron of the reference model with every neuron of each comparison model, with baselines.

    Args:
        reference: [positions, n_layers, d_mlp] activations of model a (float16 from the activation store, may be
            an `np.memmap`; post-GELU `hook_post` per docs/catalogue.md §1.2).
        comparisons: the same positions for each comparison model, each [positions, n_layers_m, d_mlp_m].
        keep: [positions] bool, True where a position enters the statistics (e.g. `~excluded.reshape(-1)` to
            drop BOS/EOS/pad/newline); None keeps all.
        generator: seeded CPU generator for the rotations. Before streaming, two seeds per comparison model
            (gaussian, orthogonal, in that order) are drawn from it, so each baseline's matrices do not depend
            on which other baselines are requested.
        baselines: which of "gaussian", "orthogonal" to compute.
        chunk_positions: positions read and converted to float32 per step (memory is O(chunk x neurons)).
        device: where the accumulators live.
        precision: GEMM precision (`engine.correlation.PRECISIONS`; reduced ones on CUDA only).

    Returns:
        The per-model results and baseline maxima.

    Raises:
        ValueError: shapes that do not line up, an unknown baseline, or fewer than 3 kept positions.
    """
    if chunk_positions < 1:
        raise ValueError("chunk_positions must be positive")
    n_pos = reference.shape[0]
    if reference.ndim != 3:
        raise ValueError(f"reference must be [positions, layers, d_mlp], got {reference.shape}")
    for k, comp in enumerate(comparisons):
        if comp.ndim != 3 or comp.shape[0] != n_pos:
            raise ValueError(f"comparison {k} has shape {comp.shape}; expected [{n_pos}, layers, d_mlp]")
    if keep is not None:
        keep = np.asarray(keep, dtype=bool).reshape(-1)
        if keep.shape[0] != n_pos:
            raise ValueError(f"keep has {keep.shape[0]} entries for {n_pos} positions")
    acc = Comparisons(
        reference.shape[1] * reference.shape[2],
        [(comp.shape[1], comp.shape[2]) for comp in comparisons],
        generator,
        baselines=baselines,
        device=device,
        precision=precision,
    )
    for start in range(0, n_pos, chunk_positions):
        stop = min(start + chunk_positions, n_pos)
        rows = None if keep is None else keep[start:stop]
        acc.update(
            _chunk(reference, start, stop, rows, device), [_chunk(c, start, stop, rows, device) for c in comparisons]
        )
    return acc.finish()


class Comparisons:
    """Running correlation sums of one reference model against several comparison models, fed chunk by chunk.

    `cross_model_correlations` feeds it from stored activations and `engine.family` from a live forward pass;
    both therefore give the same numbers for the same tokens. Memory is one `CrossCorrelation` per comparison
    model (float64 [n_a, n_b] plus a float32 partial of the same size) and one shared set of chunk buffers.

    Args:
        n_a: neurons of the reference model (layers x d_mlp, layer-major).
        shapes: (layers, d_mlp) of each comparison model.
        generator: seeded CPU generator for the rotations; two seeds per comparison model (gaussian, orthogonal,
            in that order) are drawn from it here, so each baseline's matrices do not depend on which others are
            requested.
        baselines: which of "gaussian", "orthogonal" `finish` computes.
        device: where the accumulators live.
        precision: the GEMM precision of `CrossCorrelation` ("float32" anywhere; "tf32"/"bfloat16" on CUDA).
        accs: finished accumulators to use instead of new ones (the baseline seeds are drawn all the same).
    """

    def __init__(
        self,
        n_a: int,
        shapes: Sequence[tuple[int, int]],
        generator: torch.Generator,
        *,
        baselines: Sequence[str] = BASELINES,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        accs: Sequence[CrossCorrelation] | None = None,
    ) -> None:
        unknown = [b for b in baselines if b not in BASELINES]
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; known: {list(BASELINES)}")
        if not shapes:
            raise ValueError("need at least one comparison model")
        self.shapes = [tuple(shape) for shape in shapes]
        self.baselines = tuple(baselines)
        self.seeds = {
            (k, kind): int(torch.randint(0, 2**62, (1,), generator=generator))
            for k in range(len(shapes))
            for kind in BASELINES
        }
        if accs is not None:  # sums finished elsewhere (a rotated copy), one per comparison model
            if len(accs) != len(self.shapes):
                raise ValueError(f"{len(accs)} accumulators for {len(self.shapes)} comparison models")
            self.accs = list(accs)
            return
        self.accs = [CrossCorrelation(n_a, layers, d, device, precision) for layers, d in self.shapes]
        for acc in self.accs[1:]:
            acc.share_workspace(self.accs[0])

    def update(self, a: Tensor, bs: Sequence[Tensor]) -> None:
        """Add the same positions of the reference ([t, n_a]) and of each comparison model ([t, n_b])."""
        if a.shape[0] == 0:
            return
        for acc, b in zip(self.accs, bs, strict=True):
            acc.update(a, b)

    def finish(self) -> ComparisonRun:
        """Max correlations and baseline maxima per comparison model."""
        for acc in self.accs:
            acc.release_buffers()
        results = []
        out: dict[str, list[Tensor]] = {kind: [] for kind in self.baselines}
        for k, (acc, (layers, d)) in enumerate(zip(self.accs, self.shapes, strict=True)):
            results.append(acc.max_correlation())
            for kind in self.baselines:
                g = torch.Generator().manual_seed(self.seeds[(k, kind)])
                rot = gaussian_unit_rows(layers, d, g) if kind == "gaussian" else haar_orthogonal(layers, d, g)
                out[kind].append(acc.baseline_max_correlation(rot))
        return ComparisonRun(results, out, self.accs[0].n)


def _chunk(acts: np.ndarray, start: int, stop: int, rows: np.ndarray | None, device: str | torch.device) -> Tensor:
    block = np.asarray(acts[start:stop])
    if rows is not None:
        block = block[rows]
    t = torch.from_numpy(np.ascontiguousarray(block)).reshape(block.shape[0], -1)
    return t.to(device=device, dtype=torch.float32)


def universality_table(
    results: list[CorrelationResult],
    baselines: list[Tensor],
    n_layers: int,
    d_mlp: int,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The paper's per-neuron universality columns for the reference model.

    Args:
        results: one `CorrelationResult` per comparison model.
        baselines: the matching [n_layers * d_mlp] baseline maxima (same order as `results`).
        n_layers: layers of the reference model.
        d_mlp: neurons per layer of the reference model.
        names: suffixes of the best_layer columns (default "0", "1", ... in comparison-model order).

    Returns:
        One row per reference neuron (layer-major): layer, neuron, max_corr, mean_corr, min_corr, max_baseline,
        mean_baseline, min_baseline, excess_corr (= mean_corr − mean_baseline, computed from those two
        columns so the identity holds exactly), and best_layer_<name> per comparison model (layer of the
        argmax partner, for U4).
    """
    if not results or len(results) != len(baselines):
        raise ValueError(f"need one baseline per result and at least one; got {len(results)} and {len(baselines)}")
    names = [str(k) for k in range(len(results))] if names is None else [str(n) for n in names]
    if len(names) != len(results):
        raise ValueError("one name per comparison model")
    n = n_layers * d_mlp
    corr = np.stack([_numpy(r.max_corr) for r in results], axis=1)
    base = np.stack([_numpy(b) for b in baselines], axis=1)
    if corr.shape[0] != n or base.shape[0] != n:
        raise ValueError(f"results cover {corr.shape[0]} and baselines {base.shape[0]} neurons; expected {n}")
    table = pd.DataFrame(
        {
            "layer": np.repeat(np.arange(n_layers), d_mlp),
            "neuron": np.tile(np.arange(d_mlp), n_layers),
            "max_corr": corr.max(axis=1),
            "mean_corr": corr.mean(axis=1),
            "min_corr": corr.min(axis=1),
            "max_baseline": base.max(axis=1),
            "mean_baseline": base.mean(axis=1),
            "min_baseline": base.min(axis=1),
        }
    )
    table["excess_corr"] = table["mean_corr"] - table["mean_baseline"]
    for name, r in zip(names, results, strict=True):
        table[f"best_layer_{name}"] = _numpy(r.argmax_layer).astype(np.int64)
    return table


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def depth_specialisation(best_layers: list[np.ndarray], n_layers_a: int, n_layers_b: int) -> np.ndarray:
    """U4: P[l, l'] = fraction of layer-l neurons of A whose best match is in layer l', averaged over models.

    Args:
        best_layers: per comparison model, the [n_layers_a * d_mlp_a] layer of each neuron's argmax partner
            (layer-major neuron order, e.g. a `best_layer_<k>` column).
        n_layers_a: layers of the reference model.
        n_layers_b: layers of the comparison models.

    Returns:
        [n_layers_a, n_layers_b] float64; every row sums to 1.
    """
    if not best_layers:
        raise ValueError("need at least one comparison model")
    p = np.zeros((n_layers_a, n_layers_b))
    for best in best_layers:
        best = np.asarray(best).astype(np.int64).reshape(-1)
        if best.size % n_layers_a:
            raise ValueError(f"{best.size} neurons do not split into {n_layers_a} layers")
        if best.size and (best.min() < 0 or best.max() >= n_layers_b):
            raise ValueError(f"best layers must lie in [0, {n_layers_b})")
        d = best.size // n_layers_a
        layer_a = np.repeat(np.arange(n_layers_a), d)
        counts = np.bincount(layer_a * n_layers_b + best, minlength=n_layers_a * n_layers_b)
        p += counts.reshape(n_layers_a, n_layers_b) / d
    return p / len(best_layers)


def universal_mask(
    excess: np.ndarray,
    threshold: float = 0.5,
    fallback_top_frac: float = FALLBACK_TOP_FRACTION,
    min_count: int = FALLBACK_MIN_COUNT,
) -> tuple[np.ndarray, str]:
    """Which neurons count as universal (docs/catalogue.md §3).

    The paper's rule is excess > threshold. When fewer than `min_count` neurons pass it (tiny models), the
    pre-registered fallback takes the top `fallback_top_frac` by excess instead: ceil(frac × n) neurons of the
    non-NaN ones, ties at the cut broken by the lower index. NaN excess is never universal.

    Args:
        excess: [n_neurons] ϱ values.
        threshold: the paper's 0.5.
        fallback_top_frac: fraction taken by the fallback.
        min_count: fewest threshold passes for which the threshold rule is used.

    Returns:
        (bool mask [n_neurons], RULE_THRESHOLD or RULE_TOP_FRACTION).
    """
    excess = np.asarray(excess, dtype=np.float64).reshape(-1)
    valid = ~np.isnan(excess)
    passed = valid & (excess > threshold)
    if int(passed.sum()) >= min_count:
        return passed, RULE_THRESHOLD
    k = min(math.ceil(fallback_top_frac * int(valid.sum())), int(valid.sum()))
    order = np.lexsort((-excess, ~valid))  # valid first, then descending excess; stable, so ties keep index order
    mask = np.zeros(excess.shape[0], dtype=bool)
    mask[order[:k]] = True
    return mask, RULE_TOP_FRACTION
