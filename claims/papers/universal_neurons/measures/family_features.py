"""The per-neuron tables the neuron families (F1-F7, measures/families.py) read, each computed once and cached.

Feature VR of every neuron, the tagger's labels and their VR, each position's speech, and F4's position MI with
its shuffled nulls.

Measurement choices, fixed before any run:

* Activations are the cached post-activations (`hook_post`, float16). The authors applied exact GELU to float16
  pre-activations even for `gelu_new` models; the two differ by < 1e-3 and VR is a ratio of variances.
* VR is computed for every neuron of a model (one [positions, d_mlp] layer at a time, so memory stays at one
  layer) and stored with `workbench.derived`, so the families share one computation per model and dataset.
* F5's labels come from spaCy's `en_core_web_sm` 3.8.0 (fixtures/tagger.py; the paper used `en_core_web_trf`, which
  is not on PyPI).
* F6's speech of every position is the token sample's own document index (fixtures/tokens.py draws each sample
  across many speeches).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.families import Subject, vocabulary
from engine import features as F
from engine.family_stats import layer_matched_sample, position_mi_all, read_columns, testable_labels
from fixtures.activations import MLP_POST_RAW
from fixtures.models import ModelRef

VR_VERSION = 1
POSITION_CANDIDATES = 32  # F4: shuffled nulls are drawn for at most this many universal neurons per group
POSITION_SAMPLE = 256  # F4: first-half universal neurons tested for the share (a seeded sample beyond this many)
SYNTAX_VERSION = 1


@dataclass(frozen=True)
class FeatureVR:
    """VR of every neuron of one model for every feature, on the kept positions of one dataset sample.

    Attributes:
        names, kinds: the features (engine/features.py), current token first, then `prev_` versions.
        vr: [n_layers * d_mlp, features] float32, neurons layer-major.
        positives: [features] kept positions where the feature is True.
        n_positions: kept positions.
        n_layers, d_mlp: the model's shape.
        unigram_min_count: the unigram count rule that applied to this sample.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    vr: np.ndarray
    positives: np.ndarray
    n_positions: int
    n_layers: int
    d_mlp: int
    unigram_min_count: int

    @property
    def layer(self) -> np.ndarray:
        """Layer of every neuron (layer-major order)."""
        return np.repeat(np.arange(self.n_layers), self.d_mlp)


def position_features(ctx: ClaimContext) -> F.PositionFeatures:
    """Current- and previous-token features of the row's sample (the same tokens for every family member)."""
    acts = ctx.activations(ctx.model, (MLP_POST_RAW,))

    def compute() -> F.PositionFeatures:
        strings, special = vocabulary(ctx)
        keep = F.kept_positions(acts.tokens, special)
        counts = F.token_counts(acts.tokens, keep, len(strings))
        vocab = F.vocab_features(strings, counts, special, F.unigram_min_count(int(keep.sum())))
        return F.position_features(acts.tokens, vocab, keep)

    return ctx.workbench.memo(("family-features", acts.key, ctx.model.identity()), compute)


