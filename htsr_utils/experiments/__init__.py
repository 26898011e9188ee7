"""Models trained here, offline, and the experiments of notebooks 09 to 12.

``datasets``, ``architectures`` and ``training`` train and cache the models; ``analysis``
says what the engine makes of them; ``sweep`` (notebook 09: MLPs that differ in one training
knob), ``permutation`` (10) and ``series`` (11: architecture series) hold the code that serves
one experiment notebook each.  ``recording`` records per-layer metrics during training into a
run folder (notebook 12), ``checkpoint_series`` writes the same run from a folder of saved
checkpoints.

The names below are imported on first use, so that importing one submodule does not import
the others.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule that defines it.
_EXPORTS = {
    "RecordedRun": "recording", "RunFormatError": "recording", "TrainingRecorder": "recording",
    "load_run": "recording", "checkpoint_series": "checkpoint_series",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
