"""bfloat16 / float16 weights: kept as stored until their Gram matrix, read exactly, checked for NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from htsr_utils import NonFiniteWeightsError, analyze, weight_matrices
from htsr_utils.engine.layers import LayerWeights, iter_layers


@pytest.fixture(params=[torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def half(request) -> torch.dtype:
    return request.param


def _state(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"up.weight": torch.randn(300, 120, generator=generator).to(dtype),
            "down.weight": torch.randn(120, 300, generator=generator).to(dtype)}


def test_half_weights_stay_as_stored(half):
    layers = [item for item in iter_layers(_state(half), "ww") if isinstance(item, LayerWeights)]
    assert [item.batch.dtype for item in layers] == [half, half]
    assert [item.nbytes for item in layers] == [300 * 120 * 2] * 2
    assert [item.shape for item in layers] == [(300, 120), (300, 120)]  # down transposed, N >= M


def test_half_weights_give_the_eigenvalues_of_their_exact_values(half):
    state = _state(half)
    details = analyze(state, "ww").set_index("layer")
    as_float32 = analyze({k: v.float() for k, v in state.items()}, "ww").set_index("layer")
    np.testing.assert_array_equal(details["lambda_max"], as_float32["lambda_max"])
    np.testing.assert_array_equal(details["alpha"], as_float32["alpha"])
    w = state["down.weight"].double().numpy()  # half values are exact in float64
    reference = np.linalg.svd(w, compute_uv=False).max() ** 2
    assert details.loc["down", "lambda_max"] == pytest.approx(reference, rel=1e-12)


def test_weight_matrices_of_half_weights_are_float32_arrays(half):
    state = _state(half)
    matrices = weight_matrices(state, "ww").matrices
    assert all(isinstance(m.matrix, np.ndarray) and m.matrix.dtype == np.float32 for m in matrices)
    np.testing.assert_array_equal(matrices[0].matrix, state["up.weight"].float().numpy())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_in_half_weights_names_the_layer(half, bad):
    state = _state(half)
    state["down.weight"][3, 7] = bad
    state["down.weight"][5, 1] = bad
    with pytest.raises(NonFiniteWeightsError, match=r"layer 'down' \(Linear, shape \(120, 300\)\) has 2 NaN/Inf"):
        analyze(state, "ww")


def test_largest_finite_half_values_are_not_taken_for_inf(half):
    state = _state(half)
    state["up.weight"][0, 0] = torch.finfo(half).max
    state["up.weight"][0, 1] = -torch.finfo(half).max
    details = analyze(state, "ww").set_index("layer")  # no NonFiniteWeightsError
    big = float(torch.finfo(half).max)
    assert details.loc["up", "lambda_max"] == pytest.approx(2 * big**2, rel=1e-6)


def test_esd_of_a_half_tensor_equals_esd_of_its_float32_values(half):
    from htsr_utils import esd

    w = _state(half)["down.weight"]
    np.testing.assert_array_equal(esd(w), esd(w.float().numpy()))
    np.testing.assert_array_equal(esd(w, precision="float32"), esd(w.float().numpy(), precision="float32"))
