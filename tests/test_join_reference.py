"""join_reference: per-model results joined with reported accuracies and published values.

The expected values are read from data/*.csv with the csv module, independently of the loaders.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from htsr_utils.paper.reference_data import join_reference

DATA = Path(__file__).resolve().parents[1] / "data"
MODELS = ["vgg11", "resnet18", "pytorchcv_resnet10", "googlenet"]
#: Joined column -> column of data/published_values.csv.
PUBLISHED_COLUMNS = {"alpha_hat_published": "alpha_hat", "log_norm_published": "log_norm",
                     "top1_published": "top1_used", "n_matrices_published": "n_matrices"}


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="") as f:
        return list(csv.DictReader(f))


def _reported(model: str, source: str) -> float:
    (row,) = [r for r in _rows("reported_accuracy.csv") if r["model"] == model and r["source"] == source]
    return float(row["top1"])


def _published(model: str, column: str, convention: str = "sdm2020") -> float:
    rows = [r for r in _rows("published_values.csv") if r["model"] == model and r["convention"] == convention]
    return float(rows[0][column]) if rows and rows[0][column] else math.nan


def _summary() -> pd.DataFrame:
    return pd.DataFrame({"family": ["VGG", "ResNet", "ResNet", "GoogLeNet"], "alpha_hat": [1.0, 2.0, 3.0, 4.0],
                         "top1": math.nan},
                        index=pd.Index(MODELS, name="model"))


def test_paper_snapshot_and_published_values():
    summary = _summary()
    joined = join_reference(summary, convention="sdm2020", snapshot="paper")
    assert list(joined.index) == MODELS and (joined["alpha_hat"] == summary["alpha_hat"]).all()
    assert summary["top1"].isna().all()  # the input is not modified
    assert joined.at["vgg11", "top1"] == _reported("vgg11", "cadene_pretrainedmodels_table_2018")
    assert joined.at["pytorchcv_resnet10", "top1"] == _reported("pytorchcv_resnet10", "pytorchcv_readme_2019-01")
    assert joined.at["vgg11", "accuracy_source"] == "cadene_pretrainedmodels_table_2018"
    assert math.isnan(joined.at["googlenet", "top1"]) and joined.at["googlenet", "accuracy_source"] == ""
    for column, source in PUBLISHED_COLUMNS.items():
        for model in ("vgg11", "resnet18"):
            expected = _published(model, source)
            assert joined.at[model, column] == pytest.approx(expected, nan_ok=True), (model, column)
    assert joined.at["vgg11", "n_matrices_published"] == 66


def test_series_split_by_library_only_where_the_zoo_has_both():
    joined = join_reference(_summary(), convention="sdm2020")
    assert list(joined["series"]) == ["VGG", "ResNet (torchvision)", "ResNet (pytorchcv)", "GoogLeNet"]
    assert list(joined["library"]) == ["torchvision", "torchvision", "pytorchcv", "torchvision"]


def test_latest_snapshot_and_a_convention_no_paper_used():
    joined = join_reference(_summary(), convention="ww", snapshot="latest")
    assert joined.at["vgg11", "top1"] == _reported("vgg11", "torchvision_v1_weights_meta")
    assert joined.at["vgg11", "top1"] != _reported("vgg11", "cadene_pretrainedmodels_table_2018")
    assert joined[list(PUBLISHED_COLUMNS)].isna().all().all()


def test_unknown_snapshot_is_named():
    with pytest.raises(ValueError, match="'2017'"):
        join_reference(_summary(), convention="sdm2020", snapshot="2017")


@pytest.mark.parametrize("snapshot", ["paper", "latest"])
def test_every_zoo_model_joins(snapshot):
    from htsr_utils.models.registry import get_spec, list_models

    models = list_models()
    summary = pd.DataFrame({"family": [get_spec(m).family for m in models]}, index=pd.Index(models, name="model"))
    joined = join_reference(summary, convention="sdm2020", snapshot=snapshot)
    assert list(joined.index) == models
    assert ((joined["accuracy_source"] != "") == joined["top1"].notna()).all()
    assert joined["top1"].notna().sum() > len(models) / 2
