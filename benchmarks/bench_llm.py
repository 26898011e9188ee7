"""A LLaMA-7B-shaped checkpoint folder: htsr against weightwatcher 0.7.7, time and peak memory.

Run:  .venv/bin/python benchmarks/bench_llm.py [--blocks 2] [--skip-ww] [--folder DIR]

The checkpoint has LLaMA-7B's shapes (hidden 4096, MLP 11008, vocabulary 32000): the token
embedding, ``--blocks`` decoder blocks (q, k, v, o: 4096 x 4096; gate, up: 11008 x 4096; down:
4096 x 11008) and the output layer, synthetic bf16 weights (i.i.d. normal, std 0.02), one shard
per block with ``model.safetensors.index.json`` and a ``config.json`` naming
``LlamaForCausalLM``, as ``save_pretrained`` writes it.  It is written once to ``--folder``
(default: a temporary folder) and both tools read that folder:

- htsr: ``analyze(folder, "ww")`` in float64 and in float32 (``precision="float32"``);
- weightwatcher 0.7.7: ``WeightWatcher(model=folder).analyze()`` (its defaults: the "ww"
  convention computes the same numbers, ``tests/test_ww_reference.py``).

Each run is a fresh subprocess: wall time of the analysis call, and the process's peak
resident memory (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` would include this script's
own memory, which a child inherits on Linux).  The same matrices must get the same alpha from
both tools (per layer, to 1e-3; float32 against float64 to 1e-3).  A second pass with
``--blocks 0`` (the embedding and output layer only) splits the time into a fixed part and a
per-block part, and the time of all 32 blocks of LLaMA-7B is extrapolated from them.

Targets (printed PASS / FAIL): htsr float64 >= 5x faster than weightwatcher, float32 >= 8x, and
htsr's peak memory under half weightwatcher's.  Results: ``benchmarks/results/bench_llm.txt``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import recorded  # noqa: E402

HIDDEN, MLP, VOCAB, FULL_BLOCKS = 4096, 11008, 32000, 32
SPEEDUP_FLOAT64, SPEEDUP_FLOAT32, MEMORY_SHARE = 5.0, 8.0, 0.5

_HTSR = """
import json, sys, time
from htsr_utils import analyze
start = time.perf_counter()
details = analyze(sys.argv[1], "ww", precision=sys.argv[2])
seconds = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) * 1024
print(json.dumps({"seconds": seconds, "peak": peak,
                  "layers": details["layer"].tolist(), "alpha": details["alpha"].tolist()}))
"""

_WW = """
import json, logging, sys, time
logging.disable(logging.CRITICAL)
import weightwatcher
start = time.perf_counter()
details = weightwatcher.WeightWatcher(model=sys.argv[1]).analyze()
seconds = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) * 1024
print(json.dumps({"seconds": seconds, "peak": peak,
                  "layers": details["name"].astype(str).tolist(), "alpha": details["alpha"].tolist()}))
"""


def write_checkpoint(folder: Path, blocks: int) -> int:
    """The checkpoint of the module docstring; returns its size in bytes."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)

    def weight(*shape: int) -> torch.Tensor:
        return (torch.randn(shape, generator=generator) * 0.02).to(torch.bfloat16)

    shards: list[dict[str, torch.Tensor]] = [{"model.embed_tokens.weight": weight(VOCAB, HIDDEN)}]
    for b in range(blocks):
        p = f"model.layers.{b}."
        shards.append({p + "self_attn.q_proj.weight": weight(HIDDEN, HIDDEN),
                       p + "self_attn.k_proj.weight": weight(HIDDEN, HIDDEN),
                       p + "self_attn.v_proj.weight": weight(HIDDEN, HIDDEN),
                       p + "self_attn.o_proj.weight": weight(HIDDEN, HIDDEN),
                       p + "mlp.gate_proj.weight": weight(MLP, HIDDEN),
                       p + "mlp.up_proj.weight": weight(MLP, HIDDEN),
                       p + "mlp.down_proj.weight": weight(HIDDEN, MLP),
                       p + "input_layernorm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
                       p + "post_attention_layernorm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16)})
    shards.append({"model.norm.weight": torch.ones(HIDDEN, dtype=torch.bfloat16),
                   "lm_head.weight": weight(VOCAB, HIDDEN)})
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, folder / name, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(shard, name)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
              "intermediate_size": MLP, "num_hidden_layers": blocks, "num_attention_heads": 32,
              "num_key_value_heads": 32, "vocab_size": VOCAB, "tie_word_embeddings": False,
              "torch_dtype": "bfloat16"}
    (folder / "config.json").write_text(json.dumps(config))
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(folder: Path, skip_ww: bool) -> dict[str, dict]:
    out = {"htsr float64": run(_HTSR, str(folder), "float64"),
           "htsr float32": run(_HTSR, str(folder), "float32")}
    if not skip_ww:
        out["weightwatcher"] = run(_WW, str(folder))
    return out


def same_alphas(a: dict, b: dict, tolerance: float = 1e-3) -> bool:
    return len(a["alpha"]) == len(b["alpha"]) and all(
        abs(x - y) <= tolerance for x, y in zip(a["alpha"], b["alpha"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--skip-ww", action="store_true")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, recorded("bench_llm"):
        root = args.folder or Path(tmp)
        results = {}
        for blocks in (args.blocks, 0):
            size = write_checkpoint(root / f"llama7b-shapes-{blocks}-blocks", blocks)
            results[blocks] = measure(root / f"llama7b-shapes-{blocks}-blocks", args.skip_ww)
            print(f"\n{blocks} blocks + embedding + output layer: {size / 1e9:.2f} GB of bf16 on disk")
            print(f"{'tool':<16} {'time (s)':>9} {'peak RSS (GB)':>14} {'matrices':>9}")
            for tool, r in results[blocks].items():
                print(f"{tool:<16} {r['seconds']:9.1f} {r['peak'] / 1e9:14.2f} {len(r['alpha']):9d}")
        full = results[args.blocks]
        print(f"\nsame alphas, float32 vs float64: {same_alphas(full['htsr float32'], full['htsr float64'])}")
        if "weightwatcher" in full:
            ww = full["weightwatcher"]
            print(f"same matrices and alphas, htsr vs weightwatcher: {same_alphas(full['htsr float64'], ww)}")
            for tool, target in (("htsr float64", SPEEDUP_FLOAT64), ("htsr float32", SPEEDUP_FLOAT32)):
                ratio = ww["seconds"] / full[tool]["seconds"]
                print(f"{tool}: {ratio:.1f}x faster than weightwatcher (target >= {target:g}x): "
                      f"{'PASS' if ratio >= target else 'FAIL'}")
            share = full["htsr float64"]["peak"] / ww["peak"]
            print(f"htsr peak memory / weightwatcher's: {share:.2f} (target < {MEMORY_SHARE}): "
                  f"{'PASS' if share < MEMORY_SHARE else 'FAIL'}")
        print(f"\nextrapolated to LLaMA-7B's {FULL_BLOCKS} blocks (fixed part + {FULL_BLOCKS} x per block):")
        for tool in full:
            fixed = results[0][tool]["seconds"]
            per_block = (full[tool]["seconds"] - fixed) / max(args.blocks, 1)
            print(f"{tool:<16} {fixed + FULL_BLOCKS * per_block:8.0f} s  "
                  f"({per_block:.1f} s per block, {fixed:.1f} s embedding + output layer)")


if __name__ == "__main__":
    main()
