"""Paper-style tables: column labels, the per-model table, Markdown and files.

* :func:`model_table` - one row per model: Architecture, Model and chosen columns, paper labels.
* :data:`PAPER_TABLE_LAYOUTS`, :func:`paper_table` - Tables 1-5 in the draft's layout (Table 1:
  Top1, Top5, L, N_α, α̂, α̂*; Tables 2 and 3: the test accuracy; Tables 4 and 5: the top-1
  error, 100 - top-1, and in Table 5 α̂); :func:`show_and_write_paper_table` - shown and written.
* :func:`accuracy_caption` - the caption of a table of computed values and reported accuracies.
* :func:`to_markdown` - a GitHub-flavoured Markdown table (``pandas.DataFrame.to_markdown`` needs
  the ``tabulate`` package, which is not a dependency, so the formatter is our own); a notebook
  shows it rendered.
* :func:`write_table` - ``<stem>.csv`` and ``<stem>.md``, each written atomically;
  :func:`show_and_write` - the same after showing the table in the notebook.
* :func:`show_and_write_model_table` - a family notebook's table: shown and written paper-style
  (Markdown), with every column of :func:`model_record` in the CSV.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..storage.fileio import atomic_write, write_csv

__all__ = ["COLUMN_LABELS", "PAPER_TABLE_COLUMNS", "PAPER_TABLE_LAYOUTS", "MarkdownText", "accuracy_caption",
           "model_record", "model_table", "paper_table", "show_and_write", "show_and_write_model_table",
           "show_and_write_paper_table", "to_markdown", "top1_error", "write_table"]

#: Paper-style labels of summary columns (Markdown/Unicode).
COLUMN_LABELS = {
    "series": "Architecture",
    "model": "Model",
    "top1": "Top1",
    "top5": "Top5",
    "top1_error": "Top 1 Error",
    "L": "L",
    "N_alpha": "N_α",
    "alpha_hat": "α̂",
    "alpha_hat_star": "α̂*",
    "alpha_mean": "mean α",
    "log_norm": "⟨log₁₀‖W‖_F⟩",
    "log_spectral_norm": "⟨log₁₀ λ_max⟩",
    "log_alpha_norm": "⟨log₁₀ ‖X‖_α^α⟩",
    "alpha_hat_published": "α̂ (published)",
    "log_norm_published": "⟨log₁₀‖W‖_F⟩ (published)",
    "top1_published": "Top1 used (published)",
    "n_matrices_published": "N_α (published)",
}

#: The columns of the family notebooks' tables of computed next to published values, after
#: Architecture and Model.
PAPER_TABLE_COLUMNS = ["top1", "top5", "L", "N_alpha", "n_matrices_published", "alpha_hat", "alpha_hat_star",
                       "alpha_hat_published"]

#: The draft's layout of Tables 1-5: the columns after Architecture and Model, in order
#: (``top1_error`` is :func:`top1_error`).  Tables 2 and 3 head the top-1 accuracy "Test Accuracy".
PAPER_TABLE_LAYOUTS: dict[int, list[str]] = {
    1: ["top1", "top5", "L", "N_alpha", "alpha_hat", "alpha_hat_star"],
    2: ["top1"],
    3: ["top1"],
    4: ["top1_error"],
    5: ["top1_error", "alpha_hat"],
}
_PAPER_TABLE_LABELS: dict[int, dict[str, str]] = {2: {"top1": "Test Accuracy"}, 3: {"top1": "Test Accuracy"}}


class MarkdownText(str):
    """Markdown text that a notebook displays rendered (``_repr_markdown_``); otherwise a ``str``."""

    def _repr_markdown_(self) -> str:
        return str(self)


def accuracy_caption(weights: str, convention: str, snapshot: str) -> str:
    """The caption of a table of computed values next to reported accuracies and published values.

    Parameters
    ----------
    weights, convention, snapshot : str
        Where the values come from: the weights, the convention and the accuracy snapshot.

    Returns
    -------
    str
        One sentence naming them and what Top1/Top5 and *published* mean.
    """
    return (f"Convention {convention}; {weights} weights; Top1/Top5: reported accuracy (%) of the pretrained "
            f"model, snapshot '{snapshot}'; *published*: the authors' values for the pretrained models.")


def model_table(
    summary: pd.DataFrame,
    columns: Sequence[str],
    *,
    group: str = "series",
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The paper-style table: Architecture, Model, then ``columns`` with paper labels.

    Parameters
    ----------
    summary : DataFrame
        One row per model, indexed by model name.
    columns : sequence of str
        Summary columns in display order, e.g. ``["top1", "top5", "L", "N_alpha",
        "alpha_hat", "alpha_hat_star"]``.  Columns that ``summary`` lacks are shown empty.
    group : str, default "series"
        Column shown as "Architecture" (``"series"`` or ``"family"``).
    labels : mapping, optional
        Header labels overriding :data:`COLUMN_LABELS`.

    Returns
    -------
    DataFrame
        Plain columns (no index), rows in the order of ``summary``.
    """
    names = dict(COLUMN_LABELS) | dict(labels or {})
    table = pd.DataFrame({
        names.get(group, "Architecture"): summary[group].astype(str).to_numpy() if group in summary else "",
        names["model"]: summary.index.astype(str),
    })
    for column in columns:
        values = summary[column].to_numpy() if column in summary.columns else np.full(len(summary), np.nan)
        table[names.get(column, column)] = values
    return table


