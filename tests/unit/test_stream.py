"""The streaming family pass: lockstep batches, the keep mask, the hooks' values, and the GPU benchmark's smoke form."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch

from fixtures.stream import family_pass, plain_post_runner

torch.set_num_threads(1)


def _models(n: int):  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(GPT2LMHeadModel(GPT2Config(n_positions=16, n_embd=16, n_layer=2, n_head=2, vocab_size=50)).eval())
    return out


def _post_by_hand(model, tokens: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """[b*ctx, layers, d_mlp] inputs of each block's c_proj, collected without the suite's code."""
    got: list[torch.Tensor] = []
    handles = [
        b.mlp.c_proj.register_forward_pre_hook(lambda _m, args: got.append(args[0])) for b in model.transformer.h
    ]
    with torch.no_grad():
        model.transformer(input_ids=tokens)
    for h in handles:
        h.remove()
    return torch.stack(got, dim=2).reshape(-1, len(got), got[0].shape[-1])


def test_every_model_sees_the_same_batches_and_only_kept_positions_are_handed_on() -> None:
    models = _models(3)
    tokens = torch.randint(0, 50, (5, 16), generator=torch.Generator().manual_seed(0))
    keep = np.random.default_rng(0).random((5, 16)) > 0.3
    seen: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []
    with ExitStack() as stack:
        runners = [stack.enter_context(plain_post_runner(m, "gpt2", 2, torch.float32)) for m in models]
        total = family_pass(
            runners[:2], runners[2:], tokens, keep, lambda m, c: seen.append((m, c)), batch_size=2, device="cpu"
        )
    assert total == int(keep.sum())
    assert len(seen) == 3  # ceil(5 / 2) batches
    for k, model in enumerate(models):
        streamed = torch.cat([(m + c)[k] for m, c in seen])
        expected = _post_by_hand(model, tokens)[torch.from_numpy(keep.reshape(-1))]
        torch.testing.assert_close(streamed, expected)


def test_the_gpu_benchmark_runs_on_cpu_in_its_quick_form() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import benchmark_gpu

    res = benchmark_gpu.run("cpu", quick=True, batches=2)
    assert res["precision"] == "float32"
    assert res["positions_per_s"] > 0
    assert res["projected_paper_u1_s"] > benchmark_gpu.PAPER_TOKENS / res["positions_per_s"]
    assert "projected paper U1" in benchmark_gpu.table(res)


def test_nan_activations_stop_the_pass_with_the_models_name() -> None:
    import pytest

    from fixtures.activations import ActivationError

    def fine(batch: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*batch.shape, 1, 2)

    def broken(batch: torch.Tensor) -> torch.Tensor:
        return torch.full((*batch.shape, 1, 2), float("nan"))

    tokens = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ActivationError, match="seed-b produced NaN/inf MLP activations in contexts 0-1"):
        family_pass(
            [fine, broken], [], tokens, None, lambda m, c: None, batch_size=2, device="cpu", names=["a", "seed-b"]
        )


def test_models_that_tokenise_differently_have_no_common_sample() -> None:
    import pytest

    from fixtures.workbench import TokenisationMismatch, require_same_tokens

    same = np.zeros((2, 4), dtype=np.int64)
    require_same_tokens(["a", "b"], [same, same.copy()])
    with pytest.raises(TokenisationMismatch, match=r"^b tokenises the text differently from a$"):
        require_same_tokens(["a", "b"], [same, same + 1])
