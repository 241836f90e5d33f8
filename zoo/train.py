"""Train the zoo: tiny seeded model families on the State of the Union training split, deterministically.

    python -m zoo.train tokenizer                     # byte-level BPE on sotu-train (once, shared by all families)
    python -m zoo.train member zoo-gpt2-s a           # train one member and save it as an fp16 HF directory
    python -m zoo.train member zoo-gpt2-s a --checkpoint a.ckpt   # the same, resumable after a stop
    python -m zoo.train untrained zoo-gpt2-s a        # save the initialisation of a member (control)
    python -m zoo.train verify [FAMILY ...]           # recompute each card's eval loss (must match within 0.01)

The zoo is never trained in tests (one test trains a tiny config for six steps, to check that resuming from a
checkpoint ends with the same weights as training in one go). Each member runs on one CPU thread (several members in parallel beat one
two-thread process on the project's machines); bf16 autocast with eager attention was ~3x faster than fp32.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.build import build_model, load_tokenizer, write_card
from zoo.families import FAMILIES, TOKENIZER_DIR, FamilySpec

EOT = "<|endoftext|>"
EVAL_TOKENS = 200_000  # held-out tokens for the card's eval loss (the whole held-out split is ~270k)


# --- data ------------------------------------------------------------------------------------------------------


def train_tokenizer(vocab_size: int = 4096, out_dir: Path = TOKENIZER_DIR) -> None:
    """Byte-level BPE on the training split; `<|endoftext|>` is id 0 and serves as BOS, EOS and pad."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from fixtures.corpora import load_corpus

    texts = load_corpus("sotu-train").dataset["text"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, pad_token=EOT, unk_token=EOT, model_max_length=128
    )
    fast.save_pretrained(out_dir)
    print(f"tokenizer: {len(fast)} tokens -> {out_dir}")


@functools.cache
def token_stream(corpus: str, tokenizer_dir: Path = TOKENIZER_DIR) -> np.ndarray:
    """All documents of a corpus tokenised and joined with `<|endoftext|>` separators (uint16)."""
    from fixtures.corpora import load_corpus

    tok = load_tokenizer(tokenizer_dir)
    eot = tok.convert_tokens_to_ids(EOT)
    ids: list[int] = []
    for text in load_corpus(corpus).dataset["text"]:
        ids.extend(tok(text, add_special_tokens=False)["input_ids"])
        ids.append(eot)
    return np.asarray(ids, dtype=np.uint16)


