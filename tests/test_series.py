"""Tests of htsr_utils.experiments.series: shared layers, inventory, tables, scores, rule."""

from __future__ import annotations

import dataclasses
import itertools
import math

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
    # sdm2020, the authors' code: no Conv1d, every Linear (fc and the 10-logit out).
    assert sdm.tolist() == [2, 2, 2]
    convs = inv[inv["layer"].str.startswith("conv") & (inv["convention"] == "sdm2020")]
    assert (convs["matrices"] == 0).all() and convs["skipped"].str.contains("Conv1d").all()
    ww = inv[inv["convention"] == "ww"].groupby("member", sort=False)["matrices"].sum()
    assert ww.is_monotonic_increasing and ww.nunique() == 3  # ww pools each Conv1d into one ESD
    natcomm = ser.series_inventory(DEPTH, ["natcomm2021"]).groupby("member", sort=False)["matrices"].sum()
    # natcomm2021: 5 slices of 64 x 64 per conv2.., one fc; conv1 and out below 50.
    assert natcomm.tolist() == [5 * (d - 1) + 1 for d in (2, 3, 4)]
    assert inv.loc[inv["layer"] == "conv4", "shared"].eq(False).all()


def test_series_table_shared_metrics_and_failures() -> None:
    models = _members(DEPTH, [0.8, 0.9, 0.3])
    models[0].epoch_train_acc = tuple(0.1 * i for i in range(8))
    with torch.no_grad():
        models[1].model.fc.weight[0, 0] = float("nan")
    table = ser.series_table(models, DEPTH, "natcomm2021")  # a convention that analyzes the Conv1d slices
    assert table["failed"].tolist() == [False, True, True]
    assert table.loc[0, "plateau_gain"] == pytest.approx(0.2) and table["plateau_gain"][1:].isna().all()
    assert table.loc[1, "status"] == "NonFiniteWeightsError" and np.isnan(table.loc[1, "alpha_hat"])
    assert table.loc[2, "status"].startswith("train accuracy 0.30")
    # Independent: summarize over the rows of analyze() of the shared layers.
    details = analyze(models[2].model, "natcomm2021")
    everything = summarize(details)
    shared = summarize(details[details["layer"].isin(["conv1", "conv2", "fc", "out"])])
    assert table.loc[2, "alpha_hat"] == pytest.approx(everything["alpha_hat"])
    assert table.loc[2, "shared_alpha_hat"] == pytest.approx(shared["alpha_hat"])
    assert table.loc[2, "N_alpha"] == 16 and table.loc[2, "shared_N_alpha"] == 6
    # The shallowest member has only shared layers.
    assert table.loc[0, "alpha_mean"] == pytest.approx(table.loc[0, "shared_alpha_mean"])


def _synthetic(metric_of_acc, seeds=(0, 1, 2), accuracies=(0.70, 0.80, 0.90, 0.95, 0.97)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for k, acc in enumerate(accuracies):
            value = metric_of_acc(acc) + 0.001 * seed
            rows.append({"series": "s", "convention": "sdm2020", "seed": seed, "knob_value": k,
                         "member": f"m{k}", "train_acc": 1.0, "test_acc": acc + 0.002 * seed, "failed": False}
                        | {c: value for m in PREDICTED_NEGATIVE for c in (m, f"shared_{m}")})
    return pd.DataFrame(rows)


def test_member_means_leave_failed_seeds_out() -> None:
    table = _synthetic(lambda acc: 5 - 3 * acc)
    table.loc[0, ["failed", "alpha_hat"]] = [True, 100.0]  # member 0, seed 0
    means = ser.member_means(table).set_index("knob_value")
    assert means["seeds"].tolist() == [2, 3, 3, 3, 3] and means["n_failed"].tolist() == [1, 0, 0, 0, 0]
    member0 = table[(table["knob_value"] == 0) & ~table["failed"]]
    assert means.loc[0, "alpha_hat"] == pytest.approx(np.mean(member0["alpha_hat"]))
    assert means.loc[0, "test_acc_min"] == pytest.approx(0.702) and means.loc[0, "test_acc_max"] == pytest.approx(0.704)


def test_series_scores_on_member_means_against_scipy_and_numpy() -> None:
    table = _synthetic(lambda acc: 5 - 3 * acc)
    table.loc[0, "failed"] = True
    table.loc[0, "alpha_hat"] = 100.0  # a failed model must not enter the means
    scores = ser.series_scores(table).set_index(["metric", "matrices"])
    row = scores.loc[("alpha_hat", "all")]
    good = table[~table["failed"]]
    mean = good.groupby("knob_value")[["alpha_hat", "test_acc"]].mean()
    tau = stats.kendalltau(mean["alpha_hat"], mean["test_acc"], method="exact")
    assert row["members"] == 5 and row["n_failed"] == 1
    assert row["kendall_tau"] == pytest.approx(tau.statistic) == -1.0
    assert row["kendall_p"] == pytest.approx(tau.pvalue) == pytest.approx(2 / 120)
    assert row["smallest_p"] == pytest.approx(2 / 120) and row["detectable_tau"] == 1.0
    slope, intercept = np.polyfit(mean["alpha_hat"], 100 * mean["test_acc"], 1)
    residuals = 100 * mean["test_acc"] - (slope * mean["alpha_hat"] + intercept)
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean(residuals**2)))
    assert row["tau_seed_min"] == pytest.approx(-1.0) == row["tau_seed_max"] and row["seeds_negative"] == 3
    assert row["verdict"] == "confirmed"
    assert len(scores) == 2 * len(PREDICTED_NEGATIVE)

    reversed_ = ser.series_scores(_synthetic(lambda acc: 3 * acc))
    assert (reversed_["verdict"] == "contradicted").all()
    # Four members cannot reach p < 0.05 even when perfectly ranked: no verdict.
    four = ser.series_scores(_synthetic(lambda acc: 5 - 3 * acc, accuracies=(0.7, 0.8, 0.9, 0.95)))
    assert (four["kendall_tau"] == -1.0).all()
    assert (four["verdict"] == "no verdict: n = 4 cannot reach p < 0.05").all()


