"""Regressions of test accuracy on one metric, and the paper-style tables.

:func:`ols_fit` is the analysis of Martin, Peng & Mahoney (Nat. Commun. 2021): ordinary
least squares of top-1 accuracy on a single metric, within one family of models, scored
in-sample by RMSE and R^2, plus Kendall's rank correlation tau.  :func:`family_regressions`
runs it per family and metric; :func:`pl_norm_relation` fits the per-matrix relation between
the weighted power-law exponent and the log Frobenius norm.  :func:`family_table` and
:func:`to_markdown` make the paper-style tables (``pandas.DataFrame.to_markdown`` needs the
``tabulate`` package, which is not a dependency here, so the formatter is our own).

Sign convention: the HT-SR reading is "smaller metric, better model", so the expected
Kendall tau between a metric and top-1 accuracy is *negative*; ``tau > 0`` means the
trend is reversed for that family.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COLUMN_LABELS", "REGRESSION_COLUMNS", "family_regressions", "family_table", "ols_fit",
    "pl_norm_relation", "to_markdown",
]

#: Columns of :func:`family_regressions` (``family`` is the ``by`` column).
REGRESSION_COLUMNS = ["family", "metric", "n", "rmse", "r2", "kendall_tau", "slope", "intercept"]

#: Paper-style labels of summary columns (Markdown/Unicode).
COLUMN_LABELS = {
    "family": "Architecture",
    "model": "Model",
    "top1": "Top1",
    "top5": "Top5",
    "L": "L",
    "N_alpha": "N_α",
    "alpha_hat": "α̂",
    "alpha_hat_star": "α̂*",
    "alpha_mean": "mean α",
    "log_norm": "⟨log₁₀‖W‖_F⟩",
    "log_spectral_norm": "⟨log₁₀ λ_max⟩",
    "log_alpha_norm": "⟨log₁₀ ‖X‖_α^α⟩",
    "alpha_hat_published": "α̂ (published)",
    "log_norm_published": "⟨log₁₀‖W‖_F⟩ (published)",
    "top1_published": "Top1 used (published)",
    "n_matrices_published": "N_α (published)",
}


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["kendall_tau"] = float(stats.kendalltau(x, y).statistic)
    return out


def family_regressions(
    summary: pd.DataFrame,
    metrics: Iterable[str],
    by: str = "family",
    *,
    y: str = "top1",
    min_n: int = 3,
) -> pd.DataFrame:
    """:func:`ols_fit` of ``y`` on each metric, separately for each group of models.

    Parameters
    ----------
    summary : DataFrame
        One row per model (e.g. ``ManyResult.summary``) with the ``by`` column, ``y`` and
        the metrics.
    metrics : iterable of str
        Summary columns to regress on, e.g. ``["alpha_hat", "log_norm"]``.
    by : str, default "family"
        Column that defines the groups; it becomes the first output column, named
        ``family`` whatever ``by`` is.
    y : str, default "top1"
        The response column.
    min_n : int, default 3
        Groups with fewer usable models get NaN scores (``n`` still says how many there
        were): with two models an in-sample fit is exact and says nothing.

    Returns
    -------
    DataFrame
        Columns :data:`REGRESSION_COLUMNS`, one row per (group, metric), groups in order
        of first appearance.
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
            rows.append({"family": group, "metric": metric} | fit)
    table = pd.DataFrame(rows, columns=REGRESSION_COLUMNS)
    return table.astype({"n": "int64"})


def pl_norm_relation(
    details: pd.DataFrame,
    x: str = "log_norm_sq",
    y: str = "alpha_weighted",
    by: str | None = "family",
) -> pd.DataFrame:
    """Per-matrix OLS of ``alpha * log10(lambda_max)`` on ``log10 ||W||_F^2``.

    Parameters
    ----------
    details : DataFrame
        Per-matrix rows (``ManyResult.details``, plus a ``family`` column when ``by`` is
        used); only rows with ``status == "ok"`` (when the column exists) are used.
    x, y : str
        Columns of the relation (defaults: ``log_norm_sq`` and ``alpha_weighted``).
    by : str or None, default "family"
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


def family_table(
    summary: pd.DataFrame,
    columns: Sequence[str],
    *,
    labels: Mapping[str, str] | None = None,
    family: str = "family",
) -> pd.DataFrame:
    """The paper-style table: Architecture, Model, then ``columns`` with paper labels.

    Parameters
    ----------
    summary : DataFrame
        One row per model, indexed by model name (``ManyResult.summary``).
    columns : sequence of str
        Summary columns in display order, e.g. ``["top1", "top5", "L", "N_alpha",
        "alpha_hat", "alpha_hat_star"]``.  Columns that ``summary`` lacks are shown empty.
    labels : mapping, optional
        Header labels overriding :data:`COLUMN_LABELS`.
    family : str, default "family"
        Column shown as "Architecture".

    Returns
    -------
    DataFrame
        Plain columns (no index), rows in the order of ``summary``.
    """
    names = dict(COLUMN_LABELS) | dict(labels or {})
    table = pd.DataFrame({
        names["family"]: summary[family].astype(str).to_numpy() if family in summary else "",
        names["model"]: summary.index.astype(str),
    })
    for column in columns:
        values = summary[column].to_numpy() if column in summary.columns else np.full(len(summary), np.nan)
        table[names.get(column, column)] = values
    return table


def to_markdown(
    table: pd.DataFrame,
    *,
    floatfmt: str | Mapping[str, str] = ".3f",
    index: bool = False,
    missing: str = "",
    caption: str | None = None,
) -> str:
    """A GitHub-flavoured Markdown table (``pandas.to_markdown`` without ``tabulate``).

    Parameters
    ----------
    table : DataFrame
        The table; numeric columns are right-aligned, others left-aligned.
    floatfmt : str or mapping, default ".3f"
        Format of floats (a ``format`` spec), or one per column name; integers (and floats
        that are whole numbers in integer columns) are printed without decimals.
    index : bool, default False
        Include the index as the first column.
    missing : str, default ""
        Text for NaN / None.
    caption : str, optional
        A line printed after the table (e.g. the convention and weights).

    Returns
    -------
    str
        The Markdown text, ending with a newline.
    """
    if index:
        table = table.reset_index()
    headers = [_escape(str(c)) for c in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
               for c in table.columns]
    body = []
    for row in table.itertuples(index=False, name=None):
        body.append([_escape(_cell(v, c, floatfmt, missing)) for v, c in zip(row, table.columns)])
    widths = [max([len(h), 3] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w
                             for w, num in zip(widths, numeric)) + " |"
    lines = [line(headers), rule] + [line(r) for r in body]
    if caption:
        lines += ["", caption]
    return "\n".join(lines) + "\n"


def _cell(value: object, column: object, floatfmt: str | Mapping[str, str], missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        spec = floatfmt.get(str(column), ".3f") if isinstance(floatfmt, Mapping) else floatfmt
        return format(float(value), spec)
    return str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
