"""On-disk cache of per-matrix results: :func:`analyze_cached`.

One entry per model, weights and convention, in ``results_dir``:

``<model>__<weights tag>__<convention>.csv``
    The per-matrix table of :func:`htsr_utils.analyze` with a leading ``model`` column.
``<model>__<weights tag>__<convention>.json``
    Its sidecar: htsr version, convention, SHA-256 of the weights, SHA-256 of the engine
    source code, SHA-256 of the CSV bytes, torch version, creation time, column dtypes and
    ``DataFrame.attrs``.

The weights tag is ``pretrained``, ``random-seed<seed>`` or ``file-<sha256[:16]>`` for a
checkpoint file.  An entry is used only when its sidecar matches the current weights,
convention, package version and engine code, and the CSV bytes match the SHA-256 the
sidecar records; anything else (a missing or truncated file, a CSV and sidecar from
different runs) is a miss and is recomputed.  Both files are written atomically (temporary
file in the same folder, then ``os.replace``), the CSV first.

The default ``results_dir`` is ``data/results`` in the repository; the environment variable
``HTSR_RESULTS_DIR`` overrides it.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import json
import os
from pathlib import Path

import pandas as pd
import torch

from . import paths, zoo
from .conventions import get_convention
from .fileio import atomic_write
from .metrics import analyze
from .version import __version__

__all__ = ["ENGINE_MODULES", "analyze_cached", "code_fingerprint", "default_results_dir"]

#: Source files whose content is part of every cache key: a change in any recomputes.
ENGINE_MODULES = ("esd.py", "powerlaw_fit.py", "weights.py", "metrics.py", "conventions.py")

#: How missing values are written in the CSV (an empty field is an empty string).
_NA = "<NA>"


def default_results_dir() -> Path:
    """``$HTSR_RESULTS_DIR`` if set, else ``data/results`` in the repository."""
    return paths.results_dir()


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of the source of :data:`ENGINE_MODULES`, as first read by this process."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for module in ENGINE_MODULES:
        digest.update(module.encode() + b"\0" + (package / module).read_bytes() + b"\0")
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
) -> pd.DataFrame:
    """Per-matrix metrics of a zoo model, read from the cache or computed and stored.

    Parameters
    ----------
    name : str
        A name from :func:`htsr_utils.zoo.list_models`.
    weights : str, default "pretrained"
        ``"pretrained"``, ``"random"`` or a checkpoint path, as in
        :func:`htsr_utils.zoo.load_model`.
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
        As in :func:`htsr_utils.zoo.load_model`; part of the entry's name and key.

    Returns
    -------
    pandas.DataFrame
        ``model`` followed by :data:`htsr_utils.DETAIL_COLUMNS`, with the same dtypes and
        ``attrs`` (``convention``, ``skipped``, ``model``) whether computed or read.

    Raises
    ------
    UnknownModelError, WeightsUnavailableError, CheckpointError, FileNotFoundError
        From :func:`htsr_utils.zoo.load_model`.
    ValueError
        Unknown convention; NaN/Inf weights (``NonFiniteWeightsError``).
    """
    conv = get_convention(convention).name
    sha256 = zoo.model_weights_sha256(name, weights, snapshot=snapshot, seed=seed)
    tag = _weights_tag(weights, seed, sha256) + ("" if snapshot == "latest" else f"-{snapshot}")
    stem = f"{name}__{tag}__{conv}"
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    csv_path, meta_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    key = {"htsr_version": __version__, "convention": conv, "weights_sha256": sha256,
           "snapshot": snapshot, "code_fingerprint": code_fingerprint()}
    cached = _read_entry(csv_path, meta_path, key)
    if cached is not None:
        return cached
    details = analyze(zoo.load_model(name, weights, snapshot=snapshot, seed=seed), conv, device,
                      progress=progress)
    details.insert(0, "model", name)
    details.attrs["model"] = name
    folder.mkdir(parents=True, exist_ok=True)
    _write_entry(details, csv_path, meta_path, key | {"model": name, "weights": str(weights), "device": device})
    return details


def _weights_tag(weights: str | os.PathLike, seed: int, sha256: str) -> str:
    if weights == "pretrained":
        return "pretrained"
    if weights == "random":
        return f"random-seed{seed}"
    return f"file-{sha256[:16]}"


def _read_entry(csv_path: Path, meta_path: Path, key: dict[str, str]) -> pd.DataFrame | None:
    """The cached table if the entry is complete and matches ``key``, else None."""
    try:
        meta = json.loads(meta_path.read_text())
        data = csv_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in key.items()):
        return None
    if hashlib.sha256(data).hexdigest() != meta.get("csv_sha256"):
        return None
    details = pd.read_csv(io.BytesIO(data), dtype=meta["dtypes"], keep_default_na=False,
                          na_values=[_NA])
    details.attrs.update(meta["attrs"])
    return details


def _write_entry(details: pd.DataFrame, csv_path: Path, meta_path: Path, meta: dict) -> None:
    """Write the CSV, then the sidecar that vouches for it, each atomically."""
    data = details.to_csv(index=False, na_rep=_NA, lineterminator="\n").encode()
    meta = meta | {
        "csv_sha256": hashlib.sha256(data).hexdigest(),
        "torch_version": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dtypes": {column: str(dtype) for column, dtype in details.dtypes.items()},
        "attrs": details.attrs,
    }
    atomic_write(csv_path, data)
    atomic_write(meta_path, json.dumps(meta, indent=1).encode())
