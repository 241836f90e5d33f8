"""F1-F7: the neuron families of §5 (Fig. 4, 15-21): who is measured, and how each family's effect is stated.

The paper labels every universal neuron by the binary feature whose split explains most of its variance (VR,
engine/variance_reduction.py), over token features, unigram features and their previous-token versions
(engine/features.py says how they are built and scaled to our samples). Families are then read off the labels:
unigram (F1), alphabet (F2), previous-token (F3) and syntax (F5) neurons; position neurons (F4) come from the mutual
information between firing and position, context neurons (F6) from AUROC, and F7 asks what the paper never
measured: are universal neurons more interpretable than non-universal ones of the same layers? The claims are the
family_*.py modules beside this package; the per-neuron tables they read are in measures/family_features.py.

Measurement choices every family shares, fixed before any run:

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from claims.context import ClaimContext
from claims.papers.universal_neurons.measures import universality
from claims.registry import Needs
from claims.verdict import Axis, Effect
from engine.inference import proportion_difference
from engine.universality import RULE_THRESHOLD, universal_mask
from fixtures.activations import MLP_POST_RAW
from fixtures.models import ModelRef

FAMILY_AXES = (Axis.ORIGINAL, Axis.GT1, Axis.GT2)
CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_RAW}), untrained_control=True)
MIN_TOKENS = 16_384  # kept positions, as for U1-U4
N_BOOT = 1000  # bootstrap resamples of the effects' intervals (F6 speeches, F7 neurons)


CONTROL_NAME = "untrained control (same universality rule, pipeline and number of comparison seeds)"


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


def distinct_subjects(*items: Subject | None) -> list[Subject]:
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


def neuron_name(i: int, d_mlp: int) -> str:
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


def effect_text(effect: Effect | None, who: Subjects) -> str:
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
