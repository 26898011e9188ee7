"""The ESD explorer driven headlessly, the way a user drives it: selectors set, buttons clicked.

Ground truths are independent of the explorer: the table rows come from ``analyze``; the
histogram and model curves are checked against samples and random matrices drawn here.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from plotly.callbacks import InputDeviceState, Points
from safetensors.torch import save_file

from htsr_utils import analyze, analyze_with_esds, explore, fit_eigenvalues
from htsr_utils.apps.explorer.figures import mp_counts, power_law_counts, trace
from htsr_utils.engine.random_matrix import mp_edge
from htsr_utils.paper.figures import histogram_edges


@pytest.fixture(scope="module")
def app():
    """The explorer on ResNet-18 with random weights (no download)."""
    explorer = explore("resnet18", "random")
    assert explorer.message.value == "", explorer.message.value
    return explorer


@pytest.fixture()
def small_checkpoint(tmp_path):
    """A two-layer state dict saved as .safetensors: one random 120x80 layer, one all-zero 90x60."""
    gen = torch.Generator().manual_seed(1)
    state = {"a.weight": torch.randn(120, 80, generator=gen), "b.weight": torch.zeros(90, 60)}
    path = tmp_path / "small.safetensors"
    save_file(state, str(path))
    return path, state


def table_rows(explorer) -> list[int]:
    return [value for _, value in explorer.table.options]


def test_histogram_holds_every_fitted_eigenvalue(app):
    details, esds = analyze_with_esds(app.current.weights, "sdm2020")  # independent of the app
    for row in table_rows(app)[::17]:
        app.table.value = row  # a user choosing a row of the layer table
        bars = trace(app.esd, "esd")
        fitted = fit_eigenvalues(esds[row], "sdm2020")
        assert sum(bars.y) == fitted.size == details.at[row, "n_fit"]
        low, high = np.asarray(bars.customdata)[[0, -1], [0, 1]]
        assert low == fitted.min() and high == fitted.max()  # the largest eigenvalue is in the last bin
        assert bars.y[-1] >= 1


def test_drawn_fit_equals_the_table_row(app):
    details = analyze(app.current.weights, "sdm2020")
    for row in table_rows(app)[5::29]:
        app.table.value = row
        law = trace(app.esd, "power_law")
        assert law.visible
        assert law.meta["alpha"] == pytest.approx(details.at[row, "alpha"], rel=1e-12)
        assert law.meta["xmin"] == pytest.approx(details.at[row, "xmin"], rel=1e-12)
        assert trace(app.esd, "xmin").meta["x"] == pytest.approx(details.at[row, "xmin"])
        assert trace(app.esd, "lambda_max").meta["x"] == pytest.approx(details.at[row, "lambda_max"])
        chosen = app.diagnostics.data[2].meta
        assert chosen["alpha"] == pytest.approx(details.at[row, "alpha"]) and chosen["D"] == pytest.approx(
            details.at[row, "D"])


def test_clicking_an_overview_point_selects_its_matrix(app):
    alpha_points = app.overview.data[0]
    target = 42
    alpha_points._dispatch_on_click(Points(point_inds=[target], xs=[alpha_points.x[target]],
                                           ys=[alpha_points.y[target]], trace_name="α", trace_index=0),
                                    InputDeviceState())
    assert app.row == target and app.table.value == target
    assert app.current.matrix_name(target) in app.esd.layout.title.text
    assert list(app.overview.data[2].y) == [app.current.details.at[target, "alpha"]]


def test_table_sorts_by_each_column(app):
    for column in ("alpha", "D", "lambda_max", "n_tail"):
        app.sort_by.value = column
        values = app.current.details.loc[table_rows(app), column].to_numpy()
        assert np.all(np.diff(values) >= 0), column
        app.descending.value = True
        values = app.current.details.loc[table_rows(app), column].to_numpy()
        assert np.all(np.diff(values) <= 0), column
        app.descending.value = False
    app.sort_by.value = "depth"
    assert table_rows(app) == list(app.current.details.index)


def test_xmin_slider_shows_the_candidate_fit(app):
    app.table.value = 0
    fit = app.current.candidates(0)
    assert fit.alpha == app.current.details.at[0, "alpha"]  # the same fit, candidates kept
    k = 2
    app.xmin_slider.value = k
    assert app.diagnostics.data[3].x == (fit.candidates["xmin"][k],)
    hand = trace(app.esd, "hand")
    assert hand.visible and hand.meta["alpha"] == pytest.approx(fit.candidates["alpha"][k])
    assert f"{fit.candidates['alpha'][k]:.3f}" in app.hand_readout.value
    app.table.value = 1  # another matrix starts at its own chosen xmin
    assert not trace(app.esd, "hand").visible


def test_toggles_linear_axes_and_permuted_entries(app):
    app.table.value = 3
    app.linear.value = True
    assert app.esd.layout.xaxis.type == "linear" and app.esd.layout.yaxis.type == "linear"
    assert sum(trace(app.esd, "esd").y) == app.current.details.at[3, "n_fit"]
    app.linear.value = False
    app.show_permuted.value = True
    permuted = trace(app.esd, "permuted")
    assert permuted.visible and sum(permuted.y) == app.current.permuted(3).size == app.current.details.at[3, "n_fit"]
    app.show_permuted.value = False
    assert not trace(app.esd, "permuted").visible
    assert app.show_random_init.disabled  # the model is its own random init


def test_convention_switch_and_cache(app):
    first = app.current
    app.convention.value = "ww"
    assert app.current.details.attrs["convention"] == "ww" and app.current.source == first.source
    app.convention.value = "sdm2020"
    assert app.current is first  # eigenvalues kept in memory, not recomputed


def test_compare_view_shows_both_models(app, small_checkpoint):
    path, _ = small_checkpoint
    app.compare_picker.kind.value = "file"
    app.compare_picker.path.value = str(path)
    app.compare_picker.button.click()
    assert app.message.value == ""
    names = [t.name for t in app.compare.data]
    assert names == ["resnet18 (random)", "small.safetensors"]
    assert len(app.compare.data[0].y) == len(app.current.details)
    assert len(app.compare.data[1].y) == len(app.other.details) == 2
    assert "resnet18 (random)" in app.compare_summary.value and "small.safetensors" in app.compare_summary.value
    assert "no matrix" in app.compare_esd.layout.title.text  # resnet18's layers are not in the file


def test_compare_esd_shows_the_same_matrix_of_the_second_model(app):
    app.compare_picker.kind.value = "zoo"
    app.compare_picker.zoo_name.value, app.compare_picker.zoo_weights.value = "resnet18", "random"
    app.compare_picker.button.click()  # the same model: the namesake is the same matrix
    app.table.value = 12
    assert np.array_equal(trace(app.compare_esd, "esd").y, trace(app.esd, "esd").y)
    assert app.current.matrix_name(12) in app.compare_esd.layout.title.text


@pytest.fixture()
def checkpoint_app(small_checkpoint):
    path, _ = small_checkpoint
    return explore(path)


def _bad_input(app, kind: str, value, expected: str) -> None:
    before_source, before_title = app.current.source, app.esd.layout.title.text
    app.picker.kind.value = kind
    if kind == "file":
        app.picker.path.value = str(value)
    else:
        app.picker.zoo_name.value, app.picker.zoo_weights.value = value
    app.picker.button.click()
    assert expected in app.message.value, app.message.value
    assert app.current.source == before_source and app.esd.layout.title.text == before_title  # view kept


def test_missing_file_gives_a_message(checkpoint_app, tmp_path):
    _bad_input(checkpoint_app, "file", tmp_path / "nope.pth", "not found")


def test_corrupt_checkpoint_gives_a_message(checkpoint_app, tmp_path):
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"this is not a checkpoint")
    _bad_input(checkpoint_app, "file", bad, "corrupt.pth")


def test_model_without_analyzable_layer_gives_a_message(checkpoint_app, tmp_path):
    path = tmp_path / "biases.safetensors"
    save_file({"a.bias": torch.ones(10)}, str(path))
    _bad_input(checkpoint_app, "file", path, "no layer of this model is analyzed")


def test_pretrained_weights_unavailable_offline(checkpoint_app, offline):
    _bad_input(checkpoint_app, "zoo", ("resnet18", "pretrained"), "URL: https://download.pytorch.org/models/")
    assert "Put the file at: " + str(offline / "torch") in checkpoint_app.message.value


def test_failed_fit_shows_its_status(checkpoint_app):
    details = checkpoint_app.current.details
    zero = int(details.index[details["layer"] == "b"][0])
    assert details.at[zero, "status"] == "zero_matrix"
    checkpoint_app.table.value = zero
    assert "zero_matrix" in checkpoint_app.esd_note.value
    assert "zero_matrix" in checkpoint_app.esd.layout.title.text and len(trace(checkpoint_app.esd, "esd").y) == 0
    assert checkpoint_app.xmin_slider.disabled and len(checkpoint_app.diagnostics.data[0].x) == 0


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_checkpoint_matches_the_state_dict_analysis(small_checkpoint, suffix):
    path, state = small_checkpoint
    if suffix == ".pth":
        path = path.with_suffix(".pth")
        torch.save(state, path)
    app = explore(str(path))
    row = app.current.details.loc[0]
    direct = analyze(state, "sdm2020").loc[0]  # same weights, other form
    assert row["alpha"] == direct["alpha"] and row["lambda_max"] == direct["lambda_max"]


# --------------------------------------------------------------------------- figure numbers


def test_histogram_edges_span_min_to_max():
    values = np.random.default_rng(0).pareto(2.0, 1000) + 1.0
    for log in (True, False):
        edges = histogram_edges(values.min(), values.max(), log=log)
        assert edges[0] == values.min() and edges[-1] == values.max()
        assert np.histogram(values, edges)[0].sum() == values.size


def test_power_law_counts_match_samples():
    """Expected bin counts of a truncated power law against samples drawn by inverse CDF."""
    alpha, xmin, xmax, n = 2.5, 1.0, 50.0, 400_000
    u = np.random.default_rng(1).random(n)
    a = 1.0 - alpha
    samples = xmin * (1 - u * (1 - (xmax / xmin) ** a)) ** (1 / a)
    edges = histogram_edges(0.5, xmax, log=True, bins=30)
    expected = power_law_counts(edges, {"alpha": alpha, "xmin": xmin, "xmax": xmax, "n_tail": n})
    observed = np.histogram(samples, edges)[0]
    assert expected[edges[1:] <= xmin].sum() == 0
    assert expected.sum() == pytest.approx(n)
    inside = expected > 0
    assert np.all(np.abs(observed[inside] - expected[inside]) < 5 * np.sqrt(expected[inside]) + 1)  # Poisson noise


def test_marchenko_pastur_counts_and_edge_match_a_gaussian_matrix():
    rows, cols, variance = 2000, 500, 0.01
    w = np.random.default_rng(2).normal(0.0, np.sqrt(variance), (rows, cols))
    evals = np.linalg.eigvalsh(w.T @ w)
    assert evals.max() == pytest.approx(mp_edge(rows, cols, variance), rel=0.03)
    edges = histogram_edges(evals.min(), evals.max(), log=False, bins=20)
    expected = mp_counts(edges, evals.size, rows, cols, variance)
    observed = np.histogram(evals, edges)[0]
    big = expected > 20
    assert np.allclose(observed[big], expected[big], rtol=0.2, atol=5)


@pytest.mark.slow
def test_minilm_from_its_wheel():
    app = explore("minilm-l6", "pretrained")
    assert app.message.value == "" and (app.current.details["status"] == "ok").all()
    app.table.value = len(app.current.details) - 1
    assert sum(trace(app.esd, "esd").y) == app.current.details.iloc[-1]["n_fit"]


@pytest.mark.slow
def test_trained_model_of_notebook_09():
    app = explore("resnet18", "random")
    app.picker.kind.value = "trained"
    app.picker.dataset.value, app.picker.batch_size.value = "mnist1d", 512
    app.picker.button.click()
    assert app.message.value == ""
    assert app.current.source.kind == "trained"
    assert "2" in set(app.current.details["layer"]) <= {"0", "2", "4"}  # the hidden 256 x 256 layer is analyzed


# --------------------------------------------------------------------------- in a real kernel


@pytest.fixture()
def kernel(offline_env):
    """A python3 Jupyter kernel importing this checkout, offline; shut down afterwards."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=offline_env)
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _execute(client, code: str, timeout: float = 300) -> str:
    """Run ``code``; return its printed text (errors as ``ERROR name``)."""
    msg_id = client.execute(code)
    out = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(f"ERROR {msg['content']['ename']}")
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)


