"""htsr_utils: heavy-tailed self-regularization (HT-SR) metrics of PyTorch weights.

The pipeline is weights -> ESD -> power-law fit -> metrics:

>>> from htsr_utils import analyze, summarize
>>> details = analyze(model, convention="sdm2020")   # one row per weight matrix
>>> summarize(details)                               # alpha-hat, log norm, ...

The package is layered; each layer imports only from the layers before it
(``tests/test_layers.py``):

==============  ==========================================================================
``engine``      weights -> ESD -> power-law fit -> metrics (imports nothing else of htsr_utils)
``storage``     folders of the compendium and the atomic file writer
``models``      the zoo registry, pretrained weight files, building architectures
``paper``       reference data and audit, results cache, many-model runs, statistics,
                tables, figures
``experiments`` models trained here (datasets, architectures, training) and the experiments
                of notebooks 09-11
``apps``        the explorer, the ``htsr`` command, ``htsr reproduce``
==============  ==========================================================================

The names below, and the subpackages, are imported on first use, so that ``import htsr_utils``
(and ``htsr --help``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

#: Public name -> module that defines it.
_EXPORTS = {
    "CONVENTIONS": "engine.conventions", "Convention": "engine.conventions",
    "get_convention": "engine.conventions",
    "WeightFileError": "engine.checkpoint", "load_state_dict": "engine.checkpoint",
    "NoAnalyzableLayersError": "engine.layers", "NonFiniteWeightsError": "engine.layers",
    "SkippedLayer": "engine.layers", "WeightMatrix": "engine.layers", "weight_matrices": "engine.layers",
    "esd": "engine.esd", "esd_many": "engine.esd",
    "PowerLawFit": "engine.powerlaw_fit", "fit_powerlaw": "engine.powerlaw_fit",
    "hill_alpha": "engine.hill", "hill_curve": "engine.hill", "farms_alpha": "engine.farms",
    "DETAIL_COLUMNS": "engine.metrics", "SUMMARY_METRICS": "engine.metrics", "analyze": "engine.metrics",
    "analyze_with_esds": "engine.metrics",
    "fit_eigenvalues": "engine.metrics", "summarize": "engine.metrics",
    "list_models": "models.registry", "load_model": "models.build",
    "analyze_cached": "paper.cache", "analyze_cached_with_esds": "paper.cache",
    "ManyResult": "paper.many", "analyze_many": "paper.many",
    "explore": "apps.explorer", "explore_run": "apps.explorer",
}

#: Subpackages, handed out as attributes (``htsr_utils.engine``) on first use.
_SUBPACKAGES = ("engine", "storage", "models", "paper", "experiments", "apps")

__all__ = [*_EXPORTS, *_SUBPACKAGES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'htsr_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
