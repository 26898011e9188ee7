"""Empirical spectral densities: the eigenvalues of ``X = W^T W``.

The default forms the Gram matrix in float64 and calls a symmetric eigensolver.  For an
``N x M`` matrix with ``N >= M`` that costs ``N M^2`` flops for the (symmetric) product plus
``O(M^3)`` for the eigenvalues, several times cheaper than the singular value decomposition of
``W`` itself.  Float32 weights are exactly representable in float64, so the product is
accumulated in float64 with no loss.  A bfloat16 / float16 tensor is converted (exactly) one
unit of work at a time, where its product is formed, so a half-precision model is held at its
stored size.  On the CPU the products use NumPy (OpenBLAS ``dsyrk``);
PyTorch serves ``device="cuda"``.

How the CPU work is scheduled (the measurements behind each choice:
``benchmarks/results/esd_scheduling_2026-11.md``; rerun ``benchmarks/bench_esd_backends.py``):

- Parallel over matrices, never inside a call: every product and eigensolver runs with one
  BLAS thread (:func:`htsr_utils.engine.parallel.one_thread_per_call`) and :data:`N_WORKERS` Python
  threads share the work (NumPy and PyTorch release the GIL in BLAS / LAPACK calls), because
  OpenBLAS's threaded LAPACK stalls whenever another process holds a core.
- :func:`esd_many` schedules the matrices of many layers together (a whole model): the work
  is cut into units of similar cost and the costliest run first, so both cores stay busy to
  the end instead of waiting on one layer's last matrix.
- :func:`esd_stream` does the same for a model read in windows of layers (a checkpoint
  streamed from disk): the next window's units start as soon as every unit of the current
  one has started, so the cores do not idle while a window's last eigensolver runs.
- A matrix whose product alone is large (``N M^2 >= 2e10`` and ``N >= 2 ROW_BLOCK``; vgg16's
  25088 x 4096 layer) is multiplied in blocks of :data:`ROW_BLOCK` rows, one unit per block,
  ``W^T W = sum_b W_b^T W_b`` summed in block order, so the result does not depend on the
  number of workers or on which block finishes first.
- The eigensolver is NumPy's (OpenBLAS ``dsyevd``) below :data:`TORCH_EIGH_MIN_DIM` and
  PyTorch's (MKL ``dsyevd``) from there on, single-threaded: each is the faster one in its
  range.  Both agree to ~1e-14 relative; the tests hold either to a float64 SVD.
- Products stay in float64: float32 accumulation would lose the small eigenvalues that the
  fit's xmin candidates include.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Literal, Sequence, TypeVar

import numpy as np

from .parallel import N_CPUS, one_thread_per_call

if TYPE_CHECKING:  # torch is imported where a tensor or MKL is used, not at import time
    import torch
    from tqdm import tqdm

__all__ = ["DTYPES", "Precision", "check_device", "check_precision", "esd", "esd_many", "esd_stream",
           "tall_stack"]

#: Python threads sharing the matrices (usable CPUs).
N_WORKERS: int = N_CPUS

#: Rows per block when one large product is split among workers.
ROW_BLOCK = 4096

#: A matrix whose product has at least this many multiply-adds (``N M^2``) is split in blocks.
BLOCKED_PRODUCT_MIN = 2e10

#: From this size on, PyTorch's (MKL) eigensolver is used on the CPU.
TORCH_EIGH_MIN_DIM = 2560

#: Largest float64 working set (bytes) of one unit of work.
_UNIT_BYTES = 1 << 28

#: Units per worker the total work is cut into (smaller units balance the cores better).
_UNITS_PER_WORKER = 8

#: Relative cost of an ``M x M`` eigensolver per ``M^3``, in multiply-adds of the product.
_EIGH_COST = 3.0

Method = Literal["gram", "svd"]
Precision = Literal["float64", "float32"]

#: The floating-point type of the products and eigensolvers of each precision.
DTYPES: dict[str, type] = {"float64": np.float64, "float32": np.float32}

#: Windows of :func:`esd_stream` being solved at a time.
WINDOWS_IN_FLIGHT = 2

T = TypeVar("T")


def esd(weights: np.ndarray | torch.Tensor, *, method: Method = "gram", device: str = "cpu",
        precision: Precision = "float64") -> np.ndarray:
    """Eigenvalues of ``W^T W`` for one matrix or a batch of equal-shape matrices.

    Parameters
    ----------
    weights : array or tensor of shape ``(N, M)`` or ``(k, N, M)``
        The matrices; each is transposed if needed so that ``N >= M``.
    method : {"gram", "svd"}
        ``"gram"``: float64 Gram matrix and symmetric eigensolver (fast);
        ``"svd"``: squared singular values of ``W`` in float64 (slower reference).
    device : str
        ``"cpu"`` (NumPy / OpenBLAS, large eigensolvers MKL) or a PyTorch device such as
        ``"cuda"``.
    precision : {"float64", "float32"}
        Arithmetic of the products and eigensolvers.  ``"float64"`` (default) is exact for
        float32 and half-precision weights up to the eigensolver's rounding; ``"float32"``
        is about twice as fast and loses the eigenvalues below about ``M * 1e-7 *
        lambda_max`` to rounding (``htsr_utils.engine.metrics.fit_eigenvalues`` leaves them
        out of the fit).

    Returns
    -------
    ndarray
        Ascending eigenvalues, shape ``(M,)`` or ``(k, M)``, float64, clipped at 0
        (rounding can leave tiny negative values).

    Raises
    ------
    ValueError
        If ``weights`` is not 2-D or 3-D, or ``method`` or ``precision`` is unknown.
    """
    return esd_many([weights], method=method, device=device, precision=precision)[0]


def esd_many(
    batches: Sequence[np.ndarray | torch.Tensor],
    *,
    method: Method = "gram",
    device: str = "cpu",
    progress: tqdm | None = None,
    count: Literal["matrices", "work"] = "matrices",
    precision: Precision = "float64",
) -> list[np.ndarray]:
    """:func:`esd` of several batches (e.g. every layer of a model), scheduled together.

    On the CPU all matrices of all batches are shared among :data:`N_WORKERS` threads, the
    costliest first (see the module docstring); the result is the same as calling
    :func:`esd` on each batch, whatever the number of workers.

    Parameters
    ----------
    batches : sequence of arrays or tensors
        Each of shape ``(N, M)`` or ``(k, N, M)``; shapes may differ between batches.
    method, device, precision
        As for :func:`esd`.
    progress : tqdm, optional
        A progress bar, advanced as each unit of work (a few matrices, one block of a large
        product, one eigensolver) is done.
    count : {"matrices", "work"}
        What ``progress`` counts: ``"matrices"`` whose eigenvalues are done (its ``total`` is
        the caller's); ``"work"``, in multiply-adds: its ``total`` is increased by the
        planned work of these batches, so that it moves in proportion to the time spent
        (the costliest matrices run first, so counting matrices stalls at the start).

    Returns
    -------
    list of ndarray
        ``esd(batch)`` for each batch, in order.
    """
    [(_, spectra)] = esd_stream([(None, batches)], method=method, device=device, progress=progress,
                                count=count, precision=precision)
    return spectra


def esd_stream(
    windows: Iterable[tuple[T, Sequence[np.ndarray | torch.Tensor]]],
    *,
    method: Method = "gram",
    device: str = "cpu",
    progress: tqdm | None = None,
    count: Literal["matrices", "work"] = "matrices",
    precision: Precision = "float64",
) -> Iterator[tuple[T, list[np.ndarray]]]:
    """:func:`esd_many` of each window of batches, in order, consecutive windows overlapped.

    For a model read a few layers at a time (a checkpoint streamed from disk).  On the CPU
    the next window is taken from ``windows`` as soon as every unit of work of the current
    one has started, and its units run on the cores that the current window's last units
    leave idle; the current window keeps precedence.  At most :data:`WINDOWS_IN_FLIGHT`
    windows are being solved at a time.  On a PyTorch device each window is solved in turn.
    The results are those of :func:`esd_many` on each window.

    Parameters
    ----------
    windows : iterable of (tag, sequence of arrays or tensors)
        The batches of each window (shapes as for :func:`esd_many`), with a tag of the
        caller's (e.g. the layers they belong to).
    method, device, progress, count, precision
        As for :func:`esd_many`; with ``count="work"`` the bar's ``total`` grows as each
        window is taken.

    Yields
    ------
    (tag, list of ndarray)
        Each window's tag and ``esd_many(batches)``, in the order of ``windows``.

    Raises
    ------
    ValueError
        If ``method``, ``precision``, ``count`` or ``device`` is unknown (before any window
        is taken), or a batch is not 2-D or 3-D.
    """
    if method not in ("gram", "svd"):
        raise ValueError(f"method must be 'gram' or 'svd', not {method!r}")
    check_precision(precision)
    if count not in ("matrices", "work"):
        raise ValueError(f"count must be 'matrices' or 'work', not {count!r}")
    check_device(device)
    return _stream(iter(windows), method, device, progress, count, DTYPES[precision])


def _stream(windows: Iterator, method: str, device: str, progress: tqdm | None, count: str,
            dtype: type) -> Iterator[tuple]:
    def take() -> tuple | None:
        window = next(windows, None)
        if window is None:
            return None
        tag, batches = window
        stacks = [tall_stack(batch) for batch in batches]
        if progress is not None and count == "work":
            progress.total += sum(_stack_cost(s, method) for s in stacks)
            progress.refresh()
        return tag, batches, stacks

    def result(batches: Sequence, outs: list[np.ndarray]) -> list[np.ndarray]:
        for out in outs:
            np.maximum(out, 0.0, out=out)
        return [out[0] if batch.ndim == 2 else out for batch, out in zip(batches, outs)]

    if device != "cpu":
        while (window := take()) is not None:
            tag, batches, stacks = window
            yield tag, result(batches, _esd_torch_many(stacks, method, device, dtype, progress, count))
        return
    schedule = _Schedule(N_WORKERS, progress, count)
    in_flight: deque = deque()
    exhausted = False
    with one_thread_per_call():
        try:
            while True:
                can_take = not exhausted and len(in_flight) < WINDOWS_IN_FLIGHT
                if can_take and schedule.all_started():
                    window = take()
                    if window is None:
                        exhausted = True
                    else:
                        tag, batches, stacks = window
                        outs = [np.empty((s.shape[0], s.shape[2])) for s in stacks]
                        in_flight.append((tag, batches, outs, schedule.submit_window(
                            _plan(stacks, outs, method, dtype))))
                    continue
                if not in_flight:
                    break
                tag, batches, outs, number = in_flight[0]
                if schedule.wait(number, wake_when_started=can_take):
                    in_flight.popleft()
                    yield tag, result(batches, outs)
            schedule.close()
        finally:
            schedule.stop()


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`DTYPES`.

    Raises
    ------
    ValueError
        One line naming the value and the choices.
    """
    if precision not in DTYPES:
        raise ValueError(f"precision must be 'float64' or 'float32', not {precision!r}")
    return precision


def check_device(device: str) -> str:
    """``device`` if eigenvalues can be computed there: ``"cpu"``, or a PyTorch device present.

    Raises
    ------
    ValueError
        One line naming the device: not a device name, or (``"cuda"``, ``"mps"``) none of that
        kind is available to PyTorch on this machine.
    """
    if device == "cpu":
        return device
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a device name (e.g. 'cpu', 'cuda', 'cuda:1')") from exc
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}.get(kind)
    if available is not None and not available():
        raise ValueError(f"device {device!r}: no {kind.upper()} device is available to PyTorch on this "
                         "machine; use device='cpu'")
    return device


