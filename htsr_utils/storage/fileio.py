"""One atomic file writer for everything the project writes (cache, tables, figures, models).

A file is written to a temporary sibling and moved into place with :func:`os.replace`, so a
reader never sees a half-written file and an interrupted write leaves nothing behind.  The
file gets the mode a plain ``open()`` would give it (``0o666`` less the user's umask, applied
by the system when the temporary file is created), not the ``0o600`` of
:func:`tempfile.mkstemp`; the process umask is never changed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["atomic_write", "unwritable_folder_problem", "write_csv"]


def _temporary_sibling(path: Path) -> tuple[int, Path]:
    """Create a new hidden file next to ``path``, mode ``0o666`` less the umask (as ``open``)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def atomic_write(path: str | os.PathLike, content: bytes | str | Callable[[Path], None]) -> Path:
    """Write ``content`` to ``path`` atomically; create the parent folder if needed.

    Parameters
    ----------
    path : path-like
        Target file.
    content : bytes, str or callable
        Bytes, text (written as UTF-8, newlines untranslated), or a function that writes
        the file at the temporary path it is given (e.g. ``lambda p: torch.save(obj, p)``).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary_sibling(path)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def write_csv(table: pd.DataFrame, path: str | os.PathLike, **to_csv: Any) -> Path:
    """Write ``table`` as CSV to ``path`` atomically (no index unless ``index=True``).

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    path : path-like
        Target file; its folder is created if needed.
    **to_csv
        Options of :meth:`pandas.DataFrame.to_csv` (``index`` defaults to False).

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write(path, table.to_csv(**({"index": False} | to_csv)))


def unwritable_folder_problem(folder: Path) -> str:
    """Why files cannot be written in ``folder`` (created if missing), or ``""`` if they can."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return ""
