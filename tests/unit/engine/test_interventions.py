"""The tensor code behind E1/E2, A1-A3 and X1 against brute-force loops and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from engine import interventions as iv

torch.set_num_threads(1)
D, V = 16, 40


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", ["LN", "RMS"])
def test_norm_scale_is_the_norm_denominator(kind: str) -> None:
    x = torch.randn(7, D, generator=_gen(0), dtype=torch.float64) + 0.3
    scale = iv.norm_scale(x, kind, 1e-5)
    if kind == "LN":
        expected = torch.nn.functional.layer_norm(x, (D,), eps=1e-5)
        assert torch.allclose((x - x.mean(-1, keepdim=True)) / scale.unsqueeze(-1), expected)
    else:
        assert torch.allclose(scale, (x.pow(2).mean(-1) + 1e-5).sqrt())


def test_readout_metrics_match_brute_force() -> None:
    g = _gen(1)
    x, W_U, b_U = (
        torch.randn(9, D, generator=g, dtype=torch.float64),
        torch.randn(D, V, generator=g, dtype=torch.float64),
        torch.randn(V, generator=g, dtype=torch.float64),
    )
    targets = torch.randint(0, V, (9,), generator=g)
    out = iv.readout_metrics(x, W_U, b_U, targets, "LN", 1e-5, chunk=4)
    logits = torch.nn.functional.layer_norm(x, (D,), eps=1e-5) @ W_U + b_U
    p = torch.softmax(logits, -1).numpy()
    for i in range(9):
        assert out["entropy"][i].item() == pytest.approx(stats.entropy(p[i]), rel=1e-9)
        assert out["loss"][i].item() == pytest.approx(-math.log(p[i, targets[i]]), rel=1e-9)
        rank = int(np.sum(logits[i].numpy() > logits[i, targets[i]].item()))
        assert out["rr"][i].item() == pytest.approx(1 / (rank + 1))
    assert torch.allclose(iv.entropy(logits), out["entropy"])
    assert torch.allclose(iv.reciprocal_rank(logits, targets), out["rr"])
    assert torch.allclose(iv.token_loss(logits, targets), out["loss"])


@pytest.mark.parametrize("kind", ["LN", "RMS"])
def test_shifted_readout_equals_explicit_shifts(kind: str) -> None:
    g = _gen(2)
    x, w = torch.randn(11, D, generator=g, dtype=torch.float64), torch.randn(D, generator=g, dtype=torch.float64)
    W_U, b_U = torch.randn(D, V, generator=g, dtype=torch.float64), torch.randn(V, generator=g, dtype=torch.float64)
    targets = torch.randint(0, V, (11,), generator=g)
    shifts = torch.randn(3, 11, generator=g, dtype=torch.float64) * 2
    got = iv.shifted_readout_metrics(x, w, shifts, W_U, b_U, targets, kind, 1e-5, chunk=4, rank_rows=[0, 2])
    for row in range(3):
        ref = iv.readout_metrics(x + shifts[row].unsqueeze(1) * w, W_U, b_U, targets, kind, 1e-5)
        for name in ("scale", "entropy", "loss"):
            assert torch.allclose(got[name][row], ref[name], rtol=1e-9, atol=1e-9), name
        if row != 1:
            assert torch.allclose(got["rr"][row], ref["rr"])
    assert torch.isnan(got["rr"][1]).all()


def _w_u_with_weak_directions(kind: str, n_weak: int, weak: float, seed: int) -> torch.Tensor:
    """A W_U whose last n_weak singular directions (in the space the norm reads) have singular value `weak`."""
    g = _gen(seed)
    basis, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    if kind == "LN":  # an orthonormal basis whose first vector is the all-ones direction LN removes
        ones = torch.ones(D, 1, dtype=torch.float64) / math.sqrt(D)
        basis, _ = torch.linalg.qr(torch.cat([ones, torch.randn(D, D - 1, generator=g, dtype=torch.float64)], 1))
        basis = basis[:, 1:]
    k = basis.shape[1]
    right, _ = torch.linalg.qr(torch.randn(V, k, generator=g, dtype=torch.float64))
    sing = torch.linspace(5.0, 2.0, k, dtype=torch.float64)
    sing[-n_weak:] = weak
    return basis @ torch.diag(sing) @ right.T


@pytest.mark.parametrize("kind", ["LN", "RMS"])
@pytest.mark.parametrize("weak", [0.0, 1e-3])  # an exact null space, and the bottom singular subspace
def test_null_space_direction_raises_scale_and_entropy_and_keeps_the_top_token(kind: str, weak: float) -> None:
    """docs/catalogue.md §4.4: adding α·u, u in W_U's (near) null space, acts as a temperature."""
    W_U = _w_u_with_weak_directions(kind, 2, weak, seed=3)
    basis, sing = iv.bottom_singular_basis(W_U, 1 / D, kind)
    assert basis.shape[1] == 1
    assert sing[-1].item() == pytest.approx(weak, abs=1e-9)
    u = basis[:, 0]
    x = torch.randn(6, D, generator=_gen(4), dtype=torch.float64) * 3
    x = x - (x @ u).unsqueeze(1) * u  # no component along u: the norm grows monotonically with |α|
    targets = torch.zeros(6, dtype=torch.long)
    alphas = torch.linspace(0, 40, 9, dtype=torch.float64)
    shifts = alphas.unsqueeze(1).expand(9, 6)
    out = iv.shifted_readout_metrics(x, u, shifts, W_U, None, targets, kind, 1e-5)
    assert (out["scale"].diff(dim=0) > 0).all()
    assert (out["entropy"].diff(dim=0) > 0).all()
    top = [iv.readout_logits(x + a * u, W_U, None, kind, 1e-5).argmax(-1) for a in alphas]
    assert all(torch.equal(t, top[0]) for t in top)


