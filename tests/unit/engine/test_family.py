"""The family pass's statistics equal the pairwise pipeline's on the same activations, streamed or stored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.correlation import CrossCorrelation, gaussian_unit_rows, haar_orthogonal
from engine.family import FamilyCorrelations, family_from_arrays
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
    """The reference rotated within each layer, in float32 (the family pass derives it and never rounds it)."""
    rotation = haar_orthogonal(LAYERS, D, torch.Generator().manual_seed(seed)).float()
    return torch.einsum("tld,lkd->tlk", torch.from_numpy(acts.astype(np.float32)), rotation).numpy()


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

    from_arrays = family_from_arrays(members, controls, keep, seed=5, chunk_positions=256)
    assert from_arrays.controls is not None
    for got, want in (
        (from_arrays.members, run.members),
        (from_arrays.controls, run.controls),
        (from_arrays.rotated, run.rotated),
    ):
        for g, w in zip(got.results, want.results, strict=True):
            np.testing.assert_allclose(g.max_corr.numpy(), w.max_corr.numpy(), atol=1e-6)


def test_the_rotated_copy_equals_correlating_rotated_activations() -> None:
    """U2's control by algebra on the first pair's sums, against a second product over rotated activations."""
    a, b = _family(3, 2)
    rotation = haar_orthogonal(LAYERS, D, torch.Generator().manual_seed(9))
    direct = CrossCorrelation(LAYERS * D, LAYERS, D)
    derived = CrossCorrelation(LAYERS * D, LAYERS, D)
    derived.track_gram_a(LAYERS)
    for lo, hi in [(0, 5), (5, 300), (300, 600)]:  # the first chunks move the shift: the Gram blocks follow it
        a32, b32 = torch.from_numpy(a[lo:hi].astype(np.float32)), torch.from_numpy(b[lo:hi].astype(np.float32))
        direct.update(
            torch.einsum("tld,lkd->tlk", a32, rotation.float()).reshape(hi - lo, -1), b32.reshape(hi - lo, -1)
        )
        derived.update(a32.reshape(hi - lo, -1), b32.reshape(hi - lo, -1))
    copy = derived.rotated_copy(rotation)
    np.testing.assert_allclose(copy.correlation().numpy(), direct.correlation().numpy(), atol=1e-5)
    gaussian = gaussian_unit_rows(LAYERS, D, torch.Generator().manual_seed(4))
    np.testing.assert_allclose(
        copy.baseline_max_correlation(gaussian).numpy(), direct.baseline_max_correlation(gaussian).numpy(), atol=1e-5
    )
    with pytest.raises(ValueError, match="takes no updates"):
        copy.update(torch.zeros(2, LAYERS * D), torch.zeros(2, LAYERS * D))


def test_a_rotated_copy_needs_the_gram_blocks_from_the_start() -> None:
    acc = CrossCorrelation(LAYERS * D, LAYERS, D)
    acc.update(torch.randn(10, LAYERS * D), torch.randn(10, LAYERS * D))
    with pytest.raises(ValueError, match="before the first update"):
        acc.track_gram_a(LAYERS)
    with pytest.raises(ValueError, match="needs track_gram_a"):
        acc.rotated_copy(haar_orthogonal(LAYERS, D, torch.Generator().manual_seed(0)))


def test_a_family_pass_needs_two_seeds_and_no_lone_control() -> None:
    with pytest.raises(ValueError, match=">= 2 seeds"):
        FamilyCorrelations([(LAYERS, D)], [], seed=0)
    with pytest.raises(ValueError, match="none or >= 2"):
        FamilyCorrelations([(LAYERS, D)] * 2, [(LAYERS, D)], seed=0)


def test_a_batch_with_the_wrong_number_of_models_is_refused() -> None:
    fam = FamilyCorrelations([(LAYERS, D)] * 2, [], seed=0)
    with pytest.raises(ValueError, match="expected 2 seeds and 0 controls"):
        fam.update([torch.zeros(3, LAYERS, D)])


def test_stored_activations_with_a_mask_of_the_wrong_length_are_refused() -> None:
    members = _family(0, 2)
    with pytest.raises(ValueError, match="keep has 10 entries"):
        family_from_arrays(members, [], np.ones(10, dtype=bool), seed=0)
