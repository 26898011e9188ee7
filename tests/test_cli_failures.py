"""The htsr command keeps what it finished: a model that fails after work started is named, the
others' results are written, exit status 1; bad input found before any work is exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import torch

from htsr_utils import load_model

HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]


def test_one_failing_model_keeps_the_others(offline_env, tmp_path):
    checkpoint = tmp_path / "r18.pth"
    torch.save(load_model("resnet18", "random", seed=1).state_dict(), checkpoint)
    out = tmp_path / "out"
    done = subprocess.run([*HTSR, "analyze", "squeezenet1_1", "resnet18", "--weights", str(checkpoint),
                           "--out", str(out), "--no-progress"], capture_output=True, text=True,
                          env=offline_env, timeout=600)
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("htsr: failed: ")]
    assert len(failed) == 1 and failed[0].startswith("htsr: failed: squeezenet1_1: CheckpointError: ")
    assert "does not fit the architecture of 'squeezenet1_1'" in failed[0]
    assert "[]" not in failed[0]  # no empty list of mismatches
    assert (out / "resnet18.csv").is_file() and not (out / "squeezenet1_1.csv").exists()
    assert list(pd.read_csv(out / "summary.csv")["model"]) == ["resnet18"]


def test_an_out_folder_that_cannot_be_created_is_named_before_any_work(offline_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in ("/proc/htsr-out", str(blocker / "sub")):
        done = subprocess.run([*HTSR, "analyze", "squeezenet1_1", "--weights", "random", "--out", out],
                              capture_output=True, text=True, env=offline_env, timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"htsr: error: --out {out}: ") and done.stderr.count("\n") == 1
        assert "Errno" not in done.stderr
