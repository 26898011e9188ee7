"""What the engine makes of a model trained here: its matrices, its metrics, or why it has none.

:func:`layer_inventory` says which matrices of each weight layer a convention analyzes (and
why it skips the others); :func:`analyze_models` runs :func:`htsr_utils.analyze` on models
whose training may have diverged; :func:`summary_metrics` and :func:`metrics_table` turn the
results into rows and tables.  The knob sweep of notebook 09 (:mod:`.sweep`) and the
architecture series of notebook 11 (:mod:`.series`) both build on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..engine.layers import NoAnalyzableLayersError, NonFiniteWeightsError, weight_matrices
from ..engine.metrics import SUMMARY_METRICS, analyze, summarize
from ..engine.parallel import one_thread_per_call

__all__ = ["COUNT_METRICS", "OK", "PREDICTED_NEGATIVE", "analyze_models", "layer_inventory", "metrics_table",
           "summary_metrics", "weight_layers"]

#: The :data:`~htsr_utils.engine.metrics.SUMMARY_METRICS` that count matrices or layers.
COUNT_METRICS: tuple[str, ...] = ("L", "N_alpha")
#: The per-model averages that HT-SR predicts to fall as test accuracy rises (a negative
#: rank correlation): every summary metric but the counts.
PREDICTED_NEGATIVE: tuple[str, ...] = (
    "alpha_hat", "alpha_hat_star", "alpha_mean", "log_norm", "log_spectral_norm", "log_alpha_norm",
)
#: Status of a model that could be analyzed.
OK = "ok"


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the modules of ``model`` with a weight of two or more dimensions, in model order."""
    return [name for name, module in model.named_modules()
            if isinstance(getattr(module, "weight", None), torch.Tensor) and module.weight.ndim >= 2]


def layer_inventory(model: nn.Module, conventions: Sequence[str]) -> pd.DataFrame:
    """Which matrices of each weight layer every convention analyzes, and why it skips the others.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. an untrained member of a knob sweep or a series (only the shapes matter).
    conventions : sequence of str
        Conventions to compare.

    Returns
    -------
    pandas.DataFrame
        One row per convention and layer of :func:`weight_layers` (conventions in the given
        order, layers in model order): ``layer, out_dim, in_dim`` (the first two dimensions
        of the weight tensor: outputs and inputs, or channels), ``convention``, ``matrices``
        (how many matrices the layer contributes, 0 when skipped), ``shape`` (``"N x M"`` of
        each, ``""`` when skipped) and ``skipped`` (why, ``""`` when analyzed; a layer kept
        only for the spectral norm, as under ``natcomm2021``, is ``"below min dim"``).
    """
    layers = {name: model.get_submodule(name).weight.shape for name in weight_layers(model)}
    rows = []
    for convention in conventions:
        extraction = weight_matrices(model, convention)
        reasons = {s.layer: s.reason for s in extraction.skipped}
        for layer, weight_shape in layers.items():
            kept = [m for m in extraction.matrices if m.layer == layer]
            rows.append({"layer": layer, "out_dim": weight_shape[0], "in_dim": weight_shape[1],
                         "convention": convention, "matrices": len(kept),
                         "shape": f"{kept[0].N} x {kept[0].M}" if kept else "",
                         "skipped": "" if kept else reasons.get(layer, "below min dim")})
    return pd.DataFrame(rows)


def analyze_models(models: Sequence[nn.Module], convention: str) -> list[tuple[pd.DataFrame | None, str]]:
    """:func:`htsr_utils.analyze` of each model trained here, or why it cannot be analyzed.

    Runs with one BLAS thread per call (:func:`htsr_utils.engine.parallel.one_thread_per_call`).

    Parameters
    ----------
    models : sequence of torch.nn.Module
        Models trained here; a run may have diverged.
    convention : str
        Analysis convention.

    Returns
    -------
    list of (DataFrame or None, str)
        Per model, its per-matrix table and :data:`OK`; or None and the name of the error
        (``NonFiniteWeightsError`` after a diverged run, ``NoAnalyzableLayersError``).
    """
    with one_thread_per_call():
        return [_analyze_or_reason(model, convention) for model in models]


def _analyze_or_reason(model: nn.Module, convention: str) -> tuple[pd.DataFrame | None, str]:
    try:
        return analyze(model, convention), OK
    except (NonFiniteWeightsError, NoAnalyzableLayersError) as exc:
        return None, type(exc).__name__


def summary_metrics(details: pd.DataFrame | None, prefix: str = "") -> dict[str, float]:
    """Every :data:`~htsr_utils.engine.metrics.SUMMARY_METRICS` of :func:`htsr_utils.summarize`.

    Parameters
    ----------
    details : pandas.DataFrame or None
        Rows of :func:`htsr_utils.analyze` (all of a model, or a subset of its layers).
    prefix : str, default ""
        Put before every metric name (e.g. ``"shared_"``).

    Returns
    -------
    dict of str to float
        ``{prefix + metric: value}``; NaN for every metric when ``details`` is None or empty.
    """
    if details is None or not len(details):
        return {prefix + m: np.nan for m in SUMMARY_METRICS}
    summary = summarize(details)
    return {prefix + m: summary[m] for m in SUMMARY_METRICS}


def metrics_table(rows: Sequence[Mapping[str, object]], prefixes: Sequence[str] = ("",)) -> pd.DataFrame:
    """``rows`` (e.g. with :func:`summary_metrics`) as a table whose counts are integers.

    Parameters
    ----------
    rows : sequence of mapping
        One row per model.
    prefixes : sequence of str, default ("",)
        The prefixes the rows' metrics carry.

    Returns
    -------
    pandas.DataFrame
        The rows, with :data:`COUNT_METRICS` of every prefix as nullable integers (``Int64``:
        missing for a model that could not be analyzed).
    """
    table = pd.DataFrame(list(rows))
    for prefix in prefixes:
        for count in COUNT_METRICS:
            table[prefix + count] = table[prefix + count].astype("Int64")
    return table
