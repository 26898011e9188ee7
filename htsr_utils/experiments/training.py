"""Training the small models of the experiments offline, deterministically, with a model cache.

Martin & Mahoney show that training knobs such as the batch size (at a fixed learning rate and
a fixed number of epochs) change how heavy-tailed the layer weight spectra become.  A
:class:`TrainConfig` says what to train (dataset, architecture, knobs, seed);
:func:`train_model` trains it on the CPU with one thread, bitwise reproducibly, and keeps it
in a cache on disk (:mod:`htsr_utils.storage.entries`); :func:`train_models` trains several,
in worker processes; :func:`knob_configs` varies one knob over values and seeds.  The
datasets are in :mod:`~htsr_utils.experiments.datasets`, the architectures in
:mod:`~htsr_utils.experiments.architectures`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..engine.parallel import process_pool
from ..storage import paths
from ..storage.entries import read_entry, write_entry
from .architectures import ARCHITECTURES, build_cnn1d, build_mlp, build_vgg2d
from .datasets import DATASETS, Dataset, load_dataset

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_EPOCHS",
    "DEFAULT_SEEDS",
    "TrainConfig",
    "TrainedModel",
    "build_model",
    "default_config",
    "knob_configs",
    "quick_settings",
    "quick_values",
    "train_model",
    "train_models",
]

#: Batch sizes of notebook 09's knob sweep (Martin & Mahoney's batch-size experiment).
DEFAULT_BATCH_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
#: Training seeds of every configuration.
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
# Epochs of the MLP of notebook 09 per dataset (lr 0.2): MNIST-1D is harder and cheaper per epoch.
DEFAULT_EPOCHS: dict[str, int] = {"mnist": 30, "mnist1d": 60}
# Bump when the training procedure changes, so stale cache entries are never reused.
_CACHE_VERSION = 1
# Fields added after version 1: left out of the cache key at these defaults, so the MLP
# entries of notebook 09 keep their keys.
_LATER_FIELDS: dict[str, object] = {"arch": "mlp", "depth": 0, "momentum": 0.0}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained model.

    Attributes
    ----------
    dataset : str
        One of :data:`DATASETS`.
    knob : str
        Name of the field varied across a knob sweep or an architecture series (e.g.
        ``"batch_size"``); informational, it does not enter the cache key.
    batch_size : int
        Mini-batch size (the last, smaller batch of an epoch is kept).
    lr : float
        Constant SGD learning rate.
    width : int
        Hidden width of :func:`build_mlp`.
    epochs : int
        Passes over the training set; a fixed number of epochs, so small batches take more steps.
    seed : int
        Seed of the weight initialisation and of the per-epoch example order (the train/test
        split stays fixed).
    optimizer : str
        Only ``"sgd"`` (SGD without weight decay).
    arch : str
        One of :data:`ARCHITECTURES`: ``"mlp"`` (:func:`build_mlp`, ``width`` = hidden width),
        ``"cnn1d"`` (:func:`build_cnn1d`) or ``"vgg2d"`` (:func:`build_vgg2d`), where
        ``width`` is the number of channels.
    depth : int
        Number of convolution layers of a CNN; 0 for the MLP (whose depth is fixed).
    momentum : float
        SGD momentum (0: plain SGD).

    Raises
    ------
    ValueError
        If ``dataset``, ``optimizer`` or ``arch`` is not supported, or ``depth`` does not fit
        ``arch``.
    """

    dataset: str = "mnist"
    knob: str = "batch_size"
    batch_size: int = 32
    lr: float = 0.2
    width: int = 256
    epochs: int = 30
    seed: int = 0
    optimizer: str = "sgd"
    arch: str = "mlp"
    depth: int = 0
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {DATASETS}")
        if self.optimizer != "sgd":
            raise ValueError(f"unsupported optimizer {self.optimizer!r}; only 'sgd'")
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch {self.arch!r}; expected one of {ARCHITECTURES}")
        if self.arch == "mlp" and self.depth != 0:
            raise ValueError(f"the MLP has a fixed depth: depth must be 0, got {self.depth}")
        if self.arch != "mlp" and self.depth < 1:
            raise ValueError(f"arch {self.arch!r} needs depth >= 1, got {self.depth}")

    def cache_key(self) -> str:
        """Hex digest of every field that affects training (all but ``knob``).

        Fields added after the first cache version are left out at their defaults, so an
        MLP configuration keeps the key it had before CNNs existed.
        """
        fields = dataclasses.asdict(self)
        del fields["knob"]
        for name, default in _LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        fields["_version"] = _CACHE_VERSION
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def default_config(dataset: str) -> TrainConfig:
    """Default training configuration of ``dataset`` (its number of epochs differs).

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.

    Returns
    -------
    TrainConfig
        ``TrainConfig(dataset=dataset, epochs=DEFAULT_EPOCHS[dataset])``.

    Raises
    ------
    ValueError
        If ``dataset`` is not a known dataset.
    """
    config = TrainConfig(dataset=dataset)
    return dataclasses.replace(config, epochs=DEFAULT_EPOCHS[dataset])


