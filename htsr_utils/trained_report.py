"""Metric-versus-accuracy report of a model family trained here (notebook 09).

Builds on :mod:`htsr_utils.trained` (offline datasets, cached training) and
:func:`htsr_utils.analyze` / :func:`htsr_utils.summarize`: one table row per trained model
(:func:`family_metrics`), which layers a convention analyzes (:func:`layer_inventory`), rank
correlations of every metric with test accuracy per dataset with a verdict fixed in advance
(:func:`correlation_report`, :func:`verdict_markdown`), and the scatter plots
(:func:`plot_metrics_vs_accuracy`).

Prediction tested
-----------------
Martin & Mahoney: smaller power-law exponents (heavier-tailed ESDs) and smaller norms go with
better test accuracy, so every metric in :data:`CORRELATED_METRICS` should correlate
*negatively* with test accuracy.  ``L`` and ``N_alpha`` are counts of layers and fits, not
quality metrics; they are tabulated but constant over an MLP family of fixed width.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from scipy import stats

from .conventions import get_convention
from .metrics import SUMMARY_METRICS, analyze, summarize
from .plots import METRIC_LABELS
from .threads import one_thread_per_call
from .trained import (
    DEFAULT_CACHE_DIR,
    TrainedModel,
    build_mlp,
    default_config,
    family_table,
    load_dataset,
    train_family,
)
from .weights import NoAnalyzableLayersError, NonFiniteWeightsError, weight_matrices

__all__ = [
    "CORRELATED_METRICS",
    "KNOB_DEFAULTS",
    "SIGNIFICANCE",
    "convention_differences",
    "correlation_report",
    "family_metrics",
    "knob_values",
    "layer_inventory",
    "model_name",
    "inventory_markdown",
    "plot_knob_effects",
    "plot_metrics_vs_accuracy",
    "seed_spread",
    "train",
    "verdict_markdown",
]

#: Default values of each knob of the family (the batch-size family is the paper's experiment).
KNOB_DEFAULTS: dict[str, tuple] = {
    "batch_size": (16, 32, 64, 128, 256, 512),
    "lr": (0.025, 0.05, 0.1, 0.2, 0.4, 0.8),
    "width": (64, 128, 256, 512),
}

#: Metrics the theory predicts to fall as test accuracy rises.
CORRELATED_METRICS: tuple[str, ...] = (
    "alpha_hat", "alpha_hat_star", "alpha_mean", "log_norm", "log_spectral_norm", "log_alpha_norm",
)

#: Kendall's tau p-value below which a correlation counts as "tracks accuracy" (fixed in advance).
SIGNIFICANCE = 0.05


def knob_values(knob: str, values: Sequence | None = None) -> tuple:
    """``values``, or the default values of ``knob`` (:data:`KNOB_DEFAULTS`) when empty or ``None``."""
    if values:
        return tuple(values)
    try:
        return KNOB_DEFAULTS[knob]
    except KeyError:
        raise ValueError(f"no default values for knob {knob!r}; pass values "
                         f"(knobs with defaults: {sorted(KNOB_DEFAULTS)})") from None


def model_name(model: TrainedModel) -> str:
    """``"<dataset>/<knob>=<value>/seed=<seed>"``, a unique name within a family."""
    c = model.config
    return f"{c.dataset}/{c.knob}={getattr(c, c.knob)}/seed={c.seed}"


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
    progress: bool = True,
) -> list[TrainedModel]:
    """Train (or load from the cache) the family on each dataset.

    Parameters
    ----------
    datasets : sequence of str
        Names from :data:`htsr_utils.trained.DATASETS`.
    knob : str, default "batch_size"
        The :class:`~htsr_utils.trained.TrainConfig` field varied (``"batch_size"``,
        ``"lr"``, ``"width"``, ...).
    values : sequence, optional
        Its values; default :data:`KNOB_DEFAULTS` of ``knob``.
    seeds : sequence of int, default (0, 1, 2)
        Training seeds per value.
    quick : bool, default False
        Smoke test (see :func:`htsr_utils.trained.train_family`): first, middle and last
        value, first seed, a third of the epochs.
    lr, width : optional
        Override the fixed learning rate / hidden width of :func:`default_config`
        (ignored for the field that is the knob).
    cache_dir : Path
        Model cache (``data/trained_models``).
    progress : bool, default True
        Progress bars.

    Returns
    -------
    list of TrainedModel
        Ordered by dataset, value, seed.
    """
    models = []
    for dataset in datasets:
        base = default_config(dataset)
        overrides = {k: v for k, v in {"lr": lr, "width": width}.items() if v is not None and k != knob}
        base = dataclasses.replace(base, **overrides)
        models += train_family(dataset, knob, knob_values(knob, values), seeds, base=base,
                               cache_dir=cache_dir, progress=progress, quick=quick)
    return models


def _metrics(model, convention: str) -> dict:
    """``summarize(analyze(model))`` as a dict, NaN metrics and a status if not analyzable."""
    try:
        summary = summarize(analyze(model, convention))
    except (NonFiniteWeightsError, NoAnalyzableLayersError) as exc:
        return {m: np.nan for m in SUMMARY_METRICS} | {"analysis_status": type(exc).__name__}
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
        Columns ``dataset, knob, knob_value, seed, train_acc, test_acc``, then
        :data:`~htsr_utils.metrics.SUMMARY_METRICS` (same names), then ``convention,
        batch_size, lr, width, epochs, analysis_status, model`` (``analysis_status`` is
        ``"ok"`` or why the model could not be analyzed, e.g. non-finite weights after a
        diverged run; its metrics are then NaN).  The analysis runs with one BLAS thread
        (:func:`~htsr_utils.threads.one_thread_per_call`).
    """
    get_convention(convention)  # fail early on a wrong name
    with one_thread_per_call():
        table = family_table(models, lambda model: _metrics(model, convention))
    status = table.pop("analysis_status")
    for count in ("L", "N_alpha"):
        table[count] = table[count].astype("Int64")
    table["convention"] = convention
    for field in ("batch_size", "lr", "width", "epochs"):
        table[field] = [getattr(m.config, field) for m in models]
    table["analysis_status"] = status
    table["model"] = [model_name(m) for m in models]
    return table