def to_markdown(
    table: pd.DataFrame,
    *,
    floatfmt: str | Mapping[str, str] = ".3f",
    index: bool = False,
    missing: str = "",
    caption: str | None = None,
) -> MarkdownText:
    """A GitHub-flavoured Markdown table.

    Parameters
    ----------
    table : DataFrame
        The table; numeric columns are right-aligned, others left-aligned.
    floatfmt : str or mapping, default ".3f"
        Format of floats (a ``format`` spec), or one per column name; integers are printed
        without decimals.
    index : bool, default False
        Include the index as the first column.
    missing : str, default ""
        Text for NaN / None.
    caption : str, optional
        A line printed after the table.

    Returns
    -------
    MarkdownText
        The Markdown text, ending with a newline (a ``str``; a notebook shows it rendered).
    """
    if index:
        table = table.reset_index()
    headers = [_escape(str(c)) for c in table.columns]
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])
               for c in table.columns]
    body = [[_escape(_cell(v, c, floatfmt, missing)) for v, c in zip(row, table.columns)]
            for row in table.itertuples(index=False, name=None)]
    widths = [max([len(h), 3] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w
                             for w, num in zip(widths, numeric)) + " |"
    lines = [line(headers), rule] + [line(r) for r in body]
    if caption:
        lines += ["", caption]
    return MarkdownText("\n".join(lines) + "\n")


def write_table(table: pd.DataFrame, stem: str | os.PathLike, *, pretty: pd.DataFrame | None = None,
                caption: str | None = None) -> list[Path]:
    """Write ``<stem>.csv`` (``table``) and ``<stem>.md`` (``pretty`` or ``table``), atomically.

    Parameters
    ----------
    table : DataFrame
        The machine-readable table (CSV, no index, floats to 6 significant digits).
    stem : path-like
        Target without suffix; its folder is created if needed.
    pretty : DataFrame, optional
        What the Markdown file shows (e.g. :func:`model_table`); default ``table``.
    caption : str, optional
        A line under the Markdown table.

    Returns
    -------
    list of Path
        The CSV and the Markdown file.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".md")
    write_csv(table, csv_path, float_format="%.6g")
    atomic_write(md_path, to_markdown(pretty if pretty is not None else table, caption=caption))
    return [csv_path, md_path]


def show_and_write(table: pd.DataFrame, stem: str | os.PathLike, *, pretty: pd.DataFrame | None = None,
                   caption: str | None = None) -> list[Path]:
    """Show a table in the notebook (Markdown, :func:`to_markdown`), then :func:`write_table` it.

    Parameters
    ----------
    table, stem, pretty, caption
        As for :func:`write_table`; what is shown is what the Markdown file holds.

    Returns
    -------
    list of Path
        The CSV and the Markdown file.
    """
    from IPython.display import display

    display(to_markdown(pretty if pretty is not None else table, caption=caption))
    return write_table(table, stem, pretty=pretty, caption=caption)


def model_record(summary: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The machine-readable form of :func:`model_table`: plain column names, and the context.

    Parameters
    ----------
    summary : DataFrame
        Joined summary (:func:`htsr_utils.paper.reference_data.join_reference`), indexed by model.
    columns : sequence of str
        The table's columns, as for :func:`model_table` (absent ones are empty).

    Returns
    -------
    DataFrame
        Columns ``model``, ``series``, ``columns``, ``accuracy_source``, ``convention``,
        ``weights``; one row per model, in the order of ``summary``.
    """
    keys = ["model", "series", *columns, "accuracy_source", "convention", "weights"]
    return summary.rename_axis("model").reset_index().reindex(columns=keys)


def show_and_write_model_table(summary: pd.DataFrame, columns: Sequence[str], stem: str | os.PathLike, *,
                               caption: str | None = None) -> list[Path]:
    """Show a family notebook's table and write it: :func:`model_table` in ``<stem>.md``,
    :func:`model_record` in ``<stem>.csv``.

    Parameters
    ----------
    summary : DataFrame
        Joined summary, indexed by model.
    columns : sequence of str
        The table's columns (e.g. :data:`PAPER_TABLE_COLUMNS`).
    stem : path-like
        Target without suffix.
    caption : str, optional
        A line under the table (e.g. :func:`accuracy_caption`).

    Returns
    -------
    list of Path
        The CSV and the Markdown file.
    """
    return show_and_write(model_record(summary, columns), stem, pretty=model_table(summary, columns), caption=caption)


def top1_error(summary: pd.DataFrame) -> pd.Series:
    """The top-1 error of each model, ``100 - top1`` (percent), as Tables 4 and 5 give it."""
    return 100.0 - pd.to_numeric(summary["top1"], errors="coerce").astype(float)


def paper_table(summary: pd.DataFrame, number: int, *, architecture: Sequence[str] | None = None) -> pd.DataFrame:
    """Table ``number`` of the paper in the draft's layout: Architecture, Model, then
    :data:`PAPER_TABLE_LAYOUTS` ``[number]`` with the draft's headers.

    Parameters
    ----------
    summary : DataFrame
        Joined summary (:func:`htsr_utils.paper.reference_data.join_reference`), indexed by model,
        with the rows of this table.
    number : {1, 2, 3, 4, 5}
        The table.
    architecture : sequence of str, optional
        The Architecture of each row (Table 1: ``"vgg11"`` for vgg11 and vgg11_bn); default the
        ``series`` column.

    Returns
    -------
    DataFrame
        Plain columns (no index), rows in the order of ``summary``.

    Raises
    ------
    KeyError
        If ``number`` is not a table of the paper.
    """
    return model_table(_paper_columns(summary, architecture), PAPER_TABLE_LAYOUTS[number], group="architecture",
                       labels=_PAPER_TABLE_LABELS.get(number))


def show_and_write_paper_table(summary: pd.DataFrame, number: int, stem: str | os.PathLike, *,
                               architecture: Sequence[str] | None = None, caption: str | None = None) -> list[Path]:
    """Show Table ``number`` in the draft's layout and write it: :func:`paper_table` in
    ``<stem>.md``, :func:`model_record` of the same columns in ``<stem>.csv``.

    Parameters
    ----------
    summary, number, architecture
        As for :func:`paper_table`.
    stem : path-like
        Target without suffix.
    caption : str, optional
        A line under the table (e.g. :func:`accuracy_caption`).

    Returns
    -------
    list of Path
        The CSV and the Markdown file.
    """
    record = model_record(_paper_columns(summary, architecture), ["architecture", *PAPER_TABLE_LAYOUTS[number]])
    return show_and_write(record, stem, pretty=paper_table(summary, number, architecture=architecture),
                          caption=caption)


def _paper_columns(summary: pd.DataFrame, architecture: Sequence[str] | None) -> pd.DataFrame:
    """``summary`` with the ``architecture`` and ``top1_error`` columns the paper's tables show."""
    names = summary["series"] if architecture is None else list(architecture)
    return summary.assign(architecture=names, top1_error=top1_error(summary))


def _cell(value: object, column: object, floatfmt: str | Mapping[str, str], missing: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        spec = floatfmt.get(str(column), ".3f") if isinstance(floatfmt, Mapping) else floatfmt
        return format(float(value), spec)
    return str(value)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
