"""On-disk cache of per-matrix results: :func:`analyze_cached`.

One entry per model, weights and convention, in ``results_dir``:

``<model>__<weights tag>__<convention>.csv``
    The per-matrix table of :func:`htsr_utils.analyze` with a leading ``model`` column.
``<model>__<weights tag>__<convention>.npz``
    The ESD of every row (``arr_0``, ``arr_1``, ... in row order), as
    :func:`htsr_utils.engine.metrics.analyze_with_esds` returns them, so that plots need no
    recomputation.
``<model>__<weights tag>__<convention>.json``
    Its sidecar: htsr version, convention, SHA-256 of the weights, SHA-256 of the engine
    source code, SHA-256 of the CSV and of the ``.npz`` bytes, torch version, creation time,
    column dtypes and ``DataFrame.attrs``.

The weights tag is ``pretrained``, ``random-seed<seed>`` or ``file-<sha256[:16]>`` for a
checkpoint file.  Entries are written and read by :mod:`htsr_utils.storage.entries`: the CSV,
then the ``.npz``, then the sidecar that vouches for both, each atomically.  An entry is used
only when its sidecar matches the current weights, convention, package version and engine
code, and the CSV bytes match the SHA-256 the sidecar records (and, when the ESDs are asked
for, the ``.npz`` bytes theirs); anything else (a missing or truncated file, files from
different runs) is a miss and is recomputed.

The default ``results_dir`` is ``data/results`` in a checkout of the compendium, else (an
installed package) ``$XDG_CACHE_HOME/htsr/results`` (``~/.cache/htsr/results``); the
environment variable ``HTSR_RESULTS_DIR`` overrides both.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..engine.checkpoint import open_checkpoint
from ..engine.conventions import get_convention
from ..engine.esd import Precision
from ..engine.metrics import analyze_with_esds, check_estimators
from ..models.build import load_model, model_weights_sha256
from ..models.files import file_digest
from ..models.paper_era import paper_architecture_change
from ..models.registry import get_spec, list_models
from ..storage import paths
from ..storage.entries import read_entry, write_entry
from ..storage.fileio import unwritable_folder_problem
from ..storage.paths import RESULTS_DIR_VARIABLE
from ..version import __version__

__all__ = ["ENGINE_DIR", "analyze_cached", "analyze_cached_with_esds", "check_results_dir", "checkpoint_sha256",
           "code_fingerprint", "default_results_dir", "is_checkpoint"]


#: The engine subpackage: the content of its modules is part of every cache key, so a change
#: in any of them recomputes.
ENGINE_DIR = Path(__file__).resolve().parents[1] / "engine"

#: How missing values are written in the CSV (an empty field is an empty string).
_NA = "<NA>"


def default_results_dir() -> Path:
    """``$HTSR_RESULTS_DIR`` if set, else ``data/results`` of the checkout, else the user cache."""
    return paths.results_dir()


def check_results_dir(folder: Path | None = None) -> Path:
    """Check, before any work, that the results folder can be created and written.

    Parameters
    ----------
    folder : Path, optional
        Default :func:`default_results_dir`.

    Returns
    -------
    Path
        The folder (not created).

    Raises
    ------
    ValueError
        One line naming the folder (and ``HTSR_RESULTS_DIR`` when it comes from it).
    """
    from_env = folder is None and bool(os.environ.get(RESULTS_DIR_VARIABLE))
    folder = Path(folder) if folder is not None else default_results_dir()
    problem = unwritable_folder_problem(folder)
    if problem:
        where = f"{RESULTS_DIR_VARIABLE}={os.environ[RESULTS_DIR_VARIABLE]}" if from_env \
            else f"results folder {folder} (set {RESULTS_DIR_VARIABLE} to use another)"
        raise ValueError(f"{where}: {problem}")
    return folder



@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of the engine's source files (:data:`ENGINE_DIR`), as first read by this process."""
    digest = hashlib.sha256()
    for module in sorted(ENGINE_DIR.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes() + b"\0")
    return digest.hexdigest()


