"""Reading weights from a file or a checkpoint directory, one tensor at a time.

A checkpoint is a weight file (``.safetensors``, or a ``torch.save`` file: ``.pt``, ``.pth``,
``.bin``) or a folder as Hugging Face writes it (``save_pretrained``, the Trainer's
``checkpoint-*``): ``model.safetensors``; shards ``model-0000k-of-0000n.safetensors`` listed
in ``model.safetensors.index.json``; ``pytorch_model.bin`` or its shards with
``pytorch_model.bin.index.json``.  :func:`open_checkpoint` reads only the headers: the keys, and
for a folder the architecture named in ``config.json``.  A tensor is read when it is asked for:
from a ``.safetensors`` file by reading its byte range alone, from a ``torch.save`` file
memory-mapped where its format allows (``torch.load(..., mmap=True)``; one file mapped at a
time), so the memory an analysis needs depends on the largest tensor (for ``torch.save``
files, the largest file), not on the size of the checkpoint.

Only tensors are unpickled (``torch.load(..., weights_only=True)``): a file that holds a whole
pickled model is refused rather than executed.  Every failure is one line naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

__all__ = ["CHECKPOINT_SUFFIXES", "Checkpoint", "UnreadableTensorError", "WeightFileError", "load_state_dict",
           "open_checkpoint"]

#: Suffixes of weight files.
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")

#: The files of a Hugging Face checkpoint folder, in the order they are looked for: an index
#: (``weight_map``: key -> shard) or a single file.
_FOLDER_LAYOUTS = ("model.safetensors.index.json", "model.safetensors",
                   "pytorch_model.bin.index.json", "pytorch_model.bin")


class WeightFileError(ValueError):
    """A weight file or checkpoint folder is missing, unreadable or holds no tensors."""


class UnreadableTensorError(WeightFileError):
    """A tensor stored in a dtype htsr does not read (e.g. packed 4-bit formats)."""


class Checkpoint(Mapping):
    """The tensors of a checkpoint, by state-dict key, each read when it is asked for.

    Attributes
    ----------
    path : Path
        The file or folder.
    files : tuple of Path
        The weight files, in reading order.
    architecture : str or None
        ``config.json``'s first ``architectures`` entry (e.g. ``"LlamaForCausalLM"``), for a
        folder that has one.
    """

    def __init__(self, path: Path, key_files: dict[str, Path], architecture: str | None) -> None:
        self.path = path
        self.files = tuple(dict.fromkeys(key_files.values()))
        self.architecture = architecture
        self._key_files = key_files
        self._open: dict[Path, object] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        file = self._key_files[key]
        reader = self._open.get(file)
        if reader is None:  # one file open at a time: a shard's memory map is released
            self._open = {file: _reader(file)}
            reader = self._open[file]
        try:
            return reader[key]
        except (KeyError, UnreadableTensorError):
            raise
        except Exception as exc:  # noqa: BLE001 - a truncated or corrupt file
            raise WeightFileError(f"weight file {file}: tensor {key!r} cannot be read "
                                  f"({type(exc).__name__}: {exc})") from exc

    def __iter__(self) -> Iterator[str]:
        return iter(self._key_files)

    def __len__(self) -> int:
        return len(self._key_files)

    def __contains__(self, key: object) -> bool:
        return key in self._key_files

    def close(self) -> None:
        """Release the memory maps of the files read so far."""
        self._open.clear()

    def skeleton(self) -> torch.nn.Module | None:
        """The model of :attr:`architecture` built on the meta device (no memory, no weights).

        It gives the module that owns each tensor (its layer type, e.g. GPT-2's ``Conv1D``),
        the order of the model's own state dict (a ``.safetensors`` file stores its keys
        sorted by name) and the weights the model ties (an output layer sharing the
        embedding, stored once).

        Returns
        -------
        torch.nn.Module or None
            None when the folder names no architecture, or ``transformers`` cannot build it
            from ``config.json``.
        """
        if self.architecture is None:
            return None
        try:
            import transformers

            config = transformers.AutoConfig.from_pretrained(self.path, local_files_only=True)
            with torch.device("meta"):
                return getattr(transformers, self.architecture)._from_config(config)
        except Exception:  # noqa: BLE001 - unknown architecture or config: keys and shapes only
            return None


def open_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint at ``path`` (a weight file or a Hugging Face checkpoint folder).

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` / ``.pt`` / ``.pth`` / ``.bin`` file, or a folder holding one of the
        layouts of the module docstring.

    Returns
    -------
    Checkpoint
        Keys in file order (a ``.safetensors`` file stores its keys sorted by name), shards in
        the order of their index.

    Raises
    ------
    WeightFileError
        One line naming the file or folder: it does not exist, is empty, holds no weight file,
        its index names a missing shard, it is not a checkpoint, it holds a whole pickled model
        (save ``model.state_dict()`` instead), or it holds no tensors.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return _open_folder(path)
    key_files = dict.fromkeys(_file_keys(path), path)
    return Checkpoint(path, key_files, None)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint (:func:`open_checkpoint`) into a state dict.

    Raises
    ------
    WeightFileError
        As :func:`open_checkpoint`.
    """
    checkpoint = open_checkpoint(path)
    try:
        return {key: checkpoint[key] for key in checkpoint}
    finally:
        checkpoint.close()


