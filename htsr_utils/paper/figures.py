"""Publication-ready figures with one consistent style per model family.

The figures several notebooks (or the command line and the explorer) draw, and the style
they share; a figure one notebook draws is composed in that notebook, from these pieces.

* :data:`FAMILY_STYLES` - the color and marker of every zoo family (one dict, used everywhere);
  :func:`group_style` - the style of a family, a series (family and library) or any group.
* :data:`METRIC_LABELS`, :data:`EIGENVALUE_LABEL` - axis labels.
* :func:`figure_title` - a title with the convention and the weights analyzed.
* :func:`plot_esd` - log-log histogram of an ESD with the fitted power law from ``xmin``.
* :func:`plot_metric_vs_accuracy` - top-1 accuracy against a metric, by family or series, with
  the OLS lines of a regression table.
* :func:`plot_metrics_vs_accuracy` - the same for several metrics of the same models, one panel
  each, side by side on a shared accuracy axis (the paper's Figures 1-3: log norm beside alpha-hat).
* :func:`plot_parity` - computed against published values, with the line y = x.
* :func:`save_figure` - atomic PNG (150 dpi) + PDF, then the figure is closed;
  :func:`show_and_save` - the same after showing it in the notebook; :func:`show_figure` - a
  saved PNG shown in a notebook.

Titles say which weights were analyzed (:func:`weights_label`): "random-init weights" when
``weights == "random"``, so a figure of an untrained baseline cannot pass for the paper's.
Figures draw statistics computed elsewhere (:mod:`htsr_utils.paper.regression`); they compute none.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..engine.metrics import fit_eigenvalues
from ..storage.fileio import atomic_write
from .regression import MIN_GROUP_SIZE

__all__ = [
    "EIGENVALUE_LABEL", "FAMILY_STYLES", "METRIC_LABELS", "family_style", "figure_title", "group_style",
    "histogram_edges", "plot_esd", "plot_metric_vs_accuracy", "plot_metrics_vs_accuracy", "plot_parity", "save_figure",
    "show_and_save", "show_figure", "weights_label",
]

#: Color and marker of each model family (the ``family`` of :func:`htsr_utils.models.registry.get_spec`).
FAMILY_STYLES: dict[str, dict[str, str]] = {
    "VGG": {"color": "#1f77b4", "marker": "o"},
    "ResNet": {"color": "#d62728", "marker": "s"},
    "DenseNet": {"color": "#2ca02c", "marker": "^"},
    "SqueezeNet": {"color": "#ff7f0e", "marker": "v"},
    "MobileNet": {"color": "#9467bd", "marker": "D"},
    "MobileNetV2": {"color": "#8c564b", "marker": "P"},
    "FD-MobileNet": {"color": "#e377c2", "marker": "X"},
    "ShuffleNetV2": {"color": "#7f7f7f", "marker": "<"},
    "GoogLeNet": {"color": "#bcbd22", "marker": ">"},
    "Inception": {"color": "#17becf", "marker": "h"},
    "ResNeXt": {"color": "#393b79", "marker": "p"},
    "SE-ResNet": {"color": "#637939", "marker": "*"},
    "SE-ResNeXt": {"color": "#8c6d31", "marker": "d"},
    "DPN": {"color": "#843c39", "marker": "H"},
    "MENet": {"color": "#7b4173", "marker": "8"},
    "CondenseNet": {"color": "#6b6ecf", "marker": "o"},
    "WideResNet": {"color": "#b5cf6b", "marker": "s"},
    "AlexNet": {"color": "#e7969c", "marker": "^"},
    "Transformer": {"color": "#9c9ede", "marker": "v"},
}
_FALLBACK_STYLE = {"color": "#333333", "marker": "o"}

#: Colors of linked pairs (e.g. vgg11 / vgg11_bn), in order: blue, orange, green, red, ...
PAIR_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

#: Axis labels of the summary metrics (matplotlib mathtext).
METRIC_LABELS = {
    "alpha_hat": r"$\hat{\alpha}$ = mean of $\alpha\,\log_{10}\lambda_{max}$",
    "alpha_hat_star": r"$\hat{\alpha}^*$ = $\hat{\alpha}$ without the last layer",
    "alpha_mean": r"mean power-law exponent $\alpha$",
    "log_norm": r"$\langle\log_{10}\|W\|_F\rangle$",
    "log_spectral_norm": r"$\langle\log_{10}\lambda_{max}\rangle$",
    "log_alpha_norm": r"$\langle\log_{10}\sum_i\lambda_i^{\alpha}\rangle$",
    "alpha_weighted": r"$\alpha\,\log_{10}\lambda_{max}$",
    "log_norm_sq": r"$\log_{10}\|W\|_F^2$",
    "top1": "reported top-1 accuracy (%)",
}

#: Label of the eigenvalue axis (the ESD is that of X = W^T W, no 1/N unless the convention says).
EIGENVALUE_LABEL = "eigenvalue λ of WᵀW"


def family_style(family: str) -> dict[str, str]:
    """``{"color", "marker"}`` of a family (a neutral dark gray circle if unknown)."""
    return dict(FAMILY_STYLES.get(str(family), _FALLBACK_STYLE))


def group_style(group: object, i: int = 0) -> dict[str, str]:
    """``{"color", "marker"}`` of a group of models (keyword arguments of ``Axes.scatter``).

    Parameters
    ----------
    group : object
        A family (:data:`FAMILY_STYLES`), a series ``"<family> (<library>)"``, any other group
        name, or None.
    i : int, default 0
        The group's position among those drawn, for groups that are not a family.

    Returns
    -------
    dict
        A family or series: the family's style (pytorchcv series in a darker shade); another
        group: the ``i``-th color of tab10 and a circle; None: the neutral style.
    """
    if group is None:
        return dict(_FALLBACK_STYLE)
    family = str(group).split(" (")[0]  # "ResNet (pytorchcv)" -> family "ResNet"
    if family in FAMILY_STYLES:
        style = family_style(family)
        if family != str(group) and "pytorchcv" in str(group):
            style["color"] = _darker(style["color"])  # same marker, darker shade
        return style
    palette = plt.get_cmap("tab10").colors
    return {"color": matplotlib.colors.to_hex(palette[i % len(palette)]), "marker": "o"}


def weights_label(weights: str | os.PathLike | None) -> str:
    """How figures name the weights: "random-init weights", "pretrained weights", ..."""
    if weights is None:
        return ""
    text = os.fspath(weights)
    if text == "random":
        return "random-init weights"
    if text == "pretrained":
        return "pretrained weights"
    return f"weights from {Path(text).name}"


def figure_title(base: str, weights: str | os.PathLike | None = None, convention: str | None = None) -> str:
    """``base``, and on a second line the convention and the weights (:func:`weights_label`)."""
    extra = ", ".join(p for p in (convention, weights_label(weights)) if p)
    return f"{base}\n({extra})" if extra else base


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.5, 4.2)) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def histogram_edges(lo: float, hi: float, *, log: bool, bins: int = 60) -> np.ndarray:
    """Bin edges from exactly ``lo`` to exactly ``hi`` (log-spaced if ``log``).

    With ``np.histogram`` (whose last bin is closed) every value in ``[lo, hi]`` is
    counted, the smallest and the largest included.
    """
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or (log and lo <= 0):
        raise ValueError(f"histogram range [{lo}, {hi}] is not valid{' for log bins' if log else ''}")
    if lo == hi:
        lo, hi = (lo / 1.05, hi * 1.05) if log else (lo - 0.5, hi + 0.5)
    edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
    edges[0], edges[-1] = lo, hi
    return edges


def plot_esd(
    evals: np.ndarray,
    fit: object | None = None,
    ax: Axes | None = None,
    title: str | None = "Empirical spectral density",
    *,
    convention: str | None = None,
    bins: int = 60,
    weights: str | os.PathLike | None = None,
    label: str = "ESD",
    color: str = "#1f77b4",
) -> Axes:
    """Log-log histogram of an ESD, with the fitted power-law density from ``xmin``.

    Parameters
    ----------
    evals : array_like
        Eigenvalues.  With ``convention``, the histogram shows the eigenvalues the fit saw
        (:func:`htsr_utils.engine.metrics.fit_eigenvalues`); without it, every positive finite value
        (a log axis cannot show the others).  Every value shown is counted in one bin.
    fit : PowerLawFit or row, optional
        A fit of these eigenvalues (``alpha``, ``xmin``, ``xmax``).  Its density
        ``p(λ) ∝ λ^-α`` on ``[xmin, xmax]`` is drawn, scaled by the fraction of eigenvalues
        in the tail so that it sits on the histogram; ``xmin`` is marked.
    ax : Axes, optional
        Where to draw (a new figure if omitted).
    title : str, optional
        Axes title; ``weights`` adds e.g. "(random-init weights)".
    convention : str, optional
        Show the eigenvalues the fit saw under this convention.
    bins : int, default 60
        Number of logarithmically spaced bins.
    weights : str, optional
        ``"random"``, ``"pretrained"`` or a path, for the title.
    label, color : str
        Legend label and color of the histogram.

    Returns
    -------
    Axes
        The histogram is a ``StepPatch`` whose values are densities: count in the bin
        divided by (number of eigenvalues shown x bin width).
    """
    ax = _axes(ax)
    x = np.asarray(evals, dtype=float).ravel()
    x = fit_eigenvalues(x, convention) if convention is not None else x
    x = x[np.isfinite(x) & (x > 0)]
    if x.size:
        counts, edges = np.histogram(x, bins=histogram_edges(float(x.min()), float(x.max()), log=True, bins=bins))
        ax.stairs(counts / (x.size * np.diff(edges)), edges, fill=True, color=color, alpha=0.55,
                  label=f"{label} ({x.size} eigenvalues)")
    alpha = getattr(fit, "alpha", np.nan)
    if fit is not None and np.isfinite(alpha) and x.size:
        xmin, xmax = float(fit.xmin), float(fit.xmax)
        upper = xmax if np.isfinite(xmax) else float(x.max())
        grid = np.logspace(np.log10(xmin), np.log10(upper), 100)
        beta = alpha - 1.0
        if np.isfinite(xmax):
            norm = beta / (xmin ** -beta - xmax ** -beta)
        else:
            norm = beta * xmin ** beta
        tail_fraction = np.count_nonzero(x >= xmin) / x.size
        ax.plot(grid, tail_fraction * norm * grid ** -alpha, color="#d62728", lw=2,
                label=f"power-law fit: α = {alpha:.2f}")
        ax.axvline(xmin, color="#d62728", ls="--", lw=1, label=f"$x_{{min}}$ = {xmin:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(EIGENVALUE_LABEL)
    ax.set_ylabel("density (1 / unit of λ)")
    if title:
        ax.set_title(figure_title(title, weights))
    ax.legend(fontsize="small", loc="lower left")
    return ax


def plot_metric_vs_accuracy(
    summary: pd.DataFrame,
    metric: str,
    ax: Axes | None = None,
    link_pairs: Iterable[tuple[str, str]] | None = None,
    *,
    accuracy: str = "top1",
    by: str = "family",
    title: str | None = None,
    weights: str | os.PathLike | None = None,
    convention: str | None = None,
    annotate: bool = True,
    fits: pd.DataFrame | None = None,
    run_in_title: bool = True,
) -> Axes:
    """Reported top-1 accuracy against a metric, one color and marker per family.

    Parameters
    ----------
    summary : DataFrame
        One row per model, indexed by model, with ``metric``, ``accuracy`` and ``by``
        columns (``ManyResult.summary``).  Rows missing either value are left out.
    metric : str
        Column on the x axis (e.g. ``"alpha_hat"``).
    ax : Axes, optional
        Where to draw (a new figure if omitted).
    link_pairs : iterable of (model, model), optional
        Pairs joined by a line, each in its own color, e.g. ``[("vgg11", "vgg11_bn")]``.
    accuracy : str, default "top1"
        Column on the y axis.
    by : str, default "family"
        Column whose values pick the style (:data:`FAMILY_STYLES` for families; other
        values get a stable color of their own).
    title : str, optional
        Default: ``"<accuracy> vs <metric>"``; the convention and weights are appended
        (weights from ``weights`` or else the summary's ``weights`` column).
    weights, convention : str, optional
        For the title; taken from the summary's columns when omitted.
    annotate : bool, default True
        Write each model's name next to its point (when at most 40 are shown).
    fits : DataFrame, optional
        The regression table the line of each group is drawn from
        (:func:`htsr_utils.paper.regression.group_regressions` of the same summary, grouped by
        ``by``): for each group its row of ``metric``, when it has at least
        :data:`~htsr_utils.paper.regression.MIN_GROUP_SIZE` models and a slope, is drawn over the
        group's range, with Kendall tau in the legend.
    run_in_title : bool, default True
        Append the convention and weights to the title (a panel of a figure whose title names
        them: False).

    Returns
    -------
    Axes
    """
    ax = _axes(ax, (6.4, 4.8))
    weights, convention = _run_labels(summary, weights, convention)
    cols = [c for c in (metric, accuracy) if c in summary.columns]
    data = summary.dropna(subset=cols) if len(cols) == 2 else summary.iloc[0:0]
    groups = list(dict.fromkeys(data[by])) if by in data.columns else [None]
    for i, group in enumerate(groups):
        part = data if group is None else data[data[by] == group]
        style = group_style(group, i)
        ax.scatter(part[metric], part[accuracy], s=46, color=style["color"], marker=style["marker"],
                   edgecolor="black", linewidth=0.5, zorder=3, label=str(group) if group else None)
        fit = _fit_of(fits, by, group, metric)
        if fit is not None and len(part):
            grid = np.linspace(part[metric].min(), part[metric].max(), 10)
            ax.plot(grid, fit["slope"] * grid + fit["intercept"], color=style["color"], lw=1, ls=":",
                    label=f"{group}: OLS line, τ = {fit['kendall_tau']:+.2f}" if group else "OLS line")
    for j, (a, b) in enumerate(link_pairs or []):
        if a in data.index and b in data.index:
            xs = [data.at[a, metric], data.at[b, metric]]
            ys = [data.at[a, accuracy], data.at[b, accuracy]]
            ax.plot(xs, ys, color=PAIR_COLORS[j % len(PAIR_COLORS)], lw=1.6, zorder=2,
                    label=f"{_short_name(a)} – {_short_name(b)}")
    if annotate and 0 < len(data) <= 40:
        _annotate_points(ax, data[metric].to_numpy(float), data[accuracy].to_numpy(float),
                         [_short_name(str(n)) for n in data.index])
    if data.empty:
        ax.text(0.5, 0.5, "no model with both values\n(see the table of skipped models)",
                ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xlabel(METRIC_LABELS.get(metric, metric))
    ax.set_ylabel(METRIC_LABELS.get(accuracy, accuracy)
                  + ("\n(of the pretrained model)" if weights is not None and os.fspath(weights) != "pretrained" else ""))
    base = title or f"Top-1 accuracy vs {METRIC_LABELS.get(metric, metric).split(' = ')[0]}"
    ax.set_title(figure_title(base, weights, convention) if run_in_title else base, fontsize="medium")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    return ax


def plot_metrics_vs_accuracy(
    summary: pd.DataFrame,
    metrics: Sequence[str],
    link_pairs: Iterable[tuple[str, str]] | None = None,
    *,
    accuracy: str = "top1",
    by: str = "family",
    title: str | None = None,
    weights: str | os.PathLike | None = None,
    convention: str | None = None,
    annotate: bool = True,
    fits: pd.DataFrame | None = None,
    panel_size: tuple[float, float] = (5.4, 4.6),
) -> Figure:
    """Reported top-1 accuracy against several metrics of the same models, one panel per metric.

    The panels sit side by side, labelled (a), (b), ..., and share the accuracy axis, so that a
    model is at the same height in each: the paper's Figures 1-3 set the log-norm panel beside
    the alpha-hat panel this way.  Each panel is :func:`plot_metric_vs_accuracy` of the same
    ``summary`` (every model with both values is a point), with the OLS lines of ``fits`` for
    its metric.

    Parameters
    ----------
    summary : DataFrame
        As for :func:`plot_metric_vs_accuracy`.
    metrics : sequence of str
        The x column of each panel, left to right (e.g. ``["log_norm", "alpha_hat"]``).
    link_pairs, accuracy, by, annotate, fits
        As for :func:`plot_metric_vs_accuracy`, in every panel (``fits`` holds a row per group
        and metric, e.g. :func:`htsr_utils.paper.regression.group_regressions` of ``metrics``).
    title : str, optional
        The figure's title (default: "Top-1 accuracy vs <metrics>"); the convention and weights
        are appended, as in :func:`figure_title`.
    weights, convention : str, optional
        For the title; taken from the summary's columns when omitted.
    panel_size : (float, float), default (5.4, 4.6)
        Width and height of one panel, in inches.

    Returns
    -------
    Figure
        ``fig.axes`` holds one axes per metric, in order.

    Raises
    ------
    ValueError
        If ``metrics`` is empty.
    """
    metrics = list(metrics)
    if not metrics:
        raise ValueError("give at least one metric")
    weights, convention = _run_labels(summary, weights, convention)
    fig, axes = plt.subplots(1, len(metrics), figsize=(panel_size[0] * len(metrics), panel_size[1]),
                             sharey=True, squeeze=False, layout="constrained")
    pairs = list(link_pairs or [])
    for i, (ax, metric) in enumerate(zip(axes.flat, metrics)):
        label = METRIC_LABELS.get(metric, metric).split(" = ")[0]
        plot_metric_vs_accuracy(summary, metric, ax, pairs, accuracy=accuracy, by=by, weights=weights,
                                convention=convention, annotate=annotate, fits=fits, run_in_title=False,
                                title=f"({chr(ord('a') + i)}) top-1 accuracy vs {label}")
        if i:
            ax.set_ylabel("")
    names = " and ".join(METRIC_LABELS.get(m, m).split(" = ")[0] for m in metrics)
    fig.suptitle(figure_title(title or f"Top-1 accuracy vs {names}", weights, convention))
    return fig


def plot_parity(
    summary: pd.DataFrame,
    metric: str = "alpha_hat",
    ax: Axes | None = None,
    *,
    by: str = "series",
    weights: str | os.PathLike | None = None,
    convention: str | None = None,
    published_label: str = "published (SDM 2020, pretrained weights)",
    title: str | None = None,
    annotate_max: int = 30,
) -> Axes:
    """Computed against published values of one metric, with the line y = x.

    Parameters
    ----------
    summary : DataFrame
        One row per model, indexed by model, with ``metric`` and ``<metric>_published``
        (:func:`htsr_utils.paper.reference_data.join_reference`); only models with both are drawn.
    metric : str, default "alpha_hat"
        The metric compared.
    ax : Axes, optional
        Where to draw.
    by : str, default "series"
        Column of the group of each model, for colors and the legend (if ``summary`` has it).
    weights, convention : str, optional
        For the title and the x label; taken from the summary's columns when omitted.
    published_label : str
        Says where the published values come from (y axis label).
    title : str, optional
        Default: "Computed vs published <metric>".
    annotate_max : int, default 30
        Name the points when there are at most this many (more would be unreadable).

    Returns
    -------
    Axes
    """
    ax = _axes(ax, (7.8, 5.4))
    weights, convention = _run_labels(summary, weights, convention)
    both = pd.concat({"computed": summary[metric], "published": summary[f"{metric}_published"]}, axis=1).dropna()
    if by in summary.columns:
        both["group"] = summary[by].reindex(both.index)
    for i, group in enumerate(list(dict.fromkeys(both["group"])) if "group" in both else [None]):
        part = both if group is None else both[both["group"] == group]
        style = group_style(group, i)
        ax.scatter(part["computed"], part["published"], s=40, color=style["color"],
                   marker=style["marker"], edgecolor="black", linewidth=0.5, zorder=3,
                   label=str(group) if group else None)
    label = METRIC_LABELS.get(metric, metric).split(" = ")[0]
    if not both.empty and len(both) <= annotate_max:
        _annotate_points(ax, both["computed"].to_numpy(float), both["published"].to_numpy(float),
                         [_short_name(str(n)) for n in both.index], equal_limits=True)
    if both.empty:
        ax.text(0.5, 0.5, "no model with both a computed\nand a published value",
                ha="center", va="center", transform=ax.transAxes, color="gray")
    else:
        lo = float(min(both.min(numeric_only=True)))
        hi = float(max(both.max(numeric_only=True)))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=1, ls="--",
                label="y = x", zorder=1)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"computed {label} ({', '.join(p for p in (convention, weights_label(weights)) if p)})")
    ax.set_ylabel(f"{label}, {published_label}")
    ax.set_title(figure_title(title or f"Computed vs published {label}", weights, convention), fontsize="medium")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return ax


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write a figure as PNG (``dpi``) and PDF atomically, then close it.

    Each file is first written to a temporary file in the target folder and moved into
    place with ``os.replace``, so a reader never sees a half-written figure and a failure
    leaves no temporary file behind.  The folder is created if needed.

    Parameters
    ----------
    fig : Figure
        The figure.
    path : path-like
        Target without or with a suffix (``figures/01_vgg/alpha_hat.png`` and
        ``figures/01_vgg/alpha_hat`` both give ``alpha_hat.png`` and ``alpha_hat.pdf``).
    dpi : int, default 150
        Resolution of the PNG.
    formats : sequence of str, default ("png", "pdf")
        File formats to write.

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.
    """
    path = Path(path)
    if path.suffix.lower().lstrip(".") in {"png", "pdf", "svg"}:
        path = path.with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for fmt in formats:
            target = path.with_name(f"{path.name}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            atomic_write(target, lambda tmp, fmt=fmt, metadata=metadata:
                         fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata))
            written.append(target)
    finally:
        plt.close(fig)
    return written


