"""OLS / Kendall tau against scipy and closed forms; per-group regressions and trend tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from htsr_utils.paper.regression import (
    FIT_COLUMNS,
    MIN_GROUP_SIZE,
    TREND_COLUMNS,
    group_regressions,
    ols_fit,
    pl_norm_relation,
    trend_table,
    verdict,
)


def test_ols_exact_line_closed_form():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = 80.0 - 2.5 * x
    fit = ols_fit(x, y)
    assert fit["n"] == 5
    assert fit["slope"] == pytest.approx(-2.5, abs=1e-12)
    assert fit["intercept"] == pytest.approx(80.0, abs=1e-12)
    assert fit["rmse"] == pytest.approx(0.0, abs=1e-12)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12)
    assert fit["kendall_tau"] == pytest.approx(-1.0)


def test_ols_hand_computed_residuals():
    # x = 0, 1, 2; y = 0, 2, 1: slope 1/2, intercept 1/2, residuals -1/2, 1, -1/2.
    fit = ols_fit([0, 1, 2], [0, 2, 1])
    assert fit["slope"] == pytest.approx(0.5)
    assert fit["intercept"] == pytest.approx(0.5)
    assert fit["rmse"] == pytest.approx(math.sqrt((0.25 + 1 + 0.25) / 3))
    assert fit["r2"] == pytest.approx(1 - 1.5 / 2.0)
    assert fit["kendall_tau"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ols_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 1.0, 40)
    y = 75.0 - 3.0 * x + rng.normal(0, 1.5, 40)
    y[::7] = np.round(y[::7])  # some ties do not matter for OLS, but exercise tau-b
    x[3] = x[5]
    fit = ols_fit(x, y)
    ref = stats.linregress(x, y)
    assert fit["slope"] == pytest.approx(ref.slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(ref.intercept, rel=1e-10)
    assert fit["r2"] == pytest.approx(ref.rvalue**2, rel=1e-10)
    residual = y - (ref.slope * x + ref.intercept)
    assert fit["rmse"] == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-10)
    assert fit["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic, rel=1e-12)


def test_ols_drops_nan_pairs_and_degenerate_inputs():
    fit = ols_fit([1, 2, np.nan, 4], [1, 2, 3, np.nan])
    assert fit["n"] == 2 and fit["slope"] == pytest.approx(1.0)
    assert math.isnan(ols_fit([1.0], [2.0])["slope"])
    assert ols_fit([], [])["n"] == 0
    constant_x = ols_fit([1, 1, 1], [1, 2, 3])
    assert math.isnan(constant_x["slope"]) and math.isnan(constant_x["kendall_tau"])
    constant_y = ols_fit([1, 2, 3], [5, 5, 5])
    assert constant_y["slope"] == 0 and math.isnan(constant_y["r2"])
    with pytest.raises(ValueError):
        ols_fit([1, 2], [1, 2, 3])


def _summary() -> pd.DataFrame:
    return pd.DataFrame({
        "family": ["A", "A", "A", "A", "B", "B", "C"],
        "alpha_hat": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 1.0],
        "log_norm": [0.5, 0.4, 0.3, 0.1, 1.0, 2.0, 3.0],
        "top1": [80.0, 78.0, 75.0, 71.0, 60.0, 61.0, 50.0],
    }, index=pd.Index([f"m{i}" for i in range(7)], name="model"))


def test_group_regressions_per_group():
    table = group_regressions(_summary(), ["alpha_hat", "log_norm"], by="family")
    assert list(table.columns) == ["family", *FIT_COLUMNS]
    assert len(table) == 6
    a = table[(table["family"] == "A") & (table["metric"] == "alpha_hat")].iloc[0]
    ref = stats.linregress([1, 2, 3, 4], [80, 78, 75, 71])
    assert a["n"] == 4
    assert a["slope"] == pytest.approx(ref.slope)
    assert a["r2"] == pytest.approx(ref.rvalue**2)
    assert a["kendall_tau"] == pytest.approx(-1.0)
    # groups below min_n keep their n, with NaN scores
    b = table[table["family"] == "B"].iloc[0]
    assert b["n"] == 2 and math.isnan(b["r2"]) and math.isnan(b["kendall_tau"])
    loose = group_regressions(_summary(), ["alpha_hat"], by="family", min_n=2)
    assert loose.loc[loose["family"] == "B", "kendall_tau"].iloc[0] == pytest.approx(1.0)


def test_group_regressions_missing_column():
    with pytest.raises(KeyError):
        group_regressions(_summary(), ["no_such_metric"], by="family")


def test_pl_norm_relation_recovers_line():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 3, 200)
    details = pd.DataFrame({"log_norm_sq": x, "alpha_weighted": 1.5 * x - 0.2 + rng.normal(0, 0.1, 200),
                            "series": np.where(np.arange(200) < 100, "A", "B"), "status": "ok"})
    details.loc[0, "status"] = "too_few_values"
    rel = pl_norm_relation(details)
    assert list(rel["group"]) == ["A", "B", "all"]
    whole = rel.set_index("group").loc["all"]
    assert whole["n"] == 199
    assert whole["slope"] == pytest.approx(1.5, abs=0.05)
    assert whole["resid_std"] == pytest.approx(0.1, abs=0.02)
    assert whole["resid_std"] > whole["rmse"]


def test_trend_table_signs_and_published():
    summary = pd.DataFrame({
        "series": ["A", "A", "A", "B", "B", "B", "C"],
        "alpha_hat": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 5.0],
        "top1": [80.0, 75.0, 70.0, 60.0, 65.0, 62.0, 50.0],
        "alpha_hat_published": [1.0, 2.0, 3.0, np.nan, np.nan, np.nan, np.nan],
        "top1_published": [70.0, 75.0, 80.0, np.nan, np.nan, np.nan, np.nan],
    })
    trend = trend_table(summary).set_index("series")
    assert list(trend.columns) == TREND_COLUMNS
    assert trend.loc["A", "trend"] == "holds" and trend.loc["A", "kendall_tau"] == pytest.approx(-1)
    assert trend.loc["A", "kendall_p"] == pytest.approx(1 / 3)  # exact: 1 of 6 orders, two-sided
    assert trend.loc["A", "trend_published"] == "reversed"
    assert trend.loc["B", "trend"] == "reversed" and trend.loc["B", "kendall_tau"] == pytest.approx(1 / 3)
    assert trend.loc["B", "n_published"] == 0 and trend.loc["B", "trend_published"] == "n/a"
    assert trend.loc["C", "trend"] == "n/a"
    tied = trend_table(summary.assign(alpha_hat=1.0)).set_index("series")
    assert tied.loc["A", "trend"] == "tied"


def test_a_two_model_series_gets_no_trend_and_no_tau():
    """Two points always give tau = +-1: that is no evidence, so no verdict either way."""
    two = pd.DataFrame({"series": ["S", "S"], "alpha_hat": [1.0, 2.0], "top1": [70.0, 75.0],
                        "alpha_hat_published": [1.0, 2.0], "top1_published": [75.0, 70.0]})
    row = trend_table(two).iloc[0]
    assert MIN_GROUP_SIZE == 3
    assert (row["n"], row["trend"], row["n_published"], row["trend_published"]) == (2, "n/a", 2, "n/a")
    assert np.isnan(row["kendall_tau"]) and np.isnan(row["kendall_tau_published"])


@pytest.mark.parametrize(("tau", "p", "expected"), [
    (-0.5, 0.01, "confirmed"), (0.5, 0.01, "contradicted"), (-0.5, 0.05, "inconclusive"),
    (np.nan, np.nan, "inconclusive"), (0.9, 0.2, "inconclusive"),
])
def test_verdict_rule(tau, p, expected) -> None:
    assert verdict(tau, p) == expected
