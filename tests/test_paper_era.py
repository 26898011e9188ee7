"""The paper's own pytorchcv weight files and architectures (snapshot="paper"). No network."""

import csv
import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections import Counter

import pandas as pd
import pytest
import torch

from htsr_utils.engine.layers import weight_matrices
from htsr_utils.models.build import load_model, model_weights_sha256
from htsr_utils.models.files import (
    CheckpointError,
    ChecksumMismatchError,
    WeightsUnavailableError,
    pytorchcv_root,
    weights_location,
)
from htsr_utils.models.manifest import MANIFEST_COLUMNS, download_script, weights_manifest
from htsr_utils.models.paper_era import paper_architecture_change, paper_weights
from htsr_utils.models.registry import PYTORCHCV_PREFIX, list_models
from htsr_utils.paper.reference_data import published_values, reported_accuracy
from htsr_utils.storage.paths import data_dir

RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
# pytorchcv <= 0.0.40's own self-test (resnet.py `_test`) asserts these parameter counts.
PAPER_PARAMS = {"resnet18_wd4": 831096, "resnet18_wd2": 3055880, "resnet18_w3d4": 6675352}

pytestmark = pytest.mark.usefixtures("offline")


def paper_table() -> list[dict[str, str]]:
    with open(data_dir() / "pytorchcv_paper_weights.csv", newline="") as f:
        return list(csv.DictReader(f))


def shapes(model: torch.nn.Module) -> list[tuple[str, int, int]]:
    return [(m.layer, m.N, m.M) for m in weight_matrices(model, "sdm2020").matrices]


def test_every_sdm2020_pytorchcv_model_has_its_january_2019_file():
    table = paper_table()
    sdm = published_values("sdm2020")
    assert {r["model"] for r in table} == set(sdm.loc[sdm["library"] == "pytorchcv", "model"])
    assert len(table) == 53
    readme = reported_accuracy("pytorchcv_readme_2019-01").set_index("model")
    for row in table:
        arch = row["library_model"]
        # the matching rule: error code = top-5 error of the 2019-01 README, in 1/100 %
        assert row["error_code"] == f"{round((100 - readme.loc[row['model'], 'top5']) * 100):04d}"
        assert row["file_name"] == f"{arch}-{row['error_code']}-{row['sha1'][:8]}.pth"
        assert row["url"] == f"{RELEASES}/{row['release_tag']}/{row['file_name']}.zip"
        url, path = weights_location(row["model"], "paper")
        assert url == row["url"] and path.name == row["file_name"]
        assert path.parent == pytorchcv_root()


def test_model_without_a_paper_file_is_unavailable_with_its_reason():
    name = "pytorchcv_menet160_8x1_g8"  # a zoo model that SDM 2020 did not analyze
    for call in (lambda: load_model(name, "pretrained", snapshot="paper"),
                 lambda: weights_location(name, "paper")):
        with pytest.raises(WeightsUnavailableError, match="not among the 53"):
            call()
    row = weights_manifest("paper", models=[name]).iloc[0]
    assert not row["available"] and "not among the 53" in row["reason"]
    assert weights_location(name, "latest")[1].name.startswith("menet160_8x1_g8-")
    assert load_model(name, "random", snapshot="paper") is not None


def test_paper_file_at_the_cache_path_is_verified_and_loaded(monkeypatch):
    name = "pytorchcv_resnet18_wd2"
    published = paper_weights()[name]
    state = load_model(name, "random", snapshot="paper", seed=5).state_dict()
    # the real file's sha1 cannot be produced offline: record a stand-in file as published
    blob = data_dir().parent / ".pytest_paper_file.pth"
    try:
        torch.save(state, blob)
        sha1 = hashlib.sha1(blob.read_bytes()).hexdigest()
        entry = published._replace(sha1=sha1, file_name=f"resnet18_wd2-1538-{sha1[:8]}.pth")
        monkeypatch.setitem(paper_weights(), name, entry)
        _, path = weights_location(name, "paper")
        path.parent.mkdir(parents=True)
        blob.replace(path)
    finally:
        blob.unlink(missing_ok=True)
    loaded = load_model(name, "pretrained", snapshot="paper").state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_weights_sha256(name, snapshot="paper") == digest
    row = weights_manifest("paper", models=[name]).iloc[0]
    assert row["present"] and row["verified"] and row["checksum"] == f"sha1:{sha1}"
    # the paper-era file does not fit today's architecture
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_model(name, path)
    # one byte more: refused, naming the path and both hashes
    path.write_bytes(path.read_bytes() + b"\0")
    actual = hashlib.sha1(path.read_bytes()).hexdigest()
    with pytest.raises(ChecksumMismatchError) as err:
        load_model(name, "pretrained", snapshot="paper")
    assert str(path) in str(err.value) and sha1 in str(err.value) and actual in str(err.value)
    assert not weights_manifest("paper", models=[name]).iloc[0]["verified"]


