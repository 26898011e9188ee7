"""Per-layer metrics recorded over training: :class:`TrainingRecorder`, :func:`load_run`.

Call :meth:`TrainingRecorder.record` every few steps (or every epoch) of a plain PyTorch
training loop; each call analyzes the model's weights (:func:`htsr_utils.analyze_with_esds`)
and adds one step to a *run folder*.  :func:`htsr_utils.experiments.checkpoint_series.checkpoint_series`
writes the same folder from saved checkpoints, and :func:`load_run` reads either.

The run format, version 1
-------------------------
``run_dir/run.json``
    ``{"format": "htsr-run", "version": 1, "convention": str, "estimators": [str, ...],
    "steps": [int, ...], "source": str}``: the steps recorded (sorted), the convention and
    estimators of the analysis, and where the weights came from (``"recorder"``, or the
    checkpoint folder).
``run_dir/layers.csv``
    One row per (step, matrix): ``step`` (int), ``matrix`` (the layer name, plus
    ``"[slice]"`` when analyze's ``slice`` is not null, e.g. ``"conv2[1,2]"``), then
    analyze's per-matrix columns (``layer``, ``slice``, ``N``, ``M``, ``lambda_max``,
    ``alpha``, ``alpha_hill``, ``log_norm``, ``alpha_weighted``, ``status``, ...).  Missing
    numbers are empty fields.
``run_dir/curve.csv``
    ``step`` and the scalars the caller gave at that step (``train_loss``,
    ``test_accuracy``, ...), one row per recorded step; it may have only ``step``.
``run_dir/esds/step-00000012.npz``
    Per step, one float64 array per matrix (key: the matrix label), its eigenvalues as
    :func:`htsr_utils.analyze_with_esds` computed them.

Every file is written atomically (:mod:`htsr_utils.storage.fileio`): the step's ``.npz``,
then ``layers.csv``, then ``curve.csv``, then ``run.json``.  ``run.json`` is the record of
what is complete: a reader takes the steps it lists and ignores rows and files of any other
step, so an interrupted write leaves the previous state readable.  A new recorder on an
existing run folder continues it; a step already recorded is refused (one line naming the
folder and the step), so a resumed loop records only the steps that are missing
(``step in recorder.steps``).

The default convention is ``"ww"`` (weightwatcher 0.7.7's defaults, not the SDM 2020
authors' notebooks): it keeps the small layers of the models one trains on a laptop (every
Linear and convolution with 8..15,000 eigenvalues, the 10-logit output layer included, where
``sdm2020`` drops every matrix with min(N, M) < 50) and pools the kernel positions of a
convolution into one ESD, so that a layer is one line over training.
"""

from __future__ import annotations

import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..engine.conventions import get_convention
from ..engine.metrics import analyze_with_esds, check_estimators, summarize
from ..storage.fileio import atomic_write, unwritable_folder_problem, write_csv

__all__ = ["DEFAULT_CONVENTION", "DEFAULT_ESTIMATORS", "RECORDER_SOURCE", "RUN_FORMAT", "RUN_VERSION",
           "RecordedRun", "RunFormatError", "RunWriter", "TrainingRecorder", "esd_file", "load_run", "matrix_label"]

#: ``format`` and ``version`` of ``run.json``.
RUN_FORMAT = "htsr-run"
RUN_VERSION = 1
#: Convention and estimators of a :class:`TrainingRecorder` unless told otherwise.
DEFAULT_CONVENTION = "ww"
DEFAULT_ESTIMATORS: tuple[str, ...] = ("csn", "hill")
#: ``source`` of a run written by :class:`TrainingRecorder`.
RECORDER_SOURCE = "recorder"

#: What a run folder holds besides ``run.json``.
_RUN_FILES = ("esds", "layers.csv", "curve.csv")

