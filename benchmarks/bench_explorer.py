"""Responsiveness of the ESD explorer (``htsr_utils.explore``), and the choice of plotting layer (not a test).

Run:  .venv/bin/python benchmarks/bench_explorer.py [--models resnet18:random,minilm-l6:pretrained]
      [--browser] [--layers]

Kernel side, per model (driving the widgets as a user does, as ``tests/test_explorer.py``):
first analysis (load + eigenvalues + fits + first drawing); switching matrix through the
layer table (median and maximum over every matrix, candidate fits included); the
permuted-entries overlay of one matrix (first time: its eigenvalues; again: from memory);
switching back to the model once another one is shown (in memory); switching convention and
back.  Targets (printed PASS / FAIL): switching matrix < 0.3 s, switching to a cached model < 2 s.

``--browser``: the same notebook in JupyterLab + headless Chromium (``tests/test_browser.py``):
seconds from "run all cells" to the ESD view rendering (kernel start and analyses included),
and from picking a table row to the ESD view showing it.

``--layers``: the measurement behind the choice of plotly over ipympl. A notebook with a
dropdown redrawing a 60-bin log-log histogram + a line in each layer, in JupyterLab (no lab
build: both ship prebuilt extensions); seconds from choosing an option in the browser to the
new figure on screen, eight changes each.

Results go to ``benchmarks/results/bench_explorer.json`` (with the load average: other
processes share the cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from htsr_utils.apps.explorer.app import Explorer
from htsr_utils.apps.explorer.sources import zoo_source
from htsr_utils.storage.fileio import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_explorer.json"
MATRIX_TARGET_S, CACHED_MODEL_TARGET_S = 0.3, 2.0


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def kernel_side(models: list[tuple[str, str]]) -> dict:
    """Time the widget actions on each model, all in one explorer (as in one notebook session)."""
    app = Explorer()
    out = {}
    for name, weights in models:
        source = zoo_source(name, weights)
        first = _timed(lambda: app.load(source))
        assert app.message.value == "", app.message.value
        rows = [value for _, value in app.table.options]

        def pick(row):
            app.table.value = row
        switch = [_timed(lambda r=r: pick(r)) for r in rows[1:] + rows[:1]]
        middle = rows[len(rows) // 2]
        pick(middle)
        permuted_first = _timed(lambda: setattr(app.show_permuted, "value", True))
        app.show_permuted.value = False
        permuted_again = _timed(lambda: setattr(app.show_permuted, "value", True))
        app.show_permuted.value = False
        out[f"{name} ({weights})"] = {
            "matrices": len(rows),
            "first_analysis_s": first,
            "switch_matrix_median_s": statistics.median(switch),
            "switch_matrix_max_s": max(switch),
            "permuted_overlay_first_s": permuted_first,
            "permuted_overlay_again_s": permuted_again,
        }
    # Every model is in memory now: switch back to each (the full redraw of all views).
    for name, weights in models:
        out[f"{name} ({weights})"]["switch_to_cached_model_s"] = _timed(lambda: app.load(zoo_source(name, weights)))
    other = "ww" if app.convention.value != "ww" else "sdm2020"
    start = app.convention.value
    out["convention_first_s"] = _timed(lambda: setattr(app.convention, "value", other))
    out["convention_back_cached_s"] = _timed(lambda: setattr(app.convention, "value", start))
    return out


def _browser_module():
    spec = importlib.util.spec_from_file_location("test_browser", ROOT / "tests" / "test_browser.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def browser_side() -> dict:
    tb = _browser_module()
    with tempfile.TemporaryDirectory() as tmp, tb.lab_page(tb.NOTEBOOK, Path(tmp)) as driver:
        return tb.run_all_and_pick(driver, 7)


_LAYER_SETUP = """import numpy as np, ipywidgets as w
rng = np.random.default_rng(0)
data = {k: rng.pareto(1.5 + k, 2000) + 1 for k in range(5)}
def hist(k):
    x = data[k]; e = np.geomspace(x.min(), x.max(), 61); return e, np.histogram(x, e)[0]"""
_PLOTLY = """import plotly.graph_objects as go
e, c = hist(0)
pfig = go.FigureWidget([go.Bar(x=(e[:-1] + e[1:]) / 2, y=c, width=np.diff(e)), go.Scatter(x=e, y=c.max() * (e / e[0]) ** -1.5)],
                       layout=dict(title="plotly k=0", xaxis_type="log", yaxis_type="log", width=600, height=400))
