"""P1, P2, P4: prediction and suppression neurons from the moments of W_U·w_out (§5.1, Fig. 5-6, 22, 24).

For every neuron, the distribution over the vocabulary of cos(W_U[:, v], w_out) (folded/centred weights, the
final norm's gain folded into W_U): high kurtosis with positive skew = prediction neuron, with negative skew =
suppression neuron. Sign convention for gated MLPs (SmolLM2): silu(gate)*up can be large with either sign, so a
neuron's output direction is taken as sign(skew of its activation) * w_out — the direction it pushes when it
fires strongly. For GELU models that sign is +1 for almost every neuron, which the measurements report.
The control is the same statistics for random Gaussian directions in the residual stream (same W_U).

P1's rule (`prediction_census`) is the one home of "this model has prediction neurons": P2, P3 and P4 are about
those neurons and are NOT_APPLICABLE, naming the precondition, on a model where the rule does not hold.
"""

from __future__ import annotations

import numpy as np

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures.prediction import (
    KURT,
    KURT_SMALL,
    P1_CRITERION,
    family_members,
    per_layer_counts,
    prediction_census,
    random_direction_frame,
    require_prediction_neurons,
    vocab_frame,
)
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part
from engine.inference import bootstrap_interval, proportion_difference
from fixtures.activations import MLP_POST_MOMENTS


@claim(
    "P1",
    title="prediction and suppression neurons exist",
    statement="""Some neurons have a vocabulary effect W_U·w_out with very high kurtosis: positive skew (prediction
    neurons boost a small set of tokens) or negative skew (suppression neurons); random directions have neither.""",
    paper_ref="§5.1, Fig. 5",
    axes=(Axis.ORIGINAL, Axis.GT1),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=P1_CRITERION,
    version=2,
    min_tokens=1_024,
    key_tolerance=5.0,
    paper_numbers="examples L19.1169 (kurt 44.9, skew +4.06), L23.2042 (kurt 52.4, skew -3.48) in GPT2-medium-a",
)
def prediction_neurons_exist(ctx: ClaimContext) -> Evidence:
    census = prediction_census(ctx)
    acts = ctx.activations(ctx.model, (MLP_POST_MOMENTS,))
    return ctx.evidence(
        key=(f"#(kurt>{census.cut:g}) / random", census.ratio),
        reason=f"{census.summary()}; max kurtosis {census.max_kurt:.1f} (random {census.random_max_kurt:.1f})",
        measured={
            "n_high_kurtosis": census.n_high,
            "prediction": census.n_prediction,
            "suppression": census.n_suppression,
            "max_vocab_kurt": census.max_kurt,
            "negative_activation_sign_share": census.negative_sign_share,
        },
        control={"random_directions_high_kurtosis": census.n_random, "random_max_vocab_kurt": census.random_max_kurt},
        n_tokens=int(acts.tokens.size),
        parts=census.parts,
        effect=census.effect,
    )


