"""The explorer widget: source and convention selectors, linked overview / table / ESD / fit views, compare.

Every user action (a button, a selector, a toggle, a click) runs as one step
(:meth:`Explorer._act`): it completes, or its error is shown inside the app and every view
goes back to what it showed before, so that all of them show one model, one convention and
one matrix.
"""

from __future__ import annotations

import html
import traceback
from dataclasses import dataclass
from typing import Callable

import ipywidgets as w
import numpy as np

from ...engine.checkpoint import WeightFileError
from ...engine.conventions import CONVENTIONS
from ...engine.layers import NoAnalyzableLayersError, NonFiniteWeightsError
from ...models.files import WeightsUnavailableError
from ...models.registry import UnknownModelError, list_models
from . import figures
from .analysis import AnalysisStore, ModelAnalysis
from .sources import TRAINED_BATCH_SIZES, TRAINED_DATASETS, Source, file_source, trained_source, zoo_source

#: Errors of bad input: their message is shown alone (any other error also gets its traceback).
INPUT_ERRORS = (FileNotFoundError, WeightFileError, WeightsUnavailableError, UnknownModelError,
                NoAnalyzableLayersError, NonFiniteWeightsError, ValueError)

#: Columns of the layer table and their widths in characters.
TABLE_COLUMNS = {"alpha": 7, "D": 7, "lambda_max": 11, "n_tail": 7, "status": 0}
_FORMATS = {"alpha": ".3f", "D": ".4f", "lambda_max": ".4g", "n_tail": "d", "status": ""}
#: Table sort keys shown in the sort selector ("depth" = model order).
SORT_KEYS = ("depth", "alpha", "D", "lambda_max", "n_tail", "status")
#: Batch size the picker offers first.
DEFAULT_BATCH_SIZE = 128

SourceLike = Source | Callable[[], Source]


class SourcePicker(w.VBox):
    """Selectors of one model: zoo model and weights, checkpoint path, or a model trained here.

    The trained-model selectors offer the MLPs of notebook 09 (dataset and batch size); a
    trained model outside that family (a CNN, other epochs) is shown by its label with both
    selectors blank, and is what :meth:`source` gives until one of them is changed.
    """

    def __init__(self, button: str) -> None:
        self.kind = w.ToggleButtons(options=[("zoo model", "zoo"), ("checkpoint", "file"),
                                             ("trained here (notebook 09)", "trained")],
                                    style={"button_width": "auto"})
        self.zoo_name = w.Dropdown(options=list_models(), value="resnet18", description="model")
        self.zoo_weights = w.ToggleButtons(options=["random", "pretrained"], style={"button_width": "90px"})
        self.path = w.Text(placeholder="/path/to/weights.safetensors, .pth, .bin or a checkpoint folder",
                           description="path", layout=w.Layout(width="480px"))
        self.dataset = w.Dropdown(options=TRAINED_DATASETS, description="dataset")
        self.batch_size = w.Dropdown(options=TRAINED_BATCH_SIZES, value=DEFAULT_BATCH_SIZE, description="batch size")
        self.trained_note = w.HTML()
        self.button = w.Button(description=button, button_style="primary", icon="play")
        self._pinned: Source | None = None
        self._rows = {"zoo": w.HBox([self.zoo_name, self.zoo_weights]), "file": w.HBox([self.path]),
                      "trained": w.HBox([self.dataset, self.batch_size, self.trained_note])}
        self.selectors = w.Box([self._rows["zoo"]])
        self.kind.observe(lambda change: setattr(self.selectors, "children", [self._rows[change["new"]]]), "value")
        for selector in (self.dataset, self.batch_size):
            selector.observe(self._unpin, "value")
        super().__init__([self.kind, w.HBox([self.selectors, self.button])])

    def source(self) -> Source:
        """The selected source (raises on bad input: unknown model, missing file, ...)."""
        if self.kind.value == "zoo":
            return zoo_source(self.zoo_name.value, self.zoo_weights.value)
        if self.kind.value == "file":
            if not self.path.value.strip():
                raise FileNotFoundError("type the path of a .pth or .safetensors checkpoint")
            return file_source(self.path.value.strip())
        if self._pinned is not None:
            return self._pinned
        return trained_source(self.dataset.value, self.batch_size.value)

    def show(self, source: Source) -> None:
        """Set the selectors to ``source``."""
        self.kind.value = source.kind
        if source.kind == "zoo":
            self.zoo_name.value, self.zoo_weights.value = source.name, source.weights
        elif source.kind == "file":
            self.path.value = source.name
        elif _in_notebook_09(source):
            self.dataset.value, self.batch_size.value = source.config.dataset, source.config.batch_size
        else:
            self.dataset.value = self.batch_size.value = None
            self._pinned = source
            self.trained_note.value = (f"<b>{html.escape(source.label)}</b> (choose a dataset and a "
                                       "batch size for an MLP of notebook 09)")

    def _unpin(self, change) -> None:
        """A trained-model selector changed: the model shown by label gives way to the selection."""
        if self._pinned is None:
            return
        self._pinned, self.trained_note.value = None, ""
        if self.dataset.value is None:
            self.dataset.value = TRAINED_DATASETS[0]
        if self.batch_size.value is None:
            self.batch_size.value = DEFAULT_BATCH_SIZE


