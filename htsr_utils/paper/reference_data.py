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

import pandas as pd

from ..models.registry import check_snapshot, get_spec, list_models
from ..storage import paths

__all__ = ["ACCURACY_SOURCES", "accuracy_for", "join_reference", "published_values",
           "reported_accuracy"]



#: The accuracy source of each weights snapshot (:data:`htsr_utils.models.registry.SNAPSHOTS`),
#: per library.
ACCURACY_SOURCES = {
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
        Columns ``model`` (name for ``htsr_utils.models.build.load_model``), ``library_model``,
        ``family``, ``library``, ``source``, ``snapshot_date``, ``weights``, ``top1``,
        ``top5`` (percent), ``citation``, ``used_in``.

    Raises
    ------
    ValueError
        If ``source`` is not a snapshot in the table.
    """
    table = pd.read_csv(paths.data_dir() / "reported_accuracy.csv", keep_default_na=False,
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
    table = pd.read_csv(paths.data_dir() / "published_values.csv", dtype={"n_matrices": "Int64"})
    if convention is None:
        return table
    if convention not in set(table["convention"]):
        raise ValueError(f"unknown convention {convention!r}; known: {sorted(set(table['convention']))}")
    return table[table["convention"] == convention].reset_index(drop=True)


def accuracy_for(models: Iterable[str], snapshot: str = "paper") -> pd.DataFrame:
    """Reported top-1 and top-5 accuracy of each model, from the sources of a weights snapshot.

    Parameters
    ----------
    models : iterable of str
        Model names as in ``htsr_utils.models.registry.list_models()``.
    snapshot : {"paper", "latest"}, default "paper"
        ``"paper"``: the sources the SDM 2020 tables used (Cadene's 2018 table for
        torchvision, the pytorchcv README of January 2019 for pytorchcv); ``"latest"``: the
        accuracies of the weights downloaded today (torchvision's current ``IMAGENET1K_V1``
        metadata, the last pytorchcv README table, 2021-12); :data:`ACCURACY_SOURCES`.
        One source alone: :func:`reported_accuracy`.

    Returns
    -------
    pandas.DataFrame
        Columns ``top1`` and ``top5`` (percent), indexed by model in the order given; NaN
        where the snapshot's sources have no value for the model (e.g. a model the paper did
        not use).

    Raises
    ------
    ValueError
        If ``snapshot`` is not a snapshot.
    """
    models = list(models)
    table = reported_accuracy()
    wanted = table["library"].map(ACCURACY_SOURCES[check_snapshot(snapshot)])
    table = table[table["source"] == wanted]
    return table.set_index("model")[["top1", "top5"]].reindex(models)


def join_reference(summary: pd.DataFrame, *, convention: str, snapshot: str = "paper") -> pd.DataFrame:
    """Join per-model results with the reported accuracies and the authors' published values.

    Parameters
    ----------
    summary : DataFrame
        One row per model, indexed by zoo model name, with a ``family`` column
        (``ManyResult.summary`` of :func:`htsr_utils.paper.many.analyze_many`).
    convention : str
        The convention the summary was computed under; the published values are those the
        authors computed under it (``sdm2020``: SDM 2020, ``natcomm2021``: Nat. Commun.
        2021).  For any other convention the ``*_published`` columns are NaN.
    snapshot : {"paper", "latest"}, default "paper"
        Which reported accuracies fill ``top1`` / ``top5`` (:func:`accuracy_for`): ``"paper"``
        (the sources SDM 2020 used), ``"latest"`` (the accuracies of the weight files
        downloaded today).  They are the accuracies of the
        *pretrained* models, filled whatever weights were analyzed (with random weights a
        regression on them is the untrained baseline).

    Returns
    -------
    DataFrame
        A copy of ``summary`` with ``library``, ``series`` (the family, plus the library in
        parentheses where the zoo has the family in both libraries, e.g.
        ``"ResNet (pytorchcv)"``), ``top1`` and ``top5`` (replaced), ``accuracy_source``
        (the source id each accuracy came from; empty where none), and from
        :func:`published_values`: ``alpha_hat_published``, ``log_norm_published``,
        ``top1_published`` (the accuracy the paper regressed against) and
        ``n_matrices_published`` (the matrix count the authors printed, ``Int64``).

    Raises
    ------
    ValueError
        If ``snapshot`` is unknown (before any work).
    """
    accuracy = accuracy_for(summary.index.astype(str), snapshot)
    out = summary.copy()
    specs = [get_spec(str(m)) for m in out.index]
    both = ({get_spec(m).family for m in list_models(library="torchvision")}
            & {get_spec(m).family for m in list_models(library="pytorchcv")})
    out["library"] = [s.library for s in specs]
    out["series"] = [f"{s.family} ({s.library})" if s.family in both else s.family for s in specs]
    out["top1"] = accuracy["top1"].to_numpy(float)
    out["top5"] = accuracy["top5"].to_numpy(float)
    source = [ACCURACY_SOURCES[snapshot].get(s.library, "") for s in specs]
    out["accuracy_source"] = [src if pd.notna(top1) else "" for src, top1 in zip(source, out["top1"])]
    published = published_values()
    published = published[published["convention"] == convention].drop_duplicates("model").set_index("model")
    for column, source_column in (("alpha_hat_published", "alpha_hat"), ("log_norm_published", "log_norm"),
                                  ("top1_published", "top1_used"), ("n_matrices_published", "n_matrices")):
        out[column] = pd.to_numeric(published[source_column].reindex(out.index.astype(str)),
                                    errors="coerce").to_numpy(float)
    out["n_matrices_published"] = out["n_matrices_published"].astype("Int64")
    return out
