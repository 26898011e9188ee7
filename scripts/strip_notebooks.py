#!/usr/bin/env python3
"""Strip outputs, execution counts and run metadata from the committed notebooks.

Usage::

    python scripts/strip_notebooks.py            # strip notebooks/*.ipynb in place
    python scripts/strip_notebooks.py --check    # exit 1 and list the notebooks that need it
    python scripts/strip_notebooks.py a.ipynb    # only these files

What is removed (what ``nbstripout`` removes, plus papermill's keys): every code cell's
outputs and execution count; the cell metadata keys ``execution``, ``papermill``,
``collapsed``, ``scrolled``, ``ExecuteTime``; the notebook metadata keys ``papermill``,
``widgets``, ``signature``.  The kernelspec is set to ``python3`` (see
``shared/notes/compendium_conventions.md``); tags (``parameters``) and cell ids are kept.
A file is rewritten only when something changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL_KEYS = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")
NOTEBOOK_KEYS = ("papermill", "widgets", "signature")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def strip(nb: nbformat.NotebookNode) -> bool:
    """Strip ``nb`` in place; return whether anything changed."""
    changed = False
    for key in NOTEBOOK_KEYS:
        changed |= nb.metadata.pop(key, None) is not None
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        changed = True
    for cell in nb.cells:
        for key in CELL_KEYS:
            changed |= cell.metadata.pop(key, None) is not None
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report; exit 1 if any needs stripping")
    args = parser.parse_args(argv)
    files = args.files or sorted((ROOT / "notebooks").glob("*.ipynb"))
    dirty = []
    for path in files:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            dirty.append(path)
            if not args.check:
                nbformat.write(nb, path)
    for path in dirty:
        print(f"{'needs stripping' if args.check else 'stripped'}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
