"""The explorer widget: source and convention selectors, linked overview / table / ESD / fit views, compare."""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np

from ...engine.checkpoint import WeightFileError
from ...engine.conventions import CONVENTIONS
from ...engine.layers import NoAnalyzableLayersError, NonFiniteWeightsError
from ...experiments.datasets import DATASETS
from ...models.files import WeightsUnavailableError
from ...models.registry import UnknownModelError, list_models
from . import figures
from .analysis import AnalysisStore, ModelAnalysis
from .sources import TRAINED_BATCH_SIZES, Source, file_source, trained_source, zoo_source

#: Errors of bad input, shown as a message inside the app (the previous view stays).
INPUT_ERRORS = (FileNotFoundError, WeightFileError, WeightsUnavailableError, UnknownModelError,
                NoAnalyzableLayersError, NonFiniteWeightsError, ValueError)

#: Columns of the layer table and their widths in characters.
TABLE_COLUMNS = {"alpha": 7, "D": 7, "lambda_max": 11, "n_tail": 7, "status": 0}
_FORMATS = {"alpha": ".3f", "D": ".4f", "lambda_max": ".4g", "n_tail": "d", "status": ""}
#: Table sort keys shown in the sort selector ("depth" = model order).
SORT_KEYS = ("depth", "alpha", "D", "lambda_max", "n_tail", "status")


