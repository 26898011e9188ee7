"""htsr_utils: heavy-tailed self-regularization (HT-SR) metrics of PyTorch weights.

The pipeline is weights -> ESD -> power-law fit -> metrics:

>>> from htsr_utils import analyze, summarize
>>> details = analyze(model, convention="sdm2020")   # one row per weight matrix
>>> summarize(details)                               # alpha-hat, log norm, ...
"""

from .version import __version__
from .cache import analyze_cached
from .conventions import CONVENTIONS, Convention, get_convention
from .esd import esd, esd_many
from .explorer import explore
from .many import ManyResult, analyze_many
from .metrics import DETAIL_COLUMNS, SUMMARY_METRICS, analyze, fit_eigenvalues, summarize
from .powerlaw_fit import PowerLawFit, fit_powerlaw
from .weights import (
    NoAnalyzableLayersError,
    NonFiniteWeightsError,
    SkippedLayer,
    WeightFileError,
    WeightMatrix,
    load_state_dict,
    weight_matrices,
)

__all__ = [
    "CONVENTIONS", "Convention", "DETAIL_COLUMNS", "ManyResult", "analyze_cached", "analyze_many", "NoAnalyzableLayersError",
    "NonFiniteWeightsError", "PowerLawFit", "SUMMARY_METRICS", "SkippedLayer",
    "WeightFileError", "WeightMatrix", "analyze", "esd", "esd_many", "fit_eigenvalues", "fit_powerlaw", "get_convention",
    "load_state_dict", "summarize", "weight_matrices", "__version__",
]