def layer_inventory(
    datasets: Sequence[str], width: int, conventions: Sequence[str] = ("sdm2020", "ww"),
) -> pd.DataFrame:
    """Which weight matrices of the MLP each convention analyzes, and why the others not.

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
        One row per dataset and layer: ``dataset, layer, shape (out x in), min(N,M)``, then
        one column per convention holding ``"analyzed"`` or the skip reason.
    """
    rows = []
    for dataset in datasets:
        mlp = build_mlp(load_dataset(dataset).in_features, width)
        layers = {name: module for name, module in mlp.named_modules() if hasattr(module, "weight")}
        verdicts = {}
        for convention in conventions:
            extraction = weight_matrices(mlp, convention)
            analyzed = {m.layer for m in extraction.matrices}
            skipped = {s.layer: s.reason for s in extraction.skipped}
            verdicts[convention] = {name: "analyzed" if name in analyzed else skipped.get(name, "not analyzed")
                                    for name in layers}
        for name, module in layers.items():
            out_dim, in_dim = module.weight.shape
            rows.append({"dataset": dataset, "layer": name, "shape (out x in)": f"{out_dim} x {in_dim}",
                         "min(N,M)": min(out_dim, in_dim)}
                        | {convention: verdicts[convention][name] for convention in conventions})
    return pd.DataFrame(rows)


def convention_differences(first: str, second: str) -> pd.DataFrame:
    """The settings in which two conventions differ (see :mod:`htsr_utils.conventions`).

    Returns
    -------
    pandas.DataFrame
        Indexed by setting name, one column per convention; the description is left out.
    """
    a, b = (dataclasses.asdict(get_convention(c)) for c in (first, second))
    rows = {k: {first: a[k], second: b[k]} for k in a if k not in ("name", "description") and a[k] != b[k]}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[first, second], dtype=object)


