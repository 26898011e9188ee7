"""A checkpoint larger than the memory an analysis may use is analyzed in bounded memory.

A synthetic sharded bf16 checkpoint of 3 GB whose largest tensor is 512 KB is analyzed in a
subprocess; its peak resident memory (``VmHWM`` of ``/proc/self/status``, which counts
memory-mapped file pages too; ``ru_maxrss`` would include the parent's memory, which a child
inherits through fork and exec on Linux) must stay under 1.5 GB: the import, three windows of
weights as stored, and the work of the matrices being solved, not the checkpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

SHAPE = (4096, 64)  # bf16: 512 KB per tensor
TENSORS_PER_SHARD = 1024  # 512 MB per shard
SHARDS = 6  # 3 GB
LIMIT_BYTES = 1.5e9

_ANALYZE = """
import sys
from htsr_utils import analyze
details = analyze(sys.argv[1], "sdm2020")
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(len(details), int(details["status"].eq("ok").sum()), peak_kb * 1024)
"""


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    generator = torch.Generator().manual_seed(0)
    distinct = [torch.randn(SHAPE, generator=generator).to(torch.bfloat16) for _ in range(8)]
    weight_map = {}
    for shard in range(1, SHARDS + 1):
        name = f"model-{shard:05d}-of-{SHARDS:05d}.safetensors"
        keys = [f"layers.{(shard - 1) * TENSORS_PER_SHARD + i}.proj.weight" for i in range(TENSORS_PER_SHARD)]
        save_file({key: distinct[i % len(distinct)].clone() for i, key in enumerate(keys)}, folder / name)
        weight_map |= dict.fromkeys(keys, name)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def test_peak_memory_depends_on_the_largest_tensor_not_the_checkpoint(big_checkpoint):
    size = sum(p.stat().st_size for p in big_checkpoint.glob("*.safetensors"))
    assert size >= 3e9
    done = subprocess.run([sys.executable, "-c", _ANALYZE, str(big_checkpoint)], capture_output=True,
                          text=True, check=True, timeout=1200)
    rows, fitted, peak = map(int, done.stdout.split())
    assert rows == fitted == SHARDS * TENSORS_PER_SHARD
    assert peak < LIMIT_BYTES, f"peak RSS {peak / 1e9:.2f} GB for a {size / 1e9:.1f} GB checkpoint"
