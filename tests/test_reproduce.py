"""``htsr reproduce`` driven as a subprocess, on small notebooks written by the tests.

One run (module fixture) of three notebooks, its stderr sent to a log file as in CI:
``01_ok`` writes a report and a figure and shows a formula, ``02_fail`` raises, ``03_log``
reads the runner's log while it runs.  The tests check the console table, the progress lines,
the executed notebooks, the HTML pages (formulas as MathML) and the run report page, and that
the kernels are shut down without a stray interrupt.  Last, the offline main job on the real
notebook 08, whose models are those of every family notebook.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from htsr_utils.apps.reproduce import find_notebooks, write_notebook_report
from htsr_utils.paper.many import analyze_many

HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]
REPO = Path(__file__).resolve().parents[1]

# Keeps a SIGINT handler installed after its cell (ipykernel installs its own only while it
# handles a message): a signal that reaches the kernel after the notebook ends leaves a file.
_RECORD_INTERRUPTS = """\
import signal
kernel = get_ipython().kernel
kernel.pre_handler_hook = kernel.post_handler_hook = lambda: None
signal.signal(signal.SIGINT, lambda *_: Path(interrupt_marker).write_text("interrupted"))
"""


class _Tables(HTMLParser):
    """The cell texts of every table of an HTML page: ``tables[i][row][column]``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.tables[-1][-1][-1] += data


def _tables(page: str) -> list[pd.DataFrame]:
    parser = _Tables()
    parser.feed(page)
    return [pd.DataFrame([[cell.strip() for cell in row] for row in rows[1:]], columns=rows[0])
            for rows in parser.tables]


def _notebook(path: Path, parameters: str, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("reproduce")
    notebooks, build, log = root / "notebooks", root / "build", root / "stderr.log"
    notebooks.mkdir()
    marker = root / "interrupted.txt"
    _notebook(notebooks / "01_ok.ipynb",
              f"quick = False  # small settings\nreport_dir = None\ninterrupt_marker = {str(marker)!r}",
              "from pathlib import Path\n"
              "from htsr_utils.apps.claims import Claims\n"
              "from htsr_utils.apps.reproduce import write_notebook_report\n"
              "assert quick is True\n"
              "Path('01_figure.txt').write_text('a figure')\n"
              "claims = Claims('01_ok')\n"
              "claims.check('one is positive', 1 > 0, 'one = 1')\n"
              "claims.not_checked('alpha-hat as published', 'random <weights>')\n"
              "write_notebook_report('01_ok', ['model_a', 'model_b'], {'model_c': 'no weights <here>'},\n"
              "                      report_dir=report_dir, claims=claims)",
              "from IPython.display import Math\nMath(r'\\hat\\alpha = \\frac{1}{N}')",
              _RECORD_INTERRUPTS)
    _notebook(notebooks / "02_fail.ipynb", "weights = 'random'", "raise ValueError('boom')")
    _notebook(notebooks / "03_log.ipynb", f"log = {str(log)!r}",
              "from pathlib import Path\n"
              "lines = Path(log).read_text().splitlines()\n"
              "assert '[1/3] 01_ok: running' in lines, lines\n"
              "assert any(l.startswith('[1/3] 01_ok: ok, ') for l in lines), lines\n"
              "assert any(l.startswith('[2/3] 02_fail: failed (ValueError: boom), ') for l in lines), lines\n"
              "assert lines[-1] == '[3/3] 03_log: running', lines")
    with log.open("w") as stderr:
        done = subprocess.run([*HTSR, "reproduce", "--quick", "--notebooks-dir", str(notebooks),
                               "--build-dir", str(build)], stdout=subprocess.PIPE, stderr=stderr,
                              text=True, timeout=300, env=os.environ | {"HTSR_REPORT_DIR": str(root / "env")})
    return {"done": done, "notebooks": notebooks, "build": build, "log": log.read_text(),
            "marker": marker, "root": root}


def test_console_table_and_exit_status(run):
    done = run["done"]
    assert done.returncode == 1, run["log"]
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:4]}
    assert rows["01_ok"].split()[1] == "ok" and rows["01_ok"].endswith("2 / 1")
    assert "failed: ValueError: boom" in rows["02_fail"]
    assert rows["03_log"].split()[1] == "ok", "the runner's log showed each notebook as it went"
    assert "01_ok: skipped 1 models (model_c); e.g. model_c: no weights <here>" in done.stdout
    assert f"run report: {run['build'] / 'index.html'}" in done.stdout


def test_progress_lines_when_output_is_not_a_terminal(run):
    lines = run["log"].splitlines()
    expected = ["[1/3] 01_ok: running", "[1/3] 01_ok: ok", "[2/3] 02_fail: running",
                "[2/3] 02_fail: failed (ValueError: boom)", "[3/3] 03_log: running", "[3/3] 03_log: ok"]
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == len(expected)
    assert all(line.startswith(start) for line, start in zip(progress, expected)), progress


