"""Benchmark of the statistics engine against naive baselines measured in the same run, on the same data.

    python scripts/benchmark.py            # full run (several minutes on 2 cores), the table in docs/benchmark.md
    python scripts/benchmark.py --quick    # small sizes, well under a minute
    python scripts/benchmark.py --gpu      # the streaming family pass at GPT-2-small scale (scripts/benchmark_gpu.py)

Four measurements, each reported as a ratio against a baseline timed in this process:

1. neuron statistics: `engine.moments.moments` on [tokens, neurons] vs the reference notebook's per-neuron scipy
   loop (`compute_activation_stats`: mean, var, scipy skew, scipy kurtosis + 3, sparsity). The loop is timed on a
   subset of neurons and extrapolated linearly to all of them (its cost is per neuron). Both run on one thread
   (the loop is single-threaded numpy), and the two agree on the subset.
2. `CrossCorrelation.update` GFLOP/s (2·T·n_a·n_b flops, the cross product only) vs a plain float32 matmul of the
   same shapes, interleaved repetitions, all cores; and (2b) that matmul through `engine.blas` vs torch's own, which
   shows whether routing the engine's products to OpenBLAS pays on this CPU.
3. activation extraction tokens/s: TransformerBridge hooks on `blocks.{l}.mlp.hook_post` (and, if it can be driven
   standalone, the project's `ActivationStore._forward`) vs a raw Hugging Face forward with hooks on each block's
   `mlp.act`, on a tiny random GPT-2 built here (4 layers, d_model 128, d_mlp 512, vocab 4096).
4. peak resident memory of correlating two 4-layer models (2048 neurons each) over synthetic chunks generated on
   the fly, for several token counts, each in a fresh subprocess: it depends on the chunk, not the token count.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import blas  # noqa: E402
from engine.correlation import CrossCorrelation  # noqa: E402
from engine.moments import moments  # noqa: E402

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


# --- helpers ---------------------------------------------------------------------------------------------------


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per function, alternating them so that load changes hit all alike."""
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in times.items()}


def _cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


# --- 1. neuron statistics ----------------------------------------------------------------------------------------


def reference_loop(layer_acts: torch.Tensor, neurons: range) -> list[dict[str, float]]:
    """The reference notebook's compute_activation_stats inner loop (one layer), unchanged in logic."""
    from scipy import stats as scipy_stats

    stats = []
    for neuron in neurons:
        neuron_acts = layer_acts[:, neuron].numpy()
        mean_act = neuron_acts.mean()
        var_act = neuron_acts.var()
        skew = scipy_stats.skew(neuron_acts)
        kurt = scipy_stats.kurtosis(neuron_acts) + 3
        sparsity = (neuron_acts == 0).mean()
        stats.append(
            {"neuron": neuron, "mean": mean_act, "var": var_act, "skew": skew, "kurt": kurt, "sparsity": sparsity}
        )
    return stats


