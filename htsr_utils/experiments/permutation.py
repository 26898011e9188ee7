"""Trained versus randomly permuted weights of a real model (notebook 10_minilm_real_weights).

Permuting the entries of a weight matrix keeps every value (the element-wise distribution,
the Frobenius norm, any outlier weights) but destroys the correlations training built in.
:func:`contrast_table` fits every matrix that :func:`htsr_utils.analyze` fits, before and
after permuting its entries, with the same engine and convention, so its trained columns
equal what ``analyze`` reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from ..engine.conventions import Convention, get_convention
from ..engine.metrics import analyze
from ..engine.parallel import one_thread_per_call
from ..engine.random_matrix import mp_edge, permute_entries

__all__ = ["CONTRAST_COLUMNS", "analyzed_weights", "contrast_table", "permutation_seed",
           "permuted_state"]

#: Columns of :func:`contrast_table`, in order.
CONTRAST_COLUMNS = [
    "layer", "layer_type", "N", "M", "entry_kurtosis", "mp_edge",
    "lambda_max_trained", "lambda_max_permuted", "alpha_trained", "alpha_permuted",
    "alpha_permuted_std", "D_trained", "D_permuted", "status_trained", "status_permuted",
]

ModelOrState = nn.Module | Mapping[str, torch.Tensor]


def permutation_seed(seed: int, index: int) -> int:
    """Seed of the permutation of the ``index``-th analyzed matrix for permutation ``seed``.

    Every matrix gets its own, reproducible permutation.
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def permuted_state(weights: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Each tensor of ``weights`` with its entries permuted; matrix ``i`` uses ``permutation_seed(seed, i)``.

    Parameters
    ----------
    weights : mapping of str to Tensor
        E.g. ``{"encoder.layer.0.attention.self.query.weight": W, ...}``.
    seed : int
        Permutation seed.

    Returns
    -------
    dict of str to Tensor
        Same keys, shapes, dtypes and multisets of values.
    """
    return {key: permute_entries(w, permutation_seed(seed, i)) for i, (key, w) in enumerate(weights.items())}


def analyzed_weights(model: ModelOrState, details: pd.DataFrame) -> dict[str, torch.Tensor]:
    """``{"<layer>.weight": weight}`` of the layers that have a row in ``details``, in its order."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return {f"{layer}.weight": state[f"{layer}.weight"].detach() for layer in dict.fromkeys(details["layer"])}


def contrast_table(
    model: ModelOrState,
    convention: str | Convention = "sdm2020",
    seeds: Sequence[int] = (0,),
) -> pd.DataFrame:
    """Per fitted matrix: ``alpha``, ``lambda_max`` and KS distance, trained and permuted.

    Runs with one BLAS thread (:func:`htsr_utils.engine.parallel.one_thread_per_call`).

    Parameters
    ----------
    model : nn.Module or state dict
        E.g. ``load_model("minilm-l6")``.  One matrix per layer (Linear weights); a
        convolution with several kernel slices is refused.
    convention : str or Convention, default "sdm2020"
        Used for the trained and the permuted matrices alike.
    seeds : sequence of int, default (0,)
        Permutation seeds; the permuted columns are means over seeds, ``alpha_permuted_std``
        their sample standard deviation (NaN for one seed).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CONTRAST_COLUMNS`, one row per matrix ``analyze`` fits (rows with
        status ``below_min_dim`` left out), in model order.  ``entry_kurtosis``: excess
        kurtosis of the entries (0 for Gaussian entries; a permutation keeps it);
        ``mp_edge``: :func:`htsr_utils.engine.random_matrix.mp_edge` for the shape and entry variance.  ``attrs``: ``convention`` and ``seeds``.

    Raises
    ------
    ValueError
        No seed, or a layer with several matrices.
    """
    if not seeds:
        raise ValueError("contrast_table needs at least one permutation seed")
    conv = get_convention(convention)
    with one_thread_per_call():
        trained = analyze(model, conv)
        trained = trained[trained["status"] != "below_min_dim"].reset_index(drop=True)
        if trained["layer"].duplicated().any():
            raise ValueError("contrast_table supports one matrix per layer (no convolution slices)")
        weights = analyzed_weights(model, trained)
        runs = [analyze(permuted_state(weights, seed), conv).set_index("layer").loc[trained["layer"]]
                for seed in seeds]
    alphas = np.stack([run["alpha"].to_numpy(dtype=float) for run in runs])
    table = pd.DataFrame({
        "layer": trained["layer"],
        "layer_type": trained["layer_type"],
        "N": trained["N"],
        "M": trained["M"],
        "entry_kurtosis": [float(stats.kurtosis(w.double().reshape(-1).numpy())) for w in weights.values()],
        "mp_edge": [mp_edge(*w.shape, float(w.double().var(unbiased=False))) for w in weights.values()],
        "lambda_max_trained": trained["lambda_max"],
        "lambda_max_permuted": np.mean([run["lambda_max"].to_numpy() for run in runs], axis=0),
        "alpha_trained": trained["alpha"],
        "alpha_permuted": alphas.mean(axis=0),
        "alpha_permuted_std": alphas.std(axis=0, ddof=1) if len(seeds) > 1 else np.nan,
        "D_trained": trained["D"],
        "D_permuted": np.mean([run["D"].to_numpy() for run in runs], axis=0),
        "status_trained": trained["status"],
        "status_permuted": runs[0]["status"].to_numpy(),
    }, columns=CONTRAST_COLUMNS)
    table.attrs.update(convention=conv.name, seeds=list(seeds))
    return table
