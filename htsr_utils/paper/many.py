"""Analyze many zoo models, sequentially or on any executor: :func:`analyze_many`.

>>> result = analyze_many(["resnet18", "pytorchcv_resnet10"])           # one after the other
>>> with process_pool(4) as pool:             # local processes (htsr_utils.engine.parallel)
...     result = analyze_many(list_models(), executor=pool)
>>> result = analyze_many(list_models(), executor=client.get_executor())  # a dask cluster

Each model goes through :func:`htsr_utils.paper.cache.analyze_cached`, so a model computed once
is read back from the results cache.  On a cluster, ``results_dir`` should be a folder
every worker can reach.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from tqdm.auto import tqdm

from ..engine.checkpoint import open_checkpoint
from ..engine.conventions import get_convention
from ..engine.esd import Precision, check_precision
from ..engine.metrics import (
    DETAIL_COLUMNS,
    ESTIMATOR_SUMMARY,
    SUMMARY_METRICS,
    check_estimators,
    summarize,
)
from ..models.build import check_weights
from ..models.files import WeightsUnavailableError
from ..models.registry import check_snapshot, get_spec
from .cache import analyze_cached, check_results_dir, is_checkpoint

__all__ = ["ManyResult", "ModelAnalysisError", "analyze_many"]

#: Columns of :attr:`ManyResult.skipped`.
SKIPPED_COLUMNS = ["model", "reason", "how_to_fix"]
#: Columns of :attr:`ManyResult.failed`.
FAILED_COLUMNS = ["model", "error"]


class ModelAnalysisError(RuntimeError):
    """Analyzing one model failed; the message names the model, ``__cause__`` is the error."""


@dataclass(frozen=True)
class ManyResult:
    """Results of :func:`analyze_many`.

    Attributes
    ----------
    details : DataFrame
        The per-matrix tables of all analyzed models, in input order (``model`` column).
    summary : DataFrame
        One row per analyzed model, indexed by ``model``: ``family``,
        :data:`htsr_utils.SUMMARY_METRICS`, ``convention``, ``weights`` (the snapshot is in
        ``details.attrs["snapshot"]``).  Reported accuracies are joined in one place only:
        :func:`htsr_utils.paper.reference_data.join_reference`.
    skipped : DataFrame
        Models whose weights are unavailable: ``model``, ``reason`` (first line of the
        ``WeightsUnavailableError``), ``how_to_fix`` (its other lines: URL, where to put
        the file).
    failed : DataFrame
        Models whose analysis failed for another reason (with ``errors="collect"``):
        ``model``, ``error`` (``"<exception type>: <message>"``).
    """

    details: pd.DataFrame
    summary: pd.DataFrame
    skipped: pd.DataFrame
    failed: pd.DataFrame


def analyze_many(
    names: Iterable[str],
    weights: str = "pretrained",
    convention: str = "sdm2020",
    *,
    executor: Executor | None = None,
    results_dir: Path | None = None,
    progress: bool = True,
    snapshot: str = "latest",
    errors: Literal["raise", "collect"] = "raise",
    estimators: Sequence[str] = ("csn",),
    precision: Precision = "float64",
    split_qkv: bool = False,
    lora_product: bool = False,
) -> ManyResult:
    """Analyze several zoo models or checkpoints (through the results cache) and summarize them.

    Parameters
    ----------
    names : iterable of str
        Names from :func:`htsr_utils.models.registry.list_models`, or paths of checkpoints
        (files or Hugging Face folders, :func:`htsr_utils.paper.cache.is_checkpoint`), labelled
        by the path given; duplicates are analyzed once.
    weights : str, default "pretrained"
        ``"pretrained"``, ``"random"`` or a checkpoint path, for every zoo model.
    convention : str, default "sdm2020"
        A name from :data:`htsr_utils.CONVENTIONS`.
    executor : concurrent.futures.Executor, optional
        Runs one task per model (e.g. a ``ProcessPoolExecutor`` or a dask
        ``Client.get_executor()``); default: sequentially in this process.
    results_dir : Path, optional
        Results cache folder; default :func:`htsr_utils.paper.cache.default_results_dir`.
    progress : bool, default True
        Progress bar (stderr) over models; for a single model analyzed in this process,
        over its eigenvalue work instead.
    snapshot : {"latest", "paper"}, default "latest"
        Architectures and pretrained files of :func:`htsr_utils.models.build.load_model` (the
        reported accuracies of a snapshot are joined by
        :func:`htsr_utils.paper.reference_data.join_reference`).
    errors : {"raise", "collect"}, default "raise"
        What a model that fails (for another reason than unavailable weights) does:
        ``"raise"`` stops the run with :class:`ModelAnalysisError`; ``"collect"`` lists it in
        ``failed`` and analyzes the others.
    estimators, precision, split_qkv, lora_product
        As in :func:`htsr_utils.engine.metrics.analyze`, for every model (each choice keyed
        in the results cache, :func:`htsr_utils.paper.cache.analyze_cached`).

    Returns
    -------
    ManyResult

    Raises
    ------
    UnknownModelError, ValueError, FileNotFoundError
        Before any work: an unknown model name, convention or snapshot, a ``weights`` path
        that is not a file, or a results folder that cannot be written (the message names
        ``HTSR_RESULTS_DIR`` when the folder comes from it).
    ModelAnalysisError
        With ``errors="raise"``, a model failed for another reason than unavailable weights
        (the message names it); pending models are cancelled.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', not {errors!r}")
    names = list(dict.fromkeys(names))
    conv = get_convention(convention).name
    estimators = check_estimators(estimators)
    check_precision(precision)
    for name in names:
        if not is_checkpoint(name):
            get_spec(name)
    check_snapshot(snapshot)
    check_weights(weights)
    folder = check_results_dir(Path(results_dir) if results_dir is not None else None)
    single = len(names) == 1 and executor is None
    task = functools.partial(analyze_cached, weights=weights, convention=conv,
                             results_dir=folder.resolve(), snapshot=snapshot,
                             progress=progress and single, estimators=estimators,
                             precision=precision, split_qkv=split_qkv, lora_product=lora_product)
    tables, skipped, failed = _collect(names, task, executor, progress and not single, errors)
    details = (pd.concat([tables[n] for n in names if n in tables], ignore_index=True)
               if tables else pd.DataFrame(columns=["model", *DETAIL_COLUMNS]))
    details.attrs = {"convention": conv, "weights": os.fspath(weights), "snapshot": snapshot}
    return ManyResult(details, _summary_table(details, conv, weights, snapshot),
                      _skipped_table(skipped),
                      pd.DataFrame(list(failed.items()), columns=FAILED_COLUMNS, dtype="str"))


