"""Tests of htsr_utils.experiments.trained_family (notebook 09_trained_here), on untrained MLPs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from htsr_utils import analyze, summarize  # noqa: E402
from htsr_utils.engine.metrics import SUMMARY_METRICS  # noqa: E402
from htsr_utils.experiments import trained_family as tf  # noqa: E402
from htsr_utils.experiments.architectures import build_mlp  # noqa: E402
from htsr_utils.experiments.training import TrainConfig, TrainedModel


def _family(n: int = 3, nan_last: bool = False) -> list[TrainedModel]:
    """Untrained MLPs standing in for a family (batch sizes 16, 32, ...), accuracies made up."""
    models = []
    for i in range(n):
        torch.manual_seed(i)
        mlp = build_mlp(100, 64)
        if nan_last and i == n - 1:
            with torch.no_grad():
                mlp[2].weight[0, 0] = float("nan")
        config = TrainConfig(dataset="mnist", knob="batch_size", batch_size=16 * 2**i, width=64, seed=0)
        models.append(TrainedModel(model=mlp, config=config, train_acc=0.9 - 0.1 * i, test_acc=0.8 - 0.1 * i,
                                   train_seconds=0.0, from_cache=False))
    return models


def test_knob_values_defaults_and_errors():
    assert tf.knob_values("batch_size") == (16, 32, 64, 128, 256, 512)
    assert tf.knob_values("lr", [0.1]) == (0.1,)
    with pytest.raises(ValueError, match="no default values for knob 'epochs'"):
        tf.knob_values("epochs")


def test_family_metrics_equal_summarize_of_analyze():
    models = _family()
    table = tf.family_metrics(models, "sdm2020")
    assert list(table.columns[:6]) == ["dataset", "knob", "knob_value", "seed", "train_acc", "test_acc"]
    assert list(table.columns[6:6 + len(SUMMARY_METRICS)]) == SUMMARY_METRICS
    assert table.columns[-1] == "analysis_status" and (table["analysis_status"] == "ok").all()
    assert table["knob_value"].tolist() == [16, 32, 64]
    for row, m in zip(table.itertuples(), models):
        expected = summarize(analyze(m.model, "sdm2020"))
        for metric in SUMMARY_METRICS:
            assert getattr(row, metric) == pytest.approx(expected[metric], nan_ok=True), metric


def test_a_diverged_model_keeps_its_row_with_a_reason():
    table = tf.family_metrics(_family(nan_last=True), "sdm2020")
    assert table["analysis_status"].tolist() == ["ok", "ok", "NonFiniteWeightsError"]
    assert table.loc[2, SUMMARY_METRICS].isna().all() and table.loc[:1, "alpha_mean"].notna().all()


def test_layer_inventory_says_which_matrices_each_convention_analyzes():
    inventory = tf.layer_inventory(["mnist1d"], 64, ["sdm2020", "ww"])
    assert inventory[["N_out", "M_in"]].values.tolist() == [[64, 40], [64, 64], [10, 64]]
    assert inventory["sdm2020"].tolist()[1] == "analyzed"
    assert all("50" in reason for reason in inventory["sdm2020"].tolist()[::2])  # min(N, M) < 50
    assert (inventory["ww"] == "analyzed").all()


def test_metrics_figure_shows_every_model():
    table = tf.family_metrics(_family(nan_last=True), "sdm2020")
    table["alpha_hat_star"] = np.nan  # as on MNIST-1D under sdm2020: one analyzed layer
    fig = tf.plot_metrics_vs_accuracy(table, ["alpha_mean", "alpha_hat_star"])
    axes = fig.axes[:2]
    offsets = np.ma.filled(np.ma.asarray(axes[0].collections[0].get_offsets(), dtype=float), np.nan)
    finite = np.isfinite(offsets).all(axis=1)
    assert finite.sum() == 2  # two analyzed models; the diverged one has no alpha
    np.testing.assert_allclose(offsets[finite], table.loc[:1, ["alpha_mean", "test_acc"]].to_numpy(float))
    assert "undefined for every model" in [t.get_text() for t in axes[1].texts]
    assert axes[0].get_ylabel().startswith("mnist: test accuracy")
    plt.close(fig)


def test_knob_figure_shows_the_mean_over_seeds_of_each_value():
    table = pd.DataFrame({"dataset": "mnist", "knob": "batch_size", "knob_value": [16, 16, 512, 512],
                          "test_acc": [0.9, 0.8, 0.7, 0.5]})
    fig = tf.plot_knob_effects(table, ["test_acc"])
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_allclose(line.get_xydata(), [[16, 0.85], [512, 0.6]])
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel() == "batch_size"
    plt.close(fig)
