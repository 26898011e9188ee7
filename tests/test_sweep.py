"""Tests of htsr_utils.experiments.sweep (notebook 09_trained_here): configurations, training, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from htsr_utils import analyze, summarize
from htsr_utils.engine.metrics import SUMMARY_METRICS
from htsr_utils.experiments import series, sweep
from htsr_utils.experiments.analysis import PREDICTED_NEGATIVE
from htsr_utils.experiments.architectures import build_mlp
from htsr_utils.experiments.training import DEFAULT_EPOCHS, TrainConfig, TrainedModel, train_models


def _stand_ins(n: int = 3, nan_last: bool = False) -> list[TrainedModel]:
    """Untrained MLPs standing in for a sweep (batch sizes 16, 32, ...), accuracies made up."""
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
    assert sweep.knob_values("batch_size") == (16, 32, 64, 128, 256, 512)
    assert sweep.knob_values("lr", [0.1]) == (0.1,)
    with pytest.raises(ValueError, match="no default values for knob 'epochs'"):
        sweep.knob_values("epochs")


def test_sweep_configs_fix_every_field_but_the_knob():
    configs = sweep.sweep_configs(["mnist1d", "mnist"], "batch_size", seeds=(0, 1), lr=0.1, width=None)
    assert [(c.dataset, c.batch_size, c.seed) for c in configs[:3]] == [("mnist1d", 16, 0), ("mnist1d", 16, 1),
                                                                        ("mnist1d", 32, 0)]
    assert len(configs) == 24 and configs[12].dataset == "mnist"
    assert {(c.dataset, c.knob, c.lr, c.width, c.epochs) for c in configs} == {
        (d, "batch_size", 0.1, 256, DEFAULT_EPOCHS[d]) for d in ("mnist", "mnist1d")}
    # The knob is never overridden by a fixed value.
    widths = sweep.sweep_configs(["mnist"], "width", (64, 128), seeds=(0,), width=256)
    assert [c.width for c in widths] == [64, 128]
    quick = sweep.sweep_configs(["mnist"], seeds=(0, 1, 2), quick=True)
    assert [c.batch_size for c in quick] == [16, 128, 512]
    assert all(c.seed == 0 and c.epochs == DEFAULT_EPOCHS["mnist"] // 3 for c in quick)


def test_sweep_metrics_equal_summarize_of_analyze():
    models = _stand_ins()
    table = sweep.sweep_metrics(models, "sdm2020")
    assert list(table.columns[:6]) == ["dataset", "knob", "knob_value", "seed", "train_acc", "test_acc"]
    assert list(table.columns[6:6 + len(SUMMARY_METRICS)]) == SUMMARY_METRICS
    assert list(table.columns[6 + len(SUMMARY_METRICS):]) == ["batch_size", "lr", "width", "epochs",
                                                               "analysis_status"]
    assert (table["analysis_status"] == "ok").all()
    assert table["knob_value"].tolist() == [16, 32, 64]
    assert table.attrs["convention"] == "sdm2020"
    for row, m in zip(table.itertuples(), models):
        expected = summarize(analyze(m.model, "sdm2020"))
        for metric in SUMMARY_METRICS:
            assert getattr(row, metric) == pytest.approx(expected[metric], nan_ok=True), metric


def test_a_diverged_model_keeps_its_row_with_a_reason():
    table = sweep.sweep_metrics(_stand_ins(nan_last=True), "sdm2020")
    assert table["analysis_status"].tolist() == ["ok", "ok", "NonFiniteWeightsError"]
    assert table.loc[2, SUMMARY_METRICS].isna().all() and table.loc[:1, "alpha_mean"].notna().all()
    assert str(table["L"].dtype) == "Int64" and table["L"].isna().tolist() == [False, False, True]


def test_sweep_metrics_refuses_an_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        sweep.sweep_metrics(_stand_ins(1), "sdm2021")


def test_a_quick_sweep_trains_and_is_cached(tmp_path):
    configs = sweep.sweep_configs(["mnist1d"], values=(64, 128, 256, 512), seeds=(0, 1), quick=True,
                                  lr=0.1, width=32, epochs=3)
    models = train_models(configs, tmp_path)
    assert [m.config.batch_size for m in models] == [64, 256, 512]
    assert all(m.config.epochs == 1 and m.config.seed == 0 and m.config.width == 32 for m in models)
    assert not any(m.from_cache for m in models)
    table = sweep.sweep_metrics(models, "sdm2020")
    assert table["knob_value"].tolist() == [64, 256, 512] and (table["dataset"] == "mnist1d").all()
    # sdm2020 keeps every Linear weight, however small, as the authors' code did.
    assert (table["analysis_status"] == "ok").all() and (table["L"] == 3).all()
    # Width 32 is below natcomm2021's min(N, M) = 50: no matrix to analyze, said in the row.
    natcomm = sweep.sweep_metrics(models, "natcomm2021")
    assert (natcomm["analysis_status"] == "NoAnalyzableLayersError").all()
    assert all(m.from_cache for m in train_models(configs, tmp_path))


def _sweep_table(accuracies, seeds=(0,)) -> pd.DataFrame:
    """A sweep table with made-up metrics: alpha_mean falls and log_norm rises with test accuracy."""
    rows = []
    for seed in seeds:
        for i, acc in enumerate(accuracies):
            acc = acc + 0.001 * seed
            rows.append({"dataset": "d", "knob_value": 16 * 2**i, "seed": seed, "test_acc": acc}
                        | {m: np.nan for m in PREDICTED_NEGATIVE}
                        | {"alpha_mean": 5 - 3 * acc, "log_norm": acc, "alpha_hat": (-1) ** i * acc})
    return pd.DataFrame(rows)


def test_sweep_verdicts_apply_the_rule_with_the_knob_as_baseline():
    accuracies = (0.9, 0.8, 0.85, 0.7, 0.75, 0.6)  # the knob ranks them nearly, not exactly
    table = _sweep_table(accuracies, seeds=(0, 1, 2))
    verdicts = sweep.sweep_verdicts(table).loc["d"]
    assert list(verdicts.index) == ["alpha_hat", "alpha_mean", "log_norm", "knob_value"]  # undefined ones left out
    tau = stats.kendalltau(table["alpha_mean"], table["test_acc"])
    assert verdicts.loc["alpha_mean", "kendall_tau"] == pytest.approx(tau.statistic) == pytest.approx(-1.0)
    assert verdicts.loc["alpha_mean", "kendall_p"] == pytest.approx(tau.pvalue)
    assert verdicts.loc["alpha_mean", "verdict"] == "confirmed" and verdicts.loc["log_norm", "verdict"] == "contradicted"
    knob = stats.kendalltau(table["knob_value"], table["test_acc"]).statistic
    assert verdicts.loc["knob_value", "kendall_tau"] == pytest.approx(knob) and -1 < knob < 0
    assert verdicts.loc["knob_value", "verdict"] == "baseline"
    assert verdicts["beats_knob"].tolist() == [abs(verdicts.loc["alpha_hat", "kendall_tau"]) > abs(knob),
                                               True, True, False]
    assert verdicts.loc["alpha_mean", "n"] == 18
    assert verdicts.loc["alpha_mean", "detectable_tau"] == pytest.approx(series.design_power(18)["detectable_tau"])


def test_a_quick_sweep_gets_no_verdict():
    verdicts = sweep.sweep_verdicts(_sweep_table((0.9, 0.8, 0.7))).loc["d"]
    assert (verdicts.loc[["alpha_mean", "log_norm", "knob_value"], "kendall_tau"].abs() == 1.0).all()  # perfect, undecidable
    assert (verdicts["verdict"].drop("knob_value") == "no verdict: n = 3 cannot reach p < 0.05").all()
