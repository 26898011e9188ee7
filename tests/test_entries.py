"""Cache entries (htsr_utils.storage.entries): data files, then the sidecar that vouches for them."""

from __future__ import annotations

import hashlib
import json

import pytest

from htsr_utils.storage import entries

FILES = {"csv": b"a,b\n1,2\n", "npz": b"\x00binary"}
KEY = {"version": "1", "weights_sha256": "ab" * 32}


def test_written_entry_reads_back(tmp_path):
    entries.write_entry(tmp_path / "cache", "m", FILES, KEY | {"note": "x"})
    meta, files = entries.read_entry(tmp_path / "cache", "m", ("csv", "npz"), KEY)
    assert files == FILES
    assert meta["note"] == "x" and meta["created"]
    assert meta["csv_sha256"] == hashlib.sha256(FILES["csv"]).hexdigest()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["m.csv", "m.json", "m.npz"]
    # Only the files asked for are read: a missing npz does not hide the csv.
    (tmp_path / "cache" / "m.npz").unlink()
    assert entries.read_entry(tmp_path / "cache", "m", ("csv",), KEY)[1] == {"csv": FILES["csv"]}
    assert entries.read_entry(tmp_path / "cache", "m", ("csv", "npz"), KEY) is None


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: (d / "m.json").unlink(), id="no sidecar"),
    pytest.param(lambda d: (d / "m.csv").unlink(), id="no data file"),
    pytest.param(lambda d: (d / "m.csv").write_bytes(FILES["csv"][:4]), id="truncated data file"),
    pytest.param(lambda d: (d / "m.npz").write_bytes(b"another run"), id="data file of another run"),
    pytest.param(lambda d: (d / "m.json").write_text("{"), id="corrupt sidecar"),
    pytest.param(lambda d: (d / "m.json").write_bytes(b"\xff\xfe"), id="sidecar not text"),
    pytest.param(lambda d: (d / "m.json").write_text("[1, 2]"), id="sidecar not an object"),
])
def test_a_damaged_entry_is_a_miss(tmp_path, damage):
    entries.write_entry(tmp_path, "m", FILES, KEY)
    damage(tmp_path)
    assert entries.read_entry(tmp_path, "m", ("csv", "npz"), KEY) is None


def test_another_key_is_a_miss(tmp_path):
    entries.write_entry(tmp_path, "m", FILES, KEY)
    assert entries.read_entry(tmp_path, "m", ("csv",), KEY | {"version": "2"}) is None
    assert entries.read_entry(tmp_path, "m", ("csv",), {"absent": None} | KEY) is None


def test_a_sidecar_without_the_hash_of_a_file_is_a_miss(tmp_path):
    (tmp_path / "m.csv").write_bytes(FILES["csv"])
    (tmp_path / "m.json").write_text(json.dumps(KEY))
    assert entries.read_entry(tmp_path, "m", ("csv",), KEY) is None


@pytest.mark.parametrize("older_entry", [False, True], ids=["new entry", "over an older entry"])
@pytest.mark.parametrize("killed_at", ["npz", "json"])
def test_an_interrupted_write_is_a_miss(tmp_path, monkeypatch, older_entry, killed_at):
    if older_entry:
        entries.write_entry(tmp_path, "m", FILES, KEY)
    real = entries.atomic_write

    def killed(path, content):
        if path.suffix == f".{killed_at}":
            raise KeyboardInterrupt(f"killed before writing {path.name}")
        return real(path, content)

    monkeypatch.setattr(entries, "atomic_write", killed)
    with pytest.raises(KeyboardInterrupt):
        entries.write_entry(tmp_path, "m", {"csv": b"new", "npz": b"new"}, KEY)
    assert (tmp_path / "m.csv").read_bytes() == b"new"
    assert (tmp_path / "m.json").exists() == older_entry
    assert entries.read_entry(tmp_path, "m", ("csv",), KEY) is None


def test_the_sidecar_suffix_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="sidecar"):
        entries.write_entry(tmp_path, "m", {"json": b"{}"}, KEY)
