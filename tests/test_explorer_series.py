"""The explorer's checkpoint-series view driven by code, the way a user drives it: a run or a
checkpoint folder opened, a metric picked, a heatmap cell clicked (the message the browser
sends), the step slider moved, a second step chosen.

Ground truths are independent of the view: the run's ``layers.csv`` and ``esds/*.npz`` read
here with pandas and numpy, and :func:`htsr_utils.analyze` of each checkpoint.
"""

from __future__ import annotations

import html
import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, analyze_with_esds, explore, fit_eigenvalues
from htsr_utils.apps.explorer import explore_run
from htsr_utils.apps.explorer.figures import trace
from htsr_utils.apps.explorer.series import NO_COMPARISON, SeriesExplorer
from htsr_utils.experiments.recording import TrainingRecorder, matrix_label

STEPS = [0, 5, 20, 60]
CONVENTION = "sdm2020"


def tiny_model(step: int) -> nn.Module:
    """Two Linear layers and a 2x2 convolution (six matrices under sdm2020), with a rank-one
    spike growing with ``step``; the second layer is all zero at step 0 (no fit there)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(120, 80), nn.ReLU(), nn.Linear(80, 64), nn.ReLU(), nn.Conv2d(64, 60, 2))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in (model[0], model[2], model[4]):
            w = layer.weight.view(layer.weight.shape[0], -1)
            u, v = torch.randn(w.shape[0], 1, generator=gen), torch.randn(1, w.shape[1], generator=gen)
            w += step / 200 * u @ v
        if step == 0:
            model[2].weight.zero_()
    return model


def matrix_labels(details: pd.DataFrame) -> list[str]:
    return [matrix_label(layer, s) for layer, s in zip(details["layer"], details["slice"])]


def write_run(run_dir, steps=STEPS, curve: bool = True, estimators=("csn", "hill")):
    """A run of :func:`tiny_model` at ``steps``, recorded as a training loop records it."""
    recorder = TrainingRecorder(run_dir, convention=CONVENTION, estimators=estimators)
    for step in steps:
        scalars = {"train_loss": 2.3 / (1 + step), "test_accuracy": 0.1 + step / 100} if curve else {}
        recorder.record(tiny_model(step), step, **scalars)
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("runs") / "tiny-run")


@pytest.fixture()
def app(run_dir):
    explorer = explore(run_dir)
    assert isinstance(explorer, SeriesExplorer)
    assert explorer.message.value == "", explorer.message.value
    return explorer


def layers_table(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "layers.csv", dtype={"matrix": str})


def eigenvalues(run_dir, step: int, matrix: str) -> np.ndarray:
    with np.load(run_dir / "esds" / f"step-{step:08d}.npz") as npz:
        return fit_eigenvalues(npz[matrix], CONVENTION)


def said(app) -> str:
    """The app's message as text."""
    return html.unescape(app.message.value)


def click_cell(fig, step: int, matrix: str) -> None:
    """A click on a heatmap cell as the browser reports it (plotly.js: pointNumber [row, column])."""
    heat = fig.data[0]
    row, col = list(heat.y).index(matrix), list(heat.x).index(str(step))
    fig._js2py_pointsCallback = {"event_type": "plotly_click",
                                 "points": {"trace_indexes": [0], "point_indexes": [[row, col]],
                                            "xs": [str(step)], "ys": [matrix]},
                                 "device_state": {"alt": False, "ctrl": False, "meta": False, "shift": False,
                                                  "button": 0, "buttons": 1}}


def assert_esd_shows(app, run_dir, step: int, matrix: str) -> None:
    """The ESD view holds every fitted eigenvalue of ``matrix`` at ``step`` and that row's fit."""
    fitted = eigenvalues(run_dir, step, matrix)
    bars = trace(app.esd, "esd")
    assert sum(bars.y) == fitted.size > 0
    low, high = np.asarray(bars.customdata)[[0, -1], [0, 1]]
    assert low == pytest.approx(fitted.min(), rel=1e-12) and high == pytest.approx(fitted.max(), rel=1e-12)
    assert app.esd.layout.meta["matrix"] == matrix and app.esd.layout.meta["step"] == step
    row = layers_table(run_dir).set_index(["step", "matrix"]).loc[(step, matrix)]
    law = trace(app.esd, "power_law")
    assert law.visible == (row["status"] == "ok")
    if law.visible:
        assert law.meta["alpha"] == pytest.approx(row["alpha"], rel=1e-12)
        assert law.meta["xmin"] == pytest.approx(row["xmin"], rel=1e-12)


