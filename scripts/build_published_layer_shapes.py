"""Rebuild data/published_layer_shapes.csv from the ww-trends-2020 per-layer files.

Reads every per-layer table ``*.csv`` of ``data/sources/ww-trends-2020/data/`` and of its
``resnet-1k/`` folder (weightwatcher 0.2.7 details, one row per analyzed Conv2D slice or
Linear matrix and one per layer) and keeps, verbatim, the columns that name a matrix:
``layer_id``, ``layer_type``, ``level``, ``N``, ``M``.  ``file`` is the path below ``data/``.
``osmr/df_all.csv`` is a per-model summary (no shapes) and is not read.

Usage: python scripts/build_published_layer_shapes.py [path/to/ww-trends-2020]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from htsr_utils.storage.fileio import atomic_write  # noqa: E402

COLUMNS = ["layer_id", "layer_type", "level", "N", "M"]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "data" / "sources" / "ww-trends-2020"
    data = root / "data"
    files = sorted(data.glob("*.csv")) + sorted((data / "resnet-1k").glob("*.csv"))
    tables = [pd.read_csv(f, dtype=str)[COLUMNS].assign(file=f.relative_to(data).as_posix())
              for f in files]
    table = pd.concat(tables, ignore_index=True)[["file", *COLUMNS]]
    atomic_write(REPO / "data" / "published_layer_shapes.csv", table.to_csv(index=False))
    print(f"{len(files)} files, {len(table)} rows")


if __name__ == "__main__":
    main()
