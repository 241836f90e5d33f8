"""The streaming family pass at the paper's scale: `python scripts/benchmark.py --gpu` (this module does the work).

Five random-init GPT-2-small-shaped models (12 layers, d_model 768, 3,072 neurons per layer, context 1,024; no
weights needed) run in lockstep over synthetic tokens through the suite's own family pass (`fixtures/stream.py`
feeding `engine.family.FamilyCorrelations`: the reference seed against the 4 others, both rotation
baselines, and the rotated-reference control). Measured in the same run:

* family-pass positions/s (5 forward passes + every correlation update per position), split into the forward
  passes alone and the correlation updates alone;
* correlation FLOP/s (2·t·(n+1)² per pair and batch, the cross products only) against a plain matrix product of
  the same shape and precision timed here (`matmul_tflops`), so the ratio does not depend on the card;
* the difference between the chosen GEMM precision and float32 on the same batches (max |Δ max-correlation| and
  max |Δ excess|, 2 seeds);
* the projected wall time of the paper's U1: 5 seeds x 100 M token positions, one family pass
  (100e6 / positions per s) plus the baselines' finishing algebra (timed once).

`--device cpu --quick` runs the same code on a tiny model shape in seconds (a unit test runs it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import torch

from engine.correlation import CUDA_ALIGN, tf32
from engine.family import FamilyCorrelations
from fixtures.stream import family_pass, plain_post_runner

PAPER_TOKENS = 100_000_000  # positions per model in the paper's universality run
SEEDS = 5
FULL = {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024, "vocab_size": 50257}
QUICK = {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 64, "vocab_size": 512}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _models(shape: dict[str, int], n: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(**shape, attn_implementation="sdpa")
    models = []
    for seed in range(n):
        torch.manual_seed(seed)
        with torch.device(device):
            model = GPT2LMHeadModel(config).to(dtype)
        models.append(model.eval())
    return models


def _matmul_tflops(n: int, t: int, precision: str, device: torch.device, repeats: int) -> float:
    """Plain [n, t] x [t, n] products in the GEMM precision the family pass uses (the same-run ceiling)."""
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    width = -(-(n + 1) // CUDA_ALIGN) * CUDA_ALIGN  # the padded width CrossCorrelation multiplies
    a = torch.randn(t, width, device=device).to(dtype)
    b = torch.randn(t, width, device=device).to(dtype)
    with tf32(precision == "tf32"):
        a.T @ b  # warm-up
        seconds = _timed(lambda: [a.T @ b for _ in range(repeats)], device) / repeats
    return 2.0 * t * width**2 / seconds / 1e12


def run(
    device_name: str, quick: bool, precision: str | None = None, batches: int | None = None, accuracy: bool = True
) -> dict[str, Any]:
    """The measurements above; returns a JSON-ready dict."""
    device = torch.device(device_name)
    if precision is None:
        precision = "bfloat16" if device.type == "cuda" else "float32"
    shape = QUICK if quick else FULL
    batch_contexts = 4 if quick else 16
    batches = batches or (3 if quick else 12)
    ctx, layers, d_mlp = shape["n_positions"], shape["n_layer"], 4 * shape["n_embd"]
    n = layers * d_mlp
    model_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    models = _models(shape, SEEDS, device, model_dtype)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, shape["vocab_size"], (batch_contexts * (batches + 1), ctx), generator=gen)
    positions_per_batch = batch_contexts * ctx
    res: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": precision,
        "model_dtype": str(model_dtype).removeprefix("torch."),
        "shape": shape,
        "neurons_per_model": n,
        "batch_positions": positions_per_batch,
        "timed_batches": batches,
    }
    with ExitStack() as stack:
        runners = [stack.enter_context(plain_post_runner(m, "gpt2", layers)) for m in models]

        def family(prec: str, members: int = SEEDS) -> FamilyCorrelations:
            return FamilyCorrelations([(layers, d_mlp)] * members, [], seed=0, device=device, precision=prec)

        # warm-up batch (kernels, allocator), then the timed batches
        fam = family(precision)
        warm, timed = tokens[:batch_contexts], tokens[batch_contexts:]
        family_pass(runners, [], warm, None, fam.update, batch_size=batch_contexts, device=device)
        total = _timed(
            lambda f=fam: family_pass(runners, [], timed, None, f.update, batch_size=batch_contexts, device=device),
            device,
        )
        finish_s = _timed(fam.finish, device)
        del fam
        forward_s = _timed(
            lambda: family_pass(runners, [], timed, None, lambda m, c: None, batch_size=batch_contexts, device=device),
            device,
        )
        # correlation updates alone, on one captured batch (4 comparison pairs, and the reference's Gram blocks)
        captured: list[list[torch.Tensor]] = []
        family_pass(runners, [], warm, None, lambda m, c: captured.append(m), batch_size=batch_contexts, device=device)
        fam = family(precision)
        fam.update(captured[0])
        update_s = _timed(lambda f=fam: [f.update(captured[0]) for _ in range(batches)], device) / batches
        del fam
        # the same batches in float32 and in the chosen precision, 2 seeds: how far apart the results are
        differences: dict[str, float] = {}
        if precision != "float32" and accuracy:
            finished = {}
            for prec in ("float32", precision):
                two = family(prec, members=2)
                family_pass(
                    runners[:2], [], tokens, None, two.update,
                    batch_size=batch_contexts, device=device,
                )  # fmt: skip
                finished[prec] = two.finish()
                del two
            ref, low = finished["float32"].members, finished[precision].members
            differences = {
                "max_abs_diff_max_corr": float((ref.results[0].max_corr - low.results[0].max_corr).abs().max()),
                "max_abs_diff_excess": float(
                    (
                        (ref.results[0].max_corr - ref.baselines["gaussian"][0])
                        - (low.results[0].max_corr - low.baselines["gaussian"][0])
                    )
                    .abs()
                    .max()
                ),
                "positions": ref.n_tokens,
            }
    pairs = SEEDS - 1  # 4 comparison seeds (the rotated control is derived from the first pair's sums at the end)
    flops_per_batch = pairs * 2.0 * positions_per_batch * (n + 1) ** 2
    positions = batches * positions_per_batch
    per_s = positions / total
    res.update(
        {
            "family_pass_s": total,
            "positions_per_s": per_s,
            "model_positions_per_s": per_s * SEEDS,
            "forward_only_s": forward_s,
            "update_s_per_batch": update_s,
            "correlation_tflops": flops_per_batch / update_s / 1e12,
            "matmul_tflops": _matmul_tflops(n, positions_per_batch, precision, device, 3 if quick else 10)
            if device.type == "cuda"
            else _matmul_tflops(n, positions_per_batch, "float32", device, 2),
            "finish_s": finish_s,
            "accuracy_vs_float32": differences,
            "projected_paper_u1_s": PAPER_TOKENS / per_s + finish_s,
        }
    )
    res["correlation_vs_matmul"] = res["correlation_tflops"] / res["matmul_tflops"]
    if device.type == "cuda":
        res["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return res


def table(res: dict[str, Any]) -> str:
    """The docs/benchmark.md rows for one run."""
    acc = res["accuracy_vs_float32"]
    acc_text = (
        f"max |Δ max-corr| {acc['max_abs_diff_max_corr']:.1e}, max |Δ excess| {acc['max_abs_diff_excess']:.1e} "
        f"over {acc['positions']:,} positions"
        if acc
        else ("float32 itself" if res["precision"] == "float32" else "not measured in this run")
    )
    hours = res["projected_paper_u1_s"] / 3600
    return "\n".join(
        [
            "| measurement | value |",
            "|---|---|",
            f"| device, GEMM precision, model dtype | {res['device']}, {res['precision']}, {res['model_dtype']} |",
            f"| family pass (5 models x {res['neurons_per_model']:,} neurons, {res['batch_positions']:,} positions "
            f"per batch, {res['timed_batches']} batches) | **{res['positions_per_s']:,.0f} positions/s** "
            f"({res['model_positions_per_s']:,.0f} model-positions/s) |",
            f"| of which forward passes alone | {res['forward_only_s']:.2f} s of {res['family_pass_s']:.2f} s |",
            f"| correlation updates (5 pairs per batch) | {res['correlation_tflops']:.3g} TFLOP/s vs "
            f"{res['matmul_tflops']:.3g} TFLOP/s plain matmul, same shape and precision: "
            f"**{100 * res['correlation_vs_matmul']:.0f} %** |",
            f"| precision vs float32 (same batches, 2 seeds) | {acc_text} |",
            f"| finishing (maxima, both baselines) | {res['finish_s']:.1f} s |",
            f"| projected paper U1 (5 seeds x 100 M positions) | **{hours:.2f} h** (goal ≤ 1 h) |",
        ]
        + ([f"| peak GPU memory | {res['peak_gpu_memory_gib']:.1f} GiB |"] if "peak_gpu_memory_gib" in res else [])
    )
