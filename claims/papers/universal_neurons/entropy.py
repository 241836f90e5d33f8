"""E1, E2 (GT3): the paper's entropy-neuron intervention in new settings; X1: antipodal pairs of functional neurons.

Why GT3: the paper found an entropy neuron in GPT-2 by a weight query (huge norm, almost no direct effect on the
logits) and showed causally that fixing its activation raises the final LayerNorm scale and next-token entropy
while keeping the ranking (§5.2, Fig. 7, 25). Here the same method runs on SmolLM2-135M (RMSNorm, SwiGLU MLPs,
tied 49k vocabulary) and on the zoo's tiny GPT-2s, where a candidate need not exist at all.

Method, as pre-registered in the criteria:
  * Candidate (E1). Full scale: a neuron in the last two layers with l2_penalty >= the model's 99.9th percentile
    and vocab_var <= its 0.1st percentile (lowest vocab_var wins). Small scale: among final-layer neurons whose
    w_out has > 50 % of its energy in the bottom 5 % singular subspace of W_U (as a map from the residual
    stream: the left singular vectors; centred subspace for LayerNorm), the one maximising ‖w_out‖² x that share.
    No candidate: NOT_APPLICABLE (the claim is about such a neuron; the reason names the rule and the nearest
    neuron). E2 needs E1's candidate, so it is NOT_APPLICABLE too.
  * Intervention. The neuron's activation (`mlp.hook_post`; for gated MLPs silu(gate)·up) is fixed at every
    position to s·g·A for g in MULTIPLIERS, where A is the candidate's 99.9th percentile of |activation| on the
    sample (start positions left out) and s the sign of its activation skew (+1 for GELU models, whose outputs are
    bounded below). Every neuron of one comparison gets the same magnitudes g·A (the paper fixes all neurons to
    the same values 0...6), each with its own sign. Measured: mean final-norm scale over all counted
    predictions, and mean entropy, reciprocal rank of the true token and loss over a seeded subset of them
    (max(256, 2^23 / d_vocab) positions: the softmax over 49k tokens is the cost). A prediction counts when it
    is not made at position 0 or the last position and neither its input nor its target token is excluded
    (BOS/EOS/pad/newline).
  * Cost. A final-layer neuron changes only the final residual, by (v - a)·w_out, so one cached forward pass
    serves every value (`engine.interventions.shifted_readout_metrics`). A penultimate-layer neuron re-runs
    only the last block, replayed with the arguments captured in the clean pass (checked to reproduce it).
  * Baselines: 20 seeded random neurons — full scale: last two layers, l2_penalty <= 90th and vocab_var >= 10th
    percentile (the authors' `sample_baseline_neurons`); small scale: final layer.
  * E2: the anti-entropy partner is the most negative cosine (of sign-corrected output directions) among
    high-norm neurons (l2_penalty >= the 95th percentile) in the last two layers; its slopes are taken over
    g <= 1 (the paper's [0, 2] of [0, 6]), on its own activation scale; E1's baselines are fixed to the same
    magnitudes as its control.
  * Effects against the control (they decide too): the candidate's entropy slope (E1) or the partner's entropy
    reduction (E2) minus the baselines' mean, with a t prediction interval over the 20 baselines (the interval
    of the difference between the neuron and a new random neuron): its lower end must be > 0.
X1 (weights plus the activation sign): among neurons with vocabulary kurtosis above the cut, same-layer pairs
with cos(w_out) <= -0.5 must be >= 5x as common as among all same-layer pairs. For gated MLPs the sign of w_out
is arbitrary (flipping the up projection flips it), so cosines use sign(activation skew)·w_out, as in
prediction.py. Effect: the labelled antipodal share minus the all-pairs share (Newcombe interval over pairs).
Precondition: prediction neurons by P1's rule (none: NOT_APPLICABLE).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom

from claims.context import ClaimContext, NotApplicable
from claims.papers.universal_neurons.measures import weight_table
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, part
from engine.interventions import single_threaded
from fixtures import hooks
from fixtures.activations import MLP_POST_MOMENTS
from fixtures.models import LoadedModel, ModelRef

INTERVENTION_VERSION = 1
MULTIPLIERS = (0.0, 0.5, 1.0, 2.0, 3.0)  # x A (the neuron's 99.9th percentile |activation|)
RESTRICTED = 3  # E2 slopes over the first three grid points (g <= 1)
EVAL_ELEMENTS = 1 << 23  # positions x vocabulary per evaluation of the softmax metrics (at least MIN_EVAL positions)
MIN_EVAL = 256
BATCH = 16  # contexts per forward batch
N_BASELINES = 20
PARTNER_L2_PCT = 95.0
METRICS = ("scale", "entropy", "rr", "loss")
METRIC_LABELS = {
    "scale": "final-norm scale",
    "entropy": "entropy (nats)",
    "rr": "reciprocal rank",
    "loss": "loss (nats)",
}


# --- the cached clean pass ------------------------------------------------------------------------------------


@dataclass
class Capture:
    """One clean forward pass over the intervention sample, kept in memory for the session.

    Attributes:
        tokens: [n_ctx, T] token ids; valid: [n_ctx, T] predictions that count (see the module docstring).
        resid_final: [n_ctx, T, d_model] input of the final norm; last_in: input of the last block.
        post: layer -> [n_ctx, T, d_mlp] activations of the last two layers.
        replay: per batch, (start, stop, args, kwargs) the last block was called with (caches stripped).
        kind, eps: the final norm ("LN"/"RMS") and its epsilon.
        hook_scale: [n_ctx, T] `ln_final.hook_scale` from the pass (checks the readout code).
    """

    tokens: np.ndarray
    valid: np.ndarray
    resid_final: Any
    last_in: Any
    post: dict[int, Any]
    replay: list[tuple[int, int, tuple[Any, ...], dict[str, Any]]]
    kind: str
    eps: float
    hook_scale: Any


def norm_kind(model: LoadedModel) -> tuple[str, float]:
    """("LN" or "RMS", epsilon) of the model's final norm."""
    cfg = model.bridge.cfg
    return ("RMS" if "RMS" in str(getattr(cfg, "normalization_type", "LN")) else "LN"), float(getattr(cfg, "eps", 1e-5))


def _strip_caches(value: Any) -> Any:
    return None if "Cache" in type(value).__name__ else value


