"""The trend claims of the family notebooks: published signs per series, computed against published."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from htsr_utils.apps.claims import ClaimNotSupported, Claims
from htsr_utils.models.registry import list_models
from htsr_utils.paper.reference_data import join_reference, published_values
from htsr_utils.paper.zoo_claims import published_trends, record_trends, trend_evidence


def test_published_trends_are_kendall_tau_of_the_published_values_per_series():
    models = [*list_models("VGG"), *list_models("DenseNet"), *list_models("SqueezeNet"), "googlenet"]
    trends = published_trends(models).set_index("series")
    paper = published_values("sdm2020").drop_duplicates("model").set_index("model")
    vgg = paper.loc[list_models("VGG")]
    tau, p = stats.kendalltau(vgg["alpha_hat"], vgg["top1_used"])
    assert trends.loc["VGG", "n"] == 8 and trends.loc["VGG", "trend"] == "holds"
    assert trends.loc["VGG", "kendall_tau"] == pytest.approx(tau) and trends.loc["VGG", "kendall_p"] == pytest.approx(p)
    # the torchvision DenseNets: 4 of 6 pairs ordered as predicted, 2 not: tau = (2 - 4) / 6
    assert trends.loc["DenseNet (torchvision)", "kendall_tau"] == pytest.approx(-1 / 3)
    # two published SqueezeNets per library: no trend; GoogLeNet has no published value
    assert (trends.loc[["SqueezeNet (torchvision)", "SqueezeNet (pytorchcv)"], "trend"] == "n/a").all()
    assert "GoogLeNet" not in trends.index
    assert list(published_trends(list_models("VGG"), "log_norm")["trend"]) == ["holds"]


def _run(alpha_hat, series="MENet", library="pytorchcv"):
    """A joined summary of three MENets whose computed alpha-hat is ``alpha_hat``."""
    models = ["pytorchcv_menet108_8x1_g3", "pytorchcv_menet128_8x1_g4", "pytorchcv_menet228_12x1_g3"]
    summary = join_reference(pd.DataFrame({"alpha_hat": alpha_hat}, index=pd.Index(models, name="model")),
                             convention="sdm2020", snapshot="paper")
    return summary.assign(series=series, library=library)


MENETS = list_models("MENet")
PUBLISHED_MENET = [5.307787, 4.464094, 4.818039]  # published: tau = +1/3 over these three


def test_random_weights_check_the_published_trends_and_say_why_not_the_computed_ones():
    claims = Claims("06_counterexamples")
    computed = record_trends(claims, {"MENet": "reversed"}, published_trends(MENETS), _run([1.0, 2.0, 3.0]),
                             weights="random", snapshot="paper")
    (claim,) = claims.checked
    assert claim == "MENet: in the published values alpha-hat rises with top-1 (tau > 0)"
    assert claims.checked[claim] == "tau = +0.24, p = 0.56, n = 7"
    (reason,) = claims.unchecked.values()
    assert reason.startswith("random-init weights")
    assert computed.set_index("series").loc["MENet", "trend_published"] == "reversed"
    with pytest.raises(ClaimNotSupported, match="MENet: in the published values alpha-hat falls"):
        record_trends(Claims("x"), {"MENet": "holds"}, published_trends(MENETS), _run([1.0, 2.0, 3.0]),
                      weights="random", snapshot="paper")
    with pytest.raises(ValueError, match="'holds' or 'reversed'"):
        record_trends(Claims("x"), {"MENet": "n/a"}, published_trends(MENETS), _run([1.0, 2.0, 3.0]),
                      weights="random", snapshot="paper")


def test_pretrained_weights_hold_the_computed_sign_to_the_published_one():
    claims = Claims("06_counterexamples")
    record_trends(claims, {}, published_trends(MENETS), _run(np.add(PUBLISHED_MENET, 0.01)),
                  weights="pretrained", snapshot="paper")
    (evidence,) = claims.checked.values()
    assert evidence == "computed tau = +0.33, p = 1, n = 3; published tau = +0.33, p = 1, n = 3"
    with pytest.raises(ClaimNotSupported, match="gives the published trend"):
        record_trends(Claims("x"), {}, published_trends(MENETS), _run([5.0, 4.0, 3.0]),
                      weights="pretrained", snapshot="paper")
    # "latest": pytorchcv's files are not the paper's, so the sign is not held to the published one
    latest = Claims("x")
    record_trends(latest, {}, published_trends(MENETS), _run([5.0, 4.0, 3.0]), weights="pretrained",
                  snapshot="latest")
    assert latest.counts() == (0, 1) and "snapshot latest" in next(iter(latest.unchecked.values()))


def test_a_series_of_two_analyzed_models_is_not_judged():
    claims = Claims("x")
    two = _run(PUBLISHED_MENET).iloc[:2]
    record_trends(claims, {}, published_trends(MENETS), two, weights="pretrained", snapshot="paper")
    assert claims.counts() == (0, 1) and "fewer than 3 give no trend" in next(iter(claims.unchecked.values()))
    assert trend_evidence(2, np.nan, np.nan) == "n = 2: no trend"


def test_a_stated_series_this_run_did_not_analyze_is_recorded_as_not_checked():
    claims = Claims("x")
    nothing = _run(PUBLISHED_MENET).iloc[:0]  # every weight file missing
    record_trends(claims, {"MENet": "reversed"}, published_trends(MENETS), nothing, weights="pretrained",
                  snapshot="paper")
    assert claims.counts() == (1, 1)
    assert claims.unchecked == {"MENet: the computed alpha-hat gives the published trend over the models analyzed":
                                "no model of the series analyzed in this run"}
