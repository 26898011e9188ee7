"""The command line as a newcomer meets it: instant help, clear one-line errors before any
work, the summary says what was analyzed, prompt Ctrl-C, plots from the cache."""

from __future__ import annotations

import fcntl
import importlib
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from htsr_utils.apps.cli import main

HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]
MODEL = "squeezenet1_1"  # random weights: about a second
#: Seconds after which a command that should end at once is reported as hanging.
HANG_S = 120

# The htsr command in which every unit of eigenvalue work announces itself on stderr and then
# never ends, as a LAPACK call cannot be cancelled: the command must still stop at Ctrl-C.
_ENDLESS_UNITS = """\
import importlib
import sys
import threading

from htsr_utils.apps.cli import main

def endless_unit(stack, *args):
    sys.stderr.write("unit started\\n")
    sys.stderr.flush()
    threading.Event().wait()

importlib.import_module("htsr_utils.engine.esd")._gram = endless_unit
sys.exit(main())
"""


@pytest.fixture
def env(offline_env, tmp_path) -> dict[str, str]:
    """The offline environment with an empty results cache of this test's own."""
    return offline_env | {"HTSR_RESULTS_DIR": str(tmp_path / "results")}


def htsr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*HTSR, *args], env=env, capture_output=True, text=True, timeout=300)


