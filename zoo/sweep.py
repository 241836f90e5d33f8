"""The shape/vocabulary sweep behind the zoo's choice: universality per CPU-minute at a fixed small budget.

    python -m zoo.sweep train <config> <member>   # train one sweep model into $SWEEP_DIR (default /tmp/zoo-sweep)
    python -m zoo.sweep measure                   # excess-correlation profile of every trained pair + controls

Each config is trained for SWEEP_TOKENS with two seeds (a, b); universality is the fraction of a's neurons whose
excess correlation with b (max corr minus the paper's Gaussian-rotation baseline) exceeds 0.2 / 0.3, on the
held-out speeches. The result table goes into the zoo card (zoo/README.md).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from zoo.families import BASE_FAMILY, FAMILIES, FamilySpec

SWEEP_DIR = Path(os.environ.get("SWEEP_DIR", "/tmp/zoo-sweep"))
SWEEP_TOKENS = 1_500_000
BASE = FAMILIES[BASE_FAMILY]
CONFIGS: dict[str, FamilySpec] = {
    "L4-d128-V4096": dataclasses.replace(BASE, name="L4-d128-V4096"),
    "L4-d128-V2048": dataclasses.replace(
        BASE, name="L4-d128-V2048", vocab_size=2048, tokenizer_dir=SWEEP_DIR / "tok2048"
    ),
    "L2-d128-V4096": dataclasses.replace(BASE, name="L2-d128-V4096", n_layer=2),
    "L4-d96-V4096": dataclasses.replace(BASE, name="L4-d96-V4096", d_model=96, n_head=4, d_mlp=384),
    "L4-d192-V4096": dataclasses.replace(BASE, name="L4-d192-V4096", d_model=192, n_head=6, d_mlp=768),
}


def train(config: str, member: str) -> None:
    """Train one sweep member and record its CPU time."""
    from zoo.train import train_member, train_tokenizer

    spec = CONFIGS[config]
    if spec.vocab_size != 4096 and not (spec.tokenizer_dir / "tokenizer.json").exists():
        train_tokenizer(spec.vocab_size, spec.tokenizer_dir)
    start = time.process_time()
    card = train_member(spec, member, SWEEP_DIR / config / member, SWEEP_TOKENS)
    assert card is not None  # None only when a stretch ends early (stop_after)
    card["cpu_seconds"] = round(time.process_time() - start, 1)
    (SWEEP_DIR / config / member / "card.json").write_text(json.dumps(card, indent=1))


def _post_activations(model: Any, contexts: torch.Tensor) -> torch.Tensor:
    """[tokens, layers * d_mlp] post-GELU activations, BOS/EOT (id 0) and newline positions dropped."""
    blocks = model.transformer.h if hasattr(model, "transformer") else model.gpt_neox.layers
    store: list[list[torch.Tensor]] = [[] for _ in blocks]
    hooks = [
        blk.mlp.act.register_forward_hook(lambda _m, _i, out, k=k: store[k].append(out.detach().flatten(0, 1)))
        for k, blk in enumerate(blocks)
    ]
    with torch.no_grad():
        for start in range(0, len(contexts), 64):
            model(input_ids=contexts[start : start + 64])
    for h in hooks:
        h.remove()
    acts = torch.cat([torch.cat(s) for s in store], dim=1)
    return acts


def measure() -> list[dict]:
    """Universality profile (trained and untrained pairs) for every config with both members trained."""
    from transformers import AutoModelForCausalLM

    from engine.correlation import CrossCorrelation, gaussian_unit_rows
    from zoo.build import build_model, load_tokenizer
    from zoo.train import eval_contexts

    rows = []
    for name, spec in CONFIGS.items():
        if not all((SWEEP_DIR / name / m / "card.json").exists() for m in "ab"):
            continue
        ctx = eval_contexts(spec.n_ctx, spec.tokenizer_dir, n_tokens=100_000)
        tok = load_tokenizer(spec.tokenizer_dir)
        newline = tok.convert_tokens_to_ids("Ċ")
        keep = ((ctx != 0) & (ctx != newline)).flatten()
        cards = [json.loads((SWEEP_DIR / name / m / "card.json").read_text()) for m in "ab"]
        pairs: dict[str, list[Any]] = {
            "trained": [AutoModelForCausalLM.from_pretrained(SWEEP_DIR / name / m, dtype=torch.float32) for m in "ab"],
            "untrained": [build_model(spec, spec.init_seed(m)).float().eval() for m in "ab"],
        }
        row: dict[str, object] = {
            "config": name,
            "cpu_min_per_seed": round(sum(c["cpu_seconds"] for c in cards) / 2 / 60, 1),
            "eval_loss": round(sum(c["eval_loss_nats"] for c in cards) / 2, 3),
        }
        for label, (ma, mb) in pairs.items():
            acts_a = _post_activations(ma, ctx)[keep]
            acts_b = _post_activations(mb, ctx)[keep]
            cc = CrossCorrelation(acts_a.shape[1], spec.n_layer, spec.d_mlp)
            for s in range(0, len(acts_a), 8192):
                cc.update(acts_a[s : s + 8192], acts_b[s : s + 8192])
            rot = gaussian_unit_rows(spec.n_layer, spec.d_mlp, torch.Generator().manual_seed(0))
            excess = cc.max_correlation().max_corr - cc.baseline_max_correlation(rot)
            row[f"{label}_mean_excess"] = round(float(excess.mean()), 4)
            for t in (0.2, 0.3, 0.4):
                row[f"{label}_frac_gt_{t}"] = round(float((excess > t).double().mean()), 4)
        row["frac_gt_0.3_per_cpu_min"] = round(float(row["trained_frac_gt_0.3"]) / float(row["cpu_min_per_seed"]), 5)  # type: ignore[arg-type]
        print(json.dumps(row), flush=True)
        rows.append(row)
    (SWEEP_DIR / "sweep.json").write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    from fixtures.offline import configure_hub_access

    configure_hub_access()
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3])
    else:
        measure()
