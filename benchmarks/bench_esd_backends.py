"""ESD backends: NumPy/OpenBLAS vs PyTorch/MKL, and BLAS thread oversubscription.

Run:  .venv/bin/python benchmarks/bench_esd_backends.py [--shapes big,4096,3072,2048,...]
      [--repeats 3] [--no-big-svd] [--no-oversubscription]

Part 1, backends.  For each shape (float32 weights, as stored by torch), the float64 Gram
product ``W^T W`` and its eigenvalues (``eigvalsh``), and the float64 singular values, with
NumPy (OpenBLAS, as bundled with the NumPy wheel) and PyTorch (MKL), each with the libraries'
default thread count (all cores) and with one thread (``threadpoolctl`` for OpenBLAS,
``torch.set_num_threads(1)`` for torch), and ``htsr_utils.esd`` (``htsr_utils/engine/esd.py``) as it is.  Times are medians
over ``--repeats`` runs (25088 x 4096 and 4096 x 4096: one run each; the SVDs of 25088 x 4096
only without ``--no-big-svd``); a "batch of 9" is one ``(9, N, M)`` call.

Part 2, oversubscription.  In fresh subprocesses (``OMP_WAIT_POLICY`` is read when libgomp
starts): NumPy Gram + eigvalsh of a batch right after a torch op on the same weights (what
``htsr_utils.engine.layers`` does: ``torch.isfinite``), with torch's OpenMP pool idle for 1 s
before, with ``torch.set_num_threads(1)``, and with OpenBLAS limited to one thread; under the
default ``OMP_WAIT_POLICY`` and ``OMP_WAIT_POLICY=PASSIVE``.

Other processes on this machine make timings noisy: the load average is printed before and
after, and medians are reported.  This is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = {
    "big": (1, 25088, 4096),  # vgg16 classifier.0
    "4096": (1, 4096, 4096),  # vgg16 classifier.3
    "3072": (1, 3072, 3072),  # where the eigensolvers cross over
    "2048": (1, 2048, 2048),
    "1000x4096": (1, 4096, 1000),  # vgg16 classifier.6
    "512x9": (9, 512, 512),  # a 3x3 conv, 512 -> 512
    "64x9": (9, 64, 64),  # a 3x3 conv, 64 -> 64
}


def _weights(shape: tuple[int, int, int]) -> np.ndarray:
    k, n, m = shape
    rng = np.random.default_rng(0)
    return (rng.standard_normal((k, n, m), dtype=np.float32) / np.sqrt(n)).astype(np.float32)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


# --------------------------------------------------------------------------- part 1


def backends(shapes: list[str], repeats: int, big_svd: bool) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    from htsr_utils import esd

    default_threads = torch.get_num_threads()
    print(f"\n== Part 1: backends (medians; torch {torch.__version__}, {default_threads} threads by default) ==")
    header = f"{'shape':<22} {'backend':<34} {'gram s':>8} {'eigh s':>8} {'total s':>8} {'svd s':>8}"
    print(header)
    print("-" * len(header))
    for key in shapes:
        shape = SHAPES[key]
        reps = 1 if key in ("big", "4096", "3072") else repeats
        w32 = _weights(shape)
        w = w32.astype(np.float64)
        label = f"{shape[0]} x {shape[1]} x {shape[2]}" if shape[0] > 1 else f"{shape[1]} x {shape[2]}"
        results = {}

        def numpy_run(threads):
            limit = threadpool_limits(threads, user_api="blas") if threads else _null()
            with limit:
                t_gram = _median_time(lambda: np.matmul(w.transpose(0, 2, 1), w), reps)
                gram = np.matmul(w.transpose(0, 2, 1), w)
                t_eigh = _median_time(lambda: np.linalg.eigvalsh(gram), reps)
                t_svd = (
                    _median_time(lambda: np.linalg.svd(w, compute_uv=False), reps)
                    if key != "big" or big_svd else float("nan")
                )
            return t_gram, t_eigh, t_svd

        def torch_run(threads):
            torch.set_num_threads(threads)
            try:
                tw = torch.from_numpy(w)
                t_gram = _median_time(lambda: tw.transpose(1, 2) @ tw, reps)
                gram = tw.transpose(1, 2) @ tw
                t_eigh = _median_time(lambda: torch.linalg.eigvalsh(gram), reps)
                t_svd = (
                    _median_time(lambda: torch.linalg.svdvals(tw), reps)
                    if key != "big" or big_svd else float("nan")
                )
            finally:
                torch.set_num_threads(default_threads)
            return t_gram, t_eigh, t_svd

        results[f"numpy/OpenBLAS, {default_threads} threads"] = numpy_run(None)
        results["numpy/OpenBLAS, 1 thread"] = numpy_run(1)
        results[f"torch/MKL, {default_threads} threads"] = torch_run(default_threads)
        results["torch/MKL, 1 thread"] = torch_run(1)
        for name, (t_gram, t_eigh, t_svd) in results.items():
            print(f"{label:<22} {name:<34} {t_gram:8.3f} {t_eigh:8.3f} {t_gram + t_eigh:8.3f} {t_svd:8.3f}")
        t_esd = _median_time(lambda: esd(w32), reps)
        print(f"{label:<22} {'htsr_utils.esd (float32 input)':<34} {'':>8} {'':>8} {t_esd:8.3f}")
        best = min(results, key=lambda n: results[n][0] + results[n][1])
        best_svd = min(results, key=lambda n: results[n][2] if np.isfinite(results[n][2]) else np.inf)
        ratio = (results["torch/MKL, %d threads" % default_threads][0]
                 / results["numpy/OpenBLAS, %d threads" % default_threads][0])
        print(f"{label:<22} fastest Gram+eigh: {best}; fastest SVD: {best_svd}; "
              f"Gram product torch/numpy time ratio {ratio:.2f}")
        print(_load())


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- part 2

_CHILD = r"""
import json, statistics, sys, time
import numpy as np, torch
from threadpoolctl import threadpool_limits
shape, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
k, n, m = shape
rng = np.random.default_rng(0)
w32 = (rng.standard_normal((k, n, m), dtype=np.float32) / np.sqrt(n)).astype(np.float32)
tw = torch.from_numpy(w32)
default_threads = torch.get_num_threads()

