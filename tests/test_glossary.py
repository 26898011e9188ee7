"""docs/glossary.md defines every column of the per-matrix table and of summarize(), and the README points to it."""

from __future__ import annotations

import re
from pathlib import Path

from htsr_utils.engine.metrics import DETAIL_COLUMNS, SUMMARY_METRICS
from htsr_utils.experiments.permutation import CONTRAST_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"


def _defined(section: str) -> set[str]:
    """Column names in the first cell of the table rows of one section of the glossary."""
    text = GLOSSARY.read_text().split(section, 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| (.+?) \|", text, flags=re.M)
            for name in re.findall(r"`([^`]+)`", row)}


def test_every_per_matrix_column_is_defined():
    assert _defined("## Per-matrix table") == set(DETAIL_COLUMNS)


def test_every_summary_column_is_defined():
    assert _defined("## Per-model summary") == set(SUMMARY_METRICS)


def test_glossary_names_the_log_norm_difference_and_the_readme_points_to_it():
    text = GLOSSARY.read_text()
    assert "log10 ‖W‖_F²" in text and "tests/test_ww_reference.py" in text
    assert "docs/glossary.md" in (ROOT / "README.md").read_text()
    assert "CONTRAST_COLUMNS" in text and {"entry_kurtosis", "mp_edge"} <= set(CONTRAST_COLUMNS)