pdd = w.Dropdown(options=list(range(5)), description="plotly"); pdd.add_class("pdd")
def pupd(ch):
    e, c = hist(ch["new"])
    with pfig.batch_update():
        pfig.data[0].x, pfig.data[0].y, pfig.data[0].width = (e[:-1] + e[1:]) / 2, c, np.diff(e)
        pfig.data[1].x = e; pfig.layout.title.text = f"plotly k={ch['new']}"
pdd.observe(pupd, "value")
w.VBox([pdd, pfig])"""
_IPYMPL = """%matplotlib widget
import matplotlib.pyplot as plt
plt.ioff()
mfig, ax = plt.subplots(figsize=(6, 4)); mfig.canvas.header_visible = False
def mdraw(k):
    ax.clear(); e, c = hist(k); ax.stairs(c, e, fill=True); ax.plot(e, c.max() * (e / e[0]) ** -1.5)
    ax.set_xscale("log"); ax.set_yscale("log"); ax.set_title(f"mpl k={k}"); mfig.canvas.draw_idle()
mdraw(0)
mdd = w.Dropdown(options=list(range(5)), description="mpl"); mdd.add_class("mdd")
mdd.observe(lambda ch: mdraw(ch["new"]), "value")
w.VBox([mdd, mfig.canvas])"""


def layer_choice() -> dict:
    """Browser response of plotly FigureWidget vs ipympl to a dropdown change."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    tb = _browser_module()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (_LAYER_SETUP, _PLOTLY, _IPYMPL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    canvas = ("var c = document.querySelector('.jupyter-matplotlib canvas');"
              "return c ? c.toDataURL().slice(-300) : null")
    titles = "return Array.from(document.querySelectorAll('.js-plotly-plot .gtitle')).map(e => e.textContent).join('|')"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "src" / "layers.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        work = Path(tmp) / "lab"
        work.mkdir()
        with tb.lab_page(path, work) as driver:
            start = time.monotonic()
            driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            tb._wait(lambda: driver.execute_script(canvas) and "plotly k=0" in driver.execute_script(titles),
                     tb.RUN_TIMEOUT, "both figures")
            first_render = time.monotonic() - start
            time.sleep(2)
            out = {"both_rendered_after_run_all_s": first_render, "plotly_s": [], "ipympl_s": []}
            for k in (1, 2, 3, 4, 0, 1, 2, 3):
                t = time.monotonic()
                Select(driver.find_element(By.CSS_SELECTOR, ".pdd select")).select_by_visible_text(str(k))
                tb._wait(lambda: f"plotly k={k}" in driver.execute_script(titles), 20, "plotly", poll=0.01)
                out["plotly_s"].append(time.monotonic() - t)
                before = driver.execute_script(canvas)
                t = time.monotonic()
                Select(driver.find_element(By.CSS_SELECTOR, ".mdd select")).select_by_visible_text(str(k))
                tb._wait(lambda: driver.execute_script(canvas) != before, 20, "ipympl", poll=0.01)
                out["ipympl_s"].append(time.monotonic() - t)
            out["console_errors"] = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    for layer in ("plotly", "ipympl"):
        out[f"{layer}_median_s"] = statistics.median(out[f"{layer}_s"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18:random,minilm-l6:pretrained",
                        help="comma-separated zoo name:weights")
    parser.add_argument("--browser", action="store_true", help="also time the notebook in JupyterLab + Chromium")
    parser.add_argument("--layers", action="store_true", help="also compare plotly and ipympl in the browser")
    args = parser.parse_args(argv)
    models = [tuple(m.split(":")) for m in args.models.split(",")]
    results = {"load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "kernel": kernel_side(models)}
    if args.browser:
        results["browser"] = browser_side()
    if args.layers:
        results["plotting_layers"] = layer_choice()
    ok = True
    for name, r in results["kernel"].items():
        if isinstance(r, dict):
            for key, target in (("switch_matrix_max_s", MATRIX_TARGET_S), ("switch_to_cached_model_s", CACHED_MODEL_TARGET_S)):
                verdict = "PASS" if r[key] < target else "FAIL"
                ok &= verdict == "PASS"
                print(f"{name:26s} {key:26s} {r[key]:7.3f} s  (target < {target} s) {verdict}")
    print(json.dumps(results, indent=1, default=str))
    atomic_write(RESULTS, json.dumps(results, indent=1, default=str) + "\n")
    print(f"written: {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