@pytest.mark.parametrize("arch", sorted(PAPER_PARAMS))
def test_paper_architecture_differs_from_today_only_in_the_last_unit(arch):
    name = PYTORCHCV_PREFIX + arch
    assert paper_architecture_change(name) == "resnet_last_unit_scaled"
    paper = load_model(name, "random", snapshot="paper")
    latest = load_model(name, "random", snapshot="latest")
    assert sum(p.numel() for p in paper.parameters()) == PAPER_PARAMS[arch]
    paper_shapes, latest_shapes = shapes(paper), shapes(latest)
    assert (len(paper_shapes), len(latest_shapes)) == {
        "resnet18_wd4": (65, 66), "resnet18_wd2": (102, 103), "resnet18_w3d4": (102, 103)}[arch]
    paper_count, latest_count = Counter(paper_shapes), Counter(latest_shapes)
    changed = (paper_count - latest_count) + (latest_count - paper_count)
    assert changed and all(layer == "output" or layer.startswith("features.stage4.unit2.")
                           for layer, _, _ in changed)
    with open(data_dir() / "pytorchcv_architectures.csv", newline="") as f:
        recorded = {r["model"]: r for r in csv.DictReader(f)}[name]
    assert int(recorded["n_matrices_paper"]) == len(paper_shapes)
    assert int(recorded["n_matrices_latest"]) == len(latest_shapes)


def test_random_weights_key_follows_the_architecture():
    paper = model_weights_sha256("pytorchcv_resnet18_wd2", "random", snapshot="paper")
    assert paper != model_weights_sha256("pytorchcv_resnet18_wd2", "random")
    # same architecture in both snapshots: same weights, same key
    assert model_weights_sha256("pytorchcv_resnet10", "random", snapshot="paper") == \
        model_weights_sha256("pytorchcv_resnet10", "random")
    with pytest.raises(ValueError, match="snapshot"):
        load_model("vgg11", "random", snapshot="2019")


@pytest.mark.slow
def test_paper_snapshot_matrix_counts_equal_the_published_counts():
    """Every zoo model with a published sdm2020 matrix count, random init, paper snapshot."""
    sdm = published_values("sdm2020").dropna(subset=["n_matrices"])
    wrong = {}
    for name, count in zip(sdm["model"], sdm["n_matrices"]):
        model = load_model(name, "random", snapshot="paper")
        found = len(weight_matrices(model, "sdm2020").matrices)
        if found != count:
            wrong[name] = (found, int(count))
    assert len(sdm) >= 60 and not wrong


def test_weights_command_lists_paper_files_and_a_download_script():
    run = [sys.executable, "-m", "htsr_utils.apps.cli", "weights", "--snapshot", "paper"]
    table = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    for row in paper_table():
        assert row["file_name"] in table
    assert "not among the 53" in table  # models with no paper-era file, with the reason
    script = subprocess.run(run + ["--script"], capture_output=True, text=True, check=True).stdout
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    for row in paper_table():
        assert row["url"] in script and row["sha1"] in script
    both = weights_manifest("all")
    assert set(both["snapshot"]) == {"latest", "paper"}
    assert len(both) == 2 * len(list_models())


def test_snapshot_reaches_the_cache_and_analyze_many(tmp_path):
    from htsr_utils.paper.many import analyze_many

    name = "pytorchcv_resnet18_wd4"
    counts = {}
    for snapshot in ("paper", "latest"):
        result = analyze_many([name], "random", results_dir=tmp_path, progress=False,
                              snapshot=snapshot)
        counts[snapshot] = int(result.summary.loc[name, "N_alpha"])
        assert result.details.attrs["snapshot"] == snapshot
    assert counts == {"paper": 65, "latest": 66}  # SDM 2020 printed 65
    names = sorted(p.name for p in tmp_path.glob("*.csv"))
    assert names == [f"{name}__random-seed0-paper__sdm2020.csv", f"{name}__random-seed0__sdm2020.csv"]


@pytest.mark.skipif(not all(map(shutil.which, ("curl", "unzip", "sha1sum", "sha256sum"))),
                    reason="needs curl, unzip, sha1sum and sha256sum")
def test_download_script_fetches_unzips_and_checks(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "vgg-abcdef12.pth").write_bytes(b"torchvision file")
    inner = b"pytorchcv file"
    with zipfile.ZipFile(served / "net-0001-00000000.pth.zip", "w") as zf:
        zf.writestr("net-0001-00000000.pth", inner)
    rows = [
        {"model": "vgg", "snapshot": "latest", "library": "torchvision", "available": True,
         "url": (served / "vgg-abcdef12.pth").as_uri(), "path": "/x/vgg-abcdef12.pth",
         "checksum": "sha256:" + hashlib.sha256(b"torchvision file").hexdigest()[:8]},
        {"model": "net", "snapshot": "paper", "library": "pytorchcv", "available": True,
         "url": (served / "net-0001-00000000.pth.zip").as_uri(), "path": "/y/net-0001-00000000.pth",
         "checksum": "sha1:" + hashlib.sha1(inner).hexdigest()},
        {"model": "gone", "snapshot": "paper", "library": "pytorchcv", "available": False,
         "reason": "no paper-era file"},
    ]
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    script = tmp_path / "get.sh"
    script.write_text(download_script(manifest))
    dest = tmp_path / "dest"
    subprocess.run(["sh", str(script), str(dest)], check=True, capture_output=True)
    assert (dest / "torch/hub/checkpoints/vgg-abcdef12.pth").read_bytes() == b"torchvision file"
    assert (dest / "pytorchcv/net-0001-00000000.pth").read_bytes() == inner
    assert not list((dest / "pytorchcv").glob("*.zip"))
    assert "# gone (paper): skipped, no paper-era file" in script.read_text()
    (dest / "pytorchcv/net-0001-00000000.pth").write_bytes(b"tampered")
    assert subprocess.run(["sh", str(script), str(dest)], capture_output=True).returncode != 0
