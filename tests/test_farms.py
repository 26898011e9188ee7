"""FARMS (htsr_utils.engine.farms) and analyze(..., estimators=("farms",)).

Ground truths: the window rules of FARMS's code (github.com/HUST-AI-HYZ/FARMS,
``Image_Classification/sampling.py`` and ``tempbalance_farms.py``) written again as plain loops
with torch.linalg.svdvals per window; the Marchenko-Pastur law of the window (closed form for
square windows: quarter-circle singular values); and the method's claim, that the exponent of
the FARMS ESD does not depend on the aspect ratio of the whole matrix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from htsr_utils.engine.esd import esd
from htsr_utils.engine.farms import (
    FARMS_DEFAULTS,
    farms_alpha,
    farms_conv_esds,
    farms_esd,
    farms_grid,
)
from htsr_utils.engine.hill import hill_alpha
from htsr_utils.engine.metrics import analyze


def _loop_starts(size, window, ops, step_size):
    """Their fixed_sampling (ops given) / matrix_size_dependent_sampling (ops None) starts."""
    if ops is None:
        return [i * step_size for i in range(max(1, (size - window) // step_size + 1))]
    step = max(1, (size - window) // (ops - 1))
    count = min(ops, max(1, (size - window) // step + 1))
    return [min(i * step, size - window) for i in range(count)]


def _loop_hill(values):
    x = sorted(values)
    i = int(len(x) / 2)
    k = len(x) - i
    return 1 + k / (sum(math.log(v) for v in x[i:]) - k * math.log(x[i]))


def _loop_linear_esd(matrix, h, w, ops=9, step_size=10):
    """Pooled squared singular values of every window, from their sampling loop."""
    t = torch.as_tensor(matrix, dtype=torch.float64)
    eigs = []
    for r in _loop_starts(t.shape[0], h, ops, step_size):
        for c in _loop_starts(t.shape[1], w, ops, step_size):
            eigs.append(torch.square(torch.linalg.svdvals(t[r:r + h, c:c + w])))
    return torch.sort(torch.cat(eigs)).values.numpy()


def _loop_conv_alpha(weight, conv_norm=0.5):
    """Their Conv2d path with Q_ratio = 1: slices oriented rows >= cols, cols x cols windows in
    rows // cols blocks, eigenvalues pooled over slices per block, mean of the blocks' alphas."""
    w = torch.as_tensor(weight, dtype=torch.float64)
    mats = []
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            m = w[:, :, i, j]
            mats.append(m.T if m.shape[0] < m.shape[1] else m)
    rows, cols = mats[0].shape
    alphas = []
    for b in range(rows // cols):
        eigs = torch.cat([torch.square(torch.linalg.svdvals(m[b * cols:(b + 1) * cols, :cols]
                                                            * math.sqrt(conv_norm))) for m in mats])
        alphas.append(_loop_hill(eigs.tolist()))
    return float(np.mean(alphas)), (rows // cols) * len(mats)


@pytest.mark.parametrize("shape, params", [
    ((500, 300), {}),
    ((4096, 1024), {"num_row_samples": 2000, "ops_per_dim": 15}),
    ((130, 100), {"q_ratio": 0.5}),
    ((700, 240), {"ops_per_dim": None, "step_size": 60}),
    ((60, 40), {}),  # window shrunk to 40 x 40
])
def test_window_grid_follows_their_rule(shape, params):
    grid = farms_grid(*shape, **(FARMS_DEFAULTS | params))
    p = FARMS_DEFAULTS | params
    h = min(p["num_row_samples"], shape[0], int(shape[1] / p["q_ratio"]))
    w = int(h * p["q_ratio"])
    assert grid.shape == (h, w)
    assert grid.row_starts.tolist() == _loop_starts(shape[0], h, p["ops_per_dim"], p["step_size"])
    assert grid.col_starts.tolist() == _loop_starts(shape[1], w, p["ops_per_dim"], p["step_size"])
    assert grid.row_starts.max() + h <= shape[0] and grid.col_starts.max() + w <= shape[1]


def test_default_grid_is_nine_by_nine_windows_of_100():
    grid = farms_grid(500, 300)
    assert grid.shape == (100, 100) and grid.count == 81
    assert grid.row_starts.tolist() == list(range(0, 401, 50))
    assert grid.col_starts.tolist() == list(range(0, 201, 25))


def test_farms_esd_equals_the_window_loop():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((310, 170))
    want = _loop_linear_esd(matrix, 100, 100)
    got = farms_esd(matrix)
    assert got.shape == want.shape == (81 * 100,)
    assert np.allclose(got, want, rtol=0, atol=1e-10 * want.max())
    fit = farms_alpha(matrix)
    assert (fit.windows, fit.shape) == (81, (100, 100))
    assert fit.alpha == pytest.approx(_loop_hill(want.tolist()), rel=1e-10)


def test_conv_rule_equals_their_conv_loop():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((40, 12, 3, 3))
    slices = weight.transpose(2, 3, 0, 1).reshape(9, 40, 12) * math.sqrt(0.5)
    esds = farms_conv_esds(slices)
    assert esds.shape == (40 // 12, 9 * 12)
    want, windows = _loop_conv_alpha(weight)
    fit = farms_alpha(slices, conv=True)
    assert fit.windows == windows == 27 and fit.shape == (12, 12)
    assert fit.alpha == pytest.approx(want, rel=1e-10)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 40, 3)
        self.fc1 = nn.Linear(250, 130)
        self.fc2 = nn.Linear(130, 30)


def test_analyze_farms_equals_their_loops():
    torch.manual_seed(0)
    net = _Net()
    details = analyze(net, "tempbalance", estimators=("hill", "farms"))
    assert details.attrs["farms"] == FARMS_DEFAULTS
    conv_alpha, conv_windows = _loop_conv_alpha(net.conv.weight.detach().numpy())
    # Linear: their loop on the (out, in) weight; with q_ratio = 1 the windows of W and W^T
    # are transposes of each other, so the N >= M orientation analyze uses gives the same ESD
    fc1 = _loop_linear_esd(net.fc1.weight.detach().numpy(), 100, 100)
    fc2 = _loop_linear_esd(net.fc2.weight.detach().numpy(), 30, 30)
    want = [conv_alpha, _loop_hill(fc1.tolist()), _loop_hill(fc2.tolist())]
    assert np.allclose(details["alpha_farms"], want, rtol=1e-10, atol=0)
    assert details["farms_windows"].tolist() == [conv_windows, 81, 9]
    assert details["alpha"].isna().all()  # no "csn"


def test_farms_esd_of_a_gaussian_matrix_follows_the_window_mp_law():
    # Square h x h windows of i.i.d. N(0, 1) entries: the singular values / sqrt(h) follow the
    # quarter-circle law on [0, 2], F(s) = (s sqrt(4 - s^2) / 2 + 2 asin(s / 2)) / pi, whatever
    # the shape of the whole matrix.
    for shape in [(2000, 500), (600, 600)]:
        matrix = np.random.default_rng(2).standard_normal(shape)
        s = np.sqrt(farms_esd(matrix) / 100.0)
        cdf = (s * np.sqrt(np.clip(4 - s**2, 0, None)) / 2 + 2 * np.arcsin(np.clip(s / 2, 0, 1))) / np.pi
        n = s.size
        ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
        assert ks < 0.02, (shape, ks)


def test_farms_alpha_does_not_depend_on_the_aspect_ratio():
    # Entries i.i.d. Student-t (3 degrees of freedom: a heavy-tailed ESD).  The Hill exponent of
    # the whole ESD grows with N / M (about 2.1 at N = M to 5 at N / M = 16); the FARMS exponent
    # sees 100 x 100 windows of the same law for every shape and stays put (about 2.02).
    for seed in range(3):
        plain, farms = [], []
        for shape in [(600, 600), (1200, 300), (2400, 150)]:
            matrix = np.random.default_rng(seed).standard_t(3.0, size=shape)
            plain.append(hill_alpha(esd(matrix)).alpha)
            farms.append(farms_alpha(matrix).alpha)
        assert np.ptp(plain) > 1.5, plain
        assert np.ptp(farms) < 0.05, farms


@pytest.mark.parametrize("call, match", [
    (lambda: farms_grid(0, 5), "must be positive"),
    (lambda: farms_grid(50, 50, q_ratio=0), "must be positive"),
    (lambda: farms_grid(50, 50, ops_per_dim=1), "ops_per_dim must be >= 2"),
    (lambda: farms_grid(50, 1, q_ratio=2.0), "no window"),
    (lambda: farms_esd(np.ones((2, 3, 4))), "expected a matrix"),
    (lambda: farms_esd(np.full((4, 4), np.nan)), "NaN or Inf"),
    (lambda: farms_conv_esds(np.ones((2, 3, 5))), "N >= M"),
])
def test_farms_rejects_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
