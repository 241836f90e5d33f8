"""What the U-claims (universality.py: U1-U2; universality_matches.py: U3, U4, G2-overlap) share.

Both claim modules read the family's universality (`measures.universality`) with the same needs and token floor,
pick universal sets by the same pre-registered rule, and treat a missing untrained control the same way; those
shared pieces live here because claim modules do not import each other:

- `universal_set`: universal = excess > the criterion's `universal_threshold` (0.5 at the paper's scale, 0.3 for
  the zoo), with the fallback — the top 2 % by ϱ — when fewer than 30 neurons pass (docs/catalogue.md §3).
- `missing_control`: a family without untrained controls is INCONCLUSIVE where the control decides, never PASS.
- `excess_histogram`: U1's figure, the per-layer histograms of trained, baseline and control correlations.

(Named cross_seed, not universality: a submodule `measures.universality` would replace the package's
`universality()` function as the attribute `measures.universality` once imported.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from claims.context import NO_CONTROL, ClaimContext
from claims.papers.universal_neurons.measures import Universality
from claims.registry import Needs
from claims.verdict import Axis, Part
from engine.universality import universal_mask
from fixtures.activations import MLP_POST_STREAM

FAMILY_AXES = (Axis.ORIGINAL, Axis.GT1, Axis.GT2)
CROSS_SEED = Needs(seeds=2, products=frozenset({MLP_POST_STREAM}), untrained_control=True)
MIN_TOKENS = 16_384  # kept positions; below this correlations of sparse neurons rest on too few firings


def universal_threshold(ctx: ClaimContext) -> float:
    """The criterion's `universal_threshold` at the row's scale."""
    return ctx.threshold("universal_threshold")


@dataclass(frozen=True)
class Chosen:
    """A universal set: its boolean mask over the reference's neurons and the rule that chose it, in words."""

    mask: np.ndarray
    rule: str


def universal_set(excess: np.ndarray, ctx: ClaimContext) -> Chosen:
    """The universal set by the pre-registered rule: excess > threshold, else the top 2 % (fewer than 30 pass)."""
    t = universal_threshold(ctx)
    mask, rule = universal_mask(excess, t, ctx.threshold("fallback_top_frac"), int(ctx.threshold("fallback_min_count")))
    return Chosen(mask, f"excess > {t:g}" if rule == "threshold" else f"top 2 % by excess (fewer than 30 above {t:g})")


def excess_histogram(u: Universality, threshold: float) -> dict[str, Any]:
    """U1's figure data: per-layer histograms of mean max correlation, both baselines and the untrained control."""
    edges = np.linspace(-0.1, 1.0, 45)
    table = u.table
    series = {
        "mean max corr (trained)": [
            np.histogram(table.mean_corr[table.layer == layer], edges)[0] for layer in sorted(table.layer.unique())
        ],
        "Gaussian-rotation baseline": [
            np.histogram(table.mean_baseline[table.layer == layer], edges)[0] for layer in sorted(table.layer.unique())
        ],
        "orthogonal baseline": [
            np.histogram(table.mean_baseline_orth[table.layer == layer], edges)[0]
            for layer in sorted(table.layer.unique())
        ],
    }
    if u.control is not None:
        c = u.control
        series["untrained control (mean max corr)"] = [
            np.histogram(c.mean_corr[c.layer == layer], edges)[0] for layer in sorted(c.layer.unique())
        ]
    return {
        "layers": sorted(int(x) for x in table.layer.unique()),
        "bin_edges": edges,
        "series": series,
        "threshold": None,
    }


def missing_control(u: Universality, parts: list[Part]) -> str | None:
    """INCONCLUSIVE when the control is missing and every other clause held; a failed clause is a finding anyway."""
    if u.control is not None or not all(p.passed for p in parts):
        return None
    return NO_CONTROL
