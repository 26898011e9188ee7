"""A non-editable install (``pip install .``) analyzes models: the reference tables
ship as package data, and results go to the user's cache instead of the package folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs_an_analysis(offline_env, tmp_path):
    source = tmp_path / "src"  # build from a copy: nothing is written into the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "htsr_utils", source / "htsr_utils", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", source / "data", ignore=shutil.ignore_patterns("results", "trained_models"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", str(source), "-w", str(tmp_path / "wheel")], check=True, timeout=600)
    wheel, = (tmp_path / "wheel").glob("htsr-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the installed package, not this checkout, with its default results folder
    clean = {k: v for k, v in offline_env.items() if k not in ("PYTHONPATH", "HTSR_RESULTS_DIR")}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "-q", str(wheel)], check=True, timeout=600, env=clean)
    # then the dependencies (torch, ...) from this environment, after the venv's own packages
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = clean | {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    where = subprocess.run([str(python), "-c", "import htsr_utils; print(htsr_utils.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(purelib), where.stdout
    done = subprocess.run([str(venv / "bin" / "htsr"), "analyze", "squeezenet1_1", "--weights",
                           "random", "--out", "out"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "squeezenet1_1" in done.stdout and (work / "out" / "squeezenet1_1.csv").is_file()
    assert list((tmp_path / "cache" / "htsr" / "results").glob("squeezenet1_1__*.csv"))
