"""Reading a state dict from a weight file: ``.safetensors`` or a ``torch.save`` file.

Only tensors are unpickled (``torch.load(..., weights_only=True)``): a file that holds a whole
pickled model is refused rather than executed.  Every failure is one line naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

__all__ = ["WeightFileError", "load_state_dict"]


class WeightFileError(ValueError):
    """A weight file is missing, unreadable or holds no tensors."""


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file or a ``torch.save`` file.

    Only tensors are unpickled (``torch.load(..., weights_only=True)``): a file that holds
    a whole pickled model is refused rather than executed.

    Raises
    ------
    WeightFileError
        One line naming the file: it does not exist, is empty, is not a checkpoint, holds
        a whole pickled model (save ``model.state_dict()`` instead), or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightFileError(f"weight file {path} is empty (0 bytes)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a bad file
        raise WeightFileError(_unreadable(path, exc)) from exc
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightFileError(f"weight file {path} holds no tensors")
    return dict(state)


def _unreadable(path: Path, exc: Exception) -> str:
    """One line saying why ``path`` could not be read as a state dict."""
    pickled = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if pickled:
        return (f"weight file {path} holds pickled Python objects ({pickled.group(1)}), not "
                f"only tensors: a whole model saved with torch.save(model)? "
                f"Save model.state_dict() instead")
    kind = "safetensors file" if path.suffix == ".safetensors" else \
        "PyTorch checkpoint (torch.save of a state dict)"
    return f"weight file {path} is not a {kind}: {type(exc).__name__}"
