"""A family of MLPs trained here, one knob varied (notebook 09_trained_here).

Builds on :mod:`htsr_utils.experiments.training` (offline datasets, cached training) and
:func:`htsr_utils.analyze` / :func:`htsr_utils.summarize`: :func:`train` trains the family
on several datasets, :func:`family_metrics` gives one row per model, :func:`layer_inventory`
says which matrices a convention analyzes, and two figures show metrics against test
accuracy and against the knob.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from torch import nn

from ..engine.conventions import get_convention
from ..engine.layers import NoAnalyzableLayersError, NonFiniteWeightsError, weight_matrices
from ..engine.metrics import SUMMARY_METRICS, analyze, summarize
from ..engine.parallel import one_thread_per_call
from ..paper.figures import METRIC_LABELS
from .architectures import build_mlp
from .datasets import load_dataset
from .training import DEFAULT_CACHE_DIR, TrainedModel, default_config, train_family

__all__ = ["KNOB_DEFAULTS", "family_metrics", "family_table", "knob_values", "layer_inventory", "plot_knob_effects",
           "plot_metrics_vs_accuracy", "train"]

#: Default values of each knob (the batch-size family is Martin & Mahoney's experiment).
KNOB_DEFAULTS: dict[str, tuple] = {
    "batch_size": (16, 32, 64, 128, 256, 512),
    "lr": (0.025, 0.05, 0.1, 0.2, 0.4, 0.8),
    "width": (64, 128, 256, 512),
}


def knob_values(knob: str, values: Sequence | None = None) -> tuple:
    """``values``, or :data:`KNOB_DEFAULTS` of ``knob`` when ``values`` is empty or None.

    Raises
    ------
    ValueError
        No values given for a knob without defaults.
    """
    if values:
        return tuple(values)
    try:
        return KNOB_DEFAULTS[knob]
    except KeyError:
        raise ValueError(f"no default values for knob {knob!r}; pass values "
                         f"(knobs with defaults: {sorted(KNOB_DEFAULTS)})") from None


def train(
    datasets: Sequence[str],
    knob: str = "batch_size",
    values: Sequence | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    quick: bool = False,
    lr: float | None = None,
    width: int | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: bool = False,
) -> list[TrainedModel]:
    """Train (or load from the cache) the family on each dataset.

    Parameters
    ----------
    datasets : sequence of str
        Names from :data:`htsr_utils.trained.DATASETS`.
    knob : str, default "batch_size"
        The :class:`~htsr_utils.trained.TrainConfig` field varied.
    values : sequence, optional
        Its values; default :data:`KNOB_DEFAULTS` of ``knob``.
    seeds : sequence of int, default (0, 1, 2)
        Training seeds per value.
    quick : bool, default False
        Smoke test (:func:`htsr_utils.trained.train_family`): first, middle and last value,
        first seed, a third of the epochs.
    lr, width : optional
        Override the learning rate / hidden width of
        :func:`~htsr_utils.trained.default_config` (not for the field that is the knob).
    cache_dir : Path
        Model cache.
    progress : bool, default False
        Progress bars.

    Returns
    -------
    list of TrainedModel
        Ordered by dataset, value, seed.
    """
    overrides = {k: v for k, v in {"lr": lr, "width": width}.items() if v is not None and k != knob}
    models = []
    for dataset in datasets:
        base = dataclasses.replace(default_config(dataset), **overrides)
        models += train_family(dataset, knob, knob_values(knob, values), seeds, base=base,
                               cache_dir=cache_dir, progress=progress, quick=quick)
    return models


def family_table(
    models: Sequence[TrainedModel],
    metrics_fn: Callable[[nn.Module], Mapping[str, float]],
) -> pd.DataFrame:
    """One row per trained model: its knob value, accuracies and HT-SR metrics.

    Parameters
    ----------
    models : sequence of TrainedModel
        E.g. the output of :func:`train_family`.
    metrics_fn : callable
        Maps a model to a dict of metrics (e.g. ``alpha_hat``, ``log_norm``); each key becomes
        a column.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, knob, knob_value, seed, train_acc, test_acc`` then the metrics.
    """
    rows = [
        {
            "dataset": m.config.dataset,
            "knob": m.config.knob,
            "knob_value": getattr(m.config, m.config.knob),
            "seed": m.config.seed,
            "train_acc": m.train_acc,
            "test_acc": m.test_acc,
            **metrics_fn(m.model),
        }
        for m in models
    ]
    return pd.DataFrame(rows)


def _metrics(model, convention: str) -> dict:
    """``summarize(analyze(model))`` as a dict; NaN metrics and the reason if not analyzable."""
    try:
        summary = summarize(analyze(model, convention))
    except (NonFiniteWeightsError, NoAnalyzableLayersError) as exc:
        return dict.fromkeys(SUMMARY_METRICS, np.nan) | {"analysis_status": type(exc).__name__}
    return {m: summary[m] for m in SUMMARY_METRICS} | {"analysis_status": "ok"}


def family_metrics(models: Sequence[TrainedModel], convention: str = "sdm2020") -> pd.DataFrame:
    """One row per model: configuration, accuracies and every :func:`summarize` metric.

    Parameters
    ----------
    models : sequence of TrainedModel
        E.g. from :func:`train`.
    convention : str, default "sdm2020"
        Analysis convention.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, knob, knob_value, seed, train_acc, test_acc``, the
        :data:`~htsr_utils.metrics.SUMMARY_METRICS`, then ``batch_size, lr, width, epochs,
        analysis_status`` (``"ok"``, or why the model could not be analyzed, e.g.
        ``NonFiniteWeightsError`` after a diverged run; its metrics are then NaN).
        ``attrs["convention"]`` names the convention.
    """
    get_convention(convention)  # fail early on a wrong name
    with one_thread_per_call():
        table = family_table(models, lambda model: _metrics(model, convention))
    status = table.pop("analysis_status")
    for field in ("batch_size", "lr", "width", "epochs"):
        table[field] = [getattr(m.config, field) for m in models]
    table["analysis_status"] = status
    for count in ("L", "N_alpha"):
        table[count] = table[count].astype("Int64")
    table.attrs["convention"] = convention
    return table


def layer_inventory(datasets: Sequence[str], width: int, conventions: Sequence[str]) -> pd.DataFrame:
    """Which weight matrices of the family's MLP each convention analyzes, and why not the others.

    Parameters
    ----------
    datasets : sequence of str
        Dataset names (they fix the input dimension).
    width : int
        Hidden width of :func:`~htsr_utils.trained.build_mlp`.
    conventions : sequence of str
        Conventions to compare.

    Returns
    -------
    pandas.DataFrame
        One row per dataset and layer: ``dataset, layer, N_out, M_in``, then one column
        per convention: ``"analyzed"`` or the reason the layer is skipped.
    """
    rows = []
    for dataset in datasets:
        mlp = build_mlp(load_dataset(dataset).in_features, width)
        layers = {name: module.weight for name, module in mlp.named_modules() if isinstance(module, nn.Linear)}
        verdicts = {}
        for convention in conventions:
            extraction = weight_matrices(mlp, convention)
            analyzed = {m.layer for m in extraction.matrices}
            skipped = {s.layer: s.reason for s in extraction.skipped}
            verdicts[convention] = {name: "analyzed" if name in analyzed else skipped.get(name, "not analyzed")
                                    for name in layers}
        for name, weight in layers.items():
            rows.append({"dataset": dataset, "layer": name, "N_out": weight.shape[0], "M_in": weight.shape[1]}
                        | {c: verdicts[c][name] for c in conventions})
    return pd.DataFrame(rows)


def _knob_norm(values: np.ndarray) -> mcolors.Normalize:
    """Log color scale for positive knob values spanning more than a factor of 4, else linear."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo > 0 and hi / lo > 4:
        return mcolors.LogNorm(lo, hi)
    return mcolors.Normalize(lo, hi if hi > lo else lo + 1)


