"""The power-law / norm relation (htsr_utils.paper.pl_norm) against quadrature and sampling."""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from htsr_utils.paper.pl_norm import (
    MAX_IDENTITY_RMS,
    draft_log_norm,
    jensen_gap,
    log_integral,
    power_integral,
    powerlaw_mean,
    published_matrices,
    relation_table,
)


@pytest.mark.parametrize("p", [-3.5, -2.0, -1.0, -0.5, 0.0, 1.7])
def test_power_integral_matches_quadrature(p):
    a, b = 0.3, 40.0
    expected, _ = integrate.quad(lambda t: t**p, a, b)
    assert power_integral(p, a, b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0, 2.5, 4.0, 7.0])
def test_powerlaw_mean_matches_quadrature_of_the_normalized_density(alpha):
    lo, hi = 0.05, 300.0
    norm, _ = integrate.quad(lambda t: t**-alpha, lo, hi, limit=200)
    first, _ = integrate.quad(lambda t: t ** (1 - alpha), lo, hi, limit=200)
    assert powerlaw_mean(alpha, lo, hi) == pytest.approx(first / norm, rel=1e-8)


def test_powerlaw_mean_is_the_mean_of_samples_drawn_from_the_density():
    # Inverse-CDF sampling of rho ~ lambda^-alpha on [lo, hi]: an independent route to E[lambda].
    alpha, lo, hi = 2.5, 1.0, 1e3
    u = np.random.default_rng(0).uniform(size=400_000)
    samples = (lo ** (1 - alpha) - u * (lo ** (1 - alpha) - hi ** (1 - alpha))) ** (1 / (1 - alpha))
    assert samples.min() >= lo and samples.max() <= hi
    assert powerlaw_mean(alpha, lo, hi) == pytest.approx(samples.mean(), rel=0.01)


def test_log_integral_matches_quadrature_and_its_zero_limit():
    expected, _ = integrate.quad(np.log, 0.2, 50.0)
    assert log_integral(0.2, 50.0) == pytest.approx(expected, rel=1e-10)
    from_zero, _ = integrate.quad(np.log, 0.0, 50.0)
    assert log_integral(0.0, 50.0) == pytest.approx(from_zero, rel=1e-8)
    assert log_integral(0.0, 50.0) == pytest.approx(50.0 * (np.log(50.0) - 1.0))


def test_draft_log_norm_is_the_drafts_formula_and_undefined_below_e():
    alpha, lmax = np.array([3.0, 2.0]), np.array([100.0, 2.0])
    out = draft_log_norm(alpha, lmax)
    assert out[0] == pytest.approx(np.sqrt(100.0 * (np.log(100.0) - 1.0) * 2.0))
    assert np.isnan(out[1])  # b < 0 for lambda_max < e: no real square root


@pytest.mark.parametrize("alpha", [1.5, 2.0, 3.0, 5.0])
def test_jensen_gap_matches_quadrature_and_is_positive(alpha):
    lo, hi = 0.1, 20.0
    length = hi - lo
    mean_f, _ = integrate.quad(lambda t: t ** (1 - alpha), lo, hi, limit=200)
    mean_log_f, _ = integrate.quad(lambda t: (1 - alpha) * np.log(t), lo, hi, limit=200)
    expected = np.log(mean_f / length) - mean_log_f / length
    assert jensen_gap(alpha, lo, hi) == pytest.approx(expected, rel=1e-8)
    assert expected > 0


def test_jensen_gap_vanishes_for_a_constant_integrand():
    assert jensen_gap(1.0, 0.1, 20.0) == pytest.approx(0.0, abs=1e-12)


def test_relation_table_tells_an_identity_from_a_steeper_line():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 4, 300)
    table = pd.DataFrame({"x": np.concatenate([x, x]),
                          "y": np.concatenate([x + rng.normal(0, 0.05, 300), 2.0 * x - 1.0]),
                          "group": ["identity"] * 300 + ["steep"] * 300})
    table.loc[0, "y"] = np.nan  # left out, not propagated
    out = relation_table(table, "x", "y", by="group").set_index("group")
    assert list(out.index) == ["identity", "steep", "all"]
    assert out.loc["identity", "n"] == 299
    assert out.loc["identity", "slope"] == pytest.approx(1.0, abs=0.02)
    assert out.loc["identity", "identity_rms"] == pytest.approx(0.05, abs=0.01)
    assert bool(out.loc["identity", "holds"])
    steep_rms = np.sqrt(np.mean((x - 1.0) ** 2))
    assert out.loc["steep", "identity_rms"] == pytest.approx(steep_rms)
    assert out.loc["steep", "slope"] == pytest.approx(2.0) and out.loc["steep", "r2"] == pytest.approx(1.0)
    assert steep_rms > MAX_IDENTITY_RMS and not bool(out.loc["steep", "holds"])
    assert not bool(out.loc["all", "holds"])


def test_relation_table_gives_no_verdict_on_two_points():
    table = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0], "group": ["a", "a"]})
    assert not relation_table(table, "x", "y", by="group")["holds"].any()


def test_published_matrices_read_norm_and_largest_eigenvalue_as_the_files_define_them():
    from htsr_utils.storage import paths

    table = published_matrices()
    vgg16 = table[table["model"] == "vgg16"]
    assert len(vgg16) == 111  # the published N_alpha of VGG16
    raw = pd.read_csv(paths.data_dir() / "sources" / "ww-trends-2020" / "data" / "vgg16.csv")
    raw = raw[raw["level"] == "LEVEL.SLICE"].reset_index(drop=True)
    # The file's own stable rank is ||W||_F^2 / lambda_max: it confirms which column is which.
    stable_rank = 10 ** vgg16["log_norm_sq"].to_numpy() / vgg16["lambda_max"].to_numpy()
    assert np.allclose(stable_rank, raw["stable_rank"], rtol=1e-4)
    assert np.allclose(vgg16["alpha_weighted"], raw["alpha_weighted"], rtol=1e-3)
