"""The trend claims of the family notebooks (01-06), checked where they are made.

A family notebook states, per series, whether alpha-hat falls as top-1 rises ("holds", Kendall
tau < 0) or rises with it ("reversed", tau > 0).  Two things can be checked:

* :func:`published_trends` - the sign in the authors' published values, over every model of the
  series that has one: the prose's statement about the paper, checkable in any run.
* :func:`record_trends` - records those statements in the notebook's claims record, and for each
  series analyzed in this run whether the computed alpha-hat gives the published sign over the
  same models: checked with the paper's weights, otherwise not checked, with the reason.

A series of fewer than :data:`~htsr_utils.paper.regression.MIN_GROUP_SIZE` models has no trend
(:func:`~htsr_utils.paper.regression.trend_table`): a notebook states none for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from .checks import ClaimsRecord
from .figures import weights_label
from .reference_data import join_reference
from .regression import MIN_GROUP_SIZE, trend_table

__all__ = ["TREND_CLAIMS", "published_trends", "record_trends", "trend_evidence"]

#: What a trend says, in the words of a claim.
TREND_CLAIMS = {"holds": "falls as top-1 rises (tau < 0)", "reversed": "rises with top-1 (tau > 0)"}


def published_trends(models: Iterable[str], metric: str = "alpha_hat", *, by: str = "series",
                     convention: str = "sdm2020") -> pd.DataFrame:
    """Kendall tau of the authors' published ``metric`` against the top-1 they used, per series.

    Parameters
    ----------
    models : iterable of str
        Zoo model names (e.g. every model of a notebook's families); those without a published
        value are left out.
    metric : str, default "alpha_hat"
        ``"alpha_hat"`` or ``"log_norm"`` (the published columns of
        :func:`htsr_utils.paper.reference_data.join_reference`).
    by : str, default "series"
        The grouping of :func:`~htsr_utils.paper.reference_data.join_reference`.
    convention : str, default "sdm2020"
        Whose published values.

    Returns
    -------
    DataFrame
        Columns ``by``, ``n``, ``kendall_tau``, ``kendall_p``, ``trend``
        (:func:`~htsr_utils.paper.regression.trend_table`: ``"n/a"`` below
        :data:`~htsr_utils.paper.regression.MIN_GROUP_SIZE` models), one row per series with a
        published value, in the order of ``models``.
    """
    index = pd.Index(list(models), name="model")
    joined = join_reference(pd.DataFrame(index=index), convention=convention, snapshot="paper")
    published = joined.dropna(subset=[f"{metric}_published", "top1_published"])
    values = pd.DataFrame({by: published[by], metric: published[f"{metric}_published"],
                           "top1": published["top1_published"]})
    return trend_table(values, metric, by=by)[[by, "n", "kendall_tau", "kendall_p", "trend"]]


def trend_evidence(n: int, tau: float, p: float) -> str:
    """``"tau = -0.33, p = 0.75, n = 4"`` (or ``"n = 2: no trend"``)."""
    if n < MIN_GROUP_SIZE or not np.isfinite(tau):
        return f"n = {n}: no trend"
    return f"tau = {tau:+.2f}, p = {p:.2g}, n = {n}"


def record_trends(claims: ClaimsRecord, expected: Mapping[str, str], published: pd.DataFrame,
                  summary: pd.DataFrame, *, weights: str, snapshot: str, metric: str = "alpha_hat",
                  by: str = "series") -> pd.DataFrame:
    """Record the trends a notebook states, and whether the computed values give the published sign.

    Parameters
    ----------
    claims : ClaimsRecord
        The notebook's claims record (:class:`htsr_utils.apps.claims.Claims`).
    expected : mapping of str to {"holds", "reversed"}
        The trend the notebook's prose states for each series, in the published values.  For a
        stated series this run did not analyze (e.g. every weight file missing) the computed
        sign is recorded as not checked.
    published : DataFrame
        :func:`published_trends` of the notebook's models.
    summary : DataFrame
        The joined summary of this run (``by``, ``library``, ``metric``, ``top1`` and the
        published columns).
    weights : str
        The weights analyzed: the computed sign is held to the published one only for
        ``"pretrained"``.
    snapshot : {"paper", "latest"}
        With ``"latest"`` only torchvision's files are those the paper analyzed, so only
        torchvision series are held to the published sign.
    metric, by : str
        The metric and the grouping.

    Returns
    -------
    DataFrame
        :func:`~htsr_utils.paper.regression.trend_table` of ``summary``: the computed trend per
        series, next to the published one over the same models.

    Raises
    ------
    AssertionError
        A stated trend that the published values do not show (from ``claims.check``), or, with
        the paper's weights, a computed sign other than the published one.
    ValueError
        An expected trend that is not "holds" or "reversed".
    """
    name = metric.replace("_", "-")
    rows = published.set_index(by)
    for series, trend in expected.items():
        if trend not in TREND_CLAIMS:
            raise ValueError(f"{series}: a stated trend is 'holds' or 'reversed', got {trend!r}")
        row = rows.loc[series] if series in rows.index else None
        holds = row is not None and row["trend"] == trend
        evidence = "no published values" if row is None else trend_evidence(row["n"], row["kendall_tau"],
                                                                            row["kendall_p"])
        claims.check(f"{series}: in the published values {name} {TREND_CLAIMS[trend]}", bool(holds), evidence)
    computed = trend_table(summary, metric, by=by)
    library = summary.groupby(by, sort=False)["library"].first() if len(summary) else pd.Series(dtype=str)
    for series in (s for s in expected if s not in set(computed[by])):
        claims.not_checked(_computed_claim(series, name), "no model of the series analyzed in this run")
    for row in computed.itertuples(index=False):
        series = getattr(row, by)
        claim = _computed_claim(series, name)
        if weights != "pretrained":
            claims.not_checked(claim, f"{weights_label(weights)}: the trend of these weights says nothing about "
                                      "the published models")
        elif snapshot != "paper" and library.get(series) != "torchvision":
            claims.not_checked(claim, f"snapshot {snapshot}: these weight files are not the ones the paper analyzed")
        elif row.trend_published not in TREND_CLAIMS or row.trend not in (*TREND_CLAIMS, "tied"):
            claims.not_checked(claim, f"{row.n} models analyzed, {row.n_published} with a published value: "
                                      f"fewer than {MIN_GROUP_SIZE} give no trend")
        else:
            claims.check(claim, bool(row.trend == row.trend_published),
                         f"computed {trend_evidence(row.n, row.kendall_tau, row.kendall_p)}; published "
                         f"{trend_evidence(row.n_published, row.kendall_tau_published, row.kendall_p_published)}")
    return computed


def _computed_claim(series: str, name: str) -> str:
    return f"{series}: the computed {name} gives the published trend over the models analyzed"
