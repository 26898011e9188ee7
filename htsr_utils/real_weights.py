"""Trained versus randomly permuted weights of a real pretrained model (notebook 10).

The heart of heavy-tailed self-regularization (HT-SR) theory: training builds *correlations*
into a weight matrix, and those correlations show up as a heavy power-law tail in its
empirical spectral density (ESD), i.e. a small fitted exponent ``alpha``.  Randomly permuting
the entries of the matrix keeps every value (so the element-wise distribution, the Frobenius
norm and any outlier weights survive) but destroys the correlations; for entries with finite
fourth moment the ESD of the permuted matrix then follows the Marchenko-Pastur (MP) law, whose
edge is ``var(W) * (sqrt(N) + sqrt(M))**2`` and whose fitted "tail" is light (large ``alpha``).

This module builds the per-matrix contrast table (:func:`contrast_table`) and the two spectra of
one matrix (:func:`layer_spectra`) with the same engine and convention as
:func:`htsr_utils.analyze`, so the trained column equals what ``analyze`` reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from .conventions import Convention, get_convention
from .esd import esd
from .metrics import analyze
from .powerlaw_fit import PowerLawFit
from .threads import one_thread_per_call
from .trained import permute_entries
from .weights import weight_matrices

__all__ = [
    "CONTRAST_COLUMNS",
    "LayerSpectra",
    "contrast_summary",
    "contrast_table",
    "layer_spectra",
    "permutation_seed",
    "permuted_state",
    "representative_layer",
]

#: Columns of :func:`contrast_table`, in order.
CONTRAST_COLUMNS = [
    "layer", "layer_type", "N", "M", "entry_kurtosis", "mp_edge",
    "lambda_max_trained", "lambda_max_permuted", "alpha_trained", "alpha_permuted",
    "alpha_permuted_std", "D_trained", "D_permuted", "n_tail_trained", "n_tail_permuted",
    "status_trained", "status_permuted",
]


def permutation_seed(seed: int, index: int) -> int:
    """Seed of the permutation of the ``index``-th analyzed matrix for permutation ``seed``.

    Every matrix gets its own, reproducible permutation.
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


ModuleOrState = nn.Module | Mapping[str, torch.Tensor]


def _weight(model: ModuleOrState, layer: str) -> torch.Tensor:
    """The weight of ``layer`` in a module or a state dict (key ``layer`` or ``layer.weight``)."""
    if isinstance(model, nn.Module):
        return model.get_submodule(layer).weight.detach()
    key = f"{layer}.weight" if f"{layer}.weight" in model else layer
    return model[key].detach()


def _analyzed_weights(model: ModuleOrState, details: pd.DataFrame) -> dict[str, torch.Tensor]:
    """``{"<layer>.weight": weight}`` of the layers that have a row in ``details``."""
    layers = list(dict.fromkeys(details["layer"]))
    return {f"{layer}.weight": _weight(model, layer) for layer in layers}


