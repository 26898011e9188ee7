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

Rule fixed before any result (:func:`series_verdict`)
-----------------------------------------------------
Per series, convention and metric, on the *per-member means over seeds* (seeds of one member
are repeated measurements of one architecture, not independent members): the prediction is
*confirmed* when Kendall's tau between the mean metric and the mean test accuracy is negative
with p < 0.05 (``regression.SIGNIFICANCE``, exact p-value of the Kendall null distribution),
*contradicted* when it is positive with p < 0.05, and *inconclusive* otherwise.  A series
whose number of members cannot reach p < 0.05 at all (:func:`design_power`; fewer than five
members) gets no verdict.  An inconclusive verdict with ``n`` members means an effect smaller
than ``design_power(n)["detectable_tau"]`` cannot be told from none.

A model *failed to train* when its weights are not finite or its train accuracy is below
:data:`MIN_TRAIN_ACC`; it stays in the tables and figures, flagged, and is left out of the
member means (counted in ``n_failed``).  Training *reached its plateau*
(:func:`reached_plateau`) when the mean per-epoch train accuracy over the last quarter of the
epochs exceeds that over the quarter before by less than :data:`PLATEAU_GAIN`, or when the
model fits the training set (train accuracy at least :data:`FIT_TRAIN_ACC`: at most one point
left to gain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ..paper.regression import MIN_GROUP_SIZE, SIGNIFICANCE, kendall_tau, ols_fit, verdict
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
    "FIT_TRAIN_ACC",
    "MIN_TRAIN_ACC",
    "PLATEAU_GAIN",
    "RECIPE",
    "SERIES",
    "Series",
    "design_power",
    "member_means",
    "member_name",
    "plateau_gain",
    "reached_plateau",
    "series_configs",
    "series_inventory",
    "series_scores",
    "series_table",
    "series_verdict",
    "shared_layers",
    "train_series",
]

#: A member whose train accuracy is below this failed to train (chance is 0.1).
MIN_TRAIN_ACC = 0.5
#: Training reached its plateau when the mean per-epoch train accuracy of the last quarter of
#: the epochs exceeds that of the quarter before by less than this (a fraction: one point) ...
PLATEAU_GAIN = 0.01
#: ... or when the final train accuracy is at least this (the training set is fit).
FIT_TRAIN_ACC = 0.99

#: The one training recipe of every series: SGD with momentum, constant learning rate and
#: batch size; only the number of epochs depends on the dataset.  Chosen from train and test
#: accuracies alone, before any HT-SR metric was computed: 0.05 diverged at depth 9; the epochs
#: from pilot learning curves (1-D CNNs of depth 1, 2, 3 and 8 over 40 epochs, 2-D CNNs of depth
#: 1 and 4 over 10), depth 1 left out as it was still learning.  At 10 epochs one 2-D model
#: (depth 2, seed 1) had not reached its plateau (:func:`reached_plateau`), so the 2-D series
#: trains 15; notebook 11 checks the plateau of every model.
RECIPE: dict[str, float | int] = {"lr": 0.02, "momentum": 0.9, "batch_size": 32}
EPOCHS: dict[str, int] = {"mnist1d_large": 40, "mnist": 15}


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


