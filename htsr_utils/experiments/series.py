"""Architecture series trained here under one fixed recipe (notebook 11).

Martin & Mahoney's claim is about series of architectures (VGG11 -> VGG19): within a series,
the model with the smaller alpha-hat has the higher test accuracy.  This module trains such
series on offline data with :mod:`htsr_utils.experiments.training` (deterministic, cached), analyzes every
member with :func:`htsr_utils.analyze` / :func:`htsr_utils.summarize`, and scores each metric
against test accuracy as notebook 08 does (:func:`htsr_utils.paper.regression.ols_fit`, Kendall's
tau with its p-value).

Composition versus training
---------------------------
A deeper member adds matrices, and those shift a per-model average by themselves.  Every
average is therefore also computed over the *shared* layers only (:func:`shared_layers`: the
layers every member of the series has, by name; for a depth series ``conv1``, ``conv2``,
``fc`` and ``out``), in columns prefixed ``shared_``.

Rule fixed before any result (:func:`htsr_utils.paper.regression.verdict`)
------------------------------------------------------------------------
Per series, convention and metric, over the members that trained (all seeds pooled): the
prediction is *confirmed* when Kendall's tau between the metric and test accuracy is negative
with p < 0.05 (``regression.SIGNIFICANCE``), *contradicted* when it is positive with p < 0.05,
and *inconclusive* otherwise.  A member *failed to train* when its weights are not finite or
its train accuracy is below :data:`MIN_TRAIN_ACC`; it stays in the tables and figures,
flagged, and is left out of the statistics (counted in ``n_failed``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..engine.layers import NoAnalyzableLayersError, NonFiniteWeightsError, weight_matrices
from ..engine.metrics import SUMMARY_METRICS, analyze, summarize
from ..engine.parallel import one_thread_per_call
from ..paper.regression import MIN_GROUP_SIZE, kendall_tau, ols_fit, verdict
from .datasets import load_dataset
from .training import (
    DEFAULT_CACHE_DIR,
    TrainConfig,
    TrainedModel,
    build_model,
    quick_settings,
    train_models,
)

__all__ = [
    "AVERAGED_METRICS",
    "MIN_TRAIN_ACC",
    "RECIPE",
    "SERIES",
    "Series",
    "matrix_inventory",
    "member_name",
    "plot_series",
    "series_configs",
    "series_summary",
    "series_table",
    "shared_layers",
    "train_series",
]

#: Per-model averages the theory predicts to fall as test accuracy rises.
AVERAGED_METRICS: tuple[str, ...] = (
    "alpha_hat", "alpha_hat_star", "alpha_mean", "log_norm", "log_spectral_norm", "log_alpha_norm",
)
#: A member whose train accuracy is below this failed to train (chance is 0.1).
MIN_TRAIN_ACC = 0.5

#: The one training recipe of every series: SGD with momentum, constant learning rate and
#: batch size; only the number of epochs depends on the dataset.  Chosen from train and test
#: accuracies alone (every depth of every series trains), before any HT-SR metric was computed.
RECIPE: dict[str, float | int] = {"lr": 0.02, "momentum": 0.9, "batch_size": 32}
EPOCHS: dict[str, int] = {"mnist1d_large": 6, "mnist": 3}


@dataclass(frozen=True)
class Series:
    """One architecture series: a base configuration and the field varied along the series.

    Attributes
    ----------
    name : str
        Short identifier used in tables and file names.
    description : str
        One line for the notebook.
    base : TrainConfig
        Every field but ``knob`` and ``seed``.
    knob : str
        ``"depth"`` or ``"width"``.
    values : tuple of int
        The members, in the order in which the series is drawn.
    """

    name: str
    description: str
    base: TrainConfig
    knob: str
    values: tuple[int, ...]


def _base(dataset: str, arch: str, depth: int, width: int) -> TrainConfig:
    return TrainConfig(dataset=dataset, arch=arch, depth=depth, width=width,
                       epochs=EPOCHS[dataset], **RECIPE)


#: The series of notebook 11.
SERIES: dict[str, Series] = {
    s.name: s
    for s in (
        Series("cnn1d_depth", "1-D CNNs of 2 to 5 convolutions, 64 channels, on MNIST-1D",
               _base("mnist1d_large", "cnn1d", 2, 64), "depth", (2, 3, 4, 5)),
        Series("cnn1d_width", "1-D CNNs of 3 convolutions, 50 to 96 channels, on MNIST-1D",
               _base("mnist1d_large", "cnn1d", 3, 64), "width", (50, 64, 96)),
        Series("vgg2d_depth", "VGG-style 2-D CNNs of 2 to 5 convolutions, 64 channels, on MNIST",
               _base("mnist", "vgg2d", 2, 64), "depth", (2, 3, 4, 5)),
    )
}


def member_name(config: TrainConfig) -> str:
    """``"<arch> depth=<d> width=<w>"``, the name of a member (seed left out)."""
    return f"{config.arch} depth={config.depth} width={config.width}"


def series_configs(series: Series, seeds: Sequence[int], quick: bool = False) -> list[TrainConfig]:
    """The configurations of a series, ordered by member then seed.

    Parameters
    ----------
    series : Series
    seeds : sequence of int
        Training seeds of every member.
    quick : bool, default False
        Smoke test: first, middle and last member, first seed, a third of the epochs.

    Returns
    -------
    list of TrainConfig
    """
    values, base = series.values, series.base
    if quick:
        values, seeds, base = quick_settings(values, seeds, base)
    return [dataclasses.replace(base, knob=series.knob, seed=seed, **{series.knob: value})
            for value in values for seed in seeds]


def train_series(
    series: Sequence[Series], seeds: Sequence[int], quick: bool = False,
    cache_dir: Path = DEFAULT_CACHE_DIR, workers: int = 1,
) -> dict[str, list[TrainedModel]]:
    """Train (or load from the cache) every member and seed of several series.

    Parameters
    ----------
    series : sequence of Series
    seeds : sequence of int
    quick : bool, default False
        See :func:`series_configs`.
    cache_dir : pathlib.Path
        Model cache of :func:`htsr_utils.trained.train_model`.
    workers : int, default 1
        Training processes (:func:`htsr_utils.trained.train_models`); the weights do not
        depend on it.

    Returns
    -------
    dict of list of TrainedModel
        Per series name, in the order of :func:`series_configs`.
    """
    configs = {s.name: series_configs(s, seeds, quick) for s in series}
    flat = [c for cs in configs.values() for c in cs]
    models = iter(train_models(flat, cache_dir, workers=workers))
    return {name: [next(models) for _ in cs] for name, cs in configs.items()}


def _untrained(config: TrainConfig) -> torch.nn.Module:
    """The initialised model of ``config``, built without touching the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        return build_model(config, load_dataset(config.dataset).in_features)


