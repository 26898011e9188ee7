"""Record what a benchmark prints in ``benchmarks/results/<name>.txt`` as well as on screen.

Timings depend on the machine and its load, so they live in these result files (with the
date, CPU count and load average), never in docstrings or notebook text.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import sys
from collections.abc import Iterator
from pathlib import Path

from htsr_utils.storage.fileio import atomic_write

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def recorded(name: str) -> Iterator[None]:
    """Print as usual, and write everything printed to ``benchmarks/results/<name>.txt``."""
    buffer = io.StringIO()
    header = (f"# {name}: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f}\n")
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield
    path = atomic_write(RESULTS_DIR / f"{name}.txt", header + buffer.getvalue())
    print(f"results written to {path}")
