"""One atomic file writer for everything the project writes (cache, tables, figures, models).

A file is written to a temporary sibling and moved into place with :func:`os.replace`, so a
reader never sees a half-written file and an interrupted write leaves nothing behind.  The
file gets the mode a plain ``open()`` would give it (``0o666`` less the user's umask), not
the ``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
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
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
