"""The Hill estimator (htsr_utils.engine.hill) and analyze(..., estimators=...).

Ground truths: the formula evaluated by a plain loop; Pareto samples of known density exponent;
the CSN fit, whose closed-form exponent is the Hill estimate at its own tail size; and an
independent re-implementation of TempBalance's ``net_esd_estimator`` loop (torch.linalg.svdvals
per layer, kernel positions pooled, sqrt(0.5) for Conv2d).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from htsr_utils.engine.hill import hill_alpha, hill_curve
from htsr_utils.engine.metrics import (
    DETAIL_COLUMNS,
    ESTIMATOR_COLUMNS,
    ESTIMATOR_SUMMARY,
    analyze,
    summarize,
)
from htsr_utils.engine.powerlaw_fit import fit_powerlaw

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"


def _loop_hill(values, xmin_pos=2.0, k=None):
    """alpha = 1 + k / (sum_{j>=i} ln x_j - k ln x_i), x ascending, i = int(n / xmin_pos)."""
    x = sorted(float(v) for v in values)
    n = len(x)
    i = int(n / xmin_pos) if k is None else n - k
    tail = x[i:]
    total = 0.0
    for value in tail:
        total += math.log(value)
    return 1.0 + len(tail) / (total - len(tail) * math.log(x[i])), len(tail), x[i]


def _pareto(rng, n, alpha, xmin=1.0):
    """Samples of the density p(x) = (alpha - 1) / xmin * (x / xmin)**-alpha, x >= xmin."""
    return xmin * rng.random(n) ** (-1.0 / (alpha - 1.0))


@pytest.mark.parametrize("n", [2, 3, 10, 11, 257])
@pytest.mark.parametrize("xmin_pos", [2, 3, 1.5])
def test_hill_alpha_equals_the_formula(n, xmin_pos):
    rng = np.random.default_rng(n)
    values = rng.gamma(2.0, size=n) + 1e-3
    if n - int(n / xmin_pos) < 2:  # a one-value tail has no exponent
        with pytest.raises(ValueError, match="tail size k"):
            hill_alpha(values, xmin_pos=xmin_pos)
        return
    want, k, xmin = _loop_hill(values, xmin_pos)
    got = hill_alpha(rng.permutation(values), xmin_pos=xmin_pos)
    assert (got.k, got.xmin) == (k, xmin)
    assert got.alpha == pytest.approx(want, rel=1e-13)


def test_hill_alpha_with_explicit_k_and_its_ks_distance():
    rng = np.random.default_rng(0)
    values = np.sort(rng.lognormal(size=200))
    for k in (2, 7, 100, 200):
        want, _, xmin = _loop_hill(values, k=k)
        fit = hill_alpha(values, k)
        assert fit.alpha == pytest.approx(want, rel=1e-13)
        tail = values[200 - k:]
        D = max(abs(1 - (tail[j] / xmin) ** (1 - want) - j / k) for j in range(k))
        assert fit.D == pytest.approx(D, rel=1e-12)


def test_hill_curve_is_hill_alpha_at_every_k():
    rng = np.random.default_rng(1)
    values = np.concatenate([np.zeros(5), rng.lognormal(size=300)])
    ks, alphas = hill_curve(values)
    assert ks.tolist() == list(range(2, 301))  # xmin = 0 for k > 300
    assert np.allclose(alphas, [hill_alpha(values, int(k)).alpha for k in ks], rtol=1e-12, atol=0)
    ks2, alphas2 = hill_curve(values, ks=[2, 50, 300])
    assert ks2.tolist() == [2, 50, 300] and np.allclose(alphas2, alphas[[0, 48, 298]], rtol=1e-14)


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0])
def test_hill_recovers_the_density_exponent_of_pareto_samples(alpha):
    n, seeds = 20_000, 8
    estimates = [hill_alpha(_pareto(np.random.default_rng(s), n, alpha)).alpha for s in range(seeds)]
    se = (alpha - 1.0) / math.sqrt(n // 2)  # asymptotic standard error at k = n / 2
    assert all(abs(a - alpha) < 4 * se for a in estimates), (estimates, se)
    assert abs(np.mean(estimates) - alpha) < 4 * se / math.sqrt(seeds)


def test_hill_at_the_csn_tail_size_is_the_csn_alpha():
    # The unbounded CSN fit's exponent is the closed-form MLE 1 + n / sum ln(x / xmin) over its
    # tail: the Hill estimate with k = n_tail, to rounding (no ties in continuous samples).
    for seed in range(5):
        values = np.random.default_rng(seed).lognormal(sigma=1.5, size=500)
        fit = fit_powerlaw(values)
        hill = hill_alpha(values, fit.n_tail)
        assert hill.xmin == fit.xmin and hill.alpha == pytest.approx(fit.alpha, rel=1e-12)


def test_hill_and_csn_agree_on_a_pure_power_law():
    # Every sample is in the power-law tail, so both estimate the same exponent; they differ by
    # sampling error only: the CSN tail (KS-optimal xmin) is at least 10% of n here, so the
    # difference is within 4 standard errors of the smaller tail.
    alpha, n = 3.0, 5000
    for seed in range(4):
        values = _pareto(np.random.default_rng(100 + seed), n, alpha)
        fit = fit_powerlaw(values)
        hill = hill_alpha(values)
        assert fit.n_tail >= n // 10
        assert abs(hill.alpha - fit.alpha) < 4 * (alpha - 1) / math.sqrt(fit.n_tail)


@pytest.mark.parametrize("values, match", [
    ([1.0], "at least 2"),
    ([1.0, np.nan], "NaN or Inf"),
    ([-1.0, 2.0], ">= 0"),
    ([0.0, 0.0, 0.0, 1.0], "xmin"),
])
def test_hill_rejects_bad_eigenvalues(values, match):
    with pytest.raises(ValueError, match=match):
        hill_alpha(values)


def test_hill_rejects_bad_tail_sizes():
    with pytest.raises(ValueError, match="tail size k must be in 2..3"):
        hill_alpha([1.0, 2.0, 3.0], k=4)
    with pytest.raises(ValueError, match="xmin_pos must be >= 1"):
        hill_alpha([1.0, 2.0, 3.0], xmin_pos=0.5)
    with pytest.raises(ValueError, match="tail sizes must be in"):
        hill_curve([1.0, 2.0, 3.0], ks=[1, 2])


def test_all_equal_tail_gives_nan():
    assert math.isnan(hill_alpha([1.0, 2.0, 2.0, 2.0]).alpha)


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 3)
        self.depthwise = nn.Conv2d(24, 24, 3, groups=24)
        self.conv2 = nn.Conv2d(24, 12, (1, 2))
        self.fc1 = nn.Linear(40, 70)
        self.fc2 = nn.Linear(70, 9)


def _tempbalance_loop(net: nn.Module) -> list[tuple[str, int, float, float]]:
    """TempBalance's net_esd_estimator (pl_fitting="median", xmin_pos=2, conv_norm=0.5,
    filter_zeros=False), written from its published loop, in float64."""
    out = []
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            matrix = m.weight.data.clone().double()
            if isinstance(m, nn.Conv2d):
                matrix = torch.flatten(matrix, start_dim=2) * math.sqrt(0.5)
                matrix = matrix.transpose(1, 2).transpose(0, 1)
            eigs = torch.square(torch.linalg.svdvals(matrix).flatten())
            eigs, _ = torch.sort(eigs, descending=False)
            log_eigs = torch.log(eigs)
            i = int(len(eigs) / 2)
            n = float(len(eigs) - i)
            alpha = 1 + n / (torch.sum(log_eigs[i:]) - n * log_eigs[i])
            out.append((name, len(eigs), float(alpha), float(eigs[-1])))
    return out


def test_analyze_tempbalance_equals_the_tempbalance_loop():
    torch.manual_seed(0)
    net = _Small()
    details = analyze(net, "tempbalance", estimators=("csn", "hill"))
    reference = _tempbalance_loop(net)
    assert details["layer"].tolist() == [r[0] for r in reference]
    assert details["num_evals"].tolist() == [r[1] for r in reference]
    assert details["num_evals"].tolist() == [9 * 3, 9 * 1, 2 * 12, 40, 9]
    assert np.allclose(details["alpha_hill"], [r[2] for r in reference], rtol=1e-10, atol=0)
    assert np.allclose(details["lambda_max"], [r[3] for r in reference], rtol=1e-10, atol=0)
    assert (details["hill_k"] == details["num_evals"] - details["num_evals"] // 2).all()
    assert details["status"].eq("ok").all() and details["alpha"].notna().all()


def test_tempbalance_skips_conv1d_as_their_loop():
    net = nn.Sequential(nn.Conv1d(8, 16, 3), nn.Flatten(), nn.Linear(16, 12))
    details = analyze(net, "tempbalance", estimators=("hill",))
    assert details["layer"].tolist() == [r[0] for r in _tempbalance_loop(net)] == ["2"]
    assert [s["layer"] for s in details.attrs["skipped"]] == ["0"]


def test_estimators_option_keeps_the_default_table_and_adds_columns():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(60, 80), nn.ReLU(), nn.Linear(80, 70))
    default = analyze(net)
    both = analyze(net, estimators=("csn", "hill"))
    assert default.columns.tolist() == DETAIL_COLUMNS and "estimators" not in default.attrs
    assert both.columns.tolist() == DETAIL_COLUMNS + ESTIMATOR_COLUMNS["hill"]
    assert both.attrs["estimators"] == ["csn", "hill"]
    assert both[DETAIL_COLUMNS].equals(default)
    # sdm2020 drops the smallest eigenvalue: Hill sees the same ESD as the fit
    assert both["hill_k"].tolist() == [59 - 59 // 2, 69 - 69 // 2]
    hill_only = analyze(net, estimators=("hill",))
    assert hill_only["alpha"].isna().all() and hill_only["alpha_hill"].equals(both["alpha_hill"])
    summary = summarize(both)
    assert summary["alpha_hill_mean"] == pytest.approx(both["alpha_hill"].mean())
    assert summary.drop("alpha_hill_mean").equals(summarize(default))


@pytest.mark.parametrize("estimators, match", [
    ("hill", "not the string"), ((), "empty"), (("csn", "hil"), "unknown"),
])
def test_estimators_option_rejects_bad_names(estimators, match):
    with pytest.raises(ValueError, match=match):
        analyze(nn.Linear(5, 5), estimators=estimators)


def test_glossary_defines_every_estimator_column():
    text = GLOSSARY.read_text().split("## Estimators", 1)[1].split("\n## ", 1)[0]
    defined = {name for row in re.findall(r"^\| (.+?) \|", text, flags=re.M)
               for name in re.findall(r"`([^`]+)`", row)}
    wanted = {c for cols in ESTIMATOR_COLUMNS.values() for c in cols} | set(ESTIMATOR_SUMMARY.values())
    assert wanted <= defined


def test_cache_keys_entries_by_estimators(tmp_path):
    from htsr_utils.paper.cache import analyze_cached

    torch.manual_seed(2)
    checkpoint = tmp_path / "net.pt"
    torch.save(_Small().state_dict(), checkpoint)
    results = tmp_path / "results"
    both = analyze_cached(str(checkpoint), convention="tempbalance", results_dir=results,
                          estimators=("csn", "hill"))
    again = analyze_cached(str(checkpoint), convention="tempbalance", results_dir=results,
                           estimators=("csn", "hill"))
    default = analyze_cached(str(checkpoint), convention="tempbalance", results_dir=results)
    assert sorted(p.name.split("__", 1)[1] for p in results.glob("*.csv")) == \
        ["tempbalance.csv", "tempbalance__csn+hill.csv"]
    assert again["alpha_hill"].tolist() == both["alpha_hill"].tolist()
    assert "alpha_hill" not in default.columns
    assert default.equals(both[default.columns])
