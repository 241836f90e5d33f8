"""GT3: the paper's universality method applied to a new unit — attention heads instead of MLP neurons.

The paper's §4.1 pipeline (max correlation across seeds minus the max against a random rotation of the
comparison model's units, averaged over comparison models) only needs one scalar per unit per token. For a
head that scalar is the norm of its output before W_O (`hook_z`), the quantity the paper's own attention
analysis (§5.3, A3) tracks. The rotation baseline mixes the heads of a layer (an n_heads x n_heads rotation),
and the untrained seeds give the control. Also here: the choice of baseline itself as a method question — does
the paper's Gaussian "rotation" (not orthogonal) give the same universal set as a true rotation? — controlled by
the same question on untrained seeds, whose "universal" set is noise and so should depend on the baseline.
"""

from __future__ import annotations

import numpy as np

from claims.context import NO_CONTROL, ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import universality
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence
from engine.inference import mean_interval, two_sample_bootstrap_interval
from engine.universality import universal_mask
from fixtures.activations import ATTN_Z_NORMS, MLP_POST_STREAM
from fixtures.models import ModelRef


def head_norms(ctx: ClaimContext, ref: ModelRef) -> tuple[np.ndarray, np.ndarray]:
    """[positions, layers, heads] norms of each head's output before W_O on the token-level sample, and the keep mask.

    An activation product (fixtures/activations.py), so it comes from the same forward pass as the model's MLP
    activations on this dataset, not from a pass of its own.
    """
    acts = ctx.activations(ref, (ATTN_Z_NORMS,))
    return np.asarray(acts.raw(ATTN_Z_NORMS)), ~acts.excluded.reshape(-1)


@claim(
    "G3-heads",
    title="universality method on attention heads",
    statement="""(GT3) The excess-correlation method finds universal attention heads too: head output norms correlate
    across seeds well above a rotation of the comparison model's heads, and above untrained seeds.""",
    paper_ref="§4.1 method (Eq. 3) applied to heads; §5.3 for the head scalar",
    axes=(Axis.GT3,),
    needs=Needs(seeds=2, products=frozenset({ATTN_Z_NORMS}), untrained_control=True),
    version=2,
    criterion=Criterion(
        full="mean head excess correlation > 0 with its 95 % t-interval above 0, and >= {control_ratio} x the "
        "untrained control's mean head excess; mean head excess trained - untrained seeds has its Welch 95 % lower "
        "bound > {min_effect}",
        small="mean head excess correlation > 0 with its 95 % t-interval above 0, and >= {control_ratio} x the "
        "untrained control's mean head excess; mean head excess trained - untrained seeds has its Welch 95 % lower "
        "bound > {min_effect}",
        thresholds_full={"control_ratio": 3.0, "min_effect": 0.0},
        thresholds_small={"control_ratio": 3.0, "min_effect": 0.0},
    ),
    min_tokens=8_192,
    key_tolerance=0.02,
)
def head_universality(ctx: ClaimContext) -> Evidence:
    import torch

    from engine.universality import cross_model_correlations

    family = ctx.family
    if family is None:
        raise NotApplicable("precondition: a family of >= 2 seeds")

    def excess(refs: tuple[ModelRef, ...]) -> tuple[np.ndarray, int]:
        data = [head_norms(ctx, r) for r in refs]
        keep = data[0][1]
        run = cross_model_correlations(
            data[0][0],
            [d[0] for d in data[1:]],
            keep,
            torch.Generator().manual_seed(ctx.workbench.settings.seed),
            baselines=("gaussian",),
        )
        corr = np.stack([r.max_corr.numpy() for r in run.results]).mean(0)
        base = np.stack([b.numpy() for b in run.baselines["gaussian"]]).mean(0)
        return corr - base, run.n_tokens

    trained, n_tokens = excess(family.members)
    low, high = mean_interval(trained)
    mean_t = float(trained.mean())
    parts = [ctx.part("95 % t-low of mean head excess", low, ">", 0)]
    n_layers = len(trained) // max(1, ctx.workbench.model(family.reference).n_heads)
    measured = {"mean_excess": mean_t, "ci95": [low, high], "per_head_excess": trained, "n_layers": n_layers}
    if len(family.controls) < 2:
        return ctx.evidence(
            key=("mean head excess", mean_t),
            reason=f"mean excess over {len(trained)} heads {mean_t:.3f} (95 % CI {low:.3f}-{high:.3f}); no control",
            measured=measured,
            n_tokens=n_tokens,
            parts=parts,
            inconclusive=NO_CONTROL if all(p.passed for p in parts) else None,
        )
    control, _ = excess(family.controls)
    mean_c = float(control.mean())
    ratio = ctx.threshold("control_ratio")
    parts.append(
        ctx.part(f"mean head excess - {ratio:g} x max(untrained mean, 0)", mean_t - ratio * max(mean_c, 0), ">=", 0)
    )
    effect = Effect.welch(
        "mean head excess: trained - untrained",
        trained,
        control,
        measured=mean_t,
        control=mean_c,
        threshold=ctx.threshold("min_effect"),
        control_name="untrained seeds (same pipeline on their heads)",
        units="heads",
    )
    return ctx.evidence(
        key=("mean head excess", mean_t),
        reason=f"mean excess over {len(trained)} heads {mean_t:.3f} (95 % CI {low:.3f}-{high:.3f}) vs untrained {mean_c:.3f} "
        f"(difference {effect.value:.3f}, 95 % CI {effect.low:.3f}-{effect.high:.3f}); best head {trained.max():.3f}",
        measured=measured,
        control={"untrained_mean_excess": mean_c, "untrained_per_head_excess": control},
        n_tokens=n_tokens,
        parts=parts,
        effect=effect,
    )


