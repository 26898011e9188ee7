"""Loaders for the reference tables shipped in ``data/`` (see ``data/README.md``).

The tables are read from ``htsr_utils/data``: in a checkout of the compendium a symbolic link
to its ``data/`` folder, in an installed package (``pip install .``) a copy of the tables
(package data), so analyses work whether or not the package runs from a checkout.

``reported_accuracy.csv`` holds the ImageNet accuracies reported for each model, one row
per (model, source snapshot); ``published_values.csv`` the authors' published per-model
metric values, only ever shown as "published" next to computed values.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

__all__ = ["CHECKOUT_DATA_DIR", "DATA_DIR", "SNAPSHOTS", "accuracy_for", "published_values",
           "reported_accuracy", "top1_for"]

#: Where the reference tables are read (package data).
DATA_DIR = Path(__file__).resolve().parent / "data"

#: ``data/`` of the compendium checkout the package runs from (where results are written),
#: or None for an installed package.
CHECKOUT_DATA_DIR: Path | None = (
    Path(__file__).resolve().parents[1] / "data"
    if (Path(__file__).resolve().parents[1] / "pyproject.toml").is_file() else None
)

# Which accuracy snapshot each named choice takes, per library.
SNAPSHOTS = {
    # the snapshots the SDM 2020 tables used (checked: every published Top1 equals them)
    "paper": {"torchvision": "cadene_pretrainedmodels_table_2018",
              "pytorchcv": "pytorchcv_readme_2019-01"},
    # the accuracies of the weight files that load_model downloads today
    "latest": {"torchvision": "torchvision_v1_weights_meta",
               "pytorchcv": "pytorchcv_readme_2021-12"},
}


def reported_accuracy(source: str | None = None) -> pd.DataFrame:
    """Reported ImageNet top-1/top-5 accuracies, one row per (model, source snapshot).

    Parameters
    ----------
    source : str, optional
        Keep only this snapshot (e.g. ``"cadene_pretrainedmodels_table_2018"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``model`` (name for ``htsr_utils.zoo.load_model``), ``library_model``,
        ``family``, ``library``, ``source``, ``snapshot_date``, ``weights``, ``top1``,
        ``top5`` (percent), ``citation``, ``used_in``.

    Raises
    ------
    ValueError
        If ``source`` is not a snapshot in the table.
    """
    table = pd.read_csv(DATA_DIR / "reported_accuracy.csv", keep_default_na=False,
                        dtype={"snapshot_date": str, "top1": float, "top5": float})
    if source is None:
        return table
    if source not in set(table["source"]):
        raise ValueError(f"unknown source {source!r}; known: {sorted(set(table['source']))}")
    return table[table["source"] == source].reset_index(drop=True)


def published_values(convention: str | None = None) -> pd.DataFrame:
    """The authors' published per-model metric values.

    Parameters
    ----------
    convention : {"sdm2020", "natcomm2021"}, optional
        Keep only the values computed under this convention (one per paper).

    Returns
    -------
    pandas.DataFrame
        Columns ``paper``, ``family``, ``model``, ``weights_source``, ``top1_used``,
        ``alpha_hat``, ``log_norm``, ``log_spectral_norm``, ``log_alpha_norm``,
        ``alpha_mean``, ``n_matrices``, ``convention``, ``source``, ``library``,
        ``library_model``, ``paper_series``, ``convention_details``; NaN where a paper
        gives no value.

    Raises
    ------
    ValueError
        If ``convention`` is not in the table.
    """
    table = pd.read_csv(DATA_DIR / "published_values.csv", dtype={"n_matrices": "Int64"})
    if convention is None:
        return table
    if convention not in set(table["convention"]):
        raise ValueError(f"unknown convention {convention!r}; known: {sorted(set(table['convention']))}")
    return table[table["convention"] == convention].reset_index(drop=True)


def accuracy_for(models: Iterable[str], source: str = "paper") -> pd.DataFrame:
    """Reported top-1 and top-5 accuracy of each model from one choice of snapshot.

    Parameters
    ----------
    models : iterable of str
        Model names as in ``htsr_utils.zoo.list_models()``.
    source : str, default "paper"
        ``"paper"``: the snapshot the SDM 2020 tables used (Cadene's 2018 table for
        torchvision, the pytorchcv README of January 2019 for pytorchcv);
        ``"latest"``: the accuracies of the weights downloaded today (torchvision's
        current ``IMAGENET1K_V1`` metadata, the last pytorchcv README table, 2021-12);
        or any snapshot id of :func:`reported_accuracy`.

    Returns
    -------
    pandas.DataFrame
        Columns ``top1`` and ``top5`` (percent), indexed by model in the order given; NaN
        where the snapshot has no value for the model (e.g. a model the paper did not use).

    Raises
    ------
    ValueError
        If ``source`` is neither ``"paper"``, ``"latest"`` nor a snapshot id.
    """
    models = list(models)
    table = reported_accuracy()
    if source in SNAPSHOTS:
        wanted = table["library"].map(SNAPSHOTS[source])
        table = table[table["source"] == wanted]
    elif source in set(table["source"]):
        table = table[table["source"] == source]
    else:
        raise ValueError(f"unknown source {source!r}; use 'paper', 'latest' or one of "
                         f"{sorted(set(table['source']))}")
    return table.set_index("model")[["top1", "top5"]].reindex(models)


def top1_for(models: Iterable[str], source: str = "paper") -> pd.Series:
    """Reported top-1 accuracy (percent) of each model; see :func:`accuracy_for`.

    Returns
    -------
    pandas.Series
        Named ``"top1"``, indexed by model; NaN where the snapshot has no value.
    """
    return accuracy_for(models, source)["top1"]
