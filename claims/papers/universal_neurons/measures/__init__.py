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
from engine.universality import FALLBACK_MIN_COUNT, FALLBACK_TOP_FRACTION
from fixtures.activations import MLP_POST_RAW, MLP_PRE_MOMENTS
from fixtures.models import ModelRef
from fixtures.stream import activations_code_fingerprint
from fixtures.workbench import TokenisationMismatch, require_same_tokens

UNIVERSALITY_VERSION = 2  # 2: U2's rotated copy is exact algebra on the first pair's sums, not rounded to float16
# The universal-neuron rule's fallback (engine/universality.py) as criterion thresholds, so every claim that picks
# a universal set pre-registers the same fallback and its changelog moves with it.
FALLBACK = {"fallback_top_frac": FALLBACK_TOP_FRACTION, "fallback_min_count": FALLBACK_MIN_COUNT}


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
    """The family's universality on a dataset (default: the row's), computed once and memoised on disk.

    Two routes give the same numbers in float32 (float16-rounded activations into the same running sums; equal to
    ~1e-6, tests/unit/engine/test_family.py): when other selected claims store these models' raw activations
    anyway, they are read back (one pass per model); otherwise one streaming family pass computes the sums and
    nothing whose size grows with the token count is kept. In float32 the disk memo is shared by both routes.
    """
    family = ctx.family
    dataset = dataset or ctx.dataset
    if family is None or dataset is None:
        raise NotApplicable(f"precondition: {ctx.claim.id} needs a family of >= 2 seeds and a dataset")
    bench = ctx.workbench
    members, controls = list(family.members), list(family.controls)
    refs = [*members, *controls]
    # a run that stores these models' raw activations anyway (other claims need them) reads them back; otherwise the
    # streaming pass computes the sums and keeps no activations
    stored = bench.stores_raw(refs, dataset)
    precision = bench.settings.gemm_precision
    inputs = {
        "members": [bench.sample_key(m, dataset) for m in members],
        "controls": [bench.sample_key(m, dataset) for m in controls],
        "seed": bench.settings.seed,
        "activations_code": activations_code_fingerprint(),
        "precision": precision,
        # in float32 both routes give the same numbers (~1e-6) and share the memo; in reduced precision their
        # different chunking rounds differently (~1e-4), so each route keeps its own
        "route": "any" if precision == "float32" else ("stored" if stored else "stream"),
    }
    seed = bench.settings.seed
    labels = [m.member or str(i) for i, m in enumerate(members[1:], 1)]
    control_labels = [c.member or "c" for c in controls[1:]]
    label = f"cross-seed correlations of {family.name} on {dataset} ({len(members)} seeds, {len(controls)} untrained)"

    def from_stored() -> Universality:
        acts = [bench.activations(m, dataset, (MLP_POST_RAW,)) for m in refs]
        require_same_tokens([r.name for r in refs], [a.tokens for a in acts])
        from engine.family import family_from_arrays

        raws = [a.raw(MLP_POST_RAW) for a in acts]
        mraws, craws = raws[: len(members)], raws[len(members) :]
        run = family_from_arrays(
            mraws,
            craws if len(craws) >= 2 else [],  # one control has nothing to be compared with
            ~acts[0].excluded.reshape(-1),
            seed,
            device=bench.settings.device,
            precision=precision,
        )
        shapes = [(r.shape[1], r.shape[2]) for r in raws]
        return _assemble(run, shapes, len(members), labels, control_labels)

    def streamed() -> Universality:
        from engine.family import FamilyCorrelations

        paired = controls if len(controls) >= 2 else []  # one control has nothing to be compared with
        state: dict[str, Any] = {}

        def consumer_for(models: list[Any]) -> Any:
            state["shapes"] = [(m.n_layers, m.d_mlp) for m in models]
            state["sums"] = FamilyCorrelations(
                state["shapes"][: len(members)],
                state["shapes"][len(members) :],
                seed,
                device=bench.settings.device,
                precision=precision,
            )
            return state["sums"].update

        bench.family_pass(members, paired, dataset, consumer_for)
        return _assemble(state["sums"].finish(), state["shapes"], len(members), labels, control_labels)

    compute = from_stored if stored else streamed
    try:
        return bench.derived("universality", UNIVERSALITY_VERSION, inputs, compute, label=label)
    except TokenisationMismatch as exc:
        raise NotApplicable(f"precondition: one tokenizer across the family; {exc}") from exc


def _assemble(
    run: Any, shapes: list[tuple[int, int]], n_members: int, labels: list[str], control_labels: list[str]
) -> Universality:
    """The claims' view of a finished family run (`engine.family.FamilyRun`); `shapes` are (layers, d_mlp)."""
    from engine.universality import depth_specialisation

    (n_layers, d_mlp), (layers_b, _) = shapes[0], shapes[1]
    table = _table(run.members, labels, n_layers, d_mlp)
    depth = depth_specialisation([r.argmax_layer.numpy() for r in run.members.results], n_layers, layers_b)
    control = None
    if run.controls is not None:
        c_layers, c_d = shapes[n_members]
        control = _table(run.controls, control_labels, c_layers, c_d)
    rotated = run.rotated
    return Universality(
        table=table,
        depth=depth,
        control=control,
        rotated_numerator_excess=(rotated.results[0].max_corr - rotated.baselines["gaussian"][0]).numpy(),
        single_comparison_excess=table[f"corr_{labels[0]}"].to_numpy() - table[f"baseline_{labels[0]}"].to_numpy(),
        n_tokens=run.members.n_tokens,
        comparisons=tuple(labels),
    )


def _table(run: Any, labels: list[str], n_layers: int, d_mlp: int) -> pd.DataFrame:
    """The paper's table (engine/universality.py) plus the orthogonal baseline and per-model columns."""
    from engine.universality import universality_table

    table = universality_table(run.results, run.baselines["gaussian"], n_layers, d_mlp, names=labels)
    orth = np.stack([b.numpy() for b in run.baselines["orthogonal"]])
    table["mean_baseline_orth"] = orth.mean(0)
    table["excess_corr_orth"] = table.mean_corr - table.mean_baseline_orth
    for label, result, base in zip(labels, run.results, run.baselines["gaussian"], strict=True):
        table[f"corr_{label}"] = result.max_corr.numpy()
        table[f"baseline_{label}"] = base.numpy()
    return table


# --- weights and moments ---------------------------------------------------------------------------------


def weight_table(ctx: ClaimContext, ref: ModelRef | None = None) -> pd.DataFrame:
    """Per-neuron weight statistics of a model (folded/centred weights, the paper's processing)."""
    ref = ref or ctx.model
    bench = ctx.workbench

    def compute() -> pd.DataFrame:
        import torch

        from engine.weights import weight_statistics

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

    # the weights are read from the model as loaded, in the run's dtype
    inputs = {"model": ref.identity(), "processing": "compat", "dtype": bench.settings.dtype}
    return bench.derived("weights", 1, inputs, compute)


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