@claim(
    "G3-baseline",
    title="the paper's Gaussian baseline vs a true rotation",
    statement="""(GT3) The paper's baseline multiplies by a Gaussian matrix with unit rows (not orthogonal) and calls it
    a rotation; its universal set should not depend on that choice.""",
    paper_ref="§4.1 Eq. 3; docs/catalogue.md §2.2 (the baseline is not orthogonal)",
    axes=(Axis.GT3,),
    needs=Needs(seeds=2, products=frozenset({MLP_POST_STREAM}), untrained_control=True),
    version=2,
    criterion=Criterion(
        full="universal sets under the two baselines (excess > {universal_threshold}) have Jaccard >= {min_jaccard} and "
        "mean baselines differ by <= {max_mean_gap}; that Jaccard, trained - untrained seeds (same rule), has its "
        "bootstrap 95 % lower bound > {min_effect}",
        small="universal sets under the two baselines (excess > {universal_threshold}, else the top 2 %) have Jaccard "
        ">= {min_jaccard} and mean baselines differ by <= {max_mean_gap}; that Jaccard, trained - untrained seeds "
        "(same rule), has its bootstrap 95 % lower bound > {min_effect}",
        thresholds_full={"universal_threshold": 0.5, "min_jaccard": 0.8, "max_mean_gap": 0.05, "min_effect": 0.0},
        thresholds_small={"universal_threshold": 0.3, "min_jaccard": 0.8, "max_mean_gap": 0.05, "min_effect": 0.0},
    ),
    min_tokens=16_384,
    key_tolerance=0.05,
)
def baseline_choice(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    t = ctx.threshold("universal_threshold")
    gauss, rule_g = universal_mask(u.table.excess_corr.to_numpy(), t)
    orth, rule_o = universal_mask(u.table.excess_corr_orth.to_numpy(), t)
    jaccard = _jaccard(gauss, orth)
    gap = float((u.table.mean_baseline - u.table.mean_baseline_orth).mean())
    parts = [
        ctx.part("Jaccard(Gaussian, orthogonal universal sets)", jaccard, ">=", "min_jaccard"),
        ctx.part("|mean baseline gap|", abs(gap), "<=", "max_mean_gap"),
    ]
    effect: Effect | None = None
    control: dict[str, float] = {}
    if u.control is not None:
        cg, _ = universal_mask(u.control.excess_corr.to_numpy(), t)
        co, _ = universal_mask(u.control.excess_corr_orth.to_numpy(), t)
        control_jaccard = _jaccard(cg, co)
        low, high = two_sample_bootstrap_interval(
            lambda ia, ib: _jaccard(gauss[ia], orth[ia]) - _jaccard(cg[ib], co[ib]),
            len(gauss),
            len(cg),
            seed=ctx.workbench.settings.seed,
        )
        effect = Effect(
            name="Jaccard(Gaussian, orthogonal universal sets): trained - untrained",
            measured=jaccard,
            control=control_jaccard,
            value=jaccard - control_jaccard,
            low=low,
            high=high,
            threshold=ctx.threshold("min_effect"),
            control_name="untrained seeds (same pipeline and rule)",
            method="percentile bootstrap over neurons (sets fixed), 1000",
        )
        control = {
            "untrained_jaccard": control_jaccard,
            "untrained_mean_baseline_gap": float((u.control.mean_baseline - u.control.mean_baseline_orth).mean()),
        }
    missing = None if effect is not None or not all(p.passed for p in parts) else NO_CONTROL
    return ctx.evidence(
        key=("Jaccard(gaussian, orthogonal)", jaccard),
        reason=f"{int(gauss.sum())} universal under the Gaussian baseline ({rule_g}), {int(orth.sum())} under the orthogonal "
        f"({rule_o}); Jaccard {jaccard:.2f} (untrained seeds {control.get('untrained_jaccard', float('nan')):.2f}); "
        f"mean baseline gap {gap:+.4f}",
        measured={
            "jaccard": jaccard,
            "mean_baseline_gaussian": float(u.table.mean_baseline.mean()),
            "mean_baseline_orthogonal": float(u.table.mean_baseline_orth.mean()),
            "n_gaussian": int(gauss.sum()),
            "n_orthogonal": int(orth.sum()),
        },
        control=control,
        n_tokens=u.n_tokens,
        parts=parts,
        effect=effect,
        inconclusive=missing,
    )


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else float("nan")