def _click(client, comm_id: str) -> None:
    """What the browser sends when a Button is clicked."""
    client.session.send(client.shell_channel.socket, client.session.msg(
        "comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}))


@pytest.mark.slow
def test_kernel_interrupt_stops_an_analysis_and_bad_input_shows_in_a_kernel(kernel):
    manager, client = kernel
    button = _execute(client, "from htsr_utils import explore\napp = explore('resnet18')\n"
                              "app.picker.kind.value = 'file'; app.picker.path.value = '/no/such.pth'\n"
                              "print(app.picker.button.comm.comm_id)").strip()
    _click(client, button)  # in a kernel, as from the browser: bad input gives the message
    assert "not found" in _execute(client, "print(app.message.value)")
    _execute(client, "app.picker.kind.value = 'zoo'; app.picker.zoo_name.value = 'vgg11'")
    _click(client, button)  # vgg11's 25088 x 4096 matrix takes far longer than this test waits
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for the progress indicator, then press interrupt
        msg = client.get_iopub_msg(timeout=120)
        if msg["msg_type"] == "comm_msg" and "analyzing" in str(msg["content"]["data"].get("state", {})):
            break
    time.sleep(0.5)  # into the eigenvalues (vgg11 needs seconds even on many fast cores)
    manager.interrupt_kernel()
    state = _execute(client, "from htsr_utils.apps.explorer.sources import zoo_source\n"
                             "print(app.message.value, app.current.source.label, "
                             "app.store.cached(zoo_source('vgg11'), 'sdm2020'))", timeout=30)
    assert "analysis interrupted" in state and "resnet18 (random) False" in state, state


def test_random_init_overlay_of_a_pretrained_zoo_model(monkeypatch):
    """Pretrained weights cannot be downloaded here: a seed-1 random model stands in for them."""
    from htsr_utils.apps.explorer.sources import Source
    from htsr_utils.models.build import load_model

    monkeypatch.setattr(Source, "load", lambda self: load_model(self.name, "random", seed=1))
    app = explore("resnet18", "pretrained")
    assert not app.show_random_init.disabled
    app.table.value = 10
    app.show_random_init.value = True
    overlay = trace(app.esd, "random_init")
    reference, esds = analyze_with_esds(load_model("resnet18", "random"), "sdm2020")
    assert overlay.visible and sum(overlay.y) == fit_eigenvalues(esds[10], "sdm2020").size
    assert app.current.random_init_spectrum(10).max() == pytest.approx(reference.at[10, "lambda_max"])
