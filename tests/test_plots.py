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
    METRIC_LABELS,
    family_style,
    figure_title,
    group_style,
    plot_esd,
    plot_metric_vs_accuracy,
    plot_metrics_vs_accuracy,
    plot_parity,
    save_figure,
    show_and_save,
    weights_label,
)
from htsr_utils.paper.regression import MIN_GROUP_SIZE, group_regressions  # noqa: E402
from htsr_utils.storage import paths  # noqa: E402


def _summary(weights: str = "random") -> pd.DataFrame:
    return pd.DataFrame({
        "family": ["VGG", "VGG", "VGG", "VGG", "ResNet"],
        "alpha_hat": [1.84, 1.60, 1.70, 1.45, 0.9],
        "alpha_hat_star": [1.7, 1.5, 1.6, 1.3, 0.8],
        "log_norm": [0.95, 0.89, 0.86, 0.79, 0.6],
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


def test_group_style_of_series_and_other_groups():
    assert group_style("ResNet") == family_style("ResNet")
    assert group_style("ResNet (torchvision)") == family_style("ResNet")
    darker = group_style("ResNet (pytorchcv)")
    assert darker["marker"] == family_style("ResNet")["marker"] and darker["color"] != family_style("ResNet")["color"]
    assert group_style("mnist", 0)["color"] != group_style("mnist1d", 1)["color"]
    assert group_style(None)["color"]


def test_figure_title_names_the_convention_and_weights():
    assert figure_title("Figure 1") == "Figure 1"
    assert figure_title("Figure 1", "random", "sdm2020") == "Figure 1\n(sdm2020, random-init weights)"


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
    # Log-spaced edges rounded inward would lose lambda_max or lambda_min in most samples.
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


def test_plot_esd_without_fit(tmp_path):
    rng = np.random.default_rng(1)
    n, m = 400, 200
    w = rng.normal(0, 1 / np.sqrt(n), (n, m))
    ax = plot_esd(np.linalg.eigvalsh(w.T @ w))
    assert not [ln for ln in ax.get_lines()]  # no fit, no line
    assert _png_ok(save_figure(ax.figure, tmp_path / "mp")[0])


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


def test_metric_vs_accuracy_draws_the_lines_of_the_regression_table():
    summary = _summary()
    fits = group_regressions(summary, ["alpha_hat", "alpha_hat_star"], by="family", min_n=1)
    fig, ax = plt.subplots()
    plot_metric_vs_accuracy(summary, "alpha_hat", ax, fits=fits)
    (row,) = fits[(fits["family"] == "VGG") & (fits["metric"] == "alpha_hat")].itertuples()
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("VGG: OLS")]
    x, y = line.get_data()
    np.testing.assert_allclose(y, row.slope * np.asarray(x) + row.intercept)
    assert f"τ = {row.kendall_tau:+.2f}" in line.get_label()
    vgg = summary[summary["family"] == "VGG"]
    assert x[0] == vgg["alpha_hat"].min() and x[-1] == vgg["alpha_hat"].max()
    # ResNet has one model: its row exists (min_n=1) but is below MIN_GROUP_SIZE, so no line.
    assert (fits.loc[fits["family"] == "ResNet", "n"] < MIN_GROUP_SIZE).all()
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("ResNet")]
    plt.close(fig)


def test_metric_vs_accuracy_draws_no_line_without_a_table_or_of_another_grouping():
    summary = _summary()
    ax = plot_metric_vs_accuracy(summary, "alpha_hat")
    assert not ax.get_lines()
    with pytest.raises(KeyError, match="by='family'"):
        plot_metric_vs_accuracy(summary, "alpha_hat", fits=group_regressions(
            summary.assign(series="all"), ["alpha_hat"], by="series"))
    plt.close("all")


def test_metric_vs_accuracy_pretrained_title_and_empty():
    fig, ax = plt.subplots()
    plot_metric_vs_accuracy(_summary("pretrained"), "alpha_hat", ax)
    assert "random" not in ax.get_title() and "pretrained weights" in ax.get_title()
    empty = _summary().iloc[0:0]
    fig2, ax2 = plt.subplots()
    plot_metric_vs_accuracy(empty, "alpha_hat", ax2, weights="pretrained")
    assert any("no model" in t.get_text() for t in ax2.texts)
    plt.close("all")


