"""Empirical spectral densities: the eigenvalues of ``X = W^T W``.

The default forms the Gram matrix in float64 and calls a symmetric eigensolver.  For an
``N x M`` matrix with ``N >= M`` that costs ``2 N M^2`` flops for the product plus
``O(M^3)`` for the eigenvalues, several times cheaper than the singular value
decomposition of ``W`` itself.  Float32 weights are exactly representable in float64, so
the product is accumulated in float64 with no loss.  On the CPU, NumPy's OpenBLAS is used:
it measured about twice as fast as PyTorch's MKL for float64 products on the AMD cores of
this project's machines (``benchmarks/bench_esd_backends.py``); PyTorch serves ``device="cuda"``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

#: Largest float64 working set (bytes) converted at once when a batch is large.
_CHUNK_BYTES = 1 << 30


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
        chunk = np.asarray(batch[start : start + step], dtype=np.float64)
        if method == "gram":
            gram = np.matmul(chunk.transpose(0, 2, 1), chunk)
            out[start : start + step] = np.linalg.eigvalsh(gram)
        else:
            out[start : start + step] = np.linalg.svd(chunk, compute_uv=False)[:, ::-1] ** 2
    return out


def _esd_torch(batch: np.ndarray | torch.Tensor, method: str, device: str) -> np.ndarray:
    w = torch.as_tensor(batch).to(device=device, dtype=torch.float64)
    with torch.no_grad():
        if method == "gram":
            evals = torch.linalg.eigvalsh(w.transpose(1, 2) @ w)
        else:
            evals = torch.linalg.svdvals(w).flip(-1) ** 2
    return evals.cpu().numpy()
