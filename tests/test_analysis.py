"""Tests of htsr_utils.experiments.analysis: layer inventory, analysis of trained models, metric rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, summarize
from htsr_utils.engine.metrics import SUMMARY_METRICS
from htsr_utils.experiments import analysis
from htsr_utils.experiments.architectures import build_cnn1d, build_mlp


def test_weight_layers_in_model_order():
    assert analysis.weight_layers(build_mlp(40, 64)) == ["0", "2", "4"]
    assert analysis.weight_layers(build_cnn1d(40, depth=3, width=64)) == ["conv1", "conv2", "conv3", "fc", "out"]
    assert analysis.weight_layers(nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8))) == ["1"]


def test_layer_inventory_says_which_matrices_each_convention_analyzes():
    inventory = analysis.layer_inventory(build_mlp(40, 64), ["sdm2020", "ww"])
    assert list(inventory.columns) == ["layer", "out_dim", "in_dim", "convention", "matrices", "shape", "skipped"]
    sdm, ww = (inventory[inventory["convention"] == c] for c in ("sdm2020", "ww"))
    assert sdm[["out_dim", "in_dim"]].values.tolist() == [[64, 40], [64, 64], [10, 64]]
    # the authors' rule: every Linear weight is kept, whatever its size
    assert sdm["matrices"].tolist() == [1, 1, 1]
    assert sdm["shape"].tolist() == ["64 x 40", "64 x 64", "64 x 10"]
    assert (sdm["skipped"] == "").all()
    assert (ww["matrices"] == 1).all() and (ww["skipped"] == "").all()


def test_layer_inventory_counts_kernel_slices():
    inventory = analysis.layer_inventory(build_cnn1d(40, depth=2, width=64), ["natcomm2021"]).set_index("layer")
    assert inventory.loc["conv2", "matrices"] == 5 and inventory.loc["conv2", "shape"] == "64 x 64"
    assert inventory.loc["conv2", ["out_dim", "in_dim"]].tolist() == [64, 64]
    assert inventory.loc["conv1", "matrices"] == 0 and inventory.loc["conv1", "skipped"] == "below min dim"
    sdm = analysis.layer_inventory(build_cnn1d(40, depth=2, width=64), ["sdm2020"]).set_index("layer")
    assert (sdm.loc[["conv1", "conv2"], "matrices"] == 0).all()  # the authors analyzed no Conv1d
    assert "Conv1d layers are not analyzed" in sdm.loc["conv2", "skipped"]


def test_a_layer_kept_only_for_the_spectral_norm_is_below_min_dim():
    inventory = analysis.layer_inventory(build_mlp(40, 64), ["natcomm2021"])
    assert inventory["skipped"].tolist() == ["below min dim", "", "below min dim"]


def test_analyze_models_gives_the_details_or_the_reason():
    torch.manual_seed(0)
    model, diverged = build_mlp(100, 64), build_mlp(100, 64)
    with torch.no_grad():
        diverged[2].weight[0, 0] = float("inf")
    (details, status), *others = analysis.analyze_models([model, diverged, nn.Sequential(nn.Conv2d(1, 8, 3))],
                                                             "sdm2020")
    assert status == analysis.OK
    pd.testing.assert_frame_equal(details, analyze(model, "sdm2020"))
    assert others == [(None, "NonFiniteWeightsError"), (None, "NoAnalyzableLayersError")]


def test_summary_metrics_and_their_table():
    torch.manual_seed(0)
    details = analyze(build_mlp(100, 64), "sdm2020")
    row = analysis.summary_metrics(details, "shared_")
    expected = summarize(details)
    assert list(row) == [f"shared_{m}" for m in SUMMARY_METRICS]
    assert all(row[f"shared_{m}"] == pytest.approx(expected[m], nan_ok=True) for m in SUMMARY_METRICS)
    missing = analysis.summary_metrics(None)
    assert list(missing) == SUMMARY_METRICS and np.isnan(list(missing.values())).all()
    assert np.isnan(list(analysis.summary_metrics(details.iloc[:0]).values())).all()

    table = analysis.metrics_table([analysis.summary_metrics(details) | row, missing | row], prefixes=("", "shared_"))
    for count in ("L", "N_alpha", "shared_L", "shared_N_alpha"):
        assert str(table[count].dtype) == "Int64"
    assert table["L"].tolist()[0] == expected["L"] and table["L"].isna().tolist() == [False, True]
