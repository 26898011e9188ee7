"""Eigenvalues of W^T W against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from htsr_utils import esd


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (200, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_eigenvalues_match_numpy_svd(shape, dtype):
    w = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    ours = esd(w)
    reference = np.sort(np.linalg.svd(w.astype(np.float64), compute_uv=False) ** 2)
    assert ours.shape == (min(shape),)
    assert np.all(np.diff(ours) >= 0)
    big = reference > 1e-6 * reference.max()
    np.testing.assert_allclose(ours[big], reference[big], rtol=1e-8)


def test_heavy_tailed_matrix_small_eigenvalues_are_accurate():
    """A wide dynamic range (Pareto entries): every eigenvalue above 1e-6 lambda_max."""
    rng = np.random.default_rng(1)
    w = (rng.pareto(1.5, (500, 200)) * rng.choice([-1, 1], (500, 200))).astype(np.float32)
    reference = np.sort(np.linalg.svd(w.astype(np.float64), compute_uv=False) ** 2)
    big = reference > 1e-6 * reference.max()
    np.testing.assert_allclose(esd(w)[big], reference[big], rtol=1e-8)


def test_batch_equals_one_by_one_and_svd_method():
    batch = np.random.default_rng(2).standard_normal((5, 64, 40))
    together = esd(batch)
    assert together.shape == (5, 40)
    for w, row in zip(batch, together):
        np.testing.assert_allclose(row, esd(w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(esd(batch, method="svd"), together, rtol=1e-9, atol=1e-9)


def test_accepts_torch_tensors():
    w = torch.randn(50, 30, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(esd(w), esd(w.numpy()), rtol=1e-12)


def test_marchenko_pastur_edges_of_gaussian_matrix():
    """Entries N(0, 1): eigenvalues of W^T W / N fill [(1 - sqrt q)^2, (1 + sqrt q)^2], q = M/N."""
    n, m = 4000, 1000
    w = np.random.default_rng(3).standard_normal((n, m))
    evals = esd(w) / n
    q = m / n
    assert evals.max() == pytest.approx((1 + np.sqrt(q)) ** 2, rel=0.02)
    assert evals.min() == pytest.approx((1 - np.sqrt(q)) ** 2, rel=0.05)
    # The mean eigenvalue is the mean squared entry, 1, exactly in expectation.
    assert evals.mean() == pytest.approx(1.0, rel=0.01)


def test_rejects_bad_shapes_and_methods():
    with pytest.raises(ValueError, match="matrix or a batch"):
        esd(np.ones(5))
    with pytest.raises(ValueError, match="method"):
        esd(np.ones((3, 2)), method="qr")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    w = np.random.default_rng(4).standard_normal((3, 256, 128))
    np.testing.assert_allclose(esd(w, device="cuda"), esd(w), rtol=1e-9, atol=1e-9)
