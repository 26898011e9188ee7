"""The one atomic writer: content, mode that follows the umask, nothing left on failure."""

import os
import stat

import pytest

from htsr_utils.storage.fileio import atomic_write


def test_writes_bytes_text_and_callable(tmp_path):
    atomic_write(tmp_path / "a.bin", b"\x00\x01")
    atomic_write(tmp_path / "sub" / "b.txt", "λ\n")
    atomic_write(tmp_path / "c.txt", lambda p: p.write_text("via callable"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "λ\n"
    assert (tmp_path / "c.txt").read_text() == "via callable"


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_mode_follows_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f.csv", "x")
        plain = tmp_path / "plain.csv"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask


def test_failure_leaves_nothing(tmp_path):
    def broken(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "x.csv", broken)
    assert list(tmp_path.iterdir()) == []
