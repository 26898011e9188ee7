"""Tests of htsr_utils.experiments: offline datasets, architectures, deterministic cached training."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

from htsr_utils.engine.layers import weight_matrices
from htsr_utils.engine.random_matrix import permute_entries
from htsr_utils.experiments import architectures, datasets
from htsr_utils.experiments import training as trained
from htsr_utils.experiments.datasets import load_dataset
from htsr_utils.experiments.training import TrainConfig, knob_configs, train_model
from htsr_utils.paper.regression import rank_correlations

# Tiny but real: two passes with small batches reach ~0.87 test accuracy on MNIST.
TINY = TrainConfig(dataset="mnist", batch_size=16, lr=0.1, width=64, epochs=2, seed=0)


@pytest.mark.parametrize(
    ("name", "n_features"), [("mnist", 784), ("mnist1d", 40)]
)
def test_dataset_shapes_and_balance(name: str, n_features: int) -> None:
    data = load_dataset(name)
    assert data.X_train.shape == (4000, n_features)
    assert data.X_test.shape == (1000, n_features)
    assert data.y_train.shape == (4000,) and data.y_test.shape == (1000,)
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    for labels in (data.y_train, data.y_test):
        counts = torch.bincount(labels, minlength=10)
        assert counts.min() >= 0.5 * len(labels) / 10
        assert counts.max() <= 1.5 * len(labels) / 10


def test_mnist_is_scaled_shuffled_stratified() -> None:
    data = load_dataset("mnist")
    assert data.X_train.min() >= 0.0 and data.X_train.max() <= 1.0
    assert len(torch.unique(data.y_train[:100])) > 1
    assert len(torch.unique(data.y_test[:100])) > 1
    assert torch.bincount(data.y_train).tolist() == [400] * 10
    assert torch.bincount(data.y_test).tolist() == [100] * 10


def test_split_is_deterministic() -> None:
    first = load_dataset("mnist", seed=0)
    datasets._load_mnist.cache_clear()
    again = load_dataset("mnist", seed=0)
    assert torch.equal(first.X_train, again.X_train)
    assert torch.equal(first.y_test, again.y_test)
    labels = np.repeat(np.arange(10), 50)
    train0, test0 = datasets._stratified_split(labels, seed=0)
    train1, _ = datasets._stratified_split(labels, seed=1)
    assert np.array_equal(train0, datasets._stratified_split(labels, seed=0)[0])
    assert not np.array_equal(train0, train1)
    assert sorted(np.concatenate([train0, test0]).tolist()) == list(range(500))


def test_mnist1d_keeps_global_rng() -> None:
    datasets._load_mnist1d.cache_clear()
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    load_dataset("mnist1d")
    assert np.random.rand() == expected


def test_unknown_dataset_and_optimizer() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="unknown dataset"):
        TrainConfig(dataset="cifar10")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="adam")


def test_training_accuracy_determinism_and_cache(tmp_path) -> None:
    first = train_model(TINY, tmp_path / "a")
    second = train_model(TINY, tmp_path / "b")
    assert not first.from_cache and not second.from_cache
    assert first.test_acc > 0.8
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name

    cached = train_model(TINY, tmp_path / "a")
    assert cached.from_cache
    assert (cached.train_acc, cached.test_acc) == (first.train_acc, first.test_acc)
    for a, b in zip(cached.model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.are_deterministic_algorithms_enabled()


def test_epoch_train_accuracy_is_the_learning_curve(tmp_path) -> None:
    # lr 0: the weights never move, so every epoch's running accuracy is the final train accuracy.
    frozen = train_model(dataclasses.replace(TINY, lr=0.0, epochs=3), tmp_path)
    assert frozen.epoch_train_acc == pytest.approx((frozen.train_acc,) * 3)
    learning = train_model(TINY, tmp_path)
    assert len(learning.epoch_train_acc) == TINY.epochs
    assert learning.epoch_train_acc[0] < learning.epoch_train_acc[1] <= 1.0
    # the first epoch of a longer run is the same epoch; the curve survives the cache
    assert train_model(dataclasses.replace(TINY, epochs=1), tmp_path).epoch_train_acc == learning.epoch_train_acc[:1]
    assert train_model(TINY, tmp_path).epoch_train_acc == learning.epoch_train_acc


def test_cache_key_ignores_knob_label_only() -> None:
    assert TINY.cache_key() == dataclasses.replace(TINY, knob="width").cache_key()
    assert TINY.cache_key() != dataclasses.replace(TINY, seed=1).cache_key()


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch) -> None:
    real_save = torch.save

    def save_then_crash(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_model(TINY, tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert trained._load(TINY, tmp_path) is None


def test_entry_files_and_sidecar(tmp_path) -> None:
    first = train_model(TINY, tmp_path)
    stem = f"mnist-{TINY.cache_key()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.json", f"{stem}.pt"]
    meta = json.loads((tmp_path / f"{stem}.json").read_text())
    assert meta["pt_sha256"] == hashlib.sha256((tmp_path / f"{stem}.pt").read_bytes()).hexdigest()
    assert meta["config"] == dataclasses.asdict(TINY) and meta["test_acc"] == first.test_acc
    # Weights the sidecar does not vouch for (another run, a torn copy) are not used.
    (tmp_path / f"{stem}.pt").write_bytes((tmp_path / f"{stem}.pt").read_bytes()[:-1])
    assert trained._load(TINY, tmp_path) is None
    assert not train_model(TINY, tmp_path).from_cache
    assert trained._load(TINY, tmp_path) is not None


def test_knob_configs_vary_one_field() -> None:
    configs = knob_configs(TINY, "width", (32, 64, 128, 256), seeds=(0, 1))
    assert [(c.width, c.seed) for c in configs[:3]] == [(32, 0), (32, 1), (64, 0)]
    assert all(c.knob == "width" and c.batch_size == TINY.batch_size for c in configs)
    quick = knob_configs(TINY, "width", (32, 64, 128, 256), seeds=(0, 1), quick=True)
    assert [c.width for c in quick] == [32, 128, 256]
    assert all(c.seed == 0 and c.epochs == 1 for c in quick)


@pytest.mark.parametrize("knob", ["dropout", "dataset", "seed"])
def test_knob_configs_reject_a_field_that_may_not_vary(knob) -> None:
    with pytest.raises(ValueError, match="knob"):
        knob_configs(TINY, knob, (1, 2), seeds=(0,))


def test_permute_entries_keeps_values() -> None:
    weights = torch.randn(30, 50)
    permuted = permute_entries(weights, seed=0)
    assert permuted.shape == weights.shape
    assert torch.equal(permuted.flatten().sort().values, weights.flatten().sort().values)
    assert not torch.equal(permuted, weights)
    assert torch.equal(permuted, permute_entries(weights, seed=0))


def test_correlations_monotone() -> None:
    x = np.arange(10.0)
    table = pd.DataFrame({"test_acc": x, "up": x**3, "down": -np.exp(x), "gap": x})
    table.loc[3, "gap"] = np.nan
    result = rank_correlations(table, ["up", "down", "gap"])
    assert result.loc["up", "spearman"] == pytest.approx(1.0)
    assert result.loc["up", "kendall_tau"] == pytest.approx(1.0)
    assert result.loc["down", "spearman"] == pytest.approx(-1.0)
    assert result.loc["gap", "n"] == 9
    assert list(result.columns) == ["spearman", "spearman_p", "kendall_tau", "kendall_p", "n"]


# --------------------------------------------------------------------------- CNNs (notebook 11)

TINY_CNN = TrainConfig(dataset="mnist1d", arch="cnn1d", depth=2, width=16, batch_size=32, lr=0.02,
                       momentum=0.9, epochs=3, seed=0)


def test_mlp_cache_keys_unchanged_by_new_fields() -> None:
    # Keys of configurations made before arch, depth and momentum existed: they must not change.
    assert TINY.cache_key() == "f612ace3546fe9b0"
    assert trained.default_config("mnist1d").cache_key() == "d0ab77b9a6a7b87e"
    assert TINY.cache_key() != dataclasses.replace(TINY, momentum=0.9).cache_key()
    assert TINY_CNN.cache_key() != dataclasses.replace(TINY_CNN, depth=3).cache_key()


def test_new_config_fields_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        TrainConfig(arch="resnet")
    with pytest.raises(ValueError, match="fixed depth"):
        TrainConfig(arch="mlp", depth=3)
    with pytest.raises(ValueError, match="depth >= 1"):
        TrainConfig(arch="cnn1d", depth=0)
    with pytest.raises(ValueError, match="784"):
        architectures.build_vgg2d(40, depth=2, width=64)


def test_mnist1d_large_split_and_global_rng() -> None:
    datasets._load_mnist1d_large.cache_clear()
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    data = load_dataset("mnist1d_large")
    assert np.random.rand() == expected
    assert data.X_train.shape == (4000, 40) and data.X_test.shape == (6000, 40)
    assert torch.bincount(data.y_test, minlength=10).min() > 450


@pytest.mark.parametrize(("arch", "in_features", "slices"), [("cnn1d", 40, 5), ("vgg2d", 784, 9)])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_cnn_builders_and_the_matrices_sdm2020_keeps(arch, in_features, slices, depth) -> None:
    model = trained.build_model(TrainConfig(arch=arch, depth=depth, width=64), in_features)
    assert model(torch.zeros(3, in_features)).shape == (3, 10)
    extraction = weight_matrices(model, "sdm2020")
    kept = [(m.layer, m.N, m.M) for m in extraction.matrices]
    fc_in = 64 if arch == "cnn1d" else 9 * 64
    # Every Linear is kept (out: 10 logits too); no Conv1d is analyzed; a Conv2D slice only if
    # min(N, M) >= 50 (not conv1, one input channel).
    convs = [] if arch == "cnn1d" else [(f"conv{i}", 64, 64) for i in range(2, depth + 1) for _ in range(slices)]
    assert kept == convs + [("fc", max(fc_in, 64), 64), ("out", 64, 10)]
    skipped = {f"conv{i}" for i in range(1, depth + 1)} if arch == "cnn1d" else {"conv1"}
    assert {s.layer for s in extraction.skipped} == skipped
    # Below 50 channels no convolution is analyzed.
    narrow = trained.build_model(TrainConfig(arch=arch, depth=depth, width=49), in_features)
    assert {m.layer for m in weight_matrices(narrow, "sdm2020").matrices} == {"fc", "out"}


def test_tiny_cnn_is_bitwise_deterministic_and_cached(tmp_path) -> None:
    first = train_model(TINY_CNN, tmp_path / "a")
    second = train_model(TINY_CNN, tmp_path / "b")
    assert first.train_acc > 0.3  # learns something in three epochs (chance: 0.1)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    cached = train_model(TINY_CNN, tmp_path / "a")
    assert cached.from_cache and isinstance(cached.model[1], torch.nn.Conv1d)
    for a, b in zip(cached.model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_train_models_in_workers_equals_serial(tmp_path) -> None:
    configs = [TINY_CNN, dataclasses.replace(TINY_CNN, seed=1), dataclasses.replace(TINY_CNN, depth=3)]
    serial = trained.train_models(configs, tmp_path / "serial", workers=1)
    parallel = trained.train_models(configs, tmp_path / "parallel", workers=2)
    assert not any(m.from_cache for m in serial + parallel)
    for s, p in zip(serial, parallel, strict=True):
        assert s.config == p.config and (s.train_acc, s.test_acc) == (p.train_acc, p.test_acc)
        for a, b in zip(s.model.state_dict().values(), p.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)
    again = trained.train_models(configs, tmp_path / "parallel", workers=2)
    assert all(m.from_cache for m in again)
