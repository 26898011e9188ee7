"""Parallelism of htsr: one thread per BLAS / LAPACK call, and process pools that respect it.

OpenBLAS's threaded LAPACK routines synchronize their threads thousands of times per call;
when other processes hold the cores (the usual state of a shared machine) each
synchronization waits for a time slice, and a call can take several times longer with two
threads than with one (``benchmarks/results/esd_scheduling_2026-11.md``).  htsr therefore
parallelizes over matrices (one single-threaded call per matrix, :mod:`htsr_utils.engine.esd`)
instead of inside a call, and runs small-matrix work (training the MLPs, MiniLM)
single-threaded.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["N_CPUS", "one_thread_per_call", "prefetch", "process_pool"]

#: CPUs this process may run on.
N_CPUS: int = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

T = TypeVar("T")

#: Seconds between a waiting consumer's checks for an interrupt.
_POLL_S = 0.05

_lock = threading.Lock()
_state: dict = {"depth": 0, "limiter": None, "torch_threads": None}


@contextlib.contextmanager
def one_thread_per_call() -> Iterator[None]:
    """Limit NumPy's BLAS / LAPACK, OpenMP and torch's intra-op pool (MKL) to one thread.

    Re-entrant and thread-safe: the first caller to enter sets the limits, the last to leave
    restores them.  The limits are process-wide while any caller is inside.  Threads started
    inside the block that call torch should also call :func:`torch.set_num_threads` ``(1)``
    themselves (OpenMP keeps the setting per thread).

    Yields
    ------
    None
    """
    import torch  # here, not at import time: ``htsr --help`` must not wait for torch

    with _lock:
        if _state["depth"] == 0:
            _state["limiter"] = _controller().limit(limits=1)
            _state["torch_threads"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                torch.set_num_threads(_state["torch_threads"])
                _state["limiter"].restore_original_limits()
                _state["limiter"] = None


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def process_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool that does not oversubscribe the CPU (many models, many trainings).

    Workers are spawned (forking a process whose torch / OpenMP threads have run can
    deadlock) and each uses ``cpu_count // max_workers`` BLAS and torch threads: with the
    default of one thread per core in every worker, busy-waiting BLAS threads slow the
    eigenvalue computations down several times.  Workers ignore Ctrl-C (SIGINT, which a
    terminal sends to the whole process group): the caller handles the interrupt.

    Parameters
    ----------
    max_workers : int
        Number of worker processes.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
    """
    threads = max(1, N_CPUS // max_workers)
    return ProcessPoolExecutor(max_workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_limit_threads, initargs=(threads,))


def _limit_threads(threads: int) -> None:
    """Worker initializer: ignore SIGINT, then limit BLAS and torch to ``threads`` threads."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    _controller().limit(limits=threads)
    torch.set_num_threads(threads)


def prefetch(items: Iterable[T]) -> Iterator[T]:
    """Yield the items of ``items``, producing the next one in a background thread meanwhile.

    While the caller works on one item, the next is read (e.g. a checkpoint's next tensors from
    disk): at most two items are out at a time, the one the caller works on and the one being
    read.  An exception of the producer is raised in the caller; the caller waits in short timed
    gets, so a ``KeyboardInterrupt`` reaches it at once, and closing the iterator stops the
    producer after the item it is producing.

    Parameters
    ----------
    items : iterable
        Produced in the background thread, in order.

    Yields
    ------
    The items, in order.
    """
    ready: queue.Queue = queue.Queue()
    slots = threading.Semaphore(2)  # the item the caller works on, and the one being read
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            iterator = iter(items)
            while True:
                while not slots.acquire(timeout=_POLL_S):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(iterator, done)
                ready.put((item, None))
                if item is done:
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            ready.put((done, exc))

    thread = threading.Thread(target=produce, name="htsr-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item, error = ready.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
            slots.release()  # the caller is done with this item
    finally:
        stop.set()
