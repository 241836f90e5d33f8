"""The streaming family pass's statistics equal the stored-activation pipeline's on the same activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.correlation import haar_orthogonal
from engine.family import FamilyCorrelations
from engine.universality import cross_model_correlations

torch.set_num_threads(1)

LAYERS, D, POSITIONS = 2, 8, 600


def _family(seed: int, n: int) -> list[np.ndarray]:
    """Float16 activations [positions, layers, d] of n related 'seeds' (a shared signal plus noise)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(POSITIONS, LAYERS, D))
    return [
        np.maximum(shared + rng.normal(scale=1.0 + k, size=shared.shape), -0.2).astype(np.float16) for k in range(n)
    ]


def _rotated(acts: np.ndarray, seed: int) -> np.ndarray:
    rotation = haar_orthogonal(LAYERS, D, torch.Generator().manual_seed(seed)).float()
    return torch.einsum("tld,lkd->tlk", torch.from_numpy(acts.astype(np.float32)), rotation).numpy().astype(np.float16)


def test_a_streamed_family_equals_the_stored_pipeline_batch_by_batch() -> None:
    members, controls = _family(0, 3), _family(1, 2)
    keep = np.random.default_rng(2).random(POSITIONS) > 0.1
    stored = cross_model_correlations(members[0], members[1:], keep, torch.Generator().manual_seed(5))
    stored_controls = cross_model_correlations(controls[0], controls[1:], keep, torch.Generator().manual_seed(5))
    stored_rotated = cross_model_correlations(
        _rotated(members[0], 6), members[1:2], keep, torch.Generator().manual_seed(5), baselines=("gaussian",)
    )
    fam = FamilyCorrelations([(LAYERS, D)] * 3, [(LAYERS, D)] * 2, seed=5)
    for lo, hi in [(0, 7), (7, 250), (250, 600)]:  # uneven batches
        rows = keep[lo:hi]
        fam.update(
            [torch.from_numpy(m[lo:hi][rows]) for m in members], [torch.from_numpy(c[lo:hi][rows]) for c in controls]
        )
    run = fam.finish()
    assert run.controls is not None
    for got, want in ((run.members, stored), (run.controls, stored_controls), (run.rotated, stored_rotated)):
        assert got.n_tokens == want.n_tokens == int(keep.sum())
        for g, w in zip(got.results, want.results, strict=True):
            np.testing.assert_allclose(g.max_corr.numpy(), w.max_corr.numpy(), atol=1e-6)
            np.testing.assert_array_equal(g.argmax_layer.numpy(), w.argmax_layer.numpy())
        for kind in want.baselines:
            for g, w in zip(got.baselines[kind], want.baselines[kind], strict=True):
                np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-6)


def test_a_family_pass_needs_two_seeds_and_no_lone_control() -> None:
    with pytest.raises(ValueError, match=">= 2 seeds"):
        FamilyCorrelations([(LAYERS, D)], [], seed=0)
    with pytest.raises(ValueError, match="none or >= 2"):
        FamilyCorrelations([(LAYERS, D)] * 2, [(LAYERS, D)], seed=0)


def test_a_batch_with_the_wrong_number_of_models_is_refused() -> None:
    fam = FamilyCorrelations([(LAYERS, D)] * 2, [], seed=0)
    with pytest.raises(ValueError, match="expected 2 seeds and 0 controls"):
        fam.update([torch.zeros(3, LAYERS, D)])
