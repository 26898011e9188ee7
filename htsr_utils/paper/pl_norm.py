"""The power-law / norm relation: the draft's derivation, the integral done exactly, the tests.

The authors' draft of arXiv 1901.08278 (Section 2, "Relation to Heavy Tailed Universality")
writes ``log ||W||^2 ~ log int lambda rho(lambda) dlambda`` for a power-law ESD
``rho(lambda) ~ lambda^(-alpha)`` on ``[lambda_min, lambda_max]``, replaces the log of the
integral by the integral of the log, and arrives at ``log ||W|| -> sqrt(b (alpha - 1))`` with
``b = lambda_max (log lambda_max - 1)``.  The published paper uses
``alpha log lambda_max ~ log ||W||_F^2`` instead.  This module holds the exact integrals of a
power-law density (:func:`power_integral`, :func:`powerlaw_mean`, :func:`log_integral`), the
draft's limit (:func:`draft_log_norm`), the size of the draft's step (:func:`jensen_gap`), the
per-group test of a relation against the identity line (:func:`relation_table`), and the matrices
of pretrained ImageNet models as the authors' code analyzed them (:func:`published_matrices`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from htsr_utils.paper.regression import pl_norm_relation
from htsr_utils.storage import paths

__all__ = ["MAX_IDENTITY_RMS", "MIN_R2", "SLOPE_TOLERANCE", "draft_log_norm", "jensen_gap", "log_integral",
           "power_integral", "powerlaw_mean", "published_matrices", "relation_table"]

#: A relation "holds" in a group when its OLS slope is within this distance of 1 ...
SLOPE_TOLERANCE = 0.2
#: ... its R^2 is at least this ...
MIN_R2 = 0.9
#: ... and the root mean squared distance of the points to the identity line ``y = x`` is at most
#: this (in the units of the relation: decades for base-10 logs).  Fixed before any result.
MAX_IDENTITY_RMS = 0.25


def power_integral(p: float | np.ndarray, a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """``int_a^b lambda^p dlambda`` in closed form.

    Parameters
    ----------
    p : float or array_like
        The power (``p = -1`` gives ``log(b / a)``).
    a, b : float or array_like
        The bounds, ``0 < a <= b``.

    Returns
    -------
    ndarray
        ``(b^(p+1) - a^(p+1)) / (p + 1)``, or ``log(b / a)`` where ``p = -1``.
    """
    p, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (p, a, b)))
    q = p + 1.0
    log_case = np.isclose(q, 0.0, atol=1e-12)
    safe_q = np.where(log_case, 1.0, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(log_case, np.log(b / a), (b**safe_q - a**safe_q) / safe_q)


def powerlaw_mean(alpha: float | np.ndarray, lambda_min: float | np.ndarray,
                  lambda_max: float | np.ndarray) -> np.ndarray:
    """Mean eigenvalue of the normalized power-law density on ``[lambda_min, lambda_max]``.

    The density is ``rho(lambda) = C lambda^(-alpha)`` with ``C`` such that it integrates to 1,
    so ``int lambda rho = int lambda^(1-alpha) / int lambda^(-alpha)``: ``n`` eigenvalues drawn
    from it sum, on average, to ``n`` times this.

    Parameters
    ----------
    alpha : float or array_like
        The exponent (any real: ``alpha = 1`` and ``alpha = 2`` are the logarithmic cases).
    lambda_min, lambda_max : float or array_like
        The range, ``0 < lambda_min < lambda_max``.

    Returns
    -------
    ndarray
        ``E[lambda]``, between ``lambda_min`` and ``lambda_max``.
    """
    alpha = np.asarray(alpha, dtype=float)
    return power_integral(1.0 - alpha, lambda_min, lambda_max) / power_integral(-alpha, lambda_min, lambda_max)


def log_integral(a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """``int_a^b ln(lambda) dlambda = b (ln b - 1) - a (ln a - 1)``.

    Parameters
    ----------
    a, b : float or array_like
        The bounds, ``0 <= a <= b``; ``a = 0`` is the limit ``a (ln a - 1) -> 0``, the draft's
        ``lambda_min ~ 0`` (then the integral is the draft's weight ``b``).

    Returns
    -------
    ndarray
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))

    def term(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, x * (np.log(np.where(x > 0, x, 1.0)) - 1.0), 0.0)

    return term(b) - term(a)


def draft_log_norm(alpha: float | np.ndarray, lambda_max: float | np.ndarray) -> np.ndarray:
    """The draft's limit ``log ||W|| -> sqrt(b (alpha - 1))``, ``b = lambda_max (ln lambda_max - 1)``.

    ``b`` is :func:`log_integral` from 0 to ``lambda_max`` (natural log: the base in which the
    draft's primitive ``lambda (log lambda - 1)`` is right).

    Parameters
    ----------
    alpha : float or array_like
        Fitted power-law exponent.
    lambda_max : float or array_like
        Largest eigenvalue.

    Returns
    -------
    ndarray
        ``sqrt(b (alpha - 1))``; NaN where ``b (alpha - 1) < 0`` (e.g. ``lambda_max < e`` with
        ``alpha > 1``), where the draft's expression has no real value.
    """
    radicand = log_integral(0.0, lambda_max) * (np.asarray(alpha, dtype=float) - 1.0)
    return np.sqrt(np.where(radicand >= 0, radicand, np.nan))


