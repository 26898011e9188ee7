"""The explorer's numbers: one analysis per (model, convention), kept in memory, and per-matrix extras.

Eigenvalues come from :func:`htsr_utils.engine.metrics.analyze_with_esds` and the fitted part
of each ESD from :func:`htsr_utils.fit_eigenvalues` (the one definition); nothing here
recomputes either.  Extras (candidate fits, permuted and random-init spectra, the
Marchenko-Pastur variance) are computed for one matrix when first asked for, then kept.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...engine.conventions import Convention, get_convention
from ...engine.layers import weight_matrices
from ...engine.metrics import analyze_with_esds, fit_eigenvalues, slice_label, summarize
from ...engine.powerlaw_fit import PowerLawFit, fit_powerlaw
from ...engine.random_matrix import permute_entries
from .sources import Source, Weights

#: Seed of the entry permutation of the "permuted" overlay.
PERMUTATION_SEED = 0
#: Name shown for a weight at the top of a checkpoint (key ``weight``: a single module's state dict).
ROOT_NAME = "<root>"


@dataclass
class ModelAnalysis:
    """One model analyzed under one convention, with lazily computed per-matrix extras.

    Attributes
    ----------
    source : Source
    convention : Convention
    details : DataFrame
        :func:`htsr_utils.analyze` rows (one per matrix).
    esds : list of ndarray
        The ESD of each row (:func:`htsr_utils.engine.metrics.analyze_with_esds`).
    summary : Series
        :func:`htsr_utils.summarize` of ``details``.
    weights : nn.Module or mapping of tensors
        What was analyzed (a checkpoint's tensors are read when asked for), for the permuted
        overlay and the MP variance.
    random_init : callable or None
        Returns the random-init model of the same architecture (zoo models), else None.
    """

    source: Source
    convention: Convention
    details: pd.DataFrame
    esds: list[np.ndarray]
    summary: pd.Series
    weights: Weights
    random_init: Callable[[], nn.Module] | None = None
    _extras: dict = field(default_factory=dict, repr=False)

    def fitted(self, row: int) -> np.ndarray:
        """The eigenvalues of row ``row`` that its power-law fit saw."""
        return fit_eigenvalues(self.esds[row], self.convention)

    def candidates(self, row: int) -> PowerLawFit:
        """The row's fit again, with every candidate ``xmin``'s alpha and D (vectorized)."""
        return self._memo(("candidates", row), lambda: fit_powerlaw(
            self.fitted(row), xmax=self.convention.fit_xmax, small_n=self.convention.small_n_fit,
            keep_candidates=True))

    def permuted(self, row: int) -> np.ndarray:
        """Fitted eigenvalues of the row's matrix after a random permutation of its layer's entries."""
        def compute() -> np.ndarray:
            weight = _layer_weight(self.weights, self.layer(row))
            return self._layer_spectrum(row, self.weights, permute_entries(weight, PERMUTATION_SEED))
        return self._memo(("permuted", row), compute)

    def random_init_spectrum(self, row: int) -> np.ndarray | None:
        """Fitted eigenvalues of the same matrix in the randomly initialised model, if there is one."""
        if self.random_init is None:
            return None

        def compute() -> np.ndarray:
            model = self._memo("random_model", self.random_init)
            return self._layer_spectrum(row, model, None)
        return self._memo(("random_init", row), compute)

    def entry_variance(self, row: int) -> float | None:
        """Variance of the entries of the row's matrix (pooled slices: all of them), convention scale applied."""
        def compute() -> float | None:
            single = _single_layer(self.weights, self.layer(row), None)
            wanted = self.slice(row)
            mats = [m.matrix for m in weight_matrices(single, _any_size(self.convention)).matrices
                    if wanted is None or slice_label(m.slice) == wanted]
            return float(np.var(np.concatenate([m.ravel() for m in mats]))) if mats else None
        return self._memo(("variance", row), compute)

    def layer(self, row: int) -> str:
        """Layer name of a row (``""`` for a weight at the top of a checkpoint)."""
        return str(self.details.at[row, "layer"])

    def slice(self, row: int) -> str | None:
        """Kernel position of a row (``"0,1"``), None for a Linear or pooled matrix."""
        return slice_of(self.details, row)

    def matrix_name(self, row: int) -> str:
        """``"layer [slice]"``, or the layer name alone (:data:`ROOT_NAME` for the top of a checkpoint)."""
        label = self.slice(row)
        return (self.layer(row) or ROOT_NAME) + (f" [{label}]" if label is not None else "")

    def matrix_names(self) -> list[str]:
        """:meth:`matrix_name` of every row, in row order."""
        return [self.matrix_name(i) for i in range(len(self.details))]

    def _layer_spectrum(self, row: int, weights: Weights, replacement: torch.Tensor | None) -> np.ndarray:
        """Fitted eigenvalues of the row's matrix in ``weights`` (its layer's weight replaced if given)."""
        single = _single_layer(weights, self.layer(row), replacement)
        sub, esds = analyze_with_esds(single, _any_size(self.convention))
        wanted = self.slice(row)
        match = [i for i in range(len(sub)) if slice_of(sub, i) == wanted]
        return fit_eigenvalues(esds[match[0]], self.convention)

    def _memo(self, key: object, compute: Callable):
        if key not in self._extras:
            self._extras[key] = compute()
        return self._extras[key]


def slice_of(details: pd.DataFrame, row: int) -> str | None:
    """The ``slice`` of a row of :func:`htsr_utils.analyze`, None where it is missing (None or NaN)."""
    value = details.at[row, "slice"]
    return None if pd.isna(value) else str(value)


def _any_size(convention: Convention) -> Convention:
    """``convention`` analyzing matrices of every size: one matrix below its ``min_dim`` (a
    row it keeps only for the spectral norm) gets the same ESD, and is analyzed on its own."""
    return dataclasses.replace(convention, min_dim=0)


def _weight_key(weights: Weights, layer: str) -> str:
    """The state-dict key of ``layer``'s weight: ``<layer>.weight``, ``weight`` for the top
    of a checkpoint, or the key itself (a tensor analyzed by key, e.g. stacked experts)."""
    key = f"{layer}.weight" if layer else "weight"
    return key if key in weights else layer


def _layer_weight(weights: Weights, layer: str) -> torch.Tensor:
    """The weight tensor of ``layer`` in a module or a state dict."""
    if isinstance(weights, nn.Module):
        return weights.get_submodule(layer).weight.detach()
    return weights[_weight_key(weights, layer)].detach()


def _single_layer(weights: Weights, layer: str, replacement: torch.Tensor | None) -> Weights:
    """Just ``layer`` (a copy of its module, keeping its type and groups; or a one-key state dict)."""
    if isinstance(weights, nn.Module):
        module = copy.deepcopy(weights.get_submodule(layer))
        if replacement is not None:
            with torch.no_grad():
                module.weight.copy_(replacement)
        return module
    key = _weight_key(weights, layer)
    return {key: weights[key] if replacement is None else replacement}


class AnalysisStore:
    """Analyses kept in memory: weights loaded once per source, eigenvalues once per (source, convention)."""

    def __init__(self) -> None:
        self._weights: dict[Source, Weights] = {}
        self._analyses: dict[tuple[Source, str], ModelAnalysis] = {}

    def cached(self, source: Source, convention: str) -> bool:
        """Whether ``source`` was already analyzed under ``convention``."""
        return (source, get_convention(convention).name) in self._analyses

    def get(self, source: Source, convention: str, *, progress: bool = False) -> ModelAnalysis:
        """The analysis of ``source`` under ``convention``, computed on first use.

        Raises
        ------
        Exception
            What loading (:meth:`Source.load`) or :func:`htsr_utils.analyze` raises; nothing
            is stored then.
        """
        conv = get_convention(convention)
        key = (source, conv.name)
        if key not in self._analyses:
            if source not in self._weights:
                self._weights[source] = source.load()
            weights = self._weights[source]
            details, esds = analyze_with_esds(source.analyzed(weights), conv, progress=progress)
            random_init = source.random_init if source.kind == "zoo" and source.weights != "random" else None
            self._analyses[key] = ModelAnalysis(source, conv, details, esds, summarize(details),
                                                weights, random_init)
        return self._analyses[key]