def inventory_markdown(inventory: pd.DataFrame) -> str:
    """One generated sentence per dataset and convention from :func:`layer_inventory`."""
    conventions = [c for c in inventory.columns if c not in ("dataset", "layer", "shape (out x in)", "min(N,M)")]
    lines = []
    for dataset, rows in inventory.groupby("dataset", sort=False):
        for convention in conventions:
            analyzed = rows[rows[convention] == "analyzed"]
            shapes = ", ".join(f"`{s}`" for s in analyzed["shape (out x in)"]) or "none"
            text = (f"- **{dataset}**, `{convention}`: {len(analyzed)} of {len(rows)} weight matrices "
                    f"analyzed ({shapes})")
            skipped = rows[rows[convention] != "analyzed"]
            if len(skipped):
                text += "; skipped: " + ", ".join(f"`{s}` ({r})" for s, r in
                                                  zip(skipped["shape (out x in)"], skipped[convention]))
            if len(analyzed) == 1:
                text += (". With a single analyzed matrix, `alpha_hat_star` (alpha-hat without the last "
                         "*analyzed* layer) is NaN for every model")
            elif len(analyzed) and analyzed.index[-1] != rows.index[-1]:
                text += (". The output layer is not analyzed, so `alpha_hat_star` drops the last *hidden* "
                         f"layer (`{analyzed['shape (out x in)'].iloc[-1]}`), not the output layer")
            lines.append(text + ".")
    return "\n".join(lines)


def _verdict(rho: float, tau: float, p: float, n: int, predicted: int, n_distinct: int) -> str:
    if n_distinct <= 1:
        return "constant over the family: no correlation defined"
    if n < 3:
        return f"defined for only {n} models: no correlation"
    if not np.isfinite(p) or p >= SIGNIFICANCE:
        return f"does not track test accuracy (Kendall p = {p:.2g} >= {SIGNIFICANCE})"
    if predicted == 0:
        return f"correlates ({'+' if tau > 0 else '-'}; no predicted sign)"
    if np.sign(tau) == predicted:
        return "tracks test accuracy with the predicted sign (lower metric, higher accuracy)"
    return "tracks test accuracy, but with the sign opposite to the prediction"


def correlation_report(
    table: pd.DataFrame,
    metrics: Sequence[str] = tuple(SUMMARY_METRICS),
    target: str = "test_acc",
    baseline: str | None = "knob_value",
) -> pd.DataFrame:
    """Spearman and Kendall correlation of each metric with ``target``, per dataset.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`family_metrics`.
    metrics : sequence of str
        Metric columns (default all :data:`~htsr_utils.metrics.SUMMARY_METRICS`).
    target : str, default "test_acc"
        Accuracy column.
    baseline : str or None, default "knob_value"
        Also correlate this column, for reference: a metric that correlates no better than
        the knob itself adds nothing beyond "how the model was trained".

    Returns
    -------
    pandas.DataFrame
        Rows ``(dataset, metric)``; columns ``spearman, spearman_p, kendall, kendall_p, n,
        n_distinct, predicted_sign, verdict``.  ``verdict`` applies a rule fixed before
        looking at the data: Kendall p < :data:`SIGNIFICANCE` and the sign of tau against
        the predicted sign (negative for :data:`CORRELATED_METRICS`).
    """
    rows = []
    columns = list(metrics) + ([baseline] if baseline else [])
    for dataset, group in table.groupby("dataset", sort=False):
        for metric in columns:
            pair = group[[metric, target]].dropna()
            n, n_distinct = len(pair), int(pair[metric].nunique())
            rho = rho_p = tau = tau_p = np.nan
            if n >= 3 and n_distinct > 1 and pair[target].nunique() > 1:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", stats.ConstantInputWarning)
                    s = stats.spearmanr(pair[metric], pair[target])
                    k = stats.kendalltau(pair[metric], pair[target])
                rho, rho_p, tau, tau_p = map(float, (s.statistic, s.pvalue, k.statistic, k.pvalue))
            predicted = -1 if metric in CORRELATED_METRICS else 0
            rows.append({"dataset": dataset, "metric": metric, "spearman": rho, "spearman_p": rho_p,
                         "kendall": tau, "kendall_p": tau_p, "n": n, "n_distinct": n_distinct,
                         "predicted_sign": predicted,
                         "verdict": _verdict(rho, tau, tau_p, n, predicted, n_distinct)})
    return pd.DataFrame(rows).set_index(["dataset", "metric"])


