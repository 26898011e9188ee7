"""Checkpoints in every form give the same per-matrix tables: Hugging Face folders (single file,
sharded with an index, pytorch_model.bin), weight files, state dicts and modules; dtypes;
transformer layouts (grouped-query attention, GPT-2 Conv1D, tied embeddings, stacked experts)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from htsr_utils import WeightFileError, analyze
from htsr_utils.engine.checkpoint import open_checkpoint

transformers = pytest.importorskip("transformers")

CONVENTIONS = ("sdm2020", "ww")


def _llama(tie: bool = False, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    config = transformers.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=120,
                                      tie_word_embeddings=tie)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).to(dtype).eval()


def _gpt2() -> torch.nn.Module:
    config = transformers.GPT2Config(n_layer=2, n_embd=96, n_head=4, vocab_size=110, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config).eval()


def _mixtral() -> torch.nn.Module:
    config = transformers.MixtralConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=1,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=80,
                                        num_local_experts=3, num_experts_per_tok=2)
    torch.manual_seed(0)
    return transformers.MixtralForCausalLM(config).eval()


def _skipped(details: pd.DataFrame) -> list[str]:
    return [s["layer"] for s in details.attrs["skipped"]]


def _save_bin_shards(model: torch.nn.Module, folder) -> None:
    """The older Hugging Face layout: ``pytorch_model-0000k-of-00002.bin`` and their index."""
    model.config.save_pretrained(folder)
    keys = list(model.state_dict())
    state = model.state_dict()
    weight_map = {}
    for k, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2:]), start=1):
        name = f"pytorch_model-{k:05d}-of-00002.bin"
        torch.save({key: state[key] for key in part}, folder / name)
        weight_map |= dict.fromkeys(part, name)
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))


def _forms(model: torch.nn.Module, root) -> dict[str, object]:
    """The same weights as a module, a state dict, four folders and a file."""
    forms = {"module": model, "state dict": model.state_dict()}
    model.save_pretrained(root / "single")
    model.save_pretrained(root / "sharded", max_shard_size="60KB")
    model.config.save_pretrained(root / "bin")
    torch.save(model.state_dict(), root / "bin" / "pytorch_model.bin")
    _save_bin_shards(model, root / "bin-sharded")
    forms |= {"folder": root / "single", "sharded folder": root / "sharded", "bin folder": root / "bin",
              "sharded bin folder": root / "bin-sharded"}
    torch.save(model.state_dict(), root / "weights.pt")
    forms["pt file"] = root / "weights.pt"
    return forms


@pytest.mark.parametrize("build", [_llama, _gpt2], ids=["llama-gqa", "gpt2"])
def test_every_form_gives_the_same_table(build, tmp_path):
    model = build()
    forms = _forms(model, tmp_path)
    assert len(list((tmp_path / "sharded").glob("model-*-of-*.safetensors"))) > 1
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    for convention in CONVENTIONS:
        reference = analyze(model, convention)
        for name, form in forms.items():
            table = analyze(form, convention)
            if "folder" in name:  # the model built from config.json names every module
                pd.testing.assert_frame_equal(table, reference, obj=f"{name} ({convention})")
                assert table.attrs["skipped"] == reference.attrs["skipped"], name
            else:  # without it, types come from keys and dimensions (GPT-2's Conv1D is Linear)
                same = [c for c in reference.columns if c != "layer_type"]
                pd.testing.assert_frame_equal(table[same], reference[same], obj=f"{name} ({convention})")
                assert _skipped(table) == _skipped(reference), name


def test_a_safetensors_file_gives_the_same_matrices_in_its_key_order(tmp_path):
    model = _llama()
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    reference = analyze(model, "ww")
    table = analyze(tmp_path / "w.safetensors", "ww")
    key = ["layer", "slice"]
    columns = [c for c in reference.columns if c != "layer_index"]
    pd.testing.assert_frame_equal(table.sort_values(key, na_position="first")[columns].reset_index(drop=True),
                                  reference.sort_values(key, na_position="first")[columns].reset_index(drop=True))


def test_grouped_query_attention_keeps_the_narrower_key_and_value():
    table = analyze(_llama(), "sdm2020").set_index("layer")
    assert (table.loc["model.layers.0.self_attn.q_proj", ["N", "M"]] == [128, 128]).all()
    assert (table.loc["model.layers.0.self_attn.k_proj", ["N", "M"]] == [128, 64]).all()
    assert (table.loc["model.layers.0.self_attn.v_proj", ["N", "M"]] == [128, 64]).all()


def test_tied_embedding_is_counted_once(tmp_path):
    for model in (_gpt2(), _llama(tie=True)):
        details = analyze(model, "ww")
        tied = [s for s in details.attrs["skipped"] if "tied weights" in s["reason"]]
        assert [s["layer"] for s in tied] == ["lm_head"], tied
        assert "lm_head" not in set(details["layer"])
    gpt2 = _gpt2()
    assert analyze(gpt2, "ww").set_index("layer").loc["transformer.wte", "layer_type"] == "Embedding"
    assert analyze(gpt2, "ww").set_index("layer").loc["transformer.h.0.attn.c_attn", "layer_type"] == "Conv1D"


def test_tied_weights_in_a_plain_module_are_counted_once(tmp_path):
    from safetensors.torch import save_model

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64))
    model[2].weight = model[0].weight
    details = analyze(model, "sdm2020")
    assert list(details["layer"]) == ["0"]
    assert details.attrs["skipped"][0]["layer"] == "2"
    torch.save(model.state_dict(), tmp_path / "tied.pt")  # torch.save keeps the shared storage
    save_model(model, str(tmp_path / "tied.safetensors"))  # safetensors stores a shared tensor once
    for form in (model.state_dict(), tmp_path / "tied.pt", tmp_path / "tied.safetensors"):
        table = analyze(form, "sdm2020")
        assert list(table["layer"]) == ["0"] and table["alpha"].equals(details["alpha"]), form


def test_per_expert_weights_of_a_saved_mixture_of_experts(tmp_path):
    """save_pretrained writes each expert's gate (w1), down (w2) and up (w3) projection apart."""
    _mixtral().save_pretrained(tmp_path / "m")
    details = analyze(tmp_path / "m", "sdm2020")
    experts = details[details["layer"].str.contains(r"experts\.\d\.w\d$")]
    assert len(experts) == 9 and set(experts["M"]) == {64} and set(experts["N"]) == {96}


