"""Folders of the compendium, resolved from the package location (not the working directory).

The one definition of the repository root: every other module asks this one.

papermill runs a notebook in the caller's working directory, nbval and JupyterLab in the
notebook's folder; resolving every path from the repository root makes the notebooks read and
write the same places whichever way they are run.  The functions never create folders.

=====================  ===================  ===============================================
function               folder               what lives there
=====================  ===================  ===============================================
:func:`repo_root`      the checkout         the folder that holds ``htsr_utils/``
:func:`figures_dir`    ``figures/``         figures (``figures/<notebook stem>/``) and
                                            tables (``figures/*.csv``, ``figures/*.md``)
:func:`results_dir`    ``data/results/``    cache of computed results (gitignored;
                                            ``$HTSR_RESULTS_DIR`` overrides it)
:func:`build_dir`      ``build/``           executed notebooks (gitignored)
:func:`notebooks_dir`  ``notebooks/``       the committed notebooks
=====================  ===================  ===============================================
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["build_dir", "figures_dir", "notebooks_dir", "repo_root", "results_dir"]

_ROOT = Path(__file__).resolve().parents[1]


def repo_root() -> Path:
    """The repository root: the folder that holds the ``htsr_utils`` package."""
    return _ROOT


def figures_dir() -> Path:
    """Where figures and result tables are written: ``<repo>/figures``."""
    return _ROOT / "figures"


def results_dir() -> Path:
    """The results cache: ``$HTSR_RESULTS_DIR`` if set, else ``<repo>/data/results``."""
    env = os.environ.get("HTSR_RESULTS_DIR")
    return Path(env).expanduser() if env else _ROOT / "data" / "results"


def build_dir() -> Path:
    """Where executed notebooks and other build products go: ``<repo>/build``."""
    return _ROOT / "build"


def notebooks_dir() -> Path:
    """The committed notebooks: ``<repo>/notebooks``."""
    return _ROOT / "notebooks"