def jensen_gap(alpha: float | np.ndarray, lambda_min: float | np.ndarray,
               lambda_max: float | np.ndarray) -> np.ndarray:
    """``log <f> - <log f>`` for ``f(lambda) = lambda^(1-alpha)``, averages over ``[lambda_min, lambda_max]``.

    ``<.>`` is the uniform average ``(1 / L) int_lambda_min^lambda_max . dlambda``,
    ``L = lambda_max - lambda_min``.  By Jensen's inequality (log is concave) the gap is
    ``>= 0``, and 0 only for a constant ``f`` (``alpha = 1``): the log of an integral is not the
    integral of the log, the step the draft takes.

    Parameters
    ----------
    alpha : float or array_like
        The exponent.
    lambda_min, lambda_max : float or array_like
        The range, ``0 < lambda_min < lambda_max``.

    Returns
    -------
    ndarray
        The gap in natural-log units.
    """
    alpha = np.asarray(alpha, dtype=float)
    length = np.asarray(lambda_max, dtype=float) - np.asarray(lambda_min, dtype=float)
    log_mean = np.log(power_integral(1.0 - alpha, lambda_min, lambda_max) / length)
    mean_log = (1.0 - alpha) * log_integral(lambda_min, lambda_max) / length
    return log_mean - mean_log


def relation_table(table: pd.DataFrame, x: str, y: str, by: str) -> pd.DataFrame:
    """Per group, how close ``y`` is to ``x``: OLS slope and R^2, and distance to ``y = x``.

    Parameters
    ----------
    table : DataFrame
        One row per matrix with the columns ``x``, ``y`` and ``by`` (rows with a NaN in ``x``
        or ``y`` are left out of the fit and the distance).
    x, y : str
        The two sides of the relation: ``y ~ x`` claims the identity.
    by : str
        The grouping column (e.g. ``"group"``: synthetic, random-init, ...).

    Returns
    -------
    DataFrame
        One row per group and a last row ``"all"``: the columns of
        :func:`htsr_utils.paper.regression.pl_norm_relation` (``n``, ``slope``, ``intercept``,
        ``r2``, ...), ``identity_rms`` (root mean squared ``y - x``) and ``holds``: slope within
        :data:`SLOPE_TOLERANCE` of 1, R^2 at least :data:`MIN_R2`, ``identity_rms`` at most
        :data:`MAX_IDENTITY_RMS` (False with fewer than three points).
    """
    finite = table[np.isfinite(table[x].to_numpy(float)) & np.isfinite(table[y].to_numpy(float))]
    out = pl_norm_relation(finite, x=x, y=y, by=by)
    gaps = (finite[y] - finite[x]).pow(2)
    rms = {str(g): float(np.sqrt(v.mean())) for g, v in gaps.groupby(finite[by].to_numpy(), sort=False)}
    rms["all"] = float(np.sqrt(gaps.mean())) if len(gaps) else np.nan
    out["identity_rms"] = out["group"].map(rms)
    out["holds"] = ((out["n"] >= 3) & ((out["slope"] - 1).abs() <= SLOPE_TOLERANCE)
                    & (out["r2"] >= MIN_R2) & (out["identity_rms"] <= MAX_IDENTITY_RMS))
    return out


def published_matrices() -> pd.DataFrame:
    """Every matrix of the authors' per-layer files for pretrained torchvision models.

    The files ``data/sources/ww-trends-2020/data/<model>.csv`` (WeightWatcher 0.2.7 output behind
    Martin, Peng & Mahoney, Nat. Commun. 2021; provenance in ``SOURCE.txt`` there), rows
    ``LEVEL.SLICE``: one per analyzed matrix (a Linear layer or one Conv2D kernel position), under
    that version's scaling (convention ``natcomm2021``).  Their ``norm`` is ``||W||_F`` and their
    ``spectral_norm`` the largest eigenvalue of ``W^T W`` (so ``norm^2 / spectral_norm`` is their
    ``stable_rank``).

    Returns
    -------
    DataFrame
        Columns ``model``, ``layer_id``, ``layer_type``, ``N``, ``M``, ``alpha``, ``lambda_max``,
        ``log_norm_sq`` (``log10 ||W||_F^2``) and ``alpha_weighted`` (``alpha log10 lambda_max``).

    Raises
    ------
    FileNotFoundError
        Outside a checkout, where ``data/sources`` is not installed.
    """
    folder = paths.data_dir() / "sources" / "ww-trends-2020" / "data"
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no per-layer files in {folder} (they ship with a checkout of the repository)")
    rows = []
    for file in files:
        layers = pd.read_csv(file)
        slices = layers[layers["level"] == "LEVEL.SLICE"]
        rows.append(slices[["layer_id", "layer_type", "N", "M", "alpha"]].assign(
            model=file.stem, lambda_max=slices["spectral_norm"], log_norm_sq=2 * np.log10(slices["norm"])))
    out = pd.concat(rows, ignore_index=True)
    out["alpha_weighted"] = out["alpha"] * np.log10(out["lambda_max"])
    return out[["model", "layer_id", "layer_type", "N", "M", "alpha", "lambda_max", "log_norm_sq", "alpha_weighted"]]