def tall_stack(batch: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``batch`` (an array or tensor, ``(N, M)`` or ``(k, N, M)``) as ``(k, N, M)`` with ``N >= M``
    (a view where possible).

    Raises
    ------
    ValueError
        If ``batch`` is not 2-D or 3-D.
    """
    if batch.ndim not in (2, 3):
        raise ValueError(f"esd expects a matrix or a batch of matrices, got shape {tuple(batch.shape)}")
    stack = batch[None] if batch.ndim == 2 else batch
    if stack.shape[1] < stack.shape[2]:
        stack = stack.transpose(1, 2) if _is_tensor(stack) else stack.transpose(0, 2, 1)
    return stack


# --------------------------------------------------------------------------- CPU kernels


def _is_tensor(array: object) -> bool:
    """Whether ``array`` is a torch tensor (without importing torch if nothing has)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


def _as_dtype(stack: np.ndarray | torch.Tensor, dtype: type) -> np.ndarray:
    """``stack`` as a NumPy array of ``dtype`` (a half-precision tensor is converted exactly)."""
    if _is_tensor(stack):
        import torch

        stack = stack.detach().cpu()
        if stack.dtype in (torch.bfloat16, torch.float16):
            torch.set_num_threads(1)  # OpenMP keeps the limit per thread
            stack = stack.to(torch.float64 if dtype is np.float64 else torch.float32)
        stack = stack.numpy()
    return np.asarray(stack, dtype=dtype)


def _gram(stack: np.ndarray | torch.Tensor, dtype: type) -> np.ndarray:
    """``W^T W`` of each matrix, float64 (NumPy uses ``dsyrk`` for a product with its transpose)."""
    stack = _as_dtype(stack, dtype)
    if stack.ndim == 2:
        return stack.T @ stack
    return np.matmul(stack.transpose(0, 2, 1), stack)


def _eigvalsh(grams: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of symmetric matrices, by the faster single-threaded solver."""
    if grams.shape[-1] >= TORCH_EIGH_MIN_DIM:
        import torch

        torch.set_num_threads(1)  # OpenMP keeps the limit per thread
        return torch.linalg.eigvalsh(torch.from_numpy(grams)).numpy()
    return np.linalg.eigvalsh(grams)


def _svd_evals(stack: np.ndarray | torch.Tensor, dtype: type) -> np.ndarray:
    return np.linalg.svd(_as_dtype(stack, dtype), compute_uv=False)[:, ::-1] ** 2


# --------------------------------------------------------------------------- planning


def _matrix_cost(n: int, m: int, method: str) -> float:
    """Estimated cost of one matrix, in multiply-adds of a product."""
    if method == "svd":
        return 4.0 * n * m * m + 4.0 * _EIGH_COST * m**3
    return float(n) * m * m + _EIGH_COST * m**3


def _stack_cost(stack, method: str) -> float:
    """Estimated cost of a ``(k, N, M)`` stack, in multiply-adds of a product."""
    return stack.shape[0] * _matrix_cost(stack.shape[1], stack.shape[2], method)


def _blocked(n: int, m: int, method: str) -> bool:
    return method == "gram" and n >= 2 * ROW_BLOCK and float(n) * m * m >= BLOCKED_PRODUCT_MIN


def _plan(stacks: Sequence, outs: Sequence[np.ndarray], method: str,
          dtype: type) -> list[tuple[float, Callable]]:
    """Units of work ``(priority, job)``; a job may submit follow-up units."""
    total = sum(_stack_cost(s, method) for s in stacks)
    target = total / (N_WORKERS * _UNITS_PER_WORKER)
    units: list[tuple[float, Callable]] = []
    for stack, out in zip(stacks, outs):
        k, n, m = stack.shape
        cost = _matrix_cost(n, m, method)
        if _blocked(n, m, method):
            for i in range(k):
                units.extend(_BlockedGram(stack[i], out[i], priority=cost, method=method,
                                          dtype=dtype).units())
            continue
        per_unit = int(max(1, min(k, target // cost, _UNIT_BYTES // (8 * n * m))))
        for lo in range(0, k, per_unit):
            hi = min(k, lo + per_unit)
            units.append(((hi - lo) * cost, _slice_job(stack, out, lo, hi, method, dtype)))
    return units


def _slice_job(stack, out: np.ndarray, lo: int, hi: int, method: str, dtype: type) -> Callable:
    def job(schedule: _Schedule) -> None:
        part = stack[lo:hi]
        out[lo:hi] = _svd_evals(part, dtype) if method == "svd" else _eigvalsh(_gram(part, dtype))
        schedule.done(hi - lo, (hi - lo) * _matrix_cost(stack.shape[1], stack.shape[2], method))

    return job


class _BlockedGram:
    """``W^T W`` of one large matrix as a sum over row blocks, then its eigenvalues."""

    def __init__(self, matrix, out: np.ndarray, priority: float, method: str, dtype: type) -> None:
        self.matrix, self.out, self.priority, self.dtype = matrix, out, priority, dtype
        n, m = matrix.shape
        self.eigen_cost = _matrix_cost(n, m, method) - float(n) * m * m
        self.n_blocks = -(-matrix.shape[0] // ROW_BLOCK)
        self.finished: dict[int, np.ndarray] = {}
        self.next_block = 0
        self.total: np.ndarray | None = None
        self.lock = threading.Lock()

    def units(self) -> list[tuple[float, Callable]]:
        return [(self.priority, self._block_job(b)) for b in range(self.n_blocks)]

    def _block_job(self, block: int) -> Callable:
        def job(schedule: _Schedule) -> None:
            rows = self.matrix[block * ROW_BLOCK : (block + 1) * ROW_BLOCK]
            part = _gram(rows, self.dtype)
            with self.lock:  # add in block order, whatever order the blocks finish in
                self.finished[block] = part
                while self.next_block in self.finished:
                    part = self.finished.pop(self.next_block)
                    if self.total is None:
                        self.total = part
                    else:
                        self.total += part
                    self.next_block += 1
                complete = self.next_block == self.n_blocks
            schedule.done(0, float(rows.shape[0]) * rows.shape[1] ** 2)
            if complete:
                schedule.submit(self.priority, self._eigen_job)

        return job

    def _eigen_job(self, schedule: _Schedule) -> None:
        self.out[:] = _eigvalsh(self.total)
        self.total = None
        schedule.done(1, self.eigen_cost)


# --------------------------------------------------------------------------- scheduling


class _Schedule:
    """Run jobs on ``n_workers`` threads, window by window, highest priority first.

    Jobs come in windows (:meth:`submit_window`); a job of an earlier window runs before any
    of a later one, and a job may submit follow-up jobs (to its own window).  The workers
    are daemon threads and the calling thread waits for them in short timed waits
    (:meth:`wait`), so a ``KeyboardInterrupt`` reaches it at once.  It then calls
    :meth:`stop`: no worker starts another unit, each ends after the unit it is in (a BLAS /
    LAPACK call cannot be cancelled), and the interrupt propagates without waiting for them.
    """

    #: Seconds between the calling thread's checks for an interrupt.
    POLL_S = 0.05

    def __init__(self, n_workers: int, progress: tqdm | None, count: str = "matrices") -> None:
        self.n_workers = n_workers
        self.progress = progress
        self.count = count
        self._heap: list = []
        self._order = itertools.count()
        self._windows = itertools.count()
        self._outstanding: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._error: BaseException | None = None
        self._stop = False
        self._closed = False
        self._cv = threading.Condition()

    def submit_window(self, units: Sequence[tuple[float, Callable]]) -> int:
        """Queue the ``(priority, job)`` units of a new window; returns the window's number."""
        number = next(self._windows)
        with self._cv:
            self._outstanding[number] = 0
            for priority, job in units:
                self._push(number, priority, job)
        self._start(min(self.n_workers, len(units)) - len(self._threads))
        return number

    def submit(self, priority: float, job: Callable) -> None:
        """Queue a follow-up job, in the window of the job that submits it."""
        with self._cv:
            self._push(self._local.window, priority, job)

    def done(self, matrices: int, work: float) -> None:
        """Advance the progress bar by the matrices finished or the multiply-adds done."""
        if self.progress is not None:
            with self._cv:
                if not self._stop:
                    self.progress.update(work if self.count == "work" else matrices)

    def all_started(self) -> bool:
        """Whether every queued job has started."""
        with self._cv:
            return not self._heap

    def wait(self, number: int, wake_when_started: bool = False) -> bool:
        """Wait (at most :attr:`POLL_S`) until window ``number`` is done; whether it is.

        With ``wake_when_started``, return early once every queued job has started.  A
        worker's error is raised here.
        """
        with self._cv:
            self._cv.wait_for(lambda: self._error is not None or not self._outstanding[number]
                              or (wake_when_started and not self._heap), self.POLL_S)
            if self._error is not None:
                raise self._error
            if self._outstanding[number]:
                return False
            del self._outstanding[number]
            return True

    def close(self) -> None:
        """No more windows: the workers end when the queue is empty."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for thread in self._threads:
            while thread.is_alive():
                thread.join(self.POLL_S)

    def stop(self) -> None:
        """Let no worker start another unit."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()

    def _push(self, number: int, priority: float, job: Callable) -> None:
        heapq.heappush(self._heap, (number, -priority, next(self._order), job))
        self._outstanding[number] += 1
        self._cv.notify()

    def _start(self, n_threads: int) -> None:
        """Start ``n_threads`` more workers (none if it is 0 or less)."""
        for _ in range(n_threads):
            thread = threading.Thread(target=self._work, name=f"htsr-esd-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._heap and not self._closed and self._error is None and not self._stop:
                    self._cv.wait()
                if not self._heap or self._error is not None or self._stop:
                    return
                number, _, _, job = heapq.heappop(self._heap)
                self._cv.notify_all()  # the caller may be waiting for every job to start
            self._local.window = number
            try:
                job(self)
            except BaseException as error:  # re-raised by wait() in the caller's thread
                with self._cv:
                    self._error = self._error or error
            finally:
                with self._cv:
                    self._outstanding[number] -= 1
                    self._cv.notify_all()


# --------------------------------------------------------------------------- other devices


#: Largest float64 working set (bytes) of one batched solve on a PyTorch device.
DEVICE_BATCH_BYTES = 1 << 31


def _esd_torch_many(stacks: Sequence, method: str, device: str, dtype: type, progress: tqdm | None,
                    count: str) -> list[np.ndarray]:
    """:func:`esd_many` on a PyTorch device: the matrices of one shape solved together.

    The stacks of equal ``(N, M)`` (e.g. the four 4096 x 4096 attention matrices of every
    block of a LLaMA model) are concatenated and solved in batched calls of at most
    :data:`DEVICE_BATCH_BYTES` each; the results are split back in order.
    """
    outs: list[np.ndarray | None] = [None] * len(stacks)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, stack in enumerate(stacks):
        by_shape.setdefault(tuple(stack.shape[1:]), []).append(i)
    for (n, m), members in by_shape.items():
        per_call = max(1, DEVICE_BATCH_BYTES // (8 * (n * m + m * m)))
        matrices = [(i, j) for i in members for j in range(stacks[i].shape[0])]
        results: dict[int, list[np.ndarray]] = {i: [] for i in members}
        for lo in range(0, len(matrices), per_call):
            part = matrices[lo:lo + per_call]
            batch = _stack_parts([stacks[i][j] for i, j in part])
            evals = _esd_torch(batch, method, device, dtype)
            for (i, _), values in zip(part, evals):
                results[i].append(values)
            if progress is not None:
                work = len(part) * _matrix_cost(n, m, method)
                progress.update(work if count == "work" else len(part))
        for i in members:
            outs[i] = np.stack(results[i])
    return outs


def _stack_parts(parts: list) -> np.ndarray | torch.Tensor:
    """Matrices of one shape (arrays or tensors) as one ``(k, N, M)`` stack."""
    if _is_tensor(parts[0]):
        import torch

        return torch.stack([torch.as_tensor(p) for p in parts])
    return np.stack([np.asarray(p) for p in parts])


def _esd_torch(stack: np.ndarray | torch.Tensor, method: str, device: str, dtype: type) -> np.ndarray:
    import torch

    torch_dtype = torch.float64 if dtype is np.float64 else torch.float32
    w = torch.as_tensor(stack).to(device=device, dtype=torch_dtype)
    with torch.no_grad():
        if method == "gram":
            evals = torch.linalg.eigvalsh(w.transpose(1, 2) @ w)
        else:
            evals = torch.linalg.svdvals(w).flip(-1) ** 2
    return evals.cpu().numpy()