def test_log_norm_panel_beside_alpha_hat_panel_from_the_same_table(tmp_path):
    summary = _summary().assign(log_norm=[0.95, 0.89, np.nan, 0.79, 0.6])  # vgg13: no log norm
    fits = group_regressions(summary, ["log_norm", "alpha_hat"], by="family")
    fig = plot_metrics_vs_accuracy(summary, ["log_norm", "alpha_hat"], [("vgg11", "vgg11_bn")], fits=fits,
                                   title="Figure 1: VGG")
    log_ax, alpha_ax = fig.axes
    for ax, metric, letter in ((log_ax, "log_norm", "a"), (alpha_ax, "alpha_hat", "b")):
        rows = summary.dropna(subset=[metric, "top1"])
        points = np.vstack([c.get_offsets() for c in ax.collections])  # every model with both values
        np.testing.assert_allclose(sorted(map(tuple, points)), sorted(zip(rows[metric], rows["top1"])))
        assert ax.get_xlabel() == METRIC_LABELS[metric]
        assert ax.get_title().startswith(f"({letter}) top-1 accuracy vs")
        (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("VGG: OLS")]
        (row,) = fits[(fits["family"] == "VGG") & (fits["metric"] == metric)].itertuples()
        np.testing.assert_allclose(line.get_ydata(), row.slope * np.asarray(line.get_xdata()) + row.intercept)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert {"VGG", "ResNet", "vgg11 – vgg11_bn"} <= set(labels)
    assert len(np.vstack([c.get_offsets() for c in log_ax.collections])) == 4
    assert len(np.vstack([c.get_offsets() for c in alpha_ax.collections])) == 5
    assert "(%)" in log_ax.get_ylabel() and alpha_ax.get_ylabel() == ""
    assert log_ax.get_ylim() == alpha_ax.get_ylim()  # one accuracy axis: a model at the same height
    title = fig.get_suptitle()
    assert title.startswith("Figure 1: VGG") and "random-init weights" in title and "sdm2020" in title
    assert "random-init" not in log_ax.get_title()  # said once, in the figure's title
    assert _png_ok(save_figure(fig, tmp_path / "two_panels")[0])
    with pytest.raises(ValueError, match="at least one metric"):
        plot_metrics_vs_accuracy(summary, [])


def test_parity_plot(tmp_path):
    summary = pd.DataFrame({"alpha_hat": [1.8, 1.7, np.nan, np.nan], "alpha_hat_published": [1.84, 1.65, 1.5, np.nan],
                            "series": ["VGG", "VGG", "ResNet", "ResNet"], "weights": "random", "convention": "sdm2020"},
                           index=pd.Index(["vgg11", "vgg13", "vgg16", "resnet18"], name="model"))
    fig, ax = plt.subplots()
    plot_parity(summary, ax=ax)
    assert len(ax.collections[0].get_offsets()) == 2  # only models with both values
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[1.8, 1.84], [1.7, 1.65]])
    assert "published" in ax.get_ylabel() and "random-init weights" in ax.get_title() and "sdm2020" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["VGG", "y = x"]
    assert _png_ok(save_figure(fig, tmp_path / "parity")[0])
    empty = plot_parity(summary.iloc[2:])
    assert any("no model" in t.get_text() for t in empty.texts)
    plt.close("all")


def test_weights_label():
    assert weights_label("random") == "random-init weights"
    assert weights_label("pretrained") == "pretrained weights"
    assert weights_label("/x/y/model.pth") == "weights from model.pth"


@pytest.mark.parametrize("what", ["figure", "axes"])
def test_show_and_save_shows_then_writes_and_closes(tmp_path, capsys, what):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    written = show_and_save(fig if what == "figure" else ax, tmp_path / "shown")
    assert "Figure" in capsys.readouterr().out  # outside a notebook, display prints the figure's repr
    assert [p.name for p in written] == ["shown.png", "shown.pdf"] and _png_ok(written[0])
    assert not plt.fignum_exists(fig.number)


def test_the_figures_folder_is_the_parameter_or_the_compendium_figures(tmp_path):
    assert paths.figures_dir(str(tmp_path)) == tmp_path
    assert paths.figures_dir() == paths.figures_dir(None) and paths.figures_dir().name == "figures"
