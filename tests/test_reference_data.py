"""Reference tables in data/: provenance, fidelity to their sources (data/sources/), loaders."""

import math
from pathlib import Path

import pandas as pd
import pytest

from htsr_utils.paper import reference_data as rd

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "data" / "sources"


def test_every_row_has_provenance():
    reported = rd.reported_accuracy()
    for column in ("model", "family", "library", "source", "citation", "weights"):
        assert (reported[column].str.strip() != "").all(), column
    published = rd.published_values()
    assert published[["paper", "model", "source", "convention"]].notna().all().all()
    assert (published["source"].str.strip() != "").all()


def test_reported_accuracies_equal_their_source():
    ours = pd.read_csv(ROOT / "data" / "reported_accuracy.csv", dtype=str, keep_default_na=False)
    theirs = pd.read_csv(SOURCES / "reported_accuracy.csv", dtype=str, keep_default_na=False)
    assert len(ours) == len(theirs)
    merged = theirs.merge(ours, left_on=["source", "model_name"], right_on=["source", "library_model"],
                          validate="one_to_one")
    assert len(merged) == len(theirs)
    assert (merged["top1_acc"] == merged["top1"]).all() and (merged["top5_acc"] == merged["top5"]).all()
    assert (merged["citation_x"] == merged["citation_y"]).all()


def test_published_values_equal_their_source():
    theirs = pd.read_csv(SOURCES / "paper_per_model_values.csv")
    ours = rd.published_values()
    assert len(ours) == len(theirs)
    pairs = {"top1_acc_used": "top1_used", "alpha_hat": "alpha_hat", "avg_log10_fro_norm": "log_norm",
             "log_spectral_norm": "log_spectral_norm", "log_alpha_norm": "log_alpha_norm",
             "alpha_mean": "alpha_mean", "n_matrices": "n_matrices"}
    for a, b in pairs.items():  # same row order as the source
        pd.testing.assert_series_equal(theirs[a].astype(float), ours[b].astype(float),
                                       check_names=False)
    assert (theirs["model_name"] == ours["library_model"]).all()


def test_published_values_list_the_papers_models():
    sdm = rd.published_values("sdm2020")
    expected = {"vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
                "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121",
                "densenet161", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1",
                "pytorchcv_resnet10", "pytorchcv_resnet152b", "pytorchcv_dpn131",
                "pytorchcv_menet456_24x1_g3", "pytorchcv_fdmobilenet_w1", "pytorchcv_condensenet74_c4_g4"}
    assert expected <= set(sdm["model"])
    assert len(sdm) == 72 and len(rd.published_values("natcomm2021")) == 36
    assert set(rd.published_values()["convention"]) == {"sdm2020", "natcomm2021"}
    with pytest.raises(ValueError):
        rd.published_values("ww")


def test_the_paper_snapshot_gives_the_accuracies_the_paper_used():
    sdm = rd.published_values("sdm2020")
    paper = rd.accuracy_for(sdm["model"], "paper")["top1"]
    assert (paper.to_numpy() == sdm["top1_used"].to_numpy()).all()
    latest = rd.accuracy_for(["vgg11", "pytorchcv_resnet10", "googlenet", "minilm-l6"], "latest")["top1"]
    assert latest["vgg11"] == 69.02 and latest["pytorchcv_resnet10"] == 67.57
    assert latest["googlenet"] == 69.778 and math.isnan(latest["minilm-l6"])
    assert math.isnan(rd.accuracy_for(["googlenet"])["top1"]["googlenet"])  # not in the SDM2020 tables
    legacy = rd.reported_accuracy("torchvision_docs_legacy_error_table").set_index("model")
    assert legacy.at["vgg11", "top1"] == 69.02
    for bad in (lambda: rd.accuracy_for(["vgg11"], "torchvision_docs_legacy_error_table"),
                lambda: rd.reported_accuracy("nope")):
        with pytest.raises(ValueError):
            bad()


def test_accuracy_for_gives_top1_and_top5_of_the_chosen_snapshot():
    table = rd.accuracy_for(["vgg11", "pytorchcv_resnet10", "minilm-l6"], "paper")
    assert list(table.columns) == ["top1", "top5"]
    reported = rd.reported_accuracy()
    for model, library in (("vgg11", "torchvision"), ("pytorchcv_resnet10", "pytorchcv")):
        row = reported[(reported["model"] == model) & (reported["source"] == rd.ACCURACY_SOURCES["paper"][library])]
        assert table.loc[model].tolist() == row[["top1", "top5"]].iloc[0].tolist()
    assert table.loc["minilm-l6"].isna().all()


def test_used_in_marks_one_row_per_published_model():
    reported = rd.reported_accuracy()
    for model in rd.published_values("sdm2020")["model"]:
        rows = reported[(reported["model"] == model) & reported["used_in"].str.startswith("SDM2020")]
        assert len(rows) == 1, model
        assert rows["source"].iloc[0] in rd.ACCURACY_SOURCES["paper"].values()


def test_names_and_families_match_the_zoo():
    from htsr_utils.models.registry import get_spec

    for table in (rd.reported_accuracy(), rd.published_values()):
        for row in table[["model", "family", "library"]].drop_duplicates().itertuples():
            spec = get_spec(row.model)
            assert (spec.family, spec.library) == (row.family, row.library), row.model


def test_data_readme_describes_every_file():
    readme = (ROOT / "data" / "README.md").read_text()
    for path in (ROOT / "data").iterdir():
        if path.name not in {"results", "trained_models", "sources", "README.md"}:
            assert f"`{path.name}`" in readme, path.name
    assert "`results/`" in readme and "`sources/`" in readme


def test_used_in_rows_hold_the_accuracy_each_paper_used():
    """Every published Top1 equals its marked source row (data/README.md)."""
    reported = rd.reported_accuracy()
    for paper, prefix in (("sdm2020", "SDM2020"), ("natcomm2021", "NatComm2021")):
        for row in rd.published_values(paper).itertuples():
            marked = reported[(reported["model"] == row.model) & reported["used_in"].str.startswith(prefix)]
            if marked.empty:  # NatComm2021 pytorchcv: no snapshot in the collection (data/README.md)
                assert paper == "natcomm2021" and row.library == "pytorchcv", row.model
                continue
            assert marked["top1"].tolist() == [row.top1_used], (paper, row.model)
