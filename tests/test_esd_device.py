"""The PyTorch-device path of esd_many: matrices of one shape solved together, in chunks, the
results in the order given and equal to the CPU path's.  Run on torch's CPU device ("cpu:0"
takes the device path), so the batching is tested where no GPU is."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from htsr_utils import esd_many
from htsr_utils.engine import esd as esd_module


def _batches():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((3, 40, 24)), torch.randn(2, 40, 24, dtype=torch.float64),
            rng.standard_normal((50, 30)), rng.standard_normal((1, 24, 40)).astype(np.float32)]


@pytest.mark.parametrize("per_call_bytes", [1 << 31, 1])
def test_device_path_batches_by_shape_and_matches_cpu(monkeypatch, per_call_bytes):
    monkeypatch.setattr(esd_module, "DEVICE_BATCH_BYTES", per_call_bytes)
    calls = []
    real = esd_module._esd_torch
    monkeypatch.setattr(esd_module, "_esd_torch", lambda stack, *a: calls.append(stack.shape) or real(stack, *a))
    batches = _batches()
    on_device = esd_many(batches, device="cpu:0")
    on_cpu = esd_many(batches)
    for a, b in zip(on_device, on_cpu):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    if per_call_bytes > 1:  # (40, 24), (24, 40) and the two stacks of shape (40, 24) share one call
        assert sorted(calls) == [(1, 50, 30), (6, 40, 24)]
    else:
        assert len(calls) == 7


def test_device_path_in_float32():
    batches = _batches()
    fast = esd_many(batches, device="cpu:0", precision="float32")
    for a, b in zip(fast, esd_many(batches)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
