"""Reference tables in data/: provenance, fidelity to their sources (data/sources/), loaders."""

import math
import re
from decimal import Decimal
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


#: Numeric column of data/published_values.csv -> its column in sources/paper_per_model_values.csv.
PUBLISHED_NUMBERS = {"top1_used": "top1_acc_used", "alpha_hat": "alpha_hat", "log_norm": "avg_log10_fro_norm",
                     "log_spectral_norm": "log_spectral_norm", "log_alpha_norm": "log_alpha_norm",
                     "alpha_mean": "alpha_mean", "n_matrices": "n_matrices"}


def _float_artifact(text: str) -> str | None:
    """The number as printed if ``text`` is a binary floating-point artifact of it, else None.

    An artifact (``67.24000000000001``, from ``100 - 32.76``) carries 15 or more significant
    digits yet lies within a few units in the last place of a number of at most 6 decimals;
    a number printed at full precision (``3.0989401630446958``) does not.
    """
    if not re.fullmatch(r"-?\d+\.\d+", text) or len(text.lstrip("-0.").replace(".", "")) < 15:
        return None
    value = float(text)
    for decimals in range(7):
        rounded = round(value, decimals)
        if abs(value - rounded) <= 4 * math.ulp(value):
            return repr(rounded)
    return None


def _csv_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_float_artifacts_are_recognized():
    assert _float_artifact("67.24000000000001") == "67.24"
    assert _float_artifact("0.30000000000000004") == "0.3"
    assert _float_artifact("-1.0999999999999999") == "-1.1"
    for printed in ("67.24", "3.0989401630446958", "0.24130846560001373", "85.20", "1585", "", "0.9"):
        assert _float_artifact(printed) is None, printed


def test_published_values_are_their_sources_text():
    """Every number of published_values.csv is the text of its source cell, character for character;
    the one source cell that carries a float artifact is the number as printed."""
    theirs, ours = _csv_text(SOURCES / "paper_per_model_values.csv"), _csv_text(ROOT / "data" / "published_values.csv")
    assert len(ours) == len(theirs) and (theirs["model_name"] == ours["library_model"]).all()  # same row order
    corrected = []
    for column, source_column in PUBLISHED_NUMBERS.items():
        for row, (mine, source) in enumerate(zip(ours[column], theirs[source_column])):
            printed = _float_artifact(source)
            assert mine == (printed or source), (row, column, mine, source)
            if printed:
                corrected.append((ours.at[row, "paper"], ours.at[row, "model"], column))
    assert corrected == [("NatComm2021", "pytorchcv_resnet10", "top1_used")]


def test_the_corrected_top1_is_100_minus_the_printed_error():
    """NatComm2021 pytorchcv_resnet10: the authors printed the top-1 error, 32.76
    (sources/weightwatcher_published_summaries.csv); its accuracy is 100 - 32.76 = 67.24."""
    summaries = _csv_text(SOURCES / "weightwatcher_published_summaries.csv")
    (notes,) = summaries.loc[summaries["repo"].str.contains("ww-trends-2020") & (summaries["model_name"] == "resnet10"),
                             "notes"]
    (error,) = re.findall(r"top1_err_used=(\d+\.\d+)", notes)
    ours = _csv_text(ROOT / "data" / "published_values.csv")
    (top1,) = ours.loc[(ours["paper"] == "NatComm2021") & (ours["model"] == "pytorchcv_resnet10"), "top1_used"]
    assert Decimal(top1) == 100 - Decimal(error) and top1 == "67.24"


@pytest.mark.parametrize("table", sorted(p.name for p in (ROOT / "data").glob("*.csv")))
def test_no_table_carries_a_float_artifact(table):
    """Every table of data/ (written by hand or by scripts/build_*.py): each number as printed."""
    cells = _csv_text(ROOT / "data" / table).to_numpy().ravel()
    assert [cell for cell in cells if _float_artifact(cell)] == []


def test_pytorchcv_paper_weights_quote_the_readme_accuracies_as_text():
    weights = _csv_text(ROOT / "data" / "pytorchcv_paper_weights.csv")
    readme = _csv_text(ROOT / "data" / "reported_accuracy.csv").query("source == 'pytorchcv_readme_2019-01'")
    merged = weights.merge(readme, on="model", validate="one_to_one")
    assert len(merged) == len(weights) == 53
    assert (merged["top1_2019_01"] == merged["top1"]).all() and (merged["top5_2019_01"] == merged["top5"]).all()


def test_published_values_load_as_the_printed_numbers():
    ours = rd.published_values().set_index(["paper", "model"])
    assert ours.at[("NatComm2021", "pytorchcv_resnet10"), "top1_used"] == 67.24
    assert ours.at[("SDM2020", "vgg11"), "alpha_hat"] == 1.843995


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
