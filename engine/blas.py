"""Large matrix products on the CPU, through whichever BLAS library is fast on this CPU.

torch's CPU wheels do their matrix products in Intel MKL, which on other vendors' x86 CPUs takes a generic code
path. On the AMD EPYC machines this project runs on, a single-thread float32 product [3073 x 2048] x [2048 x 3073]
ran at 62-67 GFLOP/s through torch and 92-103 GFLOP/s through the OpenBLAS that scipy's wheels carry (it picks
its kernels from the CPU's features, whatever the vendor); float64 [3073 x 768] x [768 x 768] at 38 vs 47. On
Intel CPUs MKL is the fast one. So the engine's products that grow with the token count, the vocabulary or the
neuron count (the correlation sums, the within-layer Gram blocks, the rotation baselines, the vocabulary moments,
the readout logits) go through `addmm_` / `gram_lower_` / `mm` here, which use scipy's BLAS exactly when torch
would use MKL on a CPU that is not Intel's. Everything else (GPUs, other dtypes, torch builds without MKL, the
models' own forward passes) stays in torch.

OpenBLAS gets as many threads as torch has (`torch.get_num_threads()`: one per xdist worker, fixtures/plugin.py),
so the two libraries never oversubscribe the cores. The two libraries round differently in the last bits (as two
CPUs do); within one run every product of one kind takes the same route, so routes that must agree still agree.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

#: set by tests to force a route ("torch" or "openblas"); None decides by the CPU (`backend`)
FORCED: str | None = None


def cpu_vendor() -> str:
    """The CPU's vendor string from /proc/cpuinfo ("GenuineIntel", "AuthenticAMD", ...), or "" where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("vendor_id"):
            return line.partition(":")[2].strip()
    return ""


@functools.cache
def _auto_backend() -> str:
    if not torch.backends.mkl.is_available() or cpu_vendor() in ("GenuineIntel", ""):
        return "torch"
    try:
        import scipy
        from scipy.linalg import blas  # noqa: F401  (loads the library before threadpoolctl looks for it)
    except ImportError:
        return "torch"
    blas_name = str(scipy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}).get("name", ""))
    return "openblas" if "openblas" in blas_name.lower() else "torch"


def backend() -> str:
    """The route of large float32/float64 CPU products here: "openblas" (scipy's OpenBLAS) or "torch"."""
    return FORCED or _auto_backend()


@functools.cache
def _controller() -> Any:
    from scipy.linalg import blas  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def _threads() -> Iterator[None]:
    with _controller().limit(limits=torch.get_num_threads(), user_api="blas"):
        yield


def _routed(*tensors: Tensor, ndim: int = 2) -> bool:
    """Whether these operands go to OpenBLAS: CPU, one float dtype, no autograd, `ndim` dimensions, none empty."""
    dtypes = {t.dtype for t in tensors}
    return (
        backend() == "openblas"
        and len(dtypes) == 1
        and dtypes <= {torch.float32, torch.float64}
        and all(t.device.type == "cpu" and not t.requires_grad and t.ndim == ndim and t.numel() for t in tensors)
    )


def _fortran_operand(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(array, trans) such that op(array) == x.T and `array` is Fortran-ordered (no copy when x is contiguous)."""
    if x.flags.c_contiguous:
        return x.T, 0  # x.T of a C-ordered x is Fortran-ordered
    if x.flags.f_contiguous:
        return x, 1
    return np.ascontiguousarray(x).T, 0


def _gemm_into(out: np.ndarray, a: np.ndarray, b: np.ndarray, beta: float = 1.0) -> None:
    """In place: `out` = a @ b + beta * `out`, for a C-ordered `out` (BLAS sees its Fortran-ordered out.T)."""
    from scipy.linalg.blas import dgemm, sgemm

    gemm = dgemm if out.dtype == np.float64 else sgemm

    first, trans_a = _fortran_operand(b)
    second, trans_b = _fortran_operand(a)
    result = gemm(1.0, first, second, beta=beta, c=out.T, trans_a=trans_a, trans_b=trans_b, overwrite_c=1)
    if not np.shares_memory(result, out):  # f2py copied `c`: cannot happen for a C-ordered out, but never lose sums
        out[...] = result.T


def addmm_(out: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """In place: `out` += a @ b (2-D); a non-contiguous `out` stays with torch."""
    if not _routed(out, a, b) or not out.is_contiguous():
        return out.addmm_(a, b)
    with _threads():
        _gemm_into(out.numpy(), a.numpy(), b.numpy())
    return out


def gram_lower_(out: Tensor, x: Tensor) -> bool:
    """In place: add x[i]^T x[i] to `out`[i] for every i (3-D `x`: [i, t, d]); True if only lower triangles changed.

    OpenBLAS's symmetric rank-k update (half a general product's work) writes nothing above the diagonal; torch's
    batched product writes everything. After a True, readers must symmetrise from the lower triangle
    (`symmetrise_lower_`).
    """
    if not _routed(out, x, ndim=3) or not out.is_contiguous():
        out.baddbmm_(x.transpose(1, 2), x)
        return False
    from scipy.linalg.blas import dsyrk, ssyrk

    syrk = dsyrk if out.dtype == torch.float64 else ssyrk

    out_np, x_np = out.numpy(), x.numpy()
    with _threads():
        for i in range(out_np.shape[0]):
            xi = np.ascontiguousarray(x_np[i])  # [t, d]; BLAS sees xi.T, Fortran-ordered
            # out[i].T is Fortran-ordered; BLAS's upper triangle of it is out[i]'s lower triangle
            result = syrk(1.0, xi.T, beta=1.0, c=out_np[i].T, trans=0, lower=0, overwrite_c=1)
            if not np.shares_memory(result, out_np):
                out_np[i] = result.T
    return True


def symmetrise_lower_(m: Tensor) -> Tensor:
    """In place: make each matrix of `m` ([i, d, d]) the symmetric one its lower triangle defines.

    One matrix at a time, so the temporaries are [d, d], not the size of `m`.
    """
    for block in m:
        block.copy_(torch.tril(block) + torch.tril(block, -1).T)
    return m


def mm(a: Tensor, b: Tensor) -> Tensor:
    """The product a @ b (2-D): a new tensor from OpenBLAS when routed, else torch's own product."""
    if not _routed(a, b):
        return a @ b
    out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype)
    with _threads():
        _gemm_into(out.numpy(), a.numpy(), b.numpy(), beta=0.0)
    return out
