"""Architecture series trained here under one fixed recipe (notebook 11).

Martin & Mahoney's claim is about series of architectures (VGG11 -> VGG19): within a series,
the model with the smaller alpha-hat has the higher test accuracy.  This module trains such
series on offline data with :mod:`~htsr_utils.experiments.training` (deterministic, cached),
analyzes every member (:mod:`~htsr_utils.experiments.analysis`), and scores each metric
against test accuracy as notebook 08 does (:func:`htsr_utils.paper.regression.ols_fit`,
Kendall's tau with its p-value).

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..paper.regression import MIN_GROUP_SIZE, kendall_tau, ols_fit, verdict
from .analysis import (
    OK,
    PREDICTED_NEGATIVE,
    analyze_models,
    layer_inventory,
    metrics_table,
    summary_metrics,
    weight_layers,
)
from .datasets import load_dataset
from .training import (
    TrainConfig,
    TrainedModel,
    build_model,
    knob_configs,
    train_models,
)

__all__ = [
    "MIN_TRAIN_ACC",
    "RECIPE",
    "SERIES",
    "Series",
    "member_name",
    "series_configs",
    "series_inventory",
    "series_scores",
    "series_table",
    "shared_layers",
    "train_series",
]

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
        The series' id in its tables, figures and file names.
    description : str
        What the series varies, in one line of the notebook.
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
    return knob_configs(series.base, series.knob, series.values, seeds, quick=quick)


def train_series(
    series: Sequence[Series], seeds: Sequence[int], quick: bool = False,
    cache_dir: Path | None = None, workers: int = 1,
) -> dict[str, list[TrainedModel]]:
    """Train (or load from the cache) every member and seed of several series.

    Parameters
    ----------
    series : sequence of Series
    seeds : sequence of int
    quick : bool, default False
        See :func:`series_configs`.
    cache_dir : pathlib.Path
        Model cache of :func:`~htsr_utils.experiments.training.train_model`.
    workers : int, default 1
        Training processes (:func:`~htsr_utils.experiments.training.train_models`); the weights do not
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
    names = [weight_layers(_untrained(config)) for config in series_configs(series, seeds=(0,))]
    return [name for name in names[0] if all(name in other for other in names[1:])]


def series_inventory(series: Series, conventions: Sequence[str] = ("sdm2020", "ww")) -> pd.DataFrame:
    """:func:`~htsr_utils.experiments.analysis.layer_inventory` of every member of ``series``.

    Returns
    -------
    pandas.DataFrame
        One row per member, convention and layer: ``series, member, knob_value, layer,
        shared`` (whether the layer is one of :func:`shared_layers`), then the columns of
        ``layer_inventory`` (``out_dim, in_dim, convention, matrices, shape, skipped``).
    """
    shared = shared_layers(series)
    parts = []
    for config in series_configs(series, seeds=(0,)):
        inventory = layer_inventory(_untrained(config), conventions)
        inventory.insert(0, "series", series.name)
        inventory.insert(1, "member", member_name(config))
        inventory.insert(2, "knob_value", getattr(config, series.knob))
        inventory.insert(4, "shared", inventory["layer"].isin(shared))
        parts.append(inventory)
    return pd.concat(parts, ignore_index=True)


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
        failed, status, convention``, then :data:`~htsr_utils.engine.metrics.SUMMARY_METRICS` over
        all analyzed matrices, then the same with prefix ``shared_`` over the matrices of
        :func:`shared_layers`.  ``failed`` follows the rule of the module docstring;
        ``status`` says why (``"ok"`` otherwise).
    """
    shared = shared_layers(series)
    rows = []
    for m, (details, status) in zip(models, analyze_models([m.model for m in models], convention)):
        c = m.config
        if status == OK and m.train_acc < MIN_TRAIN_ACC:
            status = f"train accuracy {m.train_acc:.2f} < {MIN_TRAIN_ACC}"
        rows.append({"series": series.name, "member": member_name(c), "knob": series.knob,
                     "knob_value": getattr(c, series.knob), "depth": c.depth, "width": c.width,
                     "seed": c.seed, "train_acc": m.train_acc, "test_acc": m.test_acc,
                     "failed": status != OK, "status": status, "convention": convention}
                    | summary_metrics(details)
                    | summary_metrics(None if details is None else details[details["layer"].isin(shared)], "shared_"))
    return metrics_table(rows, prefixes=("", "shared_"))


def series_scores(table: pd.DataFrame, metrics: Sequence[str] = PREDICTED_NEGATIVE) -> pd.DataFrame:
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
