"""F2: alphabet neurons (§5, Fig. 4b, 17), a universal neuron with high VR on a single-letter feature per letter.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from claims.context import ClaimContext
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    effect_text,
    neuron_name,
    share_effect,
    subjects,
)
from claims.papers.universal_neurons.measures.family_features import control_vr, feature_vr, position_features
from claims.registry import Criterion, claim
from claims.verdict import Evidence, Part
from claims.verdict import part as make_part
from engine import features as F
from engine.family_stats import read_columns
from fixtures.activations import MLP_POST_RAW


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
            "neuron": neuron_name(letters[c]["neuron"], fv.d_mlp),
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
        + effect_text(effect, who),
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
