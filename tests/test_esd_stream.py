"""esd_stream: windows of batches solved in order, the next window overlapping the current one."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from htsr_utils import esd_many
from htsr_utils.engine.esd import WINDOWS_IN_FLIGHT, esd_stream

esd_module = sys.modules["htsr_utils.engine.esd"]


def _windows(seed: int, n: int) -> list[tuple[int, list[np.ndarray]]]:
    rng = np.random.default_rng(seed)
    return [(i, [rng.standard_normal((60 + 10 * i, 40)), rng.standard_normal((3, 50, 30 + i))])
            for i in range(n)]


def test_each_window_gets_esd_many_of_its_batches_in_order():
    windows = _windows(0, 5)
    solved = list(esd_stream(iter(windows)))
    assert [tag for tag, _ in solved] == list(range(5))
    for (_, batches), (_, spectra) in zip(windows, solved):
        for ours, alone in zip(spectra, esd_many(batches)):
            np.testing.assert_array_equal(ours, alone)


def test_the_next_window_starts_while_the_current_one_finishes(monkeypatch):
    """Two workers, window A of three equal units, window B of one: A's third unit runs on
    one worker while B's unit starts on the other, instead of that worker idling."""
    monkeypatch.setattr(esd_module, "N_WORKERS", 2)
    spans: dict[int, list[tuple[float, float]]] = {}
    lock = threading.Lock()
    gram = esd_module._gram

    def timed(stack, *args):
        start = time.perf_counter()
        time.sleep(0.3)
        out = gram(stack, *args)
        with lock:
            spans.setdefault(stack.shape[-1], []).append((start, time.perf_counter()))
        return out

    monkeypatch.setattr(esd_module, "_gram", timed)
    rng = np.random.default_rng(1)
    window_a = [rng.standard_normal((40, 20)) for _ in range(3)]  # M = 20
    window_b = [rng.standard_normal((40, 10))]  # M = 10
    list(esd_stream(iter([("a", window_a), ("b", window_b)])))
    last_of_a = max(end for _, end in spans[20])
    first_of_b = min(start for start, _ in spans[10])
    assert first_of_b < last_of_a, f"window b started {first_of_b - last_of_a:.2f} s after window a ended"


def test_no_more_than_two_windows_are_taken_ahead():
    taken: list[int] = []

    def windows():
        for tag, batches in _windows(2, 6):
            taken.append(tag)
            yield tag, batches

    for tag, _ in esd_stream(windows()):
        assert len(taken) <= tag + WINDOWS_IN_FLIGHT, f"{len(taken)} windows taken when window {tag} came"
    assert taken == list(range(6))


def test_bad_arguments_are_refused_before_a_window_is_taken():
    taken = []

    def windows():
        taken.append(0)
        yield 0, [np.ones((4, 3))]

    for bad, match in (({"precision": "float16"}, "precision"), ({"method": "qr"}, "method"),
                       ({"count": "layers"}, "count"), ({"device": "nonsense"}, "not a device name")):
        with pytest.raises(ValueError, match=match):
            esd_stream(windows(), **bad)
    assert not taken


def test_an_error_while_taking_a_window_reaches_the_caller():
    def windows():
        yield 0, [np.ones((5, 4))]
        raise RuntimeError("checkpoint shard 2 is truncated")

    with pytest.raises(RuntimeError, match="shard 2"):
        list(esd_stream(windows()))
    for thread in [t for t in threading.enumerate() if t.name.startswith("htsr-esd-")]:
        thread.join(30)
        assert not thread.is_alive(), "an ESD worker outlived the stream that failed"