def analyze_cached(
    name: str,
    weights: str = "pretrained",
    convention: str = "sdm2020",
    *,
    results_dir: Path | None = None,
    device: str = "cpu",
    progress: bool = False,
    seed: int = 0,
    snapshot: str = "latest",
    estimators: Sequence[str] = ("csn",),
    precision: Precision = "float64",
    split_qkv: bool = False,
    lora_product: bool = False,
) -> pd.DataFrame:
    """Per-matrix metrics of a zoo model or a checkpoint, read from the cache or computed and stored.

    Parameters
    ----------
    name : str
        A name from :func:`htsr_utils.models.registry.list_models`, or the path of a checkpoint
        (any other name that is an existing file or folder, :func:`is_checkpoint`): it is
        labelled by that path and cached by the content of its files, so the same files
        under another path are read back, not recomputed.
    weights : str, default "pretrained"
        ``"pretrained"``, ``"random"`` or a checkpoint path, as in
        :func:`htsr_utils.models.build.load_model` (zoo models only).
    convention : str, default "sdm2020"
        A name from :data:`htsr_utils.CONVENTIONS`.
    results_dir : Path, optional
        Cache folder (created if needed); default :func:`default_results_dir`.
    device : str, default "cpu"
        Where eigenvalues are computed when the entry is missing.  Recorded in the sidecar
        but not part of the key: an entry computed on another device is reused (CPU and
        CUDA eigenvalues agree to rounding, ``tests/test_esd.py``).
    progress : bool, default False
        Progress bar over matrices when computing.
    seed : int, default 0
        Seed of the random initialisation (``weights="random"`` only).
    snapshot : {"latest", "paper"}, default "latest"
        As in :func:`htsr_utils.models.build.load_model`; part of the entry's name and key.
    estimators : sequence of str, default ("csn",)
        As in :func:`htsr_utils.engine.metrics.analyze`; any other choice is part of the
        entry's name and key (the default entries keep theirs).
    precision, split_qkv, lora_product
        As in :func:`htsr_utils.engine.metrics.analyze`; like ``estimators``, a choice other
        than the default is part of the entry's name and key.

    Returns
    -------
    pandas.DataFrame
        ``model`` followed by :data:`htsr_utils.DETAIL_COLUMNS`, with the same dtypes and
        ``attrs`` (``convention``, ``skipped``, ``model``) whether computed or read.

    Raises
    ------
    UnknownModelError, WeightsUnavailableError, CheckpointError, FileNotFoundError
        From :func:`htsr_utils.models.build.load_model`.
    ValueError
        Unknown convention; NaN/Inf weights (``NonFiniteWeightsError``).
    """
    return _cached(name, weights, convention, results_dir=results_dir, device=device,
                   progress=progress, seed=seed, snapshot=snapshot, estimators=estimators,
                   precision=precision, split_qkv=split_qkv, lora_product=lora_product,
                   with_esds=False)[0]


def analyze_cached_with_esds(name: str, weights: str = "pretrained", convention: str = "sdm2020",
                             **options) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """:func:`analyze_cached`, and the ESD of every row (read from the entry's ``.npz``).

    Parameters
    ----------
    name, weights, convention, **options
        As for :func:`analyze_cached`.

    Returns
    -------
    (DataFrame, list of ndarray)
        The table and, per row, its ESD as :func:`htsr_utils.engine.metrics.analyze_with_esds`
        returns it.  An entry without a valid ``.npz`` is recomputed.
    """
    return _cached(name, weights, convention, with_esds=True, **options)


