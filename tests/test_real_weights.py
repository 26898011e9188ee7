"""Tests of htsr_utils.real_weights: entry permutations and the trained-vs-permuted contrast."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, zoo
from htsr_utils.real_weights import (
    CONTRAST_COLUMNS,
    contrast_summary,
    contrast_table,
    layer_spectra,
    permutation_seed,
    permuted_state,
    representative_layer,
)
from htsr_utils.threads import one_thread_per_call


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
    assert table["layer"].tolist() == ["0"]  # the 5 x 400 output layer is below min(N, M) = 50
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


def test_contrast_summary_and_representative_layer() -> None:
    table = pd.DataFrame({
        "layer": ["a", "b", "c"],
        "alpha_trained": [2.0, 3.0, 9.0],
        "alpha_permuted": [8.0, 7.0, 6.0],
        "lambda_max_trained": [10.0, 5.0, 1.0],
        "lambda_max_permuted": [2.0, 2.0, 2.0],
    })
    summary = contrast_summary(table)
    assert summary["n_matrices"] == 3
    assert summary["mean_alpha_trained"] == pytest.approx(14 / 3)
    assert summary["frac_permuted_larger"] == pytest.approx(2 / 3)
    assert summary["not_larger"] == ["c"]
    assert summary["frac_lambda_max_drops"] == pytest.approx(2 / 3)
    assert representative_layer(table) == "b"


def test_contrast_table_needs_a_seed() -> None:
    with pytest.raises(ValueError, match="seed"):
        contrast_table(nn.Linear(60, 60), seeds=())


@pytest.fixture(scope="module")
def minilm() -> nn.Module:
    return zoo.load_model("minilm-l6")


def test_minilm_contrast_table(minilm: nn.Module) -> None:
    start = time.perf_counter()
    table = contrast_table(minilm, "sdm2020", seeds=(0,))
    elapsed = time.perf_counter() - start
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
    assert elapsed < 60, f"contrast table took {elapsed:.1f} s"


def test_minilm_layer_spectra_match_the_table(minilm: nn.Module) -> None:
    layer = "encoder.layer.0.attention.self.query"
    sub = {f"{layer}.weight": minilm.get_submodule(layer).weight.detach()}
    table = contrast_table(sub, "sdm2020", seeds=(0,))
    spectra = layer_spectra(minilm, layer, "sdm2020", seed=0, index=0)
    assert spectra.fit_trained.alpha == pytest.approx(table.loc[0, "alpha_trained"])
    assert spectra.fit_permuted.alpha == pytest.approx(table.loc[0, "alpha_permuted"])
    assert spectra.trained.size == spectra.permuted.size == 383  # smallest eigenvalue dropped
    # A permutation keeps the Frobenius norm: the eigenvalue sums agree (up to the dropped one).
    full = spectra.trained.sum(), spectra.permuted.sum()
    frob = float((sub[f"{layer}.weight"].double() ** 2).sum())
    assert full[0] <= frob and full[1] <= frob
    assert full[0] == pytest.approx(frob, rel=1e-2) and full[1] == pytest.approx(frob, rel=1e-2)