def build_model(config: TrainConfig, in_features: int) -> nn.Sequential:
    """The freshly initialised (with the current torch RNG) model of ``config``.

    Parameters
    ----------
    config : TrainConfig
        Its ``arch``, ``depth`` and ``width`` choose the builder and its arguments.
    in_features : int
        Input dimension of the dataset.

    Returns
    -------
    torch.nn.Sequential
    """
    if config.arch == "cnn1d":
        return build_cnn1d(in_features, config.depth, config.width)
    if config.arch == "vgg2d":
        return build_vgg2d(in_features, config.depth, config.width)
    return build_mlp(in_features, config.width)


@dataclass
class TrainedModel:
    """A trained model with its configuration and accuracies.

    Attributes
    ----------
    model : torch.nn.Sequential
        The trained model in eval mode, on CPU.
    config : TrainConfig
        The configuration it was trained with.
    train_acc, test_acc : float
        Accuracy on the training and test split.
    train_seconds : float
        Wall-clock training time (of the original run when loaded from the cache).
    from_cache : bool
        Whether the model was loaded from the cache instead of trained now.
    epoch_train_acc : tuple of float
        Per epoch, the fraction of training examples its mini-batches classified correctly
        as they were trained on (the learning curve, at no extra cost); empty for a cache
        entry written before it was recorded.
    """

    model: nn.Sequential
    config: TrainConfig
    train_acc: float
    test_acc: float
    train_seconds: float
    from_cache: bool
    epoch_train_acc: tuple[float, ...] = ()


# --------------------------------------------------------------------------- training


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch, enable deterministic algorithms and use one thread; restore all on exit.

    One intra-op thread makes results independent of the machine's core count, and for these
    small matrices it is also faster: with two threads on two busy cores, OpenMP spin-waiting
    slowed batch-16 epochs down by up to 100x.
    """
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)


@torch.no_grad()
def _accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """Fraction of examples whose arg-max logit equals the label (``chunk`` examples at a time)."""
    correct = sum(int((model(X[i:i + chunk]).argmax(dim=1) == y[i:i + chunk]).sum())
                  for i in range(0, len(y), chunk))
    return correct / len(y)


def _fit(config: TrainConfig, data: Dataset) -> tuple[nn.Sequential, tuple[float, ...]]:
    """Train a freshly initialised model with SGD for ``config.epochs`` epochs.

    Returns the model and, per epoch, the fraction of its mini-batch predictions that were right.
    """
    with _deterministic(config.seed):
        model = build_model(config, data.in_features)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(config.seed)
        model.train()
        curve = []
        for _ in range(config.epochs):
            perm = torch.randperm(len(data.y_train), generator=order)
            correct = 0
            for batch in perm.split(config.batch_size):
                optimizer.zero_grad(set_to_none=True)
                logits = model(data.X_train[batch])
                loss_fn(logits, data.y_train[batch]).backward()
                optimizer.step()
                correct += int((logits.detach().argmax(dim=1) == data.y_train[batch]).sum())
            curve.append(correct / len(data.y_train))
    return model.eval(), tuple(curve)


def _cache_stem(config: TrainConfig) -> str:
    """File name, without suffix, of the cache entry of ``config``."""
    return f"{config.dataset}-{config.cache_key()}"


def _save(result: TrainedModel, in_features: int, cache_dir: Path) -> None:
    """Store the weights, then the sidecar that vouches for them (:mod:`htsr_utils.storage.entries`)."""
    buffer = io.BytesIO()
    torch.save(result.model.state_dict(), buffer)
    meta = {
        "cache_key": result.config.cache_key(),
        "config": dataclasses.asdict(result.config),
        "in_features": in_features,
        "train_acc": result.train_acc,
        "test_acc": result.test_acc,
        "train_seconds": result.train_seconds,
        "epoch_train_acc": list(result.epoch_train_acc),
        "torch_version": torch.__version__,
    }
    write_entry(cache_dir, _cache_stem(result.config), {"pt": buffer.getvalue()}, meta)


def _load(config: TrainConfig, cache_dir: Path) -> TrainedModel | None:
    """Return the cached model for ``config``, or ``None`` if no complete entry vouches for it."""
    entry = read_entry(cache_dir, _cache_stem(config), ("pt",), {"cache_key": config.cache_key()})
    if entry is None:
        return None
    meta, files = entry
    model = build_model(config, meta["in_features"])
    model.load_state_dict(torch.load(io.BytesIO(files["pt"]), weights_only=True))
    return TrainedModel(
        model=model.eval(),
        config=config,
        train_acc=meta["train_acc"],
        test_acc=meta["test_acc"],
        train_seconds=meta["train_seconds"],
        from_cache=True,
        epoch_train_acc=tuple(meta.get("epoch_train_acc", ())),
    )


def train_model(config: TrainConfig, cache_dir: Path | None = None) -> TrainedModel:
    """Train one model deterministically on CPU, or load it from the cache.

    Parameters
    ----------
    config : TrainConfig
        What to train.
    cache_dir : pathlib.Path, optional
        Default :func:`htsr_utils.storage.paths.trained_models_dir` (read at the call, so it
        follows ``HTSR_RESULTS_DIR``).  Directory of cache entries ``<dataset>-<key>.pt`` (the state dict) and
        ``<dataset>-<key>.json`` (its sidecar: configuration, accuracies, training time and
        the SHA-256 of the ``.pt``), written and read by :mod:`htsr_utils.storage.entries`:
        an interrupted write leaves no entry behind.

    Returns
    -------
    TrainedModel
        The trained model; ``from_cache`` tells whether it was loaded.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else paths.trained_models_dir()
    cached = _load(config, cache_dir)
    if cached is not None:
        return cached
    data = load_dataset(config.dataset)
    start = time.perf_counter()
    model, curve = _fit(config, data)
    result = TrainedModel(
        model=model,
        config=config,
        train_acc=_accuracy(model, data.X_train, data.y_train),
        test_acc=_accuracy(model, data.X_test, data.y_test),
        train_seconds=time.perf_counter() - start,
        from_cache=False,
        epoch_train_acc=curve,
    )
    _save(result, data.in_features, cache_dir)
    return result


