"""A knob sweep: MLPs trained here that differ in one training knob (notebook 09_trained_here).

One MLP (:func:`~htsr_utils.experiments.architectures.build_mlp`) is trained on each dataset
with every value of one :class:`~htsr_utils.experiments.training.TrainConfig` field, the knob
(by default the batch size, Martin & Mahoney's experiment), and several seeds; every other
field is fixed.  :func:`sweep_configs` lists the configurations (trained, offline,
deterministically and cached, by :func:`~htsr_utils.experiments.training.train_models`) and
:func:`sweep_metrics` gives one row per trained model with its accuracies and every
:func:`htsr_utils.summarize` metric; :func:`sweep_verdicts` applies the rule of notebook 09
(the one of notebook 11, :func:`~htsr_utils.experiments.series.series_verdict`) per dataset
and metric, with the knob itself as the baseline a metric has to beat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from ..engine.conventions import get_convention
from ..paper.regression import rank_correlations
from .analysis import PREDICTED_NEGATIVE, analyze_models, metrics_table, summary_metrics
from .series import design_power, series_verdict
from .training import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_SEEDS,
    TrainConfig,
    TrainedModel,
    default_config,
    knob_configs,
)

__all__ = ["KNOB_DEFAULTS", "knob_values", "sweep_configs", "sweep_metrics", "sweep_verdicts"]

#: Default values of each knob.
KNOB_DEFAULTS: dict[str, tuple] = {
    "batch_size": DEFAULT_BATCH_SIZES,
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


def sweep_configs(
    datasets: Sequence[str],
    knob: str = "batch_size",
    values: Sequence | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    *,
    quick: bool = False,
    **fixed: float | int | None,
) -> list[TrainConfig]:
    """The configurations of the sweep, ordered by dataset, knob value, seed.

    Train them with :func:`~htsr_utils.experiments.training.train_models`.

    Parameters
    ----------
    datasets : sequence of str
        Names from :data:`~htsr_utils.experiments.datasets.DATASETS`.
    knob : str, default "batch_size"
        The :class:`~htsr_utils.experiments.training.TrainConfig` field varied.
    values : sequence, optional
        Its values; default :data:`KNOB_DEFAULTS` of ``knob``.
    seeds : sequence of int, default (0, 1, 2)
        Training seeds per value.
    quick : bool, default False
        Smoke test: first, middle and last value, first seed, a third of the epochs
        (:func:`~htsr_utils.experiments.training.quick_settings`).
    **fixed
        Other fields of :func:`~htsr_utils.experiments.training.default_config` to override
        (e.g. ``lr=0.2, width=256``); None keeps the default, and the knob itself is never
        overridden.

    Returns
    -------
    list of TrainConfig
    """
    overrides = {k: v for k, v in fixed.items() if v is not None and k != knob}
    return [config for dataset in datasets
            for config in knob_configs(dataclasses.replace(default_config(dataset), **overrides), knob,
                                       knob_values(knob, values), seeds, quick=quick)]


def sweep_metrics(models: Sequence[TrainedModel], convention: str = "sdm2020") -> pd.DataFrame:
    """One row per model: configuration, accuracies and every :func:`htsr_utils.summarize` metric.

    Parameters
    ----------
    models : sequence of TrainedModel
        E.g. ``train_models(sweep_configs(...))``.
    convention : str, default "sdm2020"
        Analysis convention.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, knob, knob_value, seed, train_acc, test_acc``, the
        :data:`~htsr_utils.engine.metrics.SUMMARY_METRICS`, then ``batch_size, lr, width,
        epochs, analysis_status`` (``"ok"``, or why the model could not be analyzed, e.g.
        ``NonFiniteWeightsError`` after a diverged run; its metrics are then NaN).
        ``attrs["convention"]`` names the convention.
    """
    get_convention(convention)  # fail early on a wrong name
    rows = []
    for m, (details, status) in zip(models, analyze_models([m.model for m in models], convention)):
        c = m.config
        rows.append({"dataset": c.dataset, "knob": c.knob, "knob_value": getattr(c, c.knob), "seed": c.seed,
                     "train_acc": m.train_acc, "test_acc": m.test_acc}
                    | summary_metrics(details)
                    | {"batch_size": c.batch_size, "lr": c.lr, "width": c.width, "epochs": c.epochs,
                       "analysis_status": status})
    table = metrics_table(rows)
    table.attrs["convention"] = convention
    return table


def sweep_verdicts(table: pd.DataFrame, metrics: Sequence[str] = PREDICTED_NEGATIVE) -> pd.DataFrame:
    """The rule per dataset and metric, over every model of the sweep, against the knob as baseline.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`sweep_metrics` (one per trained model, every knob value and seed).
    metrics : sequence of str
        Metrics to test; one undefined or constant for a dataset's models is left out there.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(dataset, metric)``, the metrics then ``knob_value`` per dataset: the
        columns of :func:`~htsr_utils.paper.regression.rank_correlations` (``spearman,
        spearman_p, kendall_tau, kendall_p, n``), ``detectable_tau`` (the smallest ``|tau|``
        that ``n`` models can show at p < 0.05, :func:`~htsr_utils.experiments.series.design_power`),
        ``verdict`` (:func:`~htsr_utils.experiments.series.series_verdict`; ``"baseline"``
        for the knob's own row, which is no HT-SR metric) and ``beats_knob`` (``|tau|`` above
        that of the knob value on the same models; False for the knob's own row).
    """
    parts = {}
    for dataset, group in table.groupby("dataset", sort=False):
        usable = [m for m in [*metrics, "knob_value"] if group[m].nunique() > 1]
        result = rank_correlations(group, usable)
        knob_tau = abs(result.loc["knob_value", "kendall_tau"]) if "knob_value" in result.index else float("nan")
        result["detectable_tau"] = [design_power(int(n))["detectable_tau"] for n in result["n"]]
        result["verdict"] = [series_verdict(t, p, int(n)) if metric != "knob_value" else "baseline"
                             for metric, t, p, n in zip(result.index, result["kendall_tau"], result["kendall_p"],
                                                        result["n"])]
        result["beats_knob"] = (result["kendall_tau"].abs() > knob_tau) & (result.index != "knob_value")
        parts[dataset] = result
    return pd.concat(parts, names=["dataset", "metric"])