def bench_moments(tokens: int, neurons: int, subset: int, repeats: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    # pre-activation-like: Gaussian bulk with a negative bias, a heavy-tailed minority
    x = torch.randn(tokens, neurons, generator=gen) - 0.5
    x[:, ::7] = torch.distributions.StudentT(4.0).sample((tokens, len(range(0, neurons, 7))))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference_loop(x, range(2))  # warm-up: scipy's lazy imports are not per-neuron cost
        moments(x[:256])
        t_ours = _median_time(lambda: moments(x), repeats)
        t_loop_subset = _median_time(lambda: reference_loop(x, range(subset)), max(1, repeats // 2))
        ours = moments(x)
        ref = reference_loop(x, range(subset))
    finally:
        torch.set_num_threads(before)
    t_loop = t_loop_subset * neurons / subset
    agree = max(
        float(np.max(np.abs(ours.kurt[:subset] - [r["kurt"] for r in ref]) / np.abs(ours.kurt[:subset]))),
        float(np.max(np.abs(ours.skew[:subset] - [r["skew"] for r in ref]))),
    )
    return {
        "tokens": tokens,
        "neurons": neurons,
        "subset": subset,
        "ours_s": t_ours,
        "loop_s_extrapolated": t_loop,
        "speedup": t_loop / t_ours,
        "ns_per_element": t_ours / (tokens * neurons) * 1e9,
        "max_disagreement": agree,
    }


# --- 2. correlation GEMM efficiency ------------------------------------------------------------------------------


def bench_gemm(chunk: int, layers: int, d: int, chunks: int, repeats: int) -> dict[str, Any]:
    n = layers * d
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(chunk, n, generator=gen) + 0.3
    b = torch.randn(chunk, n, generator=gen) - 0.1
    out = torch.empty(n, n)
    cc = CrossCorrelation(n, layers, d)

    def updates() -> None:
        for _ in range(chunks):
            cc.update(a, b)

    def matmuls() -> None:
        for _ in range(chunks):
            torch.mm(a.T, b, out=out)

    def routed() -> None:  # the same product through engine.blas (scipy's OpenBLAS where MKL is slow)
        for _ in range(chunks):
            blas.addmm_(out, a.T, b)  # accumulates where torch.mm overwrites: the same GEMM work

    times = _interleaved({"update": updates, "matmul": matmuls, "routed": routed}, repeats)
    flops = 2.0 * chunk * n * n * chunks
    block_flops = 2.0 * chunk * n * d * chunks  # B's within-layer Gram blocks, extra work the update must do
    return {
        "chunk_tokens": chunk,
        "n_a": n,
        "n_b": n,
        "tokens_per_repeat": chunk * chunks,
        "matmul_gflops": flops / times["matmul"] / 1e9,
        "blas_route": blas.backend(),
        "routed_gflops": flops / times["routed"] / 1e9,
        "route_speedup": times["matmul"] / times["routed"],
        "update_gflops": flops / times["update"] / 1e9,
        "update_gflops_incl_blocks": (flops + block_flops) / times["update"] / 1e9,
        "ratio": times["matmul"] / times["update"],
        "ceiling_from_blocks": flops / (flops + block_flops),
    }


# --- 3. activation extraction ------------------------------------------------------------------------------------


def _tiny_gpt2(folder: Path, vocab: int = 4096) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="t0", eos_token="t0", pad_token="t0", unk_token="t0")
    fast.save_pretrained(folder)
    cfg = GPT2Config(
        n_layer=4, n_embd=128, n_inner=512, n_head=4, vocab_size=vocab, n_positions=256, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(folder)


def bench_extraction(n_contexts: int, ctx: int, batch: int, repeats: int) -> dict[str, Any]:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPT2LMHeadModel

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _tiny_gpt2(folder)
        bridge = TransformerBridge.boot_transformers(str(folder), device="cpu")
        bridge.eval()
        bridge.enable_compatibility_mode()  # the project's processing (fixtures/model_loading.py load_model)
        hf = GPT2LMHeadModel.from_pretrained(folder).eval()
        from fixtures.extraction import plain_model
        from fixtures.model_loading import load_model
        from fixtures.models import resolve_model

        loaded = load_model(resolve_model(str(folder)))  # the project's loader, as the activation store gets it
        plain_model(loaded)  # its plain-HF extraction copy, loaded while the folder exists
    layers, d = 4, 512
    tokens = torch.randint(1, 4096, (n_contexts, ctx), generator=torch.Generator().manual_seed(2))
    tokens[:, 0] = 0
    n_tok = tokens.numel()
    sink = np.empty((n_tok, layers, d), dtype=np.float16)  # both paths copy activations out as the store does
    row = {"at": 0}

    def keeper(layer: int) -> Callable[[torch.Tensor], None]:
        def keep(act: torch.Tensor) -> None:
            flat = act.detach().reshape(-1, d)
            sink[row["at"] : row["at"] + flat.shape[0], layer] = flat.float().numpy()

        return keep

    keepers = [keeper(layer) for layer in range(layers)]

    def run_bridge() -> None:
        hooks = [
            (f"blocks.{layer}.mlp.hook_post", (lambda k: lambda act, hook: k(act))(keepers[layer]))
            for layer in range(layers)
        ]
        row["at"] = 0
        with torch.no_grad(), bridge.hooks(fwd_hooks=hooks):
            for start in range(0, n_contexts, batch):
                part = tokens[start : start + batch]
                bridge(part, return_type=None)
                row["at"] += part.numel()

    def run_hf() -> None:
        handles = [
            hf.transformer.h[layer].mlp.act.register_forward_hook((lambda k: lambda m, i, o: k(o))(keepers[layer]))
            for layer in range(layers)
        ]
        row["at"] = 0
        try:
            with torch.no_grad():
                for start in range(0, n_contexts, batch):
                    part = tokens[start : start + batch]
                    hf(part)
                    row["at"] += part.numel()
        finally:
            for h in handles:
                h.remove()

    def run_bridge_bare() -> None:  # the bridge's own forward cost, to separate it from the hooks'
        with torch.no_grad():
            for start in range(0, n_contexts, batch):
                bridge(tokens[start : start + batch], return_type=None)

    fns: dict[str, Callable[[], Any]] = {
        "hf_hooks": run_hf,
        "bridge_hooks": run_bridge,
        "bridge_no_hooks": run_bridge_bare,
    }
    store_note = ""
    try:
        from fixtures.activations import MLP_POST_RAW, ActivationStore

        store = ActivationStore(root=Path(tempfile.gettempdir()), batch_size=batch)
        model = loaded
        excluded = np.zeros(tokens.shape, dtype=bool)
        store._forward(model, tokens.numpy(), excluded, [MLP_POST_RAW])  # probe once
        fns["store_forward"] = lambda: store._forward(model, tokens.numpy(), excluded, [MLP_POST_RAW])
    except Exception as exc:  # the store is another module's internals: report and go on
        store_note = f"ActivationStore._forward not timed: {type(exc).__name__}: {exc}"
    times = _interleaved(fns, repeats)
    # same numbers? hook_post of the processed bridge vs HF's mlp.act (LN folding does not change MLP activations)
    run_bridge()
    from_bridge = sink[: batch * ctx].astype(np.float32)
    run_hf()
    max_diff = float(np.abs(from_bridge - sink[: batch * ctx].astype(np.float32)).max())
    out: dict[str, Any] = {"tokens": n_tok, "batch": batch, "context": ctx, "max_abs_diff_bridge_vs_hf_fp16": max_diff}
    for name, seconds in times.items():
        out[f"{name}_tok_per_s"] = n_tok / seconds
    out["bridge_overhead"] = times["bridge_hooks"] / times["hf_hooks"]
    out["bridge_forward_overhead"] = times["bridge_no_hooks"] / times["hf_hooks"]
    if "store_forward" in times:
        out["store_overhead"] = times["store_forward"] / times["hf_hooks"]
    if store_note:
        out["note"] = store_note
    return out


# --- 4. memory ---------------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux clear_refs 5) so imports do not mask the streaming peak."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _memory_child(tokens: int, chunk: int, layers: int, d: int) -> dict[str, Any]:
    """Runs in a fresh process: stream `tokens` synthetic tokens through CrossCorrelation, report peak RSS."""
    torch.set_num_threads(os.cpu_count() or 1)
    n = layers * d
    base_kib = _reset_peak_rss()
    gen = torch.Generator().manual_seed(3)
    mix = torch.randn(n, n, generator=gen) / n**0.5  # correlated models
    cc = CrossCorrelation(n, layers, d)
    start = time.perf_counter()
    done = 0
    while done < tokens:
        t = min(chunk, tokens - done)
        a = torch.randn(t, n, generator=gen)
        b = torch.addmm(torch.randn(t, n, generator=gen), a, mix, beta=0.5)  # B = A @ mix + noise
        cc.update(a, b)
        del a, b
        done += t
    result = cc.max_correlation()
    seconds = time.perf_counter() - start
    peak_kib = _peak_rss()
    return {
        "tokens": tokens,
        "chunk": chunk,
        "neurons": n,
        "peak_rss_mib": peak_kib / 1024,
        "delta_rss_mib": (peak_kib - base_kib) / 1024,
        "seconds": seconds,
        "mean_max_corr": float(result.max_corr.mean()),
    }


def bench_memory(token_counts: list[int], chunks: list[int], layers: int, d: int) -> list[dict[str, Any]]:
    rows = []
    for tokens, chunk in zip(token_counts, chunks, strict=True):
        cmd = [sys.executable, __file__, "--_memory-child", json.dumps([tokens, chunk, layers, d])]
        # A fixed mmap threshold makes glibc return every freed chunk-sized buffer to the OS, so RSS follows live
        # memory; with its default dynamic threshold, freed 32 MiB buffers are kept in the heap and RSS drifts up.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        rows[-1]["materialised_fp16_mib"] = tokens * 2 * layers * d * 2 / 2**20  # both models' activations in fp16
    return rows


# --- report ------------------------------------------------------------------------------------------------------


def _table(res: dict[str, Any]) -> str:
    m, g, e, mem = res["moments"], res["gemm"], res["extraction"], res["memory"]
    lines = [
        "| # | measurement | ours | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for k, row in enumerate(m):
        lines.append(
            f"| 1{'ab'[k]} | neuron statistics, {row['tokens']:,} tokens × {row['neurons']} neurons, 1 thread | "
            f"{row['ours_s']:.3f} s ({row['ns_per_element']:.1f} ns/element) | "
            f"{row['loop_s_extrapolated']:.1f} s (scipy loop on {row['subset']} neurons, extrapolated) | "
            f"**{row['speedup']:.0f}×** faster | ≥100× |"
        )
    lines.append(
        f"| 2 | CrossCorrelation.update, chunk {g['chunk_tokens']:,} tokens, {g['n_a']}×{g['n_b']}, "
        f"{res['threads']} threads | {g['update_gflops']:.1f} GFLOP/s (cross product only; "
        f"{g['update_gflops_incl_blocks']:.1f} incl. B's layer blocks) | "
        f"{g['matmul_gflops']:.1f} GFLOP/s plain float32 matmul | "
        f"**{100 * g['ratio']:.0f} %** (ceiling {100 * g['ceiling_from_blocks']:.0f} % from the blocks) | ≥70 % |"
    )
    lines.append(
        f"| 2b | the same product through engine.blas (route: {g['blas_route']}), {res['threads']} threads | "
        f"{g['routed_gflops']:.1f} GFLOP/s | {g['matmul_gflops']:.1f} GFLOP/s torch.mm | "
        f"**{g['route_speedup']:.2f}×** | ≥1 |"
    )
    lines.append(
        f"| 3a | extraction via TransformerBridge hooks (hook_post), {e['tokens']:,} tokens | "
        f"{e['bridge_hooks_tok_per_s']:,.0f} tok/s | {e['hf_hooks_tok_per_s']:,.0f} tok/s raw HF + hooks on mlp.act | "
        f"**{e['bridge_overhead']:.2f}×** time (bridge forward alone, no hooks: "
        f"{e['bridge_forward_overhead']:.2f}×) "
        "| ≤1.3× |"
    )
    if "store_overhead" in e:
        lines.append(
            f"| 3b | extraction via ActivationStore._forward (raw fp16 product) | "
            f"{e['store_forward_tok_per_s']:,.0f} tok/s | "
            f"{e['hf_hooks_tok_per_s']:,.0f} tok/s | **{e['store_overhead']:.2f}×** time | ≤1.3× |"
        )
    for k, row in enumerate(mem):
        lines.append(
            f"| 4{'abcd'[k]} | peak RSS, 2×{row['neurons']} neurons, "
            f"{row['tokens']:,} tokens, chunk {row['chunk']:,} | "
            f"{row['peak_rss_mib']:.0f} MiB peak (+{row['delta_rss_mib']:.0f} MiB over the RSS after imports; "
            f"{row['seconds']:.0f} s) | "
            f"{row['materialised_fp16_mib']:,.0f} MiB to hold both models' fp16 activations | — | bounded by chunk |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (well under a minute)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument(
        "--gpu", action="store_true", help="the streaming family pass at GPT-2-small scale (scripts/benchmark_gpu.py)"
    )
    parser.add_argument("--device", default="cuda", help="with --gpu: the device (cpu with --quick for a smoke run)")
    parser.add_argument("--precision", default=None, help="with --gpu: float32, tf32 or bfloat16 (default: bfloat16)")
    parser.add_argument("--skip-accuracy", action="store_true", help="with --gpu: skip the float32 comparison")
    parser.add_argument("--batches", type=int, default=None, help="with --gpu: timed batches (default 12; 3 quick)")
    parser.add_argument("--_memory-child", dest="memory_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(_memory_child(*json.loads(args.memory_child))))
        return
    if args.gpu:
        import benchmark_gpu

        if args.device.startswith("cuda") and not torch.cuda.is_available():
            parser.error("--gpu needs a CUDA device; for a smoke run on CPU add --device cpu --quick")
        started = time.time()
        gpu = benchmark_gpu.run(args.device, args.quick, args.precision, args.batches, not args.skip_accuracy)
        gpu["date"], gpu["torch"] = time.strftime("%Y-%m-%d %H:%M %Z"), torch.__version__
        gpu["seconds"] = time.time() - started
        print(json.dumps(gpu, indent=1, default=float))
        print(benchmark_gpu.table(gpu))
        if args.json:
            args.json.write_text(json.dumps(gpu, indent=1, default=float))
        return
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    started = time.time()
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "quick": args.quick,
    }
    if args.quick:
        res["moments"] = [bench_moments(4096, 512, 32, 3)]
        res["gemm"] = bench_gemm(8192, 4, 256, 2, 3)
        res["extraction"] = bench_extraction(16, 128, 8, 3)
        res["memory"] = bench_memory([20_000, 80_000], [8192, 8192], 4, 256)
    else:
        res["moments"] = [bench_moments(4096, 2048, 64, 5), bench_moments(65536, 2048, 32, 3)]
        res["gemm"] = bench_gemm(16384, 4, 512, 4, 5)
        res["extraction"] = bench_extraction(64, 256, 16, 5)
        res["memory"] = bench_memory([250_000, 1_000_000, 250_000], [16384, 16384, 65536], 4, 512)
    res["load_average_before"] = load_before
    res["load_average_after"] = os.getloadavg()
    res["seconds"] = time.time() - started
    print(json.dumps(res, indent=1, default=float))
    print()
    print(f"{res['date']} | {res['cpu']} | {res['cores']} cores | torch {res['torch']} | {threads} threads")
    print(f"load average before {load_before[0]:.2f}, after {res['load_average_after'][0]:.2f}")
    print(_table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))


if __name__ == "__main__":
    main()
