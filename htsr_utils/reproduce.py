"""Run the compendium's notebooks with papermill: :func:`run_notebooks` (``htsr reproduce``).

Notebooks ``NN_*.ipynb`` run in name order, in their own folder (so relative paths and the
figures they write land where they do under Jupyter), with the ``python3`` kernel.  Each
executes into ``<build>/<name>.partial.ipynb``, renamed to ``<name>.ipynb`` on success; a
failed notebook keeps its ``.partial.ipynb`` (papermill writes the error into it) and does
not stop the others.

Report contract: a notebook may call :func:`write_notebook_report` with the models it
computed and skipped; the runner shows the counts.  The file is
``$HTSR_REPORT_DIR/<name>.report.json`` (``{"computed": [...], "skipped": [...]}``); the
runner points ``HTSR_REPORT_DIR`` at its build folder; outside the runner the default is
``build/notebooks`` of the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from . import paths

__all__ = ["NotebookResult", "find_notebooks", "report_path", "report_table", "run_notebooks",
           "write_notebook_report"]

#: Kernel every notebook runs with (see shared/notes/compendium_conventions.md).
KERNEL_NAME = "python3"


@dataclass(frozen=True)
class NotebookResult:
    """Outcome of one notebook.

    Attributes
    ----------
    name : str
        Notebook file name without ``.ipynb``.
    ok : bool
        Whether it ran to the end.
    seconds : float
        Wall time.
    output : Path
        The executed notebook (``.partial.ipynb`` if it failed).
    error : str
        ``"<exception type>: <message>"`` (first line) if it failed, else ``""``.
    computed, skipped : list of str or None
        The models from the notebook's report (:func:`write_notebook_report`), if any.
    """

    name: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    computed: list[str] | None = None
    skipped: list[str] | None = None


def report_path(name: str) -> Path:
    """Where :func:`write_notebook_report` writes the report of notebook ``name``."""
    folder = os.environ.get("HTSR_REPORT_DIR") or paths.build_dir() / "notebooks"
    return Path(folder) / f"{name}.report.json"


def write_notebook_report(name: str, computed: Iterable[str], skipped: Iterable[str]) -> Path:
    """Record which models a notebook computed and skipped, for the ``htsr reproduce`` report.

    Parameters
    ----------
    name : str
        The notebook's file name without ``.ipynb`` (e.g. ``"01_zoo_metrics"``).
    computed, skipped : iterable of str
        Model names (e.g. ``result.summary.index`` and ``result.skipped["model"]`` of
        :func:`htsr_utils.many.analyze_many`).

    Returns
    -------
    Path
        The report file written.
    """
    path = report_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"computed": [str(m) for m in computed],
                                "skipped": [str(m) for m in skipped]}, indent=1))
    return path


def find_notebooks(notebooks_dir: Path, only: Sequence[str] | None = None) -> list[Path]:
    """The ``NN_*.ipynb`` notebooks of a folder in name order, optionally only some.

    ``only`` holds notebook numbers (``"01"``) or names (``"01_vgg"``, ``"01_vgg.ipynb"``).

    Raises
    ------
    FileNotFoundError
        No notebook in the folder, or an entry of ``only`` that matches none.
    """
    notebooks = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {notebooks_dir}")
    if only is None:
        return notebooks
    def selected(path: Path, wanted: str) -> bool:
        return wanted in (path.name.split("_", 1)[0], path.stem, path.name)

    missing = [n for n in only if not any(selected(p, n) for p in notebooks)]
    if missing:
        raise FileNotFoundError(f"no notebook numbered or named {', '.join(missing)} in {notebooks_dir} "
                                f"(found: {', '.join(p.name for p in notebooks)})")
    return [p for p in notebooks if any(selected(p, n) for n in only)]


def run_notebooks(
    notebooks_dir: Path | str | None = None,
    build_dir: Path | str | None = None,
    *,
    only: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[NotebookResult]:
    """Execute the notebooks in order with papermill; a failure does not stop the others.

    Parameters
    ----------
    notebooks_dir : Path or str, optional
        Folder of ``NN_*.ipynb`` notebooks, each run with it as working directory; default
        ``notebooks/`` of the repository (:func:`htsr_utils.paths.notebooks_dir`).
    build_dir : Path or str, optional
        Where executed notebooks and reports go (created if needed); default
        ``build/notebooks/`` of the repository.
    only : sequence of str, optional
        Run only these numbers (``["01", "03"]``).
    parameters : mapping, optional
        Values injected into each notebook, but only those its ``parameters`` cell declares.
    progress : bool, default True
        Progress bar over notebooks.

    Returns
    -------
    list of NotebookResult
        One per notebook, in run order.

    Raises
    ------
    FileNotFoundError
        No notebook to run (see :func:`find_notebooks`).
    """
    notebooks = find_notebooks(Path(notebooks_dir or paths.notebooks_dir()), only)
    build = Path(build_dir or paths.build_dir() / "notebooks").resolve()
    build.mkdir(parents=True, exist_ok=True)
    results = []
    with _environ(HTSR_REPORT_DIR=str(build)):
        bar = tqdm(notebooks, desc="notebooks", unit="notebook", disable=not progress)
        for notebook in bar:
            bar.set_postfix_str(notebook.stem)
            results.append(_run_one(notebook, build, parameters or {}))
    return results


def _run_one(notebook: Path, build: Path, parameters: Mapping[str, Any]) -> NotebookResult:
    import papermill  # here, not at the top: notebooks import this module for the report
    from traitlets.config import Config

    # IPC sockets, not TCP ports: private to this user, and no ipykernel warning about
    # unencrypted TCP for every notebook.
    kernel_config = Config({"KernelManager": {"transport": "ipc"}})

    name = notebook.stem
    final, partial = build / f"{name}.ipynb", build / f"{name}.partial.ipynb"
    for stale in (final, report_path(name)):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        declared = papermill.inspect_notebook(str(notebook))
        papermill.execute_notebook(
            str(notebook), str(partial), kernel_name=KERNEL_NAME, cwd=str(notebook.parent),
            parameters={k: v for k, v in parameters.items() if k in declared},
            progress_bar=False, config=kernel_config)
    except Exception as exc:  # any failure is reported, and the next notebook runs
        return NotebookResult(name, False, time.perf_counter() - start, partial,
                              _exception_line(exc), *_read_report(name))
    os.replace(partial, final)
    return NotebookResult(name, True, time.perf_counter() - start, final, "", *_read_report(name))


def _exception_line(exc: Exception) -> str:
    """``"Type: message"`` of the error raised in the notebook (or by papermill), one line."""
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    lines = str(evalue).strip().splitlines()
    return f"{ename}: {lines[0] if lines else ''}"


def _read_report(name: str) -> tuple[list[str] | None, list[str] | None]:
    try:
        report = json.loads(report_path(name).read_text())
    except (OSError, ValueError):
        return None, None
    return report.get("computed"), report.get("skipped")


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by kernels) for the duration of the block."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def report_table(results: Sequence[NotebookResult]) -> pd.DataFrame:
    """One row per notebook: ``notebook``, ``result`` (``ok`` or ``failed: <error>``),
    ``time``, ``models computed / skipped`` (empty without a report)."""
    return pd.DataFrame(
        [{"notebook": r.name,
          "result": "ok" if r.ok else f"failed: {r.error}",
          "time": f"{r.seconds:.1f} s",
          "models computed / skipped": (f"{len(r.computed or [])} / {len(r.skipped or [])}"
                                        if r.computed is not None or r.skipped is not None else "")}
         for r in results],
        columns=["notebook", "result", "time", "models computed / skipped"])


def skipped_notes(results: Sequence[NotebookResult], shown: int = 4) -> list[str]:
    """One line per notebook that skipped models: which ones, and where to read why.

    Models are skipped when their pretrained weights are neither cached nor downloadable; the
    executed notebook's "skipped" table gives, for each, the URL and the cache path to put
    the file at.
    """
    notes = []
    for r in results:
        if r.skipped:
            names = ", ".join(r.skipped[:shown]) + (", ..." if len(r.skipped) > shown else "")
            notes.append(f"{r.name}: skipped {len(r.skipped)} models ({names}): pretrained weights "
                         f"unavailable; {r.output} lists each URL and where to put the file.")
    return notes