def shared_layers(series: Series) -> list[str]:
    """Names of the weight layers that every member of ``series`` has, in model order."""
    names = [[name for name, module in _untrained(config).named_modules() if hasattr(module, "weight")]
             for config in series_configs(series, seeds=(0,))]
    return [name for name in names[0] if all(name in other for other in names[1:])]


def matrix_inventory(series: Series, conventions: Sequence[str] = ("sdm2020", "ww")) -> pd.DataFrame:
    """Which matrices each member contributes under each convention.

    Returns
    -------
    pandas.DataFrame
        One row per member, layer and convention: ``series, member, knob_value, layer, shared,
        convention, matrices`` (how many matrices the layer contributes, 0 when skipped), ``shape`` (N x M
        of each) and ``skipped`` (the reason, when skipped).
    """
    shared = set(shared_layers(series))
    rows = []
    for config in series_configs(series, seeds=(0,)):
        model = _untrained(config)
        layers = [name for name, module in model.named_modules() if hasattr(module, "weight")]
        for convention in conventions:
            extraction = weight_matrices(model, convention)
            reasons = {s.layer: s.reason for s in extraction.skipped}
            for layer in layers:
                kept = [m for m in extraction.matrices if m.layer == layer]
                rows.append({"series": series.name, "member": member_name(config),
                             "knob_value": getattr(config, series.knob), "layer": layer,
                             "shared": layer in shared, "convention": convention,
                             "matrices": len(kept),
                             "shape": f"{kept[0].N} x {kept[0].M}" if kept else "",
                             "skipped": "" if kept else reasons.get(layer, "below min dim")})
    return pd.DataFrame(rows)


def _averages(details: pd.DataFrame | None, prefix: str) -> dict[str, float]:
    if details is None or not len(details):
        return {prefix + m: np.nan for m in SUMMARY_METRICS}
    summary = summarize(details)
    return {prefix + m: summary[m] for m in SUMMARY_METRICS}


def series_table(
    models: Sequence[TrainedModel], series: Series, convention: str = "sdm2020",
) -> pd.DataFrame:
    """One row per trained model: accuracies, failure flag and every average, all and shared.

    Parameters
    ----------
    models : sequence of TrainedModel
        From :func:`train_series`.
    series : Series
        The series they belong to (gives the shared layers).
    convention : str, default "sdm2020"

    Returns
    -------
    pandas.DataFrame
        Columns ``series, member, knob, knob_value, depth, width, seed, train_acc, test_acc,
        failed, status, convention``, then :data:`~htsr_utils.metrics.SUMMARY_METRICS` over
        all analyzed matrices, then the same with prefix ``shared_`` over the matrices of
        :func:`shared_layers`.  ``failed`` follows the rule of the module docstring;
        ``status`` says why (``"ok"`` otherwise).
    """
    shared = shared_layers(series)
    rows = []
    with one_thread_per_call():
        for m in models:
            c = m.config
            status = "ok"
            details = None
            try:
                details = analyze(m.model, convention)
            except (NonFiniteWeightsError, NoAnalyzableLayersError) as exc:
                status = type(exc).__name__
            if status == "ok" and m.train_acc < MIN_TRAIN_ACC:
                status = f"train accuracy {m.train_acc:.2f} < {MIN_TRAIN_ACC}"
            rows.append({"series": series.name, "member": member_name(c), "knob": series.knob,
                         "knob_value": getattr(c, series.knob), "depth": c.depth, "width": c.width,
                         "seed": c.seed, "train_acc": m.train_acc, "test_acc": m.test_acc,
                         "failed": status != "ok", "status": status, "convention": convention}
                        | _averages(details, "")
                        | _averages(None if details is None else details[details["layer"].isin(shared)],
                                    "shared_"))
    table = pd.DataFrame(rows)
    for count in ("L", "N_alpha", "shared_L", "shared_N_alpha"):
        table[count] = table[count].astype("Int64")
    return table