def _in_notebook_09(source: Source) -> bool:
    """Whether a trained source is an MLP the trained-model selectors can show."""
    config = source.config
    return (config.dataset in TRAINED_DATASETS and config.batch_size in TRAINED_BATCH_SIZES
            and source == trained_source(config.dataset, config.batch_size))


class _Failure(Exception):
    """An error of one step of an action, with what the step did (e.g. which model it analyzed)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class _State:
    """What the views show: the models, the matrix and the settings an action may change."""

    current: ModelAnalysis | None
    compare_source: Source | None
    other: ModelAnalysis | None
    row: int
    xmin: int
    convention: str
    linear: bool
    permuted: bool
    random_init: bool
    sort_by: str
    descending: bool


class Explorer(w.VBox):
    """Interactive ESD explorer; build it with :func:`htsr_utils.explore`.

    Attributes (the widgets a user touches; tests drive the same ones)
    ----------
    picker, compare_picker : SourcePicker
        Model selectors; their ``button`` analyzes the selection.
    convention : Dropdown
        Analysis convention.
    table : Select
        The layer table (value = row number of the selected matrix); ``sort_by`` and
        ``descending`` order it.
    overview, esd, diagnostics, compare, compare_esd : plotly FigureWidget
        The views; ``compare_esd`` shows the selected matrix's namesake in the second model.
        Each one's ``layout.meta`` says what it shows (:data:`figures.About`).
    linear, show_permuted, show_random_init : Checkbox
        ESD toggles.
    xmin_slider : IntSlider
        Candidate ``xmin`` chosen by hand (index into the candidates).
    message : HTML
        Errors and notes about the last action.

    The models shown are ``current`` (main) and ``other`` (compare; None where
    ``compare_source``, the model asked for, cannot be analyzed under the convention).
    """

    def __init__(self, store: AnalysisStore | None = None) -> None:
        self.store = store or AnalysisStore()
        self.current: ModelAnalysis | None = None
        self.compare_source: Source | None = None
        self.other: ModelAnalysis | None = None
        self.row = 0
        self._acting = False
        self._lines: list[str] = []

        self.picker = SourcePicker("Analyze")
        self.convention = w.Dropdown(options=list(CONVENTIONS), value="sdm2020", description="convention")
        self.busy = w.HTML()
        self.progress = w.Output()
        self.message = w.HTML()
        self.message.add_class("htsr-message")
        self.summary = w.HTML()

        self.overview = figures.overview_figure()
        self.sort_by = w.Dropdown(options=SORT_KEYS, description="sort by", layout=w.Layout(width="200px"))
        self.descending = w.Checkbox(description="descending", indent=False)
        self.table = w.Select(options=[], rows=20, layout=w.Layout(width="560px"))
        self.table.add_class("htsr-layer-table")
        self.table_header = w.HTML()

        self.esd = figures.esd_figure()
        self.linear = w.Checkbox(description="linear axes", indent=False)
        self.show_permuted = w.Checkbox(description="entries permuted", indent=False)
        self.show_random_init = w.Checkbox(description="random-init layer", indent=False, disabled=True)
        self.esd_note = w.HTML()

        self.diagnostics = figures.diagnostics_figure()
        self.xmin_slider = w.IntSlider(description="xmin by hand", continuous_update=False, disabled=True,
                                       layout=w.Layout(width="540px"), style={"description_width": "90px"})
        self.hand_readout = w.HTML()

        self.compare_picker = SourcePicker("Compare")
        self.compare = figures.compare_figure()
        self.compare_esd = figures.esd_figure()
        self.compare_summary = w.HTML()

        self._connect()
        style = w.HTML("<style>.htsr-layer-table select {font-family: monospace; font-size: 12px}"
                       ".htsr-message {color: #b00}</style>")
        super().__init__([
            style,
            w.HTML("<b>HT-SR ESD explorer</b>: pick a model, then a matrix (click a point or a table row)."),
            w.HBox([self.picker, self.convention]), w.HBox([self.busy]), self.progress, self.message,
            self.summary,
            w.HBox([self.overview, w.VBox([w.HBox([self.sort_by, self.descending]), self.table_header,
                                           self.table])]),
            w.HBox([w.VBox([w.HBox([self.linear, self.show_permuted, self.show_random_init]), self.esd,
                            self.esd_note]),
                    w.VBox([self.xmin_slider, self.hand_readout, self.diagnostics])]),
            w.HTML("<b>Compare</b> with a second model:"), self.compare_picker,
            self.compare_summary, w.HBox([self.compare, self.compare_esd]),
        ])
        self.add_class("htsr-explorer")
        self._shown = self._state()  # what the views show; an action that fails goes back to it
        self._act("opening the explorer", self._render)

    def _repr_mimebundle_(self, **kwargs):
        figures.sync_for_display([self.overview, self.esd, self.diagnostics, self.compare, self.compare_esd])
        return super()._repr_mimebundle_(**kwargs)

    def _connect(self) -> None:
        """Every widget callback, each one an action."""
        on = self._on
        self.picker.button.on_click(on("Analyze", lambda _: self._load(self.picker.source)))
        self.compare_picker.button.on_click(on("Compare", lambda _: self._load_compare(self.compare_picker.source)))
        self.convention.observe(on("convention", lambda change: self._switch_convention(change["new"])), "value")
        for selector in (self.sort_by, self.descending):
            selector.observe(on("table order", lambda _: self._fill_table()), "value")
        self.table.observe(on("table row", self._on_table), "value")
        for points in self.overview.data[:2]:
            points.on_click(on("overview point", self._on_point))
        self.show_permuted.observe(on("entries permuted", lambda _: self._draw_esd()), "value")
        self.show_random_init.observe(on("random-init layer", lambda _: self._toggle_random_init()), "value")
        self.linear.observe(on("linear axes", lambda _: self._draw_esds()), "value")
        self.xmin_slider.observe(on("xmin by hand", lambda _: self._on_slider()), "value")

    # ------------------------------------------------------------------ actions

    def load_models(self, source: SourceLike, compare: SourceLike | None = None) -> None:
        """Analyze ``source`` and show it, then ``compare`` next to it; each error is shown in the app.

        ``source`` and ``compare`` are Sources or callables returning one (their errors too
        are shown in the app).
        """
        self._lines = []
        self._act("model", lambda: self._load(source), fresh=False)
        if compare is not None:
            self._act("compare model", lambda: self._load_compare(compare), fresh=False)

    def load(self, source: SourceLike, convention: str | None = None) -> bool:
        """Analyze ``source`` (a Source, or a callable returning one) and show it; False if it failed."""
        return self._act("model", lambda: self._load(source, convention))

    def load_compare(self, source: SourceLike) -> bool:
        """Analyze a second model and show it next to the current one; False if it failed."""
        return self._act("compare model", lambda: self._load_compare(source))

    def select(self, row: int) -> bool:
        """Show matrix ``row`` (a row number of the current analysis) in every view; False if it failed."""
        return self._act("matrix", lambda: self._select(row))

    def _on(self, what: str, action: Callable) -> Callable:
        """A widget callback running ``action`` as an action; ignored while the app sets widgets itself."""
        def callback(*args) -> None:
            if not self._acting:
                self._act(what, lambda: action(*args))
        return callback

    def _act(self, what: str, action: Callable[[], object], *, fresh: bool = True) -> bool:
        """Run ``action``; on any error show it (named by ``what``) and bring every view back.

        Inside another action (a method called from a callback) ``action`` just runs, and
        its errors are that action's.  ``fresh``: the message starts empty.
        """
        if self._acting:
            action()
            return True
        self._acting = True
        if fresh:
            self._lines = []
        try:
            action()
            return True
        except KeyboardInterrupt:
            self._say("analysis interrupted; the previous view is kept")
            self._restore(self._shown)
            return False
        except Exception as exc:  # noqa: BLE001 - every error is shown in the app
            self._report(what, exc)
            self._restore(self._shown)
            if self.current is not None:
                self._say(f"The views keep {self.current.source.label} under {self.current.convention.name}.")
            return False
        finally:
            self._shown = self._state()
            self._acting = False
            self.busy.value = ""
            self._show_message()

    def _state(self) -> _State:
        """The state now (a widget an action reacts to already holds its new value)."""
        return _State(self.current, self.compare_source, self.other, self.row, self.xmin_slider.value,
                      self.convention.value, self.linear.value, self.show_permuted.value,
                      self.show_random_init.value, self.sort_by.value, self.descending.value)

    def _restore(self, state: _State) -> None:
        """Show ``state`` again; if even that fails, empty every view."""
        self.current, self.compare_source, self.other, self.row = (
            state.current, state.compare_source, state.other, state.row)
        self.convention.value, self.linear.value = state.convention, state.linear
        self.show_permuted.value, self.show_random_init.value = state.permuted, state.random_init
        self.sort_by.value, self.descending.value = state.sort_by, state.descending
        try:
            self._render(state.xmin)
        except Exception as exc:  # noqa: BLE001 - shown in the app
            self._report("showing the previous view", exc)
            self.current = self.compare_source = self.other = None
            self._render()

    # ------------------------------------------------------------------ messages

    def _say(self, text: str, detail: str = "") -> None:
        """Add a line to the message (``detail``: shown folded below it)."""
        self._lines.append(message_line(text, detail))

    def _report(self, what: str, exc: BaseException) -> None:
        """Say what failed and why; the traceback too where the error is not one of bad input."""
        if isinstance(exc, _Failure) and exc.__cause__ is not None:
            what, exc = exc.what, exc.__cause__
        self._lines.append(error_line(what, exc))

    def _show_message(self) -> None:
        self.message.value = "".join(self._lines)

    # ------------------------------------------------------------------ loading

    def _analyze(self, source: SourceLike, convention: str, role: str) -> ModelAnalysis:
        """The analysis of a source (from memory, or computed now with a progress bar).

        Raises
        ------
        _Failure
            From what picking, loading or analyzing raised; it names ``role``, the model and
            the convention.
        """
        source = source() if callable(source) else source
        try:
            if self.store.cached(source, convention):
                return self.store.get(source, convention)
            self.busy.value = f"⏳ analyzing <b>{html.escape(source.label)}</b> under {convention} ..."
            return in_output(self.progress, lambda: self.store.get(source, convention, progress=True))
        except Exception as exc:
            raise _Failure(f"{role} {source.label} under {convention}") from exc
        finally:
            self.busy.value = ""

    def _load(self, source: SourceLike, convention: str | None = None) -> None:
        previous, convention = self.convention.value, convention or self.convention.value
        self.current = self._analyze(source, convention, "model")
        self.convention.value = convention
        self.row = _first_fitted(self.current)
        if convention != previous:
            self._analyze_compare()
        self._render()
        self.picker.show(self.current.source)

    def _load_compare(self, source: SourceLike) -> None:
        self.other = self._analyze(source, self.convention.value, "compare model")
        self.compare_source = self.other.source
        self._draw_compare()
        self.compare_picker.show(self.compare_source)

    def _analyze_compare(self) -> None:
        """Analyze the compare model under the convention; if it fails, say so and show none."""
        self.other = None
        if self.compare_source is None:
            return
        try:
            self.other = self._analyze(self.compare_source, self.convention.value, "compare model")
        except _Failure as failure:
            self._report("compare model", failure)

    def _switch_convention(self, convention: str) -> None:
        name = self.current.matrix_name(self.row) if self.current is not None else None
        if self.current is not None:
            self.current = self._analyze(self.current.source, convention, "model")
            self.row = _row_named(self.current, name)
        self._analyze_compare()
        self._render()

    # ------------------------------------------------------------------ views

    def _render(self, xmin: int | None = None) -> None:
        """Draw every view from the state (``xmin``: the slider's candidate, else the fit's)."""
        self._draw_model()
        self._show_matrix(xmin)
        self._draw_compare()

    def _about(self, analysis: ModelAnalysis | None = None, matrix: str | None = None) -> figures.About:
        """What a view of ``analysis`` (default: the current one) at ``matrix`` (default: the selected one) shows."""
        a = analysis or self.current
        if a is None:
            return None
        return {"source": a.source.label, "convention": a.convention.name,
                "matrix": matrix if matrix is not None else self._matrix_name()}

    def _draw_model(self) -> None:
        """Summary, overview and table of the current model (emptied without one)."""
        a = self.current
        self.show_random_init.disabled = a is None or a.random_init is None
        if self.show_random_init.disabled:
            self.show_random_init.value = False
        if a is None:
            self.summary.value = self.table_header.value = ""
            self.table.options = []
            figures.clear(self.overview, "no model loaded")
            return
        self.summary.value = _summary_html([a])
        figures.draw_overview(self.overview, a.details, a.matrix_names(), self.row, self._about())
        self._fill_table()

    def _fill_table(self) -> None:
        a = self.current
        if a is None:
            return
        d = a.details
        order = d.index if self.sort_by.value == "depth" else d.sort_values(
            self.sort_by.value, kind="stable", na_position="last").index
        if self.descending.value:
            order = order[::-1]
        names = a.matrix_names()
        width = max(12, min(34, max(map(len, names)) + 8))
        header = f"{'matrix':{width}}" + "".join(f"{c:>{n}}" if n else f"  {c}" for c, n in TABLE_COLUMNS.items())
        self.table_header.value = (f"<div style='font-size: 12px'>{html.escape(a.source.label)}, "
                                   f"{a.convention.name}: {len(d)} matrices</div>"
                                   f"<pre style='margin:0; font-size: 12px'>{html.escape(header)}</pre>")
        self.table.options = [(_row_text(names[i], d.loc[i], width), int(i)) for i in order]
        self.table.value = self.row

    def _on_table(self, change) -> None:
        if change["new"] is not None:
            self._select(int(change["new"]))

    def _on_point(self, trace, points, state) -> None:
        if points.point_inds:
            self._select(int(trace.customdata[points.point_inds[0]]))

    def _select(self, row: int) -> None:
        a = self.current
        if a is None:
            return
        if row not in a.details.index:
            raise IndexError(f"{a.source.label} has no matrix {row} (rows 0 to {len(a.details) - 1})")
        self.row = row
        self._show_matrix()

    def _show_matrix(self, xmin: int | None = None) -> None:
        """Table row, overview ring, fit diagnostics, slider and ESDs of the selected matrix."""
        a = self.current
        if a is None:
            for fig in (self.diagnostics, self.esd):
                figures.clear(fig, "no model loaded")
            self.xmin_slider.disabled, self.hand_readout.value, self.esd_note.value = True, "", ""
            return
        self.table.value = self.row
        figures.mark_selected(self.overview, a.details, self.row, self._about())
        status = a.details.at[self.row, "status"]
        if status == "ok":
            fit = a.candidates(self.row)
            figures.draw_diagnostics(self.diagnostics, f"fit of {self._matrix_name()}", fit, self._about())
            best = int(np.searchsorted(fit.candidates["xmin"], fit.xmin))
            self.xmin_slider.max = len(fit.candidates["xmin"]) - 1
            self.xmin_slider.value = best if xmin is None else xmin
            self.xmin_slider.disabled = False
            self._readout(fit, self.xmin_slider.value)
        else:
            figures.clear(self.diagnostics, f"{self._matrix_name()}: not fitted ({status})", self._about())
            self.xmin_slider.disabled = True
            self.hand_readout.value = ""
        self._draw_esds()

    def _matrix_name(self) -> str:
        return self.current.matrix_name(self.row)

    def _hand_fit(self) -> dict | None:
        a = self.current
        if a.details.at[self.row, "status"] != "ok":
            return None
        fit = a.candidates(self.row)
        i = self.xmin_slider.value
        xmin = float(fit.candidates["xmin"][i])
        if xmin == fit.xmin:
            return None
        fitted = a.fitted(self.row)
        return {"alpha": float(fit.candidates["alpha"][i]), "xmin": xmin, "xmax": fit.xmax,
                "n_tail": int(np.count_nonzero((fitted >= xmin) & (fitted <= fit.xmax))),
                "D": float(fit.candidates["D"][i])}

    def _readout(self, fit, i: int) -> None:
        c = fit.candidates
        self.hand_readout.value = (
            f"xmin = {c['xmin'][i]:.4g} gives α = {c['alpha'][i]:.3f}, D = {c['D'][i]:.4f} "
            f"&nbsp;(chosen by the fit: xmin = {fit.xmin:.4g}, α = {fit.alpha:.3f}, D = {fit.D:.4f})")
        figures.mark_hand_xmin(self.diagnostics, float(c["xmin"][i]), float(c["D"][i]))

    def _on_slider(self) -> None:
        if self.current is None or self.current.details.at[self.row, "status"] != "ok":
            return
        self._readout(self.current.candidates(self.row), self.xmin_slider.value)
        self._draw_esd()

    def _toggle_random_init(self) -> None:
        """Redraw with the random-init layer; a model without one keeps the box unticked."""
        if self.show_random_init.disabled:
            self.show_random_init.value = False
        self._draw_esd()

    def _draw_esds(self) -> None:
        """The selected matrix's ESD and its namesake's in the compare model."""
        self._draw_esd()
        self._draw_compare_esd()

    def _draw_esd(self) -> None:
        a, row = self.current, self.row
        if a is None:
            return
        d = a.details.loc[row]
        fitted = a.fitted(row)
        if fitted.size == 0:
            figures.clear(self.esd, f"{self._matrix_name()}: no eigenvalue to show ({d['status']})", self._about())
            self.esd_note.value = (f"<span style='color:#b00'>{html.escape(self._matrix_name())}: no eigenvalue "
                                   f"to show (status <b>{html.escape(str(d['status']))}</b>)</span>")
            return
        overlays = {}
        if self.show_permuted.value:
            overlays["permuted"] = a.permuted(row)
        if self.show_random_init.value and a.random_init is not None:
            overlays["random_init"] = a.random_init_spectrum(row)
        figures.draw_esd(self.esd, f"ESD of {self._matrix_name()}", fitted, d, log=not self.linear.value,
                         overlays=overlays, mp=_mp(a, row), hand_fit=self._hand_fit(), about=self._about())
        note = (f"{fitted.size} eigenvalues in the fit (N = {d['N']}, M = {d['M']}); "
                f"α = {d['alpha']:.3f}, xmin = {d['xmin']:.4g}, D = {d['D']:.4f}, n_tail = {d['n_tail']}")
        if d["status"] != "ok":
            note = (f"<span style='color:#b00'>no power-law fit for this matrix: status "
                    f"<b>{html.escape(str(d['status']))}</b></span>; {fitted.size} eigenvalues shown.")
        self.esd_note.value = note

    def _draw_compare(self) -> None:
        """The compare figure and summary (both models, or the one there is), and the compare ESD."""
        shown = [a for a in (self.current, self.other) if a is not None]
        if self.other is None:
            self.compare_summary.value = ""
            title = ("no compare model" if self.compare_source is None else
                     f"{self.compare_source.label}: not analyzed under {self.convention.value} (see the message)")
            figures.clear(self.compare, title, {"sources": [], "convention": self.convention.value})
        else:
            figures.draw_compare(self.compare, [(a.source.label, a.details, a.matrix_names()) for a in shown],
                                 self.convention.value)
            self.compare_summary.value = _summary_html(shown)
        self._draw_compare_esd()

    def _draw_compare_esd(self) -> None:
        """The selected matrix's namesake (same layer and slice) in the second model, if it has one."""
        a, b = self.current, self.other
        if b is None:
            figures.clear(self.compare_esd, "no compare model")
            return
        if a is None:
            figures.clear(self.compare_esd, "no matrix selected (no model loaded)", self._about(b, ""))
            return
        name = a.matrix_name(self.row)
        match = [i for i, other in enumerate(b.matrix_names()) if other == name]
        fitted = b.fitted(match[0]) if match else np.empty(0)
        if not fitted.size:
            figures.clear(self.compare_esd, f"no matrix {name} with eigenvalues", self._about(b, name))
            return
        figures.draw_esd(self.compare_esd, f"ESD of {name}", fitted, b.details.loc[match[0]],
                         log=not self.linear.value, overlays={}, mp=_mp(b, match[0]), hand_fit=None,
                         about=self._about(b, name))


