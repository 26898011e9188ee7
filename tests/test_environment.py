"""environment.yml (conda) and pyproject.toml (pip) must describe the same environment.

These tests check that the two files agree, not which versions they pin: a deliberate upgrade
edits both files and passes; editing one of them only fails.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_pins() -> set[str]:
    project = pyproject()
    pins = set(project["dependencies"])
    for extra in ("dev", "lab"):
        pins |= set(project["optional-dependencies"][extra])
    return pins


def environment_lines() -> list[str]:
    return (ROOT / "environment.yml").read_text().splitlines()


def environment_pins() -> set[str]:
    return {m.group(1) for line in environment_lines()
            if (m := re.match(r"\s+- ([A-Za-z0-9_.\-\[\]]+==\S+)\s*$", line))}


def test_conda_and_pip_pin_the_same_packages():
    conda, pip = environment_pins(), pyproject_pins()
    assert conda == pip, f"only in environment.yml: {sorted(conda - pip)}; only in pyproject.toml: {sorted(pip - conda)}"


def test_every_dependency_is_pinned_exactly():
    loose = [pin for pin in pyproject_pins() if "==" not in pin]
    assert not loose, f"not pinned with ==: {loose}"


def test_conda_python_satisfies_requires_python():
    from packaging.specifiers import SpecifierSet

    (python,) = [m.group(1) for line in environment_lines() if (m := re.match(r"\s+- python=(\S+)\s*$", line))]
    assert f"{python}.0" in SpecifierSet(pyproject()["requires-python"]), (python, pyproject()["requires-python"])
