"""Fused q/k/v projections split as the models themselves split them; LoRA pairs as B @ A.

The ground truth is each model's own forward code: the query, key and value a
``transformers`` attention layer computes from its fused projection must equal the
projection by the split matrices.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from torch import nn

from htsr_utils import analyze, weight_matrices


def _tiny(config_class, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    config = config_class(**kwargs)
    return getattr(transformers, config.architectures[0])(config).eval() if config.architectures \
        else transformers.AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture(scope="module")
def gpt2() -> nn.Module:
    return _tiny(transformers.GPT2Config, n_embd=96, n_layer=2, n_head=4, vocab_size=200, n_positions=32)


@pytest.fixture(scope="module")
def neox() -> nn.Module:
    return _tiny(transformers.GPTNeoXConfig, hidden_size=96, num_hidden_layers=1, num_attention_heads=4,
                 intermediate_size=192, vocab_size=200, max_position_embeddings=32)


@pytest.fixture(scope="module")
def phi3() -> nn.Module:
    return _tiny(transformers.Phi3Config, hidden_size=96, num_hidden_layers=1, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=192, vocab_size=200,
                 max_position_embeddings=32, pad_token_id=0)


def _split(model, layer: str) -> dict[str, np.ndarray]:
    """The split matrices of ``layer`` as stored orientation (out x in), by suffix."""
    matrices = weight_matrices(model, "ww", split_qkv=True).matrices
    return {m.layer.rpartition(".")[2]: m.matrix for m in matrices if m.layer.startswith(layer + ".")}


def _as_out_in(matrix: np.ndarray, n_in: int) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(matrix, dtype=np.float32))
    return t if t.shape[1] == n_in else t.T


def test_gpt2_c_attn_splits_into_the_query_key_value_gpt2_computes(gpt2):
    attn = gpt2.transformer.h[0].attn
    x = torch.randn(5, 96)
    with torch.no_grad():
        q, k, v = (attn.c_attn(x) - attn.c_attn.bias).split(attn.split_size, dim=-1)  # GPT2Attention
    parts = _split(gpt2, "transformer.h.0.attn.c_attn")
    assert sorted(parts) == ["k", "q", "v"]
    for name, expected in zip("qkv", (q, k, v)):  # Conv1D stores (in, out): x @ W
        torch.testing.assert_close(x @ torch.from_numpy(parts[name]).float(), expected, rtol=1e-5, atol=1e-5)


def test_neox_query_key_value_splits_per_head(neox):
    attn = neox.gpt_neox.layers[0].attention
    x = torch.randn(5, 96)
    with torch.no_grad():
        qkv = (attn.query_key_value(x) - attn.query_key_value.bias).view(5, 4, 3 * 24)
        q, k, v = (t.reshape(5, 96) for t in qkv.chunk(3, dim=-1))  # GPTNeoXAttention
    parts = _split(neox, "gpt_neox.layers.0.attention.query_key_value")
    for name, expected in zip("qkv", (q, k, v)):
        torch.testing.assert_close(x @ _as_out_in(parts[name], 96).T, expected, rtol=1e-5, atol=1e-5)


def test_phi3_qkv_proj_splits_with_narrower_key_value(phi3):
    attn = phi3.model.layers[0].self_attn
    x = torch.randn(5, 96)
    with torch.no_grad():
        qkv = attn.qkv_proj(x)
    query_pos, kv = 4 * 24, 2 * 24  # Phi3Attention: heads * head_dim, then the key-value heads
    parts = _split(phi3, "model.layers.0.self_attn.qkv_proj")
    assert parts["q"].shape == (96, 96) and sorted(parts["k"].shape) == [kv, 96]
    for name, expected in zip("qkv", (qkv[:, :query_pos], qkv[:, query_pos:query_pos + kv],
                                       qkv[:, query_pos + kv:])):
        torch.testing.assert_close(x @ _as_out_in(parts[name], 96).T, expected, rtol=1e-5, atol=1e-5)


def test_wqkv_splits_in_thirds():
    torch.manual_seed(1)
    model = nn.ModuleDict({"mixer": nn.ModuleDict({"Wqkv": nn.Linear(64, 192, bias=False)})})
    parts = _split(model, "mixer.Wqkv")
    weight = model["mixer"]["Wqkv"].weight.detach()
    for i, name in enumerate("qkv"):
        np.testing.assert_array_equal(_as_out_in(parts[name], 64), weight[64 * i:64 * (i + 1)])


def test_split_is_the_same_from_module_state_dict_and_folder(gpt2, tmp_path):
    gpt2.save_pretrained(tmp_path / "gpt2", safe_serialization=True)
    tables = [analyze(source, "ww", split_qkv=True)
              for source in (gpt2, dict(gpt2.state_dict()), tmp_path / "gpt2")]
    key = ["layer", "N", "M", "alpha", "lambda_max", "log_norm"]
    by_layer = [t[key].sort_values("layer").reset_index(drop=True) for t in tables]
    for other in by_layer[1:]:
        np.testing.assert_array_equal(other["layer"], by_layer[0]["layer"])
        np.testing.assert_allclose(other[key[1:]].to_numpy(float), by_layer[0][key[1:]].to_numpy(float),
                                   rtol=1e-10)
    stored = analyze(gpt2, "ww")
    assert "transformer.h.0.attn.c_attn" in set(stored["layer"])
    assert {"transformer.h.0.attn.c_attn.q", "transformer.h.0.attn.c_attn.v"} <= set(tables[0]["layer"])
    assert len(tables[0]) == len(stored) + 2 * 2  # two blocks, one matrix each become three


def test_query_key_value_without_heads_names_the_layer(neox):
    state = dict(neox.state_dict())
    with pytest.raises(ValueError, match=r"'gpt_neox.layers.0.attention.query_key_value'.*number of "
                                         r"attention heads"):
        analyze(state, "ww", split_qkv=True)


def _lora_state(rank: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return {"layers.0.q_proj.weight": torch.randn(64, 80, generator=g),
            "layers.0.q_proj.lora_A.weight": torch.randn(rank, 80, generator=g),
            "layers.0.q_proj.lora_B.weight": torch.randn(64, rank, generator=g)}


def test_lora_factors_are_listed_by_default():
    details = analyze(_lora_state(), "ww")
    assert details["layer"].tolist() == ["layers.0.q_proj"]
    reasons = {s["layer"]: s["reason"] for s in details.attrs["skipped"]}
    assert reasons["layers.0.q_proj.lora_A"].startswith("LoRA factor A (rank 4) of 'layers.0.q_proj'")
    assert "lora_product=True" in reasons["layers.0.q_proj.lora_B"]


def test_lora_product_is_the_update_b_times_a():
    state = _lora_state()
    details, esds = __import__("htsr_utils").analyze_with_esds(state, "ww", lora_product=True)
    row = details[details["layer"] == "layers.0.q_proj.lora_BA"].iloc[0]
    update = (state["layers.0.q_proj.lora_B.weight"].double() @ state["layers.0.q_proj.lora_A.weight"].double())
    sv = np.linalg.svd(update.numpy(), compute_uv=False)
    assert (row["N"], row["M"]) == (80, 64)
    assert row["lambda_max"] == pytest.approx(sv[0] ** 2, rel=1e-10)
    np.testing.assert_allclose(np.sort(esds[details.index[details["layer"] == row["layer"]][0]])[-4:],
                               np.sort(sv[:4] ** 2), rtol=1e-9)
