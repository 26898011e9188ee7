"""Run the compendium's notebooks with papermill and write the run report (``htsr reproduce``).

Notebooks ``NN_*.ipynb`` run in name order, each in its own folder (so relative paths and
the figures they write land where they do under Jupyter), with the ``python3`` kernel.  A
failing notebook does not stop the others.  Under the build folder (default ``build/``):

- ``notebooks/<name>.ipynb``: the executed notebook (``<name>.partial.ipynb`` if it failed:
  papermill writes the error into it);
- ``notebooks/<name>.report.json``: the models the notebook computed and skipped, with reasons,
  and the claims it checked and could not check (:class:`htsr_utils.apps.claims.Claims`);
- ``html/<name>.html``: the executed notebook as a web page (also for a failed one), its
  formulas as MathML, so that it renders offline (:mod:`htsr_utils.apps.pages`);
- ``index.html``: the run report: notebooks, ok / failed, times, claims checked / not checked,
  skipped models and why, the claims not checked and why, links to the pages.

Report contract: a notebook that declares a ``report_dir`` parameter gets the runner's
``notebooks/`` folder injected there and passes it on to :func:`write_notebook_report`;
run by hand (JupyterLab, nbval) ``report_dir`` stays ``None`` and no report is written.
"""

from __future__ import annotations

import datetime
import functools
import html
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..storage import paths
from ..storage.fileio import atomic_write
from .claims import Claims

__all__ = ["NotebookResult", "find_notebooks", "report_table", "run_notebooks", "skipped_notes",
           "write_index", "write_notebook_report"]

#: Kernel every notebook runs with (``docs/conventions.md``, "Notebooks and their kernel").
KERNEL_NAME = "python3"

#: The papermill parameter through which the runner tells a notebook where its report goes.
REPORT_DIR_PARAMETER = "report_dir"


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
    page : Path or None
        Its HTML page, or None if it could not be written.
    error : str
        ``"<exception type>: <message>"`` (first line) if it failed, else ``""``.
    computed : list of str or None
        Models the notebook computed, from its report (None: no report).
    skipped : dict of str to str or None
        Models it skipped, each with the reason (None: no report).
    claims : Claims or None
        The claims it checked and could not check (None: its report records none).
    """

    name: str
    ok: bool
    seconds: float
    output: Path
    page: Path | None = None
    error: str = ""
    computed: list[str] | None = None
    skipped: dict[str, str] | None = None
    claims: Claims | None = None


def write_notebook_report(
    name: str,
    computed: Iterable[str],
    skipped: Iterable[str] | Mapping[str, str] | pd.DataFrame,
    report_dir: str | Path | None = None,
    claims: Claims | None = None,
) -> Path | None:
    """Record which models a notebook computed and skipped, for the ``htsr reproduce`` report.

    Parameters
    ----------
    name : str
        The notebook's file name without ``.ipynb`` (e.g. ``"01_vgg"``).
    computed : iterable of str
        Model names.
    skipped : iterable of str, mapping or DataFrame
        The models skipped: names, ``{name: reason}``, or a table with columns ``model``,
        ``reason`` and optionally ``how_to_fix`` (``ManyResult.skipped`` of
        :func:`htsr_utils.paper.many.analyze_many`: the weight file's URL and where to put it),
        recorded after the reason.
    report_dir : str or Path, optional
        The notebook's ``report_dir`` parameter, which ``htsr reproduce`` injects.  None (the
        notebook run by hand): nothing is written.
    claims : Claims, optional
        The notebook's claims record: how many it checked, which it could not and why.

    Returns
    -------
    Path or None
        The report file written (``<report_dir>/<name>.report.json``), or None.
    """
    if report_dir is None:
        return None
    if isinstance(skipped, pd.DataFrame):
        texts = skipped.reindex(columns=["reason", "how_to_fix"], fill_value="").fillna("").astype(str)
        skipped = {model: " ".join(filter(None, text))
                   for model, text in zip(skipped["model"], texts.itertuples(index=False))}
    elif not isinstance(skipped, Mapping):
        skipped = dict.fromkeys(skipped, "")
    report = {"computed": [str(m) for m in computed],
              "skipped": [{"model": str(m), "reason": str(r)} for m, r in skipped.items()]}
    if claims is not None:
        report["claims"] = claims.to_json()
    return atomic_write(Path(report_dir) / f"{name}.report.json", json.dumps(report, indent=1))


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
    """Execute the notebooks in order with papermill and write their pages and the run report.

    Parameters
    ----------
    notebooks_dir : Path or str, optional
        Folder of ``NN_*.ipynb`` notebooks, each run with it as working directory; default
        ``notebooks/`` of the repository.
    build_dir : Path or str, optional
        Build folder (created if needed; layout in the module docstring); default ``build/``
        of the repository.
    only : sequence of str, optional
        Run only these notebooks (numbers or names, see :func:`find_notebooks`).
    parameters : mapping, optional
        Values injected into each notebook, but only those its ``parameters`` cell declares.
    progress : bool, default True
        Report progress on stderr: a bar on a terminal, otherwise (a log file, CI) one
        flushed line as each notebook starts and one as it ends.

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
    build = Path(build_dir or paths.build_dir()).resolve()
    executed = build / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    parameters = dict(parameters or {})
    started = datetime.datetime.now(datetime.timezone.utc)
    show = _Progress(len(notebooks), progress)
    results: list[NotebookResult] = []
    for notebook in notebooks:
        show.start(notebook.stem)
        results.append(_run_one(notebook, build, parameters))
        show.end(results[-1])
        write_index(results, build / "index.html", parameters=parameters, started=started)
    show.close()
    return results