def _collect(
    names: list[str],
    task: Callable[[str], pd.DataFrame],
    executor: Executor | None,
    progress: bool,
    errors: str,
) -> tuple[dict[str, pd.DataFrame], dict[str, str], dict[str, str]]:
    """Run ``task`` per model: tables by model, WeightsUnavailableError messages, and (with
    ``errors="collect"``) the other errors."""
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    with contextlib.closing(_outcomes(names, task, executor)) as outcomes, \
            tqdm(total=len(names), desc="models", unit="model", disable=not progress) as bar:
        for name, result in outcomes:
            bar.set_postfix_str(name)
            try:
                tables[name] = result()
            except WeightsUnavailableError as exc:
                skipped[name] = str(exc)
            except Exception as exc:
                if errors == "raise":
                    raise ModelAnalysisError(f"model {name!r}: {type(exc).__name__}: {exc}") from exc
                failed[name] = f"{type(exc).__name__}: {exc}"
            bar.update()
    return tables, skipped, failed


def _outcomes(
    names: list[str], task: Callable[[str], pd.DataFrame], executor: Executor | None
) -> Iterator[tuple[str, Callable[[], pd.DataFrame]]]:
    """Yield ``(name, get result)`` in completion order; cancel what is left on close."""
    if executor is None:
        for name in names:
            yield name, functools.partial(task, name)
        return
    futures = {executor.submit(task, name): name for name in names}
    try:
        for future in as_completed(futures):
            yield futures[future], future.result
    finally:
        for future in futures:
            future.cancel()


def _summary_table(details: pd.DataFrame, convention: str, weights: str | os.PathLike,
                   snapshot: str) -> pd.DataFrame:
    models = list(dict.fromkeys(details["model"]))
    extra = [mean for column, mean in ESTIMATOR_SUMMARY.items() if column in details.columns]
    metrics = (summarize(details) if models else pd.DataFrame()).reindex(
        index=models, columns=SUMMARY_METRICS + extra)
    metrics = metrics.astype(float).astype({"L": "int64", "N_alpha": "int64"})
    summary = pd.concat([pd.Series([_family(m) for m in models], index=models,
                                   name="family", dtype="str"), metrics], axis=1)
    summary["convention"] = convention
    summary["weights"] = os.fspath(weights)
    return summary.rename_axis("model")


def _family(name: str) -> str:
    """A zoo model's family; for a checkpoint, the architecture its folder names, or "checkpoint"."""
    if is_checkpoint(name):
        return open_checkpoint(name).architecture or "checkpoint"
    return get_spec(name).family


def _skipped_table(skipped: dict[str, str]) -> pd.DataFrame:
    rows = []
    for name, message in skipped.items():
        reason, *fix = message.splitlines()
        rows.append({"model": name, "reason": reason,
                     "how_to_fix": "; ".join(line.strip() for line in fix)})
    return pd.DataFrame(rows, columns=SKIPPED_COLUMNS, dtype="str")
