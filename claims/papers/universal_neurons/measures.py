"""Measurements shared by several claims of the paper, each computed once per (model or family, dataset).

`universality()` is the paper's §4.1 pipeline on a family: post-activation correlations of the reference
member against every other member over the same tokens (BOS/EOS/pad and newline excluded), the Gaussian and
the Haar-orthogonal rotation baselines, and the same pipeline on the untrained controls. `weight_table()` is
the per-neuron weight statistics table, `activation_moments()` the pre-activation moments. All are memoised
per session and on disk (keyed by the cache keys of their inputs and the analysis version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from claims.context import ClaimContext, NotApplicable
from fixtures.activations import MLP_POST_RAW, MLP_PRE_MOMENTS
from fixtures.models import ModelRef

UNIVERSALITY_VERSION = 1
CHUNK = 8192


@dataclass(frozen=True)
class Universality:
    """Cross-seed correlation results for one family on one dataset.

    Attributes:
        table: one row per neuron of the reference model: layer, neuron, max/mean/min_corr over comparison
            models, max/mean/min_baseline (Gaussian rotation, the paper's), excess_corr (= mean_corr -
            mean_baseline), mean_baseline_orth / excess_corr_orth (Haar rotation), and per comparison member corr_<m>,
            baseline_<m>, best_layer_<m>.
        depth: [L, L] fraction of layer-l neurons whose best match is in layer l' (averaged over comparisons).
        control: the same table for the untrained controls (None when the family has none).
        rotated_numerator_excess: excess of a rotated copy of the reference against the first comparison model
            (the rotation-vs-rotation control of U2), and `single_comparison_excess` its trained counterpart.
        n_tokens: positions the correlations rest on (after exclusions).
        comparisons: member labels compared against the reference.
    """

    table: pd.DataFrame
    depth: np.ndarray
    control: pd.DataFrame | None
    rotated_numerator_excess: np.ndarray
    single_comparison_excess: np.ndarray
    n_tokens: int
    comparisons: tuple[str, ...]


def universality(ctx: ClaimContext, dataset: str | None = None) -> Universality:
    """The family's universality on a dataset (default: the row's), computed once and memoised on disk."""
    family = ctx.family
    dataset = dataset or ctx.dataset
    if family is None or dataset is None:
        raise NotApplicable(f"{ctx.claim.id} needs a family of seeds and a dataset")
    bench = ctx.workbench
    members = family.members
    acts = [bench.activations(m, dataset, (MLP_POST_RAW,)) for m in members]
    controls = [bench.activations(m, dataset, (MLP_POST_RAW,)) for m in family.controls]
    for other, ref in ((a, m) for a, m in zip(acts[1:] + controls, members[1:] + family.controls, strict=True)):
        if not np.array_equal(other.tokens, acts[0].tokens):
            raise NotApplicable(f"{ref.name} tokenises the text differently from {members[0].name}: not one family")
    inputs = {
        "members": [a.key for a in acts],
        "controls": [a.key for a in controls],
        "seed": bench.settings.seed,
    }

    def compute() -> Universality:
        keep = ~acts[0].excluded.reshape(-1)
        raws = [a.raw(MLP_POST_RAW) for a in acts]
        n_layers, d_mlp = raws[0].shape[1], raws[0].shape[2]
        pairs = _correlate(raws[0], raws[1:], keep, bench.settings.seed)
        table = _table(pairs, [m.member or str(i) for i, m in enumerate(members[1:], 1)], n_layers, d_mlp)
        depth = np.mean([_depth(p["best_layer"], n_layers, n_layers) for p in pairs], axis=0)
        control = None
        if len(controls) >= 2:
            craws = [c.raw(MLP_POST_RAW) for c in controls]
            cpairs = _correlate(craws[0], craws[1:], keep, bench.settings.seed)
            control = _table(cpairs, [c.member or "c" for c in family.controls[1:]], n_layers, d_mlp)
        rotated = _correlate(raws[0], raws[1:2], keep, bench.settings.seed + 1, rotate_reference=True)[0]
        return Universality(
            table=table,
            depth=depth,
            control=control,
            rotated_numerator_excess=rotated["max_corr"] - rotated["baseline"],
            single_comparison_excess=pairs[0]["max_corr"] - pairs[0]["baseline"],
            n_tokens=int(keep.sum()),
            comparisons=tuple(m.member or "" for m in members[1:]),
        )

    return bench.derived("universality", UNIVERSALITY_VERSION, inputs, compute)


def _correlate(
    ref: np.ndarray, others: list[np.ndarray], keep: np.ndarray, seed: int, rotate_reference: bool = False
) -> list[dict[str, np.ndarray]]:
    """Reference vs each comparison model, streamed over kept positions in chunks (memory bounded by CHUNK)."""
    import torch

    from claims.lib.correlation import CrossCorrelation, gaussian_unit_rows, haar_orthogonal

    n_layers, d = ref.shape[1], ref.shape[2]
    gen = torch.Generator().manual_seed(seed)
    ref_rotation = haar_orthogonal(n_layers, d, gen).float() if rotate_reference else None
    accs = [CrossCorrelation(n_layers * d, o.shape[1], o.shape[2]) for o in others]
    rows = np.flatnonzero(keep)
    for start in range(0, len(rows), CHUNK):
        idx = rows[start : start + CHUNK]
        a = torch.from_numpy(np.asarray(ref[idx], dtype=np.float32))
        if ref_rotation is not None:
            a = torch.einsum("tld,lkd->tlk", a, ref_rotation)
        a = a.reshape(len(idx), -1)
        for acc, other in zip(accs, others, strict=True):
            acc.update(a, torch.from_numpy(np.asarray(other[idx], dtype=np.float32)).reshape(len(idx), -1))
    out = []
    for k, acc in enumerate(accs):
        best = acc.max_correlation()
        g = torch.Generator().manual_seed(seed * 1000 + k)
        out.append(
            {
                "max_corr": best.max_corr.numpy(),
                "best_layer": best.argmax_layer.numpy(),
                "baseline": acc.baseline_max_correlation(gaussian_unit_rows(acc.layers_b, acc.d_b, g)).numpy(),
                "baseline_orth": acc.baseline_max_correlation(haar_orthogonal(acc.layers_b, acc.d_b, g)).numpy(),
            }
        )
    return out


def _table(pairs: list[dict[str, np.ndarray]], labels: list[str], n_layers: int, d_mlp: int) -> pd.DataFrame:
    corr = np.stack([p["max_corr"] for p in pairs])
    base = np.stack([p["baseline"] for p in pairs])
    orth = np.stack([p["baseline_orth"] for p in pairs])
    frame = pd.DataFrame(
        {
            "layer": np.repeat(np.arange(n_layers), d_mlp),
            "neuron": np.tile(np.arange(d_mlp), n_layers),
            "max_corr": corr.max(0),
            "mean_corr": corr.mean(0),
            "min_corr": corr.min(0),
            "max_baseline": base.max(0),
            "mean_baseline": base.mean(0),
            "min_baseline": base.min(0),
            "mean_baseline_orth": orth.mean(0),
        }
    )
    frame["excess_corr"] = frame.mean_corr - frame.mean_baseline
    frame["excess_corr_orth"] = frame.mean_corr - frame.mean_baseline_orth
    for label, p in zip(labels, pairs, strict=True):
        frame[f"corr_{label}"] = p["max_corr"]
        frame[f"baseline_{label}"] = p["baseline"]
        frame[f"best_layer_{label}"] = p["best_layer"]
    return frame


def _depth(best_layer: np.ndarray, layers_a: int, layers_b: int) -> np.ndarray:
    source = np.repeat(np.arange(layers_a), len(best_layer) // layers_a)
    counts = np.zeros((layers_a, layers_b))
    np.add.at(counts, (source, best_layer), 1)
    return counts / counts.sum(1, keepdims=True)


# --- universal set -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UniversalSet:
    """Which neurons count as universal, and by which pre-registered rule."""

    mask: np.ndarray
    rule: str
    threshold: float


def universal_set(excess: np.ndarray, threshold: float, fallback_top_frac: float, min_count: int) -> UniversalSet:
    """ϱ > threshold; if fewer than `min_count` pass, the pre-registered fallback: the top `fallback_top_frac`."""
    mask = excess > threshold
    if mask.sum() >= min_count:
        return UniversalSet(mask, f"excess > {threshold:g}", threshold)
    k = max(1, int(round(fallback_top_frac * len(excess))))
    cut = np.sort(excess)[-k]
    return UniversalSet(excess >= cut, f"top {fallback_top_frac:.0%} by excess (fewer than {min_count} above {threshold:g})", float(cut))


# --- weights and moments ---------------------------------------------------------------------------------


def weight_table(ctx: ClaimContext, ref: ModelRef | None = None) -> pd.DataFrame:
    """Per-neuron weight statistics of a model (folded/centred weights, the paper's processing)."""
    ref = ref or ctx.model
    bench = ctx.workbench

    def compute() -> pd.DataFrame:
        import torch

        from claims.lib.weights import weight_statistics

        model = bench.model(ref)
        b = model.bridge
        return weight_statistics(
            dtype=torch.float32,  # cosines need no float64; the vocabulary moments are accumulated per row
            W_in=b.W_in.detach().float(),
            b_in=_maybe(lambda: b.b_in.detach().float()),
            W_out=b.W_out.detach().float(),
            W_U=b.W_U.detach().float(),
            W_gate=_maybe(lambda: b.W_gate.detach().float()) if model.gated else None,
        )

    return bench.derived("weights", 1, {"model": ref.identity(), "processing": "compat"}, compute)


def _maybe(get: Any) -> Any:
    try:
        return get()
    except (AttributeError, RuntimeError):
        return None


def activation_moments(ctx: ClaimContext, ref: ModelRef | None = None, subset: str = "no_bos") -> pd.DataFrame:
    """Pre-activation moments per neuron (mean, var, skew, Pearson kurtosis, activation frequency)."""
    acts = ctx.activations(ref, (MLP_PRE_MOMENTS,))
    stats = acts.moments(MLP_PRE_MOMENTS, subset)
    n_layers, d = stats["mean"].shape
    return pd.DataFrame(
        {
            "layer": np.repeat(np.arange(n_layers), d),
            "neuron": np.tile(np.arange(d), n_layers),
            **{k: stats[k].reshape(-1) for k in ("mean", "var", "skew", "kurt", "freq")},
        }
    )
