"""The matrix-selection rules of the sdm2020 and paper_text conventions, against the authors' loop.

The authors' notebooks for SDM 2020 keep every ``nn.Linear`` weight whatever its size, keep a
Conv2D kernel-position slice only if ``min(N, M) >= 50``, and analyze no other layer type;
paper_text applies the text's ``X = W^T W / N`` to the ESD and keeps the norm of ``W``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from htsr_utils import analyze
from htsr_utils.engine.layers import weight_matrices


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3),       # slices 64 x 3: below the size rule
        nn.Conv2d(64, 80, 2),      # slices 80 x 64: kept
        nn.Conv1d(64, 64, 3),      # not analyzed by the authors' code
        nn.Flatten(),
        nn.Linear(300, 120),       # kept
        nn.Linear(120, 10),        # 120 x 10, below 50: kept (no size rule for Linear)
    )


def _authors_matrices(model: nn.Module) -> list[tuple[str, tuple[int, int]]]:
    """The authors' selection written from their loop: Linear always, Conv2D slices >= 50."""
    kept = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            kept.append((name, tuple(sorted(module.weight.shape, reverse=True))))
        elif isinstance(module, nn.Conv2d):
            w = module.weight
            for i in range(w.shape[2]):
                for j in range(w.shape[3]):
                    if min(w.shape[0], w.shape[1]) >= 50:
                        kept.append((name, tuple(sorted(w[:, :, i, j].shape, reverse=True))))
    return kept


def test_sdm2020_selects_the_matrices_of_the_authors_loop(model):
    matrices, skipped = weight_matrices(model, "sdm2020")
    assert [(m.layer, (m.N, m.M)) for m in matrices] == _authors_matrices(model)
    reasons = {s.layer: s.reason for s in skipped}
    assert reasons["0"] == "min(N, M) = 3 < 50"
    assert reasons["2"] == "Conv1d layers are not analyzed under sdm2020"


def test_sdm2020_fits_a_small_linear_layer(model):
    details = analyze(model, "sdm2020", progress=False)
    small = details[details["layer"] == "5"].iloc[0]
    assert (small["N"], small["M"]) == (120, 10) and small["num_evals"] == 9  # smallest dropped
    sv = torch.linalg.svdvals(model[5].weight.detach().double()).numpy()
    assert small["lambda_max"] == pytest.approx(sv.max() ** 2, rel=1e-10)


def test_natcomm2021_still_applies_its_size_rule_to_linear_layers(model):
    details = analyze(model, "natcomm2021", progress=False)
    assert details.loc[details["layer"] == "5", "status"].tolist() == ["below_min_dim"]


def test_paper_text_divides_the_esd_by_n_and_keeps_the_norm_of_w(model):
    sdm = analyze(model, "sdm2020", progress=False)
    text = analyze(model, "paper_text", progress=False)
    assert text[["layer", "slice"]].equals(sdm[["layer", "slice"]])
    np.testing.assert_allclose(text["lambda_max"], sdm["lambda_max"] / sdm["N"], rtol=1e-10)
    np.testing.assert_allclose(text["log_norm"], sdm["log_norm"], rtol=1e-12)
    np.testing.assert_allclose(text["log_norm_sq"], sdm["log_norm_sq"], rtol=1e-12)
    np.testing.assert_allclose(text["stable_rank"], sdm["stable_rank"], rtol=1e-9)
    linear = model[4].weight.detach().double()
    row = text[text["layer"] == "4"].iloc[0]
    assert row["log_norm"] == pytest.approx(np.log10(torch.linalg.matrix_norm(linear).item()), rel=1e-12)