def plot_metrics_vs_accuracy(
    table: pd.DataFrame, metrics: Sequence[str], target: str = "test_acc", cmap: str = "viridis",
) -> Figure:
    """Test accuracy against each metric: one row of panels per dataset, colored by knob value.

    Every model is one point (a model with a NaN metric has no point in that panel, and a
    panel where every value is NaN says so).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`family_metrics`.
    metrics : sequence of str
        Metric columns (x axes).
    target : str, default "test_acc"
        Accuracy column (y axes), a fraction in [0, 1].
    cmap : str, default "viridis"
        Colormap of the knob values.

    Returns
    -------
    matplotlib.figure.Figure
    """
    datasets = list(dict.fromkeys(table["dataset"]))
    knob = str(table["knob"].iloc[0])
    norm = _knob_norm(table["knob_value"].to_numpy(dtype=float))
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(2.7 * len(metrics), 2.6 * len(datasets)),
                             squeeze=False, layout="constrained")
    for row, dataset in enumerate(datasets):
        group = table[table["dataset"] == dataset]
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            points = ax.scatter(group[metric], group[target], c=group["knob_value"].astype(float), cmap=cmap,
                                norm=norm, s=24, edgecolors="k", linewidths=0.3, label="one trained MLP")
            ax.set_xlabel(METRIC_LABELS.get(metric, metric).split(" = ")[0], fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(f"{dataset}: test accuracy (fraction)", fontsize=8)
            if group[metric].isna().all():
                ax.text(0.5, 0.5, "undefined for every model", ha="center", va="center",
                        transform=ax.transAxes, fontsize=7, color="0.4")
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.colorbar(points, ax=axes, label=knob, shrink=0.8)
    return fig


def plot_knob_effects(table: pd.DataFrame, columns: Sequence[str]) -> Figure:
    """Each column against the knob value, one line per dataset (mean over seeds, band: min to max).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`family_metrics`.
    columns : sequence of str
        Columns to show (accuracies, metrics).

    Returns
    -------
    matplotlib.figure.Figure
    """
    knob = str(table["knob"].iloc[0])
    values = table["knob_value"].to_numpy(dtype=float)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.0 * len(columns), 2.8), squeeze=False,
                             layout="constrained")
    for ax, column in zip(axes[0], columns):
        for dataset, group in table.groupby("dataset", sort=False):
            spread = group.groupby("knob_value")[column].agg(["mean", "min", "max"])
            x = spread.index.to_numpy(dtype=float)
            ax.plot(x, spread["mean"], marker="o", ms=4, label=dataset)
            ax.fill_between(x, spread["min"], spread["max"], alpha=0.2)
        if values.min() > 0 and values.max() / values.min() > 4:
            ax.set_xscale("log")
            ticks = np.unique(values)
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.set_xlabel(knob)
        ax.set_ylabel(METRIC_LABELS.get(column, column.replace("_acc", " accuracy (fraction)")).split(" = ")[0],
                      fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    return fig
