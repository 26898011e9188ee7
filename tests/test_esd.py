"""Eigenvalues of W^T W against independent references."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info
from tqdm import tqdm

from htsr_utils import esd, esd_many
from htsr_utils.engine.parallel import one_thread_per_call

esd_module = sys.modules["htsr_utils.engine.esd"]


def _svd_reference(w: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False) ** 2)


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


def test_esd_many_equals_esd_of_each_batch():
    rng = np.random.default_rng(5)
    batches = [
        rng.standard_normal((300, 120)).astype(np.float32),
        torch.from_numpy(rng.standard_normal((4, 60, 90))),
        rng.standard_normal((9, 32, 32)),
        rng.standard_normal((2, 500, 3)),
    ]
    together = esd_many(batches)
    assert [e.shape for e in together] == [(120,), (4, 60), (9, 32), (2, 3)]
    for batch, evals in zip(batches, together):
        np.testing.assert_array_equal(evals, esd(batch))
    assert esd_many([]) == []


def test_blocked_product_matches_svd_and_does_not_depend_on_worker_count(monkeypatch):
    """A tall matrix multiplied in row blocks (``W^T W = sum_b W_b^T W_b``), summed in block
    order: the same bits with 1, 2 or 3 workers, and the eigenvalues of a float64 SVD."""
    monkeypatch.setattr(esd_module, "ROW_BLOCK", 64)
    monkeypatch.setattr(esd_module, "BLOCKED_PRODUCT_MIN", 1e4)
    rng = np.random.default_rng(6)
    w = (rng.pareto(2.0, (1000, 90)) * rng.choice([-1, 1], (1000, 90))).astype(np.float32)
    assert esd_module._blocked(1000, 90, "gram")
    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(esd_module, "N_WORKERS", workers)
        results.append(esd_many([w, w[None].repeat(2, axis=0)]))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    reference = _svd_reference(w)
    big = reference > 1e-6 * reference.max()
    np.testing.assert_allclose(results[0][0][big], reference[big], rtol=1e-8)
    np.testing.assert_array_equal(results[0][1], np.stack([results[0][0]] * 2))


def test_large_matrices_use_the_torch_eigensolver_and_match_svd(monkeypatch):
    calls = []
    monkeypatch.setattr(esd_module, "TORCH_EIGH_MIN_DIM", 100)
    monkeypatch.setattr(torch.linalg, "eigvalsh", lambda x, _f=torch.linalg.eigvalsh: calls.append(x.shape) or _f(x))
    w = np.random.default_rng(7).standard_normal((3, 400, 150))
    evals = esd(w)
    assert calls and all(shape[-1] == 150 for shape in calls)
    for matrix, row in zip(w, evals):
        np.testing.assert_allclose(row, _svd_reference(matrix), rtol=1e-9)


def test_an_error_in_a_worker_reaches_the_caller(monkeypatch):
    def broken(grams):
        if grams.shape[-1] == 30:
            raise RuntimeError("eigensolver failed for M=30")
        return np.linalg.eigvalsh(grams)

    monkeypatch.setattr(esd_module, "_eigvalsh", broken)
    monkeypatch.setattr(esd_module, "N_WORKERS", 2)
    rng = np.random.default_rng(8)
    with pytest.raises(RuntimeError, match="M=30"):
        esd_many([rng.standard_normal((40, 20)), rng.standard_normal((5, 40, 30)), rng.standard_normal((50, 20))])


def test_progress_counts_matrices_and_thread_limits_are_restored(monkeypatch):
    monkeypatch.setattr(esd_module, "ROW_BLOCK", 64)
    monkeypatch.setattr(esd_module, "BLOCKED_PRODUCT_MIN", 1e4)
    torch_threads = torch.get_num_threads()
    blas_threads = [pool["num_threads"] for pool in threadpool_info()]
    rng = np.random.default_rng(9)
    with tqdm(total=12, file=io.StringIO()) as bar:
        esd_many([rng.standard_normal((10, 30, 20)), rng.standard_normal((600, 40)),
                  rng.standard_normal((40, 30))], progress=bar)
        assert bar.n == 12
    assert torch.get_num_threads() == torch_threads
    assert [pool["num_threads"] for pool in threadpool_info()] == blas_threads


def test_one_thread_per_call_is_reentrant():
    torch_threads = torch.get_num_threads()
    with one_thread_per_call():
        with one_thread_per_call():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == torch_threads


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    w = np.random.default_rng(4).standard_normal((3, 256, 128))
    np.testing.assert_allclose(esd(w, device="cuda"), esd(w), rtol=1e-9, atol=1e-9)
