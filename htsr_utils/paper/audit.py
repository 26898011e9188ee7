"""Audit of the published values against the architectures they name.

A published number says which model it belongs to; that label was written by hand.  What
can be checked without pretrained weights is the architecture: the number of matrices a
convention analyzes and, where the per-layer table is published, the multiset of matrix
shapes (N, M).  Both come from the random-init model of the zoo, in the snapshot given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

import pandas as pd

from ..engine.layers import weight_matrices
from ..models.build import load_model
from ..models.paper_era import paper_architecture_change
from ..models.registry import PYTORCHCV_PREFIX, get_spec, list_models
from ..storage import paths
from .reference_data import published_values

__all__ = ["AUDIT_COLUMNS", "architecture_shapes", "audit_published", "published_layer_shapes"]

Shapes = tuple[tuple[int, int], ...]
AUDIT_COLUMNS = ("source", "paper", "model", "convention", "checked", "n_published",
                 "n_architecture", "verdict", "matches")


def architecture_shapes(name: str, convention: str, snapshot: str = "latest") -> Shapes:
    """Sorted (N, M) of every matrix a convention analyzes in a zoo model's random-init build.

    Parameters
    ----------
    name : str
        A name from :func:`htsr_utils.models.registry.list_models`.
    convention : str
        A name from :data:`htsr_utils.CONVENTIONS`.
    snapshot : {"latest", "paper"}, default "latest"
        Architecture snapshot, as in :func:`htsr_utils.models.build.load_model`.

    Returns
    -------
    tuple of (int, int)
        One ``(N, M)`` per matrix, ``N >= M``, sorted.
    """
    same_as_latest = snapshot == "latest" or paper_architecture_change(name) is None
    return _shapes(name, convention, "latest" if same_as_latest else snapshot)


@functools.cache
def _shapes(name: str, convention: str, snapshot: str) -> Shapes:
    model = load_model(name, "random", snapshot=snapshot)
    return tuple(sorted((m.N, m.M) for m in weight_matrices(model, convention).matrices))


def published_layer_shapes() -> pd.DataFrame:
    """The matrix shapes of the published per-layer files (``data/published_layer_shapes.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``file`` (below ``ww-trends-2020/data/``), ``layer_id``, ``layer_type``,
        ``level`` (``LEVEL.SLICE``: one analyzed matrix; ``LEVEL.LAYER``: a layer summary),
        ``N``, ``M``.
    """
    return pd.read_csv(paths.data_dir() / "published_layer_shapes.csv",
                       dtype={"file": str, "layer_type": str, "level": str})


def _file_model(file: str) -> str:
    """The zoo model a per-layer file is labelled as (its file name)."""
    stem = file.rsplit("/", 1)[-1].removesuffix(".csv")
    return PYTORCHCV_PREFIX + stem if file.startswith("resnet-1k/") else stem


def _matches(name: str, convention: str, found: object, key: Callable[[Shapes], object]) -> str:
    """Models of the labelled model's family (either snapshot) whose architecture gives ``found``."""
    spec = get_spec(name)
    family = [n for n in list_models(family=spec.family, library=spec.library) if n != name]
    hits = []
    for model in [name, *family]:
        latest = architecture_shapes(model, convention, "latest")
        paper = architecture_shapes(model, convention, "paper")
        if key(latest) == found:
            hits.append(model)
        if paper != latest and key(paper) == found:
            hits.append(f"{model} (paper)")
    return "; ".join(hits)


def _row(source: str, paper: str, name: str, convention: str, checked: str, n_published: int,
         architecture: Shapes, found: object, key: Callable[[Shapes], object]) -> dict[str, object]:
    same = key(architecture) == found
    return {"source": source, "paper": paper, "model": name, "convention": convention,
            "checked": checked, "n_published": n_published, "n_architecture": len(architecture),
            "verdict": "ok" if same else {"count": "count differs", "shapes": "shapes differ"}[checked],
            "matches": _matches(name, convention, found, key)}


def audit_published(models: Iterable[str] | None = None) -> pd.DataFrame:
    """Check every published per-model count and per-layer file against its architecture.

    - SDM 2020 per-model rows of ``data/published_values.csv`` (those with ``n_matrices``):
      the count, against the model's paper-era architecture under ``sdm2020``.
    - Per-layer files of ``data/published_layer_shapes.csv`` (Nature Communications 2021):
      the multiset of their ``LEVEL.SLICE`` shapes, against today's architecture under
      ``natcomm2021``.
    - NatComm2021 per-model rows: through the per-layer file their ``source`` names (the
      ``.txt`` summary next to it), with the same shapes check.

    Parameters
    ----------
    models : iterable of str, optional
        Audit only the items labelled with these zoo model names (default: all).

    Returns
    -------
    pandas.DataFrame
        One row per published item, columns :data:`AUDIT_COLUMNS`.  ``verdict`` is ``"ok"``
        when the labelled architecture gives exactly the published count or shapes, else
        ``"count differs"`` / ``"shapes differ"``; ``matches`` lists every model of the
        labelled model's family (``"(paper)"``: its paper-era architecture) that gives them.
    """
    wanted = None if models is None else set(models)
    rows = []
    sdm = published_values("sdm2020").dropna(subset=["n_matrices"])
    for name, count in zip(sdm["model"], sdm["n_matrices"]):
        if wanted is None or name in wanted:
            rows.append(_row(f"published_values.csv SDM2020 {name}", "SDM2020", name, "sdm2020",
                             "count", int(count), architecture_shapes(name, "sdm2020", "paper"),
                             int(count), len))
    layers = published_layer_shapes()
    slices = layers[layers["level"] == "LEVEL.SLICE"]
    shapes = {file: tuple(sorted((max(n, m), min(n, m)) for n, m in zip(t["N"], t["M"])))
              for file, t in slices.groupby("file", sort=True)}
    per_model = published_values("natcomm2021")
    files = dict(zip(per_model["model"], per_model["source"].map(_summary_file)))
    sources = [(f"ww-trends-2020/data/{file}", _file_model(file), file) for file in shapes]
    sources += [(f"published_values.csv NatComm2021 {name} (via {file})", name, file)
                for name, file in files.items() if file in shapes]
    for source, name, file in sources:
        if wanted is None or name in wanted:
            found = shapes[file]
            rows.append(_row(source, "NatComm2021", name, "natcomm2021", "shapes", len(found),
                             architecture_shapes(name, "natcomm2021", "latest"), found,
                             lambda x: x))
    return pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))


def _summary_file(source: str) -> str | None:
    """The per-layer file next to the ``.txt`` summary a NatComm2021 row was read from."""
    match = re.search(r"ww-trends-2020:data/(\S+)\.txt", source)
    return f"{match.group(1)}.csv" if match else None