def _train_to_cache(config: TrainConfig, cache_dir: Path) -> None:
    """Train ``config`` into the cache (the job of one worker process)."""
    train_model(config, cache_dir)


def train_models(
    configs: Sequence[TrainConfig], cache_dir: Path | None = None, workers: int = 1,
) -> list[TrainedModel]:
    """Train (or load) several models, the missing ones in ``workers`` processes.

    Every model is trained in one process with one thread from its own seed, so the weights
    are bitwise identical whatever ``workers`` is; the workers only write the cache, which
    is then read in order.

    Parameters
    ----------
    configs : sequence of TrainConfig
        What to train.
    cache_dir : pathlib.Path, optional
        Model cache, see :func:`train_model`.
    workers : int, default 1
        Processes that train the missing models (``spawn``ed; 1 trains here, in order).

    Returns
    -------
    list of TrainedModel
        In the order of ``configs``; ``from_cache`` is False for the models trained by this call.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else paths.trained_models_dir()
    missing = list(dict.fromkeys(c for c in configs if _load(c, cache_dir) is None))
    if workers > 1 and len(missing) > 1:
        with process_pool(min(workers, len(missing))) as pool:
            list(pool.map(_train_to_cache, missing, [cache_dir] * len(missing)))
    results = [train_model(config, cache_dir) for config in configs]
    for result in results:
        result.from_cache = result.config not in missing
    return results


def quick_values(values: Sequence) -> tuple:
    """First, middle and last of ``values`` (without duplicates): the members of a smoke test."""
    picked = (values[0], values[len(values) // 2], values[-1])
    return tuple(dict.fromkeys(picked))


def quick_settings(values: Sequence, seeds: Sequence[int],
                   base: TrainConfig) -> tuple[tuple, tuple[int, ...], TrainConfig]:
    """The smoke test of quick mode: :func:`quick_values`, the first seed, a third of the epochs.

    Parameters
    ----------
    values : sequence
        Knob values of the full run.
    seeds : sequence of int
        Seeds of the full run.
    base : TrainConfig
        Configuration of the full run.

    Returns
    -------
    tuple
        ``(values, seeds, base)`` of the quick run.
    """
    return quick_values(values), tuple(seeds)[:1], dataclasses.replace(base, epochs=max(1, base.epochs // 3))


def knob_configs(
    base: TrainConfig, knob: str, values: Sequence, seeds: Sequence[int], quick: bool = False,
) -> list[TrainConfig]:
    """One configuration per value of ``knob`` and per seed, every other field from ``base``.

    Parameters
    ----------
    base : TrainConfig
        Settings of every other field.
    knob : str
        The :class:`TrainConfig` field to vary, e.g. ``"batch_size"``, ``"lr"``, ``"width"``
        or ``"depth"``; also recorded as each configuration's ``knob``.
    values : sequence
        Values of ``knob``.
    seeds : sequence of int
        Training seeds per value.
    quick : bool, default False
        Smoke test (:func:`quick_settings`): first, middle and last value, first seed, a
        third of the epochs.

    Returns
    -------
    list of TrainConfig
        Ordered by value, then seed.

    Raises
    ------
    ValueError
        If ``knob`` is not a field of :class:`TrainConfig` that may vary.
    """
    allowed = {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset", "knob", "seed"}
    if knob not in allowed:
        raise ValueError(f"knob must be one of {sorted(allowed)}, got {knob!r}")
    if quick:
        values, seeds, base = quick_settings(values, seeds, base)
    return [dataclasses.replace(base, knob=knob, seed=seed, **{knob: value}) for value in values for seed in seeds]
