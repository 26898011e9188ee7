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