def one_line_error(done: subprocess.CompletedProcess, status: int, *texts: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == status, done.stderr
    assert len(lines) == 1 and lines[0].startswith("htsr: error: "), done.stderr
    assert "\x1b" not in done.stderr
    for text in texts:
        assert text in lines[0]
    return lines[0]


def test_help_and_usage_errors_import_neither_torch_nor_pandas(env):
    probe = (
        "import sys\n"
        "from htsr_utils.apps.cli import build_parser\n"
        "build_parser().parse_args(['analyze', 'vgg11', '--weights', 'random'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'pandas', 'scipy', 'matplotlib'})\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported while parsing: {done.stdout}"
    helped = htsr("--help", env=env)
    assert helped.returncode == 0 and "analyze" in helped.stdout
    usage = htsr("analyze", env=env)
    assert usage.returncode == 2 and "required" in usage.stderr


def test_out_that_is_a_file_is_refused_before_any_work(env, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    for out, text in ((a_file, "existing file"), (a_file / "sub", "is a file, not a folder")):
        done = htsr("analyze", MODEL, "--weights", "random", "--out", str(out), env=env)
        one_line_error(done, 2, "--out", text)
    assert not Path(env["HTSR_RESULTS_DIR"]).exists(), "work started before the check"


def test_unusable_results_dir_names_the_variable(env, tmp_path):
    a_file = tmp_path / "results-file"
    a_file.write_text("")
    done = htsr("analyze", MODEL, "--weights", "random", "--out", str(tmp_path / "out"),
                env=env | {"HTSR_RESULTS_DIR": str(a_file)})
    one_line_error(done, 2, "HTSR_RESULTS_DIR", str(a_file))
    assert not (tmp_path / "out").exists()


@pytest.fixture
def bad_checkpoints(tmp_path) -> dict[str, Path]:
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "garbage.pth").write_bytes(b"this is no checkpoint at all" * 10)
    torch.save(nn.Sequential(nn.Linear(4, 4)), tmp_path / "whole.pth")
    return {name: tmp_path / f"{name}.pth" for name in ("empty", "garbage", "whole")}


@pytest.mark.parametrize("case, text", [("empty", "0 bytes"),
                                        ("garbage", "not a PyTorch checkpoint"),
                                        ("whole", "Save model.state_dict() instead")])
def test_bad_checkpoint_files_say_what_is_wrong(env, bad_checkpoints, tmp_path, case, text):
    done = htsr("analyze", MODEL, "--weights", str(bad_checkpoints[case]),
                "--out", str(tmp_path / "out"), env=env)
    one_line_error(done, 2, text, bad_checkpoints[case].name)


def test_summary_names_the_weights_and_the_convention(env, tmp_path):
    done = htsr("analyze", MODEL, "--weights", "random", "--convention", "natcomm2021",
                "--out", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert "weights: random (initialisation, seed 0); convention: natcomm2021" in done.stdout


@pytest.mark.usefixtures("offline")
def test_plot_of_a_cached_model_computes_no_eigenvalues(tmp_path, monkeypatch):
    esd_module = importlib.import_module("htsr_utils.engine.esd")  # htsr_utils.engine.esd is the function
    out = tmp_path / "out"
    assert main(["analyze", MODEL, "--weights", "random", "--out", str(out)]) == 0
    assert not (out / f"{MODEL}_esd.png").exists()

    def no_eigenvalues(*args, **kwargs):
        raise AssertionError("eigenvalues recomputed for a cached model")

    monkeypatch.setattr(esd_module, "_gram", no_eigenvalues)
    monkeypatch.setattr(esd_module, "_eigvalsh", no_eigenvalues)
    assert main(["analyze", MODEL, "--weights", "random", "--out", str(out), "--plot"]) == 0
    assert (out / f"{MODEL}_esd.png").read_bytes().startswith(b"\x89PNG")


def _chunk(fd: int, wait: float) -> bytes | None:
    """What the terminal has within ``wait`` seconds: None if nothing, b"" once it is closed."""
    if not select.select([fd], [], [], wait)[0]:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""


def _read_until(fd: int, text: bytes, timeout: float) -> bytes:
    seen, end = b"", time.monotonic() + timeout
    while text not in seen and time.monotonic() < end:
        chunk = _chunk(fd, 0.2)
        if chunk == b"":
            break
        seen += chunk or b""
    return seen


def _drain(fd: int) -> bytes:
    seen = b""
    while chunk := _chunk(fd, 0.2):
        seen += chunk
    return seen


def test_ctrl_c_during_the_analysis_stops_without_waiting_for_the_work(env, tmp_path):
    """Ctrl-C while the eigenvalue progress bar (shown by default on a terminal) runs and every
    worker is inside a unit of work that never ends: exit status 130, one line, no partial
    cache entry."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal's size
    child = subprocess.Popen([sys.executable, "-c", _ENDLESS_UNITS, "analyze", MODEL, "--weights",
                              "random", "--out", str(tmp_path / "out")], env=env, stderr=slave,
                             stdout=subprocess.PIPE)
    os.close(slave)
    try:
        seen = _read_until(master, b"unit started", timeout=HANG_S)
        assert b"eigenvalues" in seen and b"unit started" in seen, seen.decode(errors="replace")
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {HANG_S} s after Ctrl-C: it waits for the unit of work in progress")
        err = (seen + _drain(master)).decode(errors="replace")
    finally:
        child.kill()
        os.close(master)
    assert child.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].strip().endswith("htsr: interrupted")
    assert err.count("htsr:") == 1, err
    results = Path(env["HTSR_RESULTS_DIR"])
    assert not (results.exists() and any(results.iterdir())), "a partial cache entry is left"


def test_ctrl_c_during_imports_gives_one_line(env, tmp_path):
    """SIGINT once the command has started, while it imports torch (seconds)."""
    child = subprocess.Popen([sys.executable, "-X", "importtime", *HTSR[1:], "analyze", MODEL,
                              "--weights", "random", "--out", str(tmp_path / "out")], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in child.stderr:  # -X importtime: one line per module imported
        lines.append(line)
        if line.split("|")[-1].strip() == "torch._C":  # torch's import has begun
            break
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    messages = [line for line in (*lines, *err.splitlines(keepends=True))
                if not line.startswith("import time:")]
    assert child.returncode == 130, "".join(messages)
    assert [m.strip() for m in messages] == ["htsr: interrupted"]
