"""Tests of htsr_utils.experiments.permutation: entry permutations and the trained-vs-permuted contrast
(notebook 10_minilm_real_weights)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, analyze_with_esds, fit_eigenvalues
from htsr_utils.engine.parallel import one_thread_per_call
from htsr_utils.engine.random_matrix import mp_edge
from htsr_utils.experiments.permutation import (
    CONTRAST_COLUMNS,
    analyzed_weights,
    contrast_table,
    permutation_seed,
    permuted_state,
)
from htsr_utils.models.build import load_model


def _sorted(t: torch.Tensor) -> torch.Tensor:
    return t.flatten().sort().values


def test_permutation_keeps_values_shape_and_dtype() -> None:
    weights = {"a.weight": torch.randn(60, 80), "b.weight": torch.randn(100, 70, dtype=torch.float64)}
    permuted = permuted_state(weights, seed=3)
    assert permuted.keys() == weights.keys()
    for key, w in weights.items():
        p = permuted[key]
        assert p.shape == w.shape and p.dtype == w.dtype
        assert torch.equal(_sorted(p), _sorted(w))
        assert not torch.equal(p, w)
    assert torch.equal(permuted_state(weights, seed=3)["a.weight"], permuted["a.weight"])
    assert not torch.equal(permuted_state(weights, seed=4)["a.weight"], permuted["a.weight"])


def test_permutation_seed_differs_per_matrix_and_seed() -> None:
    seeds = {permutation_seed(s, i) for s in range(3) for i in range(40)}
    assert len(seeds) == 120
    assert permutation_seed(1, 2) == permutation_seed(1, 2)


def _correlated_matrix(n: int, m: int, seed: int) -> torch.Tensor:
    """Noise plus a few strong rank-one directions with power-law strengths (a known answer)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, m, generator=g) / np.sqrt(n)
    k = 12
    u = torch.linalg.qr(torch.randn(n, k, generator=g))[0]
    v = torch.linalg.qr(torch.randn(m, k, generator=g))[0]
    strengths = torch.arange(1, k + 1, dtype=torch.float32) ** -0.8 * 6.0
    return noise + (u * strengths) @ v.T


def test_known_answer_permuting_a_correlated_matrix_lightens_its_tail() -> None:
    model = nn.Sequential(nn.Linear(300, 400), nn.ReLU(), nn.Linear(400, 5))
    with torch.no_grad():
        model[0].weight.copy_(_correlated_matrix(400, 300, seed=0))
    table = contrast_table(model, "sdm2020", seeds=(0, 1))
    assert table["layer"].tolist() == ["0", "2"]  # every Linear, the 5 x 400 output layer too
    row = table.iloc[0]
    assert row["lambda_max_trained"] > 3 * row["mp_edge"]  # the planted spikes
    assert row["lambda_max_permuted"] == pytest.approx(row["mp_edge"], rel=0.15)  # MP after permuting
    assert abs(row["entry_kurtosis"]) < 1.0
    assert np.isfinite(row["alpha_permuted_std"])


def test_state_dict_and_module_give_the_same_table() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(120, 90), nn.ReLU(), nn.Linear(90, 60))
    from_module = contrast_table(model, "sdm2020")
    from_state = contrast_table(model.state_dict(), "sdm2020")
    pd.testing.assert_frame_equal(from_module, from_state)


def test_mp_edge_of_a_gaussian_matrix() -> None:
    """Independent ground truth: lambda_max of W^T W for i.i.d. N(0, s^2) entries ~ s^2 (sqrt N + sqrt M)^2."""
    w = torch.randn(2000, 500, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.3
    top = float(torch.linalg.eigvalsh(w.T @ w).max())
    edge = mp_edge(2000, 500, float(w.var(unbiased=False)))
    assert top == pytest.approx(edge, rel=0.03)
    assert edge == pytest.approx(0.09 * (np.sqrt(2000) + np.sqrt(500)) ** 2, rel=0.01)


def test_analyzed_weights_follow_the_details() -> None:
    model = nn.Sequential(nn.Linear(120, 90), nn.ReLU(), nn.Linear(90, 60))
    details = analyze(model, "sdm2020")
    weights = analyzed_weights(model, details)
    assert list(weights) == ["0.weight", "2.weight"]
    assert torch.equal(weights["2.weight"], model[2].weight.detach())
    assert list(analyzed_weights(model.state_dict(), details)) == list(weights)


def test_contrast_table_needs_a_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        contrast_table(nn.Linear(60, 60), seeds=())


@pytest.fixture(scope="module")
def minilm() -> nn.Module:
    return load_model("minilm-l6")


@pytest.mark.slow
def test_minilm_contrast_table(minilm: nn.Module) -> None:
    table = contrast_table(minilm, "sdm2020", seeds=(0,))
    with one_thread_per_call():  # multi-threaded OpenBLAS crawls on a busy 2-core machine
        details = analyze(minilm, "sdm2020")
    analyzed = details[details["status"] != "below_min_dim"]
    assert list(table.columns) == CONTRAST_COLUMNS
    assert table["layer"].tolist() == analyzed["layer"].tolist()  # one row per analyzed matrix
    assert len(table) == 37  # 6 blocks x (q, k, v, attention output, intermediate, output) + pooler
    assert table["alpha_trained"].notna().all()
    assert (table["status_trained"] == "ok").all()
    np.testing.assert_allclose(table["alpha_trained"], analyzed["alpha"])
    np.testing.assert_allclose(table["lambda_max_trained"], analyzed["lambda_max"])
    assert table["alpha_permuted"].mean() > table["alpha_trained"].mean()


def test_minilm_esd_of_a_permuted_matrix_matches_the_table(minilm: nn.Module) -> None:
    """The notebook's ESD figure: analyze_with_esds + fit_eigenvalues on one permuted matrix."""
    layer = "encoder.layer.0.attention.self.query"
    key = f"{layer}.weight"
    sub = {key: minilm.get_submodule(layer).weight.detach()}
    table = contrast_table(sub, "sdm2020", seeds=(0,))
    permuted = permuted_state(sub, seed=0)[key]
    details, esds = analyze_with_esds({key: permuted}, "sdm2020")
    assert details.loc[0, "alpha"] == pytest.approx(table.loc[0, "alpha_permuted"])
    evals = fit_eigenvalues(esds[0], "sdm2020")
    assert evals.size == details.loc[0, "n_fit"] == 383  # smallest eigenvalue dropped
    # A permutation keeps the Frobenius norm: the eigenvalue sum is ||W||_F^2 less the dropped one.
    frob = float((sub[key].double() ** 2).sum())
    assert evals.sum() <= frob and evals.sum() == pytest.approx(frob, rel=1e-2)