class _Progress:
    """A tqdm bar on a terminal; otherwise one flushed line per notebook start and end."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="notebooks", unit="notebook")

    def start(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)
        elif self.enabled:
            print(f"[{self.done + 1}/{self.total}] {name}: running", file=sys.stderr, flush=True)

    def end(self, result: NotebookResult) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elif self.enabled:
            outcome = "ok" if result.ok else f"failed ({result.error})"
            print(f"[{self.done}/{self.total}] {result.name}: {outcome}, {result.seconds:.1f} s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@functools.cache
def _kernel_manager_class() -> type:
    """jupyter_client's kernel manager, less the SIGINT it sends before every shutdown.

    ``KernelManager.shutdown_kernel`` interrupts the kernel before asking it to shut down.
    The runner shuts a kernel down only once its notebook has finished (every cell done, or
    stopped at an error), so there is nothing to interrupt; when the signal lands while the
    kernel is still handling a message, ipykernel logs ``[IPKernelApp] ERROR |
    KeyboardInterrupt caught in kernel.``, an error line about no error.  A Ctrl-C in the
    terminal still reaches the kernel: it is in the runner's process group.
    """
    from jupyter_client.manager import AsyncKernelManager

    class FinishedNotebookKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return FinishedNotebookKernelManager


def _run_one(notebook: Path, build: Path, parameters: Mapping[str, Any]) -> NotebookResult:
    import papermill  # here, not at the top: notebooks import this module for the report
    from traitlets.config import Config

    # IPC sockets, not TCP ports: private to this user, and no ipykernel warning about
    # unencrypted TCP for every notebook.
    kernel_config = Config({"KernelManager": {"transport": "ipc"}})

    name = notebook.stem
    executed = build / "notebooks"
    final, partial = executed / f"{name}.ipynb", executed / f"{name}.partial.ipynb"
    report, page = executed / f"{name}.report.json", build / "html" / f"{name}.html"
    for stale in (final, partial, report, page):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    ok, error = True, ""
    try:
        declared = papermill.inspect_notebook(str(notebook))
        injected = {k: v for k, v in parameters.items() if k in declared}
        if REPORT_DIR_PARAMETER in declared:
            injected[REPORT_DIR_PARAMETER] = str(executed)
        papermill.execute_notebook(
            str(notebook), str(partial), kernel_name=KERNEL_NAME, cwd=str(notebook.parent),
            parameters=injected, progress_bar=False, config=kernel_config,
            kernel_manager_class=_kernel_manager_class())
    except Exception as exc:  # any failure is reported, and the next notebook runs
        ok, error = False, _exception_line(exc)
    seconds = time.perf_counter() - start
    output = partial
    if ok:
        partial.replace(final)
        output = final
    computed, skipped, claims = _read_report(report, name)
    try:
        html = _write_page(output, page)
    except Exception as exc:  # a page that cannot be rendered must not stop the run
        html, ok = None, False
        error = error or f"HTML page: {_exception_line(exc)}"
    return NotebookResult(name, ok, seconds, output, html, error, computed, skipped, claims)


def _write_page(notebook: Path, page: Path) -> Path | None:
    """The executed notebook as an HTML page (None if there is no notebook to convert)."""
    if not notebook.is_file():
        return None
    # Here, not at the top: notebooks import this module for their report, not nbconvert.
    from .pages import notebook_page

    return atomic_write(page, notebook_page(notebook))


def _exception_line(exc: Exception) -> str:
    """``"Type: message"`` of the error raised in the notebook (or by papermill), one line."""
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    lines = str(evalue).strip().splitlines()
    return f"{ename}: {lines[0] if lines else ''}"


def _read_report(path: Path, name: str
                 ) -> tuple[list[str] | None, dict[str, str] | None, Claims | None]:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None, None
    skipped = {entry["model"]: entry.get("reason", "") for entry in report.get("skipped", [])}
    claims = Claims.from_json(name, report["claims"]) if "claims" in report else None
    return list(report.get("computed", [])), skipped, claims


def _claim_counts(result: NotebookResult) -> str:
    """``"checked / not checked"`` claims of a notebook, or ``""`` if it recorded none."""
    if result.claims is None:
        return ""
    checked, unchecked = result.claims.counts()
    return f"{checked} / {unchecked}"


def report_table(results: Sequence[NotebookResult]) -> pd.DataFrame:
    """The run summary ``htsr reproduce`` prints: one row of strings per notebook.

    Columns ``notebook``, ``result`` (``ok`` or ``failed: <error>``), ``time`` and
    ``claims checked / not checked`` and ``models computed / skipped`` (each empty when the
    notebook's report does not record it).
    """
    return pd.DataFrame(
        [{"notebook": r.name,
          "result": "ok" if r.ok else f"failed: {r.error}",
          "time": f"{r.seconds:.1f} s",
          "claims checked / not checked": _claim_counts(r),
          "models computed / skipped": (f"{len(r.computed or [])} / {len(r.skipped or {})}"
                                        if r.computed is not None or r.skipped is not None else "")}
         for r in results],
        columns=["notebook", "result", "time", "claims checked / not checked",
                 "models computed / skipped"])


def skipped_notes(results: Sequence[NotebookResult], shown: int = 4) -> list[str]:
    """One line per notebook that skipped models: which ones, the first reason, and where to read all."""
    notes = []
    for r in results:
        if r.skipped:
            names = list(r.skipped)
            listed = ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")
            reason = next((why for why in r.skipped.values() if why), "")
            notes.append(f"{r.name}: skipped {len(names)} models ({listed})"
                         + (f"; e.g. {names[0]}: {reason.splitlines()[0]}" if reason else "")
                         + f"; every reason in {r.page or r.output}")
    return notes


def write_index(
    results: Sequence[NotebookResult],
    path: Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    started: datetime.datetime | None = None,
) -> Path:
    """Write the run report as an HTML page: one row per notebook, every skipped model, every
    claim not checked.

    Parameters
    ----------
    results : sequence of NotebookResult
        From :func:`run_notebooks`.
    path : Path
        The page (``build/index.html``); links to the notebook pages are relative to it.
    parameters : mapping, optional
        The parameters the run injected, shown at the top.
    started : datetime, optional
        When the run started (UTC).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)

    def link(target: Path | None, text: str) -> str:
        if target is None:
            return html.escape(text)
        try:
            href = target.resolve().relative_to(path.parent.resolve()).as_posix()
        except ValueError:
            href = target.resolve().as_uri()
        return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'

    rows = []
    for r in results:
        counts = ("" if r.computed is None and r.skipped is None
                  else f"{len(r.computed or [])} / {len(r.skipped or {})}")
        outcome = "ok" if r.ok else f"failed: {r.error}"
        rows.append(f'<tr class="{"ok" if r.ok else "failed"}"><td>{link(r.page, r.name)}</td>'
                    f"<td>{html.escape(outcome)}</td><td>{r.seconds:.1f} s</td>"
                    f"<td>{_claim_counts(r)}</td><td>{counts}</td>"
                    f"<td>{link(r.output, r.output.name)}</td></tr>")
    skipped = [f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(model)}</td>"
               f"<td>{html.escape(reason) or 'no reason recorded'}</td></tr>"
               for r in results for model, reason in (r.skipped or {}).items()]
    unchecked = [f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(claim)}</td>"
                 f"<td>{html.escape(reason)}</td></tr>"
                 for r in results if r.claims is not None
                 for claim, reason in r.claims.unchecked.items()]
    settings = ", ".join(f"{k}={v!r}" for k, v in (parameters or {}).items()) or "defaults"
    when = f" started {started:%Y-%m-%d %H:%M} UTC" if started else ""
    failed = sum(not r.ok for r in results)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>htsr reproduce: run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 70em; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
tr.failed td {{ background: #fde8e8; }}
</style></head><body>
<h1>htsr reproduce: run report</h1>
<p>Run{html.escape(when)} with parameters {html.escape(settings)}:
{len(results)} notebooks, {len(results) - failed} ok, {failed} failed.
Each name links to the executed notebook as a web page.</p>
<table>
<tr><th>notebook</th><th>result</th><th>time</th><th>claims checked / not checked</th>\
<th>models computed / skipped</th><th>executed notebook</th></tr>
{chr(10).join(rows)}
</table>
<h2>Skipped models</h2>
{"<table><tr><th>notebook</th><th>model</th><th>reason</th></tr>" + chr(10).join(skipped) + "</table>"
 if skipped else "<p>No notebook skipped a model.</p>"}
<h2>Claims not checked in this run</h2>
{"<table><tr><th>notebook</th><th>claim</th><th>why not</th></tr>" + chr(10).join(unchecked) + "</table>"
 if unchecked else "<p>Every claim the notebooks recorded was checked.</p>"}
</body></html>
"""
    return atomic_write(path, page)