#: Text columns of ``layers.csv``: an empty field there is an empty text, not a missing number.
_TEXT_COLUMNS = ("matrix", "layer", "layer_type", "slice", "status", "warning")


class RunFormatError(ValueError):
    """A folder is not a run folder, or one this version of htsr does not read."""


def matrix_label(layer: str, slice_: str | None) -> str:
    """The ``matrix`` label of a row: ``layer``, plus ``"[slice]"`` when ``slice_`` is not null.

    Parameters
    ----------
    layer : str
        analyze's ``layer`` column.
    slice_ : str or None
        analyze's ``slice`` column (``"1,2"`` for kernel position (1, 2)).

    Returns
    -------
    str
    """
    if slice_ is None or (isinstance(slice_, float) and math.isnan(slice_)) or slice_ == "":
        return layer
    return f"{layer}[{slice_}]"


def esd_file(run_dir: str | Path, step: int) -> Path:
    """The ``.npz`` of one step's eigenvalues: ``run_dir/esds/step-<8 digits>.npz``."""
    return Path(run_dir) / "esds" / f"step-{step:08d}.npz"


@dataclass
class RecordedRun:
    """A run folder read by :func:`load_run`.

    Attributes
    ----------
    path : Path
        The run folder.
    convention : str
        Convention of the analysis.
    estimators : tuple of str
        Estimators of the analysis (``"csn"``, ``"hill"``).
    steps : list of int
        The steps recorded, sorted.
    layers : DataFrame
        ``layers.csv``: ``step``, ``matrix`` and analyze's per-matrix columns.
    curve : DataFrame
        ``curve.csv``: ``step`` and the scalars recorded with it.
    source : str
        ``"recorder"`` or the checkpoint folder the run was read from.
    """

    path: Path
    convention: str
    estimators: tuple[str, ...]
    steps: list[int]
    layers: pd.DataFrame
    curve: pd.DataFrame
    source: str
    _esds: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def matrices(self) -> list[str]:
        """The matrix labels, in the order of the first step that has each."""
        return list(dict.fromkeys(self.layers["matrix"]))

    def eigenvalues(self, step: int, matrix: str) -> np.ndarray:
        """The eigenvalues of ``matrix`` at ``step`` (the step's ``.npz`` is read once, then kept).

        Parameters
        ----------
        step : int
            A recorded step.
        matrix : str
            A matrix label of that step (:func:`matrix_label`).

        Returns
        -------
        ndarray
            float64 eigenvalues as analyze computed them.

        Raises
        ------
        KeyError
            The step is not recorded, or has no such matrix.
        """
        if step not in self.steps:
            raise KeyError(f"run {self.path}: step {step} is not recorded (steps {_span(self.steps)})")
        arrays = self._esds.get(step)
        if arrays is None:
            with np.load(esd_file(self.path, step)) as npz:
                arrays = {key: npz[key] for key in npz.files}
            self._esds[step] = arrays
        if matrix not in arrays:
            raise KeyError(f"run {self.path}: step {step} has no matrix {matrix!r} "
                           f"(it has {len(arrays)}, e.g. {list(arrays)[:3]})")
        return arrays[matrix]

    def averages(self) -> pd.DataFrame:
        """Per step, the model averages of :func:`htsr_utils.summarize`, joined with the curve.

        Returns
        -------
        DataFrame
            One row per recorded step: ``step``, :data:`htsr_utils.SUMMARY_METRICS`, then the
            scalars of ``curve``.
        """
        rows = [summarize(self.layers[self.layers["step"] == step]).rename(step) for step in self.steps]
        table = pd.DataFrame(rows).rename_axis("step").reset_index()
        for column in ("L", "N_alpha"):
            table[column] = table[column].astype(int)
        for column in table.columns.difference(["step", "L", "N_alpha"]):
            table[column] = table[column].astype(float)
        return table.merge(self.curve, on="step", how="left")