def series_summary(table: pd.DataFrame, metrics: Sequence[str] = AVERAGED_METRICS) -> pd.DataFrame:
    """Notebook 08's scores per series, convention and metric, over all and shared matrices.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`series_table`, any number of series and conventions.
    metrics : sequence of str
        Averages to score (each also with the ``shared_`` prefix).

    Returns
    -------
    pandas.DataFrame
        Columns ``series, convention, metric, matrices`` (``"all"`` or ``"shared"``), ``n``
        (members x seeds that trained), ``n_failed``, ``rmse``, ``r2`` (OLS of test accuracy
        in percent on the metric), ``kendall_tau``, ``kendall_p`` (all seeds pooled),
        ``seeds``, ``tau_seed_min``, ``tau_seed_max`` (Kendall's tau within each seed, over
        the members), ``seeds_negative`` (seeds with tau < 0) and ``verdict``.
    """
    rows = []
    for (name, convention), group in table.groupby(["series", "convention"], sort=False):
        good = group[~group["failed"]]
        for metric in metrics:
            for matrices, column in (("all", metric), ("shared", f"shared_{metric}")):
                fit = ols_fit(good[column], 100 * good["test_acc"])
                tau, p = kendall_tau(good[column], good["test_acc"], min_n=MIN_GROUP_SIZE)
                per_seed = [kendall_tau(s[column], s["test_acc"], min_n=MIN_GROUP_SIZE)[0]
                            for _, s in good.groupby("seed")]
                per_seed = [t for t in per_seed if np.isfinite(t)]
                rows.append({"series": name, "convention": convention, "metric": metric,
                             "matrices": matrices, "n": fit["n"], "n_failed": int(group["failed"].sum()),
                             "rmse": fit["rmse"], "r2": fit["r2"], "kendall_tau": tau, "kendall_p": p,
                             "seeds": len(per_seed),
                             "tau_seed_min": min(per_seed, default=np.nan),
                             "tau_seed_max": max(per_seed, default=np.nan),
                             "seeds_negative": sum(t < 0 for t in per_seed),
                             "verdict": verdict(tau, p)})
    return pd.DataFrame(rows)


def plot_series(
    table: pd.DataFrame, metric: str = "alpha_hat", label: str = r"$\hat\alpha$",
) -> plt.Figure:
    """Test accuracy against ``metric``: one column per series, rows all / shared matrices.

    Each seed is one line joining the members in series order (depth or width), every member
    labelled with its knob value; failed members are drawn as red crosses.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`series_table` for one convention.
    metric : str, default "alpha_hat"
        Column on the x axis (its ``shared_`` twin on the second row).
    label : str
        Axis label of the metric (dimensionless).

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(dict.fromkeys(table["series"]))
    fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 7.0), squeeze=False,
                             layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, name in enumerate(names):
        group = table[table["series"] == name]
        knob = group["knob"].iloc[0]
        for row, (column, which) in enumerate(((metric, "all analyzed matrices"),
                                               (f"shared_{metric}", "shared matrices only"))):
            ax = axes[row, col]
            for i, (seed, runs) in enumerate(group.groupby("seed")):
                runs = runs.sort_values("knob_value")
                ok = runs[~runs["failed"]]
                ax.plot(ok[column], 100 * ok["test_acc"], marker="o", ms=5, color=colors[i % len(colors)],
                        label=f"seed {seed}")
                for _, r in runs.iterrows():
                    ax.annotate(f"{r['knob_value']}", (r[column], 100 * r["test_acc"]), fontsize=7,
                                xytext=(3, 3), textcoords="offset points")
                bad = runs[runs["failed"]]
                if len(bad):
                    ax.plot(bad[column], 100 * bad["test_acc"], "x", color="red", ms=9, mew=2,
                            label="failed to train" if i == 0 else None)
            ax.set_xlabel(f"{label} ({which})")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{name} (labels: {knob})", fontsize=9)
            ax.legend(fontsize=7)
    return fig