def test_kernels_start_and_stop_quietly(run):
    assert not run["marker"].exists(), "the kernel got a SIGINT after its notebook had finished"
    assert "KeyboardInterrupt" not in run["log"]
    assert "without encryption" not in run["log"], "kernels talk over IPC sockets, not TCP"


def test_report_dir_is_injected_as_a_parameter(run):
    build = run["build"] / "notebooks"
    report = json.loads((build / "01_ok.report.json").read_text())
    assert report == {"computed": ["model_a", "model_b"],
                      "skipped": [{"model": "model_c", "reason": "no weights <here>"}],
                      "claims": {"checked": [{"claim": "one is positive", "evidence": "one = 1"}],
                                 "not_checked": [{"claim": "alpha-hat as published",
                                                  "reason": "random <weights>"}]}}
    assert not (run["root"] / "env").exists(), "no environment variable side channel"
    injected = {path.name: [c.source for c in nbformat.read(path, 4).cells
                            if "injected-parameters" in c.metadata.get("tags", [])]
                for path in build.glob("*.ipynb")}
    assert f'report_dir = "{build}"' in injected["01_ok.ipynb"][0]
    assert "quick = True" in injected["01_ok.ipynb"][0] and "weights" not in injected["01_ok.ipynb"][0]
    assert "weights = \"pretrained\"" in injected["02_fail.partial.ipynb"][0]
    assert "report_dir" not in injected["02_fail.partial.ipynb"][0], "injected only where declared"


def test_executed_notebooks_and_working_directory(run):
    build = run["build"] / "notebooks"
    assert sorted(p.name for p in build.glob("*.ipynb")) == ["01_ok.ipynb", "02_fail.partial.ipynb",
                                                              "03_log.ipynb"]
    assert (run["notebooks"] / "01_figure.txt").is_file(), "notebooks run in their own folder"


def test_html_pages_and_index(run):
    build = run["build"]
    pages = sorted(p.name for p in (build / "html").glob("*.html"))
    assert pages == ["01_ok.html", "02_fail.html", "03_log.html"]
    assert "ValueError" in (build / "html" / "02_fail.html").read_text(), "a failed page shows its error"
    page = (build / "html" / "01_ok.html").read_text()
    assert re.search(r'<math [^>]*display="inline"', page) and "<mfrac>" in page, "formulas as MathML"
    assert not re.search(r'<script[^>]+src="(https?:)?//', page), "no script from the network"
    index = (build / "index.html").read_text()
    notebooks, skipped, unchecked = _tables(index)
    assert notebooks["notebook"].tolist() == ["01_ok", "02_fail", "03_log"]
    assert notebooks["result"].tolist() == ["ok", "failed: ValueError: boom", "ok"]
    assert notebooks["claims checked / not checked"].tolist() == ["1 / 1", "", ""]
    assert notebooks["models computed / skipped"].tolist() == ["2 / 1", "", ""]
    assert skipped.to_dict("records") == [{"notebook": "01_ok", "model": "model_c",
                                           "reason": "no weights <here>"}]
    assert unchecked.to_dict("records") == [{"notebook": "01_ok", "claim": "alpha-hat as published",
                                             "why not": "random <weights>"}]
    for name in ("01_ok", "02_fail", "03_log"):
        assert f'href="html/{name}.html"' in index


def test_find_notebooks_selects_numbers_and_names(run):
    notebooks = run["notebooks"]
    assert [p.name for p in find_notebooks(notebooks)] == ["01_ok.ipynb", "02_fail.ipynb", "03_log.ipynb"]
    assert [p.name for p in find_notebooks(notebooks, ["02"])] == ["02_fail.ipynb"]
    assert [p.name for p in find_notebooks(notebooks, ["02_fail", "01_ok.ipynb"])] == ["01_ok.ipynb",
                                                                                     "02_fail.ipynb"]
    with pytest.raises(FileNotFoundError, match="no notebook numbered or named 07"):
        find_notebooks(notebooks, ["01", "07"])


def test_write_notebook_report_forms(tmp_path):
    assert write_notebook_report("x", ["a"], ["b"]) is None, "run by hand: no report"
    assert not list(tmp_path.iterdir())
    skipped = pd.DataFrame({"model": ["b", "c"], "reason": ["no file.", "bad hash"],
                            "how_to_fix": ["Put the file at: /w.pth", ""]})
    path = write_notebook_report("x", ["a"], skipped, report_dir=tmp_path)
    assert json.loads(path.read_text())["skipped"] == [
        {"model": "b", "reason": "no file. Put the file at: /w.pth"}, {"model": "c", "reason": "bad hash"}]
    path = write_notebook_report("y", [], ["b"], report_dir=tmp_path)
    assert json.loads(path.read_text()) == {"computed": [], "skipped": [{"model": "b", "reason": ""}]}