def show_and_save(fig: Figure | Axes, path: str | os.PathLike) -> list[Path]:
    """Show a figure in the notebook, then :func:`save_figure` it (PNG and PDF) and close it.

    Parameters
    ----------
    fig : Figure or Axes
        The figure, or an axes of it (what the ``plot_*`` functions return).
    path : path-like
        Target without suffix, as for :func:`save_figure`.

    Returns
    -------
    list of Path
        The files written.
    """
    from IPython.display import display

    fig = fig.figure if isinstance(fig, Axes) else fig
    display(fig)
    return save_figure(fig, path)


def show_figure(path: str | os.PathLike, width: int | None = None):
    """Display a saved PNG in a notebook (figures are closed once saved)."""
    from IPython.display import Image

    return Image(filename=str(path), width=width)


def _fit_of(fits: pd.DataFrame | None, by: str, group: object, metric: str) -> pd.Series | None:
    """The row of ``fits`` for ``group`` and ``metric`` if it can be drawn (enough models, a slope)."""
    if fits is None:
        return None
    if by not in fits.columns:
        raise KeyError(f"the regression table has no column {by!r} (regress with by={by!r})")
    rows = fits[(fits["metric"] == metric) & ((fits[by] == group) if group is not None else True)]
    rows = rows[(rows["n"] >= MIN_GROUP_SIZE) & np.isfinite(rows["slope"].astype(float))]
    return rows.iloc[0] if len(rows) == 1 else None