#: The series of notebook 11: six members each, the fewest for which Kendall's tau over the
#: members can reach p < 0.05 with one discordant pair (:func:`design_power`).
SERIES: dict[str, Series] = {
    s.name: s
    for s in (
        Series("cnn1d_depth", "1-D CNNs of 2 to 7 convolutions, 64 channels, on MNIST-1D",
               _base("mnist1d_large", "cnn1d", 2, 64), "depth", (2, 3, 4, 5, 6, 7)),
        Series("vgg2d_depth", "VGG-style 2-D CNNs of 2 to 7 convolutions, 64 channels, on MNIST",
               _base("mnist", "vgg2d", 2, 64), "depth", (2, 3, 4, 5, 6, 7)),
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


def plateau_gain(curve: Sequence[float]) -> float:
    """Gain of the learning curve over its last quarter: the criterion of :data:`PLATEAU_GAIN`.

    Parameters
    ----------
    curve : sequence of float
        Per-epoch train accuracy (:attr:`~htsr_utils.experiments.training.TrainedModel.epoch_train_acc`).

    Returns
    -------
    float
        Mean of the last ``q = len(curve) // 4`` epochs minus the mean of the ``q`` before them;
        NaN for fewer than 8 epochs (a quarter of under two epochs is noise).
    """
    q = len(curve) // 4
    if q < 2:
        return float("nan")
    values = np.asarray(curve, dtype=float)
    return float(values[-q:].mean() - values[-2 * q:-q].mean())


def reached_plateau(curve: Sequence[float], train_acc: float) -> bool:
    """Whether training reached its plateau: :func:`plateau_gain` below :data:`PLATEAU_GAIN`,
    or ``train_acc`` at least :data:`FIT_TRAIN_ACC`.

    Parameters
    ----------
    curve : sequence of float
        Per-epoch train accuracy of the model.
    train_acc : float
        Its final train accuracy.

    Returns
    -------
    bool
        False for a curve too short for :func:`plateau_gain` (NaN) whose model does not fit
        the training set.
    """
    return bool(plateau_gain(curve) < PLATEAU_GAIN or train_acc >= FIT_TRAIN_ACC)


def _with_discordant_pairs(n: int, k: int) -> np.ndarray:
    """A permutation of ``range(n)`` with exactly ``k`` inversions (its Lehmer code filled greedily)."""
    remaining, code = k, []
    for i in range(n):
        code.append(min(remaining, n - 1 - i))
        remaining -= code[-1]
    pool = list(range(n))
    return np.array([pool.pop(c) for c in code])


def design_power(n: int, alpha: float = SIGNIFICANCE) -> dict[str, float]:
    """What a Kendall test over ``n`` members without ties can show at level ``alpha``.

    Parameters
    ----------
    n : int
        Members of the series (one mean per member).
    alpha : float, default ``regression.SIGNIFICANCE``
        Significance level of the rule.

    Returns
    -------
    dict
        ``members``: ``n``; ``smallest_p``: the exact two-sided p-value of a perfect ranking
        (``2 / n!``, capped at 1), the smallest any outcome can have; ``detectable_tau``: the
        smallest ``|tau|`` whose exact p-value is below ``alpha`` (NaN if none: the design
        cannot decide); ``p_at_detectable``: that p-value.
    """
    pairs = n * (n - 1) // 2
    if n < 2:
        return {"members": n, "smallest_p": 1.0, "detectable_tau": float("nan"), "p_at_detectable": float("nan")}
    ranks = np.arange(n)
    out = {"members": n, "smallest_p": float("nan"), "detectable_tau": float("nan"),
           "p_at_detectable": float("nan")}
    for k in range(pairs // 2 + 1):  # k discordant pairs: tau = 1 - 2k / pairs, p grows with k
        p = float(stats.kendalltau(ranks, _with_discordant_pairs(n, k), method="exact").pvalue)
        if k == 0:
            out["smallest_p"] = min(p, 1.0)
        if p >= alpha:
            break
        out["detectable_tau"], out["p_at_detectable"] = 1 - 2 * k / pairs, p
    return out


def series_verdict(tau: float, p: float, members: int) -> str:
    """The rule of the module docstring for one series, convention and metric.

    Parameters
    ----------
    tau, p : float
        Kendall's tau between the per-member means of the metric and of test accuracy, and its
        exact two-sided p-value.
    members : int
        Members that entered the test.

    Returns
    -------
    str
        ``"no verdict: n = <members> cannot reach p < 0.05"`` when :func:`design_power` of
        ``members`` has no detectable tau, else :func:`htsr_utils.paper.regression.verdict`
        (``"confirmed"``, ``"contradicted"`` or ``"inconclusive"``).
    """
    if not np.isfinite(design_power(members)["detectable_tau"]):
        return f"no verdict: n = {members} cannot reach p < {SIGNIFICANCE:g}"
    return verdict(tau, p)


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
        Columns ``series, member, knob, knob_value, depth, width, seed, epochs, train_acc,
        plateau_gain`` (:func:`plateau_gain` of the model's learning curve), ``test_acc,
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
                     "seed": c.seed, "epochs": c.epochs, "train_acc": m.train_acc,
                     "plateau_gain": plateau_gain(m.epoch_train_acc), "test_acc": m.test_acc,
                     "failed": status != OK, "status": status, "convention": convention}
                    | summary_metrics(details)
                    | summary_metrics(None if details is None else details[details["layer"].isin(shared)], "shared_"))
    return metrics_table(rows, prefixes=("", "shared_"))


def member_means(table: pd.DataFrame, metrics: Sequence[str] = PREDICTED_NEGATIVE) -> pd.DataFrame:
    """Per series, convention and member: means and spreads over the seeds that trained.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`series_table`, any number of series and conventions.
    metrics : sequence of str
        Averages to take (each also with the ``shared_`` prefix).

    Returns
    -------
    pandas.DataFrame
        One row per series, convention and member (in series order): ``series, convention,
        knob_value, member, seeds`` (that trained), ``n_failed``, then for ``train_acc,
        test_acc`` and every metric ``<column>`` (mean over those seeds), ``<column>_min``,
        ``<column>_max`` (the seed spread); all NaN for a member no seed of which trained.
    """
    columns = ["train_acc", "test_acc", *[c for m in metrics for c in (m, f"shared_{m}")]]
    rows = []
    for (name, convention, value), group in table.groupby(["series", "convention", "knob_value"], sort=False):
        good = group[~group["failed"]]
        row = {"series": name, "convention": convention, "knob_value": value, "member": group["member"].iloc[0],
               "seeds": len(good), "n_failed": int(group["failed"].sum())}
        for column in columns:
            values = good[column].astype(float)
            row |= {column: values.mean(), f"{column}_min": values.min(), f"{column}_max": values.max()}
        rows.append(row)
    return (pd.DataFrame(rows).sort_values(["series", "convention", "knob_value"], kind="stable")
            .reset_index(drop=True))


def series_scores(table: pd.DataFrame, metrics: Sequence[str] = PREDICTED_NEGATIVE) -> pd.DataFrame:
    """The test of the rule per series, convention and metric, over all and shared matrices.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`series_table`, any number of series and conventions.
    metrics : sequence of str
        Averages to score (each also with the ``shared_`` prefix).

    Returns
    -------
    pandas.DataFrame
        Columns ``series, convention, metric, matrices`` (``"all"`` or ``"shared"``),
        ``members`` (members with a mean, :func:`member_means`), ``n_failed`` (models),
        ``kendall_tau``, ``kendall_p`` (per-member means), ``smallest_p`` and
        ``detectable_tau`` (:func:`design_power` of ``members``), ``rmse``, ``r2`` (OLS of
        mean test accuracy in percent on the mean metric), ``seeds``, ``tau_seed_min``,
        ``tau_seed_max`` (Kendall's tau within each seed, over the members),
        ``seeds_negative`` (seeds with tau < 0) and ``verdict`` (:func:`series_verdict`).
    """
    means = member_means(table, metrics)
    rows = []
    for (name, convention), group in table.groupby(["series", "convention"], sort=False):
        good = group[~group["failed"]]
        member = means[(means["series"] == name) & (means["convention"] == convention)]
        for metric in metrics:
            for matrices, column in (("all", metric), ("shared", f"shared_{metric}")):
                usable = member[np.isfinite(member[column]) & np.isfinite(member["test_acc"])]
                fit = ols_fit(usable[column], 100 * usable["test_acc"])
                tau, p = kendall_tau(usable[column], usable["test_acc"], min_n=MIN_GROUP_SIZE)
                power = design_power(len(usable))
                per_seed = [kendall_tau(s[column], s["test_acc"], min_n=MIN_GROUP_SIZE)[0]
                            for _, s in good.groupby("seed")]
                per_seed = [t for t in per_seed if np.isfinite(t)]
                rows.append({"series": name, "convention": convention, "metric": metric,
                             "matrices": matrices, "members": len(usable),
                             "n_failed": int(group["failed"].sum()), "kendall_tau": tau, "kendall_p": p,
                             "smallest_p": power["smallest_p"], "detectable_tau": power["detectable_tau"],
                             "rmse": fit["rmse"], "r2": fit["r2"], "seeds": len(per_seed),
                             "tau_seed_min": min(per_seed, default=np.nan),
                             "tau_seed_max": max(per_seed, default=np.nan),
                             "seeds_negative": sum(t < 0 for t in per_seed),
                             "verdict": series_verdict(tau, p, len(usable))})
    return pd.DataFrame(rows)