def _exact_p_by_enumeration(n: int, tau: float) -> float:
    """Two-sided exact p of Kendall's tau: the share of all n! rankings at least as extreme.

    Each ranking's tau from its inversions, counted pair by pair: 1 - 4 * inversions / (n (n - 1)).
    """
    taus = np.array([1 - 4 * sum(a > b for a, b in itertools.combinations(perm, 2)) / (n * (n - 1))
                     for perm in itertools.permutations(range(n))])
    return float(np.mean(np.abs(taus) >= abs(tau) - 1e-12))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_design_power_against_an_enumeration_of_permutations(n: int) -> None:
    power = ser.design_power(n)
    assert power["members"] == n
    assert power["smallest_p"] == pytest.approx(min(1.0, 2 / math.factorial(n)))
    assert power["smallest_p"] == pytest.approx(_exact_p_by_enumeration(n, 1.0))
    pairs = n * (n - 1) // 2
    # every tau the design can produce, with its enumerated p; the detectable one is the smallest below 0.05
    possible = [1 - 2 * k / pairs for k in range(pairs + 1)] if pairs else []
    significant = [t for t in possible if t > 0 and _exact_p_by_enumeration(n, t) < 0.05]
    if significant:
        assert power["detectable_tau"] == pytest.approx(min(significant))
        assert power["p_at_detectable"] == pytest.approx(_exact_p_by_enumeration(n, min(significant)))
    else:
        assert np.isnan(power["detectable_tau"]) and n <= 4


def test_design_power_of_larger_series() -> None:
    assert ser.design_power(8)["detectable_tau"] == pytest.approx(1 - 2 * 5 / 28)  # five discordant pairs
    assert ser.design_power(4)["smallest_p"] == pytest.approx(1 / 12)


def test_series_verdict_follows_the_rule_and_the_design() -> None:
    assert ser.series_verdict(-1.0, 2 / 24, 4).startswith("no verdict: n = 4 ")
    assert ser.series_verdict(-1.0, 2 / 120, 5) == "confirmed"
    assert ser.series_verdict(0.9, 0.01, 8) == "contradicted"
    assert ser.series_verdict(-0.5, 0.1, 8) == "inconclusive"
    assert ser.series_verdict(np.nan, np.nan, 2).startswith("no verdict: n = 2 ")


def test_plateau_gain_compares_the_last_two_quarters() -> None:
    curve = [0.1 * i for i in range(8)]  # quarters of 2 epochs: (0.4, 0.5) then (0.6, 0.7)
    assert ser.plateau_gain(curve) == pytest.approx(0.2)
    assert ser.plateau_gain([0.5] * 6 + [0.9, 0.9, 0.9]) == pytest.approx(0.9 - 0.7)  # q = 2 of 9
    assert ser.plateau_gain([1.0] * 40) == 0.0
    assert np.isnan(ser.plateau_gain([0.5] * 7)) and np.isnan(ser.plateau_gain(()))


def test_reached_plateau_by_a_flat_curve_or_a_fit_training_set() -> None:
    rising = [0.5 + 0.01 * i for i in range(40)]  # gains 10 points over the last quarter
    assert not ser.reached_plateau(rising, train_acc=0.89)
    assert ser.reached_plateau(rising, train_acc=0.995)  # fits the training set
    assert ser.reached_plateau([0.8] * 40, train_acc=0.8)  # flat
    assert not ser.reached_plateau([0.8] * 4, train_acc=0.8)  # too short to tell


def test_quick_configs_and_one_recipe() -> None:
    for s in ser.SERIES.values():
        full = ser.series_configs(s, seeds=(0, 1, 2))
        assert len(full) == 3 * len(s.values)
        assert {(c.lr, c.momentum, c.batch_size) for c in full} == {tuple(ser.RECIPE.values())}
        quick = ser.series_configs(s, seeds=(0, 1, 2), quick=True)
        middle = s.values[len(s.values) // 2]
        assert [getattr(c, s.knob) for c in quick] == [s.values[0], middle, s.values[-1]]
        assert all(c.seed == 0 and c.epochs == max(1, s.base.epochs // 3) for c in quick)
