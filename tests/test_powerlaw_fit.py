"""The power-law fit against closed-form truth and against powerlaw 1.5."""

from __future__ import annotations

import numpy as np
import pytest

from htsr_utils import esd, fit_powerlaw

TRUE_ALPHAS = [2.0, 2.5, 3.0, 4.0, 5.0]


def pareto(alpha: float, n: int, seed: int, xmin: float = 1.0) -> np.ndarray:
    """Exact Pareto sample by inversion: P(X > x) = (x / xmin)^(1 - alpha)."""
    u = np.random.default_rng(seed).random(n)
    return xmin * (1.0 - u) ** (-1.0 / (alpha - 1.0))


def truncated_pareto(alpha: float, n: int, seed: int, xmin: float, xmax: float) -> np.ndarray:
    """Exact sample of a power law truncated to [xmin, xmax], by inversion."""
    u = np.random.default_rng(seed).random(n)
    a, b = xmin ** (1 - alpha), xmax ** (1 - alpha)
    return (a - u * (a - b)) ** (1.0 / (1 - alpha))


def bulk_and_tail(alpha: float, seed: int) -> np.ndarray:
    """A Marchenko-Pastur-like bulk below a Pareto tail, like a trained layer's ESD."""
    rng = np.random.default_rng(seed)
    bulk = rng.uniform(0.05, 1.0, 600)
    return np.concatenate([bulk, pareto(alpha, 400, seed + 1)])


@pytest.mark.parametrize("alpha", TRUE_ALPHAS)
@pytest.mark.parametrize("bounded", [False, True])
def test_recovers_known_exponent_within_two_sigma(alpha, bounded):
    x = pareto(alpha, 4096, seed=int(alpha * 10))
    fit = fit_powerlaw(x, xmax="lambda_max" if bounded else None)
    assert fit.status == "ok"
    assert abs(fit.alpha - alpha) <= 2 * fit.sigma, (fit.alpha, fit.sigma)


@pytest.mark.parametrize("alpha", [1.5, 2.5, 4.0])
def test_truncated_likelihood_recovers_truncated_law(alpha):
    """On a sample bounded at 10 xmin the truncated MLE is right and the closed form is not."""
    x = truncated_pareto(alpha, 20000, seed=3, xmin=1.0, xmax=10.0)
    truncated = fit_powerlaw(x, xmax=10.0, likelihood="truncated")
    untruncated = fit_powerlaw(x, xmax=10.0)
    assert abs(truncated.alpha - alpha) <= 3 * truncated.sigma
    assert abs(untruncated.alpha - alpha) > abs(truncated.alpha - alpha)


def _assert_same_fit(ours, theirs):
    assert ours.xmin == pytest.approx(theirs.xmin, rel=1e-12)
    assert abs(ours.alpha - theirs.alpha) <= 1e-8
    assert ours.D == pytest.approx(theirs.D, rel=1e-8, abs=1e-12)
    assert ours.n_tail == int(theirs.n_tail)
    assert ours.sigma == pytest.approx(theirs.sigma, rel=1e-8)


@pytest.mark.parametrize("alpha", TRUE_ALPHAS)
def test_matches_powerlaw_15_on_synthetic(alpha, reference_powerlaw):
    x = bulk_and_tail(alpha, seed=int(alpha * 7))
    _assert_same_fit(fit_powerlaw(x), reference_powerlaw(x))
    _assert_same_fit(fit_powerlaw(x, xmax="lambda_max"), reference_powerlaw(x, xmax=x.max()))


def test_matches_powerlaw_15_with_ties(reference_powerlaw):
    """Repeated values: powerlaw's empirical CDF counts strictly smaller values."""
    x = np.round(pareto(2.5, 800, seed=5) * 4) / 4
    _assert_same_fit(fit_powerlaw(x), reference_powerlaw(x))
    _assert_same_fit(fit_powerlaw(x, xmax="lambda_max"), reference_powerlaw(x, xmax=x.max()))


def test_matches_powerlaw_15_on_real_minilm_esds(minilm_state_dict, reference_powerlaw):
    """ESDs of real trained transformer weights, bounded fit as in the SDM 2020 convention."""
    names = [k for k, v in minilm_state_dict.items() if v.ndim == 2 and "embeddings" not in k]
    assert len(names) >= 36
    for name in names[::3]:
        evals = esd(minilm_state_dict[name].numpy())[1:]
        _assert_same_fit(fit_powerlaw(evals, xmax="lambda_max"), reference_powerlaw(evals, xmax=evals.max()))
        _assert_same_fit(fit_powerlaw(evals), reference_powerlaw(evals))


@pytest.mark.parametrize("seed", range(20))
def test_branch_and_bound_equals_exhaustive_argmin(seed):
    rng = np.random.default_rng(seed)
    x = bulk_and_tail(rng.uniform(2, 5), seed)
    if seed % 3 == 0:
        x = np.round(x, 1) + 0.1  # many ties
    for xmax in (None, "lambda_max"):
        fast = fit_powerlaw(x, xmax=xmax)
        full = fit_powerlaw(x, xmax=xmax, keep_candidates=True)
        best = int(np.argmin(full.candidates["D"]))
        assert fast.xmin == full.candidates["xmin"][best] == full.xmin
        assert fast.D == full.candidates["D"][best]


def test_too_few_values_is_a_status_not_a_crash():
    fit = fit_powerlaw(np.array([0.0, 1.0, 1.0]))
    assert fit.status == "too_few_values"
    assert np.isnan(fit.alpha)


def test_non_finite_input_is_rejected():
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit_powerlaw(np.array([1.0, np.nan, 2.0]))


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="xmax"):
        fit_powerlaw(pareto(2.0, 100, 0), xmax="largest")
    with pytest.raises(ValueError, match="likelihood"):
        fit_powerlaw(pareto(2.0, 100, 0), xmax="lambda_max", likelihood="bounded")
