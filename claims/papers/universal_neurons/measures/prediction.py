"""P1's census of prediction and suppression neurons, shared by the claims that are about those neurons.

For every neuron, the distribution over the vocabulary of cos(W_U[:, v], w_out) (folded/centred weights, the
final norm's gain folded into W_U): high kurtosis with positive skew = prediction neuron, with negative skew =
suppression neuron. Sign convention for gated MLPs (SmolLM2): silu(gate)*up can be large with either sign, so a
neuron's output direction is taken as sign(skew of its activation) * w_out. The control is the same statistics for random Gaussian directions in the residual stream
(same W_U). `prediction_census` is the one home of "this model has prediction neurons": P2, P3, P4, E1 and R1 are
about those neurons and are NOT_APPLICABLE, naming the precondition, on a model where the rule does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import weight_table
from claims.registry import Criterion
from claims.verdict import Effect, Part, part
from engine.inference import proportion_difference
from fixtures.activations import MLP_POST_MOMENTS
from fixtures.models import ModelRef

KURT = 10.0  # the paper's threshold for prediction/suppression neurons (family_count, Fig. 6c/22)
KURT_SMALL = 5.0  # the same threshold for the zoo's tiny models (P1's small-scale criterion)


def vocab_frame(ctx: ClaimContext, ref: ModelRef) -> pd.DataFrame:
    """Weight table with `vocab_skew_effective` (sign convention above) and the activation-sign column."""
    frame = weight_table(ctx, ref).copy()
    post = ctx.activations(ref, (MLP_POST_MOMENTS,)).moments(MLP_POST_MOMENTS, "no_bos")
    sign = np.sign(post["skew"].reshape(-1))
    sign[sign == 0] = 1.0
    frame["activation_sign"] = sign
    frame["vocab_skew_effective"] = frame.vocab_skew * sign
    return frame


def random_direction_frame(ctx: ClaimContext, ref: ModelRef) -> pd.DataFrame:
    """The same vocabulary moments for as many random Gaussian directions per layer as there are neurons."""
    import torch

    from engine.weights import weight_statistics

    model = ctx.workbench.model(ref)
    b = model.bridge

    def compute() -> pd.DataFrame:
        gen = torch.Generator().manual_seed(ctx.workbench.settings.seed)
        shape = (model.n_layers, model.d_mlp, model.d_model)
        w_out = torch.randn(*shape, generator=gen)
        w_in = torch.randn(model.n_layers, model.d_model, model.d_mlp, generator=gen)
        return weight_statistics(W_in=w_in, b_in=None, W_out=w_out, W_U=b.W_U.detach().float(), dtype=torch.float32)

    return ctx.workbench.derived(
        "random-directions",
        1,
        {"model": ref.identity(), "seed": ctx.workbench.settings.seed, "dtype": ctx.workbench.settings.dtype},
        compute,
    )


def family_members(ctx: ClaimContext) -> tuple[ModelRef, ...]:
    return ctx.family.members if ctx.family is not None else (ctx.model,)


def per_layer_counts(frame: pd.DataFrame, cut: float = KURT) -> pd.DataFrame:
    high = frame.vocab_kurt > cut
    return pd.DataFrame(
        {
            "n": frame.groupby("layer").size(),
            "kurt_gt_10": high.groupby(frame.layer).sum(),
            "prediction": (high & (frame.vocab_skew_effective > 0)).groupby(frame.layer).sum(),
            "suppression": (high & (frame.vocab_skew_effective < 0)).groupby(frame.layer).sum(),
            "kurt_p95": frame.groupby("layer").vocab_kurt.quantile(0.95),
        }
    )


# P1's criterion is the rule itself: P1 declares it, and every claim about prediction neurons applies it.
P1_CRITERION = Criterion(
    full="at least {min_each} prediction and {min_each} suppression neurons (vocab kurtosis > 10), and the count "
    "with kurtosis > 10 is >= {ratio} x that of random directions (max(random, 1)); and the share of neurons with "
    "kurtosis > 10 minus the share of random directions (as many per layer, same W_U) has a 95 % Newcombe lower "
    "bound > {min_effect}",
    small="the count of neurons with vocab kurtosis > {kurt_small} is >= {ratio} x that of random directions "
    "(max(random, 1)); both signs of skew occur among them; and the share of neurons with kurtosis > {kurt_small} "
    "minus the share of random directions (as many per layer, same W_U) has a 95 % Newcombe lower bound > "
    "{min_effect}",
    thresholds_full={"min_each": 1, "ratio": 10.0, "min_effect": 0.0},
    thresholds_small={"kurt_small": KURT_SMALL, "ratio": 5.0, "min_effect": 0.0},
)


@dataclass(frozen=True)
class PredictionCensus:
    """P1's rule on one model: neurons with high vocabulary kurtosis against random directions.

    Attributes:
        model: the model's name.
        cut: the kurtosis threshold of the row's scale.
        n_neurons: neurons (= random directions) counted.
        n_high, n_prediction, n_suppression: neurons above the cut, and by sign of effective skew.
        n_random: random directions above the cut.
        max_kurt, random_max_kurt: the largest vocabulary kurtosis of each.
        negative_sign_share: share of neurons whose activation skew is negative (their w_out is flipped).
        parts: P1's clauses; effect: share above the cut, neurons - random directions, with its interval.
    """

    model: str
    cut: float
    n_neurons: int
    n_high: int
    n_prediction: int
    n_suppression: int
    n_random: int
    max_kurt: float
    random_max_kurt: float
    negative_sign_share: float
    parts: tuple[Part, ...]
    effect: Effect

    @property
    def holds(self) -> bool:
        """P1's criterion: every clause and the effect's interval."""
        return all(p.passed for p in self.parts) and self.effect.cleared

    @property
    def ratio(self) -> float:
        """Neurons above the cut per random direction above it (max(random, 1))."""
        return self.n_high / max(self.n_random, 1)

    def summary(self) -> str:
        """One sentence of the counts."""
        return (
            f"{self.n_high} neurons with vocab kurtosis > {self.cut:g} ({self.n_prediction} prediction, "
            f"{self.n_suppression} suppression) vs {self.n_random} of {self.n_neurons} random directions"
        )


def prediction_census(ctx: ClaimContext, ref: ModelRef | None = None) -> PredictionCensus:
    """P1's rule (its pre-registered thresholds at the row's scale, whichever claim asks) on a model."""
    ref = ref or ctx.model
    t = P1_CRITERION.thresholds(ctx.scale)
    cut = KURT if ctx.scale == "full" else float(t["kurt_small"])
    frame = vocab_frame(ctx, ref)
    rand = random_direction_frame(ctx, ref)
    high = (frame.vocab_kurt > cut).to_numpy()
    n_pred = int((high & (frame.vocab_skew_effective > 0).to_numpy()).sum())
    n_supp = int((high & (frame.vocab_skew_effective < 0).to_numpy()).sum())
    n_rand = int((rand.vocab_kurt > cut).sum())
    n, n_r = len(frame), len(rand)
    ratio = int(high.sum()) / max(n_rand, 1)
    minimum = float(t["min_each"]) if "min_each" in t else 1.0
    parts = (
        part(f"#(kurt>{cut:g}) / max(random, 1)", ratio, ">=", float(t["ratio"])),
        part(f"prediction neurons (kurt>{cut:g}, skew > 0)", n_pred, ">=", minimum),
        part(f"suppression neurons (kurt>{cut:g}, skew < 0)", n_supp, ">=", minimum),
    )
    diff, low, high_ci = proportion_difference(int(high.sum()), n, n_rand, n_r)
    effect = Effect(
        name=f"share with vocab kurtosis > {cut:g}: neurons - random directions",
        measured=int(high.sum()) / n,
        control=n_rand / n_r,
        value=diff,
        low=low,
        high=high_ci,
        threshold=float(t["min_effect"]),
        control_name="random Gaussian directions (as many per layer, same W_U)",
        method="Newcombe hybrid score over neurons",
    )
    return PredictionCensus(
        model=ref.name,
        cut=cut,
        n_neurons=n,
        n_high=int(high.sum()),
        n_prediction=n_pred,
        n_suppression=n_supp,
        n_random=n_rand,
        max_kurt=float(frame.vocab_kurt.max()),
        random_max_kurt=float(rand.vocab_kurt.max()),
        negative_sign_share=float((frame.activation_sign < 0).mean()),
        parts=parts,
        effect=effect,
    )


def require_prediction_neurons(ctx: ClaimContext, ref: ModelRef | None = None) -> PredictionCensus:
    """The census of a model where P1's rule holds; NotApplicable naming the precondition otherwise."""
    census = prediction_census(ctx, ref)
    if not census.holds:
        failed = [p.text() for p in (*census.parts, census.effect.as_part()) if not p.passed]
        raise NotApplicable(
            f"precondition: prediction neurons by P1's rule; none in {census.model}: {census.summary()} "
            f"({'; '.join(failed)})"
        )
    return census
