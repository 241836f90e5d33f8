"""`--claims-plan`: what a run will cost, printed before any work, and refused when it does not fit the machine.

Per (subject, dataset) group of the selected claim tests: the models it runs (a family's seeds and controls),
tokens per model, whether raw activations are stored (some selected claim needs token-level activations) or
only streamed (`docs/streaming.md`), and from these the disk, the peak memory and the compute. Raw activations
cover the token-level sample, at most the sample cap (`--claims-sample-tokens`) whatever the budget:

    stored raw activations (disk, and RAM while one model's pass builds them)  sample x layers x d_mlp x 2 bytes
    streaming family pass (memory)          weights + pairs x (n^2 x 12 + layers x d^2 x 12) + chunk buffers
                                            + layers x d^2 x 12 + n^2 x 8 (the rotated copy, below)
    compute                                 2 x params x tokens per model + pairs x 2 x tokens x n^2

(pairs: the reference against each other seed, the first control against each other control; U2's rotated copy
is derived from the first pair's sums at the end: n^2 x 8 bytes, no product over the tokens.)

Time is compute over rates measured in docs/benchmark.md (the H200's family pass for GPUs, the 2-core engine
benchmark for CPUs): an estimate to size a run, not a promise. Shapes come from each model's config.json, or for
the paper's hub models when their config is not cached yet, from `KNOWN_SHAPES`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claims.matrix import ClaimCase
from fixtures.storage import human_bytes

# (pattern on the hub id, (layers, d_model, d_mlp, parameters)) for the paper profile's models
KNOWN_SHAPES: tuple[tuple[str, tuple[int, int, int, float]], ...] = (
    (r"stanford-crfm/.*gpt2-small", (12, 768, 3072, 124e6)),
    (r"stanford-crfm/.*gpt2-medium", (24, 1024, 4096, 355e6)),
    (r"EleutherAI/pythia-160m", (12, 768, 3072, 162e6)),
    (r"EleutherAI/pythia-410m", (24, 1024, 4096, 405e6)),
    (r"^gpt2-xl$|openai-community/gpt2-xl", (48, 1600, 6400, 1.56e9)),
)
# FLOP/s used for the time estimate (docs/benchmark.md): GPU = one H200 (forward in bfloat16 ~1.7e14: 5 GPT-2-small
# passes over 98,304 positions in 0.50 s; correlation products 2.7e14 in bfloat16); CPU = 2 cores (forward ~6e10:
# 23,819 tokens/s of a 1.3M-parameter GPT-2; CrossCorrelation 1.8e11). Model loading and the claims' own analyses
# are not counted, so a cold CPU run takes several times the estimate.
RATES = {"cuda": {"forward": 1.7e14, "correlation": 2.7e14}, "cpu": {"forward": 6e10, "correlation": 1.8e11}}
BATCH_CONTEXTS = 16


@dataclass(frozen=True)
class Group:
    """The estimate for one (subject, dataset)."""

    subject: str
    dataset: str
    models: int
    tokens: int
    route: str  # "stored" (raw covers the budget), "stream" (no raw), "both" (raw on a capped sample + stream)
    disk_bytes: float
    memory_bytes: float
    forward_flops: float
    correlation_flops: float

    def seconds(self, device: str) -> float:
        """Estimated compute time on `device` (see `RATES`)."""
        rate = RATES["cuda" if device.startswith("cuda") else "cpu"]
        return self.forward_flops / rate["forward"] + self.correlation_flops / rate["correlation"]


def shape(ref: Any) -> tuple[int, int, int, float]:
    """(layers, d_model, d_mlp, parameters) of a model, from its config or `KNOWN_SHAPES`."""
    try:
        config = ref.config()
    except Exception:  # a hub model whose config is not cached: the table, else a clear error
        for pattern, known in KNOWN_SHAPES:
            if re.search(pattern, ref.location):
                return known
        raise ValueError(
            f"--claims-plan: no config.json for {ref.name} and no known shape; download it first"
        ) from None
    from fixtures.architectures import architecture
    from fixtures.models import config_dims

    dims = config_dims(config)
    if dims is None:
        raise ValueError(f"--claims-plan: {ref.name}'s config.json names no layer count or width")
    layers, d_model = dims
    d_mlp = int(config.get("n_inner") or config.get("intermediate_size") or 4 * d_model)
    vocab = int(config.get("vocab_size", 0))
    gated = architecture(config).gated
    params = layers * (4 * d_model**2 + (3 if gated else 2) * d_model * d_mlp) + vocab * d_model
    return layers, d_model, d_mlp, float(params)


def estimate(cases: Iterable[Any], plan: dict[tuple[str, str], frozenset[str]], settings: Any) -> list[Group]:
    """One `Group` per (subject, dataset) among the selected cases."""
    from fixtures.activations import ATTN_Z_NORMS, per_token_products, raw_products
    from fixtures.models import is_family, resolve_family, resolve_model
    from fixtures.workbench import covers_budget

    groups: list[Group] = []
    seen: set[tuple[str, str]] = set()
    for case in cases:
        if case.dataset is None or (case.subject, case.dataset) in seen:
            continue
        seen.add((case.subject, case.dataset))
        if is_family(case.subject):
            family = resolve_family(case.subject)
            refs = [*family.members, *family.controls]
            members, controls = len(family.members), len(family.controls)
        else:
            refs, members, controls = [resolve_model(case.subject)], 1, 0
        shapes = [shape(r) for r in refs]
        tokens = max(settings.tokens_for(r.scale) for r in refs)
        sample = max(settings.sample_tokens_for(r.scale) for r in refs)
        products = set().union(*(plan.get((r.name, case.dataset), frozenset()) for r in refs))
        raw = len(raw_products(products))
        norms = ATTN_Z_NORMS in products  # [tokens, layers, heads] float32; heads taken as d_model / 64
        weights = sum(4 * s[3] for s in shapes)
        forward = sum(2 * s[3] * tokens for s in shapes)
        correlation = 0.0
        layers, _, d, _ = shapes[0]
        n = layers * d
        if per_token_products(products):
            disk = raw * sum(sample * s[0] * s[2] * 2 for s in shapes)
            disk += norms * sum(sample * s[0] * max(1, s[1] // 64) * 4 for s in shapes)
            memory = weights + max(raw * sample * s[0] * s[2] * 2 for s in shapes)
            # the rule of Workbench.stores_raw: raw on a capped sample does not replace the streamed statistics
            route = "stored" if raw and all(covers_budget(settings, r.scale) for r in refs) else "both"
            if route == "both":
                forward += sum(2 * s[3] * sample for s in shapes)
        else:
            disk, memory, route = 0.0, weights, "stream"
        if members >= 2:
            pairs = (members - 1) + (controls - 1 if controls >= 2 else 0)  # streamed comparison pairs
            batch = BATCH_CONTEXTS * settings.context_length
            # sums, the reference's Gram blocks and at the end the rotated copy (engine/family.py); one shared set of
            # float32 chunk buffers (+ bfloat16 copies and the product on GPU); the batch
            memory += pairs * 12 * (n * n + layers * d * d) + 12 * layers * d * d + 8 * n * n
            memory += 2 * batch * n * 4 + len(refs) * batch * n * 2
            if settings.device.startswith("cuda"):
                memory += 2 * batch * n * 2 + 4 * n * n
            correlation = pairs * 2.0 * tokens * n * n + 2.0 * tokens * n * d
        groups.append(Group(case.subject, case.dataset, len(refs), tokens, route, disk, memory, forward, correlation))
    return groups


def render(groups: list[Group], device: str) -> str:
    """The plan as a table plus totals."""
    lines = [f"{'subject':<28} {'dataset':<34} models  tokens/model  route   disk      peak memory  est. compute"]
    for g in groups:
        seconds = g.seconds(device)
        lines.append(
            f"{g.subject:<28} {g.dataset[:34]:<34} {g.models:>6}  {g.tokens:>12,}  {g.route:<6}  "
            f"{human_bytes(g.disk_bytes):>8}  {human_bytes(g.memory_bytes):>11}  {_duration(seconds)}"
        )
    total_disk = sum(g.disk_bytes for g in groups)
    peak = max((g.memory_bytes for g in groups), default=0.0)
    total = sum(g.seconds(device) for g in groups)
    lines.append(
        f"total: disk {human_bytes(total_disk)}, peak memory {human_bytes(peak)}, est. compute {_duration(total)} on {device}"
    )
    return "\n".join(lines)


def problems(groups: list[Group], device: str, cache: Any) -> list[str]:
    """Why the plan does not fit this machine (empty when it does)."""
    import psutil

    out = []
    disk = sum(g.disk_bytes for g in groups)
    where = Path(cache)
    while not where.exists() and where != where.parent:  # the cache is made on first use
        where = where.parent
    free = shutil.disk_usage(where).free
    if disk > free:
        out.append(f"stored activations need {human_bytes(disk)} but {cache} has {human_bytes(free)} free")
    peak = max((g.memory_bytes for g in groups), default=0.0)
    if device.startswith("cuda"):
        import torch

        have = torch.cuda.get_device_properties(torch.device(device)).total_memory
        memory = f"GPU memory of {device}"
    else:
        have, memory = psutil.virtual_memory().available, "available RAM"
    if peak > have:
        out.append(f"the largest group needs {human_bytes(peak)} but the {memory} is {human_bytes(have)}")
    return out


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def forward_plan(cases: list[ClaimCase]) -> dict[tuple[str, str], frozenset[str]]:
    """(model name, dataset) -> every activation product the selected claims need from it (one pass each)."""
    from claims.registry import REGISTRY
    from fixtures.models import ModelSpecError, is_family, resolve_family, resolve_model

    plan: dict[tuple[str, str], set[str]] = {}
    for case in cases:
        claim = REGISTRY.get(case.claim_id)
        if case.dataset is None or not claim.needs.products:
            continue
        try:
            if is_family(case.subject):
                family = resolve_family(case.subject)
                names = [m.name for m in (*family.members, *family.controls)]
            else:
                names = [resolve_model(case.subject).name]
        except (ModelSpecError, ValueError):
            continue  # reported by the test itself
        for name in names:
            plan.setdefault((name, case.dataset), set()).update(claim.needs.products)
    return {k: frozenset(v) for k, v in plan.items()}