def _open_folder(folder: Path) -> Checkpoint:
    layout = next((name for name in _FOLDER_LAYOUTS if (folder / name).is_file()), None)
    if layout is None:
        found = sorted(p.name for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        hint = f"; weight files there: {', '.join(found[:5])}" if found else ""
        raise WeightFileError(f"checkpoint folder {folder} holds none of {', '.join(_FOLDER_LAYOUTS)}{hint}")
    if layout.endswith(".index.json"):
        index = folder / layout
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightFileError(f"index {index} has no readable weight_map ({type(exc).__name__})") from exc
        shards = {name: folder / name for name in dict.fromkeys(weight_map.values())}
        missing = [name for name, shard in shards.items() if not shard.is_file()]
        if missing:
            raise WeightFileError(f"index {index} names missing shards: {', '.join(missing[:3])}")
        key_files = {}
        for shard in shards.values():  # every shard's own keys, in file order
            key_files |= dict.fromkeys(_file_keys(shard), shard)
    else:
        key_files = dict.fromkeys(_file_keys(folder / layout), folder / layout)
    return Checkpoint(folder, key_files, _architecture(folder / "config.json"))


def _architecture(config: Path) -> str | None:
    try:
        names = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return None
    return str(names[0]) if names else None


def _file_keys(path: Path) -> list[str]:
    """The tensor keys of one weight file, checked to be readable."""
    if not path.is_file():
        raise WeightFileError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightFileError(f"weight file {path} is empty (0 bytes)")
    reader = _reader(path)
    keys = list(reader.keys())
    if not keys:
        raise WeightFileError(f"weight file {path} holds no tensors")
    return keys


def _reader(path: Path) -> Mapping:
    """A read-only mapping of the tensors of one file (safetensors memory map, or torch.load)."""
    try:
        if path.suffix == ".safetensors":
            return _SafetensorsFile(path)
        return _torch_state(path)
    except WeightFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means a bad file
        raise WeightFileError(_unreadable(path, exc)) from exc


#: safetensors dtype names and the torch dtypes they hold.
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


class _SafetensorsFile(Mapping):
    """The tensors of a ``.safetensors`` file, each read from its byte range when asked for.

    The format is an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
    ``data_offsets``) and the data.  Reading a tensor's bytes into memory of its own (rather
    than mapping the file) keeps the memory in use at the tensor being read, whatever the size
    of the file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < length <= size - 8:
                raise WeightFileError(f"weight file {path} is not a safetensors file: no valid header")
            header = json.loads(f.read(length))
        header.pop("__metadata__", None)
        self._start = 8 + length
        self._header = header
        for key, entry in header.items():
            begin, end = entry["data_offsets"]
            if not 0 <= begin <= end <= size - self._start:
                raise WeightFileError(f"weight file {path} is truncated: tensor {key!r} lies past its end")

    def __getitem__(self, key: str) -> torch.Tensor:
        entry = self._header[key]
        dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise UnreadableTensorError(f"stored as {entry['dtype']}, a dtype htsr does not read "
                                        "(quantized or packed): not analyzed")
        begin, end = entry["data_offsets"]
        data = bytearray(end - begin)
        with open(self._path, "rb") as f:
            f.seek(self._start + begin)
            if f.readinto(data) != len(data):
                raise WeightFileError(f"weight file {self._path} is truncated at tensor {key!r}")
        shape = tuple(entry["shape"])
        if not data:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(data, dtype=dtype).reshape(shape)

    def __iter__(self) -> Iterator[str]:
        return iter(self._header)

    def __len__(self) -> int:
        return len(self._header)


def _torch_state(path: Path) -> dict[str, torch.Tensor]:
    """A ``torch.save`` state dict, memory-mapped when the file is a zip archive."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):  # the legacy (non-zip) format cannot be memory-mapped
            raise
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightFileError(f"weight file {path} holds no tensors")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


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
