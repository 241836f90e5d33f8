"""F6: context neurons (§5, Fig. 4c, 21), from the AUROC of universal neurons for the era of a speech.

measures/families.py (who is measured, the effect against the untrained control) and
measures/family_features.py (the VR table) hold the measurement choices every family shares.

Measurement choices of F6, fixed before any run:

* F6 is pre-registered on what our offline data has: the State of the Union speeches, split by era (speech year
  < 1900 vs >= 1900, from the speech id "1790-Washington-1"). Every position's speech is the token sample's own
  document index (fixtures/tokens.py draws each sample across many speeches).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import FALLBACK
from claims.papers.universal_neurons.measures.families import (
    CONTROL_NAME,
    CROSS_SEED,
    FAMILY_AXES,
    MIN_TOKENS,
    N_BOOT,
    distinct_subjects,
    effect_text,
    neuron_name,
    subjects,
    vocabulary,
)
from claims.papers.universal_neurons.measures.family_features import document_positions
from claims.registry import Criterion, claim
from claims.verdict import Effect, Evidence
from engine import features as F
from engine.family_stats import read_columns
from engine.inference import bootstrap_interval, group_pair_u, weighted_group_auroc
from engine.ranks import auroc_from_rank_sums, era_candidates, era_statistic, rank_sums, relabelling_null, relabelling_p
from fixtures.activations import MLP_POST_RAW

ERA_BOOT_NEURONS = 32  # F6: the bootstrap recomputes the best of each model's most era-selective universal neurons
YEAR_ID = re.compile(r"^(\d{4})-")


def speech_years(ids: Sequence[str]) -> list[int] | None:
    """The year of every document id "1790-Washington-1", or None when an id has no year."""
    years = []
    for doc_id in ids:
        match = YEAR_ID.match(str(doc_id))
        if match is None:
            return None
        years.append(int(match.group(1)))
    return years


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
    for subject in distinct_subjects(trained, control, who.matched):
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
            "top": [{"neuron": neuron_name(int(neurons[k]), d_mlp), "auroc_after": float(aucs[k])} for k in order[:6]],
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
        + effect_text(effect, who),
        measured={**{k: v for k, v in main.items() if k not in strip}, "era_docs": era_docs, "era_tokens": era_tokens},
        control={"untrained": {k: v for k, v in ctrl.items() if k not in strip}},
        n_tokens=int(keep.sum()),
        inconclusive=inconclusive,
        parts=parts,
        effect=effect,
        figures=figures,
    )
