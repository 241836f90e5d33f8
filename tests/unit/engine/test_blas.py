"""engine.blas: the OpenBLAS route gives torch's products, in place, whatever the operands' memory layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from engine import blas
from engine.correlation import CrossCorrelation


@pytest.fixture(params=["torch", "openblas"])
def route(request: pytest.FixtureRequest) -> Iterator[str]:
    before = blas.FORCED
    blas.FORCED = request.param
    yield request.param
    blas.FORCED = before


def _layouts(rows: int, cols: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, cols, generator=g)
    wide = torch.randn(rows, cols + 7, generator=g)
    return [x, x.T.contiguous().T, wide[:, 3 : 3 + cols]]  # C-ordered, Fortran-ordered, neither


def test_addmm_accumulates_in_place_for_every_operand_layout(route: str) -> None:
    for a in _layouts(40, 30, 0):
        for b in _layouts(30, 20, 1):
            out = torch.randn(40, 20)
            expected = out + a.double().matmul(b.double()).float()
            storage = out.data_ptr()
            assert blas.addmm_(out, a, b) is out
            assert out.data_ptr() == storage
            torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mm_matches_torch(route: str, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(50, 24, generator=g, dtype=dtype), torch.randn(33, 24, generator=g, dtype=dtype).T
    product = blas.mm(a, b)
    assert product.dtype == dtype
    torch.testing.assert_close(product, a @ b, rtol=1e-5, atol=1e-5)


def test_gram_blocks_accumulate_on_the_lower_triangle_of_strided_layers(route: str) -> None:
    g = torch.Generator().manual_seed(4)
    chunk = torch.randn(64, 3 * 16 + 1, generator=g)  # a chunk buffer with its ones column
    layers = chunk[:, :48].unflatten(1, (3, 16)).transpose(0, 1)  # [layers, tokens, d]: a strided view
    out = torch.zeros(3, 16, 16)
    lower_only = [blas.gram_lower_(out, layers) for _ in range(2)]
    assert lower_only == [route == "openblas"] * 2
    if route == "openblas":
        assert not out.triu(1).any()  # nothing written above the diagonal
    expected = 2 * layers.transpose(1, 2) @ layers
    torch.testing.assert_close(blas.symmetrise_lower_(out), expected, rtol=1e-5, atol=1e-4)


def test_empty_and_batched_operands_stay_with_torch(route: str) -> None:
    assert blas.mm(torch.ones(0, 3), torch.ones(3, 4)).shape == (0, 4)
    batched = torch.randn(2, 5, 3)
    torch.testing.assert_close(blas.mm(batched, torch.eye(3)), batched)


def test_other_dtypes_stay_with_torch() -> None:
    before = blas.FORCED
    blas.FORCED = "openblas"
    try:
        a = torch.randn(8, 5, dtype=torch.float16)
        assert blas.mm(a, a.T).dtype == torch.float16
        assert not blas._routed(a)
        assert not blas._routed(torch.randn(3, 3), torch.randn(3, 3, dtype=torch.float64))
        assert not blas._routed(torch.randn(3, 3, requires_grad=True))
    finally:
        blas.FORCED = before


def test_both_routes_give_the_same_correlations() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(3000, 24, generator=g), torch.randn(3000, 2, 12, generator=g)
    b = (b + 0.3 * a[:, :12].unsqueeze(1)).reshape(3000, 24)
    results = []
    before = blas.FORCED
    try:
        for name in ("torch", "openblas"):
            blas.FORCED = name
            cc = CrossCorrelation(24, 2, 12)
            cc.track_gram_a(2)
            for start in range(0, 3000, 700):
                cc.update(a[start : start + 700], b[start : start + 700])
            results.append(cc.correlation())
    finally:
        blas.FORCED = before
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-6)