def _cached(name: str, weights: str, convention: str, *, results_dir: Path | None = None,
            device: str = "cpu", progress: bool = False, seed: int = 0, snapshot: str = "latest",
            estimators: Sequence[str] = ("csn",), precision: Precision = "float64",
            split_qkv: bool = False, lora_product: bool = False,
            with_esds: bool) -> tuple[pd.DataFrame, list[np.ndarray] | None]:
    """The entry of one model: read when it matches, else computed and written."""
    conv = get_convention(convention).name
    estimators = check_estimators(estimators)
    checkpoint = is_checkpoint(name)
    if checkpoint:
        snapshot, sha256 = "latest", checkpoint_sha256(name)
        stem = f"checkpoint-{sha256[:16]}__{conv}"
    else:
        snapshot = _effective_snapshot(name, weights, snapshot)
        sha256 = model_weights_sha256(name, weights, snapshot=snapshot, seed=seed)
        tag = _weights_tag(weights, seed, sha256) + ("" if snapshot == "latest" else f"-{snapshot}")
        stem = f"{name}__{tag}__{conv}"
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    key = {"htsr_version": __version__, "convention": conv, "weights_sha256": sha256,
           "snapshot": snapshot, "code_fingerprint": code_fingerprint()}
    variant = {"estimators": "+".join(estimators) if estimators != ("csn",) else None,
               "precision": precision if precision != "float64" else None,
               "layout": "+".join(name for name, on in (("split-qkv", split_qkv),
                                                        ("lora-product", lora_product)) if on) or None}
    for part, value in variant.items():
        if value is not None:
            stem += "__" + value
            key[part] = value
    cached = _read(folder, stem, key, with_esds)
    if cached is not None:
        details, esds = cached
        if checkpoint:  # the same files under another path: labelled by this one
            details["model"] = details.attrs["model"] = name
        return details, esds
    model = Path(name) if checkpoint else load_model(name, weights, snapshot=snapshot, seed=seed)
    details, esds = analyze_with_esds(model, conv, device, progress=progress, estimators=estimators,
                                      precision=precision, split_qkv=split_qkv,
                                      lora_product=lora_product)
    details.insert(0, "model", name)
    details.attrs["model"] = name
    _write(details, esds, folder, stem, key | {"model": name, "device": device,
                                               "weights": "checkpoint" if checkpoint else str(weights)})
    return details, esds


def is_checkpoint(name: str | os.PathLike) -> bool:
    """Whether ``name`` means a checkpoint: not a zoo model's name, and an existing file or folder.

    A zoo name is a zoo model even where a file or folder of that name exists.
    """
    text = os.fspath(name)
    return text not in set(list_models()) and Path(text).expanduser().exists()


def checkpoint_sha256(path: str | os.PathLike) -> str:
    """Identity of a checkpoint's weights: SHA-256 over the SHA-256 of each of its weight files,
    in reading order (file names and folder left out), so a copy elsewhere has the same."""
    digest = hashlib.sha256()
    for file in open_checkpoint(path).files:
        digest.update(file_digest(file, "sha256").encode() + b"\0")
    return digest.hexdigest()


def _effective_snapshot(name: str, weights: str | os.PathLike, snapshot: str) -> str:
    """``snapshot``, or "latest" where both snapshots give the same model and weights.

    They differ only for pytorchcv models: in their pretrained files, and in the architecture
    of the few whose definition changed (``paper_architecture_change``); one cache entry
    then serves both.
    """
    if snapshot == "latest" or get_spec(name).library != "pytorchcv":
        return "latest"
    if weights == "pretrained" or paper_architecture_change(name):
        return snapshot
    return "latest"


def _weights_tag(weights: str | os.PathLike, seed: int, sha256: str) -> str:
    if weights == "pretrained":
        return "pretrained"
    if weights == "random":
        return f"random-seed{seed}"
    return f"file-{sha256[:16]}"


def _read(
    folder: Path, stem: str, key: dict[str, str], with_esds: bool
) -> tuple[pd.DataFrame, list[np.ndarray] | None] | None:
    """The cached table (and ESDs) if the entry is complete and matches ``key``, else None."""
    entry = read_entry(folder, stem, ("csv", "npz") if with_esds else ("csv",), key)
    if entry is None:
        return None
    meta, files = entry
    details = pd.read_csv(io.BytesIO(files["csv"]), dtype=meta["dtypes"], keep_default_na=False,
                          na_values=[_NA])
    details.attrs.update(meta["attrs"])
    if not with_esds:
        return details, None
    with np.load(io.BytesIO(files["npz"])) as arrays:
        esds = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    return (details, esds) if len(esds) == len(details) else None


def _write(details: pd.DataFrame, esds: list[np.ndarray], folder: Path, stem: str, meta: dict) -> None:
    """Write the CSV, the ESDs, then the sidecar that vouches for both."""
    buffer = io.BytesIO()
    np.savez(buffer, *esds)
    files = {"csv": details.to_csv(index=False, na_rep=_NA, lineterminator="\n").encode(),
             "npz": buffer.getvalue()}
    meta = meta | {
        "torch_version": torch.__version__,
        "dtypes": {column: str(dtype) for column, dtype in details.dtypes.items()},
        "attrs": details.attrs,
    }
    write_entry(folder, stem, files, meta)