def test_heatmap_is_the_layers_table_pivot_for_every_metric(app, run_dir):
    layers = layers_table(run_dir)
    order = list(dict.fromkeys(layers["matrix"]))
    metrics = [value for _, value in app.metric.options]
    assert metrics == ["alpha", "alpha_hill", "lambda_max", "log_norm", "alpha_weighted"]
    for metric in metrics:
        app.metric.value = metric
        expected = layers.pivot(index="matrix", columns="step", values=metric).loc[order, STEPS]
        heat = app.heatmap.data[0]
        assert heat.visible and list(heat.y) == order and list(heat.x) == [str(s) for s in STEPS]
        np.testing.assert_array_equal(np.asarray(heat.z, dtype=float), expected.to_numpy())
        assert heat.meta["metric"] == metric
    assert np.isnan(np.asarray(heat.z, dtype=float)[order.index("2"), 0])  # the zero matrix at step 0: blank


def test_clicking_a_cell_shows_that_matrix_at_that_step(app, run_dir):
    for step, matrix in [(20, "4[0,1]"), (0, "0"), (60, "2")]:
        click_cell(app.heatmap, step, matrix)
        assert app.message.value == "", app.message.value
        assert (app.matrix.value, app.step.value) == (matrix, step)
        assert_esd_shows(app, run_dir, step, matrix)
        ring = app.heatmap.data[1]
        assert list(ring.x) == [str(step)] and list(ring.y) == [matrix]
        row = layers_table(run_dir).set_index(["step", "matrix"]).loc[(step, matrix)]
        if pd.notna(row["alpha_hill"]):
            assert f"Hill estimator: α = {row['alpha_hill']:.3f} from the top k = {row['hill_k']}" in app.esd_note.value


def test_a_matrix_without_a_fit_at_a_step_says_so(app, run_dir):
    click_cell(app.heatmap, 0, "2")  # all zero at step 0
    assert app.message.value == ""
    assert "no eigenvalue to show (zero_matrix)" in app.esd.layout.title.text
    assert not any(t.visible for t in app.esd.data)


def test_the_slider_changes_the_step(app, run_dir):
    app.matrix.value = "4[1,0]"
    for step in STEPS[::-1]:
        app.step.value = step
        assert_esd_shows(app, run_dir, step, "4[1,0]")
        assert list(app.heatmap.data[1].x) == [str(step)]
        assert f"at step {step}" in app.esd.layout.title.text
        assert app.averages.layout.shapes[0].x0 == step


def test_two_steps_compared(app, run_dir):
    app.matrix.value, app.step.value, app.other_step.value = "0", 60, 5
    bars = [t for t in app.overlay.data if t.type == "bar"]
    assert [t.meta["step"] for t in bars] == [5, 60]
    for t in bars:
        assert sum(t.y) == t.meta["n"] == eigenvalues(run_dir, t.meta["step"], "0").size
    laws = [t for t in app.overlay.data if t.type == "scatter" and t.visible]
    layers = layers_table(run_dir).set_index(["step", "matrix"])
    assert [law.meta["alpha"] for law in laws] == pytest.approx([layers.at[(s, "0"), "alpha"] for s in (5, 60)])
    table = layers_table(run_dir).pivot(index="matrix", columns="step", values="alpha")
    change = app.change.data[0]
    assert change.visible
    expected = (table[60] - table[5]).loc[list(change.y)]
    np.testing.assert_allclose(np.asarray(change.x, dtype=float), expected.to_numpy(), rtol=1e-12)
    assert app.change.layout.meta["steps"] == [5, 60]
    assert [s.x0 for s in app.averages.layout.shapes] == [60, 5]
    app.metric.value = "lambda_max"  # the change plot follows the metric
    lam = layers_table(run_dir).pivot(index="matrix", columns="step", values="lambda_max")
    np.testing.assert_allclose(np.asarray(app.change.data[0].x, dtype=float),
                               (lam[60] - lam[5]).loc[list(change.y)].to_numpy(), rtol=1e-12)
    app.other_step.value = NO_COMPARISON
    assert [t.meta["step"] for t in app.overlay.data if t.type == "bar" and t.visible] == [60]
    assert "choose a step" in app.change.layout.title.text