def numpy_esd():
    w = w32.astype(np.float64)
    return np.linalg.eigvalsh(np.matmul(w.transpose(0, 2, 1), w))

def timed(before, limit=None):
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        if limit:
            with threadpool_limits(limit, user_api="blas"):
                numpy_esd()
        else:
            numpy_esd()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

def torch_op():
    int((~torch.isfinite(tw)).sum())

def torch_op_then_idle():
    torch_op(); time.sleep(1.0)

def torch_op_one_thread():
    torch.set_num_threads(1); torch_op()

numpy_esd(); torch_op()
out = {
    "after a torch op": timed(torch_op),
    "torch pool idle 1 s": timed(torch_op_then_idle),
    "OpenBLAS 1 thread": timed(torch_op, limit=1),
}
out["torch.set_num_threads(1)"] = timed(torch_op_one_thread)
torch.set_num_threads(default_threads)
print(json.dumps(out))
"""


def oversubscription(shapes: list[str], repeats: int) -> None:
    print("\n== Part 2: oversubscription (NumPy Gram + eigvalsh of a batch, median seconds) ==")
    variants = {"OMP_WAIT_POLICY unset": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}
    for key in shapes:
        shape = SHAPES[key]
        reps = max(3, repeats) if key in ("512x9", "64x9") else repeats
        if key == "64x9":
            reps = 50
        for name, extra in variants.items():
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, json.dumps(shape), str(reps)],
                capture_output=True, text=True, env=env, check=True,
            )
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            cells = "  ".join(f"{k}: {v * 1e3:8.2f} ms" for k, v in result.items())
            print(f"{str(shape):<18} {name:<24} {cells}")
        print(_load())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="big,4096,3072,2048,1000x4096,512x9,64x9",
                        help="comma-separated subset of: " + ", ".join(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-big-svd", action="store_true", help="skip the SVDs of 25088 x 4096")
    parser.add_argument("--no-oversubscription", action="store_true")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = set(shapes) - set(SHAPES)
    if unknown:
        parser.error(f"unknown shapes {sorted(unknown)}; choose from {sorted(SHAPES)}")
    print(f"{os.cpu_count()} CPUs; {_load()}")
    backends(shapes, args.repeats, big_svd=not args.no_big_svd)
    if not args.no_oversubscription:
        oversubscription([s for s in shapes if s != "big"], args.repeats)


if __name__ == "__main__":
    from _record import recorded

    with recorded("bench_esd_backends"):
        main()
