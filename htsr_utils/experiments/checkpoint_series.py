"""A run from a folder of saved checkpoints: :func:`checkpoint_series`.

The folder holds one checkpoint per step, in either of two layouts (mixed if need be):

- ``checkpoint-<step>/`` folders as the Hugging Face ``Trainer`` writes them
  (``model.safetensors``, its shards, or ``pytorch_model.bin`` inside, with
  ``trainer_state.json``, whose ``log_history`` holds the losses and evaluation metrics
  logged at each step);
- weight files ``*.safetensors`` / ``*.pt`` / ``*.pth`` / ``*.bin`` whose name carries the
  step number, the last number of the name (``step_100.pt``, ``epoch-3.safetensors``);
  files without a number (``optimizer.pt``, ``training_args.bin``) and the shards of a
  Hugging Face model (``model-00001-of-00002.safetensors``) are not steps.

Steps are sorted numerically (step 10 after step 9).  Each checkpoint is analyzed through the
results cache (:func:`htsr_utils.paper.cache.analyze_cached_with_esds`, keyed by the content
of its files), so a checkpoint already seen, under this path or another, is read back rather
than recomputed.  The run is written in the format of :mod:`htsr_utils.experiments.recording`,
one step at a time, atomically: an interrupted series is a readable run of the steps done, and
the next call adds the steps missing (steps already in the run are kept as they are).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..engine.checkpoint import CHECKPOINT_SUFFIXES, open_checkpoint
from ..engine.conventions import get_convention
from ..engine.metrics import check_estimators
from ..paper.cache import analyze_cached_with_esds, check_results_dir
from ..storage import paths
from .recording import DEFAULT_CONVENTION, DEFAULT_ESTIMATORS, RecordedRun, RunWriter, load_run

__all__ = ["TRAINER_STATE", "checkpoint_series", "default_run_dir", "find_checkpoints", "trainer_log"]

#: The Hugging Face Trainer's state file inside each ``checkpoint-<step>/`` folder.
TRAINER_STATE = "trainer_state.json"

_TRAINER_FOLDER = re.compile(r"checkpoint-(\d+)")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_SHARD = re.compile(r"-\d+-of-\d+$")


def find_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """The checkpoints of ``folder`` by step (the layouts of the module docstring).

    Parameters
    ----------
    folder : str or Path
        The folder of checkpoints.

    Returns
    -------
    list of (int, Path)
        ``(step, checkpoint)``, sorted by step.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist or is not a folder.
    ValueError
        It holds no checkpoint, or two checkpoints of one step (both named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder}: "
                                f"{'not a folder' if folder.exists() else 'does not exist'}")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            match = _TRAINER_FOLDER.fullmatch(path.name)
        elif path.suffix in CHECKPOINT_SUFFIXES and not _SHARD.search(path.stem):
            match = _LAST_NUMBER.search(path.stem)
        else:
            match = None
        if match is None:
            continue
        step = int(match.group(1))
        if step in found:
            raise ValueError(f"checkpoint folder {folder}: two checkpoints of step {step}: "
                             f"{found[step].name} and {path.name}")
        found[step] = path
    if not found:
        raise ValueError(f"checkpoint folder {folder} holds no checkpoint: expected checkpoint-<step>/ "
                         f"folders or weight files ({', '.join(CHECKPOINT_SUFFIXES)}) with the step "
                         "in their name, e.g. step_100.pt")
    return sorted(found.items())


def trainer_log(checkpoints: Sequence[tuple[int, Path]]) -> dict[int, dict[str, float]]:
    """The numbers the Hugging Face Trainer logged at each step, from the ``trainer_state.json``
    of the ``checkpoint-<step>/`` folders.

    Parameters
    ----------
    checkpoints : sequence of (int, Path)
        As :func:`find_checkpoints` returns them.

    Returns
    -------
    dict
        step -> {name: value} of every number logged at that step (``loss``,
        ``learning_rate``, ``eval_loss``, ``eval_accuracy``, ``epoch``, ...; the training
        and evaluation entries of one step merged, a later file's value kept).  Empty when
        no folder has the file.

    Raises
    ------
    ValueError
        A ``trainer_state.json`` that is not JSON with a ``log_history`` list (named).
    """
    log: dict[int, dict[str, float]] = {}
    for _, path in checkpoints:
        state_file = path / TRAINER_STATE
        if not state_file.is_file():
            continue
        try:
            history = json.loads(state_file.read_text())["log_history"]
            if not isinstance(history, list):
                raise TypeError("log_history is not a list")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{state_file}: not a Trainer state with a log_history "
                             f"({type(exc).__name__}: {exc})") from exc
        for entry in history:
            if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
                continue
            numbers = {k: float(v) for k, v in entry.items()
                       if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
            log.setdefault(entry["step"], {}).update(numbers)
    return log


def default_run_dir(folder: str | Path) -> Path:
    """``<results folder>/runs/<folder name>-<12 hex digits of its absolute path>``."""
    folder = Path(folder).resolve()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return paths.results_dir() / "runs" / f"{folder.name}-{digest}"


def checkpoint_series(
    folder: str | Path,
    run_dir: str | Path | None = None,
    convention: str = DEFAULT_CONVENTION,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    *,
    results_dir: Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> RecordedRun:
    """Analyze every checkpoint of ``folder`` into a run folder, and read the run back.

    Parameters
    ----------
    folder : str or Path
        The folder of checkpoints (module docstring).
    run_dir : str or Path, optional
        The run folder; default :func:`default_run_dir`.  An existing run of this folder,
        convention and estimators is continued: only the steps it lacks are analyzed.
    convention : str, default "ww"
        As for :class:`~htsr_utils.experiments.recording.TrainingRecorder`.
    estimators : sequence of str, default ("csn", "hill")
        As for :func:`htsr_utils.analyze`.
    results_dir : Path, optional
        The results cache (default :func:`htsr_utils.paper.cache.default_results_dir`).
    device : str, default "cpu"
        Where eigenvalues are computed for a checkpoint not in the cache.
    progress : bool, default True
        A progress bar (stderr) that moves by one per checkpoint.

    Returns
    -------
    RecordedRun
        ``source`` is the folder's absolute path; ``curve`` holds the Trainer's logged
        numbers at each step (:func:`trainer_log`), where there are any.

    Raises
    ------
    FileNotFoundError, ValueError
        One line naming the folder: no such folder, no checkpoint in it, a checkpoint that
        cannot be read (checked for all before any analysis), an unwritable run or results
        folder, or a run folder holding another run.
    """
    conv = get_convention(convention).name
    estimators = check_estimators(estimators)
    checkpoints = find_checkpoints(folder)
    for _, path in checkpoints:
        open_checkpoint(path).close()  # headers only: an unreadable checkpoint fails before any work
    results_dir = check_results_dir(results_dir)
    source = str(Path(folder).resolve())
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(folder)
    writer = RunWriter.open(run_dir, conv, estimators, source)
    log = trainer_log(checkpoints)
    missing = [(step, path) for step, path in checkpoints if step not in writer.run.steps]
    with tqdm(missing, desc=f"checkpoints of {Path(folder).name}", unit="checkpoint",
              disable=not progress) as bar:
        for step, path in bar:
            bar.set_postfix(step=step)
            details, esds = analyze_cached_with_esds(str(path), convention=conv, estimators=estimators,
                                                     results_dir=results_dir, device=device)
            writer.add(step, details.drop(columns="model"), esds, log.get(step))
    return load_run(run_dir)
