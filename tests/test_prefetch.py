"""engine.parallel.prefetch: the items in order, at most two out at a time, errors raised in the
caller, the producer stopped when the caller stops."""

from __future__ import annotations

import threading
import time

import pytest

from htsr_utils.engine.parallel import prefetch


def test_items_in_order_with_at_most_two_out():
    produced, out, peak = [], set(), []
    lock = threading.Lock()

    def items():
        for i in range(20):
            with lock:
                out.add(i)
                peak.append(len(out))
            produced.append(i)
            yield i

    seen = []
    for i in prefetch(items()):
        time.sleep(0.005)  # the caller works on item i
        seen.append(i)
        with lock:
            out.discard(i)
    assert seen == list(range(20)) and max(peak) <= 2


def test_a_producer_error_reaches_the_caller():
    def items():
        yield 1
        raise ValueError("bad shard")

    got = []
    with pytest.raises(ValueError, match="bad shard"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1]


def test_closing_stops_the_producer():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    iterator = prefetch(items())
    assert next(iterator) == 0
    iterator.close()
    time.sleep(0.3)
    assert len(produced) <= 3
