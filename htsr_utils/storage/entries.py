"""Cache entries on disk: data files and the JSON sidecar that vouches for them.

Both caches of the project (the results cache, :mod:`htsr_utils.paper.cache`, and the model
cache of :mod:`htsr_utils.experiments.training`) store an entry as files that share a stem:

``<stem>.<suffix>``
    One data file per suffix (``csv`` and ``npz``; ``pt``).
``<stem>.json``
    The sidecar: the caller's metadata, the creation time and, per data file, the SHA-256 of
    its bytes (key ``<suffix>_sha256``).

:func:`write_entry` writes every data file atomically
(:func:`htsr_utils.storage.fileio.atomic_write`) and the sidecar last, so a sidecar exists
only for data files written before it.  :func:`read_entry` returns an entry only when its
sidecar is a JSON object that matches the caller's key and every data file asked for has the
SHA-256 the sidecar records; anything else (a missing, truncated or foreign file, files from
different runs, an interrupted write) is a miss.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .fileio import atomic_write

__all__ = ["SIDECAR_SUFFIX", "read_entry", "write_entry"]

#: Suffix of the sidecar file.
SIDECAR_SUFFIX = "json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_entry(folder: Path, stem: str, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> None:
    """Write the data files of one entry, each atomically, then its sidecar.

    Parameters
    ----------
    folder : Path
        Cache folder (created if needed).
    stem : str
        File name of the entry without suffix.
    files : mapping of str to bytes
        Content of each data file by suffix (not ``"json"``), written in this order.
    meta : mapping
        JSON-serializable metadata for the sidecar; ``created`` and ``<suffix>_sha256`` of
        every data file are added.

    Raises
    ------
    ValueError
        A data file with the sidecar's suffix.
    """
    if SIDECAR_SUFFIX in files:
        raise ValueError(f"the suffix {SIDECAR_SUFFIX!r} is the sidecar's")
    folder = Path(folder)
    sidecar = dict(meta) | {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    } | {f"{suffix}_sha256": _sha256(data) for suffix, data in files.items()}
    for suffix, data in files.items():
        atomic_write(folder / f"{stem}.{suffix}", data)
    atomic_write(folder / f"{stem}.{SIDECAR_SUFFIX}", json.dumps(sidecar, indent=1).encode())


def read_entry(
    folder: Path, stem: str, suffixes: Sequence[str], key: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """The sidecar and data files of one entry, if the sidecar vouches for them.

    Parameters
    ----------
    folder : Path
        Cache folder.
    stem : str
        File name of the entry without suffix.
    suffixes : sequence of str
        The data files to read (an entry may hold more).
    key : mapping
        Items the sidecar must hold with equal values (what the entry was computed from).

    Returns
    -------
    (dict, dict of str to bytes) or None
        The sidecar and the bytes of each data file asked for; None when a file is missing or
        unreadable, the sidecar is not a JSON object or differs from ``key``, or a data file's
        SHA-256 is not the one the sidecar records.
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / f"{stem}.{SIDECAR_SUFFIX}").read_text())
        files = {suffix: (folder / f"{stem}.{suffix}").read_bytes() for suffix in suffixes}
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or any(name not in meta or meta[name] != value for name, value in key.items()):
        return None
    if any(meta.get(f"{suffix}_sha256") != _sha256(data) for suffix, data in files.items()):
        return None
    return meta, files
