#!/usr/bin/env python3
"""How much notebook code is copied from another notebook.

Usage::

    python scripts/notebook_duplication.py                       # notebooks/*.ipynb
    python scripts/notebook_duplication.py notebooks/0[0-8]_*.ipynb   # only among these
    python scripts/notebook_duplication.py --show                 # also print the duplicated lines

The measure, over the code cells of each notebook except the one tagged ``parameters``
(papermill needs every notebook to declare its own): the lines that are neither blank nor
comments, with surrounding whitespace stripped, in cell order.  A line counts as duplicated
when it belongs to a run of at least :data:`MIN_RUN` consecutive lines that also occurs,
verbatim, in another notebook of the set measured.  Printed: per notebook and in total, the
lines, the duplicated lines and their percentage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Fewest consecutive lines that make a copy.
MIN_RUN = 3


@dataclass(frozen=True)
class Duplication:
    """Lines and duplicated lines of one notebook (or of all, for the total)."""

    name: str
    lines: int
    duplicated: int

    @property
    def percent(self) -> float:
        """Duplicated lines in percent of the lines (0 when there are none)."""
        return 100.0 * self.duplicated / self.lines if self.lines else 0.0


def code_lines(notebook: dict) -> list[str]:
    """The measured lines of a notebook (its JSON as a dict), in cell order.

    Parameters
    ----------
    notebook : dict
        A notebook as ``json.load`` reads it.

    Returns
    -------
    list of str
        The stripped lines of every code cell not tagged ``parameters``, without blank lines
        and lines that are only a comment.
    """
    lines = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        lines += [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]
    return lines


def _runs(lines: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(lines[i:i + MIN_RUN]) for i in range(len(lines) - MIN_RUN + 1)}


def duplicated_lines(lines: Sequence[str], others: Iterable[Sequence[str]]) -> list[bool]:
    """Which of ``lines`` belong to a run of :data:`MIN_RUN` or more also found in ``others``.

    Parameters
    ----------
    lines : sequence of str
        One notebook's measured lines (:func:`code_lines`).
    others : iterable of sequences of str
        The measured lines of every other notebook.

    Returns
    -------
    list of bool
        One flag per line.  A run of any length found elsewhere is made of windows of
        :data:`MIN_RUN` lines found elsewhere, so a line is flagged when a window holding it is.
    """
    elsewhere: set[tuple[str, ...]] = set().union(*(_runs(other) for other in others))
    flags = [False] * len(lines)
    for i in range(len(lines) - MIN_RUN + 1):
        if tuple(lines[i:i + MIN_RUN]) in elsewhere:
            flags[i:i + MIN_RUN] = [True] * MIN_RUN
    return flags


def flagged(paths: Sequence[str | Path]) -> dict[str, list[tuple[str, bool]]]:
    """Each notebook's measured lines, each with whether it is duplicated.

    Parameters
    ----------
    paths : sequence of path-like
        The notebooks measured (each against all the others of this set).

    Returns
    -------
    dict
        Notebook file name -> ``[(line, duplicated), ...]`` in the order given.
    """
    lines = {Path(p).name: code_lines(json.loads(Path(p).read_text(encoding="utf-8"))) for p in paths}
    return {name: list(zip(own, duplicated_lines(own, [other for key, other in lines.items() if key != name])))
            for name, own in lines.items()}


def measure(paths: Sequence[str | Path]) -> list[Duplication]:
    """Duplication of each notebook of ``paths`` against the others (as :func:`flagged`), and the total.

    Returns
    -------
    list of Duplication
        One per notebook, in the order given, then ``Duplication("total", ...)``.
    """
    return _tally(flagged(paths))


def _tally(flags: dict[str, list[tuple[str, bool]]]) -> list[Duplication]:
    rows = [Duplication(name, len(lines), sum(dup for _, dup in lines)) for name, lines in flags.items()]
    rows.append(Duplication("total", sum(r.lines for r in rows), sum(r.duplicated for r in rows)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--show", action="store_true", help="also print each notebook's duplicated lines")
    args = parser.parse_args(argv)
    flags = flagged(args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")))
    if args.show:
        for name, lines in flags.items():
            for line in (text for text, dup in lines if dup):
                print(f"{name}: {line}")
    rows = _tally(flags)
    width = max(len(r.name) for r in rows)
    print(f"{'notebook':<{width}}  {'lines':>5}  {'duplicated':>10}  {'percent':>7}")
    for row in rows:
        print(f"{row.name:<{width}}  {row.lines:>5}  {row.duplicated:>10}  {row.percent:>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
