"""What the figures hold (every eigenvalue, the fit line, every model), and that they are written atomically."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

from htsr_utils import fit_eigenvalues, fit_powerlaw, get_convention  # noqa: E402
from htsr_utils.engine.random_matrix import marchenko_pastur_pdf  # noqa: E402
from htsr_utils.models.registry import get_spec, list_models  # noqa: E402
from htsr_utils.paper.figures import (  # noqa: E402
    FAMILY_STYLES,
    family_style,
    plot_esd,
    plot_esd_vs_mp,
    plot_ks_candidates,
    plot_metric_vs_accuracy,
    plot_parity,
    plot_score_heatmap,
    plot_series_facets,
    save_figure,
    weights_label,
)
from htsr_utils.paper.regression import group_regressions, ols_fit  # noqa: E402


def _summary(weights: str = "random") -> pd.DataFrame:
    return pd.DataFrame({
        "family": ["VGG", "VGG", "VGG", "VGG", "ResNet"],
        "alpha_hat": [1.84, 1.60, 1.70, 1.45, 0.9],
        "alpha_hat_star": [1.7, 1.5, 1.6, 1.3, 0.8],
        "top1": [68.97, 70.45, 69.9, 71.6, 70.1],
        "weights": weights, "convention": "sdm2020",
    }, index=pd.Index(["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "resnet18"], name="model"))


def _png_ok(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_zoo_family_has_a_style():
    families = {get_spec(m).family for m in list_models()}
    assert families <= set(FAMILY_STYLES)
    styles = [(s["color"], s["marker"]) for s in FAMILY_STYLES.values()]
    assert len(set(styles)) == len(styles)
    assert family_style("no such family")["color"]


def test_save_figure_writes_png_and_pdf_atomically(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    written = save_figure(fig, tmp_path / "sub" / "deeper" / "figure.png")
    assert [p.name for p in written] == ["figure.png", "figure.pdf"]
    assert _png_ok(written[0])
    assert written[1].read_bytes().startswith(b"%PDF")
    assert sorted(os.listdir(tmp_path / "sub" / "deeper")) == ["figure.pdf", "figure.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_save_figure_failure_leaves_no_temp_file_and_keeps_old(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, tmp_path / "f")
    before = (tmp_path / "f.png").read_bytes()

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.set_title("$\\undefinedmacro$")  # mathtext error at draw time
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "f")
    assert sorted(os.listdir(tmp_path)) == ["f.pdf", "f.png"]
    assert (tmp_path / "f.png").read_bytes() == before
    assert not plt.fignum_exists(fig.number)


def _histogram(ax) -> tuple[np.ndarray, np.ndarray]:
    """(densities, edges) of the ESD histogram drawn by plot_esd."""
    (patch,) = [p for p in ax.patches if isinstance(p, StepPatch)]
    values, edges, _ = patch.get_data()
    return np.asarray(values), np.asarray(edges)


def test_plot_esd_counts_every_eigenvalue():
    # Before the fix, log-spaced edges rounded inward lost lambda_max or lambda_min in most samples.
    rng = np.random.default_rng(0)
    for _ in range(200):
        evals = rng.lognormal(0.0, 2.0, int(rng.integers(20, 400)))
        ax = plot_esd(evals, bins=int(rng.integers(5, 80)))
        density, edges = _histogram(ax)
        counts = density * np.diff(edges) * evals.size
        assert edges[0] <= evals.min() and edges[-1] >= evals.max()
        assert counts.sum() == pytest.approx(evals.size)
        np.testing.assert_allclose(counts, np.histogram(evals, edges)[0], atol=1e-9)
        plt.close(ax.figure)


def test_plot_esd_shows_the_eigenvalues_the_fit_saw():
    rng = np.random.default_rng(3)
    conv = get_convention("ww")
    evals = np.concatenate([np.full(20, conv.eval_floor / 10), rng.lognormal(0.0, 1.0, 300)])
    seen = fit_eigenvalues(evals, conv.name)
    assert 0 < seen.size < evals.size
    density, edges = _histogram(plot_esd(evals, convention=conv.name))
    assert (density * np.diff(edges)).sum() * seen.size == pytest.approx(seen.size)
    assert edges[0] == seen.min() and edges[-1] == seen.max()
    plt.close("all")


def test_plot_esd_fit_line_has_the_fitted_slope_and_mass(tmp_path):
    rng = np.random.default_rng(0)
    evals = (1 - rng.random(2000)) ** (-1 / 1.5)  # Pareto, density exponent 2.5
    fit = fit_powerlaw(evals, xmax="lambda_max")
    ax = plot_esd(evals, fit, title="Pareto sample", weights="random")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "λ" in ax.get_xlabel() and "density" in ax.get_ylabel()
    assert "random-init weights" in ax.get_title()
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("power-law fit")]
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    assert x[0] == pytest.approx(fit.xmin) and x[-1] == pytest.approx(evals.max())
    slope = np.polyfit(np.log(x), np.log(y), 1)[0]  # a straight line of slope -alpha in log-log
    assert slope == pytest.approx(-fit.alpha, rel=1e-9)
    tail = np.count_nonzero(evals >= fit.xmin) / evals.size  # the line carries the tail's mass
    assert np.trapezoid(y, x) == pytest.approx(tail, rel=0.02)
    (xmin_line,) = [ln for ln in ax.get_lines() if "x_{min}" in ln.get_label()]
    assert xmin_line.get_xdata()[0] == pytest.approx(fit.xmin)
    assert _png_ok(save_figure(ax.figure, tmp_path / "esd")[0])


def test_plot_esd_without_fit_and_mp_and_candidates(tmp_path):
    rng = np.random.default_rng(1)
    n, m = 400, 200
    w = rng.normal(0, 1 / np.sqrt(n), (n, m))
    evals = np.linalg.eigvalsh(w.T @ w)
    ax = plot_esd(evals)
    assert not [ln for ln in ax.get_lines()]  # no fit, no line
    fig, axes = plt.subplots(1, 2)
    plot_esd_vs_mp(evals, q=m / n, ax=axes[0])
    fit = fit_powerlaw(evals, xmax="lambda_max", keep_candidates=True)
    plot_ks_candidates(fit, ax=axes[1])
    assert axes[1].get_lines()[0].get_xdata().size == len(fit.candidates["xmin"])
    assert _png_ok(save_figure(fig, tmp_path / "mp")[0])
    plt.close("all")
    with pytest.raises(ValueError):
        plot_ks_candidates(fit_powerlaw(evals))


def test_marchenko_pastur_density_integrates_to_one():
    q = 0.5
    x = np.linspace(0, 3.5, 200001)
    density = marchenko_pastur_pdf(x, q)
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=2e-3)
    assert density[x > (1 + np.sqrt(q)) ** 2].max() == 0


def test_metric_vs_accuracy_legend_pairs_and_title(tmp_path):
    fig, ax = plt.subplots()
    plot_metric_vs_accuracy(_summary(), "alpha_hat", ax, link_pairs=[("vgg11", "vgg11_bn"), ("vgg13", "vgg13_bn")])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "VGG" in labels and "ResNet" in labels
    assert "vgg11 – vgg11_bn" in labels and "vgg13 – vgg13_bn" in labels
    assert "random-init weights" in ax.get_title() and "sdm2020" in ax.get_title()
    assert "accuracy" in ax.get_ylabel()
    shown = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(shown) == len(_summary())  # every model is a point
    assert _png_ok(save_figure(fig, tmp_path / "acc")[0])


def test_metric_vs_accuracy_fit_line_is_the_ols_line():
    summary = _summary()
    fig, ax = plt.subplots()
    plot_metric_vs_accuracy(summary, "alpha_hat", ax, fit_line=True)
    vgg = summary[summary["family"] == "VGG"]
    fit = ols_fit(vgg["alpha_hat"], vgg["top1"])
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("VGG: OLS")]
    x, y = line.get_data()
    np.testing.assert_allclose(y, fit["slope"] * np.asarray(x) + fit["intercept"])
    assert x[0] == vgg["alpha_hat"].min() and x[-1] == vgg["alpha_hat"].max()
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("ResNet")]  # one model: no line
    plt.close(fig)


def test_metric_vs_accuracy_pretrained_title_and_empty():
    fig, ax = plt.subplots()
    plot_metric_vs_accuracy(_summary("pretrained"), "alpha_hat", ax)
    assert "random" not in ax.get_title() and "pretrained weights" in ax.get_title()
    empty = _summary().iloc[0:0]
    fig2, ax2 = plt.subplots()
    plot_metric_vs_accuracy(empty, "alpha_hat", ax2, weights="pretrained")
    assert any("no model" in t.get_text() for t in ax2.texts)
    plt.close("all")


def test_parity_plot(tmp_path):
    computed = pd.Series({"vgg11": 1.8, "vgg13": 1.7, "resnet18": np.nan})
    published = pd.Series({"vgg11": 1.84, "vgg13": 1.65, "vgg16": 1.5})
    fig, ax = plt.subplots()
    plot_parity(computed, published, ax, weights="random", convention="sdm2020")
    assert len(ax.collections[0].get_offsets()) == 2  # only models with both values
    assert "published" in ax.get_ylabel() and "random-init weights" in ax.get_title()
    assert any(t.get_label() == "y = x" for t in ax.get_lines())
    assert _png_ok(save_figure(fig, tmp_path / "parity")[0])


def test_score_heatmap_cells_are_the_scores():
    summary = _summary().assign(series=["VGG", "VGG", "VGG", "VGG", "ResNet"])
    table = group_regressions(summary, ["alpha_hat", "alpha_hat_star"], by="series")
    fig, ax = plt.subplots()
    plot_score_heatmap(table, "kendall_tau", ax, weights="random", convention="sdm2020")
    cells = [t.get_text() for t in ax.texts if t.get_text()]
    expected = table["kendall_tau"].map(lambda v: "n/a: n < 3" if np.isnan(v) else f"{v:+.2f}").tolist()
    assert sorted(cells) == sorted(expected)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["VGG (n = 4)", "ResNet (n = 1)"]
    assert "random-init weights" in ax.get_title()
    plt.close(fig)


def test_weights_label():
    assert weights_label("random") == "random-init weights"
    assert weights_label("pretrained") == "pretrained weights"
    assert weights_label("/x/y/model.pth") == "weights from model.pth"


def test_series_facets_one_panel_per_series_every_model_and_the_ols_line(tmp_path):
    summary = _summary().assign(series=["VGG", "VGG", "VGG", "VGG", "ResNet"])
    grid = plot_series_facets(summary, "alpha_hat", weights="random", convention="sdm2020")
    axes = list(grid.axes.flat)
    assert [ax.get_title().split(" (")[0] for ax in axes] == ["VGG", "ResNet"]
    assert [len(ax.collections[0].get_offsets()) for ax in axes] == [4, 1]
    vgg = summary[summary["series"] == "VGG"]
    fit = ols_fit(vgg["alpha_hat"], vgg["top1"])
    (line,) = axes[0].get_lines()
    x, y = line.get_data()
    np.testing.assert_allclose(y, fit["slope"] * np.asarray(x) + fit["intercept"])
    assert f"τ = {fit['kendall_tau']:+.2f}" in axes[0].get_title()
    assert not axes[1].get_lines()  # one model: no line
    assert "random-init weights" in grid.figure._suptitle.get_text()
    assert _png_ok(save_figure(grid.figure, tmp_path / "facets")[0])
