"""The ``htsr`` command: list the model zoo, analyze models, reproduce the notebooks.

Run ``htsr --help`` or ``htsr <command> --help``.  This module only parses arguments and
prints; the work is done by :mod:`htsr_utils.paper.many` and :mod:`htsr_utils.apps.reproduce`.

Help and usage errors are instant: pandas, torch and the modules that need them are imported
inside the commands, where an interrupt (Ctrl-C), even during those imports, ends the command
with one line and exit status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.conventions import CONVENTIONS
from ..models.registry import SNAPSHOTS, WEIGHTS_KEYWORDS
from ..storage import paths

if TYPE_CHECKING:
    import pandas as pd

PROG = "htsr"

DESCRIPTION = """\
Heavy-tailed self-regularization (HT-SR) metrics of pretrained ImageNet models, after
Martin & Mahoney, "Heavy-Tailed Universality Predicts Trends in Test Accuracies for Very
Large Pre-Trained Deep Neural Networks" (SDM 2020).

The eigenvalues of W^T W for a layer weight matrix W (its empirical spectral density, ESD)
have a power-law tail p(lambda) ~ lambda^(-alpha).  alpha-hat, the mean over matrices of
alpha * log10(lambda_max), tracks test accuracy across the models of a family: lower is
better."""


def _conventions_help() -> str:
    lines = ["conventions (how matrices are extracted, scaled and fitted):"]
    for name, conv in CONVENTIONS.items():
        lines += textwrap.wrap(conv.description, 88, initial_indent=f"  {name:<12} ",
                               subsequent_indent=" " * 15)
    return "\n".join(lines)


EPILOG = f"""\
{_conventions_help()}

environment:
  HTSR_OFFLINE=1     never download weights (fail at once when a file is missing)
  HTSR_RESULTS_DIR   results cache folder (default: data/results in the repository;
                     for an installed package $XDG_CACHE_HOME/htsr/results, ~/.cache/htsr/results)
  TORCH_HOME, HTSR_PYTORCHCV_ROOT   where torchvision / pytorchcv weight files are cached

