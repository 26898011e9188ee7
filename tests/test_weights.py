"""Weight-matrix extraction: layer types, conventions, matrix counts and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

from htsr_utils import (
    NoAnalyzableLayersError,
    NonFiniteWeightsError,
    WeightFileError,
    analyze,
    load_state_dict,
    weight_matrices,
)

# Matrix counts of the SDM 2020 pipeline (docs/conventions.md, from the authors' notebooks).
SDM2020_COUNTS = {"vgg11": 66, "vgg16": 111, "resnet18": 148, "resnet50": 181, "densenet121": 62}


@pytest.mark.parametrize("name", sorted(SDM2020_COUNTS))
def test_sdm2020_matrix_counts_of_torchvision_architectures(name):
    model = torchvision.models.get_model(name, weights=None)
    matrices, skipped = weight_matrices(model, "sdm2020")
    assert len(matrices) == SDM2020_COUNTS[name]
    assert all(m.N >= m.M >= 50 for m in matrices)
    assert any("< 50" in s.reason for s in skipped)  # the first conv (3 input channels)


def test_natcomm2021_counts_equal_sdm2020_for_fitted_matrices():
    model = torchvision.models.get_model("resnet18", weights=None)
    assert len(weight_matrices(model, "natcomm2021").matrices) == SDM2020_COUNTS["resnet18"]


def test_ww_convention_pools_conv_slices_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 96, 3), nn.Flatten(), nn.Linear(96, 120))
    details = analyze(model, "ww")
    # one pooled ESD per layer, the 3-channel first conv included (27 eigenvalues >= 8)
    assert list(details["layer"]) == ["0", "1", "3"]
    assert list(details["slice"].isna()) == [True, True, True]
    assert details.loc[1, "num_evals"] <= 64 * 9


def test_conv2d_slices_are_kernel_positions_oriented_tall():
    conv = nn.Conv2d(60, 80, kernel_size=(2, 3))
    matrices, _ = weight_matrices(nn.Sequential(conv), "sdm2020")
    assert [m.slice for m in matrices] == [(i, j) for i in range(2) for j in range(3)]
    w = conv.weight.detach().numpy()
    first = matrices[4]  # position (1, 1)
    assert (first.N, first.M) == (80, 60)
    np.testing.assert_array_equal(first.matrix, w[:, :, 1, 1])


def test_conv1d_and_hf_conv1d_and_linear():
    from transformers.pytorch_utils import Conv1D

    model = nn.Sequential(nn.Conv1d(64, 96, kernel_size=3), nn.Linear(70, 120), Conv1D(110, 60))
    matrices, _ = weight_matrices(model, "natcomm2021")
    kinds = [(m.layer_type, m.slice, m.N, m.M) for m in matrices]
    assert kinds == [
        ("Conv1d", (0,), 96, 64), ("Conv1d", (1,), 96, 64), ("Conv1d", (2,), 96, 64),
        ("Linear", None, 120, 70),
        ("Conv1D", None, 110, 60),
    ]
    matrices, skipped = weight_matrices(model, "sdm2020")  # the authors' code: no Conv1d
    assert [m.layer_type for m in matrices] == ["Linear", "Conv1D"]
    assert [(s.layer, s.layer_type) for s in skipped] == [("0", "Conv1d")]


def test_grouped_conv_stacked_or_per_group_and_depthwise_skipped():
    from dataclasses import replace

    from htsr_utils import get_convention

    grouped = nn.Conv2d(200, 240, kernel_size=1, groups=2)  # weight (240, 100, 1, 1)
    depthwise = nn.Conv2d(64, 64, kernel_size=3, groups=64)
    model = nn.Sequential(grouped, depthwise)
    stacked, skipped = weight_matrices(model, "sdm2020")
    assert [(m.N, m.M) for m in stacked] == [(240, 100)]
    assert "depthwise" in skipped[0].reason and skipped[0].layer == "1"
    per_group = replace(get_convention("sdm2020"), grouped_conv="per_group")
    groups, _ = weight_matrices(model, per_group)
    assert [(m.slice, m.N, m.M) for m in groups] == [((0, 0, 0), 120, 100), ((1, 0, 0), 120, 100)]
    w = grouped.weight.detach().numpy()[:, :, 0, 0]
    np.testing.assert_array_equal(groups[1].matrix, w[120:])


def test_one_d_parameters_and_unsupported_layers_are_skipped_with_reason():
    model = nn.Sequential(nn.Linear(80, 60), nn.BatchNorm1d(60), nn.Embedding(100, 64))
    matrices, skipped = weight_matrices(model, "sdm2020")
    assert len(matrices) == 1
    reasons = {s.layer: s.reason for s in skipped}
    assert "1-D parameter" in reasons["1"]
    assert "Embedding" in reasons["2"]


def test_state_dict_and_files_give_the_same_matrices(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(128, 64))
    from_module = analyze(model)
    state = model.state_dict()
    torch.save(state, tmp_path / "w.pth")
    save_file(state, str(tmp_path / "w.safetensors"))
    for source in (state, tmp_path / "w.pth", str(tmp_path / "w.safetensors")):
        other = analyze(source)
        np.testing.assert_allclose(other["alpha"], from_module["alpha"], rtol=1e-12)
        assert list(other["layer"]) == list(from_module["layer"])


def test_nan_or_inf_weights_raise_naming_the_layer():
    model = nn.Sequential(nn.Linear(80, 60), nn.Linear(60, 60))
    with torch.no_grad():
        model[1].weight[3, 4] = float("nan")
        model[1].weight[0, 0] = float("inf")
    with pytest.raises(NonFiniteWeightsError, match=r"layer '1' \(Linear.*2 NaN/Inf"):
        analyze(model)


@pytest.mark.parametrize(
    "model",
    [nn.Sequential(nn.ReLU()), nn.Sequential(nn.BatchNorm2d(8)), nn.Sequential(nn.Conv2d(3, 8, 3))],
    ids=["no-weights", "only-1d", "too-small"],
)
def test_model_with_no_analyzable_layer_raises(model):
    with pytest.raises(NoAnalyzableLayersError, match="sdm2020"):
        analyze(model)


def test_all_zero_matrix_keeps_its_row_with_a_status():
    model = nn.Sequential(nn.Linear(80, 60), nn.Linear(60, 60))
    with torch.no_grad():
        model[0].weight.zero_()
    details = analyze(model)
    assert list(details["status"]) == ["zero_matrix", "ok"]
    assert np.isnan(details.loc[0, "alpha"])


def test_esd_too_small_to_fit_keeps_its_row_with_a_status():
    from dataclasses import replace

    from htsr_utils import get_convention

    tiny = replace(get_convention("sdm2020"), min_dim=0)
    details = analyze(nn.Sequential(nn.Linear(2, 3), nn.Linear(80, 60)), tiny)
    assert details.loc[0, "status"] == "too_few_values"
    assert details.loc[1, "status"] == "ok"


def test_unreadable_or_missing_weight_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightFileError, match="broken.pth"):
        load_state_dict(bad)
    with pytest.raises(WeightFileError, match="missing.safetensors"):
        analyze(tmp_path / "missing.safetensors")


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="unknown convention 'sdm2021'.*sdm2020"):
        weight_matrices(nn.Linear(80, 60), "sdm2021")


# --------------------------------------------------------------------------- which tensors are analyzed


def _recurrent_and_attention_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("lstm", nn.LSTM(256, 256, bidirectional=True))
    model.add_module("head", nn.Linear(512, 256))
    model.add_module("attention", nn.MultiheadAttention(128, 4))
    return model


@pytest.mark.parametrize("convention", ["sdm2020", "natcomm2021", "ww", "paper_text"])
def test_module_state_dict_and_files_analyze_the_same_tensors(tmp_path, convention):
    from safetensors.torch import save_file

    model = _recurrent_and_attention_model()
    state = model.state_dict()
    torch.save(state, tmp_path / "w.pth")
    save_file(state, str(tmp_path / "w.safetensors"))
    reference = analyze(model, convention)
    assert list(reference["layer"]) == ["head", "attention.out_proj"]
    recurrent = {f"lstm.weight_{k}_l0{r}" for k in ("ih", "hh") for r in ("", "_reverse")}
    skipped = {s["layer"]: s["reason"] for s in reference.attrs["skipped"]}
    assert set(skipped) == recurrent | {"attention.in_proj_weight"}
    assert all("recurrent" in skipped[k] for k in recurrent)
    assert "query, key and value" in skipped["attention.in_proj_weight"]
    for source in (state, tmp_path / "w.pth", str(tmp_path / "w.safetensors")):
        other = analyze(source, convention)
        if str(source).endswith(".safetensors"):  # the format stores keys sorted, not in order
            other = other.sort_values("layer", key=lambda c: c.map(list(reference["layer"]).index))
            other = other.reset_index(drop=True).assign(layer_index=reference["layer_index"])
        pd.testing.assert_frame_equal(other, reference)
        assert sorted((s["layer"], s["reason"]) for s in other.attrs["skipped"]) == \
            sorted((s["layer"], s["reason"]) for s in reference.attrs["skipped"])


def test_ww_convention_reads_the_tensors_weightwatcher_reads():
    """weightwatcher 0.7.7 on the same module: recurrent and in_proj weights are not layers."""
    ww = pytest.importorskip("weightwatcher")
    import logging

    model = _recurrent_and_attention_model()
    logging.disable(logging.WARNING)
    try:
        theirs = ww.WeightWatcher(model=model).analyze()
    finally:
        logging.disable(logging.NOTSET)
    ours = analyze(model, "ww")
    assert [(n, m) for n, m in zip(theirs["N"], theirs["M"])] == list(zip(ours["N"], ours["M"]))
    np.testing.assert_allclose(ours["alpha"], theirs["alpha"], rtol=1e-6)


def test_nan_in_a_layer_the_convention_skips_does_not_abort():
    model = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Linear(80, 60))
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")  # min(N, M) = 3 < 50: skipped by sdm2020
    details = analyze(model, "sdm2020")
    assert list(details["layer"]) == ["1"]
    with pytest.raises(NonFiniteWeightsError, match="layer '0'"):
        analyze(model, "ww")  # ww analyzes it
