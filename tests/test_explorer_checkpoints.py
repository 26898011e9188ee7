"""The explorer opens a Hugging Face checkpoint folder the way it opens a file: picked by path,
analyzed like ``analyze(folder)``, its matrices read when a view needs them, bad folders named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from htsr_utils import analyze, explore
from htsr_utils.apps.explorer.figures import trace

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    config = transformers.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=120)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("llama") / "tiny-llama"
    transformers.LlamaForCausalLM(config).save_pretrained(path, max_shard_size="60KB")
    return path


def test_a_checkpoint_folder_opens_and_matches_analyze(folder):
    app = explore(str(folder))
    assert app.message.value == "", app.message.value
    pd.testing.assert_frame_equal(app.current.details, analyze(folder))
    row = int(np.argmax(app.current.details["M"].to_numpy()))
    app.table.value = row
    assert app.current.matrix_name(row) in app.esd.layout.title.text
    assert trace(app.esd, "esd").y is not None and len(trace(app.esd, "esd").y) > 0
    app.show_permuted.value = True  # reads that one tensor from the folder
    assert len(trace(app.esd, "permuted").y) > 0


def test_the_picker_takes_a_folder_and_names_a_bad_one(folder, tmp_path):
    app = explore(str(folder))
    before = app.current.source
    empty = tmp_path / "empty"
    empty.mkdir()
    app.picker.kind.value = "file"
    app.picker.path.value = str(empty)
    app.picker.button.click()
    assert "holds none of model.safetensors" in app.message.value
    assert app.current.source == before
