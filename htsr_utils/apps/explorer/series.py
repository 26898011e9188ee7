"""The checkpoint-series view: a model's matrices across the steps of a training run.

A layer x step heatmap of a per-matrix metric; the per-model averages against step with the
training curve when one was recorded; the ESD of one matrix at one step with its power-law
fit (click a heatmap cell, or pick a matrix and move the step slider); the same matrix at a
second step overlaid, and every matrix's change of the metric between the two steps.

Every user action runs as one step (:meth:`SeriesExplorer._act`): it completes, or its error
is shown inside the app and the views go back to what they showed before.  Eigenvalues are
read from the run when a view first needs them, then kept (:class:`.series_data.SeriesData`).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Callable

import ipywidgets as w
import pandas as pd

from . import figures
from . import series_figures as sf
from .app import error_line, in_output, message_line
from .series_data import SeriesData, open_series, series_kind

#: The compare selector's value for no comparison (ipywidgets selectors show no label for None).
NO_COMPARISON = "none"
#: The step slider's one option while no run is open.
_NO_RUN = "-"


@dataclass(frozen=True)
class _State:
    """What the views show."""

    data: SeriesData | None
    matrix: str
    step: int | None
    other: int | None
    metric: str
    average: str


class SeriesExplorer(w.VBox):
    """Interactive view of a checkpoint series; build it with :func:`htsr_utils.explore` on a
    recorded run or a folder of checkpoints, or with :func:`htsr_utils.apps.explorer.explore_run`.

    Attributes (the widgets a user touches; tests drive the same ones)
    ----------
    path : Text
        A run or checkpoint folder; ``open_button`` opens it (checkpoints are analyzed, with a
        progress bar in ``progress``).
    metric : Dropdown
        The per-matrix metric of the heatmap and the change plot.
    average : Dropdown
        The per-model average drawn against step.
    matrix : Dropdown
        The selected matrix (a heatmap click sets it too).
    step : SelectionSlider
        The selected step (value: the step number).
    other_step : Dropdown
        The step compared with it (value: a step number, or :data:`NO_COMPARISON`).
    heatmap, averages, esd, overlay, change : plotly FigureWidget
        The views; each one's ``layout.meta`` says what it shows.
    message : HTML
        Errors and notes about the last action.
    """

    def __init__(self) -> None:
        self.data: SeriesData | None = None
        self._acting = False
        self._lines: list[str] = []

        self.path = w.Text(placeholder="a recorded run (run.json) or a folder of checkpoints", description="run",
                           layout=w.Layout(width="480px"))
        self.open_button = w.Button(description="Open", button_style="primary", icon="folder-open")
        self.busy = w.HTML()
        self.progress = w.Output()
        self.message = w.HTML()
        self.message.add_class("htsr-message")
        self.summary = w.HTML()

        self.metric = w.Dropdown(description="metric", layout=w.Layout(width="380px"))
        self.average = w.Dropdown(description="average", layout=w.Layout(width="380px"))
        self.matrix = w.Dropdown(description="matrix", layout=w.Layout(width="380px"))
        self.step = w.SelectionSlider(options=[_NO_RUN], description="step", continuous_update=False,
                                      disabled=True, layout=w.Layout(width="540px"))
        self.step.add_class("htsr-step-slider")
        self.other_step = w.Dropdown(options=[NO_COMPARISON], description="compare with step",
                                     style={"description_width": "120px"}, layout=w.Layout(width="300px"))
        self.heatmap = sf.heatmap_figure()
        self.averages = sf.averages_figure()
        self.esd = figures.esd_figure()
        self.esd_note = w.HTML()
        self.overlay = sf.overlay_figure()
        self.change = sf.change_figure()

        self._connect()
        super().__init__([
            w.HTML("<style>.htsr-message {color: #b00}</style>"),
            w.HTML("<b>HT-SR checkpoint series</b>: pick a metric, then a matrix and a step (click a heatmap "
                   "cell); compare two steps below."),
            w.HBox([self.path, self.open_button]), self.busy, self.progress, self.message, self.summary,
            w.HBox([self.metric, self.average]),
            w.HBox([self.heatmap, self.averages]),
            w.HBox([self.matrix, self.step]),
            w.HBox([w.VBox([self.esd, self.esd_note]), w.VBox([self.other_step, self.overlay])]),
            self.change,
        ])
        self.add_class("htsr-series")
        self._shown = self._state()
        self._act("opening the series view", self._render)

    def _repr_mimebundle_(self, **kwargs):
        figures.sync_for_display([self.heatmap, self.averages, self.esd, self.overlay, self.change])
        return super()._repr_mimebundle_(**kwargs)

    def _connect(self) -> None:
        on = self._on
        self.open_button.on_click(on("Open", lambda _: self._open(self.path.value.strip(), capture=True)))
        self.metric.observe(on("metric", lambda _: self._draw_metric()), "value")
        self.average.observe(on("average", lambda _: self._draw_averages()), "value")
        self.matrix.observe(on("matrix", lambda change: self._select(change["new"], self.step.value)), "value")
        self.step.observe(on("step", lambda change: self._select(self.matrix.value, change["new"])), "value")
        self.other_step.observe(on("compare step", lambda _: self._draw_steps()), "value")
        self.heatmap.data[0].on_click(on("heatmap cell", self._on_cell))
        self.change.data[0].on_click(on("change bar", self._on_bar))

    # ------------------------------------------------------------------ actions

    def open_run(self, path: str | os.PathLike, convention: str | None = None) -> bool:
        """Open a recorded run or a folder of checkpoints (analyzed now); False if it failed.

        ``convention``: that of a checkpoint folder's analysis (default ``"sdm2020"``); a run
        keeps its own (another one is an error shown in the app).  While this runs before the
        app is displayed (:func:`htsr_utils.explore`), the progress bar shows in the cell.
        """
        self.path.value = str(path)
        return self._act(f"opening {path}", lambda: self._open(str(path), convention, capture=False))

    def select(self, matrix: str, step: int) -> bool:
        """Show ``matrix`` at ``step`` in every view; False if it failed."""
        return self._act("matrix and step", lambda: self._select(matrix, step))

    def _on(self, what: str, action: Callable) -> Callable:
        """A widget callback running ``action`` as an action; ignored while the app sets widgets itself."""
        def callback(*args) -> None:
            if not self._acting:
                self._act(what, lambda: action(*args))
        return callback

    def _act(self, what: str, action: Callable[[], object]) -> bool:
        """Run ``action``; on any error show it (named by ``what``) and bring every view back."""
        if self._acting:
            action()
            return True
        self._acting, self._lines = True, []
        try:
            action()
            return True
        except KeyboardInterrupt:
            self._lines.append(message_line("interrupted; the previous view is kept"))
            self._restore(self._shown)
            return False
        except Exception as exc:  # noqa: BLE001 - every error is shown in the app
            self._lines.append(error_line(what, exc))
            self._restore(self._shown)
            return False
        finally:
            self._shown = self._state()
            self._acting = False
            self.busy.value = ""
            self.message.value = "".join(self._lines)

    def _state(self) -> _State:
        return _State(self.data, self.matrix.value, self.step.value, self._other(), self.metric.value,
                      self.average.value)

    def _other(self) -> int | None:
        """The step compared with the selected one, None for none."""
        value = self.other_step.value
        return None if value == NO_COMPARISON else value

    def _restore(self, state: _State) -> None:
        """Show ``state`` again; if even that fails, show nothing."""
        self.data = state.data
        try:
            self._set_controls(state)
            self._render()
        except Exception as exc:  # noqa: BLE001 - shown in the app
            self._lines.append(error_line("showing the previous view", exc))
            self.data = None
            self._render()

    # ------------------------------------------------------------------ opening

    def _open(self, path: str, convention: str | None = None, *, capture: bool) -> None:
        if not path:
            raise FileNotFoundError("type the path of a recorded run or of a folder of checkpoints")
        if series_kind(path) == "checkpoints":
            self.busy.value = f"⏳ analyzing the checkpoints in <b>{html.escape(path)}</b> ..."
        compute = lambda: open_series(path, convention, progress=True)  # noqa: E731
        self.data = in_output(self.progress, compute) if capture else compute()
        steps = self.data.steps
        self._set_controls(_State(self.data, self.data.matrices[0], steps[-1], steps[0] if len(steps) > 1 else None,
                                  "alpha" if "alpha" in self.data.metrics else self.data.metrics[0], "alpha_hat"))
        self._render()

    def _set_controls(self, state: _State) -> None:
        """Options and values of the selectors for ``state`` (values the data lacks give way to defaults)."""
        d = state.data
        if d is None:
            self.metric.options = self.average.options = self.matrix.options = []
            self.step.options, self.step.disabled, self.other_step.options = [_NO_RUN], True, [NO_COMPARISON]
            return
        self.metric.options = [(sf.metric_label(m), m) for m in d.metrics]
        self.metric.value = state.metric if state.metric in d.metrics else d.metrics[0]
        averages = d.average_columns
        self.average.options = [(sf.metric_label(a), a) for a in averages]
        self.average.value = state.average if state.average in averages else (averages[0] if averages else None)
        self.matrix.options = d.matrices
        self.matrix.value = state.matrix if state.matrix in d.matrices else d.matrices[0]
        self.step.options, self.step.disabled = [(str(s), s) for s in d.steps], False
        self.step.value = state.step if state.step in d.steps else d.steps[-1]
        self.other_step.options = [(NO_COMPARISON, NO_COMPARISON)] + [(str(s), s) for s in d.steps]
        self.other_step.value = state.other if state.other in d.steps else NO_COMPARISON

    # ------------------------------------------------------------------ views

    def _about(self, **extra) -> figures.About:
        d = self.data
        return None if d is None else {"source": d.label, "convention": d.run.convention, **extra}

    def _render(self) -> None:
        d = self.data
        if d is None:
            self.summary.value = self.esd_note.value = ""
            for fig in (self.heatmap, self.averages, self.esd, self.overlay, self.change):
                sf.clear_figure(fig, "no run opened")
            return
        curve = ", ".join(d.curve_columns) if d.curve_columns else "no training curve recorded"
        self.summary.value = (f"<b>{html.escape(d.label)}</b>: {len(d.matrices)} matrices, {len(d.steps)} steps "
                              f"({d.steps[0]} to {d.steps[-1]}), convention {html.escape(d.run.convention)}; "
                              f"curve: {html.escape(curve)}")
        self._draw_metric()
        self._draw_averages()

    def _draw_metric(self) -> None:
        """Heatmap and change plot of the metric, then the selection."""
        d = self.data
        if d is None:
            return
        sf.draw_heatmap(self.heatmap, d.table(self.metric.value), d.table("status"), self.metric.value,
                        self._about(metric=self.metric.value))
        self._draw_selection()

    def _draw_averages(self) -> None:
        d = self.data
        if d is None:
            return
        if self.average.value is None:
            sf.clear_figure(self.averages, "no per-model average recorded", self._about())
            return
        sf.draw_averages(self.averages, d.averages, self.average.value, d.curve_columns,
                         (self.step.value, self._other()), self._about(average=self.average.value))

    def _on_cell(self, trace, points, state) -> None:
        if points.xs:
            self._select(str(points.ys[0]), int(points.xs[0]))

    def _on_bar(self, trace, points, state) -> None:
        if points.ys:
            self._select(str(points.ys[0]), self.step.value)

    def _select(self, matrix: str, step: int) -> None:
        d = self.data
        if d is None:
            return
        if matrix not in d.matrices:
            raise ValueError(f"{d.label} has no matrix {matrix!r}")
        if step not in d.steps:
            raise ValueError(f"{d.label} has no step {step} (steps {d.steps[0]} to {d.steps[-1]})")
        self.matrix.value, self.step.value = matrix, step
        self._draw_selection()

    def _draw_selection(self) -> None:
        """Heatmap ring and the views of the selected matrix and steps."""
        sf.mark_cell(self.heatmap, self.step.value, self.matrix.value, self.metric.value,
                     self._about(metric=self.metric.value, matrix=self.matrix.value, step=self.step.value))
        self._draw_esd()
        self._draw_steps()

    def _draw_steps(self) -> None:
        """The views of the two steps: lines on the averages, the ESD overlay, the change plot."""
        d, matrix, step, other = self.data, self.matrix.value, self.step.value, self._other()
        if d is None:
            return
        sf.mark_steps(self.averages, (step, other))
        steps = [s for s in (other, step) if s is not None]
        shown = [(s, d.fitted(s, matrix), d.row(s, matrix)) for s in steps if d.row(s, matrix) is not None]
        about = self._about(matrix=matrix, steps=steps)
        title = f"ESD of {matrix} at step{'s' if len(steps) > 1 else ''} {' and '.join(map(str, steps))}"
        sf.draw_overlay(self.overlay, title, shown, about)
        if other is None:
            sf.clear_figure(self.change, "choose a step to compare with", about)
        else:
            sf.draw_change(self.change, d.table(self.metric.value), self.metric.value, (other, step),
                           self._about(metric=self.metric.value, steps=[other, step]))

    def _draw_esd(self) -> None:
        d, matrix, step = self.data, self.matrix.value, self.step.value
        about = self._about(matrix=matrix, step=step)
        row = d.row(step, matrix)
        title = f"ESD of {matrix} at step {step}"
        if row is None:
            figures.clear(self.esd, f"{title}: not recorded", about)
            self.esd_note.value = ""
            return
        fitted = d.fitted(step, matrix)
        if fitted.size == 0:
            figures.clear(self.esd, f"{title}: no eigenvalue to show ({row['status']})", about)
            self.esd_note.value = ""
            return
        figures.draw_esd(self.esd, title, fitted, row, log=True, overlays={}, mp=None, hand_fit=None, about=about)
        if row["status"] == "ok":
            self.esd_note.value = (f"{fitted.size} eigenvalues in the fit (N = {row['N']}, M = {row['M']}); "
                                   f"α = {row['alpha']:.3f}, xmin = {row['xmin']:.4g}, n_tail = {row['n_tail']}"
                                   + _hill_note(row))
        else:
            self.esd_note.value = (f"<span style='color:#b00'>no power-law fit at this step: status "
                                   f"<b>{html.escape(str(row['status']))}</b></span>; {fitted.size} eigenvalues shown.")


def _hill_note(row) -> str:
    """The Hill estimate of a row (where the run recorded it), for the ESD note."""
    if not pd.notna(row.get("alpha_hill")):
        return ""
    return (f"; Hill estimator: α = {row['alpha_hill']:.3f} from the top k = {int(row['hill_k'])} "
            f"eigenvalues (λ ≥ {row['hill_xmin']:.4g})")
