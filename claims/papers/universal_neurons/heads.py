"""GT3: the paper's universality method applied to a new unit — attention heads instead of MLP neurons.

The paper's §4.1 pipeline (max correlation across seeds minus the max against a random rotation of the
comparison model's units, averaged over comparison models) only needs one scalar per unit per token. For a
head that scalar is the norm of its output before W_O (`hook_z`), the quantity the paper's own attention
analysis (§5.3, A3) tracks. The rotation baseline mixes the heads of a layer (an n_heads x n_heads rotation),
and the untrained seeds give the control. Also here: the choice of baseline itself as a method question — does
the paper's Gaussian "rotation" (not orthogonal) give the same universal set as a true rotation?
"""

from __future__ import annotations

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.lib.inference import mean_interval
from claims.lib.universality import universal_mask
from claims.papers.universal_neurons.measures import universality
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Evidence
from fixtures import hooks
from fixtures.models import LoadedModel, ModelRef
from fixtures.tokens import TokenSample

HEAD_NORMS_VERSION = 1


def head_norms(ctx: ClaimContext, ref: ModelRef) -> tuple[np.ndarray, np.ndarray]:
    """[positions, layers, heads] norms of each head's output before W_O, and the keep mask, memoised on disk."""

    def compute(model: LoadedModel, sample: TokenSample) -> tuple[np.ndarray, np.ndarray]:
        n_ctx, ctx_len = sample.tokens.shape
        out = np.empty((n_ctx * ctx_len, model.n_layers, model.n_heads), dtype=np.float32)
        state = {"row": 0}

        def hook_for(layer: int):  # type: ignore[no-untyped-def]
            def hook(z, hook):  # type: ignore[no-untyped-def]
                norms = z.detach().float().norm(dim=-1).reshape(-1, z.shape[2])  # [batch*pos, heads]
                out[state["row"] : state["row"] + norms.shape[0], layer] = norms.cpu().numpy()
                if layer == model.n_layers - 1:
                    state["row"] += norms.shape[0]

            return hook

        hooked = [(hooks.attn_z(layer), hook_for(layer)) for layer in range(model.n_layers)]
        ctx.workbench.forward_pass(model, sample.tokens, hooked)
        return out, ~sample.excluded.reshape(-1)

    return ctx.workbench.derived_on_sample("head-norms", HEAD_NORMS_VERSION, ref, ctx.corpus_name, compute)


@claim(
    "G3-heads",
    title="universality method on attention heads",
    statement="""(GT3) The excess-correlation method finds universal attention heads too: head output norms correlate
    across seeds well above a rotation of the comparison model's heads, and above untrained seeds.""",
    paper_ref="§4.1 method (Eq. 3) applied to heads; §5.3 for the head scalar",
    axes=(Axis.GT3,),
    needs=Needs(seeds=2, untrained_control=True),
    criterion=Criterion(
        full="mean head excess correlation > 0 with its 95 % t-interval above 0, and >= {control_ratio} x the "
        "untrained control's mean head excess",
        small="mean head excess correlation > 0 with its 95 % t-interval above 0, and >= {control_ratio} x the "
        "untrained control's mean head excess",
        thresholds_full={"control_ratio": 3.0},
        thresholds_small={"control_ratio": 3.0},
    ),
    min_tokens=8_192,
    key_tolerance=0.02,
)
def head_universality(ctx: ClaimContext) -> Evidence:
    import torch

    from claims.lib.universality import cross_model_correlations

    family = ctx.family
    assert family is not None
    if not family.controls:
        raise NotApplicable(f"{family.name} has no untrained controls, which this criterion compares with")

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
    control, _ = excess(family.controls)
    low, high = mean_interval(trained)
    mean_t, mean_c = float(trained.mean()), float(control.mean())
    ratio = mean_t / mean_c if mean_c > 0 else float("inf")
    passed = low > 0 and mean_t >= ctx.threshold("control_ratio") * max(mean_c, 0.0)
    n_layers = len(trained) // max(1, ctx.workbench.model(family.reference).n_heads)
    return ctx.evidence(
        passed,
        key=("mean head excess", mean_t),
        reason=f"mean excess over {len(trained)} heads {mean_t:.3f} (95 % CI {low:.3f}-{high:.3f}) vs untrained {mean_c:.3f} "
        f"(ratio {ratio:.1f}); best head {trained.max():.3f}",
        measured={"mean_excess": mean_t, "ci95": [low, high], "per_head_excess": trained, "n_layers": n_layers},
        control={"untrained_mean_excess": mean_c, "untrained_per_head_excess": control},
        n_tokens=n_tokens,
    )


