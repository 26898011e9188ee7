"""The truncated power-law MLE is not capped, and round-off is not fitted."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from torch import nn

from htsr_utils import analyze_with_esds, fit_eigenvalues, fit_powerlaw


def _truncated_score(beta: float, tail: np.ndarray, xmin: float, xmax: float) -> float:
    """d/d beta of the mean log-likelihood of p(x) ~ x^-(1+beta) on [xmin, xmax]."""
    t = np.log(xmax / xmin)
    return 1.0 / beta - t / np.expm1(beta * t) - np.mean(np.log(tail / xmin))


def test_truncated_mle_solves_the_likelihood_equation_even_for_steep_tails():
    rng = np.random.default_rng(0)
    # a very steep tail just above 1 (alpha ~ 1438), truncated at xmax = 1000 x xmin
    x = np.sort(np.exp(rng.exponential(1 / 1437.4, 200)))
    fit = fit_powerlaw(x, xmax=1000.0, likelihood="truncated", keep_candidates=True)
    for k in (0, 1, 2, 50):  # candidates xmin = x[k] (distinct values)
        xmin = fit.candidates["xmin"][k]
        tail = x[x >= xmin]
        expected = 1.0 + brentq(_truncated_score, 1e-9, 1e7, args=(tail, xmin, 1000.0), xtol=1e-12)
        assert fit.candidates["alpha"][k] == pytest.approx(expected, rel=1e-8)
    assert fit.candidates["alpha"].max() > 1000  # capped at 1 + 2000 / ln(1000) = 290.5 before


def test_constant_rank_one_matrix_is_not_fitted_on_round_off():
    layer = nn.Linear(100, 100)
    nn.init.constant_(layer.weight, 0.37)
    for convention, scale in (("sdm2020", 1.0), ("natcomm2021", 0.5)):  # Linear: W sqrt(1/2)
        details, esds = analyze_with_esds(nn.Sequential(layer), convention)
        assert details.loc[0, "status"] == "rank_deficient"
        assert np.isnan(details.loc[0, "alpha"])
        assert details.loc[0, "n_fit"] == fit_eigenvalues(esds[0], convention).size == 1
        assert details.loc[0, "lambda_max"] == pytest.approx(scale * 100 * 100 * 0.37**2, rel=1e-6)


def test_low_rank_plus_noise_and_full_rank_matrices_keep_every_eigenvalue():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((120, 100))  # full rank: smallest/largest ~ 1e-3, far above eps
    esd = np.linalg.eigvalsh(w.T @ w)
    assert fit_eigenvalues(esd[1:], "sdm2020").size == 99
