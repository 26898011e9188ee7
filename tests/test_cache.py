"""The results cache: hits, misses on any change, and crash safety of the writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from htsr_utils.engine.metrics import DETAIL_COLUMNS
from htsr_utils.models.build import load_model, model_weights_sha256
from htsr_utils.paper import cache

MODEL = "pytorchcv_fdmobilenet_wd4"  # 8 matrices: analyzed in well under a second
STEM = f"{MODEL}__random-seed0__sdm2020"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    return cache.analyze_cached(MODEL, "random", results_dir=tmp_path_factory.mktemp("reference"))


@pytest.fixture
def computations(monkeypatch) -> list[str]:
    """One entry per analysis the cache actually runs (instead of reading) during a test."""
    calls: list[str] = []
    real = cache.analyze_with_esds

    def counting(model, *args, **kwargs):
        calls.append(type(model).__name__)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(cache, "analyze_with_esds", counting)
    return calls


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    assert actual.attrs == expected.attrs


def test_first_call_computes_and_second_reads(tmp_path, reference, computations):
    first = cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
    second = cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
    assert len(computations) == 1
    assert_same(first, reference)
    assert_same(second, reference)
    assert list(second.columns) == ["model", *DETAIL_COLUMNS]
    assert set(second["model"]) == {MODEL}
    assert second.attrs["model"] == MODEL and second.attrs["convention"] == "sdm2020"
    assert second.attrs["skipped"], "the depthwise and small layers are listed as skipped"
    # a missing value (the Linear layer has no slice) and an empty string survive the CSV
    assert second["slice"].isna().sum() == 1 and (second["warning"] == "").any()


def test_sidecar_records_provenance(tmp_path, reference):
    cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
    meta = json.loads((tmp_path / f"{STEM}.json").read_text())
    assert meta["weights_sha256"] == model_weights_sha256(MODEL, "random")
    assert meta["code_fingerprint"] == cache.code_fingerprint()
    assert {"htsr_version", "convention", "torch_version", "created", "csv_sha256"} <= meta.keys()


def test_results_dir_from_environment(tmp_path, monkeypatch, reference):
    monkeypatch.setenv("HTSR_RESULTS_DIR", str(tmp_path / "env"))
    assert cache.default_results_dir() == tmp_path / "env"
    cache.analyze_cached(MODEL, "random")
    assert (tmp_path / "env" / f"{STEM}.csv").is_file()


@pytest.mark.parametrize("change", ["seed", "convention", "code", "weights sha256"])
def test_changed_inputs_recompute(tmp_path, monkeypatch, computations, change):
    cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
    kwargs = {"results_dir": tmp_path}
    if change == "seed":
        kwargs["seed"] = 1
    elif change == "convention":
        kwargs["convention"] = "natcomm2021"
    elif change == "code":
        monkeypatch.setattr(cache, "code_fingerprint", lambda: "edited engine")
    else:  # e.g. a new pretrained file under the same cache name
        monkeypatch.setattr(cache, "model_weights_sha256", lambda *args, **kwargs: "0" * 64)
    details = cache.analyze_cached(MODEL, "random", **kwargs)
    assert len(computations) == 2
    assert details.attrs["convention"] == kwargs.get("convention", "sdm2020")
    cache.analyze_cached(MODEL, "random", **kwargs)
    assert len(computations) == 2, "the recomputed entry is cached in turn"


def test_checkpoint_file_is_keyed_by_content(tmp_path, computations):
    checkpoint = tmp_path / "model.pt"
    state = load_model(MODEL, "random").state_dict()
    torch.save(state, checkpoint)
    first = cache.analyze_cached(MODEL, checkpoint, results_dir=tmp_path)
    state["output.weight"] = state["output.weight"] * 2.0
    torch.save(state, checkpoint)
    second = cache.analyze_cached(MODEL, checkpoint, results_dir=tmp_path)
    assert len(computations) == 2
    assert not second["lambda_max"].equals(first["lambda_max"])
    assert len(list(tmp_path.glob(f"{MODEL}__file-*__sdm2020.csv"))) == 2


def _truncate_csv(folder: Path) -> None:
    path = folder / f"{STEM}.csv"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [
    pytest.param(lambda folder: (folder / f"{STEM}.json").unlink(), id="csv without sidecar"),
    pytest.param(lambda folder: (folder / f"{STEM}.csv").unlink(), id="sidecar without csv"),
    pytest.param(_truncate_csv, id="truncated csv"),
    pytest.param(lambda folder: (folder / f"{STEM}.json").write_text("{"), id="corrupt sidecar"),
])
def test_incomplete_entry_is_a_miss(tmp_path, reference, computations, damage):
    cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
    damage(tmp_path)
    assert_same(cache.analyze_cached(MODEL, "random", results_dir=tmp_path), reference)
    assert len(computations) == 2


# Runs analyze_cached in a child process that dies while writing the cache entry.
_CRASH = """
import os, signal, sys
from pathlib import Path
from htsr_utils.paper import cache

folder, mode = Path(sys.argv[1]), sys.argv[2]
if mode == "sigkill-mid-csv":
    def fsync(fd):  # the CSV is half written when the process is killed
        os.ftruncate(fd, os.fstat(fd).st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync = fsync
else:  # "exit-before-sidecar": new (different) CSV in place, old sidecar left
    real_replace, real_analyze = os.replace, cache.analyze_with_esds
    def replace(src, dst):
        real_replace(src, dst)
        os._exit(1)
    def analyze(*args, **kwargs):
        details, esds = real_analyze(*args, **kwargs)
        details["alpha"] += 1.0
        return details, esds
    os.replace, cache.analyze_with_esds = replace, analyze
    cache.code_fingerprint = lambda: "another version of the code"
cache.analyze_cached(%r, "random", results_dir=folder)
""" % MODEL


@pytest.mark.parametrize("mode, returncode", [("sigkill-mid-csv", -signal.SIGKILL),
                                              ("exit-before-sidecar", 1)])
def test_killed_write_never_yields_partial_data(tmp_path, reference, computations, mode, returncode):
    if mode == "exit-before-sidecar":
        cache.analyze_cached(MODEL, "random", results_dir=tmp_path)
        computations.clear()
    child = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path), mode],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == returncode, child.stderr
    if mode == "sigkill-mid-csv":
        assert not (tmp_path / f"{STEM}.csv").exists()
        assert list(tmp_path.glob(f".{STEM}.csv.*.tmp")), "the half-written temporary file is left"
    assert_same(cache.analyze_cached(MODEL, "random", results_dir=tmp_path), reference)
    assert len(computations) == 1
    assert_same(cache.analyze_cached(MODEL, "random", results_dir=tmp_path), reference)
    assert len(computations) == 1
