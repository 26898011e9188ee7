"""The Hill estimator of an ESD tail, as today's HT-SR training and pruning codes define it.

TempBalance (Zhou et al., NeurIPS 2023; github.com/YefanZhou/TempBalance, ``tempbalance.py``,
``Tempbalance.net_esd_estimator`` with ``pl_fitting="median"``), AlphaPruning (Lu et al.,
NeurIPS 2024; github.com/haiquanlu/AlphaPruning, ``lib/esd_utils.py``, ``net_esd_estimator``
with ``fix_fingers="xmin_mid"``) and FARMS (Hu et al., ICML 2025;
github.com/HUST-AI-HYZ/FARMS, ``analysis_esd``) compute the layer exponent they call
``PL_Alpha_Hill`` from the eigenvalues ``lambda = sigma**2`` of ``W`` (no ``1 / N``), sorted
ascending, ``n`` of them (no zero filter by default: ``filter_zeros=False``):

- the lower end of the tail is the eigenvalue at (0-based) position ``i = int(n / xmin_pos)``,
  ``xmin_pos = 2`` by default (the median);
- the tail holds the ``k = n - i`` eigenvalues from that position on, ``xmin`` included;
- ``alpha = 1 + k / (sum_{j >= i} ln lambda_j - k ln lambda_i)``.

This is the maximum-likelihood exponent of a continuous power-law *density*
``p(lambda) ~ lambda**-alpha`` above ``xmin`` (the Hill statistic of the survival exponent,
plus one), the same quantity as the ``alpha`` column of the CSN fit; it differs from the
CSN fit only by the choice of ``xmin`` (a fixed quantile instead of the KS-optimal value).
Their ``D`` (KS distance of that fit) is ``max_j |1 - (lambda_j / xmin)**(1 - alpha) - j / k|``
over the tail, ``j = 0 .. k-1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Position rule of the codes above: ``xmin`` at index ``int(n / XMIN_POS)`` (the median).
XMIN_POS = 2


@dataclass(frozen=True)
class HillFit:
    """Result of :func:`hill_alpha`.

    Attributes
    ----------
    alpha : float
        Density exponent ``1 + k / sum ln(lambda / xmin)`` over the tail.
    k : int
        Eigenvalues in the tail (``xmin`` included).
    xmin : float
        Lower end of the tail (the ``(n - k)``-th smallest eigenvalue, 0-based).
    D : float
        Kolmogorov-Smirnov distance of the fit, as the codes above compute it.
    """

    alpha: float
    k: int
    xmin: float
    D: float


def hill_alpha(eigenvalues: np.ndarray, k: int | None = None, *,
               xmin_pos: float = XMIN_POS) -> HillFit:
    """Hill estimate of the power-law density exponent of the upper tail of an ESD.

    Parameters
    ----------
    eigenvalues : array_like
        The ESD (any order; every value is used, zeros included, as in the codes above).
    k : int, optional
        Tail size.  Default: ``n - int(n / xmin_pos)``.
    xmin_pos : float
        Used when ``k`` is None: ``xmin`` is at position ``int(n / xmin_pos)``.

    Returns
    -------
    HillFit

    Raises
    ------
    ValueError
        If there are fewer than 2 eigenvalues, any is NaN/Inf or negative, ``k`` is not in
        ``2 .. n``, ``xmin_pos < 1``, or ``xmin`` is 0 (more of the ESD is zero than the
        tail leaves out).  A tail whose values all equal ``xmin`` gives ``alpha = NaN``.
    """
    evals = _sorted_eigenvalues(eigenvalues)
    n = evals.size
    if k is None:
        if not xmin_pos >= 1:
            raise ValueError(f"hill_alpha: xmin_pos must be >= 1, got {xmin_pos}")
        k = n - int(n / xmin_pos)
    k = int(k)
    if not 2 <= k <= n:
        raise ValueError(f"hill_alpha: tail size k must be in 2..{n} (n = {n} eigenvalues), got {k}")
    tail = evals[n - k:]
    xmin = float(tail[0])
    if xmin <= 0:
        raise ValueError(f"hill_alpha: xmin (eigenvalue {n - k} of {n}) is {xmin}; "
                         "the tail must be positive")
    excess = float(np.sum(np.log(tail)) - k * np.log(xmin))
    alpha = 1.0 + k / excess if excess > 0 else np.nan  # NaN: every tail value equals xmin
    seq = np.arange(k) / k
    D = float(np.max(np.abs(1.0 - (tail / xmin) ** (1.0 - alpha) - seq)))
    return HillFit(alpha=float(alpha), k=k, xmin=xmin, D=D)


def hill_curve(eigenvalues: np.ndarray, ks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Hill plot: the exponent :func:`hill_alpha` gives for each tail size ``k``.

    One sort and one cumulative sum of logarithms give every ``k`` at once.

    Parameters
    ----------
    eigenvalues : array_like
        The ESD (as for :func:`hill_alpha`).
    ks : array_like of int, optional
        Tail sizes, each in ``2 .. n``.  Default: every ``k`` from 2 to ``n`` whose ``xmin``
        is positive.

    Returns
    -------
    (ndarray, ndarray)
        ``ks`` (int) and ``alphas`` (float), ``alphas[j] == hill_alpha(eigenvalues,
        ks[j]).alpha``; NaN where two or more tail values equal ``xmin`` and all are equal
        (no tail to fit).

    Raises
    ------
    ValueError
        As :func:`hill_alpha`, for any ``k`` asked for.
    """
    evals = _sorted_eigenvalues(eigenvalues)
    n = evals.size
    if ks is None:
        ks = np.arange(2, n + 1)
        ks = ks[evals[n - ks] > 0]
    ks = np.asarray(ks, dtype=int).ravel()
    if ks.size and (ks.min() < 2 or ks.max() > n):
        raise ValueError(f"hill_curve: tail sizes must be in 2..{n} (n = {n} eigenvalues), "
                         f"got {ks.min()}..{ks.max()}")
    xmins = evals[n - ks]
    if np.any(xmins <= 0):
        raise ValueError(f"hill_curve: xmin is 0 for tail size {ks[xmins <= 0].max()}; "
                         "the tail must be positive")
    logs = np.log(evals[evals > 0])
    # suffix sums of the logs: top[k] = sum of the k largest logs
    top = np.concatenate(([0.0], np.cumsum(logs[::-1])))
    excess = top[ks] - ks * np.log(xmins)
    with np.errstate(divide="ignore"):
        alphas = np.where(excess > 0, 1.0 + ks / np.where(excess > 0, excess, 1.0), np.nan)
    return ks, alphas


def _sorted_eigenvalues(eigenvalues: np.ndarray) -> np.ndarray:
    evals = np.sort(np.asarray(eigenvalues, dtype=float).ravel())
    if evals.size < 2:
        raise ValueError(f"Hill estimator: needs at least 2 eigenvalues, got {evals.size}")
    if not np.all(np.isfinite(evals)):
        raise ValueError("Hill estimator: eigenvalues contain NaN or Inf")
    if evals[0] < 0:
        raise ValueError(f"Hill estimator: eigenvalues must be >= 0, got {evals[0]}")
    return evals
