"""The paper-style table, the Markdown formatter and the table writer."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from htsr_utils.paper.tables import (
    PAPER_TABLE_COLUMNS,
    MarkdownText,
    accuracy_caption,
    model_record,
    model_table,
    show_and_write,
    show_and_write_model_table,
    to_markdown,
    write_table,
)


def _summary() -> pd.DataFrame:
    return pd.DataFrame({
        "family": ["A", "A", "B"],
        "alpha_hat": [1.0, 2.0, 3.0],
        "top1": [80.0, 78.0, 75.0],
    }, index=pd.Index(["m0", "m1", "m2"], name="model"))


def test_model_table_labels_and_order():
    s = _summary()
    table = model_table(s.assign(series=s["family"]), ["top1", "alpha_hat", "alpha_hat_published"])
    assert list(table.columns) == ["Architecture", "Model", "Top1", "α̂", "α̂ (published)"]
    assert list(table["Model"]) == list(s.index)
    assert table["α̂ (published)"].isna().all()


def test_to_markdown_format():
    table = pd.DataFrame({"name": ["a|b", "c"], "x": [1.23456, np.nan], "k": [3, 4]})
    text = to_markdown(table, caption="caption here")
    lines = text.splitlines()
    assert lines[0].startswith("| name") and " x |" in lines[0]
    assert lines[1].replace(" ", "").startswith("|---")
    assert lines[1].rstrip().endswith(": |")  # numbers right-aligned
    assert "a\\|b" in lines[2] and "1.235" in lines[2]
    assert lines[3].split("|")[2].strip() == ""  # NaN -> empty cell
    assert lines[-1] == "caption here"
    assert len({len(line) for line in lines[:4]}) == 1  # aligned columns
    assert to_markdown(table, floatfmt={"x": ".1f"}).splitlines()[2].count("1.2") == 1


def test_write_table_atomic(tmp_path):
    table = pd.DataFrame({"model": ["a", "b"], "alpha_hat": [1.23456789, np.nan]})
    csv, md = write_table(table, tmp_path / "sub" / "t", caption="cap")
    assert sorted(os.listdir(tmp_path / "sub")) == ["t.csv", "t.md"]
    back = pd.read_csv(csv)
    assert list(back.columns) == ["model", "alpha_hat"] and back["alpha_hat"].iloc[0] == pytest.approx(1.23457)
    assert md.read_text().rstrip().endswith("cap")


def test_to_markdown_is_text_a_notebook_shows_rendered():
    text = to_markdown(pd.DataFrame({"x": [1]}))
    assert isinstance(text, MarkdownText) and isinstance(text, str)
    assert text._repr_markdown_() == str(text)


def test_show_and_write_shows_what_the_markdown_file_holds(tmp_path, capsys):
    table = pd.DataFrame({"model": ["a"], "alpha_hat": [1.5]})
    csv, md = show_and_write(table.assign(weights="random"), tmp_path / "t", pretty=table, caption="cap")
    assert capsys.readouterr().out.strip() == md.read_text().strip()  # outside a notebook: printed
    assert "weights" in pd.read_csv(csv).columns and "weights" not in md.read_text()


def test_model_record_and_table_files(tmp_path, capsys):
    s = _summary().assign(series=["A", "A", "B"], accuracy_source="src", convention="sdm2020", weights="random")
    record = model_record(s, ["top1", "alpha_hat", "alpha_hat_published"])
    assert list(record.columns) == ["model", "series", "top1", "alpha_hat", "alpha_hat_published",
                                    "accuracy_source", "convention", "weights"]
    assert list(record["model"]) == ["m0", "m1", "m2"] and record["alpha_hat_published"].isna().all()
    caption = accuracy_caption("random", "sdm2020", "paper")
    assert "sdm2020" in caption and "random weights" in caption and "'paper'" in caption
    csv, md = show_and_write_model_table(s, PAPER_TABLE_COLUMNS, tmp_path / "table1", caption=caption)
    assert list(pd.read_csv(csv).columns) == ["model", "series", *PAPER_TABLE_COLUMNS, "accuracy_source",
                                              "convention", "weights"]
    assert md.read_text() == to_markdown(model_table(s, PAPER_TABLE_COLUMNS), caption=caption)
    assert "α̂ (published)" in capsys.readouterr().out