def feature_vr(ctx: ClaimContext, ref: ModelRef, neurons: np.ndarray | None = None) -> FeatureVR:
    """VR of the neurons of `ref` for every feature on the row's dataset (computed once, cached on disk).

    Args:
        ctx: the row.
        ref: the model (the family's reference or its untrained control).
        neurons: layer-major indices to compute (rows of the others are NaN); None computes every neuron.
    """
    acts = ctx.activations(ref, (MLP_POST_RAW,))
    wanted = None if neurons is None else np.unique(np.asarray(neurons, dtype=np.int64))
    inputs = {
        "activations": acts.key,
        "vocabulary": ctx.model.identity(),
        "rule": [F.UNIGRAM_RATE, F.UNIGRAM_MIN_COUNT, F.UNIGRAM_MIN_IDS, sorted(F.TOKEN_PREDICATES)],
        "neurons": "all" if wanted is None else wanted.tolist(),
    }

    def compute() -> FeatureVR:
        from engine.variance_reduction import variance_reduction

        feats = position_features(ctx)
        raw = acts.raw(MLP_POST_RAW)
        _, n_layers, d_mlp = raw.shape
        rows = np.arange(n_layers * d_mlp) if wanted is None else wanted
        vr = np.full((n_layers * d_mlp, len(feats.names)), np.nan, dtype=np.float32)
        for layer in np.unique(rows // d_mlp):
            idx = rows[rows // d_mlp == layer]
            v = np.asarray(raw[:, int(layer), :])[feats.keep][:, idx % d_mlp].astype(np.float32)
            vr[idx] = variance_reduction(v, feats.labels, chunk=8192)
        return FeatureVR(
            names=feats.names,
            kinds=feats.kinds,
            vr=vr,
            positives=feats.labels.sum(0).astype(np.int64),
            n_positions=int(feats.keep.sum()),
            n_layers=n_layers,
            d_mlp=d_mlp,
            unigram_min_count=_unigram_count(feats),
        )

    return ctx.workbench.derived("family-vr", VR_VERSION, inputs, compute)


def control_vr(ctx: ClaimContext, control: Subject) -> FeatureVR:
    """VR of the untrained control, for its universal neurons and F7's first layer-matched sample only.

    Every family reads only those rows of the control, so the control costs a few percent of the trained model.
    """
    d_mlp = ctx.activations(control.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW).shape[2]
    layer = np.arange(len(control.universal)) // d_mlp
    sample = layer_matched_sample(control.universal, layer, np.random.default_rng(ctx.workbench.settings.seed))
    return feature_vr(ctx, control.ref, np.flatnonzero(control.universal | sample))


def _unigram_count(feats: F.PositionFeatures) -> int:
    return F.unigram_min_count(int(feats.keep.sum()))


@dataclass(frozen=True)
class SyntaxVR:
    """VR of some neurons of one model for the tagger's labels of the row's sample (fixtures/tagger.py).

    Attributes:
        names, kinds: the labels (`pos_NOUN`, `dep_nsubj`, `morph_Number=Plur`) and their kinds.
        neurons: the layer-major neuron indices measured (rows of `vr`).
        vr: [neurons, labels] float32; NaN for labels too rare or too common to test.
        positives: [labels] kept positions holding the label.
        n_positions: kept positions.
        tagger: the pipeline that made the labels.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    neurons: np.ndarray
    vr: np.ndarray
    positives: np.ndarray
    n_positions: int
    tagger: str

    def tested(self, kinds: Sequence[str]) -> list[str]:
        """The labels of `kinds` that were tested on this sample (`testable_labels`), sorted."""
        ok = testable_labels(self.positives, self.n_positions)
        return sorted(n for n, k, t in zip(self.names, self.kinds, ok, strict=True) if k in kinds and t)

    def best(self, kinds: Sequence[str], n_neurons: int) -> tuple[np.ndarray, np.ndarray]:
        """Per neuron of the model (0 where not measured), the best VR over testable labels of `kinds`, its label."""
        cols = np.flatnonzero(np.isin(np.asarray(self.kinds), list(kinds)))
        best = np.zeros(n_neurons)
        label = np.full(n_neurons, -1)
        if len(cols) == 0 or len(self.neurons) == 0:
            return best, label
        sub = np.nan_to_num(self.vr[:, cols], nan=-np.inf)
        arg = sub.argmax(1)
        value = sub[np.arange(len(arg)), arg]
        ok = np.isfinite(value)
        best[self.neurons[ok]] = value[ok]
        label[self.neurons[ok]] = cols[arg[ok]]
        return best, label


def syntax_tags(ctx: ClaimContext) -> Any:
    """The tagger's labels of every position of the row's sample (the same tokens for every family member)."""
    from fixtures.tagger import TAGGER_WHEEL, tag_tokens

    acts = ctx.activations(ctx.model, (MLP_POST_RAW,))

    def compute() -> Any:
        strings, special = vocabulary(ctx)
        return tag_tokens(acts.tokens, strings, special)

    inputs = {"tokens": acts.key, "vocabulary": ctx.model.identity(), "tagger": TAGGER_WHEEL.sha256}
    return ctx.workbench.derived("syntax-tags", SYNTAX_VERSION, inputs, compute, code=tag_tokens)


def syntax_vr(ctx: ClaimContext, ref: ModelRef, neurons: np.ndarray) -> SyntaxVR:
    """VR of `neurons` of `ref` for the tagger's labels on the row's sample, computed once and cached on disk.

    Only `testable_labels` are measured; other labels' VR is NaN.
    """
    acts = ctx.activations(ref, (MLP_POST_RAW,))
    wanted = np.unique(np.asarray(neurons, dtype=np.int64))
    inputs = {"activations": acts.key, "vocabulary": ctx.model.identity(), "neurons": wanted.tolist()}

    def compute() -> SyntaxVR:
        from engine.variance_reduction import variance_reduction

        tags = syntax_tags(ctx)
        _, special = vocabulary(ctx)
        keep = F.kept_positions(acts.tokens, special).reshape(-1)
        labels = tags.labels[keep]
        n = int(keep.sum())
        positives = labels.sum(0).astype(np.int64)
        raw = acts.raw(MLP_POST_RAW)
        d_mlp = raw.shape[2]
        vr = np.full((len(wanted), len(tags.names)), np.nan, dtype=np.float32)
        cols = np.flatnonzero(testable_labels(positives, n))
        for layer in np.unique(wanted // d_mlp):
            rows = np.flatnonzero(wanted // d_mlp == layer)
            v = np.asarray(raw[:, int(layer), :])[keep][:, wanted[rows] % d_mlp].astype(np.float32)
            if len(cols):
                vr[np.ix_(rows, cols)] = variance_reduction(v, labels[:, cols], chunk=8192)
        return SyntaxVR(tags.names, tags.kinds, wanted, vr, positives, n, tags.tagger)

    return ctx.workbench.derived("syntax-vr", SYNTAX_VERSION, inputs, compute)


def document_positions(ctx: ClaimContext) -> np.ndarray:
    """[contexts, ctx_len] index into the corpus of each position's document (-1: start token or separator).

    The token sample's own document index (fixtures/tokens.py), checked against the activations' tokens.

    Raises:
        NotApplicable: the sample carries no document index, or it is not the sample the activations were run on.
    """
    acts = ctx.activations(ctx.model, (MLP_POST_RAW,))
    sample = ctx.workbench.tokens(ctx.model, ctx.corpus_name)
    if sample.documents is None or not np.array_equal(sample.tokens, acts.tokens):
        raise NotApplicable(
            "precondition: F6 needs each position's speech; the token sample carries no document index matching "
            "the activations"
        )
    return np.asarray(sample.documents)


@dataclass(frozen=True)
class PositionStats:
    """F4's measurements of one model.

    Attributes:
        mi: [neurons] position MI (nats), layer-major.
        candidates: universal neurons that got a position-shuffled null.
        p: shuffled-null p-value by candidate.
        q99: the null's 99th percentile by candidate.
        sample: the first-half universal neurons the share is measured on (all of them, or a seeded sample of
            POSITION_SAMPLE), each among the candidates.
    """

    mi: np.ndarray
    candidates: np.ndarray
    p: dict[int, float]
    q99: dict[int, float]
    sample: np.ndarray


def position_statistics(
    ctx: ClaimContext, subject: Subject, special: Sequence[int], n_perm: int, seed: int
) -> PositionStats:
    """Position MI of every neuron and shuffled-null p-values and 99th percentiles of the candidates (cached)."""
    acts = ctx.activations(subject.ref, (MLP_POST_RAW,))

    def compute() -> PositionStats:
        raw = acts.raw(MLP_POST_RAW)
        n_layers, d_mlp = raw.shape[1], raw.shape[2]
        keep = F.kept_positions(acts.tokens, special)
        mi = position_mi_all(raw, keep)
        layer = np.repeat(np.arange(n_layers), d_mlp)
        cands, sample = position_candidates(
            mi, subject.universal, layer, n_layers, POSITION_CANDIDATES, POSITION_SAMPLE, seed
        )
        firing = (read_columns(raw, cands, d_mlp) > 0).reshape(*keep.shape, len(cands))
        null = F.shuffled_position_mi(firing, keep, n_perm, seed)
        p = {int(i): float((1 + np.sum(null[:, k] >= mi[i] - 1e-12)) / (len(null) + 1)) for k, i in enumerate(cands)}
        q99 = {int(i): float(np.quantile(null[:, k], 0.99)) for k, i in enumerate(cands)}
        return PositionStats(mi, cands, p, q99, sample)

    inputs = {
        "activations": acts.key,
        "special": list(special),
        "universal": np.flatnonzero(subject.universal).tolist(),
        "n_perm": n_perm,
        "seed": seed,
        "candidates": POSITION_CANDIDATES,
        "sample": POSITION_SAMPLE,
    }
    return ctx.workbench.derived("position-mi", 2, inputs, compute)


def position_candidates(
    mi: np.ndarray,
    universal: np.ndarray,
    layer: np.ndarray,
    n_layers: int,
    cap: int,
    sample_cap: int = POSITION_SAMPLE,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Universal neurons that get a shuffled null, and the first-half sample the share is measured on.

    Candidates: the top `cap` by MI, the top `cap` in the first half, and every first-half universal neuron (a
    seeded random sample of `sample_cap` when there are more), which is the sample.
    """
    pool = np.flatnonzero(np.asarray(universal, dtype=bool))
    ranked = pool[np.argsort(-mi[pool], kind="stable")]
    first_half = pool[layer[pool] < math.ceil(n_layers / 2)]
    early = ranked[layer[ranked] < math.ceil(n_layers / 2)]
    sample = first_half
    if len(first_half) > sample_cap:
        sample = np.sort(np.random.default_rng(seed).choice(first_half, sample_cap, replace=False))
    return np.unique(np.concatenate([ranked[:cap], early[:cap], sample])).astype(np.int64), sample.astype(np.int64)
