"""The ``htsr`` command, driven as a subprocess (``reproduce``: tests/test_reproduce.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from htsr_utils.apps.cli import main
from htsr_utils.models.build import load_model
from htsr_utils.models.registry import list_models

HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]
SMALL = ["pytorchcv_fdmobilenet_wd4", "squeezenet1_1"]  # random weights: about a second each


def htsr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*HTSR, *args], env=env, capture_output=True, text=True, timeout=300)


def test_list_models_through_the_entry_point(offline_env):
    entry_point = Path(sys.executable).with_name("htsr")
    if not entry_point.is_file():
        pytest.skip("the htsr console script is not installed")
    done = subprocess.run([str(entry_point), "list-models", "--family", "VGG"], env=offline_env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["model", "family", "library"]
    assert [row.split()[0] for row in rows] == list_models(family="VGG")


def test_analyze_writes_tables_and_plots(offline_env, tmp_path):
    out = tmp_path / "out"
    done = htsr("analyze", *SMALL, "--weights", "random", "--out", str(out), "--plot", env=offline_env)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header == ["alpha-hat", "alpha-hat*", "log", "norm", "N_alpha", "L"], "no top1: random"
    assert all(name in done.stdout for name in SMALL)
    for name in SMALL:
        table = (out / f"{name}.csv").read_text().splitlines()
        assert table[0].startswith("model,layer,") and len(table) > 2
        assert (out / f"{name}_esd.png").read_bytes().startswith(b"\x89PNG")
        cached = Path(offline_env["HTSR_RESULTS_DIR"]) / f"{name}__random-seed0__sdm2020"
        assert cached.with_suffix(".csv").is_file() and cached.with_suffix(".json").is_file()
    assert (out / "summary.csv").is_file()


# Bad inputs: (arguments, exit status, text the one-line message contains).
BAD_INPUTS = {
    "unknown model": (["analyze", "resnet1800", "--weights", "random"], 2, "Did you mean"),
    "unknown convention": (["analyze", "resnet18", "--convention", "sdm2021"], 2, "invalid choice"),
    "missing weights offline": (["analyze", "vgg11"], 1, "Put the file at"),
    "bad weights path": (["analyze", "vgg11", "--weights", "no/such/file.pt"], 2, "no such file"),
    "NaN weights": (["analyze", SMALL[0], "--weights", "{nan}"], 1, "NaN"),  # found by the analysis
    "no notebooks": (["reproduce", "--notebooks-dir", "{empty}"], 2, "no notebooks"),
}


@pytest.fixture(scope="module")
def bad_input_runs(offline_env, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """All the bad-input commands, started at once (each pays the torch import)."""
    root = tmp_path_factory.mktemp("bad")
    state = load_model(SMALL[0], "random").state_dict()
    state["output.weight"][0, 0] = float("nan")
    torch.save(state, root / "nan.pt")
    (root / "empty").mkdir()
    paths = {"{nan}": str(root / "nan.pt"), "{empty}": str(root / "empty")}
    running = {case: subprocess.Popen([*HTSR, *(paths.get(a, a) for a in args)], env=offline_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for case, (args, _, _) in BAD_INPUTS.items()}
    return {case: subprocess.CompletedProcess(p.args, p.wait(timeout=300), *p.communicate())
            for case, p in running.items()}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_line_and_nonzero_exit(bad_input_runs, case):
    _, status, text = BAD_INPUTS[case]
    done = bad_input_runs[case]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == status, done.stderr
    assert len(lines) == 1 and lines[0].startswith("htsr"), done.stderr
    assert text in lines[0]


@pytest.mark.parametrize("args, text", [
    (["list-models", "--family", "Resnt"], "families"),  # any case is fine, a typo is not
    (["analyze", "resnet18", "--jobs", "0"], "positive integer"),
    (["reproduce", "--only", "07", "--notebooks-dir", "{notebooks}"], "no notebook numbered or named 07"),
    ([], "required: command"),
])
def test_more_bad_input_in_process(args, text, capsys, notebooks):
    try:
        status = main([a.replace("{notebooks}", str(notebooks)) for a in args])
    except SystemExit as exc:  # argparse errors exit from parse_args
        status = exc.code
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(lines) == 1 and text in lines[0]


def _notebook(path: Path, parameters: str, code: str) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "01_ok.ipynb", "quick = False  # small settings",
              "from pathlib import Path\n"
              "from htsr_utils.apps.reproduce import write_notebook_report\n"
              "assert quick is True\n"
              "Path('01_figure.txt').write_text('a figure')\n"
              "write_notebook_report('01_ok', ['model_a', 'model_b'], ['model_c'])")
    _notebook(folder / "02_fail.ipynb", "weights = 'random'", "raise ValueError('boom')")
    return folder