def in_output(output: w.Output, compute: Callable[[], object]):
    """``compute()`` with what it prints (a progress bar) shown in ``output``, cleared after.

    In a kernel an Output widget used as a context manager would swallow an exception raised
    inside it (printing its traceback); here it is raised again.
    """
    output.clear_output()
    with output:
        try:
            result, failure = compute(), None
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure = exc
    output.clear_output()
    if failure is not None:
        raise failure
    return result


def message_line(text: str, detail: str = "") -> str:
    """A line of an app's message, in red (``detail``: shown folded below it)."""
    line = f"<pre style='white-space: pre-wrap; color: #b00; margin: 0'>{html.escape(text)}</pre>"
    if detail:
        line += (f"<details><summary>traceback</summary><pre style='font-size: 11px'>"
                 f"{html.escape(detail)}</pre></details>")
    return line


def error_line(what: str, exc: BaseException) -> str:
    """:func:`message_line` saying that ``what`` failed and why; with the traceback folded
    below where the error is not one of bad input (:data:`INPUT_ERRORS`)."""
    detail = "" if isinstance(exc, INPUT_ERRORS) else "".join(traceback.format_exception(exc))
    return message_line(f"{what}: {type(exc).__name__}: {exc}", detail)


def _first_fitted(analysis: ModelAnalysis) -> int:
    """The first row with a power-law fit (else the first row)."""
    ok = analysis.details.index[analysis.details["status"] == "ok"]
    return int(ok[0]) if len(ok) else 0


