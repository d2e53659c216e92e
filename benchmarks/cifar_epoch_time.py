"""Seconds per training epoch of CIFAR-10 recipes on this machine (its GPU when one is visible).

Usage: python benchmarks/cifar_epoch_time.py RECIPE [RECIPE ...] [--epochs N] [--data DIR] [--out DIR]
       [--set KEY=VALUE ...]

Runs each recipe's train stage for ``--epochs`` epochs (default 2: the first includes CUDA's warm-up)
and prints a table of the seconds per epoch (training and the test pass, ``report.json``'s
``train.epochs[].seconds``). Without ``--data`` it writes synthetic files of CIFAR-10's format and size
(50,000 training and 10,000 test images of random pixels): an epoch then takes as long as on the real
set, and the accuracy is chance.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.data import CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES
from hw_bnn.io import atomic_path

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000


def write_synthetic_cifar10(folder: Path, seed: int = 0) -> None:
    """CIFAR-10's python batches (five of 10,000 training images, one test batch) with random pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [TRAIN_IMAGES // len(CIFAR10_TRAIN_BATCHES)] * len(CIFAR10_TRAIN_BATCHES) + [TEST_IMAGES]
    for name, size in zip((*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH), sizes):
        batch = {b"batch_label": b"synthetic", b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, size).tolist()}
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(pickle.dumps(batch, protocol=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", help="CIFAR-10 recipes (training/recipes/cifar10_*.yaml)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data", default=None, help="CIFAR-10 python batches (default: synthetic, same size)")
    parser.add_argument("--out", default="build/cifar_epoch_time")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="recipe override KEY=VALUE")
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data) if args.data else Path(scratch) / "cifar"
        if not args.data:
            write_synthetic_cifar10(data)
        for recipe in args.recipes:
            config = load_config(recipe, [f"data.path={data}", f"train.epochs={args.epochs}", "stages=[train]",
                                          *args.overrides])
            out = Path(args.out) / config.name
            print(f"{config.name}: {config.method} on {config.model.name}, batch {config.train.batch_size}, "
                  f"{device}", flush=True)
            report = flow.run(config, out, progress=lambda message: print("  " + message, flush=True))
            seconds = [epoch["seconds"] for epoch in report["train"]["epochs"]]
            rows.append((config.name, config.method, config.model.name, config.train.batch_size, seconds))
    source = f"CIFAR-10 files in {args.data}" if args.data else \
        f"synthetic CIFAR-10 ({TRAIN_IMAGES:,} training + {TEST_IMAGES:,} test images)"
    print(f"\nSeconds per epoch, {source}, {device}\n")
    print("| recipe | method | model | batch | " + " | ".join(f"epoch {i + 1} s" for i in range(args.epochs)) + " |")
    print("|---|---|---|---:|" + "---:|" * args.epochs)
    for name, method, model, batch, seconds in rows:
        print(f"| {name} | {method} | {model} | {batch} | " + " | ".join(f"{s:.1f}" for s in seconds) + " |")


if __name__ == "__main__":
    sys.exit(main())