@claim(
    "G3-baseline",
    title="the paper's Gaussian baseline vs a true rotation",
    statement="""(GT3) The paper's baseline multiplies by a Gaussian matrix with unit rows (not orthogonal) and calls it
    a rotation; its universal set should not depend on that choice.""",
    paper_ref="§4.1 Eq. 3; CLAIMS.md Appendix A (the baseline is not orthogonal)",
    axes=(Axis.GT3,),
    needs=Needs(seeds=2, products=frozenset({"mlp_post.raw"}), untrained_control=True),
    criterion=Criterion(
        full="universal sets under the two baselines (excess > {universal_threshold}) have Jaccard >= {min_jaccard} and "
        "mean baselines differ by <= {max_mean_gap}",
        small="universal sets under the two baselines (excess > {universal_threshold}, else the top 2 %) have Jaccard "
        ">= {min_jaccard} and mean baselines differ by <= {max_mean_gap}",
        thresholds_full={"universal_threshold": 0.5, "min_jaccard": 0.8, "max_mean_gap": 0.05},
        thresholds_small={"universal_threshold": 0.3, "min_jaccard": 0.8, "max_mean_gap": 0.05},
    ),
    min_tokens=16_384,
    key_tolerance=0.05,
)
def baseline_choice(ctx: ClaimContext) -> Evidence:
    u = universality(ctx)
    t = ctx.threshold("universal_threshold")
    gauss, rule_g = universal_mask(u.table.excess_corr.to_numpy(), t, 0.02, 30)
    orth, rule_o = universal_mask(u.table.excess_corr_orth.to_numpy(), t, 0.02, 30)
    jaccard = float((gauss & orth).sum() / max(1, (gauss | orth).sum()))
    gap = float((u.table.mean_baseline - u.table.mean_baseline_orth).mean())
    passed = jaccard >= ctx.threshold("min_jaccard") and abs(gap) <= ctx.threshold("max_mean_gap")
    control = {}
    if u.control is not None:
        cg, _ = universal_mask(u.control.excess_corr.to_numpy(), t, 0.02, 30)
        co, _ = universal_mask(u.control.excess_corr_orth.to_numpy(), t, 0.02, 30)
        control = {
            "untrained_jaccard": float((cg & co).sum() / max(1, (cg | co).sum())),
            "untrained_mean_baseline_gap": float((u.control.mean_baseline - u.control.mean_baseline_orth).mean()),
        }
    return ctx.evidence(
        passed,
        key=("Jaccard(gaussian, orthogonal)", jaccard),
        reason=f"{int(gauss.sum())} universal under the Gaussian baseline ({rule_g}), {int(orth.sum())} under the orthogonal "
        f"({rule_o}); Jaccard {jaccard:.2f}; mean baseline gap {gap:+.4f}",
        measured={
            "jaccard": jaccard,
            "mean_baseline_gaussian": float(u.table.mean_baseline.mean()),
            "mean_baseline_orthogonal": float(u.table.mean_baseline_orth.mean()),
            "n_gaussian": int(gauss.sum()),
            "n_orthogonal": int(orth.sum()),
        },
        control=control,
        n_tokens=u.n_tokens,
    )
