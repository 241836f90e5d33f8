"""P1-P2: prediction, suppression and partition neurons from the moments of W_U·w_out (§5.1, Fig. 5-6, 22).

For every neuron, the distribution over the vocabulary of cos(W_U[:, v], w_out) (folded/centred weights, the
final norm's gain folded into W_U): high kurtosis with positive skew = prediction neuron, with negative skew =
suppression neuron. Sign convention for gated MLPs (SmolLM2): silu(gate)*up can be large with either sign, so a
neuron's output direction is taken as sign(skew of its activation) * w_out — the direction it pushes when it
fires strongly. For GELU models that sign is +1 for almost every neuron, which the measurements report.
The control is the same statistics for random Gaussian directions in the residual stream.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import weight_table
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Evidence
from fixtures.activations import MLP_POST_MOMENTS
from fixtures.models import LoadedModel, ModelRef
from fixtures.tokens import TokenSample

KURT = 10.0  # the paper's threshold for prediction/suppression neurons (family_count, Fig. 6c/22)


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

    from claims.lib.weights import weight_statistics

    model = ctx.workbench.model(ref)
    b = model.bridge

    def compute() -> pd.DataFrame:
        gen = torch.Generator().manual_seed(ctx.workbench.settings.seed)
        shape = (model.n_layers, model.d_mlp, model.d_model)
        w_out = torch.randn(*shape, generator=gen)
        w_in = torch.randn(model.n_layers, model.d_model, model.d_mlp, generator=gen)
        return weight_statistics(W_in=w_in, b_in=None, W_out=w_out, W_U=b.W_U.detach().float(), dtype=torch.float32)

    return ctx.workbench.derived(
        "random-directions", 1, {"model": ref.identity(), "seed": ctx.workbench.settings.seed}, compute
    )


def _members(ctx: ClaimContext) -> tuple[ModelRef, ...]:
    return ctx.family.members if ctx.family is not None else (ctx.model,)


def _per_layer(frame: pd.DataFrame) -> pd.DataFrame:
    high = frame.vocab_kurt > KURT
    return pd.DataFrame(
        {
            "n": frame.groupby("layer").size(),
            "kurt_gt_10": high.groupby(frame.layer).sum(),
            "prediction": (high & (frame.vocab_skew_effective > 0)).groupby(frame.layer).sum(),
            "suppression": (high & (frame.vocab_skew_effective < 0)).groupby(frame.layer).sum(),
            "kurt_p95": frame.groupby("layer").vocab_kurt.quantile(0.95),
        }
    )


@claim(
    "P1",
    title="prediction and suppression neurons exist",
    statement="""Some neurons have a vocabulary effect W_U·w_out with very high kurtosis: positive skew (prediction
    neurons boost a small set of tokens) or negative skew (suppression neurons); random directions have neither.""",
    paper_ref="§5.1, Fig. 5",
    axes=(Axis.ORIGINAL, Axis.GT1),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=Criterion(
        full="at least {min_each} prediction and {min_each} suppression neurons (vocab kurtosis > 10), and the count "
        "with kurtosis > 10 is >= {ratio} x that of random directions (max(random, 1))",
        small="the count of neurons with vocab kurtosis > {kurt_small} is >= {ratio} x that of random directions "
        "(max(random, 1)); both signs of skew occur among them",
        thresholds_full={"min_each": 1, "ratio": 10.0},
        thresholds_small={"kurt_small": 5.0, "ratio": 5.0},
    ),
    min_tokens=1_024,
    key_tolerance=5.0,
    paper_numbers="examples L19.1169 (kurt 44.9, skew +4.06), L23.2042 (kurt 52.4, skew -3.48) in GPT2-medium-a",
)
def prediction_neurons_exist(ctx: ClaimContext) -> Evidence:
    frame = vocab_frame(ctx, ctx.model)
    rand = random_direction_frame(ctx, ctx.model)
    cut = KURT if ctx.scale == "full" else ctx.threshold("kurt_small")
    high = frame.vocab_kurt > cut
    n_pred = int((high & (frame.vocab_skew_effective > 0)).sum())
    n_supp = int((high & (frame.vocab_skew_effective < 0)).sum())
    n_rand = int((rand.vocab_kurt > cut).sum())
    ratio = int(high.sum()) / max(n_rand, 1)
    if ctx.scale == "full":
        passed = (
            n_pred >= ctx.threshold("min_each")
            and n_supp >= ctx.threshold("min_each")
            and ratio >= ctx.threshold("ratio")
        )
    else:
        passed = ratio >= ctx.threshold("ratio") and n_pred > 0 and n_supp > 0
    acts = ctx.activations(ctx.model, (MLP_POST_MOMENTS,))
    return ctx.evidence(
        passed,
        key=(f"#(kurt>{cut:g}) / random", ratio),
        reason=f"{int(high.sum())} neurons with vocab kurtosis > {cut:g} ({n_pred} prediction, {n_supp} suppression) "
        f"vs {n_rand} random directions; max kurtosis {frame.vocab_kurt.max():.1f}",
        measured={
            "n_high_kurtosis": int(high.sum()),
            "prediction": n_pred,
            "suppression": n_supp,
            "max_vocab_kurt": float(frame.vocab_kurt.max()),
            "negative_activation_sign_share": float((frame.activation_sign < 0).mean()),
        },
        control={"random_directions_high_kurtosis": n_rand, "random_max_vocab_kurt": float(rand.vocab_kurt.max())},
        n_tokens=int(acts.tokens.size),
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
        "count with kurtosis > 10 over the last 4 layers rises toward the output with at most one inversion; (iii) "
        "the suppression share among kurtosis > 10 neurons is > 0.5 in the last layer and < 0.5 at layer round(0.75 L)",
        small="in >= {seed_share_pct} % of seeds: (i) the last layer's 95th-percentile vocab kurtosis exceeds layer 0's; "
        "(ii) the last layer's share of negative effective skew among its top-5 % kurtosis neurons exceeds the "
        "penultimate layer's (exploratory at this scale)",
        thresholds_full={"early_max_pct": 1.0},
        thresholds_small={"seed_share_pct": 75.0},
    ),
    min_tokens=1_024,
    key_tolerance=0.01,
    paper_numbers="GPT2-medium-a neurons with kurtosis > 10: L20 130.8, L21 142.2, L22 207.2, L23 339.2 (mean over seeds, ≈fig)",
)
def depth_pattern(ctx: ClaimContext) -> Evidence:
    members = _members(ctx)
    per_seed, seeds_ok, layer_tables = {}, [], {}
    for ref in members:
        frame = vocab_frame(ctx, ref)
        table = _per_layer(frame)
        layer_tables[ref.name] = table
        n_layers = len(table)
        if ctx.scale == "full":
            early = table.iloc[: n_layers // 2]
            early_pct = 100 * early.kurt_gt_10.sum() / early.n.sum()
            last4 = table.kurt_gt_10.to_numpy()[-4:]
            inversions = int(np.sum(np.diff(last4) < 0))
            share = table.suppression / table.kurt_gt_10.replace(0, np.nan)
            q = round(0.75 * (n_layers - 1))
            checks = {
                "early_pct": float(early_pct),
                "inversions_last4": inversions,
                "suppression_share_last": float(share.iloc[-1]),
                "suppression_share_at_0.75L": float(share.iloc[q]),
            }
            ok = (
                early_pct < ctx.threshold("early_max_pct")
                and inversions <= 1
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
    passed = all(seeds_ok) if ctx.scale == "full" else 100 * share_ok >= ctx.threshold("seed_share_pct")
    rand = _per_layer(random_direction_frame(ctx, members[0]).assign(vocab_skew_effective=lambda f: f.vocab_skew))
    first = layer_tables[members[0].name]
    return ctx.evidence(
        passed,
        key=("share of seeds with the pattern", share_ok),
        reason=f"pattern held in {sum(seeds_ok)} of {len(seeds_ok)} seeds; {members[0].name}: prediction by layer "
        f"{first.prediction.astype(int).tolist()}, suppression {first.suppression.astype(int).tolist()}",
        measured={"per_seed": per_seed, "by_layer_reference": {k: v.tolist() for k, v in first.items()}},
        control={
            "random_directions_kurt_gt_10_by_layer": rand.kurt_gt_10.astype(int).tolist(),
            "random_directions_kurt_p95_by_layer": rand.kurt_p95.tolist(),
        },
        n_tokens=int(ctx.activations(members[0], (MLP_POST_MOMENTS,)).tokens.size),
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


SUPPRESSED_Z = -3.0  # a neuron's suppressed class: tokens whose cos(W_U[:, v], w_out) z-score is <= -3
MIN_CLASS = 5


def neuron_activations(
    ctx: ClaimContext, ref: ModelRef, neurons: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Post-activations of selected neurons at every position, and the token sample, memoised on disk."""
    from fixtures import hooks

    def compute(model: LoadedModel, sample: TokenSample) -> tuple[np.ndarray, np.ndarray]:
        by_layer: dict[int, list[int]] = {}
        for k, (layer, _neuron) in enumerate(neurons):
            by_layer.setdefault(layer, []).append(k)
        out = np.empty((sample.tokens.size, len(neurons)), dtype=np.float32)
        rows = dict.fromkeys(by_layer, 0)

        def hook_for(layer: int):  # type: ignore[no-untyped-def]
            cols = by_layer[layer]
            idx = [neurons[k][1] for k in cols]

            def hook(act, name):  # type: ignore[no-untyped-def]
                flat = act.detach().float().reshape(-1, act.shape[-1])[:, idx].cpu().numpy()
                out[rows[layer] : rows[layer] + flat.shape[0], cols] = flat
                rows[layer] += flat.shape[0]

            return hook

        ctx.workbench.mlp_pass(model, sample.tokens, [(hooks.MLP_POST, layer, hook_for(layer)) for layer in by_layer])
        return out, sample.tokens

    return ctx.workbench.derived_on_sample(
        "neuron-activations", 1, ref, ctx.corpus_name, compute, extra={"neurons": neurons}
    )


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
        "with cosine z-score <= -3) have AUROC(activation | next token in class) >= {min_auroc}",
        small="median AUROC(activation | next token in class) over suppression neurons (vocab kurtosis > {kurt_small}, "
        "negative effective skew, class = tokens with cosine z-score <= -3) > {min_median_auroc} and above the 95th "
        "percentile of the same statistic for random token classes of the same sizes",
        thresholds_full={"min_share_pct": 80.0, "min_auroc": 0.6},
        thresholds_small={"kurt_small": 5.0, "min_median_auroc": 0.55},
    ),
    min_tokens=4_096,
    key_tolerance=0.05,
    paper_numbers="55 labelled suppression neurons in GPT2-medium-a, e.g. L23.2042 (open parenthesis)",
)
def suppression_fires_before_class(ctx: ClaimContext) -> Evidence:
    from claims.lib.inference import auroc

    frame = vocab_frame(ctx, ctx.model)
    cut = KURT if ctx.scale == "full" else ctx.threshold("kurt_small")
    chosen = frame[(frame.vocab_kurt > cut) & (frame.vocab_skew_effective < 0)]
    if chosen.empty:
        raise NotApplicable(f"no suppression neurons (vocab kurtosis > {cut:g}, negative skew) in {ctx.model.name}")
    chosen = chosen.sort_values("vocab_kurt", ascending=False).head(64)
    model = ctx.workbench.model(ctx.model)
    w_u = model.bridge.W_U.detach().float()
    w_u = w_u / w_u.norm(dim=0, keepdim=True).clamp_min(1e-12)
    neurons = [(int(r.layer), int(r.neuron)) for r in chosen.itertuples()]
    acts, tokens = neuron_activations(ctx, ctx.model, neurons)
    next_tokens = np.concatenate([tokens[:, 1:], np.full((tokens.shape[0], 1), -1)], axis=1).reshape(-1)
    valid = next_tokens >= 0
    rng = np.random.default_rng(ctx.workbench.settings.seed)
    aurocs, nulls, sizes = [], [], []
    for k, row in enumerate(chosen.itertuples()):
        w_out = model.bridge.W_out[int(row.layer), int(row.neuron)].detach().float() * float(row.activation_sign)
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
    share = 100 * float(np.mean(np.asarray(aurocs) >= ctx.threshold("min_auroc"))) if ctx.scale == "full" else None
    if share is not None:
        passed = share >= ctx.threshold("min_share_pct")
    else:
        passed = median > ctx.threshold("min_median_auroc") and median > float(np.percentile(null_draws, 95))
    return ctx.evidence(
        passed,
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
    )
