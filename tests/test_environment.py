"""environment.yml (conda) and pyproject.toml (pip) must pin the same packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in ("dev", "lab"):
        pins |= set(project["optional-dependencies"][extra])
    return pins


def environment_pins() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"\s+- ([A-Za-z0-9_.\-\[\]]+==\S+)\s*$", line))}


def test_conda_and_pip_pin_the_same_packages():
    assert environment_pins() == pyproject_pins()


def test_every_dependency_is_pinned_exactly():
    assert all("==" in pin for pin in pyproject_pins())


def test_torch_pins_are_the_locally_available_builds():
    pins = pyproject_pins()
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= pins
    assert "powerlaw==1.5" in pins  # the version the published numbers used; 2.x caps alpha near 3