def _run_labels(summary: pd.DataFrame, weights: str | os.PathLike | None,
                convention: str | None) -> tuple[str | os.PathLike | None, str | None]:
    """The weights and convention a title names: as given, else the summary's columns."""
    return (weights if weights is not None else _first(summary, "weights"),
            convention if convention is not None else _first(summary, "convention"))


def _first(summary: pd.DataFrame, column: str) -> str | None:
    if column in summary.columns and len(summary):
        return str(summary[column].iloc[0])
    return None


def _darker(color: str, factor: float = 0.6) -> str:
    r, g, b = matplotlib.colors.to_rgb(color)
    return matplotlib.colors.to_hex((r * factor, g * factor, b * factor))


def _short_name(name: str) -> str:
    return name.removeprefix("pytorchcv_")


def _annotate_points(ax: Axes, xs: np.ndarray, ys: np.ndarray, labels: Sequence[str], *,
                     fontsize: float = 7, equal_limits: bool = False) -> None:
    """Label points, moving a label to another side of its point when it would overlap one
    already placed (greedy; approximate text boxes in display coordinates)."""
    ax.autoscale_view()
    if equal_limits:
        lo = min(ax.get_xlim()[0], ax.get_ylim()[0])
        hi = max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    points = ax.transData.transform(np.column_stack([xs, ys]))
    dpi_scale = ax.figure.dpi / 72.0
    char_w, height = 0.6 * fontsize * dpi_scale, 1.2 * fontsize * dpi_scale
    # (dx, dy) in points and horizontal alignment, tried in order
    offsets = [(4, 3, "left"), (4, -10, "left"), (-4, 3, "right"), (-4, -10, "right"),
               (4, 12, "left"), (4, -19, "left")]
    placed: list[tuple[float, float, float, float]] = []
    order = np.lexsort((points[:, 0], -points[:, 1]))
    for i in order:
        width = char_w * len(labels[i])
        for dx, dy, ha in offsets:
            x0 = points[i, 0] + dx * dpi_scale - (width if ha == "right" else 0.0)
            y0 = points[i, 1] + dy * dpi_scale
            box = (x0, y0, x0 + width, y0 + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(labels[i], (xs[i], ys[i]), fontsize=fontsize, xytext=(dx, dy),
                    textcoords="offset points", ha=ha)
