"""The shared driver of the compendium's notebooks: :func:`run_family`.

A family notebook (``notebooks/01_vgg.ipynb`` ...) is a few calls:

>>> fam = run_family("01_vgg", models=None, weights="random", quick=True,
...                  table_name="table1_vgg")
>>> fam.show_skipped()          # models whose pretrained weights are unavailable, and how to fix
>>> fam.show_table()            # the paper-style table (also figures/table1_vgg.csv / .md)
>>> fam.plot("alpha_hat_star", name="figure1_vgg", link_pairs=VGG_PAIRS)   # figures/01_vgg/...
>>> fam.write_report()          # models computed / skipped, for ``htsr reproduce``

:func:`run_family` analyzes the models through the results cache
(:func:`htsr_utils.many.analyze_many`), adds the reported accuracies and the published
values (in columns whose names end in ``_published``), builds the table and the per-family
regressions, and saves the standard figures.  Everything is written under
:func:`htsr_utils.paths.figures_dir`: figures in ``figures/<notebook>/``, tables as
``figures/<table>.csv`` and ``.md``.

Accuracies: the ``top1`` / ``top5`` columns are the accuracies *reported* for the
pretrained weights, from one snapshot of ``data/reported_accuracy.csv`` (``accuracy``:
``"paper"`` = the snapshot SDM 2020 used, the default; ``"latest"`` = the accuracies of the
weight files downloaded today).  They are filled whatever the weights, so that with
``weights="random"`` the regressions are computed too: they are the untrained baseline
(random-init metrics against the accuracy of the trained model), and every title and
caption says "random-init weights".
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from . import paths
from .fileio import atomic_write
from .many import ManyResult, analyze_many
from .plots import (
    METRIC_LABELS, plot_metric_vs_accuracy, plot_parity, save_figure, show_figure, weights_label,
)
from .reference_data import SNAPSHOTS, published_values, reported_accuracy
from .regression import family_regressions, family_table, to_markdown
from .zoo import get_spec, list_models

__all__ = [
    "FamilyResult", "NOTEBOOK_MODELS", "REGRESSION_METRICS", "SUMMARY_TABLE_COLUMNS", "TABLE_COLUMNS",
    "VGG_PAIRS",
    "add_reference_columns", "all_models", "default_models", "run_family", "trend_table",
    "trend_statements", "write_table",
]

#: The paper's table columns (Table 1): Top1, Top5, L, N_alpha, alpha-hat, alpha-hat*, and
#: the published alpha-hat beside the computed one.
TABLE_COLUMNS = ["top1", "top5", "L", "N_alpha", "alpha_hat", "alpha_hat_star", "alpha_hat_published"]

#: Metrics regressed against top-1 (as in Martin, Peng & Mahoney 2021).
REGRESSION_METRICS = ["alpha_hat", "log_norm", "log_spectral_norm", "log_alpha_norm"]

#: Columns of :meth:`FamilyResult.summary_table` (``figures/summary_table.csv``).
SUMMARY_TABLE_COLUMNS = ["family", "metric", "n", "rmse", "r2", "kendall_tau", "weights", "convention"]

#: VGG models and their batch-normalized twins (Figure 1 links each pair).
VGG_PAIRS = [("vgg11", "vgg11_bn"), ("vgg13", "vgg13_bn"), ("vgg16", "vgg16_bn"), ("vgg19", "vgg19_bn")]


def _pcv(*names: str) -> list[str]:
    return [f"pytorchcv_{n}" for n in names]


def _families(*families: str) -> list[str]:
    return [m for f in families for m in list_models(f)]


#: Models of each notebook: ``quick`` (small, for CI: every quick set takes seconds with
#: random weights, except VGG's two 25088 x 4096 matrices) and ``full`` (the whole family).
NOTEBOOK_MODELS: dict[str, dict[str, list[str]]] = {
    "01_vgg": {"quick": ["vgg11", "vgg11_bn"], "full": _families("VGG")},
    "02_resnet": {
        "quick": ["resnet18", "resnet34", "resnet50", *_pcv("resnet10", "resnet12", "resnet14")],
        "full": _families("ResNet"),
    },
    "03_densenet_squeezenet": {
        "quick": ["densenet121", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1"],
        "full": _families("DenseNet", "SqueezeNet"),
    },
    "04_mobilenet": {
        "quick": _pcv("mobilenet_wd4", "mobilenet_wd2", "mobilenet_w3d4",
                      "mobilenetv2_wd4", "mobilenetv2_wd2", "mobilenetv2_w3d4",
                      "fdmobilenet_wd4", "fdmobilenet_wd2", "fdmobilenet_w1",
                      "shufflenetv2_wd2", "shufflenetv2_w1"),
        "full": _families("MobileNet", "MobileNetV2", "FD-MobileNet", "ShuffleNetV2"),
    },
    "05_more_models": {
        "quick": ["googlenet", *_pcv("dpn68", "seresnet50", "menet108_8x1_g3", "menet128_8x1_g4",
                                     "menet228_12x1_g3")],
        "full": _families("GoogLeNet", "Inception", "ResNeXt", "DPN", "SE-ResNet", "SE-ResNeXt",
                          "MENet"),
    },
    "06_counterexamples": {
        "quick": _pcv("menet108_8x1_g3", "menet128_8x1_g4", "menet228_12x1_g3",
                      "fdmobilenet_wd4", "fdmobilenet_wd2", "fdmobilenet_w1",
                      "condensenet74_c4_g4", "condensenet74_c8_g8",
                      "resnet10", "resnet12", "resnet14"),
        "full": [*_families("MENet", "FD-MobileNet", "CondenseNet"),
                 *list_models("ResNeXt", "pytorchcv"),
                 *_pcv("resnet10", "resnet12", "resnet14", "resnet16", "resnet18", "resnet34",
                       "resnet50")],
    },
}


def all_models(quick: bool = True) -> list[str]:
    """Every model of notebooks 01-06 (quick or full sets), in notebook order, once each."""
    key = "quick" if quick else "full"
    return list(dict.fromkeys(m for sets in NOTEBOOK_MODELS.values() for m in sets[key]))


def default_models(notebook: str, quick: bool = True) -> list[str]:
    """The models a notebook analyzes by default (notebooks 07 and 08: all of 01-06)."""
    if notebook in NOTEBOOK_MODELS:
        return list(NOTEBOOK_MODELS[notebook]["quick" if quick else "full"])
    return all_models(quick)


@dataclass
class FamilyResult:
    """What :func:`run_family` computed and wrote.

    Attributes
    ----------
    notebook : str
        Notebook stem (``"01_vgg"``); figures go to ``figures_dir / notebook``.
    models : list of str
        Models requested.
    weights, convention, accuracy : str
        Analysis settings (``accuracy`` names the reported-accuracy snapshot).
    summary : DataFrame
        One row per analyzed model (index ``model``): ``family``, ``library``, ``series``
        (family, plus the library where the zoo has the family in both), the summary
        metrics, ``top1`` / ``top5`` (reported), ``accuracy_source``, the published values
        (``*_published``), ``convention``, ``weights``.
    details : DataFrame
        Per-matrix rows of every analyzed model, with ``family`` and ``series``.
    skipped : DataFrame
        ``model``, ``reason``, ``how_to_fix`` of models whose weights are unavailable.
    table : DataFrame
        The paper-style table (pretty column labels).
    regressions : DataFrame
        OLS of top-1 on :data:`REGRESSION_METRICS` per series
        (:func:`htsr_utils.regression.family_regressions`).
    figures, tables : dict of str -> Path
        Files written (PNG for figures; CSV and Markdown for tables).
    """

    notebook: str
    models: list[str]
    weights: str
    convention: str
    accuracy: str
    summary: pd.DataFrame
    details: pd.DataFrame
    skipped: pd.DataFrame
    table: pd.DataFrame
    regressions: pd.DataFrame
    figures_dir: Path
    figures: dict[str, Path] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)

    @property
    def computed(self) -> list[str]:
        """Models that were analyzed."""
        return [str(m) for m in self.summary.index]

    @property
    def weights_text(self) -> str:
        """``"random-init weights"``, ``"pretrained weights"`` or ``"weights from <file>"``."""
        return weights_label(self.weights)

    @property
    def caption(self) -> str:
        """The line under every table: convention, weights and accuracy source."""
        return _caption(self.convention, self.weights, self.accuracy)

    def plot(
        self,
        metric: str = "alpha_hat",
        *,
        name: str | None = None,
        series: str | Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        title: str | None = None,
        link_pairs: Iterable[tuple[str, str]] | None = None,
        fit_line: bool = False,
    ) -> Path:
        """Save top-1 against ``metric`` for all or some models; return the PNG path.

        Parameters
        ----------
        metric : str
            Summary column on the x axis.
        name : str, optional
            File stem in ``figures/<notebook>/`` (default ``top1_vs_<metric>``).
        series : str or sequence of str, optional
            Keep only these series (e.g. ``"ResNet (pytorchcv)"``).
        models : sequence of str, optional
            Keep only these models.
        title : str, optional
            Figure title (the convention and weights are appended).
        link_pairs : iterable of (model, model), optional
            Pairs to join by a line.
        fit_line : bool
            Draw each series' OLS line (series of three models or more).
        """
        data = self.summary
        if series is not None:
            data = data[data["series"].isin([series] if isinstance(series, str) else list(series))]
        if models is not None:
            data = data.loc[[m for m in models if m in data.index]]
        fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
        plot_metric_vs_accuracy(data, metric, ax, link_pairs=link_pairs, by="series", title=title,
                                weights=self.weights, convention=self.convention, fit_line=fit_line)
        return self.save(fig, name or f"top1_vs_{metric}")

    def plot_parity(self, metric: str = "alpha_hat", *, name: str | None = None) -> Path:
        """Save computed against published ``metric`` (models with both); return the PNG path."""
        fig, ax = plt.subplots(figsize=(7.8, 5.4), layout="constrained")
        paper = "SDM 2020" if self.convention == "sdm2020" else "Nat. Commun. 2021"
        plot_parity(self.summary[metric], self.summary.get(f"{metric}_published", pd.Series(dtype=float)),
                    ax, families=self.summary["series"], metric=metric, weights=self.weights,
                    convention=self.convention, published_label=f"published ({paper}, pretrained weights)")
        return self.save(fig, name or f"parity_{metric}")

    def save(self, fig, stem: str) -> Path:
        """Save a figure as ``figures/<notebook>/<stem>.png`` / ``.pdf`` (closes it); PNG path."""
        png = save_figure(fig, self.figures_dir / self.notebook / stem)[0]
        self.figures[stem] = png
        return png

    def summary_table(self, metrics: Sequence[str] = REGRESSION_METRICS, *, min_n: int = 3) -> pd.DataFrame:
        """Per series and metric: ``family, metric, n, rmse, r2, kendall_tau, weights, convention``.

        ``family`` is the series (family, plus the library where the zoo has both); scores
        are NaN for series with fewer than ``min_n`` models with an accuracy.
        """
        table = family_regressions(self.summary, metrics, by="series", min_n=min_n)
        table["weights"] = self.weights
        table["convention"] = self.convention
        return table[SUMMARY_TABLE_COLUMNS]

    def check(self) -> None:
        """Assert that the tables are complete; raise ``AssertionError`` saying what is wrong.

        * every requested model is either analyzed (one table row) or skipped;
        * every analyzed model has ``L``, ``N_alpha``, ``alpha_hat`` and ``alpha_hat_star``;
        * with the ``"paper"`` accuracy snapshot, every model the paper used has a top-1;
        * under ``sdm2020``, ``N_alpha`` equals the matrix count the authors printed
          (it depends on the architecture only, not on the weights).
        """
        s = self.summary
        assert len(self.table) == len(s), f"table has {len(self.table)} rows for {len(s)} models"
        accounted = set(s.index) | set(self.skipped["model"])
        assert accounted == set(self.models), f"neither analyzed nor skipped: {set(self.models) - accounted}"
        assert set(s.index).isdisjoint(self.skipped["model"]), "a model is both analyzed and skipped"
        values = s[["L", "N_alpha", "alpha_hat", "alpha_hat_star"]]
        missing = values[values.isna().any(axis=1)]
        assert missing.empty, f"missing computed values:\n{missing}"
        assert (s["N_alpha"] > 0).all(), "a model has no fitted matrix"
        if self.accuracy == "paper":
            used = s["alpha_hat_published"].notna()
            assert s.loc[used, "top1"].notna().all(), "a model the paper used has no reported top-1"
        if self.convention == "sdm2020":
            counted = s[s["n_matrices_published"].notna()]
            wrong = counted[counted["N_alpha"] != counted["n_matrices_published"]]
            assert wrong.empty, f"N_alpha differs from the published matrix count:\n{wrong[['N_alpha', 'n_matrices_published']]}"

    def show(self, stem: str, width: int | None = 640):
        """Display a saved figure (by its stem) in the notebook."""
        return show_figure(self.figures[stem], width=width)

    def show_table(self, table: pd.DataFrame | None = None, caption: str | None = None):
        """Display a table (default: :attr:`table`) as Markdown, with the caption line."""
        from IPython.display import Markdown

        return Markdown(to_markdown(self.table if table is None else table,
                                    caption=caption or f"*{self.caption}*"))

    def skipped_markdown(self) -> str:
        """A sentence, and the table of skipped models with how to provide their weights."""
        n_req, n_skip = len(self.models), len(self.skipped)
        if n_skip == 0:
            return f"All {n_req} requested models were analyzed ({self.weights_text})."
        return (f"**{n_skip} of {n_req} models were skipped**: their weights could not be loaded "
                f"(`reason`; offline, pretrained weights cannot be downloaded). The tables and figures "
                f"below use the {n_req - n_skip} models that could be analyzed. To include the others, "
                f"put each weight file where `how_to_fix` says (or allow the download), or run with "
                f'`weights="random"` for the untrained baseline.\n\n'
                + to_markdown(self.skipped))

    def show_skipped(self):
        """Display :meth:`skipped_markdown`."""
        from IPython.display import Markdown

        return Markdown(self.skipped_markdown())

    def write_table(self, table: pd.DataFrame, name: str, *, pretty: pd.DataFrame | None = None,
                    caption: str | None = None) -> list[Path]:
        """Write ``figures/<name>.csv`` (``table``) and ``.md`` (``pretty`` or ``table``)."""
        written = write_table(table, self.figures_dir / name, pretty=pretty,
                              caption=caption or self.caption)
        self.tables[f"{name}.csv"], self.tables[f"{name}.md"] = written
        return written

    def write_report(self) -> Path:
        """Record the models computed and skipped for ``htsr reproduce``."""
        from .reproduce import write_notebook_report

        return write_notebook_report(self.notebook, self.computed, self.skipped["model"].tolist())


def run_family(
    notebook: str,
    models: Sequence[str] | None = None,
    weights: str = "random",
    convention: str = "sdm2020",
    *,
    quick: bool = True,
    accuracy: str = "paper",
    figures_dir: str | os.PathLike | None = None,
    results_dir: str | os.PathLike | None = None,
    table_name: str | None = None,
    table_columns: Sequence[str] = TABLE_COLUMNS,
    figure_metrics: Sequence[str] = ("alpha_hat",),
    parity: bool = True,
    executor=None,
    progress: bool = False,
) -> FamilyResult:
    """Analyze a notebook's models and write its standard tables and figures.

    Parameters
    ----------
    notebook : str
        The notebook's stem (``"01_vgg"``): names the figure folder and the report.
    models : sequence of str, optional
        Models to analyze; default :func:`default_models` (quick or full set).
    weights : str, default "random"
        ``"pretrained"``, ``"random"`` or a checkpoint path (see ``analyze_many``).
        Unavailable pretrained weights skip the model (listed in ``skipped``), never fail.
    convention : str, default "sdm2020"
        Analysis convention; the published values shown are those of the same convention.
    quick : bool, default True
        Which default model set to use when ``models`` is None.
    accuracy : str, default "paper"
        Reported-accuracy snapshot for ``top1`` / ``top5`` (``"paper"``, ``"latest"`` or a
        source id of ``data/reported_accuracy.csv``).
    figures_dir : path, optional
        Default :func:`htsr_utils.paths.figures_dir`.
    results_dir : path, optional
        Results cache; default that of :mod:`htsr_utils.cache`.
    table_name : str, optional
        Write the paper-style table as ``figures/<table_name>.csv`` and ``.md``.
    table_columns : sequence of str
        Columns of that table (default :data:`TABLE_COLUMNS`).
    figure_metrics : sequence of str, default ("alpha_hat",)
        One ``top1_vs_<metric>`` figure each, all models.
    parity : bool, default True
        Also save ``parity_alpha_hat`` (computed vs published alpha-hat).
    executor : concurrent.futures.Executor, optional
        Passed to ``analyze_many``.
    progress : bool, default False
        Progress bar over models.

    Returns
    -------
    FamilyResult
    """
    models = list(models) if models is not None else default_models(notebook, quick)
    figures_dir = Path(figures_dir) if figures_dir is not None else paths.figures_dir()
    many: ManyResult = analyze_many(models, weights, convention, executor=executor,
                                    results_dir=Path(results_dir) if results_dir is not None else None,
                                    progress=progress)
    summary = add_reference_columns(many.summary, convention=convention, accuracy=accuracy)
    details = many.details.copy()
    for column in ("family", "series"):
        details[column] = details["model"].map(summary[column]) if len(details) else pd.Series(dtype=str)
    result = FamilyResult(
        notebook=notebook, models=models, weights=os.fspath(weights), convention=convention,
        accuracy=accuracy, summary=summary, details=details, skipped=many.skipped,
        table=family_table(summary, table_columns, family="series"),
        regressions=family_regressions(summary, REGRESSION_METRICS, by="series"),
        figures_dir=figures_dir,
    )
    if table_name:
        machine = summary.reset_index()[["model", "family", "series", *[c for c in table_columns if c in summary],
                                         "accuracy_source", "convention", "weights"]]
        result.write_table(machine, table_name, pretty=result.table)
    for metric in figure_metrics:
        result.plot(metric)
    if parity:
        result.plot_parity("alpha_hat")
    return result


def add_reference_columns(summary: pd.DataFrame, *, convention: str = "sdm2020",
                          accuracy: str = "paper") -> pd.DataFrame:
    """Add ``library``, ``series``, reported ``top1`` / ``top5`` and the published values.

    Parameters
    ----------
    summary : DataFrame
        ``ManyResult.summary`` (indexed by model, with ``family``).
    convention : str
        Published values are taken from rows of this convention (none for conventions the
        papers did not use: the ``*_published`` columns are then NaN).
    accuracy : str
        Snapshot of the reported accuracies (see :func:`run_family`).

    Returns
    -------
    DataFrame
        A copy with ``library``, ``series``, ``top1``, ``top5``, ``accuracy_source``,
        ``alpha_hat_published``, ``log_norm_published``, ``top1_published`` and
        ``n_matrices_published`` (the latter two: what the paper regressed against and
        averaged over).
    """
    out = summary.copy()
    models = [str(m) for m in out.index]
    out["library"] = pd.Series([get_spec(m).library for m in models], index=out.index, dtype="str")
    both = _families_in_both_libraries()
    out["series"] = [f"{f} ({lib})" if f in both else str(f)
                     for f, lib in zip(out["family"], out["library"])]
    reported = _reported(models, accuracy)
    out["top1"] = reported["top1"].to_numpy()
    out["top5"] = reported["top5"].to_numpy()
    out["accuracy_source"] = reported["source"].fillna("").to_numpy()
    try:
        published = published_values(convention).drop_duplicates("model").set_index("model")
    except ValueError:  # a convention neither paper used
        published = pd.DataFrame(columns=["alpha_hat", "log_norm", "top1_used", "n_matrices"])
    for column, source in (("alpha_hat_published", "alpha_hat"), ("log_norm_published", "log_norm"),
                           ("top1_published", "top1_used"), ("n_matrices_published", "n_matrices")):
        out[column] = pd.to_numeric(published[source].reindex(models), errors="coerce").to_numpy(float)
    return out


def _families_in_both_libraries() -> set[str]:
    tv = {get_spec(m).family for m in list_models(library="torchvision")}
    pcv = {get_spec(m).family for m in list_models(library="pytorchcv")}
    return tv & pcv


def _reported(models: list[str], accuracy: str) -> pd.DataFrame:
    table = reported_accuracy()
    if accuracy in SNAPSHOTS:
        table = table[table["source"] == table["library"].map(SNAPSHOTS[accuracy])]
    elif accuracy in set(table["source"]):
        table = table[table["source"] == accuracy]
    else:
        raise ValueError(f"unknown accuracy snapshot {accuracy!r}; use 'paper', 'latest' or one of "
                         f"{sorted(set(table['source']))}")
    return table.drop_duplicates("model").set_index("model")[["top1", "top5", "source"]].reindex(models)


def _caption(convention: str, weights: str, accuracy: str) -> str:
    text = f"Convention: {convention}; {weights_label(weights)}"
    if weights != "pretrained":
        text += " (Top1/Top5 are the accuracies reported for the pretrained models)"
    paper = {"sdm2020": "SDM 2020", "natcomm2021": "Nat. Commun. 2021"}.get(convention)
    text += f"; reported accuracies: snapshot '{accuracy}'; "
    text += (f"published: the values printed in {paper} (pretrained weights)." if paper
             else "published: none (neither paper used this convention).")
    return text


def trend_table(summary: pd.DataFrame, metric: str = "alpha_hat", by: str = "series") -> pd.DataFrame:
    """Kendall tau between ``metric`` and top-1 per series, computed and published.

    The HT-SR reading expects ``tau < 0`` (smaller metric, more accurate model).

    Returns
    -------
    DataFrame
        ``family`` (the series), ``n``, ``kendall_tau``, ``trend`` (``"holds"``,
        ``"reversed"``, ``"tied"`` or ``"n/a"`` for fewer than two models), and for the same
        models the published values: ``n_published``, ``kendall_tau_published``,
        ``trend_published``.
    """
    from .regression import ols_fit

    rows = []
    published = f"{metric}_published"
    for group, part in summary.groupby(by, sort=False):
        fit = ols_fit(part[metric].to_numpy(float), part["top1"].to_numpy(float))
        row = {"family": group, "n": fit["n"], "kendall_tau": fit["kendall_tau"],
               "trend": _trend(fit["n"], fit["kendall_tau"])}
        if published in part and "top1_published" in part:
            pub = ols_fit(part[published].to_numpy(float), part["top1_published"].to_numpy(float))
        else:
            pub = {"n": 0, "kendall_tau": math.nan}
        row |= {"n_published": pub["n"], "kendall_tau_published": pub["kendall_tau"],
                "trend_published": _trend(pub["n"], pub["kendall_tau"])}
        rows.append(row)
    return pd.DataFrame(rows, columns=["family", "n", "kendall_tau", "trend", "n_published",
                                       "kendall_tau_published", "trend_published"])


def _trend(n: int, tau: float) -> str:
    if n < 2:
        return "n/a"
    if not math.isfinite(tau) or tau == 0:
        return "tied"
    return "holds" if tau < 0 else "reversed"


def trend_statements(trends: pd.DataFrame, metric: str = "alpha_hat", weights: str = "random") -> str:
    """One plain sentence per series saying whether the trend holds (Markdown bullets)."""
    name = METRIC_LABELS.get(metric, metric).split(" = ")[0]
    lines = []
    for row in trends.itertuples(index=False):
        if row.trend == "n/a":
            computed = f"computed ({weights_label(weights)}): fewer than two models with an accuracy"
        elif row.trend == "tied":
            computed = f"computed ({weights_label(weights)}): τ undefined or 0 (tied values), no ranking"
        else:
            verdict = ("**the sign is wrong**: higher {m} goes with higher accuracy" if row.trend == "reversed"
                       else "the sign is as predicted: lower {m} goes with higher accuracy").format(m=name)
            computed = f"computed ({weights_label(weights)}): τ = {row.kendall_tau:+.2f} over {row.n} models, {verdict}"
        if row.trend_published in ("holds", "reversed"):
            published = (f"published values: τ = {row.kendall_tau_published:+.2f} over {row.n_published} models"
                         + (" (**sign wrong**)" if row.trend_published == "reversed" else " (sign as predicted)"))
        else:
            published = "published values: not available for these models"
        lines.append(f"- **{row.family}** - {computed}; {published}.")
    return "\n".join(lines)


def write_table(table: pd.DataFrame, stem: str | os.PathLike, *, pretty: pd.DataFrame | None = None,
                caption: str | None = None) -> list[Path]:
    """Write ``<stem>.csv`` (``table``) and ``<stem>.md`` (``pretty`` or ``table``), atomically.

    Returns
    -------
    list of Path
        The CSV and the Markdown file.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    atomic_write(csv_path, table.to_csv(index=False, float_format="%.6g"))
    atomic_write(md_path, to_markdown(pretty if pretty is not None else table, caption=caption))
    return [csv_path, md_path]
