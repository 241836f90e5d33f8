"""Write a zoo family's model card: config, training record, eval loss, and its universality profile.

    python -m zoo.card zoo-gpt2-s            # writes zoo/zoo-gpt2-s/README.md (and card.json)
    python -m zoo.card --all

The universality profile is measured with the suite's own pipeline (the activation store and the engine's
cross-seed correlations), on the held-out speeches, for the trained members and for untrained copies of the
same configs: the fraction of the reference member's neurons with excess correlation > 0.3 / 0.4 / 0.5, per
layer and overall.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.families import BASE_FAMILY, FAMILIES, ZOO_DIR, FamilySpec

PROFILE_TOKENS = 65_536
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)


def universality_profile(spec: FamilySpec, tokens: int = PROFILE_TOKENS) -> dict[str, Any]:
    """Per-layer fractions of neurons above each excess threshold, trained vs untrained (same pipeline)."""
    import torch

    from engine.universality import cross_model_correlations, universality_table
    from fixtures.activations import MLP_POST_RAW
    from fixtures.model_loading import pick_device
    from fixtures.models import resolve_family
    from fixtures.workbench import RunSettings, Workbench

    torch.set_num_threads(max(1, torch.get_num_threads()))
    bench = Workbench(RunSettings(tokens, tokens, 128, pick_device("auto"), "float32", 0))
    family = resolve_family(spec.name)
    out: dict[str, Any] = {"tokens": tokens, "dataset": "sotu (held-out speeches)", "thresholds": list(THRESHOLDS)}
    for label, refs in (("trained", family.members), ("untrained", family.controls)):
        acts = [bench.activations(r, "sotu", (MLP_POST_RAW,)) for r in refs]
        keep = ~acts[0].excluded.reshape(-1)
        raws = [a.raw(MLP_POST_RAW) for a in acts]
        run = cross_model_correlations(
            raws[0], raws[1:], keep, torch.Generator().manual_seed(0), baselines=("gaussian",)
        )
        table = universality_table(run.results, run.baselines["gaussian"], spec.n_layer, spec.d_mlp)
        per_layer = {
            f"layer {layer}": {f">{t}": round(float((g.excess_corr > t).mean()), 4) for t in THRESHOLDS}
            for layer, g in table.groupby("layer")
        }
        out[label] = {
            "comparisons": len(refs) - 1,
            "overall": {f">{t}": round(float((table.excess_corr > t).mean()), 4) for t in THRESHOLDS},
            "per_layer": per_layer,
            "mean_excess": round(float(table.excess_corr.mean()), 4),
            "max_excess": round(float(table.excess_corr.max()), 4),
            "kept_tokens": run.n_tokens,
        }
    return out


RECIPE_FIELDS = ("tokens", "n_ctx", "lr", "weight_decay", "warmup_frac", "batch_size", "vocab_size", "tokenizer_dir")
SHAPE_FIELDS = ("arch", "n_layer", "d_model", "n_head", "d_mlp", "tie_embeddings", "extra")


def differences(spec: FamilySpec, base: FamilySpec = FAMILIES[BASE_FAMILY]) -> dict[str, list[Any]]:
    """What this family changes relative to the base family, field by field: `{field: [base, this]}`.

    A GT1 family is only informative when the answer names its architectural change and nothing else (no other
    token budget or recipe), so the card prints this and a unit test holds recipe fields equal.
    """
    return {
        f: [_plain(getattr(base, f)), _plain(getattr(spec, f))]
        for f in SHAPE_FIELDS + RECIPE_FIELDS
        if getattr(base, f) != getattr(spec, f)
    }


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def write_card(spec: FamilySpec) -> Path:
    """Collect member cards, measure the universality profile, write README.md and card.json."""
    members = [
        json.loads((spec.folder / m / "card.json").read_text())
        for m in spec.members
        if (spec.folder / m / "card.json").exists()
    ]
    started = time.time()
    profile = universality_profile(spec)
    card = {
        "family": spec.name,
        "role": spec.role,
        "arch": spec.arch,
        "config": {k: getattr(spec, k) for k in ("n_layer", "d_model", "n_head", "d_mlp", "n_ctx", "vocab_size")},
        "tie_embeddings": spec.tie_embeddings,
        "tokens_per_member": spec.tokens,
        "differs_from_base": differences(spec),
        "recipe": members[0]["recipe"] if members else {},
        "members": [
            {
                k: m.get(k)
                for k in (
                    "member",
                    "init_seed",
                    "data_seed",
                    "tokens_seen",
                    "wall_seconds",
                    "final_train_loss",
                    "eval_loss_nats",
                    "machine",
                    "git_commit",
                )
            }
            for m in members
        ],
        "universality": profile,
        "profile_command": f"python -m zoo.card {spec.name}",
        "profile_seconds": round(time.time() - started, 1),
        "profile_machine": f"{platform.machine()} {platform.processor()}".strip(),
        "card_commit": _git(),
    }
    (spec.folder / "card.json").write_text(json.dumps(card, indent=1) + "\n")
    path = spec.folder / "README.md"
    path.write_text(_markdown(card))
    return path


def _markdown(card: dict[str, Any]) -> str:
    cfg = card["config"]
    lines = [
        f"# {card['family']} ({card['role']})",
        "",
        f"{card['arch']} architecture: {cfg['n_layer']} layers, d_model {cfg['d_model']}, {cfg['n_head']} heads, d_mlp {cfg['d_mlp']}, "
        f"context {cfg['n_ctx']}, vocabulary {cfg['vocab_size']} (byte-level BPE trained on the sotu training split).",
        f"Recipe: {json.dumps(card['recipe'])}; {card['tokens_per_member']:,} training tokens per member; "
        f"{'tied' if card['tie_embeddings'] else 'untied'} embedding and unembedding.",
        "",
        f"Differs from the base family ({BASE_FAMILY}): {_changes(card['differs_from_base'])}.",
        "",
        "| member | init seed | data seed | tokens seen | wall time | final train loss | eval loss (nats) | machine | script commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in card["members"]:
        wall = f"{m['wall_seconds'] / 60:.0f} min" if m.get("wall_seconds") else "-"
        lines.append(
            f"| {m['member']} | {m['init_seed']} | {m['data_seed']} | {m.get('tokens_seen') or 0:,} | {wall} | {m.get('final_train_loss')} | "
            f"{m.get('eval_loss_nats')} | {m.get('machine')} | {str(m.get('git_commit'))[:10]} |"
        )
    u = card["universality"]
    lines += [
        "",
        f"## Universality profile ({u['dataset']}, {u['tokens']:,} tokens, excluding BOS/EOS and newlines)",
        "",
        f"Fraction of the reference member's neurons with excess correlation above each threshold; trained: "
        f"{u['trained']['comparisons']} comparison seeds, untrained control: {u['untrained']['comparisons']} "
        f"(same configs at initialisation). Measured with `{card['profile_command']}` in {card['profile_seconds']} s.",
        "",
        "| | " + " | ".join(f"> {t}" for t in u["thresholds"]) + " | mean excess | max excess |",
        "|---|" + "---|" * (len(u["thresholds"]) + 2),
    ]
    for label in ("trained", "untrained"):
        row = u[label]
        lines.append(
            f"| {label}, all layers | "
            + " | ".join(f"{100 * row['overall'][f'>{t}']:.2f} %" for t in u["thresholds"])
            + f" | {row['mean_excess']} | {row['max_excess']} |"
        )
        for layer, fr in row["per_layer"].items():
            lines.append(
                f"| {label}, {layer} | " + " | ".join(f"{100 * fr[f'>{t}']:.2f} %" for t in u["thresholds"]) + " | | |"
            )
    return "\n".join(lines) + "\n"


def _changes(changed: dict[str, list[Any]]) -> str:
    if not changed:
        return "nothing (this is the base family)"
    return "; ".join(f"{k} {old} -> {new}" for k, (old, new) in changed.items())


def _git() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=ZOO_DIR
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    """Command-line entry point."""
    from fixtures.offline import configure_hub_access

    configure_hub_access()
    parser = argparse.ArgumentParser(prog="python -m zoo.card")
    parser.add_argument("family", nargs="?", choices=sorted(FAMILIES))
    parser.add_argument("--all", action="store_true")
    args = parser.parse_args()
    names = sorted(FAMILIES) if args.all else [args.family]
    for name in names:
        print(write_card(FAMILIES[name]))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
