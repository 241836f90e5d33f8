from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import correlation
from engine.correlation import CrossCorrelation, gaussian_unit_rows, haar_orthogonal

torch.set_num_threads(1)


def _data(seed: int, tokens: int = 400, layers_a: int = 2, layers_b: int = 3, d: int = 6):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(tokens, layers_a * d, generator=g, dtype=torch.float64)
    b = torch.randn(tokens, layers_b * d, generator=g, dtype=torch.float64)
    b[:, : layers_a * d] += 0.8 * a  # some real correlation
    a = torch.nn.functional.gelu(a + 0.3)  # post-GELU-like, non-centred
    b = 2.0 * b + 3.0
    return a, b, layers_b, d


def _accumulate(a: torch.Tensor, b: torch.Tensor, layers_b: int, d: int, bounds: list[int]) -> CrossCorrelation:
    cc = CrossCorrelation(a.shape[1], layers_b, d)
    edges = [0, *sorted(set(bounds)), a.shape[0]]
    for lo, hi in itertools.pairwise(edges):
        cc.update(a[lo:hi], b[lo:hi])
    return cc


def _corrcoef(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.corrcoef(a.T, b.T)[: a.shape[1], a.shape[1] :]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), bounds=st.lists(st.integers(1, 399), max_size=6))
def test_chunked_update_equals_one_shot(seed: int, bounds: list[int]) -> None:
    a, b, layers_b, d = _data(seed)
    chunked = _accumulate(a, b, layers_b, d, bounds)
    whole = _accumulate(a, b, layers_b, d, [])
    torch.testing.assert_close(chunked.correlation(), whole.correlation(), atol=2e-6, rtol=0)
    rot = gaussian_unit_rows(layers_b, d, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(
        chunked.baseline_max_correlation(rot), whole.baseline_max_correlation(rot), atol=2e-6, rtol=0
    )


def test_correlation_equals_numpy_corrcoef() -> None:
    a, b, layers_b, d = _data(1, tokens=3000)
    cc = _accumulate(a, b, layers_b, d, [700, 1500])
    np.testing.assert_allclose(cc.correlation().numpy(), _corrcoef(a.numpy(), b.numpy()), atol=2e-6)


def test_float16_input_matches_float32_input() -> None:
    a, b, layers_b, d = _data(2)
    a16, b16 = a.half(), b.half()
    from_half = _accumulate(a16, b16, layers_b, d, [100])
    from_float = _accumulate(a16.float(), b16.float(), layers_b, d, [100])
    torch.testing.assert_close(from_half.correlation(), from_float.correlation(), atol=1e-6, rtol=0)


def test_updates_beyond_the_float32_flush_window_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(correlation, "FLUSH_TOKENS", 64)
    a, b, layers_b, d = _data(3, tokens=1000)
    cc = _accumulate(a, b, layers_b, d, [10, 200, 230])  # includes a chunk larger than the window
    np.testing.assert_allclose(cc.correlation().numpy(), _corrcoef(a.numpy(), b.numpy()), atol=2e-6)
    assert cc.n == 1000


def test_permuting_b_neurons_permutes_argmax_and_keeps_max() -> None:
    a, b, layers_b, d = _data(4)
    perm = torch.randperm(b.shape[1], generator=torch.Generator().manual_seed(0))
    plain = _accumulate(a, b, layers_b, d, []).max_correlation()
    permuted = _accumulate(a, b[:, perm], layers_b, d, []).max_correlation()
    # float32 GEMM blocking depends on column order, so equal up to a few float32 ulps, not bit for bit
    torch.testing.assert_close(plain.max_corr, permuted.max_corr, atol=1e-6, rtol=0)
    flat_plain = plain.argmax_layer * d + plain.argmax_neuron
    flat_permuted = permuted.argmax_layer * d + permuted.argmax_neuron
    assert torch.equal(perm[flat_permuted], flat_plain)


def test_model_against_permuted_copy_of_itself_has_max_corr_one() -> None:
    a, _, _, d = _data(5)
    layers = a.shape[1] // d
    perm = torch.randperm(a.shape[1], generator=torch.Generator().manual_seed(1))
    result = _accumulate(a, a[:, perm], layers, d, [123]).max_correlation()
    torch.testing.assert_close(result.max_corr, torch.ones_like(result.max_corr), atol=1e-6, rtol=0)
    inverse = torch.argsort(perm)
    assert torch.equal(result.argmax_layer * d + result.argmax_neuron, inverse)


def test_dead_neurons_get_zero_correlation() -> None:
    a, b, layers_b, d = _data(6)
    a[:, 0] = 0.7
    b[:, 2] = -1.25
    corr = _accumulate(a, b, layers_b, d, [50]).correlation()
    assert torch.all(corr[0] == 0)
    assert torch.all(corr[:, 2] == 0)


def test_mismatched_token_counts_raise() -> None:
    cc = CrossCorrelation(4, 2, 2)
    with pytest.raises(ValueError, match="token counts differ"):
        cc.update(torch.zeros(5, 4), torch.zeros(6, 4))


def test_gaussian_rotation_rows_have_unit_norm() -> None:
    r = gaussian_unit_rows(3, 16, torch.Generator().manual_seed(0))
    assert r.shape == (3, 16, 16)
    torch.testing.assert_close(r.norm(dim=2), torch.ones(3, 16, dtype=torch.float64))
    assert not torch.allclose(r @ r.transpose(1, 2), torch.eye(16, dtype=torch.float64).expand(3, 16, 16))


def test_haar_rotations_are_orthogonal_with_det_plus_minus_one() -> None:
    q = haar_orthogonal(4, 12, torch.Generator().manual_seed(0))
    eye = torch.eye(12, dtype=torch.float64).expand(4, 12, 12)
    torch.testing.assert_close(q @ q.transpose(1, 2), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(q).abs(), torch.ones(4, dtype=torch.float64), atol=1e-12, rtol=0)


def test_rotation_generators_are_reproducible_from_the_seed() -> None:
    for draw in (gaussian_unit_rows, haar_orthogonal):
        first = draw(2, 5, torch.Generator().manual_seed(7))
        second = draw(2, 5, torch.Generator().manual_seed(7))
        assert torch.equal(first, second)


@pytest.mark.parametrize("draw", [gaussian_unit_rows, haar_orthogonal])
def test_covariance_algebra_baseline_equals_rotating_activations_explicitly(draw) -> None:
    a, b, layers_b, d = _data(7, tokens=2000)
    rot = draw(layers_b, d, torch.Generator().manual_seed(3))
    cc = _accumulate(a, b, layers_b, d, [999])
    rotated = torch.cat([b[:, k * d : (k + 1) * d] @ rot[k].T for k in range(layers_b)], dim=1)
    expected = _corrcoef(a.numpy(), rotated.numpy()).max(axis=1)
    np.testing.assert_allclose(cc.baseline_max_correlation(rot).numpy(), expected, atol=2e-6)


def test_a_reduced_precision_is_refused_off_cuda_with_the_fix_named() -> None:
    with pytest.raises(ValueError, match=r"needs a CUDA device.*use 'float32'"):
        CrossCorrelation(4, 2, 2, device="cpu", precision="bfloat16")
    with pytest.raises(ValueError, match="precision must be one of"):
        CrossCorrelation(4, 2, 2, precision="float8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="tf32/bfloat16 GEMMs run on CUDA only (device check)")
@pytest.mark.parametrize(("precision", "tolerance"), [("float32", 1e-5), ("tf32", 2e-3), ("bfloat16", 1e-2)])
def test_every_precision_stays_close_to_float64_and_within_one_on_cuda(precision: str, tolerance: float) -> None:
    a, b, layers_b, d = _data(3, tokens=20_000, layers_a=2, layers_b=3, d=64)
    exact = _corrcoef(a.numpy(), b.numpy()).max(1)
    cc = CrossCorrelation(a.shape[1], layers_b, d, device="cuda", precision=precision)
    for lo in range(0, a.shape[0], 4096):
        cc.update(a[lo : lo + 4096].float(), b[lo : lo + 4096].float())
    got = cc.max_correlation().max_corr.cpu().numpy()
    assert np.abs(got - exact).max() < tolerance
    assert (np.abs(cc.correlation().cpu().numpy()) <= 1.0).all()
