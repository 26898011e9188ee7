"""The explorer in a real browser: JupyterLab + headless Debian Chromium driven by selenium.

Starts JupyterLab on 127.0.0.1 (free port, random token) on a copy of
``notebooks/explore.ipynb`` (so JupyterLab's autosave never touches the committed notebook),
runs all cells, picks a matrix in the layer table, waits for the ESD view to show it; in the
checkpoint-series view of the same notebook, moves the step slider with the keyboard and
clicks a heatmap cell, waiting each time for its ESD view to show that step and matrix; checks
that no widget failed to render and that the browser console has no errors, and saves a
screenshot: to ``docs/explorer.png`` when ``HTSR_UPDATE_SCREENSHOT=1``, else to a temporary
folder.  The server is stopped in a ``finally``.  Chromium and chromedriver come from Debian
(``make setup`` installs them); without them this test fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"
SCREENSHOT = ROOT / "docs" / "explorer.png"
#: Seconds to wait for JupyterLab, the kernel, the notebook's cells and each redraw.
SERVER_TIMEOUT, RUN_TIMEOUT, REDRAW_TIMEOUT = 60, 240, 30

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout: float, what: str, poll: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def lab_page(notebook: Path, workdir: Path) -> Iterator:
    """A headless Chromium showing ``notebook`` (copied into ``workdir``) in a fresh JupyterLab."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail("chromium and chromedriver are not on PATH: run `make setup` "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    shutil.copy(notebook, workdir / notebook.name)
    # No "get notified about Jupyter news?" popup over the screenshot.
    settings = workdir / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    bindir = Path(sys.executable).parent
    log = open(workdir / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [str(bindir / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}", "--allow-root",
         "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT,
        env=os.environ | {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
                          "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                          "JUPYTER_CONFIG_DIR": str(workdir / "config")})
    driver = None
    try:
        _wait(lambda: _port_open(port), SERVER_TIMEOUT, "JupyterLab to listen")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1500"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        driver.get(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}")
        _wait(lambda: "Idle" in driver.execute_script(
            "return document.querySelector('.jp-Notebook') ? document.body.innerText : ''"),
            SERVER_TIMEOUT, "the notebook's kernel to start", poll=0.2)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def plot_titles(driver, within: str = "") -> list[str]:
    """Titles of the plotly figures on the page (inside the elements matching CSS ``within``), in page order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' .js-plotly-plot')).map("
        "p => (p.querySelector('.gtitle') || {}).textContent || '')", within)


def esd_title(driver) -> str:
    return next((t for t in plot_titles(driver) if t.startswith("ESD of")), "")


def run_all_and_pick(driver, index: int) -> dict[str, float]:
    """Run every cell, then pick table row ``index``; return the seconds each step took."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    start = time.monotonic()
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    _wait(lambda: esd_title(driver), RUN_TIMEOUT, "the explorer's ESD view to render")
    rendered = time.monotonic() - start
    # Wait until the last cell finished (the kernel is idle again), so nothing redraws meanwhile.
    _wait(lambda: driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-InputArea-prompt')).every("
        "p => !p.textContent.includes('*'))"), RUN_TIMEOUT, "all cells to finish", poll=0.2)
    first = esd_title(driver)  # the cells may have selected other matrices after the first render
    table = Select(driver.find_element(By.CSS_SELECTOR, ".htsr-layer-table select"))
    wanted = table.options[index].text.split(" ")[0]
    start = time.monotonic()
    table.select_by_index(index)
    title = _wait(lambda: (t := esd_title(driver)) != first and t, REDRAW_TIMEOUT,
                  f"the ESD view to change from {first!r} to {wanted}")
    assert wanted in title, (wanted, title)
    return {"render_s": rendered, "pick_matrix_s": time.monotonic() - start}


def series_titles(driver) -> list[str]:
    """Titles of the series view's figures: heatmap, averages, ESD, two-step ESD, change."""
    return plot_titles(driver, ".htsr-series")


def series_esd_title(driver) -> str:
    return series_titles(driver)[2]


def move_step_slider(driver) -> dict[str, object]:
    """Press the left arrow on the series view's step slider; return the step shown before and
    after, and the seconds until the ESD view showed the new step."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = series_esd_title(driver)
    handle = driver.find_element(By.CSS_SELECTOR, ".htsr-series .htsr-step-slider .noUi-handle")
    start = time.monotonic()
    handle.send_keys(Keys.ARROW_LEFT)
    after = _wait(lambda: (t := series_esd_title(driver)) != before and t, REDRAW_TIMEOUT,
                  "the series ESD view to show another step")
    return {"before": before, "after": after, "slider_step_s": time.monotonic() - start}


def click_heatmap_cell(driver, row: int, column: int) -> tuple[str, float]:
    """Click the heatmap cell (row from the top, column from the left) with the mouse; return
    the series ESD title it leads to and the seconds it took."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    plot = driver.find_elements(By.CSS_SELECTOR, ".htsr-series .js-plotly-plot")[0]
    rows, columns = driver.execute_script(
        "const t = arguments[0].data[0]; return [t.y.length, t.x.length]", plot)
    area = plot.find_element(By.CSS_SELECTOR, ".nsewdrag")
    width, height = area.size["width"], area.size["height"]
    before = series_esd_title(driver)
    start = time.monotonic()
    ActionChains(driver).move_to_element_with_offset(
        area, int((column + 0.5) / columns * width - width / 2), int((row + 0.5) / rows * height - height / 2)
    ).click().perform()
    title = _wait(lambda: (t := series_esd_title(driver)) != before and t, REDRAW_TIMEOUT,
                  "the series ESD view to show the clicked cell")
    return title, time.monotonic() - start


def test_explorer_in_jupyterlab(tmp_path):
    with lab_page(NOTEBOOK, tmp_path) as driver:
        timings = run_all_and_pick(driver, 7)
        page = driver.page_source
        assert "Error displaying widget" not in page
        # overview, ESD, fit, compare x 2
        assert "htsr-explorer" in page and len(plot_titles(driver, ".htsr-explorer")) == 5

        # The series view: five figures, a drawn heatmap, a slider and a cell click that redraw its ESD.
        assert len(series_titles(driver)) == 5, series_titles(driver)
        assert driver.find_elements("css selector", ".htsr-series .heatmaplayer image")
        moved = move_step_slider(driver)
        last, previous = (int(re.search(r"at step (\d+)", t).group(1)) for t in (moved["before"], moved["after"]))
        assert previous < last, moved
        title, timings["click_cell_s"] = click_heatmap_cell(driver, 0, 0)
        assert "at step 0" in title, title
        timings["slider_step_s"] = moved["slider_step_s"]
        assert not driver.find_elements("css selector", ".jp-OutputArea-output[data-mime-type*='error']")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        target = SCREENSHOT if os.environ.get("HTSR_UPDATE_SCREENSHOT") == "1" else tmp_path / SCREENSHOT.name
        target.parent.mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.jupyterapp.commands.execute('application:toggle-left-area');"
                              "document.querySelector('.htsr-explorer').scrollIntoView()")
        time.sleep(1)  # the notebook re-lays out after the side panel closes
        driver.save_screenshot(str(target))
        print(f"browser timings: {timings}; screenshot: {target}")
