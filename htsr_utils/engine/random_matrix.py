"""Random-matrix references for an ESD: the Marchenko-Pastur law and entry permutation.

An ``N x M`` matrix (``N >= M``) with i.i.d. entries of variance ``v`` has, for large sizes, the
eigenvalues of ``W^T W`` spread by the Marchenko-Pastur density between
``v (sqrt N - sqrt M)^2`` and the edge ``v (sqrt N + sqrt M)^2``.  Permuting the entries of a
trained matrix keeps their distribution and removes the correlations between them: for entries
with a finite fourth moment its ESD then follows that law.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported by the function that permutes a tensor
    import torch

__all__ = ["marchenko_pastur_pdf", "mp_edge", "permute_entries"]


def marchenko_pastur_pdf(x: np.ndarray, q: float, sigma2: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of ``W^T W``.

    Parameters
    ----------
    x : array_like
        Where to evaluate the density.
    q : float
        ``M / N`` in ``(0, 1]`` for an ``N x M`` matrix.
    sigma2 : float, default 1.0
        ``N`` times the entry variance (the scale of the bulk).

    Returns
    -------
    ndarray
        ``p(λ) = sqrt((λ+ - λ)(λ - λ-)) / (2 π σ² q λ)`` on ``[λ-, λ+]``,
        ``λ± = σ² (1 ± sqrt(q))²``, zero elsewhere.

    Raises
    ------
    ValueError
        If ``q`` is not in ``(0, 1]``.
    """
    if not 0 < q <= 1:
        raise ValueError(f"q = M / N must be in (0, 1], got {q}")
    x = np.asarray(x, dtype=float)
    lo, hi = sigma2 * (1 - np.sqrt(q)) ** 2, sigma2 * (1 + np.sqrt(q)) ** 2
    inside = (x > lo) & (x < hi)
    out = np.zeros_like(x)
    xi = x[inside]
    out[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * np.pi * sigma2 * q * xi)
    return out


def mp_edge(rows: int, cols: int, entry_variance: float) -> float:
    """Upper Marchenko-Pastur edge of ``W^T W``: ``entry_variance (sqrt rows + sqrt cols)^2``.

    Parameters
    ----------
    rows, cols : int
        Shape of ``W`` (either order).
    entry_variance : float
        Variance of the entries of ``W``.

    Returns
    -------
    float
    """
    return float(entry_variance * (np.sqrt(rows) + np.sqrt(cols)) ** 2)


def permute_entries(tensor: torch.Tensor, seed: int) -> torch.Tensor:
    """Randomly permute all entries of ``tensor``, keeping its shape and multiset of values.

    Destroys the correlations between entries (the heavy-tailed structure of a trained
    weight matrix) while keeping its element-wise distribution.

    Parameters
    ----------
    tensor : torch.Tensor
        Any tensor, e.g. a weight matrix.
    seed : int
        Seed of the permutation.

    Returns
    -------
    torch.Tensor
        A new tensor of the same shape, dtype and device.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    flat = tensor.detach().reshape(-1)
    perm = torch.randperm(flat.numel(), generator=generator).to(flat.device)
    return flat[perm].reshape(tensor.shape).clone()