def load_run(path: str | Path) -> RecordedRun:
    """Read a run folder (the format of the module docstring).

    Parameters
    ----------
    path : str or Path
        The run folder.

    Returns
    -------
    RecordedRun
        The steps ``run.json`` lists, and only their rows of ``layers.csv`` and ``curve.csv``.

    Raises
    ------
    RunFormatError
        One line naming the folder: not a folder, no or unreadable ``run.json``, another
        format or an unsupported version, a missing ``layers.csv`` or step file.
    """
    path = Path(path)
    meta = _read_meta(path)
    steps = meta["steps"]
    layers = _read_layers(path / "layers.csv") if steps else pd.DataFrame(columns=["step", "matrix"])
    layers = layers[layers["step"].isin(steps)].reset_index(drop=True)
    missing = sorted(set(steps) - set(layers["step"]))
    if missing:
        raise RunFormatError(f"run {path}: layers.csv has no rows for steps {missing} that run.json lists")
    absent = [step for step in steps if not esd_file(path, step).is_file()]
    if absent:
        raise RunFormatError(f"run {path}: eigenvalue files missing for steps {absent} "
                             f"(expected {esd_file(path, absent[0]).relative_to(path)})")
    curve_file = path / "curve.csv"
    curve = pd.read_csv(curve_file, float_precision="round_trip") if curve_file.is_file() \
        else pd.DataFrame({"step": steps})
    curve = curve[curve["step"].isin(steps)].sort_values("step").reset_index(drop=True)
    return RecordedRun(path=path, convention=meta["convention"], estimators=tuple(meta["estimators"]),
                       steps=steps, layers=layers, curve=curve, source=meta["source"])