def verdict_markdown(report: pd.DataFrame, knob: str) -> str:
    """Sentences generated from :func:`correlation_report`, one paragraph per dataset."""
    paragraphs = []
    for dataset, rows in report.groupby(level="dataset", sort=False):
        rows = rows.droplevel("dataset")
        n = int(rows["n"].max())
        tested = rows.loc[[m for m in CORRELATED_METRICS if m in rows.index]]
        tracks = tested.index[tested["verdict"].str.startswith("tracks test accuracy with the predicted")]
        opposite = tested.index[tested["verdict"].str.contains("opposite")]
        fails = tested.index[~tested.index.isin(tracks) & ~tested.index.isin(opposite)]
        lines = [f"**{dataset}** ({n} models, {knob} varied):"]

        def show(names):
            return ", ".join(f"`{m}` (Spearman {rows.loc[m, 'spearman']:+.2f}, Kendall "
                             f"{rows.loc[m, 'kendall']:+.2f}, p = {rows.loc[m, 'kendall_p']:.2g})"
                             if np.isfinite(rows.loc[m, "kendall"]) else f"`{m}` ({rows.loc[m, 'verdict']})"
                             for m in names)

        if len(tracks):
            lines.append(f"tracks test accuracy as the theory predicts (lower is better): {show(tracks)}.")
        if len(opposite):
            lines.append(f"correlates significantly but with the **opposite** sign to the prediction "
                         f"(higher metric, higher accuracy): {show(opposite)}.")
        if len(fails):
            lines.append(f"does **not** track test accuracy at p < {SIGNIFICANCE}: {show(fails)}.")
        if "knob_value" in rows.index and np.isfinite(rows.loc["knob_value", "spearman"]):
            base = abs(rows.loc["knob_value", "spearman"])
            better = tested.index[tested["spearman"].abs() > base]
            lines.append(f"For reference, the knob itself ({knob}) has Spearman "
                         f"{rows.loc['knob_value', 'spearman']:+.2f} with test accuracy; "
                         + (f"only {', '.join(f'`{m}`' for m in better)} rank(s) the models better (larger |Spearman|)."
                            if len(better) else "no metric ranks the models better than the knob does."))
        if n < 6:
            lines.append(f"With only {n} models these rank tests have little power: "
                         "this is a smoke-test run, not a result.")
        paragraphs.append(" ".join(lines))
    return "\n\n".join(paragraphs)


