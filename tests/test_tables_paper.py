"""Tables 1-5 in the draft's layout: headers and order, and the top-1 error of Tables 4 and 5."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from htsr_utils.paper.reference_data import join_reference
from htsr_utils.paper.tables import (
    PAPER_TABLE_LAYOUTS,
    paper_table,
    show_and_write_paper_table,
    to_markdown,
    top1_error,
)

#: The top-1 errors the draft prints in its Table 4 and Table 5 (pytorchcv models, without the prefix).
DRAFT_TABLE_4 = {
    "densenet121": 25.57, "densenet161": 22.86, "densenet169": 24.4, "densenet201": 23.1,
    "dpn68": 24.17, "dpn98": 20.81, "dpn131": 20.54,
    "menet108_8x1_g3": 43.92, "menet128_8x1_g4": 43.95, "menet228_12x1_g3": 33.57, "menet256_12x1_g4": 33.41,
    "menet348_12x1_g3": 30.1, "menet352_12x1_g8": 33.31, "menet456_24x1_g3": 28.4,
    "mobilenet_wd4": 46.26, "mobilenet_wd2": 36.3, "mobilenet_w3d4": 33.54, "mobilenet_w1": 29.86,
    "mobilenetv2_wd4": 49.72, "mobilenetv2_wd2": 36.54, "mobilenetv2_w3d4": 31.89, "mobilenetv2_w1": 29.31,
    "fdmobilenet_wd4": 55.77, "fdmobilenet_wd2": 43.85, "fdmobilenet_w1": 34.7,
    "seresnet50": 22.47, "seresnet101": 21.88, "seresnet152": 21.48,
    "seresnext50_32x4d": 21.0, "seresnext101_32x4d": 19.96,
    "shufflenetv2_wd2": 41.48, "shufflenetv2_w1": 34.39,
}
DRAFT_TABLE_5 = {
    "resnet10": 37.46, "resnet12": 36.18, "resnet14": 33.17, "resnet16": 30.9, "resnet18": 29.52,
    "resnet34": 25.66, "resnet50": 23.79, "condensenet74_c4_g4": 26.25, "condensenet74_c8_g8": 28.93,
}


def _joined(names) -> pd.DataFrame:
    """The zoo models of the draft's names, joined with the accuracies of the paper's snapshot."""
    index = pd.Index([f"pytorchcv_{n}" for n in names], name="model")
    return join_reference(pd.DataFrame({"alpha_hat": np.linspace(1.0, 2.0, len(index))}, index=index),
                          convention="sdm2020", snapshot="paper")


@pytest.mark.parametrize(("number", "headers"), [
    (1, ["Architecture", "Model", "Top1", "Top5", "L", "N_α", "α̂", "α̂*"]),
    (2, ["Architecture", "Model", "Test Accuracy"]),
    (3, ["Architecture", "Model", "Test Accuracy"]),
    (4, ["Architecture", "Model", "Top 1 Error"]),
    (5, ["Architecture", "Model", "Top 1 Error", "α̂"]),
])
def test_each_table_has_the_drafts_columns_in_order(number, headers):
    summary = pd.DataFrame({"series": ["VGG", "VGG"], "top1": [69.0, 70.4], "top5": [88.6, 89.8], "L": [11, 11],
                            "N_alpha": [66, 66], "alpha_hat": [1.8, 1.6], "alpha_hat_star": [1.7, 1.5]},
                           index=pd.Index(["vgg11", "vgg11_bn"], name="model"))
    table = paper_table(summary, number)
    assert list(table.columns) == headers
    assert list(table["Model"]) == ["vgg11", "vgg11_bn"] and list(table["Architecture"]) == ["VGG", "VGG"]
    assert sorted(PAPER_TABLE_LAYOUTS) == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError):
        paper_table(summary, 6)


def test_table_1_architecture_pairs_a_model_with_its_bn_twin():
    summary = pd.DataFrame({"series": "VGG", "top1": [69.0, 70.4]}, index=["vgg11", "vgg11_bn"])
    table = paper_table(summary, 1, architecture=summary.index.str.removesuffix("_bn"))
    assert list(table["Architecture"]) == ["vgg11", "vgg11"]
    assert table["Top1"].tolist() == [69.0, 70.4] and table["α̂*"].isna().all()  # absent: shown empty


@pytest.mark.parametrize(("number", "draft"), [(4, DRAFT_TABLE_4), (5, DRAFT_TABLE_5)])
def test_tables_4_and_5_give_the_top1_error_the_draft_prints(number, draft):
    summary = _joined(draft)
    table = paper_table(summary, number)
    np.testing.assert_allclose(table["Top 1 Error"], list(draft.values()), atol=1e-9)
    # the error is that of the accuracy the authors used, and of the accuracy this table joined
    np.testing.assert_allclose(table["Top 1 Error"], 100 - summary["top1_published"].to_numpy(float), atol=1e-9)
    np.testing.assert_allclose(top1_error(summary), 100 - summary["top1"].to_numpy(float))
    if number == 5:
        np.testing.assert_allclose(table["α̂"], summary["alpha_hat"])


def test_show_and_write_paper_table_files(tmp_path, capsys):
    summary = _joined(["resnet10", "resnet12"]).assign(convention="sdm2020", weights="random")
    csv, md = show_and_write_paper_table(summary, 5, tmp_path / "table5", caption="caption")
    record = pd.read_csv(csv)
    assert list(record.columns) == ["model", "series", "architecture", "top1_error", "alpha_hat",
                                    "accuracy_source", "convention", "weights"]
    np.testing.assert_allclose(record["top1_error"], [37.46, 36.18])
    assert md.read_text() == to_markdown(paper_table(summary, 5), caption="caption")
    assert "Top 1 Error" in capsys.readouterr().out
