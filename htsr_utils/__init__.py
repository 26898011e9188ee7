"""htsr_utils: heavy-tailed self-regularization (HT-SR) metrics of PyTorch weights.

The pipeline is weights -> ESD -> power-law fit -> metrics:

>>> from htsr_utils import analyze, summarize
>>> details = analyze(model, convention="sdm2020")   # one row per weight matrix
>>> summarize(details)                               # alpha-hat, log norm, ...

The names below are imported from their modules on first use, so that ``import htsr_utils``
(and ``htsr --help``) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__  # noqa: E402

# Imported here (NumPy only) so that ``htsr_utils.esd`` is the function, not the module.
from .esd import esd, esd_many  # noqa: E402

#: Public name -> module that defines it.
_EXPORTS = {
    "analyze_cached": "cache",
    "CONVENTIONS": "conventions", "Convention": "conventions", "get_convention": "conventions",
    "ManyResult": "many", "analyze_many": "many",
    "explore": "explorer",
    "DETAIL_COLUMNS": "metrics", "SUMMARY_METRICS": "metrics", "analyze": "metrics",
    "fit_eigenvalues": "metrics", "summarize": "metrics",
    "PowerLawFit": "powerlaw_fit", "fit_powerlaw": "powerlaw_fit",
    "NoAnalyzableLayersError": "weights", "NonFiniteWeightsError": "weights",
    "SkippedLayer": "weights", "WeightFileError": "weights", "WeightMatrix": "weights",
    "load_state_dict": "weights", "weight_matrices": "weights",
}

__all__ = [*_EXPORTS, "esd", "esd_many", "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'htsr_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