def _main_job_models(number: str) -> list[str]:
    """The models notebook ``number`` analyzes in the main job (``quick=False``): its parameters
    cell, the cells before its model list and that cell up to the line that sets ``models``
    (imports, the family's models), run here."""
    notebook = next((REPO / "notebooks").glob(f"{number}_*.ipynb"))
    code = [cell for cell in nbformat.read(notebook, 4).cells if cell.cell_type == "code"]
    namespace: dict = {}
    exec(next(c.source for c in code if "parameters" in c.metadata.get("tags", [])), namespace)
    namespace["quick"] = False
    listing = next(i for i, c in enumerate(code) if re.search(r"^models = ", c.source, flags=re.M))
    for cell in code[:listing]:
        if "parameters" not in cell.metadata.get("tags", []):
            exec(cell.source, namespace)
    lines = code[listing].source.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("models = "))
    exec("\n".join(lines[:end + 1]), namespace)
    return list(namespace["models"])


@pytest.mark.usefixtures("offline")
def test_offline_main_job_names_where_each_weight_file_goes():
    """Offline, every model of the main job's widest notebook (08, the models of the family
    notebooks 01-06) is skipped, saying where its weight file goes or that its snapshot has none."""
    models = _main_job_models("08")
    skipped = analyze_many(models, "pretrained", snapshot="paper", progress=False).skipped
    assert list(skipped["model"]) == models
    where = zip(skipped["model"], skipped["how_to_fix"].str.contains("Put the file at: ")
                | skipped["reason"].str.contains("no paper-era file is known"))
    assert [model for model, said in where if not said] == []


@pytest.mark.slow
def test_offline_main_job_skips_every_model_and_finishes(offline_env, tmp_path):
    """``htsr reproduce`` (pretrained weights, full families) on a machine without weight files.

    Notebook 08 analyzes the models of every family notebook (01-06) at once: it must skip each
    and still finish, and its run report must say, for each, which weight file is missing and
    where to put it, and show the claims 08 checked and could not check.  nbval runs every other notebook, this test runs 08 (``make test``), so
    each runs once.
    """
    build = tmp_path / "build"
    done = subprocess.run([*HTSR, "reproduce", "--only", "08", "--build-dir", str(build)],
                          env=offline_env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((build / "notebooks" / "08_summary.report.json").read_text())
    family_models = {m for number in ("01", "02", "03", "04", "05", "06") for m in _main_job_models(number)}
    assert report["computed"] == []
    assert family_models <= {entry["model"] for entry in report["skipped"]}

    # The run report names, for every skipped model, its weight file and where it goes.
    notebooks, skipped, unchecked = _tables((build / "index.html").read_text())
    rows = skipped[skipped["notebook"] == "08_summary"].set_index("model")["reason"]
    assert sorted(rows.index) == sorted(entry["model"] for entry in report["skipped"])
    expected = _weight_file_paths(rows.index, offline_env)
    vague = {model: reason for model, reason in rows.items()
             if not (f"Put the file at: {expected[model]}" in reason if model in expected
                     else "no paper-era file is known" in reason)}
    assert vague == {}, "reasons without the weight file's name and folder"
    # ... and the claims 08 checked and could not check in this run, each with its reason.
    checked, not_checked = len(report["claims"]["checked"]), len(report["claims"]["not_checked"])
    (counts,) = notebooks.loc[notebooks["notebook"] == "08_summary", "claims checked / not checked"]
    assert counts == f"{checked} / {not_checked}" and checked >= 2 and not_checked >= 1
    reasons = unchecked[unchecked["notebook"] == "08_summary"].set_index("claim")["why not"]
    assert sorted(reasons.index) == sorted(e["claim"] for e in report["claims"]["not_checked"])
    assert (reasons.str.len() > 0).all()


def _weight_file_paths(models, env: dict[str, str]) -> dict[str, str]:
    """Where ``htsr`` looks for each model's paper-era weight file, from the files' own lists:
    torchvision's ``IMAGENET1K_V1`` URL under ``$TORCH_HOME/hub/checkpoints``; the SDM 2020
    pytorchcv file (data/pytorchcv_paper_weights.csv) under ``$HTSR_PYTORCHCV_ROOT``.  A
    pytorchcv model SDM 2020 did not analyze has no paper-era file, and no entry."""
    from torchvision.models import get_model_weights

    from htsr_utils.models.registry import get_spec

    paper_files = pd.read_csv(REPO / "data" / "pytorchcv_paper_weights.csv").set_index("model")["file_name"]
    paths = {}
    for model in models:
        spec = get_spec(model)
        if spec.library == "torchvision":
            url = get_model_weights(spec.arch)["IMAGENET1K_V1"].url
            paths[model] = str(Path(env["TORCH_HOME"]) / "hub" / "checkpoints" / url.rsplit("/", 1)[1])
        elif model in paper_files:
            paths[model] = str(Path(env["HTSR_PYTORCHCV_ROOT"]) / paper_files[model])
    return paths
