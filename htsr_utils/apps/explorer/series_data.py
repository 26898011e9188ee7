"""A checkpoint series in memory for the series view: a recorded run, or a folder of checkpoints
analyzed into one.

A recorded run is a folder written by :mod:`htsr_utils.experiments.recording` (``run.json``,
``layers.csv``, ``curve.csv``, ``esds/``), read with
:func:`~htsr_utils.experiments.recording.load_run`.  A folder of checkpoints (Hugging Face
Trainer ``checkpoint-N/`` folders, or weight files numbered by step) is analyzed into a run by
:func:`~htsr_utils.experiments.checkpoint_series.checkpoint_series`.  :class:`SeriesData`
keeps the tables the views draw (one per metric, computed once) and each matrix's fitted
eigenvalues at each step, read from the run when first asked for and then kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ...engine.checkpoint import WeightFileError, open_checkpoint
from ...engine.metrics import fit_eigenvalues
from ...experiments.checkpoint_series import checkpoint_series, find_checkpoints
from ...experiments.recording import RECORDER_SOURCE, RecordedRun, load_run
from .series_figures import MATRIX_METRICS

#: The file that makes a folder a recorded run.
RUN_FILE = "run.json"
#: Columns of a run's ``layers.csv`` the view needs besides a metric.
REQUIRED_COLUMNS = ("step", "matrix", "status")

SeriesKind = Literal["run", "checkpoints"]


def series_kind(path: str | os.PathLike) -> SeriesKind | None:
    """``"run"`` for a recorded run (a folder with ``run.json``), ``"checkpoints"`` for a
    folder of checkpoints, None for anything else (a weight file, one checkpoint folder).

    A folder that is one checkpoint itself is a series only if it also holds
    ``checkpoint-N/`` folders (a Trainer's output folder, its final model next to them):
    the numbered files of a checkpoint folder are the shards of its model.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        return None
    if (path / RUN_FILE).is_file():
        return "run"
    try:
        found = find_checkpoints(path)
    except ValueError:  # none, or two of one step
        return None
    if _is_one_checkpoint(path) and not any(p.is_dir() for _, p in found):
        return None
    return "checkpoints"


def _is_one_checkpoint(folder: Path) -> bool:
    """Whether ``folder`` opens as one checkpoint (:func:`htsr_utils.engine.checkpoint.open_checkpoint`)."""
    try:
        open_checkpoint(folder).close()
        return True
    except WeightFileError:
        return False


@dataclass
class SeriesData:
    """A recorded run with what the series view draws.

    Attributes
    ----------
    run : RecordedRun
    label : str
        The run's folder name; for a run of saved checkpoints, their folder's.
    matrices : list of str
        Matrix labels in model order (first appearance in ``layers.csv``).
    metrics : list of str
        The per-matrix metrics of :data:`.series_figures.MATRIX_METRICS` the run has.
    averages : DataFrame
        :meth:`RecordedRun.averages`: one row per step, per-model averages and the curve.
    curve_columns : list of str
        The recorded training scalars (columns of ``curve.csv`` besides ``step``).
    """

    run: RecordedRun
    label: str
    matrices: list[str]
    metrics: list[str]
    averages: pd.DataFrame
    curve_columns: list[str]
    _rows: dict[tuple[int, str], int] = field(repr=False)
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    _fitted: dict[tuple[int, str], np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, run: RecordedRun) -> "SeriesData":
        """The series of ``run``.

        Raises
        ------
        ValueError
            One line naming the run's ``layers.csv``: a column the view needs is missing, it
            has none of the metrics, or it has no row.
        """
        layers = run.layers
        where = Path(run.path) / "layers.csv"
        missing = [c for c in REQUIRED_COLUMNS if c not in layers.columns]
        if missing:
            raise ValueError(f"{where} has no column {', '.join(missing)}")
        metrics = [m for m in MATRIX_METRICS if m in layers.columns]
        if not metrics:
            raise ValueError(f"{where} has none of the metrics {', '.join(MATRIX_METRICS)}")
        if layers.empty or not len(run.steps):
            raise ValueError(f"{where} has no row (no step recorded)")
        keys = zip(layers["step"].astype(int), layers["matrix"].astype(str))
        rows = {key: i for i, key in enumerate(keys)}
        curve = [c for c in run.curve.columns if c != "step"]
        label = Path(run.path).name if run.source == RECORDER_SOURCE else f"checkpoints of {Path(run.source).name}"
        return cls(run, label, run.matrices(), metrics, run.averages(), curve, rows)

    @property
    def steps(self) -> list[int]:
        """The recorded steps, in order."""
        return [int(s) for s in self.run.steps]

    @property
    def average_columns(self) -> list[str]:
        """The per-model averages (numeric columns of :attr:`averages` that are not the curve)."""
        skip = {"step", "L", "N_alpha", *self.curve_columns}
        return [c for c in self.averages.columns
                if c not in skip and pd.api.types.is_numeric_dtype(self.averages[c])]

    def table(self, column: str) -> pd.DataFrame:
        """``column`` of every matrix (rows, :attr:`matrices` order) at every step (columns)."""
        if column not in self._tables:
            layers = self.run.layers.astype({"step": int, "matrix": str})
            wide = layers.pivot(index="matrix", columns="step", values=column)
            self._tables[column] = wide.reindex(index=self.matrices, columns=self.steps)
        return self._tables[column]

    def row(self, step: int, matrix: str) -> pd.Series | None:
        """The ``layers.csv`` row of ``matrix`` at ``step``, None if the run has none."""
        i = self._rows.get((int(step), matrix))
        return None if i is None else self.run.layers.iloc[i]

    def fitted(self, step: int, matrix: str) -> np.ndarray:
        """The eigenvalues of ``matrix`` at ``step`` that its power-law fit saw
        (:func:`htsr_utils.fit_eigenvalues` under the run's convention); read once, then kept."""
        key = (int(step), matrix)
        if key not in self._fitted:
            self._fitted[key] = fit_eigenvalues(self.run.eigenvalues(int(step), matrix), self.run.convention)
        return self._fitted[key]


def open_series(path: str | os.PathLike, convention: str | None = None, *, progress: bool = False) -> SeriesData:
    """The series at ``path``: a recorded run as recorded, a folder of checkpoints analyzed now.

    Parameters
    ----------
    path : str or PathLike
        A recorded run or a folder of checkpoints (:func:`series_kind`).
    convention : str, optional
        The convention a folder of checkpoints is analyzed under (default that of
        :func:`~htsr_utils.experiments.checkpoint_series.checkpoint_series`); a recorded run
        keeps its own, and asking for another one is an error.
    progress : bool
        Show a progress bar while checkpoints are analyzed.

    Raises
    ------
    ValueError, FileNotFoundError, htsr_utils.WeightFileError
        One line naming the folder or file: neither a run nor a folder of checkpoints, a
        convention the run was not recorded under, what reading the run or a checkpoint raises.
    """
    path = Path(path).expanduser()
    kind = series_kind(path)
    if kind == "run":
        run = load_run(path)
        if convention is not None and convention != run.convention:
            raise ValueError(f"run {path} was recorded under convention {run.convention!r}, not {convention!r}")
    elif kind == "checkpoints":
        options = {} if convention is None else {"convention": convention}
        run = checkpoint_series(path, progress=progress, **options)
    else:
        raise ValueError(_not_a_series(path))
    return SeriesData.of(run)


def _not_a_series(path: Path) -> str:
    """Why ``path`` is not a series, in one line."""
    if not path.is_dir():
        return f"no such folder: {path}" if not path.exists() else f"{path} is a file, not a run folder"
    if _is_one_checkpoint(path):
        return f"{path} is one checkpoint, not a series: open it with explore({str(path)!r})"
    try:
        find_checkpoints(path)
        why = "no checkpoint found"
    except ValueError as exc:
        why = str(exc)
    return f"{path} is not a recorded run (no {RUN_FILE}), nor a series: {why}"
