"""Per-matrix metrics against direct computations, conventions against each other, summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, summarize


@pytest.fixture(scope="module")
def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(64, 80, kernel_size=2),
        nn.Flatten(),
        nn.Linear(300, 120),
        nn.Linear(120, 100),
    )


@pytest.fixture(scope="module")
def details(small_model) -> pd.DataFrame:
    return analyze(small_model, "sdm2020")


def test_norms_match_torch_linalg(small_model, details):
    """log norms from the ESD equal those of the matrices computed directly by torch."""
    linear = small_model[2].weight.detach().double()
    row = details[details["layer"] == "2"].iloc[0]
    assert row["log_norm"] == pytest.approx(torch.log10(torch.linalg.matrix_norm(linear)).item(), rel=1e-10)
    assert row["log_norm_sq"] == pytest.approx(2 * row["log_norm"], rel=1e-12)
    spectral = torch.linalg.matrix_norm(linear, ord=2).item() ** 2
    assert row["lambda_max"] == pytest.approx(spectral, rel=1e-10)
    assert row["log_spectral_norm"] == pytest.approx(np.log10(spectral), rel=1e-10)
    frob_sq = torch.linalg.matrix_norm(linear).item() ** 2
    assert row["stable_rank"] == pytest.approx(frob_sq / spectral, rel=1e-10)


def test_layers_in_separate_windows_give_the_same_table(small_model, details, monkeypatch):
    """Eigenvalues computed a few layers at a time (memory bound) or all together: same rows."""
    import htsr_utils.engine.metrics as metrics_module

    monkeypatch.setattr(metrics_module, "WINDOW_BYTES", 1)
    pd.testing.assert_frame_equal(analyze(small_model, "sdm2020"), details)


def test_alpha_weighted_and_alpha_norm_definitions(small_model, details):
    conv = small_model[0].weight.detach().double()
    row = details[(details["layer"] == "0") & (details["slice"] == "1,0")].iloc[0]
    sv = torch.linalg.svdvals(conv[:, :, 1, 0]).numpy()
    evals = np.sort(sv**2)[1:]  # sdm2020 drops the smallest eigenvalue
    assert row["num_evals"] == 63
    assert row["alpha_weighted"] == pytest.approx(row["alpha"] * np.log10(evals.max()), rel=1e-10)
    assert row["log_alpha_norm"] == pytest.approx(np.log10(np.sum(evals ** row["alpha"])), rel=1e-9)
    assert row["Q"] == pytest.approx(80 / 64)


def test_paper_text_divides_by_n_and_keeps_alpha(small_model, details):
    text = analyze(small_model, "paper_text")
    np.testing.assert_allclose(text["alpha"], details["alpha"], rtol=1e-9)
    np.testing.assert_allclose(text["lambda_max"], details["lambda_max"] / details["N"], rtol=1e-10)


def test_natcomm2021_scales_conv_by_slices_over_two_and_linear_by_half(small_model, details):
    nc = analyze(small_model, "natcomm2021")
    ratio = nc["lambda_max"].to_numpy() / details["lambda_max"].to_numpy()
    expected = np.where(details["layer_type"] == "Conv2d", 4 / 2, 1 / 2)  # 2x2 kernel: 4 slices
    np.testing.assert_allclose(ratio, expected, rtol=1e-10)
    np.testing.assert_allclose(nc["alpha"], details["alpha"], rtol=1e-9)


def test_natcomm2021_keeps_small_slices_for_spectral_norm_only():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Flatten(), nn.Linear(120, 100))
    nc = analyze(model, "natcomm2021")
    small = nc[nc["status"] == "below_min_dim"]
    assert len(small) == 9 and small["alpha"].isna().all() and small["lambda_max"].gt(0).all()
    summary = summarize(nc)
    assert summary["N_alpha"] == 1 and summary["L"] == 1
    assert summary["log_spectral_norm"] == pytest.approx(nc["log_spectral_norm"].mean())
    assert summary["log_norm"] == pytest.approx(nc.loc[nc["status"] == "ok", "log_norm"].iloc[0])


def test_summary_means_and_last_layer(details):
    summary = summarize(details)
    ok = details[details["status"] == "ok"]
    assert summary["alpha_hat"] == pytest.approx(ok["alpha_weighted"].mean())
    assert summary["alpha_hat_star"] == pytest.approx(ok.loc[ok["layer"] != "3", "alpha_weighted"].mean())
    assert summary["alpha_mean"] == pytest.approx(ok["alpha"].mean())
    assert summary["log_norm"] == pytest.approx(details["log_norm"].mean())
    assert summary["N_alpha"] == 4 + 1 + 1 and summary["L"] == 3


def test_summarize_per_model_column(details):
    both = pd.concat([details.assign(model="a"), details.assign(model="b")])
    table = summarize(both)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "alpha_hat"] == pytest.approx(summarize(details)["alpha_hat"])


def test_trained_weights_are_heavier_tailed_than_their_permutation(minilm_state_dict):
    """Real trained MiniLM matrices vs the same entries shuffled (HT-SR's central contrast)."""
    names = [k for k, v in minilm_state_dict.items() if v.ndim == 2 and "encoder" in k][:12]
    trained = {k: minilm_state_dict[k] for k in names}
    gen = torch.Generator().manual_seed(0)
    shuffled = {k: v.flatten()[torch.randperm(v.numel(), generator=gen)].reshape(v.shape) for k, v in trained.items()}
    a_trained = analyze(trained)["alpha"]
    a_shuffled = analyze(shuffled)["alpha"]
    assert a_trained.notna().all()
    assert a_trained.median() < a_shuffled.median()
