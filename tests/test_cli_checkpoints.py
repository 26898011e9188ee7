"""``htsr analyze PATH``: checkpoint files and Hugging Face folders as models, labelled by their
path, cached by their content, fanned out like zoo models."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from htsr_utils import analyze
from htsr_utils.models.files import minilm_dir
from htsr_utils.paper.many import analyze_many

transformers = pytest.importorskip("transformers")
HTSR = [sys.executable, "-m", "htsr_utils.apps.cli"]


@pytest.fixture(scope="module")
def bf16_folder(tmp_path_factory) -> Path:
    config = transformers.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=120)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny-llama"
    transformers.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(path, max_shard_size="60KB")
    return path


def test_htsr_analyze_takes_checkpoint_folders(bf16_folder, offline_env, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([*HTSR, "analyze", str(bf16_folder), str(minilm_dir()), "--out", str(out),
                           "--convention", "ww", "--no-progress"], capture_output=True, text=True,
                          env=offline_env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert str(bf16_folder) in done.stdout and str(minilm_dir()) in done.stdout
    assert "as stored in each checkpoint" in done.stdout
    summary = pd.read_csv(out / "summary.csv", index_col="model")
    assert list(summary.index) == [str(bf16_folder), str(minilm_dir())]
    assert list(summary["family"]) == ["LlamaForCausalLM", "BertModel"]
    table = pd.read_csv(out / "tiny-llama.csv")
    expected = analyze(bf16_folder, "ww")
    assert list(table["layer"]) == list(expected["layer"])
    assert table["alpha"].to_numpy() == pytest.approx(expected["alpha"].to_numpy(), rel=1e-9)
    assert (out / "model.csv").is_file()  # the MiniLM folder's last part


def test_checkpoints_are_cached_by_content_and_fan_out(bf16_folder, offline, tmp_path, monkeypatch):
    from htsr_utils.paper import cache

    calls = []
    real = cache.analyze_with_esds
    monkeypatch.setattr(cache, "analyze_with_esds", lambda model, *a, **k: calls.append(model) or real(model, *a, **k))
    first = analyze_many([str(bf16_folder)], convention="sdm2020", progress=False)
    copy = tmp_path / "elsewhere" / "same-weights"
    shutil.copytree(bf16_folder, copy)
    again = analyze_many([str(copy)], convention="sdm2020", progress=False)
    assert len(calls) == 1, "the same files under another path are read from the cache"
    assert list(again.details["model"].unique()) == [str(copy)]
    pd.testing.assert_frame_equal(first.summary.reset_index(drop=True), again.summary.reset_index(drop=True))
    with torch.no_grad():
        changed = transformers.LlamaForCausalLM.from_pretrained(copy)
        changed.lm_head.weight.mul_(2)
        changed.save_pretrained(copy, max_shard_size="60KB")
    analyze_many([str(copy)], convention="sdm2020", progress=False)
    assert len(calls) == 2, "changed weights are recomputed"
