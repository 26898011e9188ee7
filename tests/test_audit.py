"""Audit of the published values against the architectures they name (no pretrained weights)."""

from pathlib import Path

import pandas as pd
import pytest

from htsr_utils.paper.audit import AUDIT_COLUMNS, audit_published, published_layer_shapes
from htsr_utils.paper.reference_data import published_values

SOURCES = Path(__file__).resolve().parents[1] / "data" / "sources" / "ww-trends-2020" / "data"
DENSENETS = ["densenet121", "densenet161", "densenet169", "densenet201"]
# What the shapes say: each file's LEVEL.SLICE shapes are those of another DenseNet.
DENSENET_SHAPES_OF = {"densenet121": "densenet121", "densenet161": "densenet201",
                      "densenet169": "densenet161", "densenet201": "densenet169"}


def test_densenet_per_layer_files_carry_another_densenets_shapes():
    audit = audit_published(DENSENETS)
    assert list(audit.columns) == list(AUDIT_COLUMNS)
    sdm = audit[audit["paper"] == "SDM2020"]
    assert len(sdm) == 4 and (sdm["verdict"] == "ok").all()
    natcomm = audit[audit["paper"] == "NatComm2021"]
    assert len(natcomm) == 8  # 4 per-layer files, 4 per-model rows read from their summaries
    for row in natcomm.itertuples():
        assert row.matches == DENSENET_SHAPES_OF[row.model]
        assert (row.verdict == "ok") == (row.model == "densenet121")


def test_every_natcomm2021_row_is_tied_to_a_per_layer_file():
    audit_files = set(published_layer_shapes()["file"])
    rows = published_values("natcomm2021")
    assert len(rows) == 36
    assert all(f"{m.removeprefix('pytorchcv_')}.csv" in {f.rsplit('/', 1)[-1] for f in audit_files}
               for m in rows["model"])


def test_layer_shapes_are_a_verbatim_copy():
    table = published_layer_shapes()
    files = sorted(p.relative_to(SOURCES).as_posix()
                   for p in [*SOURCES.glob("*.csv"), *SOURCES.glob("resnet-1k/*.csv")])
    assert sorted(set(table["file"])) == files
    for file, rows in table.groupby("file"):
        original = pd.read_csv(SOURCES / file)
        assert rows[["N", "M"]].to_numpy().tolist() == original[["N", "M"]].to_numpy().tolist()
        assert rows["level"].tolist() == original["level"].tolist()


@pytest.mark.slow
def test_audit_covers_every_published_item_and_finds_only_the_densenet_labels():
    audit = audit_published()
    sdm = published_values("sdm2020").dropna(subset=["n_matrices"])
    assert len(audit[audit["paper"] == "SDM2020"]) == len(sdm)
    files = set(published_layer_shapes()["file"])
    assert {s.removeprefix("ww-trends-2020/data/") for s in audit["source"]} >= files
    assert len(audit[audit["source"].str.contains(r"\(via ")]) == 36
    wrong = audit[audit["verdict"] != "ok"]
    assert set(wrong["model"]) == {"densenet161", "densenet169", "densenet201"}
    assert len(wrong) == 6 and (wrong["paper"] == "NatComm2021").all()
