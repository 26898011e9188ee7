"""Empirical spectral densities: the eigenvalues of ``X = W^T W``.

The default forms the Gram matrix in float64 and calls a symmetric eigensolver.  For an
``N x M`` matrix with ``N >= M`` that costs ``2 N M^2`` flops for the product plus
``O(M^3)`` for the eigenvalues, several times cheaper than the singular value
decomposition of ``W`` itself.  Float32 weights are exactly representable in float64, so
the product is accumulated in float64 with no loss.  On the CPU, NumPy (OpenBLAS) is used;
PyTorch serves ``device="cuda"``.

Threads (``benchmarks/bench_esd_backends.py``, two AMD EPYC cores): OpenBLAS's threaded
LAPACK routines synchronize their threads thousands of times per call, so when other
processes hold the cores (the usual state of this project's shared machines) every
synchronization waits for a time slice: ``eigvalsh`` of a 4096 x 4096 Gram matrix took 18 to
70 s with two threads and 7.6 to 8.8 s with one, the Gram products of mobilenet_v2's
matrices 0.54 s and 0.05 s.  On idle cores two threads are faster for the largest matrices
only (4096 x 4096 ``eigvalsh``: 4.0 to 5.5 s vs 8.8 s; nine 512 x 512: 0.12 s vs 0.13 s).
So every eigensolver, and every product but one, runs with one BLAS thread, the matrices of
a batch shared among :data:`N_WORKERS` Python threads (NumPy releases the GIL in BLAS and
LAPACK calls).  The exception is the product of a lone matrix of at least
:data:`THREADED_GEMM_FLOPS` (25088 x 4096: 5.8 s with two threads, 11 s with one), which
keeps OpenBLAS's threads: a large product synchronizes rarely, and its result does not
depend on the thread count.  Threaded and single-threaded eigensolvers round differently
(~1e-14 relative), so the eigenvalues no longer depend on the number of cores; against
the earlier threaded version, alpha moved by at most 5e-14 (relative) on torchvision
models, with the same xmin chosen.  The one-thread limit uses ``threadpoolctl`` when
installed (process-wide while an ESD is computed) and is skipped otherwise.  PyTorch's MKL
was not faster for the products (25088 x 4096: 23 s vs 5.8 s, 4096 x 4096: 1.7 s vs 2.1 s
with two threads; nine 512 x 512: 0.043 s vs 0.031 s), so the claim that NumPy's OpenBLAS is
about twice as fast holds only for some shapes; its eigensolvers, sometimes faster, were not
adopted because they round differently from NumPy's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Literal

import numpy as np
import torch

#: Largest float64 working set (bytes) converted at once when a batch is large.
_CHUNK_BYTES = 1 << 30

#: Python threads sharing the matrices of a batch (usable CPUs).
N_WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

#: A single matrix's Gram product of at least this many flops (``2 N M^2``) uses BLAS threads.
THREADED_GEMM_FLOPS = 1e11


def esd(
    weights: np.ndarray | torch.Tensor,
    *,
    method: Literal["gram", "svd"] = "gram",
    device: str = "cpu",
) -> np.ndarray:
    """Eigenvalues of ``W^T W`` for one matrix or a batch of equal-shape matrices.

    Parameters
    ----------
    weights : array or tensor of shape ``(N, M)`` or ``(k, N, M)``
        The matrices; each is transposed if needed so that ``N >= M``.
    method : {"gram", "svd"}
        ``"gram"``: float64 Gram matrix and symmetric eigensolver (fast);
        ``"svd"``: squared singular values of ``W`` in float64 (slower reference).
    device : str
        ``"cpu"`` (NumPy / OpenBLAS) or a PyTorch device such as ``"cuda"``.

    Returns
    -------
    ndarray
        Ascending eigenvalues, shape ``(M,)`` or ``(k, M)``, float64, clipped at 0
        (rounding can leave tiny negative values).
    """
    if method not in ("gram", "svd"):
        raise ValueError(f"method must be 'gram' or 'svd', not {method!r}")
    single = weights.ndim == 2
    if weights.ndim not in (2, 3):
        raise ValueError(f"esd expects a matrix or a batch of matrices, got shape {tuple(weights.shape)}")
    batch = weights[None] if single else weights
    if batch.shape[1] < batch.shape[2]:
        batch = batch.transpose(1, 2) if isinstance(batch, torch.Tensor) else batch.transpose(0, 2, 1)
    if device == "cpu":
        evals = _esd_numpy(batch, method)
    else:
        evals = _esd_torch(batch, method, device)
    np.maximum(evals, 0.0, out=evals)
    return evals[0] if single else evals


def _esd_numpy(batch: np.ndarray | torch.Tensor, method: str) -> np.ndarray:
    if isinstance(batch, torch.Tensor):
        batch = batch.detach().cpu().numpy()
    k, n, m = batch.shape
    out = np.empty((k, m))
    step = max(1, _CHUNK_BYTES // (8 * n * m))
    for start in range(0, k, step):
        chunk = batch[start : start + step]
        if method == "svd":
            _map_single_threaded(_svd_evals, chunk, out[start : start + step])
        elif chunk.shape[0] < N_WORKERS and 2.0 * n * m * m >= THREADED_GEMM_FLOPS:
            # Too few matrices to share among workers, and a product big enough for BLAS
            # threads to pay: a threaded product, then single-threaded eigenvalues.
            chunk = np.asarray(chunk, dtype=np.float64)
            gram = np.matmul(chunk.transpose(0, 2, 1), chunk)
            _map_single_threaded(np.linalg.eigvalsh, gram, out[start : start + step])
        else:
            _map_single_threaded(_gram_evals, chunk, out[start : start + step])
    return out


def _gram_evals(stack: np.ndarray) -> np.ndarray:
    stack = np.asarray(stack, dtype=np.float64)
    return np.linalg.eigvalsh(np.matmul(stack.transpose(0, 2, 1), stack))


def _svd_evals(stack: np.ndarray) -> np.ndarray:
    return np.linalg.svd(np.asarray(stack, dtype=np.float64), compute_uv=False)[:, ::-1] ** 2


def _map_single_threaded(fn: Callable[[np.ndarray], np.ndarray], stack: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = fn(stack)``, one BLAS thread per call, the stack split among workers."""
    n_parts = min(N_WORKERS, stack.shape[0])
    bounds = np.linspace(0, stack.shape[0], n_parts + 1).astype(int)

    def work(lo: int, hi: int) -> None:
        out[lo:hi] = fn(stack[lo:hi])

    with _single_blas_thread():
        if n_parts == 1:
            work(0, stack.shape[0])
            return
        with ThreadPoolExecutor(n_parts, thread_name_prefix="htsr-esd") as pool:
            for future in [pool.submit(work, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]:
                future.result()


_lock = threading.Lock()
_blas_limit: dict = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def _single_blas_thread():
    """Limit BLAS/LAPACK libraries to one thread while any caller is inside (re-entrant,
    thread-safe: the first caller sets the limit, the last restores it).  A no-op without
    ``threadpoolctl``."""
    controller = _controller()
    if controller is None:
        yield
        return
    with _lock:
        if _blas_limit["depth"] == 0:
            _blas_limit["limiter"] = controller.limit(limits=1, user_api="blas")
        _blas_limit["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _blas_limit["depth"] -= 1
            if _blas_limit["depth"] == 0:
                _blas_limit["limiter"].restore_original_limits()
                _blas_limit["limiter"] = None


@functools.cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        return None
    return ThreadpoolController()


def _esd_torch(batch: np.ndarray | torch.Tensor, method: str, device: str) -> np.ndarray:
    w = torch.as_tensor(batch).to(device=device, dtype=torch.float64)
    with torch.no_grad():
        if method == "gram":
            evals = torch.linalg.eigvalsh(w.transpose(1, 2) @ w)
        else:
            evals = torch.linalg.svdvals(w).flip(-1) ** 2
    return evals.cpu().numpy()
