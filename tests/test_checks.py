"""The checks against the authors' numbers, on small summaries where each claim holds and fails."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from htsr_utils.apps.claims import Claims
from htsr_utils.paper.checks import (
    ALPHA_HAT_TOLERANCE,
    CLAIM_ALPHA_HAT,
    CLAIM_BASELINE,
    CLAIM_COUNTS,
    check_alpha_hat_reproduced,
    check_baseline_differs,
    check_matrix_counts,
    check_published,
)


def _summary(alpha_hat: list[float], *, n_alpha: list[int] | None = None) -> pd.DataFrame:
    """Three models (two torchvision, one pytorchcv) with published alpha-hat 1.0, 2.0, 3.0 and
    published counts 10, 20 and none."""
    return pd.DataFrame({
        "library": ["torchvision", "torchvision", "pytorchcv"],
        "alpha_hat": alpha_hat,
        "alpha_hat_published": [1.0, 2.0, 3.0],
        "N_alpha": n_alpha or [10, 20, 99],
        "n_matrices_published": pd.array([10, 20, pd.NA], dtype="Int64"),
    }, index=pd.Index(["a", "b", "c"], name="model"))


REPRODUCED = [1.01, 1.98, 3.04]
OFF_PYTORCHCV = [1.01, 1.98, 3.5]
BASELINE = [4.0, 5.0, 0.5]


def test_matrix_counts_hold_and_fail():
    assert check_matrix_counts(_summary(REPRODUCED)).startswith("N_alpha equals the published matrix count for all 2")
    with pytest.raises(AssertionError, match=r"N_alpha differs from the published count:\n.*\nmodel.*\nb\s+21\s+20$"):
        check_matrix_counts(_summary(REPRODUCED, n_alpha=[10, 21, 99]))


def test_alpha_hat_reproduced_by_snapshot():
    assert "for 3 models" in check_alpha_hat_reproduced(_summary(REPRODUCED), "paper")
    with pytest.raises(AssertionError, match="alpha-hat off the published value"):
        check_alpha_hat_reproduced(_summary(OFF_PYTORCHCV), "paper")
    # "latest": pytorchcv's files are not the paper's, so only torchvision models are held to it.
    assert "for 2 models" in check_alpha_hat_reproduced(_summary(OFF_PYTORCHCV), "latest")
    with pytest.raises(AssertionError):
        check_alpha_hat_reproduced(_summary([1.2, 2.0, 3.0]), "latest")


def test_tolerance():
    assert ALPHA_HAT_TOLERANCE == 0.05
    within = _summary([1.04, 2.0, 3.0])
    assert check_alpha_hat_reproduced(within, "paper")
    with pytest.raises(AssertionError):
        check_alpha_hat_reproduced(within, "paper", tolerance=0.03)
    with pytest.raises(AssertionError):
        check_baseline_differs(_summary([1.5, 2.5, 3.0]), tolerance=0.5)  # median gap 0.5: not above it


def test_baseline_differs_holds_fails_and_says_when_there_is_nothing():
    assert "median |alpha-hat - published| = 3.00 over 3 models" in check_baseline_differs(_summary(BASELINE))
    with pytest.raises(AssertionError, match="untrained baseline reproduces"):
        check_baseline_differs(_summary(REPRODUCED))
    nothing = _summary(BASELINE).assign(alpha_hat_published=math.nan)
    assert "nothing to compare" in check_baseline_differs(nothing)


@pytest.mark.parametrize(("weights", "convention", "alpha_hat", "claims"), [
    ("pretrained", "sdm2020", REPRODUCED, ["N_alpha equals", "alpha-hat within 0.05"]),
    ("random", "sdm2020", BASELINE, ["N_alpha equals", "untrained baseline: median"]),
    ("random", "ww", BASELINE, ["checked under sdm2020 only", "untrained baseline: median"]),
    ("pretrained", "natcomm2021", OFF_PYTORCHCV, ["checked under sdm2020 only"]),
    ("model.pth", "sdm2020", OFF_PYTORCHCV, ["N_alpha equals", "not compared (weights from model.pth"]),
])
def test_check_published_runs_the_claims_of_each_mode(weights, convention, alpha_hat, claims):
    lines = check_published(_summary(alpha_hat), weights=weights, convention=convention, snapshot="paper")
    assert len(lines) == len(claims) and all(claim in line for line, claim in zip(lines, claims)), lines


@pytest.mark.parametrize(("weights", "alpha_hat", "n_alpha"), [
    ("pretrained", OFF_PYTORCHCV, None),   # alpha-hat off for a model whose file is the paper's
    ("random", REPRODUCED, None),          # the baseline reproduces the published values
    ("random", BASELINE, [11, 20, 99]),    # a count differs, whatever the weights
])
def test_check_published_fails_when_a_claim_fails(weights, alpha_hat, n_alpha):
    with pytest.raises(AssertionError):
        check_published(_summary(alpha_hat, n_alpha=n_alpha), weights=weights, convention="sdm2020", snapshot="paper")


@pytest.mark.parametrize(("weights", "convention", "alpha_hat", "checked", "reasons"), [
    ("pretrained", "sdm2020", REPRODUCED, [CLAIM_COUNTS, CLAIM_ALPHA_HAT],
     {CLAIM_BASELINE: "pretrained weights: the claim is about random-init weights"}),
    ("random", "sdm2020", BASELINE, [CLAIM_COUNTS, CLAIM_BASELINE],
     {CLAIM_ALPHA_HAT: "random-init weights: the published values are those of the pretrained models"}),
    ("random", "ww", BASELINE, [CLAIM_BASELINE],
     {CLAIM_COUNTS: "convention ww: the published counts are sdm2020's",
      CLAIM_ALPHA_HAT: "convention ww: the values held to are sdm2020's"}),
    ("model.pth", "sdm2020", OFF_PYTORCHCV, [CLAIM_COUNTS],
     {CLAIM_ALPHA_HAT: "weights from model.pth: the published values are those of the pretrained models",
      CLAIM_BASELINE: "weights from model.pth: the claim is about random-init weights"}),
])
def test_check_published_records_every_claim_checked_or_why_not(weights, convention, alpha_hat, checked, reasons):
    claims = Claims("01_vgg")
    lines = check_published(_summary(alpha_hat), weights=weights, convention=convention, snapshot="paper",
                            claims=claims)
    assert list(claims.checked) == checked and claims.unchecked == reasons
    assert all(claims.checked[c] in lines for c in checked)  # the evidence is the check's sentence


def test_check_published_records_nothing_as_checked_without_published_values():
    claims = Claims("05_more_models")
    none = _summary(BASELINE).assign(alpha_hat_published=math.nan, n_matrices_published=pd.NA)
    check_published(none, weights="random", convention="sdm2020", snapshot="paper", claims=claims)
    assert claims.counts() == (0, 3)
    assert "no analyzed model has a published count" in claims.unchecked[CLAIM_COUNTS]


def test_a_failed_check_records_nothing_for_its_claim():
    claims = Claims("01_vgg")
    with pytest.raises(AssertionError):
        check_published(_summary(REPRODUCED), weights="random", convention="sdm2020", snapshot="paper",
                        claims=claims)
    assert CLAIM_BASELINE not in claims.checked and CLAIM_BASELINE not in claims.unchecked