def _read_meta(path: Path) -> dict:
    """``run.json`` of ``path``, checked."""
    if not path.is_dir():
        raise RunFormatError(f"{path}: not a run folder ({'a file' if path.exists() else 'it does not exist'})")
    file = path / "run.json"
    if not file.is_file():
        raise RunFormatError(f"{path}: not a run folder (no run.json)")
    try:
        meta = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFormatError(f"{file}: unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise RunFormatError(f"{file}: not an {RUN_FORMAT} run (format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{file}: not an {RUN_FORMAT} run")
    if meta.get("version") != RUN_VERSION:
        raise RunFormatError(f"{file}: run format version {meta.get('version')!r} is not supported "
                             f"(this htsr reads version {RUN_VERSION})")
    for key, kind in (("convention", str), ("estimators", list), ("steps", list), ("source", str)):
        if not isinstance(meta.get(key), kind):
            raise RunFormatError(f"{file}: {key!r} missing or not a {kind.__name__}")
    return meta


def _read_layers(file: Path) -> pd.DataFrame:
    """``layers.csv``: numbers exact (round trip), text columns as text, empty slice as None."""
    if not file.is_file():
        raise RunFormatError(f"{file.parent}: layers.csv is missing")
    header = pd.read_csv(file, nrows=0).columns
    text = {c: str for c in _TEXT_COLUMNS if c in header}
    layers = pd.read_csv(file, dtype=text, keep_default_na=False, float_precision="round_trip",
                         na_values={c: [""] for c in header if c not in text})
    if "slice" in layers:
        # inferred as analyze's column is: None throughout, or text with missing values
        layers["slice"] = pd.Series([value or None for value in layers["slice"]])
    return layers


def _span(steps: Sequence[int]) -> str:
    return f"{steps[0]}..{steps[-1]}, {len(steps)} in all" if steps else "none"


class RunWriter:
    """Adds steps to a run folder, each file atomically and ``run.json`` last.

    Parameters
    ----------
    run : RecordedRun
        The run as it stands (:func:`load_run`, or an empty one).
    """

    def __init__(self, run: RecordedRun) -> None:
        self.run = run

    @classmethod
    def open(cls, path: str | Path, convention: str, estimators: Sequence[str], source: str) -> RunWriter:
        """The writer of the run at ``path``: continued if it exists, else started empty.

        Raises
        ------
        ValueError
            The folder cannot be written.
        RunFormatError
            The folder holds a run of another convention, estimators or source, or other
            files than a run's but no ``run.json``.
        """
        path = Path(path)
        problem = unwritable_folder_problem(path)
        if problem:
            raise ValueError(f"run folder {path}: {problem}")
        if (path / "run.json").exists():
            run = load_run(path)
            mine = (convention, tuple(estimators), source)
            theirs = (run.convention, run.estimators, run.source)
            if mine != theirs:
                raise RunFormatError(
                    f"run {path} was recorded with convention {run.convention!r}, estimators "
                    f"{list(run.estimators)}, source {run.source!r}; asked for {convention!r}, "
                    f"{list(estimators)}, {source!r}: use another run folder")
            return cls(run)
        foreign = [p.name for p in path.iterdir() if p.name not in _RUN_FILES] if path.is_dir() else []
        if foreign:  # the run's own files without run.json: a first step interrupted, started again
            raise RunFormatError(f"run folder {path} holds files but no run.json ({foreign[0]}, ...): "
                                 "use an empty or new folder")
        return cls(RecordedRun(path=path, convention=convention, estimators=tuple(estimators), steps=[],
                               layers=pd.DataFrame(columns=["step", "matrix"]),
                               curve=pd.DataFrame({"step": pd.Series([], dtype=int)}), source=source))

    def check_new(self, step: int) -> None:
        """Raise ValueError (one line naming the folder) if ``step`` is already recorded."""
        if step in self.run.steps:
            raise ValueError(f"run {self.run.path}: step {step} is already recorded (steps "
                             f"{_span(self.run.steps)}); record only the steps that are missing "
                             "(step in recorder.steps)")

    def add(self, step: int, details: pd.DataFrame, esds: Sequence[np.ndarray],
            scalars: Mapping[str, float] | None = None) -> pd.DataFrame:
        """Write one step: its eigenvalues, its rows, its scalars, then ``run.json``.

        Parameters
        ----------
        step : int
            Not yet recorded (:meth:`check_new`).
        details, esds
            What :func:`htsr_utils.analyze_with_esds` returned for the step's weights.
        scalars : mapping of str to float, optional
            The step's row of ``curve.csv``.

        Returns
        -------
        DataFrame
            The step's rows of ``layers.csv``: ``step``, ``matrix``, then ``details``' columns.
        """
        run = self.run
        self.check_new(step)
        table = details.copy()
        table.insert(0, "matrix", [matrix_label(layer, s) for layer, s in zip(table["layer"], table["slice"])])
        table.insert(0, "step", step)
        table.attrs = {}
        buffer = io.BytesIO()
        np.savez(buffer, **{label: np.asarray(e, dtype=np.float64) for label, e in zip(table["matrix"], esds)})
        atomic_write(esd_file(run.path, step), buffer.getvalue())
        steps = sorted([*run.steps, step])
        layers = table if run.layers.empty else pd.concat([run.layers, table], ignore_index=True)
        layers = layers.sort_values("step", kind="stable").reset_index(drop=True)
        write_csv(layers, run.path / "layers.csv")
        curve = pd.concat([run.curve, pd.DataFrame([{"step": step, **(scalars or {})}])], ignore_index=True)
        curve = curve.sort_values("step", kind="stable").reset_index(drop=True)
        curve["step"] = curve["step"].astype(int)
        write_csv(curve, run.path / "curve.csv")
        meta = {"format": RUN_FORMAT, "version": RUN_VERSION, "convention": run.convention,
                "estimators": list(run.estimators), "steps": steps, "source": run.source}
        atomic_write(run.path / "run.json", json.dumps(meta, indent=1) + "\n")
        run.steps, run.layers, run.curve = steps, layers, curve
        return table


class TrainingRecorder:
    """Records per-layer metrics of a model during training, into a run folder.

    Parameters
    ----------
    run_dir : str or Path
        The run folder (created if needed).  An existing run is continued: its convention
        and estimators must be those asked for.
    convention : str, default "ww"
        Analysis convention (:data:`htsr_utils.CONVENTIONS`); see the module docstring.
    estimators : sequence of str, default ("csn", "hill")
        Power-law estimators of :func:`htsr_utils.analyze`.
    every : int, default 1
        :meth:`record` analyzes only steps that are multiples of ``every``.
    device : str, default "cpu"
        Where eigenvalues are computed.
    progress : bool, default False
        A progress bar of each :meth:`record`'s eigenvalue work (for models whose analysis
        takes long).

    Examples
    --------
    >>> recorder = TrainingRecorder("runs/mlp-seed0")              # doctest: +SKIP
    >>> recorder.record(model, 0, test_accuracy=evaluate(model))   # doctest: +SKIP
    >>> for epoch in range(1, epochs + 1):                         # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     recorder.record(model, epoch, test_accuracy=evaluate(model))
    >>> load_run("runs/mlp-seed0").averages()                      # doctest: +SKIP
    """

    def __init__(self, run_dir: str | Path, convention: str = DEFAULT_CONVENTION,
                 estimators: Sequence[str] = DEFAULT_ESTIMATORS, every: int = 1, device: str = "cpu",
                 progress: bool = False) -> None:
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"TrainingRecorder: every must be a positive integer, got {every!r}")
        conv = get_convention(convention).name
        self.every = int(every)
        self.device = device
        self.progress = progress
        self._writer = RunWriter.open(run_dir, conv, check_estimators(estimators), RECORDER_SOURCE)

    @property
    def path(self) -> Path:
        """The run folder."""
        return self._writer.run.path

    @property
    def steps(self) -> list[int]:
        """The steps recorded so far (those of an earlier session included)."""
        return list(self._writer.run.steps)

    def due(self, step: int) -> bool:
        """Whether :meth:`record` analyzes ``step``: a multiple of ``every`` not yet recorded."""
        return step % self.every == 0 and step not in self._writer.run.steps

    def record(self, model: nn.Module, step: int, **scalars: float) -> pd.DataFrame | None:
        """Analyze the weights of ``model`` and add them to the run as ``step``.

        The weights are read without gradient (detached and copied to the CPU by the
        engine); the model and its optimizer are not changed.

        Parameters
        ----------
        model : nn.Module
            The model being trained (on any device).
        step : int
            Step or epoch number, >= 0 (0: the initialization), not yet recorded.
        **scalars : float
            Numbers of this step for ``curve.csv`` (``train_loss=..., test_accuracy=...``).

        Returns
        -------
        DataFrame or None
            The step's rows of ``layers.csv``; None when ``step`` is not a multiple of
            ``every`` (nothing is written).

        Raises
        ------
        ValueError
            ``step`` is not a non-negative integer or is already recorded; a scalar is not a
            real number.
        """
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"TrainingRecorder.record: step must be an integer >= 0, got {step!r}")
        step = int(step)
        values = _checked_scalars(scalars)
        if step % self.every:
            return None
        self._writer.check_new(step)
        with torch.no_grad():
            details, esds = analyze_with_esds(model, self._writer.run.convention, self.device,
                                              progress=self.progress, estimators=self._writer.run.estimators)
        return self._writer.add(step, details, esds, values)

    def run(self) -> RecordedRun:
        """The run as recorded so far (read back from the folder)."""
        return load_run(self.path)


def _checked_scalars(scalars: Mapping[str, object]) -> dict[str, float]:
    """The scalars as floats; one line naming the first that is not a real number."""
    values = {}
    for name, value in scalars.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"TrainingRecorder.record: scalar {name}={value!r} is not a real number")
        values[name] = float(value)
    return values