def test_subspace_energy_of_null_and_random_vectors() -> None:
    W_U = _w_u_with_weak_directions("RMS", 3, 0.0, seed=5)
    basis, _ = iv.bottom_singular_basis(W_U, 3 / D, "RMS")
    null = basis @ torch.randn(3, 4, generator=_gen(6), dtype=torch.float64)
    assert torch.allclose(iv.subspace_energy_fraction(null.T, basis), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(basis.T @ basis, torch.eye(3, dtype=torch.float64))
    row = W_U[:, :1].T  # a column of W_U lies in its row space: no null-space energy
    assert iv.subspace_energy_fraction(row, basis).item() == pytest.approx(0.0, abs=1e-12)


def test_ln_basis_never_contains_the_ones_direction() -> None:
    W_U = torch.randn(D, V, generator=_gen(7), dtype=torch.float64)
    basis, sing = iv.bottom_singular_basis(W_U, 0.2, "LN")
    assert basis.shape == (D, math.ceil(0.2 * (D - 1)))
    assert torch.allclose(basis.sum(0), torch.zeros(basis.shape[1], dtype=torch.float64), atol=1e-9)
    assert len(sing) == D - 1


def test_ols_slope_matches_polyfit() -> None:
    x = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    y = np.random.default_rng(0).normal(size=(4, 5))
    expected = [np.polyfit(x, row, 1)[0] for row in y]
    assert np.allclose(iv.ols_slope(x, y), expected)
    assert math.isnan(float(iv.ols_slope(np.ones(5), y[0])))


def test_kv_head_index_matches_hf_repeat_kv() -> None:
    n_kv, rep, d_head = 3, 3, 4
    keys = torch.randn(n_kv, d_head, generator=_gen(8))
    expanded = keys[:, None, :].expand(n_kv, rep, d_head).reshape(n_kv * rep, d_head)  # transformers' repeat_kv
    assert torch.equal(keys[iv.kv_head_index(n_kv * rep, n_kv)], expanded)
    assert iv.kv_head_index(9, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert iv.kv_head_index(4, 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        iv.kv_head_index(9, 2)


@pytest.mark.parametrize("n_kv", [2, 4])
def test_bos_heuristic_equals_loop(n_kv: int) -> None:
    g = _gen(9)
    L, H, d_head, n = 3, 4, 5, 6
    W_Q = torch.randn(L, H, D, d_head, generator=g, dtype=torch.float64)
    k_bos = torch.randn(L, n_kv, d_head, generator=g, dtype=torch.float64)
    W_out = torch.randn(L, n, D, generator=g, dtype=torch.float64)
    got = iv.bos_heuristic(W_out, W_Q, k_bos)
    rep = H // n_kv
    for layer in range(L):
        for j in range(n):
            w = W_out[layer, j] / W_out[layer, j].norm()
            for a in range(L):
                for h in range(H):
                    value = got[layer, j, a, h].item()
                    if a <= layer:
                        assert math.isnan(value)
                    else:
                        expected = float(w @ W_Q[a, h] @ k_bos[a, h // rep]) / math.sqrt(d_head)
                        assert value == pytest.approx(expected, rel=1e-10)


def test_head_output_norms_with_grouped_values() -> None:
    g = _gen(10)
    v = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)  # [batch, pos, kv heads, d_head]
    W_O = torch.randn(9, 4, D, generator=g, dtype=torch.float64)
    got = iv.head_output_norms(v, W_O)
    for h in range(9):
        assert torch.allclose(got[..., h], (v[..., h // 3, :] @ W_O[h]).norm(dim=-1))


def test_pearson_and_quantile() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert iv.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert math.isnan(iv.pearson(np.ones(5), y[:5]))
    assert iv.upper_quantile(np.array([1.0, np.nan, 3.0]), 0.5) == 2.0


def test_antipodal_counts_match_brute_force() -> None:
    dirs = torch.randn(30, 3, generator=_gen(11), dtype=torch.float64)
    unit = dirs / dirs.norm(dim=1, keepdim=True)
    cos = (unit @ unit.T).numpy()
    groups = [torch.arange(0, 12), torch.arange(12, 30)]
    hits, total = iv.antipodal_counts(dirs, groups, -0.5)
    brute = [(i, j) for grp in groups for i in grp.tolist() for j in grp.tolist() if i < j]
    assert total == len(brute)
    assert hits == sum(cos[i, j] <= -0.5 for i, j in brute)
    frac = iv.all_pairs_antipodal_fraction(dirs, -0.5, chunk=7)
    assert frac == pytest.approx(np.mean([cos[i, j] <= -0.5 for i in range(30) for j in range(i + 1, 30)]))