@claim(
    "P2",
    title="prediction neurons rise after mid-depth, suppression neurons dominate the end",
    statement="""After about the halfway point prediction neurons become increasingly prevalent until the very end
    of the network, where there is a sudden shift towards a much larger number of suppression neurons; the
    pattern is consistent across seeds and model families.""",
    paper_ref="§5.1, Fig. 6, Fig. 22",
    axes=(Axis.ORIGINAL, Axis.GT1),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=Criterion(
        full="in every seed: (i) < {early_max_pct} % of neurons in layers before L/2 have vocab kurtosis > 10; (ii) the "
        "count with kurtosis > 10 over the last 4 layers rises toward the output with at most {max_inversions} inversion; (iii) "
        "the suppression share among kurtosis > 10 neurons is > {suppression_share} in the last layer and < "
        "{suppression_share} at layer round(0.75 L); "
        "and the share of neurons with kurtosis > 10 in the last layer minus that in layers before L/2 (pooled over "
        "seeds) has a 95 % Newcombe lower bound > {min_effect}; precondition: prediction neurons by P1's rule",
        small="in >= {seed_share_pct} % of seeds: (i) the last layer's 95th-percentile vocab kurtosis exceeds layer 0's; "
        "(ii) the last layer's share of negative effective skew among its top-5 % kurtosis neurons exceeds the "
        "penultimate layer's (exploratory at this scale); and the share of neurons with vocab kurtosis > {kurt_small} "
        "in the last layer minus that in layers before L/2 (pooled over seeds) has a 95 % Newcombe lower bound > "
        "{min_effect}; precondition: prediction neurons by P1's rule",
        thresholds_full={
            "early_max_pct": 1.0,
            "max_inversions": 1,
            "suppression_share": 0.5,
            "min_effect": 0.0,
        },
        thresholds_small={"seed_share_pct": 75.0, "kurt_small": KURT_SMALL, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.01,
    paper_numbers="GPT2-medium-a neurons with kurtosis > 10: L20 130.8, L21 142.2, L22 207.2, L23 339.2 (mean over seeds, ≈fig)",
)
def depth_pattern(ctx: ClaimContext) -> Evidence:
    require_prediction_neurons(ctx)
    members = family_members(ctx)
    cut = KURT if ctx.scale == "full" else ctx.threshold("kurt_small")
    per_seed: dict[str, dict[str, float]] = {}
    seeds_ok, layer_tables = [], {}
    late = early = late_n = early_n = 0
    for ref in members:
        frame = vocab_frame(ctx, ref)
        table = per_layer_counts(frame)
        layer_tables[ref.name] = table
        n_layers = len(table)
        grown = per_layer_counts(frame, cut)
        late, late_n = late + int(grown.kurt_gt_10.iloc[-1]), late_n + int(grown.n.iloc[-1])
        early += int(grown.kurt_gt_10.iloc[: n_layers // 2].sum())
        early_n += int(grown.n.iloc[: n_layers // 2].sum())
        if ctx.scale == "full":
            first_half = table.iloc[: n_layers // 2]
            share = table.suppression / table.kurt_gt_10.replace(0, np.nan)
            checks = {
                "early_pct": float(100 * first_half.kurt_gt_10.sum() / first_half.n.sum()),
                "inversions_last4": float(np.sum(np.diff(table.kurt_gt_10.to_numpy()[-4:]) < 0)),
                "suppression_share_last": float(share.iloc[-1]),
                "suppression_share_at_0.75L": float(share.iloc[round(0.75 * (n_layers - 1))]),
            }
            ok = (
                checks["early_pct"] < ctx.threshold("early_max_pct")
                and checks["inversions_last4"] <= 1
                and checks["suppression_share_last"] > 0.5
                and checks["suppression_share_at_0.75L"] < 0.5
            )
        else:
            shares = []
            for layer in (n_layers - 2, n_layers - 1):
                sub = frame[frame.layer == layer]
                top = sub[sub.vocab_kurt >= sub.vocab_kurt.quantile(0.95)]
                shares.append(float((top.vocab_skew_effective < 0).mean()))
            checks = {
                "kurt_p95_first": float(table.kurt_p95.iloc[0]),
                "kurt_p95_last": float(table.kurt_p95.iloc[-1]),
                "neg_share_penultimate_top5": shares[0],
                "neg_share_last_top5": shares[1],
            }
            ok = checks["kurt_p95_last"] > checks["kurt_p95_first"] and shares[1] > shares[0]
        per_seed[ref.name] = checks
        seeds_ok.append(ok)
    share_ok = float(np.mean(seeds_ok))
    parts = _depth_parts(ctx, per_seed, seeds_ok)
    diff, low, high = proportion_difference(late, late_n, early, early_n)
    effect = Effect(
        name=f"share with vocab kurtosis > {cut:g}: last layer - layers before L/2",
        measured=late / late_n,
        control=early / early_n if early_n else float("nan"),
        value=diff,
        low=low,
        high=high,
        threshold=ctx.threshold("min_effect"),
        control_name="layers before L/2 of the same seeds",
        method=f"Newcombe hybrid score over neurons, pooled over {len(members)} seed(s)",
    )
    rand = per_layer_counts(random_direction_frame(ctx, members[0]).assign(vocab_skew_effective=lambda f: f.vocab_skew))
    first = layer_tables[members[0].name]
    failed = [p.name for p in parts if not p.passed]
    return ctx.evidence(
        key=("share of seeds with the pattern", share_ok),
        reason=f"pattern held in {sum(seeds_ok)} of {len(seeds_ok)} seeds"
        + (f" (failed: {'; '.join(failed)})" if failed else "")
        + f"; kurtosis > {cut:g}: {late} of {late_n} last-layer neurons vs {early} of {early_n} before L/2; "
        f"{members[0].name}: prediction by layer {first.prediction.astype(int).tolist()}, suppression "
        f"{first.suppression.astype(int).tolist()}",
        measured={"per_seed": per_seed, "by_layer_reference": {k: v.tolist() for k, v in first.items()}},
        control={
            "random_directions_kurt_gt_10_by_layer": rand.kurt_gt_10.astype(int).tolist(),
            "random_directions_kurt_p95_by_layer": rand.kurt_p95.tolist(),
        },
        n_tokens=int(ctx.activations(members[0], (MLP_POST_MOMENTS,)).tokens.size),
        parts=parts,
        effect=effect,
        figures={
            "prediction_counts": {
                "layers": list(range(len(first))),
                "ylabel": "neurons with vocab kurtosis > 10",
                "series": {
                    "prediction (skew > 0)": first.prediction.astype(int).tolist(),
                    "suppression (skew < 0)": first.suppression.astype(int).tolist(),
                    "random directions": rand.kurt_gt_10.astype(int).tolist(),
                },
            }
        },
    )


def _depth_parts(ctx: ClaimContext, per_seed: dict[str, dict[str, float]], seeds_ok: list[bool]) -> list[Part]:
    """Every clause of P2's criterion: the worst seed per clause (full: "in every seed"), or shares of seeds."""
    if ctx.scale == "full":

        def worst(key: str, pick: str) -> float:
            values = np.array([checks[key] for checks in per_seed.values()], dtype=np.float64)
            return float(np.max(values) if pick == "max" else np.min(values))  # NaN propagates (and fails)

        return [
            ctx.part("(i) % of neurons with kurt>10 before L/2, worst seed", worst("early_pct", "max"), "<", "early_max_pct"),
            ctx.part("(ii) inversions of the kurt>10 count over the last 4 layers, worst seed", worst("inversions_last4", "max"), "<=", "max_inversions"),
            ctx.part("(iii) suppression share of kurt>10 neurons in the last layer, worst seed", worst("suppression_share_last", "min"), ">", "suppression_share"),
            ctx.part("(iii) suppression share of kurt>10 neurons at layer round(0.75 L), worst seed", worst("suppression_share_at_0.75L", "max"), "<", "suppression_share"),
        ]  # fmt: skip
    growth = [c["kurt_p95_last"] > c["kurt_p95_first"] for c in per_seed.values()]
    flip = [c["neg_share_last_top5"] > c["neg_share_penultimate_top5"] for c in per_seed.values()]
    return [
        ctx.part("% of seeds with (i): last layer's p95 kurtosis > layer 0's", 100 * float(np.mean(growth)), ">=", "seed_share_pct"),
        ctx.part("% of seeds with (ii): last layer's negative-skew share of top-5 % > penultimate's", 100 * float(np.mean(flip)), ">=", "seed_share_pct"),
        ctx.part("% of seeds with (i) and (ii)", 100 * float(np.mean(seeds_ok)), ">=", "seed_share_pct"),
    ]  # fmt: skip


SUPPRESSED_Z = -3.0  # a neuron's suppressed class: tokens whose cos(W_U[:, v], w_out) z-score is <= -3
MIN_CLASS = 5


@claim(
    "P4",
    title="suppression neurons fire when a suppressed token comes next",
    statement="""Suppression neurons activate far more often when the next token is in fact from the set of tokens
    they suppress (e.g. years), consistent with an ensemble that calibrates predictions.""",
    paper_ref="§5.1, Fig. 24",
    axes=(Axis.ORIGINAL, Axis.GT1, Axis.GT2),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=Criterion(
        full=">= {min_share_pct} % of suppression neurons (vocab kurtosis > 10, negative effective skew; class = tokens "
        "with cosine z-score <= -3) have AUROC(activation | next token in class) >= {min_auroc}; and the median AUROC "
        "minus the median for random token classes of the same sizes has a 95 % bootstrap lower bound (over neurons) > "
        "{min_effect}; precondition: prediction neurons by P1's rule",
        small="median AUROC(activation | next token in class) over suppression neurons (vocab kurtosis > {kurt_small}, "
        "negative effective skew, class = tokens with cosine z-score <= -3) > {min_median_auroc} and above the 95th "
        "percentile of the same statistic for random token classes of the same sizes; and the median AUROC minus the "
        "median for the random classes has a 95 % bootstrap lower bound (over neurons) > {min_effect}; precondition: "
        "prediction neurons by P1's rule",
        thresholds_full={"min_share_pct": 80.0, "min_auroc": 0.6, "min_effect": 0.0},
        thresholds_small={"kurt_small": KURT_SMALL, "min_median_auroc": 0.55, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=4_096,
    key_tolerance=0.05,
    paper_numbers="55 labelled suppression neurons in GPT2-medium-a, e.g. L23.2042 (open parenthesis)",
)
def suppression_fires_before_class(ctx: ClaimContext) -> Evidence:
    from engine.inference import auroc

    require_prediction_neurons(ctx)
    frame = vocab_frame(ctx, ctx.model)
    cut = KURT if ctx.scale == "full" else ctx.threshold("kurt_small")
    chosen = frame[(frame.vocab_kurt > cut) & (frame.vocab_skew_effective < 0)]
    if chosen.empty:
        raise NotApplicable(
            f"precondition: suppression neurons (vocab kurtosis > {cut:g}, negative skew); none in {ctx.model.name}"
        )
    chosen = chosen.sort_values("vocab_kurt", ascending=False).head(64)
    model = ctx.workbench.model(ctx.model)
    w_u = model.bridge.W_U.detach().float()
    w_u = w_u / w_u.norm(dim=0, keepdim=True).clamp_min(1e-12)
    w_outs = model.bridge.W_out.detach().float()  # once: the bridge stacks every layer's weights on each access
    neurons = [(int(r.layer), int(r.neuron)) for r in chosen.itertuples()]
    acts, tokens = ctx.workbench.neuron_post(ctx.model, ctx.corpus_name, neurons)
    next_tokens = np.concatenate([tokens[:, 1:], np.full((tokens.shape[0], 1), -1)], axis=1).reshape(-1)
    valid = next_tokens >= 0
    rng = np.random.default_rng(ctx.workbench.settings.seed)
    aurocs, nulls, sizes = [], [], []
    for k, row in enumerate(chosen.itertuples()):
        w_out = w_outs[int(row.layer), int(row.neuron)] * float(row.activation_sign)
        cos = (w_out / w_out.norm()) @ w_u
        z = ((cos - cos.mean()) / cos.std()).numpy()
        suppressed = np.flatnonzero(z <= SUPPRESSED_Z)
        if len(suppressed) < MIN_CLASS:
            continue
        act = acts[:, k] * float(row.activation_sign)
        label = np.isin(next_tokens, suppressed) & valid
        if label.sum() < 5:
            continue
        aurocs.append(auroc(act[label], act[valid & ~label]))
        random_class = rng.choice(w_u.shape[1], size=len(suppressed), replace=False)
        random_label = np.isin(next_tokens, random_class) & valid
        nulls.append(auroc(act[random_label], act[valid & ~random_label]) if random_label.sum() >= 5 else np.nan)
        sizes.append(len(suppressed))
    if len(aurocs) < 3:
        return ctx.evidence(
            False,
            key=("median AUROC", float("nan") if not aurocs else float(np.median(aurocs))),
            reason=f"only {len(aurocs)} suppression neurons whose class occurs as a next token at least 5 times",
            measured={"n_neurons": len(aurocs)},
            control={},
            n_tokens=int(tokens.size),
            inconclusive="too few suppression neurons with an observed class",
        )
    median = float(np.median(aurocs))
    null_median = float(np.nanmedian(nulls))
    null_draws = [float(np.nanmedian(rng.choice(np.asarray(nulls), size=len(nulls)))) for _ in range(200)]
    real, null = np.asarray(aurocs), np.asarray(nulls, dtype=np.float64)

    def median_gap(idx: np.ndarray) -> float:
        kept = null[idx][np.isfinite(null[idx])]
        return float(np.median(real[idx]) - np.median(kept)) if len(kept) else float("nan")

    low, high = bootstrap_interval(median_gap, len(real), seed=ctx.workbench.settings.seed)
    effect = Effect(
        name="median AUROC: suppressed class - random class of the same size",
        measured=median,
        control=null_median,
        value=median - null_median,
        low=low,
        high=high,
        threshold=ctx.threshold("min_effect"),
        control_name="random token classes of the same sizes (one per neuron)",
        method=f"percentile bootstrap over {len(real)} neurons (paired), 1000",
    )
    share = 100 * float(np.mean(real >= ctx.threshold("min_auroc"))) if ctx.scale == "full" else None
    if share is not None:
        parts = [
            ctx.part(
                f"% of suppression neurons with AUROC >= {ctx.threshold('min_auroc'):g}", share, ">=", "min_share_pct"
            )
        ]
    else:
        parts = [
            ctx.part("median AUROC", median, ">", "min_median_auroc"),
            ctx.part("median AUROC - 95th percentile of random classes' median", median - float(np.percentile(null_draws, 95)), ">", 0.0),
        ]  # fmt: skip
    return ctx.evidence(
        key=("median AUROC (next token in class)", median),
        reason=f"median AUROC {median:.3f} over {len(aurocs)} suppression neurons (classes of {int(np.median(sizes))} tokens) vs "
        f"{null_median:.3f} for random classes"
        + (f"; {share:.0f} % reach {ctx.threshold('min_auroc'):g}" if share is not None else ""),
        measured={"median_auroc": median, "aurocs": aurocs, "class_sizes": sizes, "share_pct_above_min": share},
        control={
            "random_class_median_auroc": null_median,
            "random_class_95th_pct_of_median": float(np.percentile(null_draws, 95)),
        },
        n_tokens=int(tokens.size),
        parts=parts,
        effect=effect,
    )
