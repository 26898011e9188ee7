"""The eigenvalue progress bar counts work, and an interrupt stops the workers."""

from __future__ import annotations

import _thread
import importlib
import threading

import numpy as np
import pytest

from htsr_utils import esd_many

#: Seconds after which a wait that should end at once is reported as a hang.
HANG_S = 120


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
    is done the bar must say so (a bar counting matrices would show 1/41)."""
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


def test_interrupt_stops_every_worker_after_its_current_unit(monkeypatch):
    """Two workers, each held inside its first unit of work while the interrupt arrives.

    The interrupt must reach the caller while both units are still running (it does not wait
    for them), and once they are let go, each worker ends without starting another unit.
    """
    esd_module = importlib.import_module("htsr_utils.engine.esd")  # htsr_utils.engine.esd is the function
    n_workers = 2
    monkeypatch.setattr(esd_module, "N_WORKERS", n_workers)
    started: list[str] = []
    lock, release = threading.Lock(), threading.Event()
    gram = esd_module._gram

    def held_unit(stack, *args):
        with lock:
            started.append(threading.current_thread().name)
            if len(started) == n_workers:  # every worker is inside a unit
                _thread.interrupt_main()
        if not release.wait(HANG_S):
            release.set()  # the interrupt never came: let the run finish, and the test fail
        return gram(stack, *args)

    monkeypatch.setattr(esd_module, "_gram", held_unit)
    rng = np.random.default_rng(1)
    with pytest.raises(KeyboardInterrupt):
        esd_many([rng.standard_normal((50, 50)) for _ in range(20)])  # one unit per matrix
    assert not release.is_set(), f"no interrupt reached the caller within {HANG_S} s"
    in_their_units = _esd_threads()
    assert len(in_their_units) == n_workers, "the interrupt waited for the units in progress"

    release.set()
    for thread in in_their_units:
        thread.join(HANG_S)
    assert not _esd_threads(), f"an ESD worker still runs {HANG_S} s after its unit was let go"
    assert sorted(started) == [f"htsr-esd-{i}" for i in range(n_workers)], \
        f"units started after the interrupt: {started}"
