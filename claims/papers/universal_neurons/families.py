"""F1-F7: the neuron families of §5 (Fig. 4, 15-21), found by variance reduction (F0, Eq. 4) or by their own tests.

The paper labels every universal neuron by the binary feature whose split explains most of its variance (VR,
engine/variance_reduction.py), over token features, unigram features and their previous-token versions
(engine/features.py says how they are built and scaled to our samples). Families are then read off the labels:
unigram (F1), alphabet (F2), previous-token (F3) and syntax (F5) neurons; position neurons (F4) come from the mutual
information between firing and position, context neurons (F6) from AUROC, and F7 asks what the paper never
measured: are universal neurons more interpretable than non-universal ones of the same layers?

Measurement choices, fixed before any run:

* Activations are the cached post-activations (`hook_post`, float16). The authors applied exact GELU to float16
  pre-activations even for `gelu_new` models; the two differ by < 1e-3 and VR is a ratio of variances.
* VR is computed for every neuron of a model (one [positions, d_mlp] layer at a time, so memory stays at one
  layer) and stored with `workbench.derived`, so the families share one computation per model and dataset.
* Universal = excess correlation > the pre-registered threshold, else the top 2 % by excess (the rule of U1-U4).
  The untrained control gets its own universal set by the same rule and the same pipeline. Non-universal
  comparisons use a layer-matched random sample, seeded by the run seed.
* Every family is decided against the untrained control: the family's share among universal neurons (or testable
  letters, or its best era AUROC, or its interpretability gap) in the trained model minus the same quantity in the
  untrained control, with a 95 % interval over the claim's units (Newcombe for shares of neurons or letters, a
  bootstrap over speeches for F6 and over neurons for F7), must have its lower end above the pre-registered
  minimum. A family of untrained models therefore cannot pass: its "effect" is what its control shows too.
  Without a control the row is INCONCLUSIVE. The trained set that enters the effect is chosen from as many
  comparison seeds as the control's (the zoo has 5 trained seeds but 2 untrained ones): an excess averaged over
  more seeds is less noisy, so its top neurons look more "universal" even in untrained models, which made five
  untrained models "pass" F7 against a one-comparison control.
* F4 fires = post-activation > 0, which is pre-activation > 0 for GELU MLPs (GELU(x) > 0 iff x > 0); gated MLPs
  are NOT_APPLICABLE. Models with rotary position (GPT-NeoX, Llama) are the declared negative control of F4 (the
  paper's Pythia has no universal neuron with kurtosis < 2): their rows carry role NEGATIVE_CONTROL and pass when
  the trained - untrained share of position neurons is shown to stay below a pre-registered margin.
* F5 labels tokens with spaCy's `en_core_web_sm` 3.8.0 (fixtures/tagger.py; the paper used `en_core_web_trf`, which
  is not on PyPI): part-of-speech labels on the zoo, part-of-speech, dependency and morphology labels at full scale.
  The tagger is English, so code and other-language corpora are NOT_APPLICABLE.
* F6 is pre-registered on what our offline data has: the State of the Union speeches, split by era (speech year
  < 1900 vs >= 1900, from the speech id "1790-Washington-1"). Every position's speech is the token sample's own
  document index (fixtures/tokens.py draws each sample across many speeches).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK, universality
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, Role
from claims.verdict import part as make_part
from engine import features as F
from engine.inference import (
    auroc,
    bootstrap_interval,
    group_pair_u,
    groups_bootstrap_interval,
    mann_whitney_greater,
    proportion_difference,
    weighted_group_auroc,
)
from engine.universality import RULE_THRESHOLD, universal_mask
from fixtures.activations import MLP_POST_RAW
from fixtures.models import ModelRef

FAMILY_AXES = (Axis.ORIGINAL, Axis.GT1, Axis.GT2)
CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_RAW}), untrained_control=True)
MIN_TOKENS = 16_384  # kept positions, as for U1-U4
VR_VERSION = 1
N_RESAMPLES = 200  # F7: resamples of the random comparison set, reported for robustness
N_PERM = 199  # F4: position shuffles (p >= 1/200, so p < 0.01 is reachable)
POSITION_CANDIDATES = 32  # F4: shuffled nulls are drawn for at most this many universal neurons per group
POSITION_SAMPLE = 256  # F4: first-half universal neurons tested for the share (a seeded sample beyond this many)
N_BOOT = 1000  # bootstrap resamples of the effects' intervals (F6 speeches, F7 neurons)
ERA_BOOT_NEURONS = 32  # F6: the bootstrap recomputes the best of each model's most era-selective universal neurons
MAX_LABELINGS = 5_000  # F6: enumerate every relabelling of the speeches up to this many, else sample
YEAR_ID = re.compile(r"^(\d{4})-")
GATED_MODEL_TYPES = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2", "phi3"}
ROTARY_MODEL_TYPES = {"gpt_neox", "gptj", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "olmo2"}


CONTROL_NAME = "untrained control (same universality rule, pipeline and number of comparison seeds)"


# --- shared measurements ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Subject:
    """A model whose families are measured: the trained reference or its untrained control.

    Attributes:
        label: "trained" or "untrained control".
        ref: the model.
        excess: [neurons] excess correlation of the model against its family (or its fellow controls).
        universal: [neurons] bool, the universal set by the pre-registered rule.
        rule: how the set was chosen, for the report.
    """

    label: str
    ref: ModelRef
    excess: np.ndarray
    universal: np.ndarray
    rule: str


@dataclass(frozen=True)
class Subjects:
    """Who a family claim measures.

    Attributes:
        trained: the reference model with its universal set over every comparison seed (the paper's set; the
            claim's own clauses use it).
        control: the untrained control with its universal set among its fellow controls, or None.
        matched: the reference model with its universal set from as many comparison seeds as the control has (the
            first ones), so that the effect compares sets chosen on equal footing: an excess averaged over more
            seeds is less noisy, and its top neurons are more "universal" even in untrained models. The same
            object as `trained` when the counts already match or there is no control.
    """

    trained: Subject
    control: Subject | None
    matched: Subject


def subjects(ctx: ClaimContext) -> Subjects:
    """The trained reference, the untrained control (None without one) and the comparison-matched reference."""
    u = universality(ctx)
    trained = _subject(ctx, "trained", ctx.model, u.table.excess_corr.to_numpy())
    if u.control is None or ctx.family is None or not ctx.family.controls:
        return Subjects(trained, None, trained)
    control = _subject(ctx, "untrained control", ctx.family.controls[0], u.control.excess_corr.to_numpy())
    k = sum(1 for c in u.control.columns if str(c).startswith("corr_"))
    if k >= len(u.comparisons):
        return Subjects(trained, control, trained)
    first = list(u.comparisons[:k])
    excess = np.mean([u.table[f"corr_{m}"].to_numpy() for m in first], axis=0) - np.mean(
        [u.table[f"baseline_{m}"].to_numpy() for m in first], axis=0
    )
    matched = _subject(ctx, f"trained ({k} of {len(u.comparisons)} comparison seeds)", ctx.model, excess)
    return Subjects(trained, control, matched)


def _distinct(*items: Subject | None) -> list[Subject]:
    """The subjects that are there, each once (the matched set is often the trained one itself)."""
    out: list[Subject] = []
    for item in items:
        if item is not None and all(item is not o for o in out):
            out.append(item)
    return out


def _subject(ctx: ClaimContext, label: str, ref: ModelRef, excess: np.ndarray) -> Subject:
    t = ctx.threshold("universal_threshold")
    mask, rule = universal_mask(excess, t, ctx.threshold("fallback_top_frac"), int(ctx.threshold("fallback_min_count")))
    text = f"excess > {t:g}" if rule == RULE_THRESHOLD else f"top 2 % by excess (fewer than 30 above {t:g})"
    return Subject(label, ref, excess, mask, text)


def vocabulary(ctx: ClaimContext) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The string of every vocabulary id of the row's tokenizer, and its special ids (BOS/EOS/pad/unk)."""
    ref = ctx.model
    bench = ctx.workbench

    def compute() -> tuple[tuple[str, ...], tuple[int, ...]]:
        model = bench.model(ref)
        tok = model.tokenizer
        n = len(tok)
        strings = tuple(tok.decode([i], clean_up_tokenization_spaces=False) for i in range(n))
        special = {model.start_token_id, *tok.all_special_ids}
        return strings, tuple(sorted(int(i) for i in special if i is not None))

    return bench.derived("vocabulary", 1, {"model": ref.identity()}, compute)


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


def best_of(vr: np.ndarray, kinds: Sequence[str], wanted: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron, the largest VR over the features of the wanted kinds and that feature's index (-1: none)."""
    cols = np.flatnonzero(np.isin(np.asarray(kinds), list(wanted)))
    if len(cols) == 0:
        return np.zeros(vr.shape[0]), np.full(vr.shape[0], -1)
    sub = vr[:, cols]
    arg = sub.argmax(1)
    return sub[np.arange(len(arg)), arg].astype(np.float64), cols[arg]


def read_columns(raw: np.ndarray, neurons: np.ndarray, d_mlp: int) -> np.ndarray:
    """[positions, len(neurons)] float32 post-activations of the given layer-major neuron indices."""
    neurons = np.asarray(neurons, dtype=np.int64)
    out = np.empty((raw.shape[0], len(neurons)), dtype=np.float32)
    for layer in np.unique(neurons // d_mlp):
        sel = np.flatnonzero(neurons // d_mlp == layer)
        out[:, sel] = np.asarray(raw[:, int(layer), :])[:, neurons[sel] % d_mlp]
    return out


def _per_layer(mask: np.ndarray, layer: np.ndarray, n_layers: int) -> list[int]:
    return np.bincount(layer[mask], minlength=n_layers).astype(int).tolist()


def _neuron(i: int, d_mlp: int) -> str:
    return f"L{i // d_mlp}.{i % d_mlp}"


def share_effect(name: str, trained: tuple[int, int], control: tuple[int, int], threshold: float, unit: str) -> Effect:
    """A share in the trained model minus the same share in the untrained control, with Newcombe's 95 % interval.

    Args:
        name: what the share is.
        trained: (units with the property, units) in the trained model.
        control: the same in the untrained control.
        threshold: the pre-registered minimum of the interval's lower end.
        unit: what is counted ("universal neurons", "testable letters").
    """
    (k1, n1), (k2, n2) = trained, control
    diff, low, high = proportion_difference(k1, n1, k2, n2)
    return Effect(
        name=f"{name}: trained - untrained",
        measured=k1 / n1 if n1 else math.nan,
        control=k2 / n2 if n2 else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=CONTROL_NAME,
        method=f"Newcombe over {unit} ({k1}/{n1} vs {k2}/{n2})",
    )


# --- F1: unigram neurons ---------------------------------------------------------------------------------------


def early_layers(n_layers: int) -> int:
    """How many leading layers count as "layers 0-1 or the first 1/6 of depth" (F1 full)."""
    return max(2, math.ceil(n_layers / 6))


def unigram_family_counts(
    vr: np.ndarray,
    kinds: Sequence[str],
    names: Sequence[str],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    min_vr: float,
) -> dict[str, Any]:
    """F1's numbers for one model.

    Args:
        vr: [neurons, features] VR.
        kinds: the kind of each feature.
        names: the name of each feature.
        layer: [neurons] layer of each neuron.
        universal: [neurons] bool.
        n_layers: layers of the model.
        min_vr: VR a feature must reach to label a neuron.

    Returns:
        unigram_per_layer: universal neurons with VR >= min_vr on a unigram or letter feature, per layer;
        token_labelled_per_layer: universal neurons whose best current-token feature has VR >= min_vr, per layer;
        families: unigram/letter feature -> universal neurons with VR >= min_vr on it (non-zero ones);
        universal_per_layer: universal neurons per layer.
    """
    universal = np.asarray(universal, dtype=bool)
    uni_best, _ = best_of(vr, kinds, (F.KIND_UNIGRAM, F.KIND_LETTER))
    cur_best, _ = best_of(vr, kinds, F.CURRENT_KINDS)
    cols = np.flatnonzero(np.isin(np.asarray(kinds), (F.KIND_UNIGRAM, F.KIND_LETTER)))
    carried = ((vr[:, cols] >= min_vr) & universal[:, None]).sum(0)
    families = {names[int(c)]: int(n) for c, n in zip(cols, carried, strict=True) if n > 0}
    return {
        "unigram_per_layer": _per_layer(universal & (uni_best >= min_vr), layer, n_layers),
        "token_labelled_per_layer": _per_layer(universal & (cur_best >= min_vr), layer, n_layers),
        "families": dict(sorted(families.items(), key=lambda kv: -kv[1])),
        "universal_per_layer": _per_layer(universal, layer, n_layers),
    }


def unigram_parts(counts: Mapping[str, Any], scale: str, t: Mapping[str, float]) -> tuple[list[Part], float]:
    """F1's clauses (besides the effect) from `unigram_family_counts`: (parts, key number)."""
    if scale == "full":
        labelled = np.asarray(counts["token_labelled_per_layer"])
        early = early_layers(len(labelled))
        share = float(labelled[:early].sum() / labelled.sum()) if labelled.sum() else 0.0
        big = sum(1 for n in counts["families"].values() if n >= t["min_family_size"])
        return [
            make_part(
                f"share of token-labelled universal neurons in layers 0-{early - 1}", share, ">=", t["min_early_share"]
            ),
            make_part(
                f"unigram features with >= {t['min_family_size']:g} universal neurons", big, ">=", t["min_families"]
            ),
        ], share
    per_layer = counts["unigram_per_layer"]
    total = int(sum(per_layer))
    return [
        make_part("universal unigram neurons", total, ">=", t["min_neurons"]),
        make_part("universal unigram neurons in layer 0 minus in the last layer", per_layer[0] - per_layer[-1], ">", 0),
    ], float(total)


def unigram_passes(counts: Mapping[str, Any], scale: str, t: Mapping[str, float]) -> tuple[bool, float]:
    """F1's clauses besides the effect: (all held, key number)."""
    parts, key = unigram_parts(counts, scale, t)
    return all(p.passed for p in parts), key


def unigram_share(counts: Mapping[str, Any]) -> tuple[int, int]:
    """(universal neurons with a unigram or letter feature of VR >= min_vr, universal neurons)."""
    return int(sum(counts["unigram_per_layer"])), int(sum(counts["universal_per_layer"]))


@claim(
    "F1",
    title="unigram neurons, mostly in the first layers",
    statement="""Unigram neurons, which activate when the current token is a particular word or word piece, are the
    most common family; they sit predominantly in the first two layers and often have near-duplicates.""",
    paper_ref="§5, Fig. 4a, 15, 16",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="among universal neurons whose best current-token feature has VR >= {min_vr}, >= {min_early_share} are "
        "in layers 0-1 (the first max(2, ceil(L/6)) layers); >= {min_families} unigram features each have VR >= "
        "{min_vr} in >= {min_family_size} distinct universal neurons; and the share of universal neurons with VR >= "
        "{min_vr} on a unigram or single-letter feature, trained - untrained control (same rule, pipeline and number "
        "of comparison seeds), has a "
        "95 % Newcombe lower bound > {min_effect}; universal = excess > {universal_threshold}, else the top 2 %",
        small=">= {min_neurons} universal neuron has VR >= {min_vr} on a unigram or single-letter feature, and the "
        "fraction of such neurons in layer 0 exceeds that in the last layer; and the share of universal neurons with "
        "such a feature, trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % "
        "Newcombe lower bound > "
        "{min_effect}; universal = excess > {universal_threshold}, else the top 2 %",
        thresholds_full={
            "min_vr": 0.5,
            "min_early_share": 0.6,
            "min_families": 3,
            "min_family_size": 3,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={"min_vr": 0.5, "min_neurons": 1, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def unigram_neurons(ctx: ClaimContext) -> Evidence:
    """F1: count universal neurons labelled by a unigram feature, per layer, against the untrained control."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    fv = feature_vr(ctx, trained.ref)
    counts = unigram_family_counts(fv.vr, fv.kinds, fv.names, fv.layer, trained.universal, fv.n_layers, t["min_vr"])
    matched = unigram_family_counts(
        fv.vr, fv.kinds, fv.names, fv.layer, who.matched.universal, fv.n_layers, t["min_vr"]
    )
    parts, key = unigram_parts(counts, ctx.scale, t)
    control_counts: dict[str, Any] = {}
    effect = None
    if control is not None:
        cv = control_vr(ctx, control)
        control_counts = unigram_family_counts(
            cv.vr, cv.kinds, cv.names, cv.layer, control.universal, cv.n_layers, t["min_vr"]
        )
        control_counts["universal_rule"] = control.rule
        effect = share_effect(
            f"share of universal neurons with unigram/letter VR >= {t['min_vr']:g}",
            unigram_share(matched),
            unigram_share(control_counts),
            t["min_effect"],
            "universal neurons",
        )
    top = list(counts["families"].items())[:8]
    series = {
        "universal unigram neurons (trained)": counts["unigram_per_layer"],
        "universal neurons (trained)": counts["universal_per_layer"],
    }
    if control_counts:
        series["universal unigram neurons (untrained control)"] = control_counts["unigram_per_layer"]
    return ctx.evidence(
        key=("early share" if ctx.scale == "full" else "universal unigram neurons", key),
        reason=f"universal neurons with unigram/letter VR >= {t['min_vr']:g} per layer: {counts['unigram_per_layer']} "
        f"(of {counts['universal_per_layer']} universal; {trained.rule}); best current-token VR >= {t['min_vr']:g} per "
        f"layer: {counts['token_labelled_per_layer']}; top families {top or 'none'}; untrained control "
        f"{control_counts.get('unigram_per_layer', 'n/a')} of {control_counts.get('universal_per_layer', 'n/a')}"
        + _effect_text(effect, who),
        measured={
            **counts,
            "universal_rule": trained.rule,
            "n_features": len(fv.names),
            "n_unigram_features": fv.kinds.count(F.KIND_UNIGRAM),
            "unigram_min_count": fv.unigram_min_count,
        },
        control={"untrained": control_counts},
        n_tokens=fv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(fv.n_layers)),
                "series": series,
                "ylabel": f"neurons with unigram VR >= {t['min_vr']:g}",
            }
        },
    )


def _effect_text(effect: Effect | None, who: Subjects) -> str:
    """The effect for a reason sentence ("; name = value [low, high] ..."), or the missing control."""
    if effect is None:
        return "; no untrained control"
    matched = ""
    if who.matched is not who.trained:
        matched = (
            f"; the effect's trained set is chosen from as many comparison seeds as the control's "
            f"({who.matched.label}: {int(who.matched.universal.sum())} universal, {who.matched.rule})"
        )
    return (
        f"; {effect.name} = {effect.value:.3f} [95 % {effect.low:.3f}, {effect.high:.3f}] "
        f"({effect.measured:.3f} vs {effect.control:.3f}; lower bound must exceed {effect.threshold:g})" + matched
    )


# --- F2: alphabet neurons --------------------------------------------------------------------------------------


def alphabet_letters(
    vr: np.ndarray,
    names: Sequence[str],
    positives: np.ndarray,
    universal: np.ndarray,
    min_count: int,
) -> dict[str, dict[str, Any]]:
    """Per letter: whether it can be tested, and the universal neuron with the highest VR on it.

    A letter can be tested when the vocabulary has a single-letter token for it (its `letter_<c>` feature is
    True somewhere) and those tokens occur >= `min_count` times among the kept positions.

    Returns:
        letter -> {"countable": bool, "count": int, "best_vr": float, "neuron": int (layer-major index, -1: none)}.
    """
    index = {n: i for i, n in enumerate(names)}
    pool = np.flatnonzero(np.asarray(universal, dtype=bool))
    out = {}
    for c in F.LETTERS:
        col = index.get(f"letter_{c}")
        count = int(positives[col]) if col is not None else 0
        best, neuron = float("nan"), -1
        if col is not None and len(pool):
            k = int(np.argmax(vr[pool, col]))
            best, neuron = float(vr[pool[k], col]), int(pool[k])
        out[c] = {"countable": count >= min_count, "count": count, "best_vr": best, "neuron": neuron}
    return out


def alphabet_parts(
    letters: Mapping[str, Mapping[str, Any]], secondary: Mapping[str, bool], scale: str, t: Mapping[str, float]
) -> tuple[list[Part], int, str | None]:
    """F2's clauses besides the effect: (parts, letters with an alphabet neuron, reason to be INCONCLUSIVE or None)."""
    countable = [c for c, s in letters.items() if s["countable"]]
    found = [c for c in countable if s_ok(letters[c]["best_vr"], t["min_vr"])]
    inconclusive = None
    if len(countable) < t["min_letters"]:
        inconclusive = (
            f"only {len(countable)} letters have single-letter tokens occurring >= {t['min_letter_count']:g} times "
            f"in the sample; {t['min_letters']:g} are needed"
        )
    parts = [make_part("letters with a universal alphabet neuron", len(found), ">=", t["min_letters"])]
    if scale == "full":
        share = sum(bool(secondary.get(c)) for c in found) / len(found) if found else 0.0
        parts.append(make_part("share of them with the begins-with effect", share, ">=", t["min_secondary_share"]))
    return parts, len(found), inconclusive


def alphabet_passes(
    letters: Mapping[str, Mapping[str, Any]], secondary: Mapping[str, bool], scale: str, t: Mapping[str, float]
) -> tuple[bool, int, str | None]:
    """F2's clauses besides the effect: (all held, letters with an alphabet neuron, reason to be INCONCLUSIVE)."""
    parts, found, inconclusive = alphabet_parts(letters, secondary, scale, t)
    return all(p.passed for p in parts), found, inconclusive


def letters_found(letters: Mapping[str, Mapping[str, Any]], min_vr: float) -> tuple[int, int]:
    """(testable letters with a universal neuron of letter-VR > min_vr, testable letters)."""
    countable = [c for c, s in letters.items() if s["countable"]]
    return sum(s_ok(letters[c]["best_vr"], min_vr) for c in countable), len(countable)


def s_ok(value: float, threshold: float) -> bool:
    """True when value > threshold (False for NaN)."""
    return bool(np.isfinite(value) and value > threshold)


def begins_with_effect(
    acts: np.ndarray, current: np.ndarray, names: Sequence[str], letter: str
) -> tuple[float, float, float]:
    """Mean activation on tokens beginning with `letter` (not the letter alone) vs other non-letter tokens.

    Args:
        acts: [kept positions] post-activations of one neuron.
        current: [kept positions, current features] bool labels (current-token features, `names` order).
        names: current-token feature names.
        letter: the letter.

    Returns:
        (mean on begins-with tokens, mean on the others, one-sided Welch p that the first is larger).
    """
    index = {n: i for i, n in enumerate(names)}
    letters = np.zeros(len(acts), dtype=bool)
    for c in F.LETTERS:
        if f"letter_{c}" in index:
            letters |= current[:, index[f"letter_{c}"]]
    starts = current[:, index[f"start_w_{letter}"]]
    a, b = acts[starts & ~letters], acts[~starts & ~letters]
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan"), float("nan")
    p = float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
    return float(a.mean()), float(b.mean()), p


@claim(
    "F2",
    title="alphabet neurons for many letters",
    statement="""Alphabet neurons respond most to a single-letter token and secondarily to tokens beginning with that
    letter; for 18 of 26 English letters there is a universal alphabet neuron.""",
    paper_ref="§5, Fig. 4b, 17",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=">= {min_letters} of 26 letters have a universal neuron with letter-VR > {min_vr}; for >= "
        "{min_secondary_share} of them its activation on tokens beginning with the letter exceeds that on other "
        "non-letter tokens (one-sided Welch t, p < {max_welch_p}); the share of testable letters with such a neuron, "
        "trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % Newcombe lower "
        "bound > {min_effect}; a "
        "letter is tested when its single-letter tokens occur >= {min_letter_count} times, and fewer than "
        "{min_letters} testable letters is INCONCLUSIVE",
        small=">= {min_letters} letters have a universal neuron with letter-VR > {min_vr}; a letter is tested when the "
        "vocabulary has a single-letter token for it occurring >= {min_letter_count} times in the sample, and fewer "
        "than {min_letters} testable letters is INCONCLUSIVE; the share of testable letters with such a neuron, "
        "trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % Newcombe lower "
        "bound > {min_effect}; the "
        "begins-with-letter effect (Welch p < {max_welch_p}) is reported",
        thresholds_full={
            "min_letters": 15,
            "min_vr": 0.35,
            "min_secondary_share": 0.8,
            "max_welch_p": 0.01,
            "min_letter_count": 100,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "min_letters": 5,
            "min_vr": 0.35,
            "min_letter_count": 20,
            "max_welch_p": 0.01,
            "min_effect": 0.0,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=2.0,
)
def alphabet_neurons(ctx: ClaimContext) -> Evidence:
    """F2: per testable letter, the best universal letter-VR, and the begins-with-letter effect."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    fv = feature_vr(ctx, trained.ref)
    letters = alphabet_letters(fv.vr, fv.names, fv.positives, trained.universal, int(t["min_letter_count"]))
    found = [c for c, s in letters.items() if s["countable"] and s_ok(s["best_vr"], t["min_vr"])]
    feats = position_features(ctx)
    n_current = len(feats.names) // 2
    current_names = feats.names[:n_current]
    raw = ctx.activations(trained.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW)
    neurons = np.asarray([letters[c]["neuron"] for c in found], dtype=np.int64)
    columns = read_columns(raw, neurons, fv.d_mlp)[feats.keep] if len(found) else np.zeros((0, 0))
    begins = {}
    for k, c in enumerate(found):
        mean_a, mean_b, p = begins_with_effect(columns[:, k], feats.labels[:, :n_current], current_names, c)
        begins[c] = {
            "neuron": _neuron(letters[c]["neuron"], fv.d_mlp),
            "vr": letters[c]["best_vr"],
            "mean_begins_with": mean_a,
            "mean_other": mean_b,
            "welch_p": p,
        }
    secondary = {
        c: bool(s["mean_begins_with"] > s["mean_other"] and s["welch_p"] < t["max_welch_p"]) for c, s in begins.items()
    }
    parts, n_found, inconclusive = alphabet_parts(letters, secondary, ctx.scale, t)
    control_found: list[str] = []
    effect = None
    if control is not None:
        cv = control_vr(ctx, control)
        cl = alphabet_letters(cv.vr, cv.names, cv.positives, control.universal, int(t["min_letter_count"]))
        control_found = [c for c, s in cl.items() if s["countable"] and s_ok(s["best_vr"], t["min_vr"])]
        effect = share_effect(
            f"share of testable letters with a universal neuron of letter-VR > {t['min_vr']:g}",
            letters_found(
                alphabet_letters(fv.vr, fv.names, fv.positives, who.matched.universal, int(t["min_letter_count"])),
                t["min_vr"],
            ),
            letters_found(cl, t["min_vr"]),
            t["min_effect"],
            "testable letters",
        )
    countable = [c for c, s in letters.items() if s["countable"]]
    xs = [F.LETTERS.index(c) for c in countable]
    listed = ", ".join(f"{c}:{begins[c]['neuron']} {begins[c]['vr']:.2f}" for c in found)
    return ctx.evidence(  # no control: a PASS becomes INCONCLUSIVE in evidence()
        key=("letters with an alphabet neuron", float(n_found)),
        reason=f"{n_found} of {len(countable)} testable letters have a universal neuron with letter-VR > "
        f"{t['min_vr']:g} ({listed or 'none'}); "
        f"begins-with effect (Welch p < {t['max_welch_p']:g}) for {sum(secondary.values())} of them; untrained "
        f"control: {len(control_found)} letters ({', '.join(control_found) or 'none'}); {trained.rule}"
        + _effect_text(effect, who),
        measured={
            "letters": letters,
            "found": found,
            "begins_with": begins,
            "testable": countable,
            "universal_rule": trained.rule,
        },
        control={"untrained_letters_found": control_found},
        n_tokens=fv.n_positions,
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
        figures={
            "scatter": {
                "x": xs,
                "y": [letters[c]["best_vr"] for c in countable],
                "xlabel": "letter (a = 0 ... z = 25)",
                "ylabel": "best universal letter-VR",
                "fit": False,
            }
        },
    )


# --- F3: previous-token neurons --------------------------------------------------------------------------------


def previous_token_vr(vr: np.ndarray, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per neuron: best previous-token VR, its feature index, and the best current-token VR."""
    prev, prev_idx = best_of(vr, kinds, F.PREV_KINDS)
    cur, _ = best_of(vr, kinds, F.CURRENT_KINDS)
    return prev, prev_idx, cur


def first_third(n_layers: int) -> tuple[int, int]:
    """Layers [lo, hi] of "the first third of depth, layer 0 excluded" (F3 full); empty (hi < lo) below 4 layers."""
    return 1, math.ceil(n_layers / 3) - 1


def previous_token_parts(
    prev: np.ndarray,
    cur: np.ndarray,
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[list[Part], float, dict[str, Any]]:
    """F3's clauses besides the effect: (parts, key number, details)."""
    universal = np.asarray(universal, dtype=bool)
    if scale == "full":
        pool = np.flatnonzero(universal)
        top = pool[np.argsort(-prev[pool], kind="stable")[: int(t["top_n"])]]
        hist = np.bincount(layer[top], minlength=n_layers)
        mode = int(hist.argmax()) if len(top) else -1
        lo, hi = first_third(n_layers)
        above = int((prev[top] > cur[top]).sum())
        share = above / len(top) if len(top) else 0.0
        parts = [
            make_part("modal layer of the top universal neurons by previous-token VR", mode, ">=", lo),
            make_part("modal layer of the top universal neurons by previous-token VR", mode, "<=", hi),
            make_part("share of them with previous-token VR above current-token VR", share, ">=", 1.0),
        ]
        details = {"top_layers": hist.tolist(), "mode": mode, "prev_above_current": above, "n_top": len(top)}
        return parts, float(mode), {**details, "mode_range": [lo, hi]}
    found = universal & (prev >= t["min_vr"]) & (prev > cur)
    later = found & (layer >= 1)
    details = {"per_layer": _per_layer(found, layer, n_layers), "layer0": int((found & (layer == 0)).sum())}
    parts = [make_part("universal previous-token neurons in layers >= 1", int(later.sum()), ">=", t["min_neurons"])]
    return parts, float(later.sum()), details


def previous_token_passes(
    prev: np.ndarray,
    cur: np.ndarray,
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[bool, float, dict[str, Any]]:
    """F3's clauses besides the effect: (all held, key number, details)."""
    parts, key, details = previous_token_parts(prev, cur, layer, universal, n_layers, scale, t)
    return all(p.passed for p in parts), key, details


def previous_token_share(
    prev: np.ndarray, cur: np.ndarray, layer: np.ndarray, universal: np.ndarray, min_vr: float
) -> tuple[int, int]:
    """(universal neurons in layers >= 1 with previous-token VR >= min_vr above current-token VR, universal there)."""
    pool = np.asarray(universal, dtype=bool) & (layer >= 1)
    return int((pool & (prev >= min_vr) & (prev > cur)).sum()), int(pool.sum())


def previous_token_precondition(n_layers: int, scale: str) -> str | None:
    """Why F3 cannot be asked of a model this deep, or None."""
    if n_layers < 2:
        return (
            f"precondition: F3 needs >= 2 layers (a previous-token neuron in layer 0 only reflects layer-0 "
            f"attention); the model has {n_layers}"
        )
    lo, hi = first_third(n_layers)
    if scale == "full" and hi < lo:
        return (
            f"precondition: the first third of depth excluding layer 0 (layers 1..ceil(L/3) - 1) holds no layer "
            f"when L = {n_layers}; F3's full criterion needs >= 4 layers"
        )
    return None


@claim(
    "F3",
    title="previous-token neurons",
    statement="""Some neurons activate purely as a function of the previous token (found by rerunning VR with the
    labels shifted by one), most often in layers 4-6 of GPT2-medium.""",
    paper_ref="§5, Fig. 18",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="the top {top_n} universal neurons by previous-token VR have their modal layer in the first third of "
        "depth excluding layer 0 (layers 1..ceil(L/3) - 1; fewer than 4 layers is NOT_APPLICABLE), and each has "
        "previous-token VR above its best current-token VR; and the share of universal neurons in layers >= 1 with "
        "previous-token VR >= {min_vr} above their best current-token VR, trained - untrained control (same rule, "
        "pipeline and number of comparison seeds), has a 95 % Newcombe lower bound > {min_effect}",
        small=">= {min_neurons} universal neuron in a layer >= 1 has previous-token VR >= {min_vr} above its best "
        "current-token VR (fewer than 2 layers is NOT_APPLICABLE); and the share of universal neurons in layers >= 1 "
        "with such VR, trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % "
        "Newcombe lower bound > "
        "{min_effect}; layer-0 cases are reported",
        thresholds_full={"top_n": 25, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.5, **FALLBACK},
        thresholds_small={"min_neurons": 1, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def previous_token_neurons(ctx: ClaimContext) -> Evidence:
    """F3: universal neurons whose best previous-token VR beats their best current-token VR."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    fv = feature_vr(ctx, trained.ref)
    problem = previous_token_precondition(fv.n_layers, ctx.scale)
    if problem:
        raise NotApplicable(problem)
    prev, prev_idx, cur = previous_token_vr(fv.vr, fv.kinds)
    parts, key, details = previous_token_parts(prev, cur, fv.layer, trained.universal, fv.n_layers, ctx.scale, t)
    pool = np.flatnonzero(trained.universal & (prev > cur))
    best = pool[np.argsort(-prev[pool], kind="stable")[:10]]
    examples = [
        {
            "neuron": _neuron(int(i), fv.d_mlp),
            "feature": fv.names[prev_idx[i]],
            "prev_vr": float(prev[i]),
            "current_vr": float(cur[i]),
        }
        for i in best
    ]
    control_details: dict[str, Any] = {}
    effect = None
    series = {"trained": _per_layer(trained.universal & (prev >= t["min_vr"]) & (prev > cur), fv.layer, fv.n_layers)}
    if control is not None:
        cv = control_vr(ctx, control)
        cprev, _, ccur = previous_token_vr(cv.vr, cv.kinds)
        _, ckey, control_details = previous_token_parts(
            cprev, ccur, cv.layer, control.universal, cv.n_layers, ctx.scale, t
        )
        control_details["key"] = ckey
        effect = share_effect(
            f"share of universal neurons in layers >= 1 with previous-token VR >= {t['min_vr']:g} above current",
            previous_token_share(prev, cur, fv.layer, who.matched.universal, t["min_vr"]),
            previous_token_share(cprev, ccur, cv.layer, control.universal, t["min_vr"]),
            t["min_effect"],
            "universal neurons",
        )
        series["untrained control"] = _per_layer(
            control.universal & (cprev >= t["min_vr"]) & (cprev > ccur), cv.layer, cv.n_layers
        )
    strongest = ", ".join(
        f"{e['neuron']} {e['feature']} {e['prev_vr']:.2f} (current {e['current_vr']:.2f})" for e in examples[:4]
    )
    return ctx.evidence(
        key=("modal layer" if ctx.scale == "full" else "previous-token neurons in layers >= 1", key),
        reason=f"{details}; strongest: {strongest or 'none'}; "
        f"untrained control {control_details or 'n/a'}; {trained.rule}" + _effect_text(effect, who),
        measured={**details, "examples": examples, "universal_rule": trained.rule},
        control={"untrained": control_details},
        n_tokens=fv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(fv.n_layers)),
                "series": series,
                "ylabel": f"universal neurons with prev-token VR >= {t['min_vr']:g} > current",
            }
        },
    )


# --- F4: position neurons --------------------------------------------------------------------------------------


def position_mi_all(raw: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Position MI of every neuron (layer-major), firing = post-activation > 0."""
    n_ctx, ctx_len = keep.shape
    _, n_layers, d_mlp = raw.shape
    out = np.empty(n_layers * d_mlp)
    for layer in range(n_layers):
        firing = (np.asarray(raw[:, layer, :]) > 0).reshape(n_ctx, ctx_len, d_mlp)
        out[layer * d_mlp : (layer + 1) * d_mlp] = F.position_mutual_information(firing, keep)
    return out


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


def position_parts(
    mi: np.ndarray,
    p: Mapping[int, float],
    q99: Mapping[int, float],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[list[Part], float, dict[str, Any]]:
    """F4's clauses besides the effect, from MI, shuffled-null p-values and 99th percentiles: (parts, key, details)."""
    pool = np.flatnonzero(np.asarray(universal, dtype=bool))
    if scale == "full":
        top = pool[np.argsort(-mi[pool], kind="stable")[: int(t["top_n"])]]
        share = float(np.mean(layer[top] <= 2)) if len(top) else 0.0
        above = [bool(mi[i] > q99.get(int(i), np.inf)) for i in top]
        parts = [
            make_part(
                f"share of the top {len(top)} universal neurons by position MI in layers 0-2",
                share,
                ">=",
                t["min_early_share"],
            ),
            make_part(
                "share of them above their shuffled null's 99th percentile",
                float(np.mean(above)) if above else 0.0,
                ">=",
                1.0,
            ),
        ]
        details = {"top_layers": np.bincount(layer[top], minlength=n_layers).tolist(), "all_above_null": all(above)}
        return parts, share, details
    half = math.ceil(n_layers / 2)
    found = [int(i) for i in pool if layer[i] < half and p.get(int(i), 1.0) < t["max_p"]]
    parts = [
        make_part("universal position neurons in the first half of the layers", len(found), ">=", t["min_neurons"])
    ]
    return parts, float(len(found)), {"found": found, "first_half_layers": half}


def position_passes(
    mi: np.ndarray,
    p: Mapping[int, float],
    q99: Mapping[int, float],
    layer: np.ndarray,
    universal: np.ndarray,
    n_layers: int,
    scale: str,
    t: Mapping[str, float],
) -> tuple[bool, float, dict[str, Any]]:
    """F4's clauses besides the effect: (all held, key, details)."""
    parts, key, details = position_parts(mi, p, q99, layer, universal, n_layers, scale, t)
    return all(x.passed for x in parts), key, details


def position_share(stats_: PositionStats, max_p: float) -> tuple[int, int]:
    """(first-half universal neurons of the sample with shuffled-null p < max_p, neurons in the sample)."""
    return sum(stats_.p[int(i)] < max_p for i in stats_.sample), len(stats_.sample)


def absence_effect(effect: Effect, margin: float) -> Effect:
    """A negative control's effect: control - trained, with threshold -margin.

    Its lower end clears -margin iff the trained excess's upper end is below margin: the effect is shown to stay
    under the margin.
    """
    return Effect(
        name=f"{effect.name.replace(': trained - untrained', '')}: untrained - trained (negative control)",
        measured=effect.measured,
        control=effect.control,
        value=-effect.value,
        low=-effect.high,
        high=-effect.low,
        threshold=-margin,
        control_name=effect.control_name,
        method=effect.method,
    )


def negative_control(effect: Effect, margin: float, min_effect: float) -> tuple[Effect, str | None]:
    """F4 on a rotary model: the absence effect, and why the row is INCONCLUSIVE (None when it is decided).

    PASS when the trained - untrained interval lies below `margin`; FAIL when it is not and its lower end is above
    `min_effect` (position neurons beyond the control where the claim expects none); INCONCLUSIVE otherwise.
    """
    reason = None
    if not (effect.high < margin or effect.low > min_effect):
        reason = (
            f"the negative control's excess of position neurons over its untrained control lies in "
            f"[{effect.low:.3f}, {effect.high:.3f}]: neither shown below {margin:g} nor above {min_effect:g}"
        )
    return absence_effect(effect, margin), reason


def positional_embedding(ref: ModelRef) -> str:
    """How the model encodes position, from its config: "learned absolute" or "rotary"."""
    config = ref.config()
    kind = str(config.get("model_type", ""))
    if kind in ROTARY_MODEL_TYPES or "rotary_pct" in config or "rope_theta" in config:
        return "rotary"
    return "learned absolute"


F4_EFFECT = (
    "; and the share of first-half universal neurons with shuffled-null p < {max_p}, trained - untrained control "
    "(same rule, pipeline and number of comparison seeds), has a 95 % Newcombe lower bound > {min_effect}. On "
    "rotary-position models (the "
    "declared negative control) the row instead passes when that difference's 95 % upper bound is < "
    "{max_control_excess}, fails when its lower bound is > {min_effect}, and is otherwise INCONCLUSIVE"
)


@claim(
    "F4",
    title="position neurons in the first layers",
    statement="""Position neurons, whose activation is a function of the absolute position in the context, exist and
    are concentrated in layers 0-2 (Voita et al.; Fig. 19 shows 20 in GPT2-small).""",
    paper_ref="§5, Fig. 19",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=">= {min_early_share} of the top {top_n} universal neurons by position MI (firing = pre-activation > 0) "
        "lie in layers 0-2, and each has MI above the 99th percentile of its position-shuffled null ({n_perm} "
        "shuffles)" + F4_EFFECT,
        small=">= {min_neurons} universal neuron in the first half of the layers has position MI (firing = "
        "pre-activation > 0) above its position-shuffled null with p < {max_p} ({n_perm} shuffles)" + F4_EFFECT,
        thresholds_full={
            "min_early_share": 0.7,
            "top_n": 20,
            "n_perm": N_PERM,
            "max_p": 0.01,
            "min_effect": 0.0,
            "max_control_excess": 0.1,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "min_neurons": 1,
            "max_p": 0.01,
            "n_perm": N_PERM,
            "min_effect": 0.0,
            "max_control_excess": 0.1,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def position_neurons(ctx: ClaimContext) -> Evidence:
    """F4: position MI of universal neurons against a position-shuffled null, and against the untrained control."""
    config = ctx.model.config()
    if str(config.get("model_type", "")) in GATED_MODEL_TYPES:
        raise NotApplicable(
            "precondition: F4 fires on pre-activation > 0, which a GELU MLP's post-activation shows; a gated MLP's "
            "post-activation does not show its sign"
        )
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    _, special = vocabulary(ctx)
    seed = ctx.workbench.settings.seed
    results: dict[str, dict[str, Any]] = {}
    shares: dict[str, tuple[int, int]] = {}
    for subject in _distinct(trained, control, who.matched):
        st = position_statistics(ctx, subject, special, int(t["n_perm"]), seed)
        mi, cands, p = st.mi, st.candidates, st.p
        n_layers, d_mlp = ctx.activations(subject.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW).shape[1:]
        layer = np.repeat(np.arange(n_layers), d_mlp)
        clauses, value, details = position_parts(mi, p, st.q99, layer, subject.universal, n_layers, ctx.scale, t)
        shares[subject.label] = position_share(st, t["max_p"])
        top = cands[np.argsort(-mi[cands])][:8]
        results[subject.label] = {
            "parts": clauses,
            "passed": all(x.passed for x in clauses),
            "key": value,
            **details,
            "share_sample": list(shares[subject.label]),
            "rule": subject.rule,
            "top": [{"neuron": _neuron(int(i), d_mlp), "mi": float(mi[i]), "p": p[int(i)]} for i in top],
            "mean_mi_per_layer": [float(mi[layer == layer_].mean()) for layer_ in range(n_layers)],
            "significant_per_layer": _per_layer(
                np.isin(np.arange(len(mi)), [i for i, v in p.items() if v < t["max_p"]]), layer, n_layers
            ),
            "mi": mi,
            "layer": layer,
            "universal": subject.universal,
        }
    main = results[trained.label]
    kind = positional_embedding(ctx.model)
    negative = kind == "rotary"
    ctrl = results.get("untrained control", {})
    effect = None
    if control is not None:
        effect = share_effect(
            f"share of first-half universal neurons with shuffled-null p < {t['max_p']:g}",
            shares[who.matched.label],
            shares[control.label],
            t["min_effect"],
            "first-half universal neurons",
        )
    parts: list[Part] = list(main["parts"])
    inconclusive: str | None = None
    passed: bool | None = None
    role = Role.CLAIM
    key = ("early share" if ctx.scale == "full" else "position neurons in the first half", main["key"])
    if negative:  # the claim expects no absolute-position neurons beyond the control: show the excess is small
        role = Role.NEGATIVE_CONTROL
        parts = []
        key = ("position-neuron share: trained - untrained", effect.value if effect is not None else math.nan)
        if effect is not None:
            effect, inconclusive = negative_control(effect, t["max_control_excess"], t["min_effect"])
        else:  # without a control the excess over it is unmeasured
            passed, inconclusive = False, NO_CONTROL
    universal = main["universal"]
    strongest = ", ".join(f"{e['neuron']} MI {e['mi']:.3f} (p {e['p']:.3f})" for e in main["top"][:4])
    main_max = float(main["mi"][universal].max()) if universal.any() else float("nan")
    ctrl_max = float(ctrl["mi"][ctrl["universal"]].max()) if ctrl and ctrl["universal"].any() else float("nan")
    strip = ("mi", "layer", "universal", "parts")
    return ctx.evidence(
        key=key,
        reason=f"position embedding: {kind}{' (the negative control of this claim)' if negative else ''}; "
        f"universal neurons with shuffled-null p < {t['max_p']:g} per layer {main['significant_per_layer']}; "
        f"first-half sample {main['share_sample'][0]}/{main['share_sample'][1]}; strongest {strongest}; untrained "
        f"control: per layer {ctrl.get('significant_per_layer', 'n/a')}, first-half sample "
        f"{'/'.join(map(str, ctrl.get('share_sample', ['n/a'])))}, max universal MI {ctrl_max:.3f} vs {main_max:.3f} "
        f"trained; {trained.rule}" + _effect_text(effect, who),
        measured={k: v for k, v in main.items() if k not in strip} | {"positional_embedding": kind},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        n_tokens=int(F.kept_positions(ctx.activations(ctx.model, (MLP_POST_RAW,)).tokens, special).sum()),
        passed=passed,
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
        role=role,
        figures={
            "scatter": {
                "x": main["layer"][universal] + np.linspace(-0.3, 0.3, int(universal.sum())),
                "y": main["mi"][universal],
                "xlabel": "layer (universal neurons)",
                "ylabel": "position MI (nats)",
                "fit": False,
            }
        },
    )


# --- F5: syntax neurons ----------------------------------------------------------------------------------------

SYNTAX_VERSION = 1
NOT_ENGLISH_PROSE = {"code", "other-language"}  # corpus roles an English tagger cannot label


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


def testable_labels(positives: np.ndarray, n_positions: int) -> np.ndarray:
    """[labels] bool, which tagger labels F5 tests on a sample.

    A label is tested when it holds at >= the unigram count rule's number of kept positions and leaves as many
    without it (a variance split needs both groups).
    """
    floor = F.unigram_min_count(n_positions)
    return (positives >= floor) & (positives <= n_positions - floor)


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


def syntax_parts(
    best: np.ndarray, layer: np.ndarray, universal: np.ndarray, n_layers: int, scale: str, t: Mapping[str, float]
) -> tuple[list[Part], float, dict[str, Any]]:
    """F5's clauses besides the effect: (parts, key number, details)."""
    universal = np.asarray(universal, dtype=bool)
    if scale == "full":
        pool = np.flatnonzero(universal)
        top = pool[np.argsort(-best[pool], kind="stable")[: int(t["top_n"])]]
        hist = np.bincount(layer[top], minlength=n_layers)
        share = float(hist.max() / len(top)) if len(top) else 1.0
        parts = [
            make_part(
                "distinct layers of the top universal neurons by syntax VR",
                int((hist > 0).sum()),
                ">=",
                t["min_layers"],
            ),
            make_part("largest share of them in one layer", share, "<=", t["max_layer_share"]),
        ]
        return parts, float((hist > 0).sum()), {"top_layers": hist.tolist(), "n_top": len(top)}
    found = universal & (best >= t["min_vr"])
    parts = [make_part("universal neurons with part-of-speech VR >= min_vr", int(found.sum()), ">=", t["min_neurons"])]
    return parts, float(found.sum()), {"per_layer": _per_layer(found, layer, n_layers)}


def syntax_share(best: np.ndarray, universal: np.ndarray, min_vr: float) -> tuple[int, int]:
    """(universal neurons whose best syntax VR is >= min_vr, universal neurons)."""
    universal = np.asarray(universal, dtype=bool)
    return int((universal & (best >= min_vr)).sum()), int(universal.sum())


@claim(
    "F5",
    title="syntax neurons across depth",
    statement="""Neurons selective for linguistic features (negation, plurals, verb tense, ...) exist and are not
    concentrated in any part of the network.""",
    paper_ref="§5, Fig. 20",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=3,
    criterion=Criterion(
        full="the top {top_n} universal neurons by syntax VR (the best over part-of-speech, dependency and "
        "morphology labels of spaCy en_core_web_sm 3.8.0; the paper used en_core_web_trf) cover >= {min_layers} "
        "distinct layers and no layer holds > {max_layer_share} of them; and the share of universal neurons with "
        "syntax VR >= {min_vr}, trained - untrained control (same rule, pipeline and number of comparison seeds), "
        "has a 95 % Newcombe lower bound > {min_effect}; a label is tested when it holds at >= max(10, 3e-4 x "
        "kept positions) positions and is absent from as many; corpora that are not English prose (code, other "
        "languages) are NOT_APPLICABLE; universal = excess > {universal_threshold}, else the top 2 %",
        small=">= {min_neurons} universal neuron has VR >= {min_vr} on a part-of-speech label (spaCy "
        "en_core_web_sm 3.8.0; the paper used en_core_web_trf); and the share of universal neurons with such VR, "
        "trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 % Newcombe "
        "lower bound > {min_effect}; a label is tested when it holds at >= max(10, 3e-4 x kept positions) "
        "positions and is absent from as many; corpora that are not English prose (code, other languages) are "
        "NOT_APPLICABLE; universal = excess > {universal_threshold}, else the top 2 %",
        thresholds_full={
            "top_n": 25,
            "min_layers": 8,
            "max_layer_share": 0.3,
            "min_vr": 0.3,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={"min_neurons": 1, "min_vr": 0.3, "min_effect": 0.0, "universal_threshold": 0.3, **FALLBACK},
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=3.0,
)
def syntax_neurons(ctx: ClaimContext) -> Evidence:
    """F5: universal neurons whose variance a part-of-speech (full: any syntax) label explains, against control."""
    from fixtures.tagger import DEP, MORPH, POS

    role = ctx.workbench.corpus(ctx.dataset).role if ctx.dataset is not None else None
    if role in NOT_ENGLISH_PROSE:
        raise NotApplicable(
            f"precondition: F5's labels come from an English part-of-speech tagger; corpus {ctx.dataset!r} is "
            f"{role}, not English prose"
        )
    kinds = (POS, DEP, MORPH) if ctx.scale == "full" else (POS,)
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    n_neurons = len(trained.universal)
    sv = syntax_vr(ctx, trained.ref, np.flatnonzero(trained.universal | who.matched.universal))
    d_mlp = ctx.activations(trained.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW).shape[2]
    n_layers = n_neurons // d_mlp
    layer = np.arange(n_neurons) // d_mlp
    best, label = sv.best(kinds, n_neurons)
    parts, key, details = syntax_parts(best, layer, trained.universal, n_layers, ctx.scale, t)
    pool = np.flatnonzero(trained.universal & (label >= 0))
    strongest = [
        {"neuron": _neuron(int(i), d_mlp), "label": sv.names[label[i]], "vr": float(best[i])}
        for i in pool[np.argsort(-best[pool], kind="stable")[:10]]
    ]
    tested = sv.tested(kinds)
    control_details: dict[str, Any] = {}
    effect = None
    series = {"trained": _per_layer(trained.universal & (best >= t["min_vr"]), layer, n_layers)}
    if control is not None:
        cv = syntax_vr(ctx, control.ref, np.flatnonzero(control.universal))
        cbest, _ = cv.best(kinds, n_neurons)  # an untrained copy: the reference's shape
        _, ckey, control_details = syntax_parts(cbest, layer, control.universal, n_layers, ctx.scale, t)
        control_details["key"] = ckey
        effect = share_effect(
            f"share of universal neurons with {'syntax' if ctx.scale == 'full' else 'part-of-speech'} VR >= "
            f"{t['min_vr']:g}",
            syntax_share(best, who.matched.universal, t["min_vr"]),
            syntax_share(cbest, control.universal, t["min_vr"]),
            t["min_effect"],
            "universal neurons",
        )
        series["untrained control"] = _per_layer(control.universal & (cbest >= t["min_vr"]), layer, n_layers)
    text = ", ".join(f"{e['neuron']} {e['label']} {e['vr']:.2f}" for e in strongest[:4])
    return ctx.evidence(
        key=("distinct layers of the top syntax neurons" if ctx.scale == "full" else "universal syntax neurons", key),
        reason=f"{details}; strongest: {text or 'none'}; {len(tested)} labels tested ({sv.tagger}); "
        f"untrained control {control_details or 'n/a'}; {trained.rule}" + _effect_text(effect, who),
        measured={
            **details,
            "examples": strongest,
            "labels_tested": tested,
            "tagger": sv.tagger,
            "universal_rule": trained.rule,
        },
        control={"untrained": control_details},
        n_tokens=sv.n_positions,
        inconclusive=None if control is not None else NO_CONTROL,
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(n_layers)),
                "series": series,
                "ylabel": f"universal neurons with syntax VR >= {t['min_vr']:g}",
            }
        },
    )


# --- F6: context neurons (era of the speech) -------------------------------------------------------------------


def speech_years(ids: Sequence[str]) -> list[int] | None:
    """The year of every document id "1790-Washington-1", or None when an id has no year."""
    years = []
    for doc_id in ids:
        match = YEAR_ID.match(str(doc_id))
        if match is None:
            return None
        years.append(int(match.group(1)))
    return years


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


def rank_sums(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank every column of `values` (ties averaged) and sum the ranks per group.

    Returns:
        (the distinct groups [G], their sizes [G], rank sums [G, columns]).
    """
    ranks = stats.rankdata(values, axis=0)
    uniq, inverse = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(uniq), values.shape[1]))
    np.add.at(sums, inverse, ranks)
    return uniq, np.bincount(inverse, minlength=len(uniq)), sums


def auroc_from_rank_sums(sizes: np.ndarray, sums: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AUROC of every column for "group is positive", from per-group rank sums (Mann-Whitney U / n1 n0)."""
    positive = np.asarray(positive, dtype=bool)
    n1 = float(sizes[positive].sum())
    n0 = float(sizes.sum()) - n1
    r1 = sums[positive].sum(0)
    return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)


def era_statistic(aurocs: np.ndarray, scale: str) -> float:
    """Small: the best AUROC in either direction; full: the weaker era's best AUROC."""
    if scale == "full":
        return float(min(aurocs.max(), (1 - aurocs).max()))
    return float(np.maximum(aurocs, 1 - aurocs).max())


def relabelling_null(
    sizes: np.ndarray, sums: np.ndarray, n_positive: int, scale: str, seed: int, limit: int = MAX_LABELINGS
) -> tuple[np.ndarray, bool]:
    """`era_statistic` under every split of the documents into groups of the observed sizes (or a sample of them).

    Returns:
        (statistics, exact): exact is True when every split was enumerated (the observed one among them).
    """
    n = len(sizes)
    total = math.comb(n, n_positive)
    splits: Iterable[Any]
    if total <= limit:
        splits = itertools.combinations(range(n), n_positive)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        splits = (rng.choice(n, n_positive, replace=False) for _ in range(limit))
        exact = False
    out = []
    for chosen in splits:
        label = np.zeros(n, dtype=bool)
        label[list(chosen)] = True
        out.append(era_statistic(auroc_from_rank_sums(sizes, sums, label), scale))
    return np.asarray(out), exact


def relabelling_p(observed: float, null: np.ndarray, exact: bool) -> float:
    """Share of splits at least as separable as the observed one (+1 correction when sampled)."""
    hits = int(np.sum(null >= observed - 1e-12))
    return hits / len(null) if exact else (1 + hits) / (len(null) + 1)


def era_candidates(aurocs: np.ndarray, per_direction: int) -> np.ndarray:
    """The most era-selective columns in each direction (those the era statistic can come from)."""
    by_after = np.argsort(-aurocs, kind="stable")[:per_direction]
    by_before = np.argsort(aurocs, kind="stable")[:per_direction]
    return np.unique(np.concatenate([by_after, by_before]))


def era_effect_interval(
    u_trained: np.ndarray, u_control: np.ndarray, sizes: np.ndarray, positive: np.ndarray, scale: str, seed: int
) -> tuple[float, float]:
    """95 % bootstrap interval (over speeches) of the era statistic, trained minus control, on the same resamples.

    Args:
        u_trained: [columns, G, G] pairwise U (`group_pair_u`) of the trained model's era candidates.
        u_control: the same for the untrained control.
        sizes: [G] tokens per speech.
        positive: [G] speech is of the later era.
        scale: which era statistic.
        seed: bootstrap seed.
    """

    def statistic(idx: np.ndarray) -> float:
        w = np.bincount(idx, minlength=len(sizes))
        a = era_statistic(weighted_group_auroc(u_trained, sizes, positive, w), scale)
        b = era_statistic(weighted_group_auroc(u_control, sizes, positive, w), scale)
        return a - b

    return bootstrap_interval(statistic, len(sizes), N_BOOT, seed)


ERA_EFFECT = (
    "; and that statistic, trained - untrained control (same rule, pipeline and number of comparison seeds), has a 95 "
    "% bootstrap lower bound "
    "(over the sampled speeches) > {min_effect}; an era with < {min_docs} speeches or < {min_era_tokens} tokens in "
    "the sample is INCONCLUSIVE"
)


@claim(
    "F6",
    title="context neurons: the era of a speech",
    statement="""Many neurons respond to the context rather than the token: topics, Pile subsets, languages; the paper
    notes this family is hard to supervise and that VR is low for it, so AUROC is used.""",
    paper_ref="§5, Fig. 4c, 21",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full="State of the Union speeches split by year < {split_year} vs >= {split_year}: each era has a universal "
        "neuron with token AUROC >= {min_auroc} for 'token is in a speech of this era', and the weaker era's best "
        "AUROC has document-relabelling p < {max_relabel_p}" + ERA_EFFECT,
        small="State of the Union speeches split by year < {split_year} vs >= {split_year}: >= 1 universal neuron has "
        "token AUROC >= {min_auroc} for the era in either direction, and the best one has document-relabelling p < "
        "{max_relabel_p} (splits of the sampled speeches into groups of the era sizes)" + ERA_EFFECT,
        thresholds_full={
            "split_year": 1900,
            "min_auroc": 0.8,
            "max_relabel_p": 0.05,
            "min_docs": 3,
            "min_era_tokens": 10_000,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "split_year": 1900,
            "min_auroc": 0.8,
            "max_relabel_p": 0.1,
            "min_docs": 3,
            "min_era_tokens": 2_000,
            "min_effect": 0.0,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.05,
)
def context_neurons(ctx: ClaimContext) -> Evidence:
    """F6: era AUROC of universal neurons, against every relabelling of the sampled speeches and the control."""
    corpus = ctx.workbench.corpus(ctx.corpus_name)
    doc_ids = list(corpus.dataset["id"])
    years = speech_years(doc_ids)
    if years is None:
        raise NotApplicable(
            f"precondition: F6's pre-registered split is the era of a dated speech; {ctx.dataset} ids carry no year"
        )
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    docs = document_positions(ctx)
    who = subjects(ctx)
    trained, control = who.trained, who.control
    _, special = vocabulary(ctx)
    acts = ctx.activations(trained.ref, (MLP_POST_RAW,))
    keep = (F.kept_positions(acts.tokens, special) & (docs >= 0)).reshape(-1)
    doc = docs.reshape(-1)[keep]
    present = np.unique(doc)
    post = np.asarray([years[d] >= t["split_year"] for d in present])
    era_tokens = {"before": int(np.isin(doc, present[~post]).sum()), "after": int(np.isin(doc, present[post]).sum())}
    era_docs = {"before": [doc_ids[d] for d in present[~post]], "after": [doc_ids[d] for d in present[post]]}
    inconclusive = None
    if (
        min(len(era_docs["before"]), len(era_docs["after"])) < t["min_docs"]
        or min(era_tokens.values()) < t["min_era_tokens"]
    ):
        inconclusive = (
            f"the sample holds {len(era_docs['before'])} speeches ({era_tokens['before']} tokens) before "
            f"{t['split_year']:g} and {len(era_docs['after'])} ({era_tokens['after']} tokens) after"
        )
    seed = ctx.workbench.settings.seed
    results: dict[str, dict[str, Any]] = {}
    pair_u: dict[str, np.ndarray] = {}
    sizes = positive = np.zeros(0)
    for subject in _distinct(trained, control, who.matched):
        if len(present) < 2 or post.all() or not post.any():
            continue
        raw = ctx.activations(subject.ref, (MLP_POST_RAW,)).raw(MLP_POST_RAW)
        d_mlp = raw.shape[2]
        neurons = np.flatnonzero(subject.universal)
        values = read_columns(raw, neurons, d_mlp)[keep]
        groups, sizes, sums = rank_sums(values, doc)
        positive = np.asarray([years[g] >= t["split_year"] for g in groups])
        aucs = auroc_from_rank_sums(sizes, sums, positive)
        observed = era_statistic(aucs, ctx.scale)
        null, exact = relabelling_null(sizes, sums, int(positive.sum()), ctx.scale, seed)
        order = np.argsort(-np.maximum(aucs, 1 - aucs))
        pair_u[subject.label] = group_pair_u(values[:, era_candidates(aucs, ERA_BOOT_NEURONS)], doc)[2]
        results[subject.label] = {
            "statistic": observed,
            "relabel_p": relabelling_p(observed, null, exact),
            "n_splits": len(null),
            "exact": exact,
            "null_median": float(np.median(null)),
            "best_after": float(aucs.max()),
            "best_before": float((1 - aucs).max()),
            "top": [{"neuron": _neuron(int(neurons[k]), d_mlp), "auroc_after": float(aucs[k])} for k in order[:6]],
            "aucs": aucs,
            "excess": subject.excess[neurons],
            "rule": subject.rule,
        }
    main = results.get(trained.label, {})
    ctrl = results.get("untrained control", {})
    statistic = float(main.get("statistic", math.nan))
    parts = [
        ctx.part(
            "best universal era AUROC" if ctx.scale == "small" else "weaker era's best universal AUROC",
            statistic,
            ">=",
            "min_auroc",
        ),
        ctx.part("document-relabelling p of that AUROC", float(main.get("relabel_p", math.nan)), "p<", "max_relabel_p"),
    ]
    effect = None
    if not main:
        inconclusive = inconclusive or "the sample holds speeches of one era only"
    elif ctrl:  # no control: a PASS becomes INCONCLUSIVE in evidence()
        low, high = era_effect_interval(
            pair_u[who.matched.label], pair_u["untrained control"], sizes, positive, ctx.scale, seed
        )
        measured = float(results[who.matched.label]["statistic"])
        effect = Effect(
            name=f"{parts[0].name}: trained - untrained",
            measured=measured,
            control=float(ctrl["statistic"]),
            value=measured - float(ctrl["statistic"]),
            low=low,
            high=high,
            threshold=t["min_effect"],
            control_name=CONTROL_NAME,
            method=f"percentile bootstrap over {len(sizes)} speeches ({N_BOOT} resamples; the best of each model's "
            f"{ERA_BOOT_NEURONS} most era-selective universal neurons per direction)",
        )
    strip = ("aucs", "excess")
    figures = {}
    if main:
        figures["scatter"] = {
            "x": main["excess"],
            "y": main["aucs"],
            "xlabel": "excess correlation (universal neurons)",
            "ylabel": f"AUROC for speech year >= {t['split_year']:g}",
            "fit": False,
        }
    return ctx.evidence(
        key=("era AUROC (best universal)" if ctx.scale == "small" else "weaker era's best AUROC", statistic),
        reason=f"{len(era_docs['before'])} speeches before {t['split_year']:g} ({era_tokens['before']} tokens), "
        f"{len(era_docs['after'])} after ({era_tokens['after']} tokens); best universal AUROC after "
        f"{main.get('best_after', math.nan):.3f} / before {main.get('best_before', math.nan):.3f}, relabelling p "
        f"{main.get('relabel_p', math.nan):.3f} over {main.get('n_splits', 0)} splits; untrained control "
        f"{ctrl.get('statistic', math.nan):.3f} (p {ctrl.get('relabel_p', math.nan):.3f}); {trained.rule}"
        + _effect_text(effect, who),
        measured={**{k: v for k, v in main.items() if k not in strip}, "era_docs": era_docs, "era_tokens": era_tokens},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        n_tokens=int(keep.sum()),
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
        figures=figures,
    )


# --- F7: universal neurons are more interpretable ---------------------------------------------------------------


def layer_matched_sample(universal: np.ndarray, layer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """As many non-universal neurons per layer as there are universal ones there (fewer if the layer runs out)."""
    universal = np.asarray(universal, dtype=bool)
    out = np.zeros(len(universal), dtype=bool)
    for layer_ in np.unique(layer[universal]):
        others = np.flatnonzero((layer == layer_) & ~universal)
        k = min(int((universal & (layer == layer_)).sum()), len(others))
        out[rng.choice(others, k, replace=False)] = True
    return out


def interpretability_gap(best: np.ndarray, universal: np.ndarray, sample: np.ndarray) -> dict[str, float]:
    """Best-feature VR of universal neurons vs a comparison set: medians, difference, one-sided Mann-Whitney p."""
    u, s = best[np.asarray(universal, dtype=bool)], best[np.asarray(sample, dtype=bool)]
    return {
        "median_universal": float(np.median(u)),
        "median_sample": float(np.median(s)),
        "median_difference": float(np.median(u) - np.median(s)),
        "mann_whitney_p": mann_whitney_greater(u, s),
        "auroc": auroc(u, s),
    }


def interpretability_parts(gap: Mapping[str, float], t: Mapping[str, float]) -> list[Part]:
    """F7's clauses besides the effect."""
    return [
        make_part("Mann-Whitney p (universal > layer-matched sample)", gap["mann_whitney_p"], "p<", t["max_p"]),
        make_part("median best-feature VR difference", gap["median_difference"], ">=", t["min_median_diff"]),
    ]


def interpretability_passes(gap: Mapping[str, float], t: Mapping[str, float]) -> bool:
    """F7's clauses besides the effect all hold."""
    return all(p.passed for p in interpretability_parts(gap, t))


def interpretability_effect_interval(
    trained: tuple[np.ndarray, np.ndarray], control: tuple[np.ndarray, np.ndarray], seed: int
) -> tuple[float, float]:
    """95 % bootstrap interval of (median universal - median sample) trained minus the same in the control.

    Args:
        trained: (best-feature VR of the universal neurons, of their layer-matched sample) of the trained model.
        control: the same for the untrained control; the four sets of neurons are resampled independently.
        seed: bootstrap seed.
    """
    groups = [np.asarray(x, dtype=np.float64) for x in (*trained, *control)]

    def statistic(idx: list[np.ndarray]) -> float:
        u, s, cu, cs = (g[i] for g, i in zip(groups, idx, strict=True))
        return float(np.median(u) - np.median(s) - (np.median(cu) - np.median(cs)))

    return groups_bootstrap_interval(statistic, [len(g) for g in groups], N_BOOT, seed)


def _f7_measure(fv: FeatureVR, subject: Subject, seed: int, t: Mapping[str, float]) -> dict[str, Any]:
    best, idx = best_of(fv.vr, fv.kinds, F.CURRENT_KINDS + F.PREV_KINDS)
    layer = fv.layer
    rng = np.random.default_rng(seed)
    sample = layer_matched_sample(subject.universal, layer, rng)
    gap = interpretability_gap(best, subject.universal, sample)
    out: dict[str, Any] = {
        **gap,
        "passed": interpretability_passes(gap, t),
        "n_universal": int(subject.universal.sum()),
    }
    if not np.isnan(best).any():  # every neuron computed (the trained model): resamples and all non-universal ones
        resampled = [
            interpretability_gap(best, subject.universal, layer_matched_sample(subject.universal, layer, rng))
            for _ in range(N_RESAMPLES)
        ]
        out["resampled_pass_rate"] = float(np.mean([interpretability_passes(g, t) for g in resampled]))
        out["resampled_median_difference"] = float(np.median([g["median_difference"] for g in resampled]))
        out["vs_all_nonuniversal"] = interpretability_gap(best, subject.universal, ~subject.universal)
    top = np.flatnonzero(subject.universal)[np.argsort(-best[subject.universal])][:8]
    out["top_labels"] = [
        {"neuron": _neuron(int(i), fv.d_mlp), "feature": fv.names[idx[i]], "vr": float(best[i])} for i in top
    ]
    return {**out, "rule": subject.rule, "best": best, "sample": sample}


F7_CRITERION = (
    "best-feature VR (every current- and previous-token feature) of universal neurons exceeds that of a "
    "layer-matched random sample of as many non-universal neurons: one-sided Mann-Whitney p < {max_p} and median "
    "difference >= {min_median_diff}; and that median difference, trained - untrained control (same rule, pipeline "
    "and number of comparison seeds), has a 95 % bootstrap lower bound (over neurons) > {min_effect}; universal = "
    "excess > {universal_threshold}, else the top 2 %"
)


@claim(
    "F7",
    title="universal neurons are more interpretable",
    statement="""Those few neurons which are universal are often interpretable (abstract, §7). The paper labelled
    only universal neurons; the comparison with non-universal neurons was never run.""",
    paper_ref="abstract, §5, §7",
    axes=FAMILY_AXES,
    needs=CROSS_SEED,
    version=2,
    criterion=Criterion(
        full=F7_CRITERION,
        small=F7_CRITERION,
        thresholds_full={
            "max_p": 0.01,
            "min_median_diff": 0.1,
            "min_effect": 0.0,
            "universal_threshold": 0.5,
            **FALLBACK,
        },
        thresholds_small={
            "max_p": 0.01,
            "min_median_diff": 0.05,
            "min_effect": 0.0,
            "universal_threshold": 0.3,
            **FALLBACK,
        },
    ),
    min_tokens=MIN_TOKENS,
    key_tolerance=0.05,
)
def universal_interpretable(ctx: ClaimContext) -> Evidence:
    """F7: best-feature VR of universal neurons vs a layer-matched random sample of non-universal ones."""
    who = subjects(ctx)
    trained, control = who.trained, who.control
    t = dict(ctx.claim.criterion.thresholds(ctx.scale))
    seed = ctx.workbench.settings.seed
    fv = feature_vr(ctx, trained.ref)
    main = _f7_measure(fv, trained, seed, t)
    ctrl: dict[str, Any] = {}
    effect = None
    if control is not None:
        ctrl = _f7_measure(control_vr(ctx, control), control, seed, t)
        same = main if who.matched is trained else _f7_measure(fv, who.matched, seed, t)
        low, high = interpretability_effect_interval(
            (same["best"][who.matched.universal], same["best"][same["sample"]]),
            (ctrl["best"][control.universal], ctrl["best"][ctrl["sample"]]),
            seed,
        )
        effect = Effect(
            name="median best-feature VR difference (universal - sample): trained - untrained",
            measured=same["median_difference"],
            control=ctrl["median_difference"],
            value=same["median_difference"] - ctrl["median_difference"],
            low=low,
            high=high,
            threshold=t["min_effect"],
            control_name=CONTROL_NAME,
            method=f"percentile bootstrap over neurons ({N_BOOT} resamples; universal and sample neurons of each "
            "model resampled independently)",
        )
    strip = ("best", "sample")
    shown = trained.universal | main["sample"]
    return ctx.evidence(
        key=("median VR difference", main["median_difference"]),
        reason=f"median best-feature VR {main['median_universal']:.3f} ({main['n_universal']} universal, "
        f"{trained.rule}) "
        f"vs {main['median_sample']:.3f} (layer-matched sample), difference {main['median_difference']:.3f}, "
        f"Mann-Whitney p {main['mann_whitney_p']:.2g}; {100 * main['resampled_pass_rate']:.0f} % of {N_RESAMPLES} "
        f"resamples pass; untrained control difference {ctrl.get('median_difference', float('nan')):.3f} "
        f"(p {ctrl.get('mann_whitney_p', float('nan')):.2g})" + _effect_text(effect, who),
        measured={k: v for k, v in main.items() if k not in strip},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        inconclusive=None if control is not None else NO_CONTROL,
        parts=interpretability_parts(main, t),
        effect=effect,
        n_tokens=fv.n_positions,
        figures={
            "scatter": {
                "x": trained.excess[shown],
                "y": main["best"][shown],
                "xlabel": "excess correlation",
                "ylabel": "best-feature VR",
                "groups": np.where(trained.universal[shown], "universal", "layer-matched sample").tolist(),
                "fit": False,
            }
        },
    )
