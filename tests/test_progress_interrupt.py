"""Issue 9: the eigenvalue progress bar counts work, and an interrupt stops the workers."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest

from htsr_utils import esd_many


class RecordingBar:
    """Stands in for a tqdm bar: records the fraction done after each update."""

    def __init__(self) -> None:
        self.total, self.n, self.fractions = 0.0, 0.0, []

    def refresh(self) -> None:
        pass

    def update(self, work: float) -> None:
        self.n += work
        self.fractions.append(self.n / self.total)


def test_progress_moves_in_proportion_to_the_work():
    """One large matrix and 40 small ones: the large one is about all the work, and when it
    is done the bar must say so (counting matrices, it showed 1/41)."""
    rng = np.random.default_rng(0)
    large = rng.standard_normal((1200, 1200))
    small = rng.standard_normal((40, 60, 60))
    bar = RecordingBar()
    esd_many([large, small], progress=bar, count="work")
    assert bar.fractions[-1] == pytest.approx(1.0)
    assert np.all(np.diff(bar.fractions) > 0)
    # the large matrix is one unit of ~99% of the work: one update moves the bar that far
    assert np.diff([0.0, *bar.fractions]).max() > 0.9


def _esd_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("htsr-esd-")]


def test_interrupt_stops_every_worker_after_its_current_unit():
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((400, 400)) for _ in range(400)]  # ~0.02 s per matrix
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        esd_many(batches)
    interrupted = time.monotonic() - started
    timer.join()
    assert interrupted < 0.5 + 2.0, f"KeyboardInterrupt reached the caller after {interrupted:.1f} s"
    deadline = time.monotonic() + 5.0  # a worker finishes the unit it is in (shared cores)
    while _esd_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _esd_threads(), "ESD workers still running after the interrupt"
