"""Paper-style tables: column labels, the per-model table, Markdown and files.

* :func:`model_table` - one row per model: Architecture, Model and chosen columns, paper labels.
* :func:`to_markdown` - a GitHub-flavoured Markdown table (``pandas.DataFrame.to_markdown`` needs
  the ``tabulate`` package, which is not a dependency, so the formatter is our own).
* :func:`write_table` - ``<stem>.csv`` and ``<stem>.md``, each written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..storage.fileio import atomic_write, write_csv

__all__ = ["COLUMN_LABELS", "model_table", "to_markdown", "write_table"]

#: Paper-style labels of summary columns (Markdown/Unicode).
COLUMN_LABELS = {
    "series": "Architecture",
    "model": "Model",
    "top1": "Top1",
    "top5": "Top5",
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
) -> str:
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
    str
        The Markdown text, ending with a newline.
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
    return "\n".join(lines) + "\n"


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
