"""Where the explorer's weights come from: a zoo model, a checkpoint, or a model trained here."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Union

import torch
from torch import nn

from ...engine.checkpoint import CHECKPOINT_SUFFIXES, open_checkpoint
from ...experiments.datasets import DATASETS
from ...experiments.training import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_EPOCHS,
    DEFAULT_SEEDS,
    TrainConfig,
    default_config,
    quick_settings,
    quick_values,
    train_model,
)
from ...models.build import load_model
from ...models.registry import WEIGHTS_KEYWORDS, get_spec

Weights = Union[nn.Module, Mapping[str, torch.Tensor]]

#: Batch sizes of the models notebook 09 trains in its CI configuration (quick family).
TRAINED_BATCH_SIZES: tuple[int, ...] = quick_values(DEFAULT_BATCH_SIZES)
#: Datasets notebook 09 trains its MLPs on (those with a default number of epochs).
TRAINED_DATASETS: tuple[str, ...] = tuple(d for d in DATASETS if d in DEFAULT_EPOCHS)


@dataclass(frozen=True)
class Source:
    """One model the explorer can analyze.

    Attributes
    ----------
    kind : {"zoo", "file", "trained"}
        A model of :func:`htsr_utils.models.registry.list_models`, a checkpoint (a weight file
        or a Hugging Face checkpoint folder), or a model trained here
        (:func:`htsr_utils.experiments.training.train_model`, trained on demand): an MLP of
        notebook 09 or any other :class:`~htsr_utils.experiments.training.TrainConfig`.
    name : str
        Zoo name, checkpoint path (file or folder), or dataset name.
    weights : str
        ``"pretrained"`` or ``"random"`` for a zoo model; ``""`` otherwise.
    config : TrainConfig or None
        The training configuration of a trained model.
    """

    kind: Literal["zoo", "file", "trained"]
    name: str
    weights: str = ""
    config: TrainConfig | None = None

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``"resnet18 (random)"``, ``"MLP mnist batch 128 (10
        epochs, seed 0)"`` or ``"vgg2d depth 3 width 16 mnist batch 64 (3 epochs, seed 1)"``."""
        if self.kind == "zoo":
            return f"{self.name} ({self.weights})"
        if self.kind == "file":
            return Path(self.name).name
        return trained_label(self.config)

    def load(self) -> Weights:
        """The model (zoo, trained), or the checkpoint's tensors, each read when asked for.

        Raises
        ------
        FileNotFoundError, htsr_utils.WeightFileError, htsr_utils.models.files.WeightsUnavailableError
            As :func:`htsr_utils.models.build.load_model` and
            :func:`htsr_utils.engine.checkpoint.open_checkpoint`.
        """
        if self.kind == "zoo":
            return load_model(self.name, self.weights)
        if self.kind == "file":
            return open_checkpoint(self.name)
        return train_model(self.config).model

    def analyzed(self, weights: Weights) -> Weights | Path:
        """What :func:`htsr_utils.analyze` reads: a checkpoint by its path (streamed, in its
        model's layer order and types), anything else as loaded."""
        return Path(self.name) if self.kind == "file" else weights

    def random_init(self) -> nn.Module | None:
        """The same architecture with its random initialisation (zoo models only)."""
        if self.kind != "zoo":
            return None
        return load_model(self.name, "random")


def trained_label(config: TrainConfig) -> str:
    """The architecture (the MLP's width where it is not the default), data, batch size,
    epochs and seed of a trained model, and its learning rate and momentum where they are not
    the defaults."""
    default = TrainConfig(dataset=config.dataset)
    if config.arch == "mlp":
        arch = "MLP" + (f" width {config.width}" if config.width != default.width else "")
    else:
        arch = f"{config.arch} depth {config.depth} width {config.width}"
    knobs = "".join(f", {name} {getattr(config, name)}" for name in ("lr", "momentum")
                    if getattr(config, name) != getattr(default, name))
    return (f"{arch} {config.dataset} batch {config.batch_size} "
            f"({config.epochs} epochs, seed {config.seed}{knobs})")


def zoo_source(name: str, weights: str = "random") -> Source:
    """A zoo model; ``weights`` is ``"pretrained"`` or ``"random"``."""
    if weights not in WEIGHTS_KEYWORDS:
        raise ValueError(f"weights must be one of {WEIGHTS_KEYWORDS}, not {weights!r}")
    get_spec(name)  # UnknownModelError with suggestions, before any work
    return Source("zoo", name, weights)


def file_source(path: str | os.PathLike) -> Source:
    """A checkpoint: a ``.safetensors`` / ``.pt`` / ``.pth`` / ``.bin`` file or a Hugging Face
    checkpoint folder; its headers are read at once, so a bad path fails before any work.

    Raises
    ------
    FileNotFoundError, ValueError, htsr_utils.WeightFileError
        No such file or folder; a file with another suffix; an unreadable checkpoint.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.is_file() and path.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"checkpoint {path}: expected a folder or a file ending in "
                         f"{', '.join(CHECKPOINT_SUFFIXES)}")
    open_checkpoint(path)
    return Source("file", str(path))


def trained_source(dataset: str = "mnist", batch_size: int = 128, seed: int = 0) -> Source:
    """An MLP of notebook 09 in its CI configuration (a third of the default epochs).

    The configuration is the one notebook 09 trains with ``quick=True``, so the model is
    read from the model cache (:func:`htsr_utils.storage.paths.trained_models_dir`) when that
    notebook ran, and trained now otherwise.

    Raises
    ------
    ValueError
        If ``dataset`` is not one of :data:`TRAINED_DATASETS`.
    """
    if dataset not in TRAINED_DATASETS:
        raise ValueError(f"notebook 09 trains on {', '.join(TRAINED_DATASETS)}, not {dataset!r}")
    _, _, base = quick_settings(DEFAULT_BATCH_SIZES, DEFAULT_SEEDS, default_config(dataset))
    config = dataclasses.replace(base, batch_size=batch_size, seed=seed)
    return Source("trained", dataset, config=config)


def as_source(model: Source | str | os.PathLike | TrainConfig, weights: str = "random") -> Source:
    """A :class:`Source` from what a user passes to :func:`htsr_utils.explore`.

    A zoo name, a checkpoint path (a string ending in a checkpoint suffix, an existing
    folder, or any ``os.PathLike``), a :class:`~htsr_utils.experiments.training.TrainConfig`,
    or a Source as is.
    """
    if isinstance(model, Source):
        return model
    if isinstance(model, TrainConfig):
        return Source("trained", model.dataset, config=model)
    if isinstance(model, os.PathLike) or str(model).endswith(CHECKPOINT_SUFFIXES) or Path(model).is_dir():
        return file_source(model)
    return zoo_source(str(model), weights)
