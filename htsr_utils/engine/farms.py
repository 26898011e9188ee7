"""FARMS: the ESD of equal-shape submatrices of a weight matrix (fixed-aspect-ratio sampling).

Hu et al., "Eigenspectrum Analysis of Neural Networks without Aspect Ratio Bias" (ICML 2025,
arXiv 2506.06280), code github.com/HUST-AI-HYZ/FARMS.  The ESD of an ``N x M`` matrix depends
on its aspect ratio (Marchenko-Pastur), so exponents of matrices of different shapes are not
comparable.  FARMS cuts every matrix into windows of one shape, pools the eigenvalues
``sigma**2`` of all windows into one ESD (their "average ESD") and estimates the exponent of
that.  What follows is their code (``Image_Classification/sampling.py``, ``fixed_sampling``
and ``matrix_size_dependent_sampling``; ``Image_Classification/tempbalance_farms.py``,
``net_esd_estimator``; the same in ``LLM_Pruning/lib``):

- a matrix (their ``nn.Linear`` path; here any single matrix): windows of
  ``h = num_row_samples`` rows and ``w = int(h * q_ratio)`` columns.  With ``ops_per_dim``
  (their ``sampling_ops_per_dim``) the row starts are ``min(i * row_step, rows - h)`` for
  ``i < min(ops_per_dim, (rows - h) // row_step + 1)``, ``row_step = max(1, (rows - h) //
  (ops_per_dim - 1))``, and the same for columns: at most ``ops_per_dim**2`` windows spread
  over the matrix; with ``ops_per_dim=None`` the starts are every ``step_size``
  (``(rows - h) // step_size + 1`` of them).  All windows' eigenvalues are pooled.
- a convolution's kernel positions (their ``nn.Conv2d`` path; the ``(N, M)`` slices with
  ``N >= M``): windows of ``M`` rows and ``int(M * q_ratio)`` columns (``M // q_ratio`` rows
  and ``M`` columns when ``q_ratio > 1``), the ``N // M`` consecutive row blocks; block ``b``
  pools the eigenvalues of window ``b`` of every slice, the exponent is estimated per block,
  and the layer's exponent is the **mean over blocks** (not the exponent of one pooled ESD).

The exponent their code applies to the FARMS ESD is the one of its ``pl_fitting`` /
``fix_fingers`` option: ``"median"`` in every image-classification experiment of the
repository (``bash_scripts/config/farms_imagecls_main.txt``; with TempBalance), that is the
Hill estimator ``PL_Alpha_Hill`` with ``xmin_pos = 2`` (:func:`~.hill.hill_alpha`), which is
what :func:`farms_alpha` applies; the LLM-pruning experiments (with AlphaPruning) use
``"xmin_peak"``, a CSN search restricted around the histogram peak, which is not offered here.

Defaults are the settings of those image-classification experiments: ``num_row_samples=100``,
``q_ratio=1.0``, ``ops_per_dim=9`` (their LLM experiments: 2000, 1.0, 10 or 15).  Two
deliberate differences: a window larger than the matrix is shrunk to fit, ``h = min(h, rows,
int(cols / q_ratio))`` (their ``LLM_Pruning/main.py`` computes the ``q_ratio = 1`` case of
this as a "sanity check" but does not pass it on; their sampling functions then slice with a
negative start and get a partial window); and their ``q_ratio != 1`` windows follow the
``(out, in)`` layout of ``nn.Linear`` while here the matrix is taken as given (:func:`analyze
<htsr_utils.engine.metrics.analyze>` gives it ``N >= M``): with ``q_ratio = 1`` the windows of
``W`` and ``W^T`` are transposes of each other and the ESDs are the same.  Eigenvalues are
float64 Gram eigenvalues (:func:`~.esd.esd`), all windows in one batched solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .esd import esd
from .hill import XMIN_POS, hill_alpha

#: Window parameters of FARMS's image-classification experiments (the defaults).
FARMS_DEFAULTS: dict[str, float | int | None] = {
    "num_row_samples": 100, "q_ratio": 1.0, "ops_per_dim": 9, "step_size": 10,
}


@dataclass(frozen=True)
class FarmsGrid:
    """The windows of one matrix: top-left corners and the common shape ``(h, w)``."""

    row_starts: np.ndarray
    col_starts: np.ndarray
    shape: tuple[int, int]

    @property
    def count(self) -> int:
        """Number of windows, ``len(row_starts) * len(col_starts)``."""
        return len(self.row_starts) * len(self.col_starts)


@dataclass(frozen=True)
class FarmsFit:
    """Result of :func:`farms_alpha`: the exponent, the windows, their shape."""

    alpha: float
    windows: int
    shape: tuple[int, int]


def farms_grid(rows: int, cols: int, *, num_row_samples: int = 100, q_ratio: float = 1.0,
               ops_per_dim: int | None = 9, step_size: int = 10) -> FarmsGrid:
    """The FARMS windows of a ``rows x cols`` matrix (the module docstring gives the rule).

    Parameters
    ----------
    rows, cols : int
        Shape of the matrix.
    num_row_samples : int
        Rows ``h`` of a window (shrunk to fit the matrix).
    q_ratio : float
        Columns per row of a window: ``w = int(h * q_ratio)``.
    ops_per_dim : int or None
        Windows per dimension, spread evenly (``>= 2``); None: one every ``step_size``.
    step_size : int
        Stride when ``ops_per_dim`` is None.

    Returns
    -------
    FarmsGrid

    Raises
    ------
    ValueError
        For a non-positive size, ratio or stride, ``ops_per_dim < 2``, or a matrix too small
        for a window of at least one row and one column.
    """
    if rows < 1 or cols < 1 or num_row_samples < 1 or not q_ratio > 0 or step_size < 1:
        raise ValueError(f"farms_grid: sizes, q_ratio and step_size must be positive, got "
                         f"rows={rows}, cols={cols}, num_row_samples={num_row_samples}, "
                         f"q_ratio={q_ratio}, step_size={step_size}")
    if ops_per_dim is not None and ops_per_dim < 2:
        raise ValueError(f"farms_grid: ops_per_dim must be >= 2 or None, got {ops_per_dim}")
    h = min(num_row_samples, rows, int(cols / q_ratio))
    w = int(h * q_ratio)
    if h < 1 or w < 1:
        raise ValueError(f"farms_grid: a {rows} x {cols} matrix has no window of aspect "
                         f"ratio q_ratio={q_ratio}")
    return FarmsGrid(_starts(rows, h, ops_per_dim, step_size), _starts(cols, w, ops_per_dim, step_size),
                     (h, w))


def _starts(size: int, window: int, ops: int | None, step_size: int) -> np.ndarray:
    """Window starts along one dimension (their ``fixed_sampling`` / size-dependent rule)."""
    span = size - window
    if ops is None:
        return np.arange(max(1, span // step_size + 1)) * step_size
    step = max(1, span // (ops - 1))
    count = min(ops, max(1, span // step + 1))
    return np.minimum(np.arange(count) * step, span)


def farms_windows(matrix: np.ndarray, grid: FarmsGrid) -> np.ndarray:
    """The windows of ``grid`` cut from ``matrix``, stacked: shape ``(count, h, w)``."""
    h, w = grid.shape
    rows = grid.row_starts[:, None, None, None] + np.arange(h)[None, None, :, None]
    cols = grid.col_starts[None, :, None, None] + np.arange(w)[None, None, None, :]
    return np.asarray(matrix)[rows, cols].reshape(-1, h, w)


def farms_esd(matrix: np.ndarray, **params) -> np.ndarray:
    """The FARMS ESD of one matrix: the eigenvalues of every window, pooled and sorted.

    Parameters
    ----------
    matrix : ndarray, 2-D
        The matrix, as it is to be sampled (scaled as wanted).
    **params
        Window parameters of :func:`farms_grid` (default :data:`FARMS_DEFAULTS`).

    Returns
    -------
    ndarray
        Ascending eigenvalues ``sigma**2``, ``min(h, w)`` per window.
    """
    matrix = _as_matrices(matrix, 2)
    return _pooled(matrix, farms_grid(*matrix.shape, **(FARMS_DEFAULTS | params)))


def _pooled(matrix: np.ndarray, grid: FarmsGrid) -> np.ndarray:
    return np.sort(esd(farms_windows(matrix, grid)).ravel())


def _conv_window(m: int, q_ratio: float) -> tuple[int, int]:
    """Window shape of the convolution rule for slices with ``M = m`` columns."""
    return (max(1, int(m // q_ratio)), m) if q_ratio > 1 else (m, max(1, int(m // (1 / q_ratio))))


def farms_conv_esds(slices: np.ndarray, q_ratio: float = 1.0) -> np.ndarray:
    """The FARMS ESDs of a convolution: one per row block, pooled over the kernel positions.

    Parameters
    ----------
    slices : ndarray, shape ``(k, N, M)``
        The kernel positions' matrices, ``N >= M`` (scaled as wanted).
    q_ratio : float
        Window aspect ratio (module docstring).

    Returns
    -------
    ndarray, shape ``(N // M, k * min(h, w))``
        Row ``b``: the ascending eigenvalues of window ``b`` of every slice.

    Raises
    ------
    ValueError
        If ``slices`` is not 3-D with ``N >= M``, or ``q_ratio`` is not positive.
    """
    slices = _as_matrices(slices, 3)
    k, n, m = slices.shape
    if n < m or not q_ratio > 0:
        raise ValueError(f"farms_conv_esds: needs slices (k, N, M) with N >= M and q_ratio > 0, "
                         f"got shape {slices.shape}, q_ratio={q_ratio}")
    h, w = _conv_window(m, q_ratio)
    blocks = n // m
    windows = slices[:, :blocks * h, :w].reshape(k, blocks, h, w).transpose(1, 0, 2, 3)
    evals = esd(windows.reshape(blocks * k, h, w)).reshape(blocks, -1)
    return np.sort(evals, axis=1)


def farms_alpha(matrix: np.ndarray, *, conv: bool = False, xmin_pos: float = XMIN_POS,
                **params) -> FarmsFit:
    """The FARMS exponent: the Hill estimate (:func:`~.hill.hill_alpha`) of the FARMS ESD.

    Parameters
    ----------
    matrix : ndarray
        One matrix (2-D), or with ``conv=True`` the kernel positions' ``(k, N, M)`` slices.
    conv : bool
        Use the convolution rule (mean of the per-block exponents; only ``q_ratio`` of
        ``params`` applies).
    xmin_pos : float
        Hill ``xmin`` position rule (``2``: the median, as their code).
    **params
        Window parameters of :func:`farms_grid` (default :data:`FARMS_DEFAULTS`).

    Returns
    -------
    FarmsFit
        ``alpha`` (NaN if a block's median eigenvalue is 0), the number of windows and their
        shape.
    """
    params = FARMS_DEFAULTS | params
    if conv:
        esds = farms_conv_esds(matrix, params["q_ratio"])
        k, _, m = np.shape(matrix)
        windows, shape = esds.shape[0] * k, _conv_window(m, params["q_ratio"])
    else:
        matrix = _as_matrices(matrix, 2)
        grid = farms_grid(*matrix.shape, **params)
        esds, windows, shape = _pooled(matrix, grid)[None], grid.count, grid.shape
    alphas = [_hill_or_nan(e, xmin_pos) for e in esds]
    return FarmsFit(alpha=float(np.mean(alphas)), windows=int(windows), shape=shape)


def _hill_or_nan(evals: np.ndarray, xmin_pos: float) -> float:
    n = evals.size
    if n < 2 or n - int(n / xmin_pos) < 2 or evals[int(n / xmin_pos)] <= 0:
        return float("nan")
    return hill_alpha(evals, xmin_pos=xmin_pos).alpha


def _as_matrices(array: np.ndarray, ndim: int) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.ndim != ndim:
        what = "a matrix" if ndim == 2 else "a (k, N, M) stack of slices"
        raise ValueError(f"FARMS: expected {what}, got an array of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("FARMS: the matrix has NaN or Inf entries")
    return array