exit status: 0 success; 1 some models skipped (weights unavailable) or failed (each named
on stderr; the others' results are written) or notebooks failed; 2 bad input, found before
any work (one line on stderr); 130 interrupted (Ctrl-C)."""

#: ANSI terminal escape sequences, removed from error messages.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class UsageError(ValueError):
    """A command-line argument that cannot be used (reported before any work, exit 2)."""


def _input_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by the input, reported as one line with exit status 2."""
    errors: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError)
    registry = sys.modules.get("htsr_utils.models.registry")
    if registry is not None:
        errors += (registry.UnknownModelError,)
    return errors


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _numbers(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The ``htsr`` argument parser with its subcommands."""
    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(title="commands", dest="command", required=True)

    listing = commands.add_parser("list-models", help="list the models of the zoo",
                                  description="List the registered models: name, family, library.")
    listing.add_argument("--family", help="only this family, e.g. VGG or ResNet")
    listing.set_defaults(run=_list_models)

    analyze = commands.add_parser(
        "analyze", help="compute alpha-hat and the other metrics of models",
        description=DESCRIPTION + "\n\nAnalyze models: print one summary row per model and write "
        "the per-matrix\ntable of each to --out (results are cached, see HTSR_RESULTS_DIR).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    analyze.add_argument("models", nargs="+", metavar="MODEL",
                         help="zoo model names (see 'htsr list-models'), or paths of checkpoints: "
                              "a .safetensors/.pt/.pth/.bin file or a Hugging Face checkpoint folder")
    analyze.add_argument("--weights", default="pretrained", metavar="pretrained|random|PATH",
                         help="published weights (default), the random initialisation "
                              "(seed 0), or a checkpoint file (.pth/.pt/.safetensors)")
    analyze.add_argument("--convention", default="sdm2020", choices=list(CONVENTIONS),
                         help="analysis convention, see below (default: sdm2020)")
    analyze.add_argument("--snapshot", default="latest", choices=list(SNAPSHOTS),
                         help="zoo architectures, pretrained files and reported accuracies: "
                              "today's (default) or those SDM 2020 used")
    analyze.add_argument("--out", default="htsr-results", type=Path, metavar="DIR",
                         help="folder for <model>.csv, summary.csv and plots "
                              "(default: ./htsr-results)")
    analyze.add_argument("--jobs", default=1, type=_positive_int, metavar="N",
                         help="analyze N models at once in separate processes (default: 1)")
    analyze.add_argument("--plot", action="store_true",
                         help="also write <model>_esd.png: the pooled ESD and a power-law fit")
    analyze.add_argument("--estimators", default=["csn"], type=_numbers, metavar="NAME[,NAME...]",
                         help="alpha estimators: csn (the paper's power-law fit, default), hill "
                              "(alpha_hill, TempBalance's PL_Alpha_Hill), farms (alpha_farms)")
    analyze.add_argument("--precision", default="float64", choices=["float64", "float32"],
                         help="arithmetic of the eigenvalues (default float64; float32 is faster "
                              "for large models)")
    analyze.add_argument("--split-qkv", action="store_true",
                         help="split fused attention projections (c_attn, Wqkv, qkv_proj, "
                              "query_key_value) into q, k and v matrices")
    analyze.add_argument("--lora-product", action="store_true",
                         help="analyze each LoRA adapter pair as its update B @ A (default: the "
                              "factors are listed as skipped)")
    analyze.add_argument("--no-progress", dest="progress", action="store_false",
                         help="no progress bar (default: one on stderr when it is a terminal; "
                              "for one model it shows the eigenvalue work done)")
    analyze.set_defaults(run=_analyze)

    reproduce = commands.add_parser(
        "reproduce", help="run the paper's notebooks (notebooks/NN_*.ipynb) in order",
        description="Execute notebooks/NN_*.ipynb in order with papermill into --build-dir; "
        "a failing notebook does not stop the others.  Ends with a table: notebook, ok or "
        "failed (with the error), time, claims checked / not checked, models computed / skipped.")
    reproduce.add_argument("--only", type=_numbers, metavar="NN[,NN...]",
                           help="run only these notebooks, by number or name, e.g. 01,02 or 01_vgg")
    reproduce.add_argument("--weights", default="pretrained", choices=list(WEIGHTS_KEYWORDS),
                           help="weights the notebooks analyze (default: pretrained)")
    reproduce.add_argument("--quick", action="store_true",
                           help="small, fast settings (a few models) instead of the paper's")
    reproduce.add_argument("--notebooks-dir", default=paths.notebooks_dir(), type=Path,
                           metavar="DIR", help="folder of the notebooks "
                                               "(default: notebooks/ of the repository)")
    reproduce.add_argument("--build-dir", default=paths.build_dir(), type=Path, metavar="DIR",
                           help="build folder: executed notebooks in DIR/notebooks/, their HTML "
                                "pages in DIR/html/, the run report DIR/index.html "
                                "(default: build/ of the repository)")
    reproduce.set_defaults(run=_reproduce)

    weights = commands.add_parser(
        "weights", help="list the pretrained weight files (for offline machines)",
        description="For every zoo model: the weight file's URL, where to put it, its size and "
        "checksum, and whether it is present and verified here.  --script prints a shell "
        "script that downloads them on a machine with network.")
    weights.add_argument("--snapshot", default="latest", choices=[*SNAPSHOTS, "all"],
                         help="today's files (default), the files SDM 2020 analyzed, or both")
    weights.add_argument("--script", action="store_true",
                         help="print a download script instead of the table")
    weights.set_defaults(run=_weights)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``htsr`` command; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.  When None (the ``htsr`` program), an
        interrupt ends the process at once (``os._exit(130)``): eigenvalue workers in the
        middle of a LAPACK call cannot be stopped, and the process must not wait for them.

    Returns
    -------
    int
        The exit status (see ``htsr --help``).
    """
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        if argv is None:
            sys.stdout.flush()
            os._exit(130)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if not isinstance(exc, _input_errors()):
            raise
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # unquoted
        print(f"{PROG}: error: {_one_line(text)}", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    """A message on one line, without terminal escape codes."""
    return _ANSI.sub("", "; ".join(line.strip() for line in text.splitlines() if line.strip()))


def _list_models(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..models.registry import get_spec, list_models

    specs = {name: get_spec(name) for name in list_models(family=args.family)}
    print(_left_aligned(pd.DataFrame({"model": list(specs),
                                      "family": [s.family for s in specs.values()],
                                      "library": [s.library for s in specs.values()]})))
    return 0


def _weights(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..models.manifest import download_script, weights_manifest

    manifest = weights_manifest(args.snapshot)
    if args.script:
        print(download_script(manifest), end="")
        return 0
    shown = manifest.assign(
        size_mb=manifest["size_mb"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        present=manifest["present"].map({True: "yes", False: "no"}),
        verified=manifest["verified"].map({True: "yes", False: "no"}).fillna("n/a"),
        where=manifest["path"].where(manifest["available"], manifest["reason"]))
    columns = ["model", "snapshot", "size_mb", "present", "verified", "checksum", "url", "where"]
    print(_left_aligned(shown[columns].fillna("").astype(str)))
    return 0


def _left_aligned(table: pd.DataFrame) -> str:
    """A table of strings as text, every column left-aligned."""
    widths = {c: max([len(c), *map(len, table[c])]) for c in table.columns}
    lines = [[c.ljust(widths[c]) for c in table.columns],
             *([v.ljust(widths[c]) for c, v in zip(table.columns, row)]
               for row in table.itertuples(index=False))]
    return "\n".join("  ".join(line).rstrip() for line in lines)


def _analyze(args: argparse.Namespace) -> int:
    out_problem = _out_dir_problem(args.out)
    if out_problem:
        raise UsageError(f"--out {args.out}: {out_problem}")
    import pandas as pd

    from ..engine.parallel import process_pool
    from ..models.build import check_weights
    from ..paper.cache import check_results_dir, is_checkpoint
    from ..paper.many import analyze_many
    from ..storage.fileio import write_csv

    check_results_dir()
    check_weights(args.weights)
    _create_out_dir(args.out)
    pool = process_pool(args.jobs) if args.jobs > 1 else None
    with pool or contextlib.nullcontext():
        try:
            result = analyze_many(args.models, args.weights, args.convention, executor=pool,
                                  progress=args.progress and sys.stderr.isatty(),
                                  snapshot=args.snapshot, errors="collect",
                                  estimators=args.estimators, precision=args.precision,
                                  split_qkv=args.split_qkv, lora_product=args.lora_product)
        except KeyboardInterrupt:
            for child in multiprocessing.active_children():  # the pool's workers, before the
                child.terminate()                           # pool waits for their tasks
            raise
    for row in result.skipped.itertuples():
        print(f"{PROG}: skipped: {row.reason} {row.how_to_fix}", file=sys.stderr)
    for row in result.failed.itertuples():
        print(f"{PROG}: failed: {row.model}: {_one_line(row.error)}", file=sys.stderr)
    if result.summary.empty:
        return 1
    summary = result.summary
    zoo = [m for m in summary.index if not is_checkpoint(m)]
    if args.weights == "pretrained" and zoo:  # reported accuracies: the pretrained zoo files only
        from ..paper.reference_data import join_reference

        joined = join_reference(summary.loc[zoo], convention=args.convention, snapshot=args.snapshot)
        summary = pd.concat([joined, summary.drop(index=zoo)]).reindex(summary.index)
    stems = _file_stems(list(summary.index))
    try:
        for name, details in result.details.groupby("model", sort=False):
            write_csv(details, args.out / f"{stems[name]}.csv")
            if args.plot:
                _plot_esd(name, args.weights, args.convention, args.snapshot,
                          args.out / f"{stems[name]}_esd.png")
        write_csv(summary, args.out / "summary.csv", index=True)
    except OSError as exc:
        print(f"{PROG}: error: --out {args.out}: cannot write {exc.filename or 'a file'}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    print(_summary_text(summary))
    weights = _weights_text(args.weights) if zoo else "as stored in each checkpoint"
    print(f"weights: {weights}; convention: {args.convention}; snapshot: {args.snapshot}")
    print(f"per-matrix tables written to {args.out}/")
    return 1 if len(result.skipped) or len(result.failed) else 0


def _out_dir_problem(out: Path) -> str:
    """Why ``--out`` cannot receive the tables, or ``""``."""
    from ..storage.fileio import unwritable_folder_problem

    if out.exists() and not out.is_dir():
        return "is an existing file; give a folder"
    return unwritable_folder_problem(out)


def _create_out_dir(out: Path) -> None:
    """Create ``--out`` before any work: some places pass the permission check and still refuse
    (e.g. ``/proc`` as root)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from exc


def _file_stems(models: list[str]) -> dict[str, str]:
    """The name of each model's files in ``--out``: a zoo name as is, a checkpoint by the last
    part of its path (characters other than letters, digits, ``.``, ``_``, ``-`` replaced),
    numbered where two would collide."""
    stems: dict[str, str] = {}
    for model in models:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(model).name or model) or "checkpoint"
        candidate, k = stem, 1
        while candidate in stems.values():
            k += 1
            candidate = f"{stem}-{k}"
        stems[model] = candidate
    return stems


def _weights_text(weights: str) -> str:
    if weights == "pretrained":
        return "pretrained (published weights)"
    if weights == "random":
        return "random (initialisation, seed 0)"
    return f"checkpoint file {weights}"


def _summary_text(summary: pd.DataFrame) -> str:
    """The printed table: model, alpha-hat, alpha-hat*, log norm, N_alpha, L, top1 if known."""
    columns = {"alpha_hat": "alpha-hat", "alpha_hat_star": "alpha-hat*", "log_norm": "log norm",
               "N_alpha": "N_alpha", "L": "L", "top1": "top1"}
    table = summary[[c for c in columns if c in summary]].rename(columns=columns)
    if "top1" in table and table["top1"].isna().all():
        table = table.drop(columns="top1")
    return table.to_string(float_format="{:.3f}".format, na_rep="")


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import report_table, run_notebooks, skipped_notes

    results = run_notebooks(args.notebooks_dir, args.build_dir, only=args.only or None,
                            parameters={"weights": args.weights, "quick": args.quick})
    print(_left_aligned(report_table(results)))
    for note in skipped_notes(results):
        print(note)
    print(f"run report: {args.build_dir / 'index.html'}")
    return 0 if all(r.ok for r in results) else 1


def _plot_esd(name: str, weights: str, convention: str, snapshot: str, path: Path) -> None:
    """Write the pooled ESD of a model, and the ESD and power-law fit of its largest matrix.

    The ESDs come from the results cache entry the analysis just read or wrote.
    """
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from ..paper.cache import analyze_cached_with_esds
    from ..paper.figures import plot_esd, save_figure

    details, esds = analyze_cached_with_esds(name, weights, convention, snapshot=snapshot)
    ax = plot_esd(np.concatenate(esds), title=f"{name}: pooled ESD", weights=weights,
                  color="#aaaaaa", label=f"all {len(esds)} ESDs")
    fitted = np.flatnonzero(details["status"].to_numpy() == "ok")
    if fitted.size:
        sizes = (details["N"] * details["M"]).to_numpy()[fitted]
        largest = int(fitted[np.argmax(sizes)])
        row = details.iloc[largest]
        plot_esd(esds[largest], fit=row, ax=ax, title=f"{name}: pooled ESD", convention=convention,
                 weights=weights, label=f"largest: {row.layer}")
    save_figure(ax.figure, path, formats=("png",))


if __name__ == "__main__":
    sys.exit(main())
