"""Overhead of recording per-layer metrics every epoch (``TrainingRecorder.record``; not a test).

Run:  .venv/bin/python benchmarks/bench_recorder.py [--epochs 5]

For each model, trained on the 5,000 MNIST digits of ``htsr_utils.experiments.datasets`` with
plain SGD in a PyTorch loop on one thread (as notebook 12 trains), ``record`` is called at
initialization and after every epoch, as a user would.  Printed per model (medians over the
epochs): the time of one training epoch, of one ``record`` call, and their ratio; and the
split of ``record`` into the analysis alone (``analyze_with_esds`` on the same weights, timed
separately) and the rest (writing the step's files: the ``.npz``, the rewritten
``layers.csv`` and ``curve.csv``, ``run.json``), the difference of the two medians (0 where
timing noise makes it negative).

Models:

- notebook 12's MLP (784 -> 256 -> 256 -> 10, batch 32, lr 0.2; its ESDs have 256, 256 and 10
  eigenvalues under ``ww``);
- a wide MLP (784 -> 1024 -> 1024 -> 10, same recipe; 784, 1024 and 10 eigenvalues);
- notebook 11's deepest VGG-style CNN on MNIST (4 convolutions of 64 channels, batch 32,
  lr 0.02, momentum 0.9; pooled 3x3 ESDs of 576 eigenvalues).

Other processes share this machine's cores: the load average is printed with every model, and
the result file records the machine; timings are medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import recorded  # noqa: E402

from htsr_utils import analyze_with_esds  # noqa: E402
from htsr_utils.experiments.datasets import load_dataset  # noqa: E402
from htsr_utils.experiments.recording import DEFAULT_CONVENTION, DEFAULT_ESTIMATORS, TrainingRecorder  # noqa: E402
from htsr_utils.experiments.training import TrainConfig, build_model, default_config  # noqa: E402

MODELS = {
    "notebook 12 MLP (width 256)": default_config("mnist"),
    "wide MLP (width 1024)": dataclasses.replace(default_config("mnist"), width=1024),
    "VGG-style CNN (4 conv, 64 ch)": TrainConfig(dataset="mnist", arch="vgg2d", depth=4, width=64, lr=0.02,
                                                 momentum=0.9),
}


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(config: TrainConfig, epochs: int, run_dir: Path) -> dict[str, float]:
    """Median seconds of one training epoch, one ``record`` and the analysis alone."""
    data = load_dataset(config.dataset)
    torch.manual_seed(config.seed)
    model = build_model(config, data.in_features)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    order = torch.Generator().manual_seed(config.seed)
    recorder = TrainingRecorder(run_dir)

    def train_epoch() -> None:
        model.train()
        for batch in torch.randperm(len(data.y_train), generator=order).split(config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(data.X_train[batch]), data.y_train[batch]).backward()
            optimizer.step()
        model.eval()

    recorder.record(model, 0)
    train, record, analysis = [], [], []
    for epoch in range(1, epochs + 1):
        train.append(_timed(train_epoch))
        record.append(_timed(lambda: recorder.record(model, epoch, test_accuracy=0.0)))
        analysis.append(_timed(lambda: analyze_with_esds(model, DEFAULT_CONVENTION, estimators=DEFAULT_ESTIMATORS)))
    return {"train": statistics.median(train), "record": statistics.median(record),
            "analysis": statistics.median(analysis), "matrices": len(recorder.run().matrices())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per model (default 5)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"record() under convention {DEFAULT_CONVENTION!r}, estimators {list(DEFAULT_ESTIMATORS)}; "
          f"training on 1 torch thread; medians over {args.epochs} epochs")
    print("other helpers' processes share the CPUs: timings are inflated by contention")
    print(f"{'model':32s} {'matrices':>8s} {'epoch (s)':>10s} {'record (s)':>11s} {'analysis (s)':>13s} "
          f"{'files (s)':>10s} {'record/epoch':>13s}  load")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, config) in enumerate(MODELS.items()):
            m = measure(config, args.epochs, Path(tmp) / f"run{i}")
            print(f"{name:32s} {m['matrices']:8d} {m['train']:10.3f} {m['record']:11.3f} {m['analysis']:13.3f} "
                  f"{max(m['record'] - m['analysis'], 0.0):10.3f} {m['record'] / m['train']:13.2f}  "
                  f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    with recorded("bench_recorder"):
        main()