def plot_knob_effects(
    table: pd.DataFrame,
    columns: Sequence[str] = ("train_acc", "test_acc", "alpha_mean", "log_spectral_norm"),
) -> plt.Figure:
    """Each column against the knob value, one line per dataset (mean and range over seeds)."""
    knob = str(table["knob"].iloc[0])
    values = table["knob_value"].to_numpy(dtype=float)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.0 * len(columns), 2.8), squeeze=False,
                             constrained_layout=True)
    for ax, column in zip(axes[0], columns):
        for dataset, group in table.groupby("dataset", sort=False):
            stats_ = group.groupby("knob_value")[column].agg(["mean", "min", "max"])
            x = stats_.index.to_numpy(dtype=float)
            ax.plot(x, stats_["mean"], marker="o", ms=4, label=dataset)
            ax.fill_between(x, stats_["min"], stats_["max"], alpha=0.2)
        if values.min() > 0 and values.max() / values.min() > 4:
            ax.set_xscale("log")
            ticks = np.unique(values)
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.set_xlabel(knob)
        ax.set_title(METRIC_LABELS.get(column, column).split(" = ")[0], fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    return fig


def seed_spread(table: pd.DataFrame, metrics: Sequence[str] = ("test_acc", "alpha_mean")) -> pd.DataFrame:
    """How much each column varies across seeds compared with across knob values.

    Returns
    -------
    pandas.DataFrame
        Rows ``(dataset, column)``; ``seed_range_max`` (largest max - min over the seeds of
        one knob value), ``knob_range`` (max - min of the per-value means) and their ratio.
    """
    rows = []
    for dataset, group in table.groupby("dataset", sort=False):
        for column in metrics:
            by_value = group.groupby("knob_value")[column]
            seed_range = float((by_value.max() - by_value.min()).max())
            knob_range = float(by_value.mean().max() - by_value.mean().min())
            rows.append({"dataset": dataset, "column": column, "seed_range_max": seed_range,
                         "knob_range": knob_range,
                         "ratio": seed_range / knob_range if knob_range > 0 else np.nan})
    return pd.DataFrame(rows).set_index(["dataset", "column"])


def _knob_norm(values: np.ndarray) -> mcolors.Normalize:
    """Log color scale for positive knob values spanning more than a factor of 4."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo > 0 and hi / lo > 4:
        return mcolors.LogNorm(lo, hi)
    return mcolors.Normalize(lo, hi if hi > lo else lo + 1)


def plot_metrics_vs_accuracy(
    table: pd.DataFrame,
    metrics: Sequence[str] = CORRELATED_METRICS,
    report: pd.DataFrame | None = None,
    target: str = "test_acc",
    cmap: str = "viridis",
) -> plt.Figure:
    """Grid of scatter plots: one row per dataset, one column per metric, colored by knob value.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`family_metrics`.
    metrics : sequence of str
        Metric columns (x axes).
    report : pandas.DataFrame, optional
        From :func:`correlation_report`; adds Spearman / Kendall to each panel title.
    target : str, default "test_acc"
        Accuracy column (y axes).
    cmap : str, default "viridis"
        Colormap of the knob values (log scale for wide positive ranges).

    Returns
    -------
    matplotlib.figure.Figure
    """
    datasets = list(dict.fromkeys(table["dataset"]))
    knob = str(table["knob"].iloc[0])
    norm = _knob_norm(table["knob_value"].to_numpy(dtype=float))
    fig, axes = plt.subplots(len(datasets), len(metrics), figsize=(2.6 * len(metrics), 2.5 * len(datasets)),
                             squeeze=False, constrained_layout=True)
    for row, dataset in enumerate(datasets):
        group = table[table["dataset"] == dataset]
        for col, metric in enumerate(metrics):
            ax = axes[row, col]
            points = ax.scatter(group[metric], group[target], c=group["knob_value"].astype(float),
                                cmap=cmap, norm=norm, s=22, edgecolors="k", linewidths=0.3)
            title = metric
            if report is not None and (dataset, metric) in report.index:
                r = report.loc[(dataset, metric)]
                if np.isfinite(r["spearman"]):
                    title += f"\n$\\rho$={r['spearman']:+.2f}, $\\tau$={r['kendall']:+.2f}"
                else:
                    title += "\n(no correlation)"
            ax.set_title(title, fontsize=8)
            ax.set_xlabel(METRIC_LABELS.get(metric, metric).split(" = ")[0], fontsize=8)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(f"{dataset}\n{target}", fontsize=8)
            if group[metric].isna().all():
                ax.text(0.5, 0.5, "NaN for every model", ha="center", va="center", transform=ax.transAxes,
                        fontsize=7, color="0.4")
    fig.colorbar(points, ax=axes, label=knob, shrink=0.8)
    return fig
