"""The explorer under what users do: every action completes or shows its error inside the app,
and afterwards every view shows one model, one convention and one matrix.

Driven as in ``test_explorer.py``: selectors set, buttons clicked, points clicked.  Offline;
pretrained zoo weights are a seed-1 random model and trained models are left untrained, so
that nothing downloads or trains.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
import torch
from plotly.callbacks import InputDeviceState, Points
from safetensors.torch import save_file
from torch import nn

from htsr_utils import analyze, explore
from htsr_utils.apps.explorer import figures, sources
from htsr_utils.apps.explorer.analysis import AnalysisStore, ModelAnalysis
from htsr_utils.apps.explorer.app import Explorer
from htsr_utils.apps.explorer.figures import trace
from htsr_utils.apps.explorer.sources import TRAINED_DATASETS, Source, trained_source
from htsr_utils.experiments.datasets import DATASETS
from htsr_utils.experiments.training import TrainConfig, build_model
from htsr_utils.models.build import load_model

#: Input features of each dataset (the model of a trained source is built, not trained).
IN_FEATURES = {"mnist": 784, "mnist1d": 40}
#: A zoo model analyzed in a fraction of a second.
ZOO = "squeezenet1_1"


class Boom(RuntimeError):
    """The failure the tests inject."""


def boom(*args, **kwargs):
    raise Boom("injected failure")


@pytest.fixture(autouse=True)
def no_escaped_errors(caplog):
    """No exception escaped a widget callback (ipywidgets logs those of a button's handlers)."""
    yield
    escaped = [r.getMessage() for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert not escaped, escaped


@pytest.fixture(autouse=True)
def _offline(offline):
    """Nothing downloads: pretrained zoo weights missing here fail at once."""


@pytest.fixture()
def weights_here(monkeypatch):
    """Pretrained zoo weights: the seed-1 random model; trained models: untrained."""
    load = Source.load

    def stand_in(source: Source):
        if source.kind == "zoo" and source.weights == "pretrained":
            return load_model(source.name, "random", seed=1)
        if source.kind == "trained":
            torch.manual_seed(source.config.seed)
            return build_model(source.config, IN_FEATURES[source.config.dataset])
        return load(source)

    monkeypatch.setattr(Source, "load", stand_in)


@pytest.fixture()
def checkpoint(tmp_path):
    """Three random layers: 120x80, 90x60 and a 1x1 convolution 60x40 (below min_dim 50: a row
    of natcomm2021 only)."""
    gen = torch.Generator().manual_seed(3)
    path = tmp_path / "three.safetensors"
    save_file({f"{k}.weight": torch.randn(*shape, generator=gen)
               for k, shape in zip("abc", [(120, 80), (90, 60), (60, 40, 1, 1)])}, str(path))
    return path


@pytest.fixture()
def only_under_ww(tmp_path):
    """A checkpoint analyzed under ww (40 eigenvalues) and under no other convention (a 1x1
    convolution, 40 < min_dim)."""
    path = tmp_path / "narrow.safetensors"
    save_file({"a.weight": torch.randn(60, 40, 1, 1, generator=torch.Generator().manual_seed(4))},
              str(path))
    return path


def open_kind(kind: str, checkpoint) -> Explorer:
    """The explorer on a model of each source kind."""
    model = {"zoo": ZOO, "file": checkpoint, "trained": trained_source("mnist1d", 128).config}[kind]
    app = explore(model, "pretrained")
    assert app.message.value == "" and app.current.source.kind == kind
    return app


def plain(text: str) -> str:
    return html.unescape(text)


def views_agree(app: Explorer) -> None:
    """Every view shows the app's model, convention and matrix; each toggle is what is drawn."""
    a = app.current
    label, conv = a.source.label, a.convention.name
    about = {"source": label, "convention": conv, "matrix": a.matrix_name(app.row)}
    assert app.convention.value == conv
    for fig in (app.overview, app.esd, app.diagnostics):
        assert fig.layout.meta == about, (fig.layout.title.text, fig.layout.meta, about)
        assert plain(fig.layout.title.subtitle.text) == f"{label}, {conv}"
        assert about["matrix"] in plain(fig.layout.title.text)
    assert app.table.value == app.row and sorted(v for _, v in app.table.options) == list(a.details.index)
    assert f"{label}, {conv}" in plain(app.table_header.value) and f"{label} ({conv})" in plain(app.summary.value)
    _esd_shows(app.esd, a.fitted(app.row))
    if a.fitted(app.row).size:
        assert app.esd.layout.xaxis.type == ("linear" if app.linear.value else "log")
        assert trace(app.esd, "permuted").visible == app.show_permuted.value
        assert trace(app.esd, "random_init").visible == app.show_random_init.value
    if a.details.at[app.row, "status"] == "ok":
        assert app.diagnostics.data[2].meta["alpha"] == pytest.approx(a.details.at[app.row, "alpha"])
    else:
        assert not any(t.visible for t in app.diagnostics.data)
    _compare_agrees(app, about)


def _esd_shows(fig, fitted: np.ndarray) -> None:
    """The ESD figure's histogram is that of ``fitted`` (nothing drawn for no eigenvalue)."""
    bars = trace(fig, "esd")
    assert bars.visible == bool(fitted.size)
    if fitted.size:
        bins = np.asarray(bars.customdata)
        edges = np.append(bins[:, 0], bins[-1, 1])
        assert np.array_equal(np.histogram(fitted, edges)[0], bars.y)


def _compare_agrees(app: Explorer, about: dict) -> None:
    """The compare views show the second model under the same convention, at the same matrix."""
    b = app.other
    if b is None:
        assert app.compare.layout.meta["sources"] == [] and app.compare_esd.layout.meta is None
        return
    assert b.convention.name == about["convention"]
    assert app.compare.layout.meta == {"sources": [about["source"], b.source.label],
                                       "convention": about["convention"]}
    assert app.compare_esd.layout.meta == about | {"source": b.source.label}
    names = b.matrix_names()
    namesake = b.fitted(names.index(about["matrix"])) if about["matrix"] in names else np.empty(0)
    _esd_shows(app.compare_esd, namesake)


def shown(app: Explorer) -> tuple:
    """What the views show: model, convention, matrix."""
    return app.current.source, app.current.convention.name, app.row


# --------------------------------------------------------------------------- one failure per action
# Each action is (break, act): ``break(monkeypatch, app)`` makes the action fail (and nothing
# the views showed before it), ``act(app)`` is what the user does.


def _fail_when(monkeypatch, owner, name: str, failing) -> None:
    """``owner.name`` raises :class:`Boom` where ``failing(*args)`` holds, else works as before."""
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda *args, **kw: boom() if failing(*args, **kw) else original(*args, **kw))


def _convention_is(name: str):
    return lambda analysis, *args: analysis.convention.name == name


def _tick(box: str):
    return lambda app: setattr(getattr(app, box), "value", True)


def _set_convention(name: str):
    return lambda app: setattr(app.convention, "value", name)


def _compare_zoo(app) -> None:
    app.compare_picker.zoo_name.value = ZOO
    app.compare_picker.button.click()


TOGGLES = {
    "linear": (lambda mp, app: _fail_when(mp, figures, "histogram_edges", lambda lo, hi, log, **kw: not log),
               _tick("linear"), lambda app: "linear axes"),
    "permuted": (lambda mp, app: mp.setattr(ModelAnalysis, "permuted", boom), _tick("show_permuted"),
                 lambda app: "entries permuted"),
    "random-init": (lambda mp, app: mp.setattr(ModelAnalysis, "random_init_spectrum", boom),
                    _tick("show_random_init"), lambda app: "random-init layer"),
    "convention": (lambda mp, app: _fail_when(mp, AnalysisStore, "get", lambda store, s, c, **kw: c == "natcomm2021"),
                   _set_convention("natcomm2021"), lambda app: f"model {app.current.source.label} under natcomm2021"),
    # The analysis under the new convention works; drawing it fails half-way.
    "convention drawn": (lambda mp, app: _fail_when(mp, ModelAnalysis, "candidates", _convention_is("ww")),
                         _set_convention("ww"), lambda app: "convention"),
    "compare": (lambda mp, app: mp.setattr(figures, "draw_compare", boom), _compare_zoo, lambda app: "Compare"),
}


@pytest.mark.parametrize("toggle", TOGGLES)
@pytest.mark.parametrize("kind", ["zoo", "file", "trained"])
def test_a_failing_toggle_leaves_every_view_on_one_model(kind, toggle, checkpoint, weights_here, monkeypatch):
    app = open_kind(kind, checkpoint)
    app.table.value = app.current.details.index[-1]  # not the matrix shown first
    before = shown(app)
    breaks, act, action = TOGGLES[toggle]
    fails = toggle != "random-init" or app.current.random_init is not None  # else the box stays unticked
    with monkeypatch.context() as patch:
        breaks(patch, app)
        act(app)
        message = plain(app.message.value)
        if fails:
            assert f"{action(app)}: Boom: injected failure" in message, message
            assert f"The views keep {app.current.source.label} under sdm2020." in message
        else:
            assert message == ""
        assert shown(app) == before
        assert not (app.linear.value or app.show_permuted.value or app.show_random_init.value)
        views_agree(app)
    act(app)  # nothing broken now: the action works
    assert app.message.value == "", app.message.value
    views_agree(app)


# --------------------------------------------------------------------------- the other callbacks


def _click_point(app, i: int) -> None:
    points = app.overview.data[0]
    points._dispatch_on_click(Points(point_inds=[i], xs=[points.x[i]], ys=[points.y[i]], trace_name="α",
                                     trace_index=0), InputDeviceState())


def _analyze_zoo(app) -> None:
    app.picker.kind.value, app.picker.zoo_name.value, app.picker.zoo_weights.value = "zoo", ZOO, "random"
    app.picker.button.click()


def _pick_trained(app) -> None:
    app.picker.kind.value, app.picker.dataset.value = "trained", "mnist"
    app.picker.button.click()


def _elsewhere_than(app):
    """True for a hand xmin other than the one the slider is at now."""
    now = app.current.candidates(app.row).candidates["xmin"][app.xmin_slider.value]
    return lambda fig, xmin, D: xmin != now


def _next_xmin(app) -> None:
    app.xmin_slider.value = (app.xmin_slider.value + 1) % (app.xmin_slider.max + 1)


CALLBACKS = {
    "table row": (lambda mp, app: _fail_when(mp, ModelAnalysis, "candidates", lambda a, row: row == 0),
                  lambda app: setattr(app.table, "value", 0)),
    "overview point": (lambda mp, app: _fail_when(mp, ModelAnalysis, "fitted", lambda a, row: row == 0),
                       lambda app: _click_point(app, 0)),
    "xmin by hand": (lambda mp, app: _fail_when(mp, figures, "mark_hand_xmin", _elsewhere_than(app)), _next_xmin),
    "table order": (lambda mp, app: mp.setattr(pd.DataFrame, "sort_values", boom),
                    lambda app: setattr(app.sort_by, "value", "alpha")),
    "Analyze (drawing fails)": (lambda mp, app: _fail_when(mp, figures, "draw_overview",
                                                           lambda fig, details, *args: len(details) != 2),
                                _analyze_zoo),
    "Analyze (picking fails)": (lambda mp, app: mp.setattr(sources, "default_config", boom), _pick_trained),
}


@pytest.mark.parametrize("callback", CALLBACKS)
def test_every_other_callback_shows_its_error_and_keeps_the_views(callback, checkpoint, weights_here, monkeypatch):
    app = open_kind("file", checkpoint)
    app.table.value = 1
    before, xmin, title = shown(app), app.xmin_slider.value, app.esd.layout.title.text
    breaks, act = CALLBACKS[callback]
    with monkeypatch.context() as patch:
        breaks(patch, app)
        act(app)
        action = callback.split(" (")[0]  # the key, less what fails
        assert f"{action}: Boom: injected failure" in app.message.value, app.message.value
        assert "traceback" in app.message.value  # not an error of bad input
        assert shown(app) == before and app.xmin_slider.value == xmin and app.esd.layout.title.text == title
        assert app.sort_by.value == "depth"
        views_agree(app)
    act(app)
    assert app.message.value == "", app.message.value
    views_agree(app)


# --------------------------------------------------------------------------- reported cases


def test_explore_with_unavailable_weights_returns_the_app_with_its_compare_model(checkpoint, offline):
    app = explore(ZOO, "pretrained", "ww", compare=checkpoint)
    message = plain(app.message.value)
    assert f"model {ZOO} (pretrained) under ww: WeightsUnavailableError" in message
    assert "URL: " in message and f"Put the file at: {offline / 'torch'}" in message
    assert app.current is None and app.other.source.name == str(checkpoint)
    assert app.compare.layout.meta == {"sources": ["three.safetensors"], "convention": "ww"}
    assert len(app.compare.data[0].y) == len(app.other.details) and not app.compare.data[1].visible
    assert app.overview.layout.meta is None and app.esd.layout.meta is None
    app.linear.value = True  # toggles before any model: nothing to redraw
    app.show_permuted.value = True
    app.compare_picker.kind.value, app.compare_picker.zoo_name.value = "zoo", ZOO
    app.compare_picker.button.click()  # the Compare button before any model
    assert app.message.value == "" and app.other.source.name == ZOO


def test_the_compare_button_before_any_model():
    app = Explorer()
    app.compare_picker.kind.value = "zoo"
    app.compare_picker.zoo_name.value = ZOO
    app.compare_picker.button.click()
    assert app.message.value == "" and app.compare.layout.meta["sources"] == [f"{ZOO} (random)"]
    app.picker.zoo_name.value = ZOO
    app.picker.button.click()  # then a model: both in the compare view
    views_agree(app)


@pytest.mark.slow
def test_the_readme_example_offline():
    app = explore("vgg11", "pretrained", "ww", compare="vgg19")
    assert "Put the file at: " in app.message.value and app.other.source.name == "vgg19"


def test_the_picker_offers_only_datasets_it_can_train():
    app = Explorer()
    offered = app.picker.dataset.options
    assert set(offered) < set(DATASETS) and offered == TRAINED_DATASETS
    for dataset in offered:
        app.picker.kind.value, app.picker.dataset.value = "trained", dataset
        assert app.picker.source() == trained_source(dataset, app.picker.batch_size.value)
    with pytest.raises(ValueError, match="notebook 09 trains on"):
        trained_source("mnist1d_large")


def test_a_checkpoint_of_one_module(tmp_path, checkpoint):
    path = tmp_path / "linear.pth"
    torch.save(nn.Linear(100, 80).state_dict(), path)
    app = explore(checkpoint)
    app.picker.path.value = str(path)
    app.picker.button.click()
    assert app.message.value == ""
    assert app.current.matrix_name(0) == "<root>" and "&lt;root&gt;" in app.esd.layout.title.text
    assert app.current.details.at[0, "alpha"] == analyze(path).at[0, "alpha"]
    views_agree(app)
    app.show_permuted.value = True
    assert sum(trace(app.esd, "permuted").y) == app.current.details.at[0, "n_fit"]
    views_agree(app)


def test_overlays_of_a_matrix_below_min_dim(weights_here):
    app = explore(ZOO, "pretrained", "natcomm2021")
    details = app.current.details
    small = int(details.index[details["status"] == "below_min_dim"][0])
    app.table.value = small
    app.show_permuted.value = True
    app.show_random_init.value = True
    assert app.message.value == "", app.message.value
    n = app.current.fitted(small).size
    assert sum(trace(app.esd, "permuted").y) == n and sum(trace(app.esd, "random_init").y) == n
    assert trace(app.esd, "mp_edge").visible  # the entry variance of a small matrix too
    views_agree(app)
    app.table.value = _first_ok(app)
    views_agree(app)


def _first_ok(app: Explorer) -> int:
    return int(app.current.details.index[app.current.details["status"] == "ok"][0])


def test_convention_switch_when_the_compare_model_fails_under_it(only_under_ww):
    app = explore(ZOO, "random", "ww", compare=only_under_ww)
    assert app.message.value == "" and app.other is not None
    app.convention.value = "sdm2020"
    message = plain(app.message.value)
    assert "compare model narrow.safetensors under sdm2020: NoAnalyzableLayersError" in message
    assert app.current.convention.name == "sdm2020" and app.other is None
    assert "narrow.safetensors: not analyzed under sdm2020" in plain(app.compare.layout.title.text)
    views_agree(app)
    app.convention.value = "ww"  # the compare model comes back
    assert app.message.value == "" and app.other.convention.name == "ww"
    views_agree(app)


def test_the_selected_matrix_stays_across_conventions(checkpoint):
    app = explore(checkpoint)
    app.table.value = 1
    app.convention.value = "natcomm2021"
    assert app.current.matrix_name(app.row) == "b"
    views_agree(app)


def test_a_trained_cnn_is_named_and_kept_by_the_picker(weights_here, monkeypatch):
    config = TrainConfig(dataset="mnist", arch="vgg2d", depth=2, width=64, batch_size=64, epochs=3)
    app = explore(config)
    label = "vgg2d depth 2 width 64 mnist batch 64 (3 epochs, seed 0)"
    assert app.current.source.label == label and plain(app.overview.layout.title.subtitle.text).startswith(label)
    assert label in app.picker.trained_note.value and app.picker.batch_size.value is None
    asked = []
    get = AnalysisStore.get
    monkeypatch.setattr(AnalysisStore, "get", lambda store, source, *args, **kw: asked.append(source) or get(
        store, source, *args, **kw))
    app.picker.button.click()  # Analyze: the same model again
    assert [s.config for s in asked] == [config] and app.current.source.config == config
    app.picker.batch_size.value = 512  # a selector changed: an MLP of notebook 09
    assert app.picker.source() == trained_source("mnist", 512) and app.picker.trained_note.value == ""
    assert trained_source("mnist", 512).label == "MLP mnist batch 512 (10 epochs, seed 0)"


def test_linear_axes_before_a_model_and_with_a_hand_xmin(checkpoint):
    app = Explorer()
    app.linear.value = True  # nothing to draw yet
    app.linear.value = False
    assert app.message.value == ""
    app.picker.kind.value, app.picker.path.value = "file", str(checkpoint)
    app.picker.button.click()
    app.xmin_slider.value = 3
    hand = trace(app.esd, "hand").meta
    app.linear.value = True
    assert app.xmin_slider.value == 3 and trace(app.esd, "hand").visible and trace(app.esd, "hand").meta == hand
    views_agree(app)


def test_cleared_views_hide_their_traces_and_the_ring_sits_on_a_point(tmp_path):
    path = tmp_path / "zero.safetensors"
    save_file({"a.weight": torch.randn(120, 80), "b.weight": torch.zeros(90, 60)}, str(path))
    app = explore(path)
    app.show_permuted.value = True
    app.table.value = 1  # the zero matrix: nothing to draw
    assert app.current.details.at[1, "status"] == "zero_matrix"
    assert not any(t.visible for t in app.esd.data) and not any(t.visible for t in app.diagnostics.data)
    assert not app.overview.data[2].visible  # neither α nor λ_max to ring
    views_agree(app)
    app = explore(ZOO, "random", "natcomm2021")
    d = app.current.details
    small = int(d.index[d["status"] == "below_min_dim"][0])
    app.table.value = small
    ring = app.overview.data[2]
    assert ring.yaxis == "y2" and list(ring.y) == [d.at[small, "lambda_max"]] and np.isfinite(ring.y).all()
    views_agree(app)


def test_selecting_a_row_the_model_does_not_have(checkpoint):
    app = explore(checkpoint)
    before = shown(app)
    assert not app.select(7)
    assert "matrix: IndexError: three.safetensors has no matrix 7 (rows 0 to 1)" in app.message.value
    assert shown(app) == before
    views_agree(app)