def test_training_curve_present_and_absent(app, run_dir, tmp_path):
    curve = pd.read_csv(run_dir / "curve.csv")
    drawn = {t.name: t for t in app.averages.data}
    for column in ("train_loss", "test_accuracy"):
        np.testing.assert_allclose(np.asarray(drawn[column].y, dtype=float), curve[column].to_numpy())
        np.testing.assert_array_equal(np.asarray(drawn[column].x), STEPS)
    assert drawn["test_accuracy"].yaxis != drawn["train_loss"].yaxis  # accuracy on the right axis
    average = app.averages.data[0]
    assert average.visible and average.meta["column"] == "alpha_hat"
    layers = layers_table(run_dir)
    expected = [layers[(layers.step == s) & (layers.status == "ok")]["alpha_weighted"].mean() for s in STEPS]
    np.testing.assert_allclose(np.asarray(average.y, dtype=float), expected, rtol=1e-9)
    assert not app.averages.layout.annotations
    app.average.value = "alpha_hill_mean"  # another average: the curve is drawn once again, not twice
    assert [t.name for t in app.averages.data][1:] == ["train_loss", "test_accuracy"]
    np.testing.assert_allclose(np.asarray(app.averages.data[0].y, dtype=float),
                               [layers[(layers.step == s) & layers.alpha_hill.notna()]["alpha_hill"].mean()
                                for s in STEPS], rtol=1e-9)

    bare = explore(write_run(tmp_path / "no-curve", curve=False, estimators=("csn",)))
    assert bare.message.value == "", bare.message.value
    assert "alpha_hill" not in [value for _, value in bare.metric.options]  # CSN only: no Hill column
    assert [t.meta["column"] for t in bare.averages.data] == ["alpha_hat"]
    assert "no training curve recorded" in bare.averages.layout.annotations[0].text
    assert "no training curve recorded" in bare.summary.value


def test_switching_step_or_matrix_works_from_memory(app, run_dir):
    reads = []
    eigenvalues_of = app.data.run.eigenvalues
    app.data.run.eigenvalues = lambda step, matrix: reads.append((step, matrix)) or eigenvalues_of(step, matrix)
    pairs = [(s, m) for s in STEPS for m in ("0", "4[0,0]")]
    for step, matrix in pairs:  # first visits read from the run
        app.select(matrix, step)
    first = len(reads)
    times = []
    for step, matrix in pairs * 2:
        start = time.perf_counter()
        assert app.select(matrix, step)
        times.append(time.perf_counter() - start)
    assert len(reads) == first  # every switch after the first visit: from memory
    print(f"switch of step or matrix from memory: median {np.median(times) * 1e3:.0f} ms, "
          f"max {max(times) * 1e3:.0f} ms")
    assert max(times) < 1.0  # regression guard only (the goal is well under 0.3 s)


def test_a_checkpoint_folder_opens_and_matches_analyze(tmp_path, offline):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    steps = [0, 10, 30]
    for step in steps:
        torch.save(tiny_model(step).state_dict(), folder / f"step_{step}.pt")
    app = explore(folder)
    assert isinstance(app, SeriesExplorer)
    assert app.message.value == "", app.message.value
    assert app.data.steps == steps
    heat = app.heatmap.data[0]
    for col, step in enumerate(steps):
        details = analyze(folder / f"step_{step}.pt", "ww")  # checkpoint_series's default convention
        expected = details["alpha"].to_numpy()[[matrix_labels(details).index(m) for m in heat.y]]
        np.testing.assert_allclose(np.asarray(heat.z, dtype=float)[:, col], expected, rtol=1e-12)
    click_cell(app.heatmap, 10, "0")
    details, esds = analyze_with_esds(folder / "step_10.pt", "ww")
    assert sum(trace(app.esd, "esd").y) == fit_eigenvalues(esds[0], "ww").size
    assert app.data.label == "checkpoints of checkpoints"