def _row_named(analysis: ModelAnalysis, name: str | None) -> int:
    """The row of matrix ``name``, else :func:`_first_fitted`."""
    names = analysis.matrix_names()
    return names.index(name) if name in names else _first_fitted(analysis)


def _mp(analysis: ModelAnalysis, row: int) -> tuple[int, int, float] | None:
    """(N, M, entry variance) of a row for the Marchenko-Pastur overlay, None without a variance."""
    variance = analysis.entry_variance(row)
    d = analysis.details.loc[row]
    return None if variance is None else (int(d["N"]), int(d["M"]), variance)


def _row_text(name: str, r, width: int) -> str:
    if len(name) > width - 1:
        name = "…" + name[-(width - 2):]
    cells = []
    for column, n in TABLE_COLUMNS.items():
        value = r[column]
        if not n:
            cells.append(f"  {value}")
        else:
            text = format(value, _FORMATS[column]) if np.isfinite(value) else "nan"
            cells.append(f"{text:>{n}}")
    return f"{name:{width}}" + "".join(cells)


def _summary_html(analyses: list[ModelAnalysis]) -> str:
    """summarize() numbers of one or more models as an HTML table, one row per model."""
    metrics = list(analyses[0].summary.index)
    head = "".join(f"<th style='padding: 0 6px'>{m}</th>" for m in metrics)
    rows = "".join(
        f"<tr><td>{html.escape(a.source.label)} ({a.convention.name})</td>"
        + "".join(f"<td style='text-align:right; padding: 0 6px'>{a.summary[m]:.4g}</td>" for m in metrics)
        + "</tr>" for a in analyses)
    return f"<table style='font-size: 12px'><tr><th>summarize()</th>{head}</tr>{rows}</table>"
