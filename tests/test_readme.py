"""The README's examples run as written, offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_blocks_run_offline(index, offline_env, tmp_path):
    code = _blocks("python")[index]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=offline_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README python block {index} failed:\n{code}\n{done.stderr}"


def _htsr_commands() -> list[str]:
    return [line.split("#")[0].strip() for block in _blocks("bash") for line in block.splitlines()
            if line.startswith("htsr ")]


def test_there_are_examples_to_check():
    assert _blocks("python") and _htsr_commands()


@pytest.mark.parametrize("command", _htsr_commands())
def test_htsr_command_examples_run_offline(command, offline_env, tmp_path):
    args = command.split()[1:]
    done = subprocess.run([sys.executable, "-m", "htsr_utils.apps.cli", *args], cwd=tmp_path,
                          env=offline_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stderr}"


def _file_map() -> list[tuple[str, list[str], list[str]]]:
    """The rows of the README's "Which file is which table or figure": (what, notebooks, files)."""
    section = README.split("## Which file is which table or figure", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| ")]
    return [(what.strip(), re.findall(r"`(\d\d_\w+)`", notebooks), re.findall(r"`([^`]+\.\*|[^`]+\.\w+)`", files))
            for what, notebooks, files in rows[1:]]


def _notebook_code(name: str) -> str:
    import nbformat

    (path,) = (REPO / "notebooks").glob(f"{name}.ipynb")
    return "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")


def test_the_file_map_names_every_table_and_figure_of_the_paper():
    named = " ".join(what for what, _, _ in _file_map())
    numbers = {kind: {int(n) for group in re.findall(rf"{kind}s? ([\d ,and]+)", named)
                      for n in re.findall(r"\d", group)} for kind in ("Table", "Figure")}
    assert numbers == {"Table": {1, 2, 3, 4, 5}, "Figure": {1, 2, 3, 4, 5, 6}}


@pytest.mark.parametrize("row", _file_map(), ids=lambda row: row[0][:40])
def test_every_file_of_the_map_is_written_by_its_notebook(row):
    """Each file the map names is written by a notebook of its row: the notebook's own folder is
    its name (``NOTEBOOK`` / ``NAME``), and every literal part of the file name (between
    ``<placeholders>``) is a whole piece of a string in the notebook's code (``"table1_vgg"``,
    ``f"contrast_{convention}.csv"``)."""
    what, notebooks, files = row
    assert notebooks and files, what
    for file in files:
        writers = []
        for notebook in notebooks:
            code = re.sub(r"\{(NOTEBOOK|NAME)\}", notebook, _notebook_code(notebook))
            *folder, leaf = file.replace("<notebook>", notebook).split("/")
            in_own_folder = folder in ([], [notebook]) and (not folder or f'"{notebook}"' in code)
            parts = [p for p in re.split(r"<[^>]+>", leaf.removesuffix(".*")) if p]
            quoted = [re.search(rf"""(?<=["'}}]){re.escape(p)}(?=["'{{])""", code) for p in parts]
            if in_own_folder and parts and all(quoted):
                writers.append(notebook)
        assert writers, f"{file} ({what}): written by none of {notebooks}"
