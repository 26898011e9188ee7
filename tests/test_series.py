"""Tests of htsr_utils.experiments.series: shared layers, inventory, tables, scores, rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from htsr_utils import analyze, summarize
from htsr_utils.experiments import series as ser
from htsr_utils.experiments.analysis import PREDICTED_NEGATIVE
from htsr_utils.experiments.training import TrainConfig, TrainedModel, build_model

DEPTH = ser.Series("toy_depth", "toy", TrainConfig(dataset="mnist1d", arch="cnn1d", depth=2, width=64),
                   "depth", (2, 3, 4))
WIDTH = dataclasses.replace(DEPTH, name="toy_width", knob="width", values=(50, 64, 80))


def _members(series: ser.Series, accuracies: list[float], seed: int = 0) -> list[TrainedModel]:
    """Untrained members (random init) with given accuracies: the analysis needs no training."""
    out = []
    for config, acc in zip(ser.series_configs(series, seeds=(seed,)), accuracies, strict=True):
        torch.manual_seed(config.depth * 1000 + config.width + seed)
        out.append(TrainedModel(build_model(config, 40), config, acc, acc, 0.0, True))
    return out


def test_shared_layers() -> None:
    assert ser.shared_layers(DEPTH) == ["conv1", "conv2", "fc", "out"]
    assert ser.shared_layers(WIDTH) == ["conv1", "conv2", "fc", "out"]  # depth 2: every layer


def test_series_inventory_counts() -> None:
    inv = ser.series_inventory(DEPTH, ["sdm2020", "ww"])
    assert list(inv.columns[:5]) == ["series", "member", "knob_value", "layer", "shared"]
    sdm = inv[inv["convention"] == "sdm2020"].groupby("member", sort=False)["matrices"].sum()
    # sdm2020: 5 slices of 64 x 64 per conv2.., one fc; conv1 and out skipped.
    assert sdm.tolist() == [5 * (d - 1) + 1 for d in (2, 3, 4)]
    ww = inv[inv["convention"] == "ww"].groupby("member", sort=False)["matrices"].sum()
    assert (ww > sdm).all()  # ww also keeps conv1 and out
    conv1 = inv[(inv["layer"] == "conv1") & (inv["convention"] == "sdm2020")]
    assert (conv1["matrices"] == 0).all() and conv1["skipped"].str.contains("< 50").all()
    assert inv.loc[inv["layer"] == "conv4", "shared"].eq(False).all()


def test_series_table_shared_metrics_and_failures() -> None:
    models = _members(DEPTH, [0.8, 0.9, 0.3])
    with torch.no_grad():
        models[1].model.fc.weight[0, 0] = float("nan")
    table = ser.series_table(models, DEPTH, "sdm2020")
    assert table["failed"].tolist() == [False, True, True]
    assert table.loc[1, "status"] == "NonFiniteWeightsError" and np.isnan(table.loc[1, "alpha_hat"])
    assert table.loc[2, "status"].startswith("train accuracy 0.30")
    # Independent: summarize over the rows of analyze() of the shared layers.
    details = analyze(models[2].model, "sdm2020")
    everything = summarize(details)
    shared = summarize(details[details["layer"].isin(["conv1", "conv2", "fc", "out"])])
    assert table.loc[2, "alpha_hat"] == pytest.approx(everything["alpha_hat"])
    assert table.loc[2, "shared_alpha_hat"] == pytest.approx(shared["alpha_hat"])
    assert table.loc[2, "N_alpha"] == 16 and table.loc[2, "shared_N_alpha"] == 6
    # The shallowest member has only shared layers.
    assert table.loc[0, "alpha_mean"] == pytest.approx(table.loc[0, "shared_alpha_mean"])


def _synthetic(metric_of_acc, seeds=(0, 1, 2)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for k, acc in enumerate((0.70, 0.80, 0.90, 0.95)):
            value = metric_of_acc(acc) + 0.001 * seed
            rows.append({"series": "s", "convention": "sdm2020", "seed": seed, "knob_value": k,
                         "test_acc": acc + 0.002 * seed, "failed": False}
                        | {c: value for m in PREDICTED_NEGATIVE for c in (m, f"shared_{m}")})
    return pd.DataFrame(rows)


def test_series_scores_against_scipy_and_numpy() -> None:
    table = _synthetic(lambda acc: 5 - 3 * acc)
    table.loc[0, "failed"] = True
    table.loc[0, "alpha_hat"] = 100.0  # a failed member must not enter the scores
    scores = ser.series_scores(table).set_index(["metric", "matrices"])
    row = scores.loc[("alpha_hat", "all")]
    good = table[~table["failed"]]
    tau = stats.kendalltau(good["alpha_hat"], good["test_acc"])
    assert row["n"] == 11 and row["n_failed"] == 1
    assert row["kendall_tau"] == pytest.approx(tau.statistic)
    assert row["kendall_p"] == pytest.approx(tau.pvalue)
    slope, intercept = np.polyfit(good["alpha_hat"], 100 * good["test_acc"], 1)
    residuals = 100 * good["test_acc"] - (slope * good["alpha_hat"] + intercept)
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(residuals**2)))
    assert row["tau_seed_min"] == row["tau_seed_max"] == -1.0 and row["seeds_negative"] == 3
    assert row["verdict"] == "confirmed"
    assert len(scores) == 2 * len(PREDICTED_NEGATIVE)

    reversed_ = ser.series_scores(_synthetic(lambda acc: 3 * acc))
    assert (reversed_["verdict"] == "contradicted").all()


def test_quick_configs_and_one_recipe() -> None:
    for s in ser.SERIES.values():
        full = ser.series_configs(s, seeds=(0, 1, 2))
        assert len(full) == 3 * len(s.values)
        assert {(c.lr, c.momentum, c.batch_size) for c in full} == {tuple(ser.RECIPE.values())}
        quick = ser.series_configs(s, seeds=(0, 1, 2), quick=True)
        middle = s.values[len(s.values) // 2]
        assert [getattr(c, s.knob) for c in quick] == [s.values[0], middle, s.values[-1]]
        assert all(c.seed == 0 and c.epochs == max(1, s.base.epochs // 3) for c in quick)