class SourcePicker(w.VBox):
    """Selectors of one model: zoo model and weights, checkpoint path, or trained MLP."""

    def __init__(self, button: str) -> None:
        self.kind = w.ToggleButtons(options=[("zoo model", "zoo"), ("checkpoint", "file"),
                                             ("trained here (notebook 09)", "trained")],
                                    style={"button_width": "auto"})
        self.zoo_name = w.Dropdown(options=list_models(), value="resnet18", description="model")
        self.zoo_weights = w.ToggleButtons(options=["random", "pretrained"], style={"button_width": "90px"})
        self.path = w.Text(placeholder="/path/to/weights.safetensors, .pth, .bin or a checkpoint folder", description="path",
                           layout=w.Layout(width="480px"))
        self.dataset = w.Dropdown(options=DATASETS, description="dataset")
        self.batch_size = w.Dropdown(options=TRAINED_BATCH_SIZES, value=128, description="batch size")
        self.button = w.Button(description=button, button_style="primary", icon="play")
        self._rows = {"zoo": w.HBox([self.zoo_name, self.zoo_weights]), "file": w.HBox([self.path]),
                      "trained": w.HBox([self.dataset, self.batch_size])}
        self.selectors = w.Box([self._rows["zoo"]])
        self.kind.observe(lambda change: setattr(self.selectors, "children", [self._rows[change["new"]]]), "value")
        super().__init__([self.kind, w.HBox([self.selectors, self.button])])

    def source(self) -> Source:
        """The selected source (raises on bad input: unknown model, missing file, ...)."""
        if self.kind.value == "zoo":
            return zoo_source(self.zoo_name.value, self.zoo_weights.value)
        if self.kind.value == "file":
            if not self.path.value.strip():
                raise FileNotFoundError("type the path of a .pth or .safetensors checkpoint")
            return file_source(self.path.value.strip())
        return trained_source(self.dataset.value, self.batch_size.value)

    def show(self, source: Source) -> None:
        """Set the selectors to ``source``."""
        self.kind.value = source.kind
        if source.kind == "zoo":
            self.zoo_name.value, self.zoo_weights.value = source.name, source.weights
        elif source.kind == "file":
            self.path.value = source.name
        else:
            self.dataset.value = source.config.dataset
            if source.config.batch_size in TRAINED_BATCH_SIZES:
                self.batch_size.value = source.config.batch_size


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
    linear, show_permuted, show_random_init : Checkbox
        ESD toggles.
    xmin_slider : IntSlider
        Candidate ``xmin`` chosen by hand (index into the candidates).
    message : HTML
        Errors and notes about the current action.
    """

    def __init__(self, store: AnalysisStore | None = None) -> None:
        self.store = store or AnalysisStore()
        self.current: ModelAnalysis | None = None
        self.other: ModelAnalysis | None = None
        self.row = 0

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
        self.show_random_init = w.Checkbox(description="random-init layer", indent=False)
        self.esd_note = w.HTML()

        self.diagnostics = figures.diagnostics_figure()
        self.xmin_slider = w.IntSlider(description="xmin by hand", continuous_update=False,
                                       layout=w.Layout(width="540px"), style={"description_width": "90px"})
        self.hand_readout = w.HTML()

        self.compare_picker = SourcePicker("Compare")
        self.compare = figures.compare_figure()
        self.compare_esd = figures.esd_figure()
        self.compare_summary = w.HTML()

        self.picker.button.on_click(lambda _: self.load(self.picker.source))
        self.compare_picker.button.on_click(lambda _: self.load_compare(self.compare_picker.source))
        self.convention.observe(self._on_convention, "value")
        self.sort_by.observe(lambda _: self._fill_table(), "value")
        self.descending.observe(lambda _: self._fill_table(), "value")
        self.table.observe(self._on_table, "value")
        self.overview.data[0].on_click(self._on_point)
        self.overview.data[1].on_click(self._on_point)
        for box in (self.show_permuted, self.show_random_init):
            box.observe(lambda _: self._draw_esd(), "value")
        self.linear.observe(lambda _: self.select(self.row), "value")
        self.xmin_slider.observe(lambda _: self._on_slider(), "value")

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

    # ------------------------------------------------------------------ loading

    def _analyze(self, get_source, convention: str) -> ModelAnalysis | None:
        """Analyze (or fetch from memory) a source; on bad input show the message, return None."""
        try:
            source = get_source() if callable(get_source) else get_source
            if not self.store.cached(source, convention):
                self.busy.value = f"⏳ analyzing <b>{html.escape(source.label)}</b> under {convention} ..."
                self.progress.clear_output()
                # The Output widget shows tqdm's bar; in a kernel it would also swallow any
                # exception raised inside it (printing the traceback), so pass them on.
                with self.progress:
                    try:
                        analysis, failure = self.store.get(source, convention, progress=True), None
                    except BaseException as exc:  # noqa: BLE001 - re-raised below
                        failure = exc
                self.progress.clear_output()
                if failure is not None:
                    raise failure
            else:
                analysis = self.store.get(source, convention)
        except INPUT_ERRORS as exc:
            self._error(exc)
            return None
        except KeyboardInterrupt:
            self._error("analysis interrupted; the previous view is kept")
            return None
        finally:
            self.busy.value = ""
        self.message.value = ""
        return analysis

    def _error(self, exc: BaseException | str) -> None:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        self.message.value = f"<pre style='white-space: pre-wrap; color: #b00'>{html.escape(text)}</pre>"

    def load(self, source, convention: str | None = None) -> bool:
        """Analyze ``source`` (a Source, or a callable returning one) and show it; False on bad input."""
        analysis = self._analyze(source, convention or self.convention.value)
        if analysis is None:
            return False
        self.current = analysis
        self.picker.show(analysis.source)
        self._show_model()
        return True

    def load_compare(self, source) -> bool:
        """Analyze a second model and show it next to the current one; False on bad input."""
        analysis = self._analyze(source, self.convention.value)
        if analysis is None:
            return False
        self.other = analysis
        self.compare_picker.show(analysis.source)
        self._draw_compare()
        return True

    def _on_convention(self, change) -> None:
        if self.current is None:
            return
        if not self.load(self.current.source, change["new"]):
            self.convention.unobserve(self._on_convention, "value")
            self.convention.value = change["old"]
            self.convention.observe(self._on_convention, "value")
            return
        if self.other is not None:
            self.load_compare(self.other.source)

    # ------------------------------------------------------------------ views

    def _show_model(self) -> None:
        a = self.current
        ok = a.details.index[a.details["status"] == "ok"]
        self.row = int(ok[0]) if len(ok) else 0
        self.summary.value = _summary_html([(a.source.label, a)])
        figures.draw_overview(self.overview, a.details, f"{a.source.label}, {a.convention.name}", self.row)
        self.show_random_init.disabled = a.random_init is None
        if a.random_init is None:
            self.show_random_init.value = False
        self._fill_table()
        self.select(self.row)
        if self.other is not None:
            self._draw_compare()

    def _fill_table(self) -> None:
        if self.current is None:
            return
        d = self.current.details
        order = d.index if self.sort_by.value == "depth" else d.sort_values(
            self.sort_by.value, kind="stable", na_position="last").index
        if self.descending.value:
            order = order[::-1]
        width = max(12, min(34, int(d["layer"].str.len().max()) + 8))
        header = f"{'matrix':{width}}" + "".join(f"{c:>{n}}" if n else f"  {c}" for c, n in TABLE_COLUMNS.items())
        self.table_header.value = f"<pre style='margin:0; font-size: 12px'>{html.escape(header)}</pre>"
        options = [(_row_text(self.current.matrix_name(i), d.loc[i], width), int(i)) for i in order]
        self.table.unobserve(self._on_table, "value")
        self.table.options = options
        self.table.value = self.row
        self.table.observe(self._on_table, "value")

    def _on_table(self, change) -> None:
        if change["new"] is not None:
            self.select(int(change["new"]))

    def _on_point(self, trace, points, state) -> None:
        if points.point_inds:
            self.select(int(trace.customdata[points.point_inds[0]]))

    def select(self, row: int) -> None:
        """Show matrix ``row`` (a row number of the current analysis) in every view."""
        self.row = row
        a = self.current
        if self.table.value != row:
            self.table.unobserve(self._on_table, "value")
            self.table.value = row
            self.table.observe(self._on_table, "value")
        figures.mark_selected(self.overview, a.details, row)
        status = a.details.at[row, "status"]
        if status == "ok":
            fit = a.candidates(row)
            figures.draw_diagnostics(self.diagnostics, f"fit of {self._matrix_name()}", fit)
            best = int(np.searchsorted(fit.candidates["xmin"], fit.xmin))
            self.xmin_slider.unobserve_all("value")
            self.xmin_slider.max = len(fit.candidates["xmin"]) - 1
            self.xmin_slider.value = best
            self.xmin_slider.disabled = False
            self.xmin_slider.observe(lambda _: self._on_slider(), "value")
            self._readout(fit, best)
        else:
            figures.clear(self.diagnostics, f"{self._matrix_name()}: not fitted ({status})")
            self.xmin_slider.disabled = True
            self.hand_readout.value = ""
        self._draw_esd()
        if self.other is not None:
            self._draw_compare_esd()

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

    def _draw_esd(self) -> None:
        a, row = self.current, self.row
        if a is None:
            return
        d = a.details.loc[row]
        fitted = a.fitted(row)
        if fitted.size == 0:
            figures.clear(self.esd, f"{self._matrix_name()}: no eigenvalue to show ({d['status']})")
            self.esd_note.value = (f"<span style='color:#b00'>{html.escape(self._matrix_name())}: no eigenvalue "
                                   f"to show (status <b>{html.escape(str(d['status']))}</b>)</span>")
            return
        overlays = {}
        if self.show_permuted.value:
            overlays["permuted"] = a.permuted(row)
        if self.show_random_init.value and a.random_init is not None:
            overlays["random_init"] = a.random_init_spectrum(row)
        variance = a.entry_variance(row)
        mp = None if variance is None else (int(d["N"]), int(d["M"]), variance)
        figures.draw_esd(self.esd, f"ESD of {self._matrix_name()}", fitted, d, log=not self.linear.value,
                         overlays=overlays, mp=mp, hand_fit=self._hand_fit())
        note = (f"{fitted.size} eigenvalues in the fit (N = {d['N']}, M = {d['M']}); "
                f"α = {d['alpha']:.3f}, xmin = {d['xmin']:.4g}, D = {d['D']:.4f}, n_tail = {d['n_tail']}")
        if d["status"] != "ok":
            note = (f"<span style='color:#b00'>no power-law fit for this matrix: status "
                    f"<b>{html.escape(str(d['status']))}</b></span>; {fitted.size} eigenvalues shown.")
        self.esd_note.value = note

    def _draw_compare(self) -> None:
        pair = [(self.current.source.label, self.current), (self.other.source.label, self.other)]
        figures.draw_compare(self.compare, [(label, a.details) for label, a in pair])
        self.compare_summary.value = _summary_html(pair)
        self._draw_compare_esd()

    def _draw_compare_esd(self) -> None:
        """The selected matrix's namesake (same layer and slice) in the second model, if it has one."""
        a, b = self.current, self.other
        name = a.matrix_name(self.row)
        match = [i for i in b.details.index if b.matrix_name(i) == name]
        fitted = b.fitted(match[0]) if match else np.empty(0)
        if not fitted.size:
            figures.clear(self.compare_esd, f"{b.source.label}: no matrix {name} with eigenvalues")
            return
        d = b.details.loc[match[0]]
        variance = b.entry_variance(match[0])
        figures.draw_esd(self.compare_esd, f"{b.source.label}: ESD of {name}", fitted, d,
                         log=not self.linear.value, overlays={},
                         mp=None if variance is None else (int(d["N"]), int(d["M"]), variance), hand_fit=None)


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


def _summary_html(labeled: list[tuple[str, ModelAnalysis]]) -> str:
    """summarize() numbers of one or more models as an HTML table, one row per model."""
    metrics = list(labeled[0][1].summary.index)
    head = "".join(f"<th style='padding: 0 6px'>{m}</th>" for m in metrics)
    rows = "".join(
        f"<tr><td>{html.escape(label)} ({a.convention.name})</td>"
        + "".join(f"<td style='text-align:right; padding: 0 6px'>{a.summary[m]:.4g}</td>" for m in metrics)
        + "</tr>" for label, a in labeled)
    return f"<table style='font-size: 12px'><tr><th>summarize()</th>{head}</tr>{rows}</table>"
