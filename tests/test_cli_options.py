"""``htsr analyze`` analysis options: estimators, precision, fused q/k/v split, LoRA products,
each giving the table the Python call gives, and bad values refused before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import transformers

from htsr_utils import analyze

HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=96, n_layer=2, n_head=4, vocab_size=200, n_positions=32)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-gpt2"
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    return path


def test_split_qkv_and_hill_from_the_command_line(gpt2_folder, offline_env, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([*HTSR, "analyze", str(gpt2_folder), "--convention", "ww", "--split-qkv",
                           "--estimators", "csn,hill", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, env=offline_env, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(next(p for p in out.glob("*.csv") if p.name != "summary.csv"))
    expected = analyze(gpt2_folder, "ww", split_qkv=True, estimators=("csn", "hill"))
    assert table["layer"].tolist() == expected["layer"].tolist()
    assert "transformer.h.1.attn.c_attn.k" in set(table["layer"])
    np.testing.assert_allclose(table["alpha_hill"], expected["alpha_hill"], rtol=1e-12)
    np.testing.assert_allclose(table["alpha"], expected["alpha"], rtol=1e-12)
    summary = pd.read_csv(out / "summary.csv")
    assert "alpha_hill_mean" in summary.columns


def test_stored_and_split_are_cached_apart(gpt2_folder, offline_env, tmp_path):
    env = offline_env | {"HTSR_RESULTS_DIR": str(tmp_path / "cache")}
    runs = {}
    for flag in ([], ["--split-qkv"]):
        out = tmp_path / ("split" if flag else "stored")
        done = subprocess.run([*HTSR, "analyze", str(gpt2_folder), "--convention", "ww", *flag,
                               "--out", str(out), "--no-progress"],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        runs[bool(flag)] = pd.read_csv(next(p for p in out.glob("*.csv") if p.name != "summary.csv"))
    assert len(runs[True]) == len(runs[False]) + 4  # two c_attn, each three matrices
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2


@pytest.mark.parametrize(("flags", "message"), [
    (["--estimators", "csn,bogus"], "estimators: unknown ['bogus']; choose from: csn, hill, farms"),
    (["--precision", "float16"], "invalid choice: 'float16'"),
])
def test_bad_option_values_are_refused_before_work(flags, message, gpt2_folder, offline_env, tmp_path):
    done = subprocess.run([*HTSR, "analyze", str(gpt2_folder), *flags, "--out", str(tmp_path / "o"),
                           "--no-progress"], capture_output=True, text=True, env=offline_env, timeout=300)
    assert done.returncode == 2
    assert message in done.stderr
