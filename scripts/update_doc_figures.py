#!/usr/bin/env python3
"""Regenerate the figures committed under docs/figures/ (listed in the README).

Runs notebooks 00, 09 and 10 (the experiments that need no pretrained ImageNet weights) with
their full settings through the ``htsr reproduce`` runner, into a temporary build folder with
a temporary figures folder, then copies the PNGs the README shows into docs/figures/.

Usage::

    python scripts/update_doc_figures.py           # full settings (09 trains 36 MLPs when not cached)
    python scripts/update_doc_figures.py --quick   # the small CI settings (a quick check of this script)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from htsr_utils.apps.reproduce import run_notebooks  # noqa: E402
from htsr_utils.storage.fileio import atomic_write  # noqa: E402

#: docs/figures/<name> <- <figures>/<notebook>/<file>, for the default convention (sdm2020).
FIGURES = {
    "00_gaussian_vs_mp.png": "00_esd_primer/gaussian_vs_mp.png",
    "00_pareto_esds.png": "00_esd_primer/pareto_esds.png",
    "09_metrics_vs_test_acc.png": "09_trained_here/metrics_vs_test_acc_sdm2020.png",
    "10_esd_trained_vs_permuted.png": "10_minilm_real_weights/esd_trained_vs_permuted_sdm2020.png",
    "10_alphas_trained_vs_permuted.png": "10_minilm_real_weights/alphas_trained_vs_permuted_sdm2020.png",
}


def main(argv: list[str] | None = None) -> int:
    """Run the three notebooks and copy their figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small CI settings instead of the full ones")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures", help="default: docs/figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures"
        results = run_notebooks(ROOT / "notebooks", Path(tmp) / "build", only=["00", "09", "10"],
                                parameters={"quick": args.quick, "figures_dir": str(figures)})
        failed = [r.name for r in results if not r.ok]
        if failed:
            print(f"failed: {', '.join(failed)}; docs/figures unchanged", file=sys.stderr)
            return 1
        for name, source in FIGURES.items():
            atomic_write(args.out / name, (figures / source).read_bytes())
            print(f"{args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
