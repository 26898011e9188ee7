"""docs/glossary.md defines every column of the per-matrix table and of summarize() and every
status the engine sets, names modules and files that exist, and the README points to it."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

from htsr_utils.engine import metrics, powerlaw_fit
from htsr_utils.engine.metrics import DETAIL_COLUMNS, SUMMARY_METRICS
from htsr_utils.experiments.permutation import CONTRAST_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"


def _defined(section: str) -> set[str]:
    """Column names in the first cell of the table rows of one section of the glossary."""
    text = GLOSSARY.read_text().split(section, 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| (.+?) \|", text, flags=re.M)
            for name in re.findall(r"`([^`]+)`", row)}


def _statuses_set_by(module: ModuleType) -> set[str]:
    """The string literals ``module``'s source gives a per-matrix ``status``: dict entries
    ``"status": "..."``, and the ``status`` field of ``PowerLawFit`` (its default, and the
    keyword or positional arguments of ``PowerLawFit(...)`` calls)."""
    fit_class = powerlaw_fit.PowerLawFit
    position = [field.name for field in dataclasses.fields(fit_class)].index("status")
    found = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        values: list[ast.expr | None] = []
        if isinstance(node, ast.Dict):
            values = [value for key, value in zip(node.keys, node.values)
                      if isinstance(key, ast.Constant) and key.value == "status"]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            values = [node.value] if node.target.id == "status" else []
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == fit_class.__name__:
            values = [k.value for k in node.keywords if k.arg == "status"]
            values += node.args[position:position + 1]
        found |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return found


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` (``package.module.attribute``) names a module or an attribute of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def test_every_per_matrix_column_is_defined():
    assert _defined("## Per-matrix table") == set(DETAIL_COLUMNS)


def test_every_summary_column_is_defined():
    assert _defined("## Per-model summary") == set(SUMMARY_METRICS)


def test_every_status_the_engine_sets_is_defined():
    produced = _statuses_set_by(metrics) | _statuses_set_by(powerlaw_fit)
    assert {"ok", "too_few_values"} <= produced, "the scan misses the fit's statuses"
    status_row = re.search(r"^\| `status` \| (.+) \|$", GLOSSARY.read_text(), flags=re.M)
    assert status_row is not None, "no `status` row in the glossary"
    assert set(re.findall(r"`([^`]+)`", status_row.group(1))) == produced


def test_module_and_file_names_exist():
    text = GLOSSARY.read_text()
    files = re.findall(r"`([\w.-]+(?:/[\w.-]+)+)`", text)
    dotted = re.findall(r"`(htsr_utils(?:\.\w+)+)`", text)
    assert files and dotted
    assert [f for f in files if not (ROOT / f).exists()] == []
    assert [d for d in dotted if not _resolves(d)] == []


def test_glossary_names_the_log_norm_difference_and_the_readme_points_to_it():
    text = GLOSSARY.read_text()
    assert "log10 ‖W‖_F²" in text and "tests/test_ww_reference.py" in text
    assert "docs/glossary.md" in (ROOT / "README.md").read_text()
    assert "CONTRAST_COLUMNS" in text and {"entry_kurtosis", "mp_edge"} <= set(CONTRAST_COLUMNS)
