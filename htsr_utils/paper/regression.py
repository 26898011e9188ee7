"""Regressions of test accuracy on one metric: the one OLS / Kendall tau implementation.

:func:`ols_fit` is the analysis of Martin, Peng & Mahoney (Nat. Commun. 2021): ordinary
least squares of top-1 accuracy on a single metric, within one group of models, scored
in-sample by RMSE and R^2, plus Kendall's rank correlation tau.  Everything else here
calls it: :func:`group_regressions` (per group and metric), :func:`trend_table` (the sign
of tau per group, computed and published) and :func:`pl_norm_relation` (the per-matrix
relation between the weighted power-law exponent and the log Frobenius norm).

Sign convention: the HT-SR reading is "smaller metric, better model", so the expected
Kendall tau between a metric and top-1 accuracy is *negative*; ``tau > 0`` means the
trend is reversed for that family.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["FIT_COLUMNS", "MIN_GROUP_SIZE", "SIGNIFICANCE", "TREND_COLUMNS", "group_regressions", "kendall_tau",
           "ols_fit", "pl_norm_relation", "rank_correlations", "trend_table", "verdict"]

#: Columns of :func:`group_regressions` after the group column.
FIT_COLUMNS = ["metric", "n", "rmse", "r2", "kendall_tau", "slope", "intercept"]

#: Fewest models a group needs for an OLS score or a rank-correlation verdict: with two, an
#: in-sample fit is exact and a rank correlation is +-1, whatever the metric.
MIN_GROUP_SIZE = 3

#: Two-sided p-value below which a rank correlation counts (fixed before any result).
SIGNIFICANCE = 0.05

#: Columns of :func:`trend_table` after the group column.
TREND_COLUMNS = ["n", "kendall_tau", "kendall_p", "trend", "n_published", "kendall_tau_published",
                 "kendall_p_published", "trend_published"]


def ols_fit(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Ordinary least squares ``y = slope * x + intercept`` with in-sample scores.

    Pairs where either value is NaN are dropped first.

    Parameters
    ----------
    x : array_like
        The metric (e.g. alpha-hat of each model).
    y : array_like
        The response (e.g. top-1 accuracy in percent).

    Returns
    -------
    dict
        ``n`` (pairs used), ``slope``, ``intercept``, ``rmse`` (root mean squared in-sample
        residual, divided by ``n``), ``r2`` (``1 - SS_res / SS_tot``) and ``kendall_tau``
        (tau-b, as ``scipy.stats.kendalltau``).  With fewer than two pairs everything but
        ``n`` is NaN; when ``x`` is constant the slope, R^2 and tau are NaN; when ``y`` is
        constant (and ``x`` is not) R^2 and tau are NaN.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    out = {"n": n, "slope": math.nan, "intercept": math.nan, "rmse": math.nan,
           "r2": math.nan, "kendall_tau": math.nan}
    if n < 2:
        return out
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx <= 0.0:  # constant metric: no slope
        out["intercept"] = float(y.mean())
        out["rmse"] = float(np.sqrt(np.mean(dy**2)))
        return out
    slope = float(dx @ dy) / sxx
    intercept = float(y.mean() - slope * x.mean())
    residual = y - (slope * x + intercept)
    ss_res = float(residual @ residual)
    out |= {"slope": slope, "intercept": intercept, "rmse": float(np.sqrt(ss_res / n))}
    if syy > 0.0:
        out["r2"] = 1.0 - ss_res / syy
        out["kendall_tau"] = kendall_tau(x, y)[0]
    return out


def kendall_tau(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *,
            min_n: int = 2) -> tuple[float, float]:
    """Kendall's tau-b between ``x`` and ``y`` and its two-sided p-value.

    Pairs where either value is NaN are dropped first.

    Parameters
    ----------
    x, y : array_like
        The two variables.
    min_n : int, default 2
        Fewer pairs than this give ``(nan, nan)``; so does a constant ``x`` or ``y``.

    Returns
    -------
    tuple of float
        ``(tau, p)`` as ``scipy.stats.kendalltau``.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < max(min_n, 2) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def group_regressions(
    summary: pd.DataFrame,
    metrics: Iterable[str],
    by: str = "series",
    *,
    y: str = "top1",
    min_n: int = MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """:func:`ols_fit` of ``y`` on each metric, separately for each group of models.

    Parameters
    ----------
    summary : DataFrame
        One row per model with the ``by`` column, ``y`` and the metrics.
    metrics : iterable of str
        Summary columns to regress on, e.g. ``["alpha_hat", "log_norm"]``.
    by : str, default "series"
        Column that defines the groups; it is the first output column.
    y : str, default "top1"
        The response column.
    min_n : int, default :data:`MIN_GROUP_SIZE`
        Groups with fewer usable models get NaN scores (``n`` still says how many there
        were): with two models an in-sample fit is exact and says nothing.

    Returns
    -------
    DataFrame
        Columns ``by`` and :data:`FIT_COLUMNS`, one row per (group, metric), groups in order
        of first appearance.

    Raises
    ------
    KeyError
        If ``summary`` lacks the ``by`` column, ``y`` or a metric.
    """
    metrics = list(metrics)
    missing = [c for c in [by, y, *metrics] if c not in summary.columns]
    if missing:
        raise KeyError(f"summary lacks columns {missing}")
    rows = []
    for group, part in summary.groupby(by, sort=False):
        for metric in metrics:
            fit = ols_fit(part[metric].to_numpy(float), part[y].to_numpy(float))
            if fit["n"] < min_n:
                fit = {key: (value if key == "n" else math.nan) for key, value in fit.items()}
            rows.append({by: group, "metric": metric} | fit)
    return pd.DataFrame(rows, columns=[by, *FIT_COLUMNS]).astype({"n": "int64"})


def trend_table(summary: pd.DataFrame, metric: str = "alpha_hat", by: str = "series") -> pd.DataFrame:
    """Kendall tau between ``metric`` and top-1 per group, computed and published.

    HT-SR expects ``tau < 0`` (smaller metric, more accurate model).  ``trend`` is the sign of
    tau, not a test: with three or four models no tau reaches ``p <`` :data:`SIGNIFICANCE` (the
    p-value says so), and with fewer than :data:`MIN_GROUP_SIZE` there is no trend at all.

    Parameters
    ----------
    summary : DataFrame
        One row per model with ``by``, ``metric`` and ``top1``; when it also has
        ``<metric>_published`` and ``top1_published`` (:func:`htsr_utils.paper.reference_data.join_reference`),
        tau is computed from those too, over the same group.
    metric : str, default "alpha_hat"
    by : str, default "series"

    Returns
    -------
    DataFrame
        Columns ``by`` and :data:`TREND_COLUMNS`: ``trend`` is ``"holds"`` (tau < 0),
        ``"reversed"`` (tau > 0), ``"tied"`` (tau 0 or undefined) or ``"n/a"`` (fewer than
        :data:`MIN_GROUP_SIZE` models with both values: two points always give tau = +-1);
        likewise ``trend_published``.  ``kendall_p`` is the two-sided p-value of tau.
    """
    published = f"{metric}_published"
    rows = []
    for group, part in summary.groupby(by, sort=False):
        n, tau, p = _tau(part, metric, "top1")
        if published in part and "top1_published" in part:
            n_pub, tau_pub, p_pub = _tau(part, published, "top1_published")
        else:
            n_pub, tau_pub, p_pub = 0, math.nan, math.nan
        rows.append({by: group, "n": n, "kendall_tau": tau, "kendall_p": p, "trend": _trend(n, tau),
                     "n_published": n_pub, "kendall_tau_published": tau_pub, "kendall_p_published": p_pub,
                     "trend_published": _trend(n_pub, tau_pub)})
    return pd.DataFrame(rows, columns=[by, *TREND_COLUMNS]).astype({"n": "int64", "n_published": "int64"})


def _tau(part: pd.DataFrame, x: str, y: str) -> tuple[int, float, float]:
    """Pairs with both values, and Kendall tau and p over them (NaN below :data:`MIN_GROUP_SIZE`)."""
    both = part[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    tau, p = kendall_tau(both[x], both[y], min_n=MIN_GROUP_SIZE)
    return len(both), tau, p


def verdict(tau: float, p: float) -> str:
    """The verdict of a rank correlation on the HT-SR prediction "smaller metric, higher accuracy".

    Parameters
    ----------
    tau, p : float
        Kendall's tau between the metric and accuracy, and its two-sided p-value.

    Returns
    -------
    str
        ``"confirmed"`` (``p <`` :data:`SIGNIFICANCE` and ``tau < 0``), ``"contradicted"``
        (``p <`` :data:`SIGNIFICANCE` and ``tau > 0``) or ``"inconclusive"`` (otherwise, NaN
        included).
    """
    if not (np.isfinite(tau) and np.isfinite(p)) or p >= SIGNIFICANCE:
        return "inconclusive"
    return "confirmed" if tau < 0 else "contradicted"


def _trend(n: int, tau: float) -> str:
    if n < MIN_GROUP_SIZE:
        return "n/a"
    if not math.isfinite(tau) or tau == 0:
        return "tied"
    return "holds" if tau < 0 else "reversed"


def pl_norm_relation(
    details: pd.DataFrame,
    x: str = "log_norm_sq",
    y: str = "alpha_weighted",
    by: str | None = "series",
) -> pd.DataFrame:
    """Per-matrix OLS of ``alpha * log10(lambda_max)`` on ``log10 ||W||_F^2``.

    Parameters
    ----------
    details : DataFrame
        Per-matrix rows (``ManyResult.details``, plus the ``by`` column when it is used);
        only rows with ``status == "ok"`` (when the column exists) are used.
    x, y : str
        Columns of the relation (defaults: ``log_norm_sq`` and ``alpha_weighted``).
    by : str or None, default "series"
        Also fit each group separately; ``None``: only all matrices together.

    Returns
    -------
    DataFrame
        One row per group and a last row ``"all"``: ``group``, ``n``, ``slope``,
        ``intercept``, ``r2``, ``resid_std`` (standard deviation of the residuals with
        ``n - 2`` degrees of freedom), ``rmse`` and ``kendall_tau``.
    """
    rows = details
    if "status" in rows.columns:
        rows = rows[rows["status"] == "ok"]
    parts: list[tuple[str, pd.DataFrame]] = []
    if by is not None:
        parts += [(str(g), p) for g, p in rows.groupby(by, sort=False)]
    parts.append(("all", rows))
    out = []
    for group, part in parts:
        fit = ols_fit(part[x].to_numpy(float), part[y].to_numpy(float))
        n = fit["n"]
        resid_std = fit["rmse"] * math.sqrt(n / (n - 2)) if n > 2 else math.nan
        out.append({"group": group, "n": n, "slope": fit["slope"], "intercept": fit["intercept"],
                    "r2": fit["r2"], "resid_std": resid_std, "rmse": fit["rmse"],
                    "kendall_tau": fit["kendall_tau"]})
    return pd.DataFrame(out)


def rank_correlations(
    table: pd.DataFrame, metrics: Sequence[str], target: str = "test_acc"
) -> pd.DataFrame:
    """Spearman and Kendall rank correlation of each metric with ``target``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per model (e.g. :func:`htsr_utils.experiments.sweep.sweep_metrics`).
    metrics : sequence of str
        Columns to correlate; rows where the metric or target is NaN are dropped per metric.
    target : str, default "test_acc"
        Column to correlate against.

    Returns
    -------
    pandas.DataFrame
        Indexed by metric, with columns ``spearman, spearman_p, kendall_tau, kendall_p, n``.
    """
    rows = []
    for metric in metrics:
        pair = table[[metric, target]].dropna()
        spearman = stats.spearmanr(pair[metric], pair[target])
        tau, tau_p = kendall_tau(pair[metric], pair[target])
        rows.append(
            {
                "metric": metric,
                "spearman": float(spearman.statistic),
                "spearman_p": float(spearman.pvalue),
                "kendall_tau": tau,
                "kendall_p": tau_p,
                "n": len(pair),
            }
        )
    return pd.DataFrame(rows).set_index("metric")