def block_call_recorder(model: LoadedModel, layer: int, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> Any:
    """Register a pre-hook recording the extra arguments of every call of block `layer`; returns the handle.

    The bridge passes masks and rotary tables to each block; replaying a block with the recorded arguments runs
    that block alone on a modified input (KV caches are stripped so no state carries between calls).
    """

    def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        calls.append((tuple(_strip_caches(a) for a in args[1:]), {k: _strip_caches(v) for k, v in kwargs.items()}))

    return model.bridge.blocks[layer].register_forward_pre_hook(record, with_kwargs=True)


def run_block(model: LoadedModel, layer: int, x: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run block `layer` alone on residual `x` with recorded arguments; returns its output residual."""
    import torch

    block = model.bridge.blocks[layer]
    dtype = next(block.parameters()).dtype
    with torch.no_grad():
        out = block(x.to(model.device, dtype), *args, **kwargs)
    return (out[0] if isinstance(out, tuple) else out).float()


def counted_predictions(tokens: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """[n_ctx, T] True where the prediction at p (of token p+1) counts: 1 <= p <= T-2, input and target kept."""
    valid = np.zeros(tokens.shape, dtype=bool)
    valid[:, 1:-1] = ~excluded[:, 1:-1] & ~excluded[:, 2:]
    return valid


def capture(ctx: ClaimContext, ref: ModelRef) -> Capture:
    """The clean pass over the first probe tokens of the row's sample (once per session and model)."""
    bench = ctx.workbench
    assert ctx.dataset is not None

    def compute() -> Capture:
        import torch

        model = bench.model(ref)
        sample = bench.tokens(ref, ctx.corpus_name)
        n_ctx = min(
            len(sample.tokens), max(1, math.ceil(bench.settings.probe_tokens_for(ref.scale) / sample.context_length))
        )
        tokens, excluded = sample.tokens[:n_ctx], sample.excluded[:n_ctx]
        last = model.n_layers - 1
        names = {
            "final": hooks.LN_FINAL_IN,
            "scale": hooks.LN_FINAL_SCALE,
            "last_in": hooks.resid_pre(last),
            **{f"post{layer}": hooks.hook_name(hooks.MLP_POST, layer) for layer in (last - 1, last) if layer >= 0},
        }
        store: dict[str, list[Any]] = {key: [] for key in names}

        def keep(key: str) -> Any:
            def hook(t: Any, hook: Any) -> None:
                store[key].append(t.detach().float().cpu())

            return hook

        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        handle = block_call_recorder(model, last, calls)
        try:
            bench.forward_pass(model, tokens, [(name, keep(key)) for key, name in names.items()], batch_size=BATCH)
        finally:
            handle.remove()
        starts = list(range(0, n_ctx, BATCH))
        replay = [(s, min(s + BATCH, n_ctx), a, k) for s, (a, k) in zip(starts, calls, strict=True)]
        kind, eps = norm_kind(model)
        return Capture(
            tokens=tokens,
            valid=counted_predictions(tokens, excluded),
            resid_final=torch.cat(store["final"]),
            last_in=torch.cat(store["last_in"]),
            post={layer: torch.cat(store[f"post{layer}"]) for layer in (last - 1, last) if layer >= 0},
            replay=replay,
            kind=kind,
            eps=eps,
            hook_scale=torch.cat(store["scale"]).squeeze(-1),
        )

    spec = bench.sample_spec(ref, ctx.dataset)
    key = (
        "gt3-capture",
        ref.identity(),
        tuple(sorted(spec.__dict__.items())),
        bench.settings.probe_tokens_for(ref.scale),
    )
    return bench.memo(key, single_threaded(compute))


def activation_signs(post: Any, valid: np.ndarray, gated: bool) -> np.ndarray:
    """Per neuron: sign of the activation skew over counted positions (gated MLPs), +1 for GELU-type MLPs."""
    n = post.shape[-1]
    if not gated:
        return np.ones(n)
    x = post.reshape(-1, n)[np.flatnonzero(valid.reshape(-1))].double()
    centred = x - x.mean(0)
    skew = (centred**3).mean(0).numpy()
    signs = np.sign(skew)
    signs[signs == 0] = 1.0
    return signs


def activation_scale(post: Any, valid: np.ndarray, neuron: int) -> float:
    """A: the 99.9th percentile of |activation| of one neuron over counted positions."""
    x = post[..., neuron].reshape(-1)[np.flatnonzero(valid.reshape(-1))].abs().numpy()
    return float(np.quantile(x, 0.999))


# --- the intervention -----------------------------------------------------------------------------------------


def intervention_curves(
    ctx: ClaimContext, ref: ModelRef, neurons: list[tuple[int, int]], reference: tuple[int, int]
) -> dict[str, Any]:
    """Fix each neuron's activation to s·g·A (g in MULTIPLIERS, A from `reference`) and measure the readout.

    Returns (memoised on disk):
        {"A", "magnitudes", "neurons": [{"layer", "neuron", "sign", "act_p999", "scale", "entropy", "rr",
        "loss"} (means per grid value)], "clean": {metric: mean without intervention}, "n_tokens",
        "n_counted", "n_eval", "seconds"}.
    """
    bench = ctx.workbench
    assert ctx.dataset is not None
    spec = bench.sample_spec(ref, ctx.dataset)

    def compute() -> dict[str, Any]:
        import torch

        from engine import interventions as iv

        started = time.time()
        cap = capture(ctx, ref)
        model = bench.model(ref)
        b = model.bridge
        last = model.n_layers - 1
        W_U = b.W_U.detach().float()
        b_U = _maybe_bias(b)
        W_out = {layer: b.W_out[layer].detach().float() for layer in {n[0] for n in neurons}}
        dev = W_U.device
        tol = 1e-4 if bench.settings.dtype == "float32" else 2e-2
        if not torch.allclose(
            iv.norm_scale(cap.resid_final, cap.kind, cap.eps), cap.hook_scale, rtol=tol, atol=tol / 10
        ):
            raise RuntimeError("the final-norm scale computed from the residual does not match ln_final.hook_scale")
        flat_valid = np.flatnonzero(cap.valid.reshape(-1))
        targets_all = torch.from_numpy(np.roll(cap.tokens, -1, axis=1).reshape(-1)[flat_valid]).to(dev)
        n_eval = min(len(flat_valid), max(MIN_EVAL, EVAL_ELEMENTS // W_U.shape[1]))
        rng = np.random.default_rng(bench.settings.seed)
        sub = torch.from_numpy(np.sort(rng.choice(len(flat_valid), size=n_eval, replace=False))).to(dev)
        targets = targets_all[sub]
        resid_valid = cap.resid_final.reshape(-1, model.d_model)[flat_valid].to(dev)
        signs = {layer: activation_signs(cap.post[layer], cap.valid, model.gated) for layer in cap.post}
        A = activation_scale(cap.post[reference[0]], cap.valid, reference[1])
        magnitudes = np.array(MULTIPLIERS) * A
        clean = iv.readout_metrics(resid_valid[sub], W_U, b_U, targets, cap.kind, cap.eps)
        replay_ok = False
        rows = []
        for layer, neuron in neurons:
            if layer not in (last - 1, last):
                raise ValueError(f"interventions are implemented for the last two layers, not layer {layer}")
            sign = float(signs[layer][neuron])
            values = torch.tensor(sign * magnitudes, dtype=torch.float32, device=dev)
            w = W_out[layer][neuron]
            act = cap.post[layer][..., neuron]  # [n_ctx, T]
            means: dict[str, list[float]] = {m: [] for m in METRICS}
            if layer == last:
                act_valid = act.reshape(-1)[flat_valid].to(dev)
                shifts = values.unsqueeze(1) - act_valid.unsqueeze(0)  # [n_values, n_counted]
                for row in range(len(values)):
                    shifted = resid_valid + shifts[row].unsqueeze(1) * w
                    means["scale"].append(float(iv.norm_scale(shifted, cap.kind, cap.eps).mean()))
                vocab = iv.shifted_readout_metrics(
                    resid_valid[sub], w, shifts[:, sub], W_U, b_U, targets, cap.kind, cap.eps
                )
                for m in ("entropy", "rr", "loss"):
                    means[m] = vocab[m].mean(1).tolist()
            else:
                if not replay_ok:
                    _check_replay(model, cap)
                    replay_ok = True
                for value in values.tolist():
                    shifted = cap.last_in + (value - act).unsqueeze(-1) * w.cpu()
                    final = torch.cat([run_block(model, last, shifted[s:e], a, k) for s, e, a, k in cap.replay])
                    final_valid = final.reshape(-1, model.d_model)[flat_valid].to(dev)
                    means["scale"].append(float(iv.norm_scale(final_valid, cap.kind, cap.eps).mean()))
                    vocab = iv.readout_metrics(final_valid[sub], W_U, b_U, targets, cap.kind, cap.eps)
                    for m in ("entropy", "rr", "loss"):
                        means[m].append(float(vocab[m].mean()))
            rows.append(
                {
                    "layer": layer,
                    "neuron": neuron,
                    "sign": sign,
                    "act_p999": activation_scale(cap.post[layer], cap.valid, neuron),
                    **means,
                }
            )
        return {
            "A": A,
            "magnitudes": magnitudes.tolist(),
            "neurons": rows,
            "clean": {
                "scale": float(iv.norm_scale(resid_valid, cap.kind, cap.eps).mean()),
                **{m: float(clean[m].mean()) for m in ("entropy", "rr", "loss")},
            },
            "n_tokens": int(cap.tokens.size),
            "n_counted": len(flat_valid),
            "n_eval": n_eval,
            "seconds": time.time() - started,
        }

    inputs = {
        "model": ref.identity(),
        "sample": spec.__dict__,
        "scale": ref.scale,
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "neurons": [list(n) for n in neurons],
        "reference": list(reference),
        "grid": MULTIPLIERS,
        "eval_elements": EVAL_ELEMENTS,
        "min_eval": MIN_EVAL,
        "dtype": bench.settings.dtype,
        "seed": bench.settings.seed,
    }
    return bench.derived("entropy-intervention", INTERVENTION_VERSION, inputs, single_threaded(compute))


def _maybe_bias(bridge: Any) -> Any:
    try:
        bias = bridge.b_U
    except (AttributeError, RuntimeError):
        return None
    return None if bias is None else bias.detach().float()


def _check_replay(model: LoadedModel, cap: Capture) -> None:
    """The replayed last block must reproduce the clean final residual (else the bridge changed its calls)."""
    import torch

    start, stop, args, kwargs = cap.replay[0]
    out = run_block(model, model.n_layers - 1, cap.last_in[start:stop], args, kwargs).cpu()
    target = cap.resid_final[start:stop]
    err = float((out - target).abs().max() / target.abs().max().clamp_min(1e-12))
    exact = next(model.bridge.blocks[model.n_layers - 1].parameters()).dtype == torch.float32
    if err > (1e-4 if exact else 2e-2):
        raise RuntimeError(
            f"replaying the last block alone does not reproduce the forward pass (relative error {err:.2e})"
        )


# --- candidate selection (pure, tested on synthetic tables) --------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A selected neuron (or none) and why.

    Attributes:
        neuron: (layer, index) or None when no neuron meets the rule.
        rule: the rule in words.
        reason: why none qualified (empty when one did).
        fallback: the best near-candidate, measured for information when none qualified.
        info: the numbers the selection rested on.
    """

    neuron: tuple[int, int] | None
    rule: str
    reason: str
    fallback: tuple[int, int]
    info: dict[str, Any]


def select_entropy_candidate(
    frame: pd.DataFrame, energy: np.ndarray, n_layers: int, scale: str, thresholds: dict[str, float]
) -> Candidate:
    """E1's candidate by the pre-registered rule of the row's scale.

    Args:
        frame: the weight table (layer, neuron, l2_penalty, vocab_var, w_out_norm), one row per neuron.
        energy: per row of `frame`, the share of w_out's energy in W_U's bottom singular subspace.
        n_layers: layers of the model.
        scale: "full" or "small".
        thresholds: the claim's thresholds of that scale.
    """
    energy = np.asarray(energy, dtype=np.float64)
    layer = frame.layer.to_numpy()
    if scale == "full":
        l2_cut = float(np.percentile(frame.l2_penalty, thresholds["l2_pct"]))
        vv_cut = float(np.percentile(frame.vocab_var, thresholds["vocab_var_pct"]))
        late = layer >= n_layers - 2
        ok = late & (frame.l2_penalty.to_numpy() >= l2_cut) & (frame.vocab_var.to_numpy() <= vv_cut)
        rule = (
            f"last two layers, l2_penalty >= {l2_cut:.4g} (p{thresholds['l2_pct']:g}) and vocab_var <= "
            f"{vv_cut:.4g} (p{thresholds['vocab_var_pct']:g}); lowest vocab_var"
        )
        near = late & (frame.l2_penalty.to_numpy() >= float(np.percentile(frame.l2_penalty, 99.0)))
        pool = np.flatnonzero(near if near.any() else late)
        fallback_row = int(pool[np.argmin(frame.vocab_var.to_numpy()[pool])])
        chosen = np.flatnonzero(ok)
        row = int(chosen[np.argmin(frame.vocab_var.to_numpy()[chosen])]) if len(chosen) else None
        reason = (
            ""
            if row is not None
            else (
                "no neuron in the last two layers has both l2_penalty >= the 99.9th and vocab_var <= the 0.1st percentile"
            )
        )
        info = {"l2_cut": l2_cut, "vocab_var_cut": vv_cut, "n_qualifying": int(ok.sum())}
    else:
        final = layer == n_layers - 1
        score = frame.w_out_norm.to_numpy() ** 2 * energy
        ok = final & (energy > thresholds["min_energy"])
        rule = (
            f"final layer, energy share in W_U's bottom {100 * thresholds['bottom_frac']:g} % singular subspace "
            f"> {thresholds['min_energy']:g}; max ‖w_out‖² x share"
        )
        pool = np.flatnonzero(final)
        fallback_row = int(pool[np.nanargmax(score[pool])])
        chosen = np.flatnonzero(ok)
        row = int(chosen[np.nanargmax(score[chosen])]) if len(chosen) else None
        reason = (
            ""
            if row is not None
            else (
                f"no final-layer neuron has > {thresholds['min_energy']:g} of its w_out energy in W_U's bottom singular "
                f"subspace (max {np.nanmax(energy[pool]):.3f}): W_U has no usable null space"
            )
        )
        info = {"n_qualifying": int(ok.sum()), "max_energy_final_layer": float(np.nanmax(energy[pool]))}

    def ident(r: int) -> tuple[int, int]:
        return int(frame.layer.iloc[r]), int(frame.neuron.iloc[r])

    described = row if row is not None else fallback_row
    info.update(
        {
            "layer": int(frame.layer.iloc[described]),
            "neuron": int(frame.neuron.iloc[described]),
            "l2_penalty_pct": float(100 * (frame.l2_penalty < frame.l2_penalty.iloc[described]).mean()),
            "vocab_var_pct": float(100 * (frame.vocab_var < frame.vocab_var.iloc[described]).mean()),
            "null_space_energy": float(energy[described]),
            "w_out_norm": float(frame.w_out_norm.iloc[described]),
        }
    )
    return Candidate(ident(row) if row is not None else None, rule, reason, ident(fallback_row), info)


def baseline_neurons(
    frame: pd.DataFrame, n_layers: int, scale: str, exclude: tuple[int, int], n: int, seed: int
) -> list[tuple[int, int]]:
    """The seeded random baseline neurons (full: last two layers, l2 <= p90, vocab_var >= p10; small: final layer)."""
    layer = frame.layer.to_numpy()
    if scale == "full":
        pool = (
            (layer >= n_layers - 2)
            & (frame.l2_penalty.to_numpy() <= np.percentile(frame.l2_penalty, 90))
            & (frame.vocab_var.to_numpy() >= np.percentile(frame.vocab_var, 10))
        )
    else:
        pool = layer == n_layers - 1
    pool &= ~((layer == exclude[0]) & (frame.neuron.to_numpy() == exclude[1]))
    rows = np.flatnonzero(pool)
    picked = np.sort(np.random.default_rng(seed).choice(rows, size=min(n, len(rows)), replace=False))
    return [(int(frame.layer.iloc[r]), int(frame.neuron.iloc[r])) for r in picked]


def null_space_energy(ctx: ClaimContext, ref: ModelRef, frame: pd.DataFrame, bottom_frac: float) -> np.ndarray:
    """Per weight-table row: share of w_out's energy in W_U's bottom singular subspace (memoised)."""
    bench = ctx.workbench

    def compute() -> np.ndarray:
        from engine.interventions import bottom_singular_basis, subspace_energy_fraction

        model = bench.model(ref)
        b = model.bridge
        basis, _ = bottom_singular_basis(b.W_U.detach().float().cpu(), bottom_frac, norm_kind(model)[0])
        W_out = b.W_out.detach().float().cpu()
        per_layer = [subspace_energy_fraction(W_out[layer], basis).numpy() for layer in range(W_out.shape[0])]
        return np.concatenate(per_layer)[frame.layer.to_numpy() * W_out.shape[1] + frame.neuron.to_numpy()]

    return bench.derived(
        "null-space-energy", 1, {"model": ref.identity(), "bottom_frac": bottom_frac}, single_threaded(compute)
    )


# --- decisions (pure) -------------------------------------------------------------------------------------------


def curve_slopes(result: dict[str, Any], upto: int | None = None) -> dict[str, np.ndarray]:
    """OLS slopes of each metric on the magnitude, per neuron row, over the first `upto` grid points (all: None)."""
    from engine.interventions import ols_slope

    x = np.asarray(result["magnitudes"])[:upto]
    return {m: np.array([float(ols_slope(x, np.asarray(r[m])[:upto])) for r in result["neurons"]]) for m in METRICS}


def entropy_decision(
    result: dict[str, Any], scale: str, thresholds: dict[str, float]
) -> tuple[list[Part], dict[str, Any]]:
    """E1's point clauses on intervention curves whose first neuron row is the candidate and the rest the baselines.

    Returns (parts, details); details["checks"] repeats each clause's outcome by its criterion label.
    """
    slopes = curve_slopes(result)
    s_c, s_b = float(slopes["scale"][0]), slopes["scale"][1:]
    e_c, e_b = float(slopes["entropy"][0]), slopes["entropy"][1:]
    rr = [np.asarray(r["rr"]) for r in result["neurons"]]
    d_rr_c = float(rr[0][-1] - rr[0][0])
    d_rr_b = np.array([float(r[-1] - r[0]) for r in rr[1:]])
    max_abs_b = float(np.max(np.abs(s_b))) if len(s_b) else math.nan
    ratio = s_c / max_abs_b if max_abs_b > 0 else math.inf
    details: dict[str, Any] = {
        "scale_slope": s_c,
        "entropy_slope": e_c,
        "delta_mrr": d_rr_c,
        "baseline_scale_slopes": s_b.tolist(),
        "baseline_entropy_slopes": e_b.tolist(),
        "baseline_delta_mrr": d_rr_b.tolist(),
        "scale_ratio_to_max_baseline": ratio,
    }
    if scale == "full":
        rel = abs(d_rr_c) / rr[0][0] if rr[0][0] > 0 else math.inf
        rank_bound = max(float(np.median(np.abs(d_rr_b))), thresholds["mrr_rel"] * float(rr[0][0]))
        labelled = {
            "b_scale_positive": part("(b) scale slope", s_c, ">", 0.0),
            "b_scale_ratio": part(
                "(b) scale slope / max |baseline scale slope|", ratio, ">=", thresholds["scale_ratio"]
            ),
            "c_entropy_positive": part("(c) entropy slope", e_c, ">", 0.0),
            "c_entropy_above_baselines": part(
                "(c) entropy slope - max baseline entropy slope", e_c - float(np.max(e_b)), ">", 0.0
            ),
            "d_ranks": part(
                "(d) |dMRR(0 -> 3A)| vs max(baselines' median |dMRR|, mrr_rel x MRR at 0)",
                abs(d_rr_c),
                "<=",
                rank_bound,
            ),
        }
        details["relative_delta_mrr"] = rel
    else:
        q = thresholds["baseline_pct"]
        labelled = {
            "ii_scale": part(f"(ii) scale slope vs baselines' p{q:g}", s_c, ">", float(np.percentile(s_b, q))),
            "ii_entropy": part(f"(ii) entropy slope vs baselines' p{q:g}", e_c, ">", float(np.percentile(e_b, q))),
        }
    details["checks"] = {k: v.passed for k, v in labelled.items()}
    return list(labelled.values()), details


def entropy_effect(result: dict[str, Any], threshold: float) -> Effect:
    """E1's effect: the candidate's entropy slope - the baselines' mean, with a t prediction interval over them."""
    from engine.inference import difference_from_sample

    slopes = curve_slopes(result)["entropy"]
    diff, low, high = difference_from_sample(float(slopes[0]), slopes[1:])
    return Effect(
        name="entropy slope (nats per unit activation): candidate - random baseline neurons",
        measured=float(slopes[0]),
        control=float(np.mean(slopes[1:])) if len(slopes) > 1 else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"{len(slopes) - 1} seeded random baseline neurons, same fixed magnitudes",
        method="t prediction interval over the baseline neurons (candidate vs a new random neuron)",
    )


def anti_entropy_decision(
    cosine: float, slopes: dict[str, float], scale: str, thresholds: dict[str, float]
) -> list[Part]:
    """E2's point clauses: antipodal to the entropy neuron and lowering entropy (and, full scale, the norm scale)."""
    parts = [
        part("cos(partner, entropy neuron)", cosine, "<=", thresholds["max_cos"]),
        part("partner entropy slope, g <= 1", slopes["entropy"], "<", 0.0),
    ]
    if scale == "full":
        parts.append(part("partner scale slope, g <= 1", slopes["scale"], "<", 0.0))
    return parts


def anti_entropy_effect(result: dict[str, Any], threshold: float) -> Effect:
    """E2's effect: the partner's entropy reduction per unit activation (g <= 1) - the random baselines' mean.

    `result`'s first row is the partner, the rest random baseline neurons fixed to the same magnitudes.
    """
    from engine.inference import difference_from_sample

    reduction = -curve_slopes(result, RESTRICTED)["entropy"]
    diff, low, high = difference_from_sample(float(reduction[0]), reduction[1:])
    return Effect(
        name="entropy reduction -d entropy / d activation (g <= 1): partner - random baseline neurons",
        measured=float(reduction[0]),
        control=float(np.mean(reduction[1:])) if len(reduction) > 1 else math.nan,
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name=f"{len(reduction) - 1} seeded random baseline neurons, same fixed magnitudes",
        method="t prediction interval over the baseline neurons (partner vs a new random neuron)",
    )


# --- E1 ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntropyRun:
    """E1's selection and measurement, shared with E2."""

    candidate: Candidate
    measured_neuron: tuple[int, int]
    baselines: list[tuple[int, int]]
    result: dict[str, Any]
    frame: pd.DataFrame


def entropy_run(ctx: ClaimContext) -> EntropyRun:
    """Select E1's candidate (thresholds of E1 at the row's scale), its baselines, and run the intervention.

    No candidate: NotApplicable (E1 and E2 are claims about an entropy neuron; a model without one does not meet
    their precondition). Everything here is memoised on disk, so a re-run with a warm cache loads no model.
    """
    ref = ctx.model
    thresholds = dict(entropy_neuron.claim.criterion.thresholds(ctx.scale))  # type: ignore[attr-defined]
    frame = weight_table(ctx, ref)
    n_layers = int(frame.layer.max()) + 1
    energy = null_space_energy(ctx, ref, frame, thresholds.get("bottom_frac", 0.05))
    cand = select_entropy_candidate(frame, energy, n_layers, ctx.scale, thresholds)
    if cand.neuron is None:
        raise NotApplicable(
            f"precondition: an entropy-neuron candidate ({ctx.scale}-scale rule: {cand.rule}); none in "
            f"{ref.name}: {cand.reason} (nearest L{cand.fallback[0]}.{cand.fallback[1]})"
        )
    target = cand.neuron
    base = baseline_neurons(frame, n_layers, ctx.scale, target, N_BASELINES, ctx.workbench.settings.seed)
    result = intervention_curves(ctx, ref, [target, *base], target)
    return EntropyRun(cand, target, base, result, frame)


def _curves_figure(result: dict[str, Any], label: str, xlabel: str) -> dict[str, Any]:
    rows = result["neurons"]
    return {
        "activation_values": result["magnitudes"],
        "panels": {METRIC_LABELS[m]: {"candidate": rows[0][m], "baselines": [r[m] for r in rows[1:]]} for m in METRICS},
        "candidate_label": label,
        "xlabel": xlabel,
    }


@claim(
    "E1",
    title="entropy neuron: fixing it scales the final norm and entropy (new setting)",
    statement="""(GT3) A high-norm late neuron writing into W_U's effective null space acts as an entropy neuron:
    fixing its activation to larger values raises the final norm's scale and next-token entropy while largely
    keeping the token ranking; random neurons do not (GPT2-M L23.945, GPT2-S L11.3030).""",
    paper_ref="§5.2, Fig. 7, Fig. 25",
    axes=(Axis.GT3,),
    needs=Needs(intervention=True),
    criterion=Criterion(
        full="(b) the OLS slope of mean final-norm scale on the fixed activation is > 0 and >= {scale_ratio} x the "
        "largest |baseline slope|; (c) the entropy slope is > 0 and above every baseline's; (d) |dMRR(0 -> 3A)| <= "
        "max(the baselines' median |dMRR|, {mrr_rel} x the candidate's MRR at 0); (e) the entropy slope - the "
        "baselines' mean has a 95 % lower bound (t prediction interval over the baselines) > {min_effect}; "
        "candidate: a last-two-layer neuron with l2_penalty >= p{l2_pct} and vocab_var <= p{vocab_var_pct} (none: "
        "NOT_APPLICABLE); intervention: its activation (hook_post; "
        "gated MLPs: silu(gate)*up, signed by its activation skew) fixed at all positions to g x A, g in {{0, 0.5, 1, "
        "2, 3}}, A = its 99.9th percentile |activation|; the same magnitudes for 20 seeded random baselines from the "
        "last two layers (l2 <= p90, vocab_var >= p10)",
        small="(ii) the candidate's scale and entropy slopes both exceed the baselines' {baseline_pct}th percentile, "
        "and its entropy slope - the baselines' mean has a 95 % lower bound (t prediction interval over the "
        "baselines) > {min_effect}; candidate = the final-layer neuron maximising ||w_out||^2 x its energy share in "
        "the bottom-{bottom_frac} fraction of W_U's singular directions, among shares > {min_energy} (none: "
        "NOT_APPLICABLE); intervention as at full scale, against 20 seeded random final-layer neurons",
        thresholds_full={"l2_pct": 99.9, "vocab_var_pct": 0.1, "scale_ratio": 5.0, "mrr_rel": 0.01, "min_effect": 0.0},
        thresholds_small={"bottom_frac": 0.05, "min_energy": 0.5, "baseline_pct": 95.0, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.5,
)
def entropy_neuron(ctx: ClaimContext) -> Evidence:
    run = entropy_run(ctx)
    parts, details = entropy_decision(run.result, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = entropy_effect(run.result, ctx.threshold("min_effect"))
    layer, neuron = run.measured_neuron
    label = f"L{layer}.{neuron}"
    res = run.result
    cand = res["neurons"][0]
    at_max = {  # the size of the effect at the largest grid value (3A), beside the slopes the criterion uses
        "scale_relative": cand["scale"][-1] / cand["scale"][0] - 1,
        "entropy_nats": cand["entropy"][-1] - cand["entropy"][0],
    }
    reason = (
        f"{label}: scale slope {details['scale_slope']:.4g} per unit activation ({details['scale_ratio_to_max_baseline']:.2f}"
        f" x max |baseline|), entropy slope {details['entropy_slope']:.4g} (baseline max "
        f"{max(details['baseline_entropy_slopes']):.4g}), dMRR {details['delta_mrr']:+.4f}; at 3A the scale moves "
        f"{100 * at_max['scale_relative']:+.2f} % and entropy {at_max['entropy_nats']:+.4f} nats; checks "
        + ", ".join(f"{k} {'ok' if v else 'failed'}" for k, v in details["checks"].items())
        + f"; entropy slope vs baselines' mean {effect.value:+.4g} (95 % PI {effect.low:.4g} to {effect.high:.4g})"
    )
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("scale slope / max |baseline slope|", details["scale_ratio_to_max_baseline"]),
        reason=reason,
        measured={
            "candidate": list(run.candidate.neuron) if run.candidate.neuron else None,
            "measured_neuron": [layer, neuron],
            "selection_rule": run.candidate.rule,
            "selection": run.candidate.info,
            "activation_scale_A": res["A"],
            "activation_sign": cand["sign"],
            "grid_magnitudes": res["magnitudes"],
            "curves": {m: cand[m] for m in METRICS},
            "effect_at_3A": at_max,
            "clean": res["clean"],
            "n_counted_predictions": res["n_counted"],
            "n_softmax_positions": res["n_eval"],
            "seconds": res["seconds"],
            **{k: v for k, v in details.items() if not k.startswith("baseline_")},
        },
        control={
            "baselines": [list(n) for n in run.baselines],
            "baseline_scale_slopes": details["baseline_scale_slopes"],
            "baseline_entropy_slopes": details["baseline_entropy_slopes"],
            "baseline_delta_mrr": details["baseline_delta_mrr"],
        },
        n_tokens=res["n_tokens"],
        figures={
            "entropy_curves": _curves_figure(res, label, f"|activation| fixed on the neuron (A = {res['A']:.3g})")
        },
    )


# --- E2 ----------------------------------------------------------------------------------------------------------


def select_partner(
    frame: pd.DataFrame, directions: dict[int, Any], candidate: tuple[int, int], n_layers: int, l2_pct: float
) -> tuple[tuple[int, int] | None, float, int]:
    """Most negative cosine with the candidate among high-norm neurons of the last two layers.

    Args:
        frame: the weight table.
        directions: layer -> [d_mlp, d_model] sign-corrected output directions of the last two layers.
        candidate: the entropy neuron.
        n_layers: layers of the model.
        l2_pct: the high-norm cut (percentile of l2_penalty over the model).

    Returns:
        (partner or None, its cosine, number of high-norm neurons searched).
    """
    import torch

    cut = np.percentile(frame.l2_penalty, l2_pct)
    late = frame[(frame.layer >= n_layers - 2) & (frame.l2_penalty >= cut)]
    late = late[~((late.layer == candidate[0]) & (late.neuron == candidate[1]))]
    if late.empty:
        return None, math.nan, 0
    c = directions[candidate[0]][candidate[1]]
    c = c / c.norm()
    vecs = torch.stack([directions[int(r.layer)][int(r.neuron)] for r in late.itertuples()])
    cos = (vecs / vecs.norm(dim=-1, keepdim=True)) @ c
    i = int(torch.argmin(cos))
    row = late.iloc[i]
    return (int(row.layer), int(row.neuron)), float(cos[i]), len(late)


def partner_of(
    ctx: ClaimContext, ref: ModelRef, frame: pd.DataFrame, target: tuple[int, int]
) -> tuple[tuple[int, int] | None, float, int]:
    """E2's partner of `target` with sign-corrected directions (signs from the intervention sample; memoised)."""
    bench = ctx.workbench
    assert ctx.dataset is not None

    def compute() -> tuple[tuple[int, int] | None, float, int]:
        import torch

        model = bench.model(ref)
        cap = capture(ctx, ref)
        last = model.n_layers - 1
        directions = {}
        for layer in (last - 1, last):
            signs = torch.tensor(activation_signs(cap.post[layer], cap.valid, model.gated), dtype=torch.float32)
            directions[layer] = model.bridge.W_out[layer].detach().float().cpu() * signs.unsqueeze(1)
        return select_partner(frame, directions, target, model.n_layers, PARTNER_L2_PCT)

    inputs = {
        "model": ref.identity(),
        "sample": bench.sample_spec(ref, ctx.dataset).__dict__,
        "scale": ref.scale,
        "tokens": bench.settings.probe_tokens_for(ref.scale),
        "target": list(target),
        "l2_pct": PARTNER_L2_PCT,
    }
    return bench.derived("entropy-partner", 1, inputs, single_threaded(compute))


@claim(
    "E2",
    title="anti-entropy partner lowers the final-norm scale and entropy (new setting)",
    statement="""(GT3) The entropy neuron has an antipodal high-norm partner (GPT2-M L22.2882, cos = -0.886 with
    L23.945) whose activation lowers the final norm's scale and next-token entropy.""",
    paper_ref="§5.2, Fig. 7, Fig. 25",
    axes=(Axis.GT3,),
    needs=Needs(intervention=True),
    criterion=Criterion(
        full="cos(partner, entropy neuron) <= {max_cos}, and fixing the partner's activation to g x A_p, g in "
        "{{0, 0.5, 1}} (A_p its own 99.9th percentile |activation|), gives scale slope < 0 and entropy slope < 0; "
        "and the partner's entropy reduction (-slope) - that of E1's 20 random baselines fixed to the same "
        "magnitudes has a 95 % lower bound (t prediction interval over the baselines) > {min_effect}; partner = the "
        "most negative cosine of sign-corrected w_out among last-two-layer neurons with l2_penalty >= p95; E1 "
        "without a candidate or no such neuron: NOT_APPLICABLE",
        small="cos(partner, entropy neuron) <= {max_cos} and the partner's entropy slope over g in {{0, 0.5, 1}} is "
        "< 0, and its entropy reduction (-slope) - that of E1's 20 random baselines fixed to the same magnitudes has "
        "a 95 % lower bound (t prediction interval over the baselines) > {min_effect} (partner as at full scale); E1 "
        "without a candidate: NOT_APPLICABLE",
        thresholds_full={"max_cos": -0.7, "min_effect": 0.0},
        thresholds_small={"max_cos": -0.5, "min_effect": 0.0},
    ),
    version=2,
    min_tokens=1_024,
    key_tolerance=0.1,
)
def anti_entropy_neuron(ctx: ClaimContext) -> Evidence:
    run = entropy_run(ctx)
    target = run.measured_neuron
    partner, cosine, n_searched = partner_of(ctx, ctx.model, run.frame, target)
    if partner is None:
        raise NotApplicable(
            f"precondition: a high-norm neuron (l2_penalty >= p{PARTNER_L2_PCT:g}) in the last two layers besides the "
            f"entropy neuron; none in {ctx.model.name}"
        )
    baselines = [b for b in run.baselines if b != partner]
    result = intervention_curves(ctx, ctx.model, [partner, *baselines], partner)
    restricted = {m: float(v[0]) for m, v in curve_slopes(result, RESTRICTED).items()}
    full_range = {m: float(v[0]) for m, v in curve_slopes(result).items()}
    parts = anti_entropy_decision(cosine, restricted, ctx.scale, dict(ctx.claim.criterion.thresholds(ctx.scale)))
    effect = anti_entropy_effect(result, ctx.threshold("min_effect"))
    checks = {p.name: p.passed for p in parts}
    base_restricted = curve_slopes(result, RESTRICTED)
    label = f"L{partner[0]}.{partner[1]}"
    row = result["neurons"][0]
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("cos(partner, entropy neuron)", cosine),
        reason=f"{label} vs L{target[0]}.{target[1]}: cos {cosine:.3f}; over g <= 1 scale slope {restricted['scale']:.4g}, "
        f"entropy slope {restricted['entropy']:.4g} (over the full grid {full_range['entropy']:.4g}); entropy "
        f"reduction vs baselines' mean {effect.value:+.4g} (95 % PI {effect.low:.4g} to {effect.high:.4g})",
        measured={
            "entropy_neuron": list(target),
            "partner": list(partner),
            "cosine": cosine,
            "n_high_norm_searched": n_searched,
            "activation_scale_A": result["A"],
            "activation_sign": row["sign"],
            "slopes_g_le_1": restricted,
            "slopes_full_grid": full_range,
            "curves": {m: row[m] for m in METRICS},
            "grid_magnitudes": result["magnitudes"],
            "checks": checks,
        },
        control={
            "baselines": [list(b) for b in baselines],
            "baseline_entropy_slopes_g_le_1": base_restricted["entropy"][1:].tolist(),
            "baseline_scale_slopes_g_le_1": base_restricted["scale"][1:].tolist(),
        },
        n_tokens=result["n_tokens"],
        figures={
            "entropy_curves": _curves_figure(
                result, label, f"|activation| fixed on the partner (A = {result['A']:.3g})"
            )
        },
    )


# --- X1 ----------------------------------------------------------------------------------------------------------


def antipodal_ratio(directions: Any, layers: np.ndarray, functional: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of same-layer pairs of functional neurons with cos <= threshold vs the share among all same-layer pairs.

    Args:
        directions: [n, d_model] (sign-corrected) output directions, one per neuron.
        layers: [n] layer of each neuron.
        functional: [n] bool, the labelled neurons (e.g. vocabulary kurtosis above the cut).
        threshold: the antipodal cosine cut (-0.5).

    Returns:
        {"pairs", "antipodal", "fraction", "control_fraction" (all same-layer pairs, weighted like the functional
        pairs over layers), "ratio" (fraction / max(control, 1 / control pairs))}.
    """
    import torch

    from engine.interventions import all_pairs_antipodal_fraction, antipodal_counts

    groups, control_hits, control_pairs, weights = [], 0.0, 0, 0
    for layer in np.unique(layers):
        idx = np.flatnonzero((layers == layer) & functional)
        if len(idx) < 2:
            continue
        groups.append(torch.from_numpy(idx))
        pairs = len(idx) * (len(idx) - 1) // 2
        members = torch.from_numpy(np.flatnonzero(layers == layer))
        control_hits += pairs * all_pairs_antipodal_fraction(directions[members], threshold)
        weights += pairs
        control_pairs += len(members) * (len(members) - 1) // 2
    hits, total = antipodal_counts(directions, groups, threshold)
    fraction = hits / total if total else math.nan
    control = control_hits / weights if weights else math.nan
    floor = 1 / control_pairs if control_pairs else math.nan
    ratio = fraction / max(control, floor) if total else math.nan
    return {
        "pairs": total,
        "antipodal": hits,
        "fraction": fraction,
        "control_fraction": control,
        "control_pairs": control_pairs,
        "ratio": ratio,
    }


def antipodal_effect(stats: dict[str, float], threshold: float) -> Effect:
    """X1's effect: antipodal share among labelled same-layer pairs - the share among all same-layer pairs.

    Newcombe's interval from the two Wilson (binomial) intervals over pairs; the control share (weighted over
    layers like the labelled pairs) counts as control_fraction x control_pairs hits of control_pairs.
    """
    from engine.inference import proportion_difference

    n2 = int(stats["control_pairs"])
    k2 = round(stats["control_fraction"] * n2) if n2 and math.isfinite(stats["control_fraction"]) else 0
    diff, low, high = proportion_difference(int(stats["antipodal"]), int(stats["pairs"]), k2, n2)
    return Effect(
        name="share of same-layer pairs with cos <= max_cos: labelled neurons - all neurons",
        measured=stats["fraction"],
        control=stats["control_fraction"],
        value=diff,
        low=low,
        high=high,
        threshold=threshold,
        control_name="all same-layer pairs of the same layers",
        method="Newcombe (Wilson) over pairs",
    )


@claim(
    "X1",
    title="functional neurons form antipodal pairs",
    statement="""Prediction/suppression (and entropy/anti-entropy) neurons often form antipodal pairs: same-layer
    pairs whose output weights point in nearly opposite directions (e.g. cos = -0.886).""",
    paper_ref="§5.2 (antipodal pairs), Fig. 7",
    axes=(Axis.ORIGINAL, Axis.GT1),
    needs=Needs(products=frozenset({MLP_POST_MOMENTS})),
    criterion=Criterion(
        full="among neurons with vocab kurtosis > {kurt} (prediction and suppression; gated MLPs: w_out signed by "
        "the activation skew), the share of same-layer pairs with cos(w_out) <= {max_cos} is >= {min_ratio} x the "
        "share among all same-layer pairs of those layers, with >= {min_antipodal} antipodal pairs and a one-sided "
        "binomial p < {max_p} against that share, and the difference of the two shares has a 95 % lower bound "
        "(Newcombe) > {min_share_diff}; no prediction neurons (P1's rule) or no same-layer labelled pair: "
        "NOT_APPLICABLE; < {min_pairs} labelled pairs: INCONCLUSIVE",
        small="as at full scale with vocab kurtosis > {kurt}: share of same-layer pairs with cos <= {max_cos} >= "
        "{min_ratio} x all same-layer pairs, >= {min_antipodal} antipodal pairs, binomial p < {max_p}, and the "
        "difference of the shares has a 95 % lower bound (Newcombe) > {min_share_diff}; no prediction neurons (P1's "
        "rule) or no same-layer labelled pair: NOT_APPLICABLE; < {min_pairs} labelled pairs: INCONCLUSIVE",
        thresholds_full={
            "kurt": 10.0,
            "max_cos": -0.5,
            "min_ratio": 5.0,
            "min_pairs": 10,
            "min_antipodal": 5,
            "max_p": 0.01,
            "min_share_diff": 0.0,
        },
        thresholds_small={
            "kurt": 5.0,
            "max_cos": -0.5,
            "min_ratio": 5.0,
            "min_pairs": 10,
            "min_antipodal": 5,
            "max_p": 0.01,
            "min_share_diff": 0.0,
        },
    ),
    version=3,
    min_tokens=1_024,
    key_tolerance=2.0,
)
def antipodal_pairs(ctx: ClaimContext) -> Evidence:
    import torch

    from claims.papers.universal_neurons.measures.prediction import require_prediction_neurons, vocab_frame

    census = require_prediction_neurons(ctx)  # NOT_APPLICABLE unless P1's rule finds prediction neurons
    frame = vocab_frame(ctx, ctx.model)
    model = ctx.workbench.model(ctx.model)
    W_out = model.bridge.W_out.detach().float().cpu().reshape(-1, model.d_model)
    rows = frame.layer.to_numpy() * model.d_mlp + frame.neuron.to_numpy()
    directions = W_out[rows] * torch.tensor(frame.activation_sign.to_numpy(), dtype=torch.float32).unsqueeze(1)
    high = (frame.vocab_kurt > ctx.threshold("kurt")).to_numpy()
    layers = frame.layer.to_numpy()
    stats = antipodal_ratio(directions, layers, high, ctx.threshold("max_cos"))
    pred = high & (frame.vocab_skew_effective.to_numpy() > 0)
    supp = high & (frame.vocab_skew_effective.to_numpy() < 0)
    by_class = {
        name: antipodal_ratio(directions, layers, mask, ctx.threshold("max_cos"))
        for name, mask in (("prediction", pred), ("suppression", supp))
    }
    cross = {k: stats[k] - by_class["prediction"][k] - by_class["suppression"][k] for k in ("pairs", "antipodal")}
    # v2: the count must also be surprising under the control share (v1 could pass on a single pair).
    p_value = (
        float(binom.sf(stats["antipodal"] - 1, stats["pairs"], stats["control_fraction"]))
        if stats["pairs"]
        else math.nan
    )
    if not stats["pairs"]:
        raise NotApplicable(
            f"precondition: a same-layer pair of neurons with vocab kurtosis > {ctx.threshold('kurt'):g}; the "
            f"{int(high.sum())} in {ctx.model.name} are in different layers (the antipodal share is undefined)"
        )
    parts = [
        ctx.part("antipodal share / all same-layer pairs", stats["ratio"], ">=", "min_ratio"),
        ctx.part("antipodal labelled pairs", stats["antipodal"], ">=", "min_antipodal"),
        ctx.part("one-sided binomial test against the all-pairs share", p_value, "p<", "max_p"),
    ]
    effect = antipodal_effect(stats, ctx.threshold("min_share_diff"))
    few = stats["pairs"] < ctx.threshold("min_pairs")
    acts = ctx.activations(ctx.model, (MLP_POST_MOMENTS,))
    return ctx.evidence(
        parts=parts,
        effect=effect,
        key=("antipodal share / all same-layer pairs", stats["ratio"] if math.isfinite(stats["ratio"]) else 0.0),
        reason=f"{stats['antipodal']} of {stats['pairs']} same-layer pairs of {int(high.sum())} neurons with vocab kurtosis > "
        f"{ctx.threshold('kurt'):g} have cos <= {ctx.threshold('max_cos'):g} ({stats['fraction']:.4f}) vs "
        f"{stats['control_fraction']:.5f} of all same-layer pairs (ratio {stats['ratio']:.1f}; binomial p = {p_value:.2g}, "
        f"{cross['antipodal']} of them prediction-suppression pairs)",
        inconclusive=f"only {stats['pairs']} same-layer pairs of labelled neurons" if few else None,
        measured={
            **stats,
            "binomial_p": p_value,
            "n_labelled": int(high.sum()),
            "p1_census": census.summary(),
            "by_class": by_class,
            "prediction_suppression_pairs": cross,
            "labelled_per_layer": pd.Series(high).groupby(layers).sum().astype(int).tolist(),
        },
        control={"all_same_layer_pairs_fraction": stats["control_fraction"]},
        n_tokens=int(acts.tokens.size),
    )