def test_the_open_button_opens_a_run(run_dir):
    app = explore_run(run_dir)
    app.path.value = "/no/such/run"
    app.open_button.click()
    assert "no such folder: /no/such/run" in app.message.value
    assert app.data is not None and list(app.heatmap.data[0].x) == [str(s) for s in STEPS]  # the view is kept
    app.path.value = str(run_dir)
    app.open_button.click()
    assert app.message.value == "" and app.data.label == run_dir.name


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "run.json").write_text("{not json"), "run.json"),
    (lambda d: pd.read_csv(d / "layers.csv").drop(columns="matrix").to_csv(d / "layers.csv", index=False), "matrix"),
    (lambda d: (d / "run.json").unlink(), "not a recorded run (no run.json), nor a series"),
    (lambda d: (d / "esds" / "step-00000005.npz").unlink(), "eigenvalue files missing for steps [5]"),
])
def test_an_invalid_run_folder_gives_a_message_in_the_app(run_dir, tmp_path, damage, expected):
    broken = write_run(tmp_path / "broken")
    damage(broken)
    app = explore_run(broken)
    assert expected in said(app), said(app)
    assert "traceback" not in said(app) and app.data is None  # bad input: one line
    assert app.heatmap.layout.title.text == "no run opened"


def test_a_bad_selection_is_named_and_the_view_kept(app):
    app.select("0", 20)
    assert not app.select("no-such-layer", 20)
    assert "has no matrix 'no-such-layer'" in said(app)
    assert (app.matrix.value, app.step.value) == ("0", 20)
    assert not app.select("0", 7)
    assert "has no step 7" in app.message.value
    assert app.select("2", 5) and app.message.value == ""


def test_an_interrupt_keeps_the_previous_view(app, monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("htsr_utils.apps.explorer.series.open_series", interrupted)
    before = app.data
    assert not app.open_run(tmp_path)
    assert "interrupted" in app.message.value and app.data is before
    assert list(app.heatmap.data[0].x) == [str(s) for s in STEPS]


def test_a_run_keeps_its_convention(run_dir):
    app = explore(run_dir, convention="ww")
    assert "recorded under convention 'sdm2020', not 'ww'" in said(app)
    assert explore(run_dir).esd.layout.meta["convention"] == "sdm2020"


def test_display_hands_the_browser_what_the_figures_hold(app):
    """A browser view starts from the widget state (figures drawn before plotly's code loaded
    there would show up empty otherwise), and that state is valid JSON (no NaN)."""
    from ipywidgets.widgets.widget import _remove_buffers

    app.select("2", 0)  # a blank heatmap cell, NaN in the change plot
    app.other_step.value = 60
    app._repr_mimebundle_()
    for fig in (app.heatmap, app.averages, app.esd, app.overlay, app.change):
        assert len(fig._widget_data) == len(fig.data)
        assert fig._widget_layout["title"]["text"] == fig.layout.title.text
        state, _, _ = _remove_buffers(fig.get_state())
        json.dumps(state, allow_nan=False)
    assert app.heatmap._widget_data[0]["z"][list(app.heatmap.data[0].y).index("2")][0] is None


def test_a_trainer_output_folder_is_a_series_and_a_sharded_model_is_not(tmp_path, offline):
    from safetensors.torch import save_file

    trainer = tmp_path / "trainer-output"
    for step in (1, 2):
        (trainer / f"checkpoint-{step}").mkdir(parents=True)
        save_file(tiny_model(step).state_dict(), trainer / f"checkpoint-{step}" / "model.safetensors")
    save_file(tiny_model(3).state_dict(), trainer / "model.safetensors")  # the final model, next to them
    app = explore(trainer)
    assert isinstance(app, SeriesExplorer) and app.message.value == "", app.message.value
    assert app.data.steps == [1, 2]
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    state = {k: v.contiguous() for k, v in tiny_model(0).state_dict().items()}
    keys = sorted(state)
    for i, part in enumerate((keys[:3], keys[3:]), 1):
        save_file({k: state[k] for k in part}, sharded / f"model-0000{i}-of-00002.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: f"model-0000{1 if k in keys[:3] else 2}-of-00002.safetensors" for k in keys}}))
    single = explore(sharded)
    assert not isinstance(single, SeriesExplorer) and single.message.value == "", single.message.value