def test_stacked_experts_give_one_matrix_per_expert():
    details = analyze(_mixtral(), "sdm2020")
    experts = details[details["layer_type"] == "Experts"]
    assert set(experts["layer"]) == {"model.layers.0.mlp.experts.gate_up_proj",
                                     "model.layers.0.mlp.experts.down_proj"}
    assert sorted(experts["slice"].unique()) == ["0", "1", "2"]
    gate_up = experts[experts["layer"].str.endswith("gate_up_proj")]
    assert (gate_up[["N", "M"]] == [192, 64]).all().all()  # (2 x intermediate, hidden) per expert
    weights = dict(_mixtral().named_parameters())["model.layers.0.mlp.experts.down_proj"].detach()
    expert1 = torch.linalg.eigvalsh(weights[1].double().T @ weights[1].double())
    row = experts[(experts["layer"].str.endswith("down_proj")) & (experts["slice"] == "1")].iloc[0]
    assert row["lambda_max"] == pytest.approx(float(expert1.max()), rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_precision_and_double_checkpoints_read_exactly(dtype, tmp_path):
    model = _llama(dtype=dtype)
    model.save_pretrained(tmp_path / "m")
    stored = open_checkpoint(tmp_path / "m")["model.layers.0.mlp.up_proj.weight"]
    assert stored.dtype == dtype
    pd.testing.assert_frame_equal(analyze(tmp_path / "m", "sdm2020"), analyze(model, "sdm2020"))
    w = stored.double()  # bf16 / fp16 values are exact in float64
    row = analyze(tmp_path / "m", "sdm2020").set_index("layer").loc["model.layers.0.mlp.up_proj"]
    assert row["lambda_max"] == pytest.approx(float(torch.linalg.eigvalsh(w.T @ w).max()), rel=1e-10)


def test_integer_and_8_bit_weights_are_listed_not_analyzed(tmp_path):
    state = {"a.weight": torch.randn(80, 64), "q.weight": torch.randint(-8, 8, (80, 64), dtype=torch.int8),
             "f8.weight": torch.randn(80, 64).to(torch.float8_e4m3fn)}
    save_file(state, tmp_path / "q.safetensors")
    for form in (state, tmp_path / "q.safetensors"):
        details = analyze(form, "sdm2020")
        assert list(details["layer"]) == ["a"]
        reasons = {s["layer"]: s["reason"] for s in details.attrs["skipped"]}
        assert "int8" in reasons["q"] and "not floating point" in reasons["q"]
        assert "float8" in reasons["f8"] and "quantized" in reasons["f8"]


def test_a_dtype_htsr_cannot_read_is_listed(tmp_path):
    save_file({"a.weight": torch.randn(80, 64), "packed.weight": torch.zeros(80, 32, dtype=torch.uint8)},
              tmp_path / "p.safetensors")
    raw = (tmp_path / "p.safetensors").read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    header["packed.weight"]["dtype"] = "I4"  # a packed 4-bit format: the same number of bytes
    text = json.dumps(header, separators=(",", ":")).encode().ljust(length)
    assert len(text) == length
    (tmp_path / "p.safetensors").write_bytes(raw[:8] + text + raw[8 + length:])
    details = analyze(tmp_path / "p.safetensors", "sdm2020")
    assert list(details["layer"]) == ["a"]
    assert [s["reason"] for s in details.attrs["skipped"]] == [
        "stored as I4, a dtype htsr does not read (quantized or packed): not analyzed"]


def test_bad_checkpoint_folders_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightFileError, match="holds none of model.safetensors"):
        analyze(empty)
    model = _llama()
    model.save_pretrained(tmp_path / "sharded", max_shard_size="60KB")
    shard = sorted((tmp_path / "sharded").glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(WeightFileError, match=f"names missing shards: {shard.name}"):
        analyze(tmp_path / "sharded")


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_float32_precision_moves_alpha_by_little_on_real_weights(convention, minilm_state_dict):
    """Against float64 on every MiniLM matrix: the same fits, alpha within 1e-4 (measured:
    2.2e-6 under sdm2020, 1.0e-5 under ww)."""
    exact = analyze(minilm_state_dict, convention)
    fast = analyze(minilm_state_dict, convention, precision="float32")
    assert fast.attrs["precision"] == "float32" and "precision" not in exact.attrs
    assert (fast["status"] == exact["status"]).all() and (exact["status"] == "ok").all()
    assert (fast["n_tail"] == exact["n_tail"]).all()
    assert (fast["alpha"] - exact["alpha"]).abs().max() < 1e-4
    assert ((fast["lambda_max"] - exact["lambda_max"]).abs() / exact["lambda_max"]).max() < 1e-5