def permuted_state(weights: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Each tensor of ``weights`` with its entries permuted (see :func:`permutation_seed`).

    Parameters
    ----------
    weights : dict of str to Tensor
        E.g. ``{"encoder.layer.0.attention.self.query.weight": W, ...}``.
    seed : int
        Permutation seed; matrix ``i`` (in dict order) uses ``permutation_seed(seed, i)``.

    Returns
    -------
    dict of str to Tensor
        Same keys, shapes and multisets of values.
    """
    return {key: permute_entries(w, permutation_seed(seed, i))
            for i, (key, w) in enumerate(weights.items())}


def _mp_edge(w: torch.Tensor) -> float:
    """Marchenko-Pastur upper edge ``var(W) (sqrt N + sqrt M)^2`` of ``W^T W`` for i.i.d. entries."""
    n, m = w.shape
    return float(w.double().var(unbiased=False)) * (np.sqrt(n) + np.sqrt(m)) ** 2


def contrast_table(
    model: ModuleOrState,
    convention: str | Convention = "sdm2020",
    seeds: Sequence[int] = (0,),
) -> pd.DataFrame:
    """Per analyzed matrix: ``alpha`` and ``lambda_max`` of the trained and the permuted weights.

    Runs with one BLAS thread (see :func:`htsr_utils.threads.one_thread_per_call`).

    Parameters
    ----------
    model : nn.Module or state dict
        E.g. ``zoo.load_model("minilm-l6")``.  Only layers that :func:`htsr_utils.analyze`
        analyzes under ``convention`` (Linear matrices, ``min(N, M)`` rule) get a row;
        Conv2d layers with several kernel slices are not supported.
    convention : str or Convention, default "sdm2020"
        Analysis convention, used for both the trained and the permuted matrices.
    seeds : sequence of int, default (0,)
        Permutation seeds; the permuted columns are means over seeds, ``alpha_permuted_std``
        their standard deviation (NaN for one seed).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CONTRAST_COLUMNS`, one row per analyzed matrix, in model order.
        ``entry_kurtosis`` is the excess kurtosis of the entries (0 for Gaussian entries;
        permuting does not change it), ``mp_edge`` the MP edge of i.i.d. entries with the
        matrix's variance.  ``attrs["convention"]`` names the convention.

    Raises
    ------
    ValueError
        If ``seeds`` is empty or a layer has several matrices (convolution slices).
    """
    if not seeds:
        raise ValueError("contrast_table needs at least one permutation seed")
    with one_thread_per_call():
        return _contrast_table(model, get_convention(convention), seeds)


def _contrast_table(model: ModuleOrState, conv: Convention, seeds: Sequence[int]) -> pd.DataFrame:
    trained = analyze(model, conv)
    trained = trained[trained["status"] != "below_min_dim"].reset_index(drop=True)
    if trained["layer"].duplicated().any():
        raise ValueError("contrast_table supports one matrix per layer (no convolution slices)")
    weights = _analyzed_weights(model, trained)
    permuted_runs = []
    for seed in seeds:
        run = analyze(permuted_state(weights, seed), conv)
        permuted_runs.append(run[run["status"] != "below_min_dim"].set_index("layer").loc[trained["layer"]])
    alphas = np.stack([run["alpha"].to_numpy(dtype=float) for run in permuted_runs])
    first = permuted_runs[0]
    table = pd.DataFrame({
        "layer": trained["layer"],
        "layer_type": trained["layer_type"],
        "N": trained["N"],
        "M": trained["M"],
        "entry_kurtosis": [float(stats.kurtosis(w.double().reshape(-1).numpy())) for w in weights.values()],
        "mp_edge": [_mp_edge(w) for w in weights.values()],
        "lambda_max_trained": trained["lambda_max"],
        "lambda_max_permuted": np.mean([run["lambda_max"].to_numpy() for run in permuted_runs], axis=0),
        "alpha_trained": trained["alpha"],
        "alpha_permuted": alphas.mean(axis=0),
        "alpha_permuted_std": alphas.std(axis=0, ddof=1) if len(seeds) > 1 else np.nan,
        "D_trained": trained["D"],
        "D_permuted": np.mean([run["D"].to_numpy() for run in permuted_runs], axis=0),
        "n_tail_trained": trained["n_tail"],
        "n_tail_permuted": first["n_tail"].to_numpy(),
        "status_trained": trained["status"],
        "status_permuted": first["status"].to_numpy(),
    }, columns=CONTRAST_COLUMNS)
    table.attrs["convention"] = conv.name
    table.attrs["seeds"] = list(seeds)
    return table


def contrast_summary(table: pd.DataFrame) -> dict[str, float | int | list[str]]:
    """Headline numbers of a :func:`contrast_table`.

    Returns
    -------
    dict
        ``n_matrices``, ``mean_alpha_trained``, ``mean_alpha_permuted``,
        ``median_alpha_trained``, ``median_alpha_permuted``, ``frac_permuted_larger``
        (fraction of matrices whose permuted alpha exceeds the trained one),
        ``not_larger`` (those layers), ``frac_lambda_max_drops`` (fraction whose
        ``lambda_max`` shrinks when permuted) and ``wilcoxon_p`` (two-sided signed-rank test
        of the paired alphas).
    """
    pair = table[["alpha_trained", "alpha_permuted"]].dropna()
    larger = table["alpha_permuted"] > table["alpha_trained"]
    wilcoxon_p = float(stats.wilcoxon(pair["alpha_permuted"], pair["alpha_trained"]).pvalue) \
        if len(pair) >= 2 else float("nan")
    return {
        "n_matrices": int(len(table)),
        "mean_alpha_trained": float(table["alpha_trained"].mean()),
        "mean_alpha_permuted": float(table["alpha_permuted"].mean()),
        "median_alpha_trained": float(table["alpha_trained"].median()),
        "median_alpha_permuted": float(table["alpha_permuted"].median()),
        "frac_permuted_larger": float(larger.mean()),
        "not_larger": table.loc[~larger, "layer"].tolist(),
        "frac_lambda_max_drops": float((table["lambda_max_permuted"] < table["lambda_max_trained"]).mean()),
        "wilcoxon_p": wilcoxon_p,
    }


def representative_layer(table: pd.DataFrame) -> str:
    """The layer whose trained ``alpha`` is closest to the median trained ``alpha``.

    A fixed rule (not a search for the most striking picture) for the ESD figure.
    """
    alphas = table.dropna(subset=["alpha_trained"])
    median = alphas["alpha_trained"].median()
    return str(alphas.loc[(alphas["alpha_trained"] - median).abs().idxmin(), "layer"])


@dataclass(frozen=True)
class LayerSpectra:
    """The ESD and power-law fit of one matrix, trained and permuted.

    Attributes
    ----------
    layer : str
        Layer name.
    trained, permuted : ndarray
        Eigenvalues of the ESD the fit sees (convention applied: scale, smallest dropped,
        floor).
    fit_trained, fit_permuted : PowerLawFit
        Their power-law fits, taken from :func:`htsr_utils.analyze` (no candidates).
    """

    layer: str
    trained: np.ndarray
    permuted: np.ndarray
    fit_trained: PowerLawFit
    fit_permuted: PowerLawFit


def _fitted_spectrum(weight: torch.Tensor, key: str, conv: Convention) -> tuple[np.ndarray, PowerLawFit]:
    """Eigenvalues used in the fit and the fit of one weight, both as :func:`analyze` has them.

    The fit is read from :func:`analyze` itself (so it follows every rule of the
    convention); the eigenvalues are recomputed for the histogram.
    """
    (row,) = analyze({key: weight}, conv).itertuples(index=False)
    fit = PowerLawFit(alpha=row.alpha, xmin=row.xmin, xmax=row.xmax, D=row.D, sigma=row.sigma,
                      n_tail=int(row.n_tail), status=row.status)
    (matrix,) = weight_matrices({key: weight}, conv).matrices
    evals = esd(matrix.matrix)
    if conv.drop_smallest:
        evals = evals[1:]
    return evals[evals > conv.eval_floor], fit


def layer_spectra(
    model: ModuleOrState, layer: str, convention: str | Convention = "sdm2020", seed: int = 0,
    index: int | None = None,
) -> LayerSpectra:
    """ESDs and fits of one layer's trained and permuted weight matrix.

    Parameters
    ----------
    model : nn.Module or state dict
        The model.
    layer : str
        A layer name from :func:`contrast_table`.
    convention : str or Convention, default "sdm2020"
        Analysis convention.
    seed : int, default 0
        Permutation seed.
    index : int, optional
        Position of the layer among the analyzed matrices, to reproduce the permutation of
        :func:`contrast_table` (``permutation_seed(seed, index)``); by default the layer's
        position among the model's Linear layers analyzed under ``convention``.

    Returns
    -------
    LayerSpectra
    """
    with one_thread_per_call():
        return _layer_spectra(model, layer, get_convention(convention), seed, index)


def _layer_spectra(model: ModuleOrState, layer: str, conv: Convention, seed: int,
                   index: int | None) -> LayerSpectra:
    if index is None:
        details = analyze(model, conv)
        layers = list(dict.fromkeys(details.loc[details["status"] != "below_min_dim", "layer"]))
        index = layers.index(layer)
    key = f"{layer}.weight"
    weight = _weight(model, layer)
    trained, fit_trained = _fitted_spectrum(weight, key, conv)
    shuffled = permute_entries(weight, permutation_seed(seed, index))
    permuted, fit_permuted = _fitted_spectrum(shuffled, key, conv)
    return LayerSpectra(layer, trained, permuted, fit_trained, fit_permuted)