def eval_contexts(n_ctx: int, tokenizer_dir: Path = TOKENIZER_DIR, n_tokens: int = EVAL_TOKENS) -> torch.Tensor:
    """Consecutive held-out contexts, each `[BOS] + n_ctx-1 tokens`, the same for every model of the zoo."""
    stream = token_stream("sotu", tokenizer_dir)
    body = n_ctx - 1
    n = min(len(stream) // body, max(1, n_tokens // body))
    chunks = torch.from_numpy(stream[: n * body].astype(np.int64)).view(n, body)
    bos = torch.zeros(n, 1, dtype=torch.int64)
    return torch.cat([bos, chunks], dim=1)


# --- models ----------------------------------------------------------------------------------------------------


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on matrices only (not biases, norms or position tables), as in GPT-2 / nanoGPT."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        (decay if param.dim() >= 2 and "wpe" not in name else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model: torch.nn.Module, contexts: torch.Tensor, batch: int = 64) -> float:
    """Mean next-token loss in nats, fp32, excluding the prediction made at position 0 (from BOS)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(contexts), batch):
        x = contexts[start : start + batch]
        logits = model(input_ids=x).logits.float()
        logp = torch.log_softmax(logits[:, 1:-1], dim=-1)
        target = x[:, 2:]
        nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        total += float(nll.double().sum())
        count += nll.numel()
    return total / count


def train_member(
    spec: FamilySpec,
    member: str,
    out_dir: Path | None = None,
    tokens: int | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 200,
    stop_after: int | None = None,
) -> dict | None:
    """Train one member; save it (fp16 safetensors + tokenizer + card.json) and return its card.

    With `checkpoint`, the whole training state (weights, AdamW moments, both random generators, the step, the log
    and the wall time so far) is written there atomically every `checkpoint_every` steps, and a run started with
    an existing checkpoint of the same recipe resumes from it. Everything that decides the next step is restored,
    so a member trained in several stretches ends with the same weights as one trained in one go (tested).
    `stop_after` ends the stretch after that many steps in all, leaving the checkpoint (returns None).
    """
    torch.set_num_threads(1)
    tokens = tokens or spec.tokens
    out_dir = out_dir or spec.folder / member
    stream = torch.from_numpy(token_stream("sotu-train", spec.tokenizer_dir).astype(np.int64))
    model = build_model(spec, spec.init_seed(member))
    model.train()
    steps = max(1, tokens // (spec.batch_size * (spec.n_ctx - 1)))
    warmup = max(1, int(spec.warmup_frac * steps))
    opt = torch.optim.AdamW(_param_groups(model, spec.weight_decay), lr=spec.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(spec.data_seed(member))
    body = spec.n_ctx - 1
    bos = torch.zeros(spec.batch_size, 1, dtype=torch.int64)
    recipe = {"family": spec.name, "member": member, "steps": steps, "spec": repr(spec)}
    first, log, spent = 0, [], 0.0
    if checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state["recipe"] != recipe:
            raise ValueError(f"{checkpoint} is a checkpoint of another recipe; delete it or pass another path")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["data_rng"])
        torch.set_rng_state(state["torch_rng"])
        first, log, spent = state["step"], state["log"], state["seconds"]
        print(f"{spec.name}/{member}: resuming at step {first}/{steps}", flush=True)
    started = time.time()
    for step in range(first, steps):
        if stop_after is not None and step >= stop_after:
            return None
        lr = spec.lr * (step + 1) / warmup if step < warmup else _cosine(spec.lr, step - warmup, steps - warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        offsets = torch.randint(0, len(stream) - body, (spec.batch_size,), generator=gen)
        x = torch.cat([bos, torch.stack([stream[o : o + body] for o in offsets.tolist()])], dim=1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0 or step == steps - 1:
            elapsed = spent + time.time() - started
            seen = (step + 1) * spec.batch_size * body
            log.append({"step": step, "tokens": seen, "loss": round(loss.item(), 4), "seconds": round(elapsed, 1)})
            print(
                f"{spec.name}/{member} step {step}/{steps} loss {loss.item():.3f} {seen / elapsed:.0f} tok/s",
                flush=True,
            )
        done = step + 1
        if checkpoint is not None and done < steps and (done % checkpoint_every == 0 or done == stop_after):
            _save_checkpoint(checkpoint, recipe, model, opt, gen, done, log, spent + time.time() - started)
    wall = spent + time.time() - started
    from fixtures.storage import atomic_directory

    with atomic_directory(out_dir) as tmp:  # a member appears complete (card included) or not at all
        card = save_member(spec, member, model, tmp, trained=True)
        card.update(
            tokens_seen=steps * spec.batch_size * body,
            steps=steps,
            wall_seconds=round(wall, 1),
            final_train_loss=log[-1]["loss"],
            train_log=log,
        )
        write_card(tmp, card)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)  # the member is complete; its checkpoint would only be resumed past the end
    return card


def _save_checkpoint(
    path: Path, recipe: dict, model: Any, opt: Any, gen: torch.Generator, step: int, log: list, seconds: float
) -> None:
    """The whole training state, written atomically (a stop mid-write leaves the previous checkpoint)."""
    import io

    from fixtures.storage import atomic_write_bytes

    buffer = io.BytesIO()
    state = {
        "recipe": recipe,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "data_rng": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "step": step,
        "log": log,
        "seconds": seconds,
    }
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _cosine(peak: float, step: int, total: int) -> float:
    progress = min(1.0, step / max(1, total))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_member(spec: FamilySpec, member: str, model: Any, out_dir: Path, trained: bool) -> dict:
    """Save fp16 weights + tokenizer; the card's eval loss is measured on the saved (fp16) weights in fp32."""
    from transformers import AutoModelForCausalLM

    out_dir.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out_dir)
    load_tokenizer(spec.tokenizer_dir).save_pretrained(out_dir)
    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
    contexts = eval_contexts(spec.n_ctx, spec.tokenizer_dir)
    eval_loss = evaluate(reloaded, contexts)
    card = {
        "family": spec.name,
        "member": member,
        "trained": trained,
        "arch": spec.arch,
        "config": {k: getattr(spec, k) for k in ("n_layer", "d_model", "n_head", "d_mlp", "n_ctx")},
        "recipe": {
            "lr": spec.lr,
            "weight_decay": spec.weight_decay,
            "warmup_frac": spec.warmup_frac,
            "batch_size": spec.batch_size,
            "schedule": "linear warm-up, cosine decay to 10%",
            "optimizer": "AdamW(0.9, 0.95), decay on matrices",
            "precision": "bf16 autocast, fp32 master weights, saved fp16",
        },
        "init_seed": spec.init_seed(member),
        "data_seed": spec.data_seed(member),
        "n_params": sum(p.numel() for p in reloaded.parameters()),
        "eval_loss_nats": round(eval_loss, 4),
        "eval_tokens": int(contexts.shape[0] * (spec.n_ctx - 2)),
        "vocab_size": spec.vocab_size,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
        "torch": torch.__version__,
        "git_commit": _git_commit(),
    }
    write_card(out_dir, card)
    return card


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def verify(tolerance: float = 0.01, families: list[str] | None = None) -> int:
    """Recompute each saved member's eval loss and compare with its card; returns the number of mismatches."""
    from transformers import AutoModelForCausalLM

    bad = 0
    for spec in (FAMILIES[name] for name in families or FAMILIES):
        for card_path in sorted(spec.folder.glob("*/card.json")):
            card = json.loads(card_path.read_text())
            model = AutoModelForCausalLM.from_pretrained(card_path.parent, dtype=torch.float32)
            loss = evaluate(model, eval_contexts(spec.n_ctx, spec.tokenizer_dir))
            ok = abs(loss - card["eval_loss_nats"]) <= tolerance
            bad += not ok
            print(
                f"{'ok ' if ok else 'BAD'} {spec.name}/{card['member']}: card {card['eval_loss_nats']:.4f} now {loss:.4f}"
            )
    return bad


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    from fixtures.offline import configure_hub_access

    configure_hub_access()  # training never needs the hub; decide before transformers is imported
    parser = argparse.ArgumentParser(prog="python -m zoo.train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("tokenizer")
    for name in ("member", "untrained"):
        p = sub.add_parser(name)
        p.add_argument("family", choices=sorted(FAMILIES))
        p.add_argument("member")
        p.add_argument("--tokens", type=int, default=None)
        p.add_argument("--out", type=Path, default=None)
        if name == "member":
            p.add_argument("--checkpoint", type=Path, default=None, help="save and resume training state here")
            p.add_argument("--stop-after", type=int, default=None, help="end this stretch after N steps in all")
    check = sub.add_parser("verify")
    check.add_argument("families", nargs="*", metavar="FAMILY", help=f"default: every family ({', '.join(FAMILIES)})")
    args = parser.parse_args(argv)
    unknown = [f for f in getattr(args, "families", []) if f not in FAMILIES]
    if unknown:
        parser.error(f"unknown family {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    if args.cmd == "tokenizer":
        train_tokenizer()
    elif args.cmd == "member":
        train_member(
            FAMILIES[args.family],
            args.member,
            args.out,
            args.tokens,
            checkpoint=args.checkpoint,
            stop_after=args.stop_after,
        )
    elif args.cmd == "untrained":
        spec = FAMILIES[args.family]
        out = args.out or spec.folder / f"untrained-{args.member}"
        card = save_member(spec, args.member, build_model(spec, spec.init_seed(args.member)), out, trained=False)
        print(json.dumps(card, indent=1))
    elif args.cmd == "verify":
        return 1 if verify(families=args.families) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
