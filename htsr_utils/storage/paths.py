"""Folders of the compendium, resolved from the package location (not the working directory).

The one definition of the repository root: every other module asks this one.

papermill runs a notebook in the caller's working directory, nbval and JupyterLab in the
notebook's folder; resolving every path from the repository root makes the notebooks read and
write the same places whichever way they are run.  The functions never create folders.

=====================  ===================  ===============================================
function               folder               what lives there
=====================  ===================  ===============================================
:func:`data_dir`       ``data/``            the reference tables with their provenance
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

__all__ = ["RESULTS_DIR_VARIABLE", "build_dir", "data_dir", "figures_dir", "is_checkout", "notebooks_dir",
           "results_dir", "trained_models_dir"]

_PACKAGE = Path(__file__).resolve().parents[1]
_ROOT = _PACKAGE.parent

#: The environment variable that sets the results folder.
RESULTS_DIR_VARIABLE = "HTSR_RESULTS_DIR"


def is_checkout() -> bool:
    """Whether the package runs from a compendium checkout (not an installed wheel)."""
    return (_ROOT / "pyproject.toml").is_file()


def data_dir() -> Path:
    """The reference tables (``data/*.csv``): ``htsr_utils/data``, in a checkout a link to
    ``<repo>/data``, in an installed package a copy of the tables (package data)."""
    return _PACKAGE / "data"


def figures_dir(folder: str | os.PathLike | None = None) -> Path:
    """Where figures and result tables are written: ``folder`` if given (a notebook's
    ``figures_dir`` parameter), else ``<repo>/figures``."""
    return Path(folder) if folder else _ROOT / "figures"


def results_dir() -> Path:
    """The results cache: ``$HTSR_RESULTS_DIR`` if set, else ``<repo>/data/results`` in a
    checkout, else ``$XDG_CACHE_HOME/htsr/results`` (``~/.cache/htsr/results``) for an installed
    package."""
    env = os.environ.get(RESULTS_DIR_VARIABLE)
    return Path(env).expanduser() if env else _data_dir("results")


def trained_models_dir() -> Path:
    """The models trained here (notebooks 09, 11, the explorer): ``trained_models/`` in the
    results folder (:func:`results_dir`), so one setting, ``$HTSR_RESULTS_DIR``, moves every
    cache htsr keeps."""
    return results_dir() / "trained_models"


def _data_dir(name: str) -> Path:
    """``<repo>/data/<name>`` in a checkout, else ``<user cache>/htsr/<name>``."""
    if is_checkout():
        return _ROOT / "data" / name
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "htsr" / name


def build_dir() -> Path:
    """Where executed notebooks and other build products go: ``<repo>/build``."""
    return _ROOT / "build"


def notebooks_dir() -> Path:
    """The committed notebooks: ``<repo>/notebooks``."""
    return _ROOT / "notebooks"
