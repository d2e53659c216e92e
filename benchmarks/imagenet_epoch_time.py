"""What an ImageNet run costs in time: the streamed loader's images/s on this machine's cores, and each ImageNet
architecture's training images/s on one device, with the hours a full run takes.

The data are synthetic: a generated ImageFolder tree of JPEG files at ImageNet's typical size (500×375, quality
90), so the decoding, random-resized crop and resize cost what ImageNet's do; the pixels do not matter for time.

    .venv/bin/python benchmarks/imagenet_epoch_time.py [--device cuda] [--images 256] [--batch 32]

Prints two tables: the loader (workers -> images/s), and per architecture and method the training step's
images/s (forward, loss, backward, optimiser step on random 224×224 batches, after two warm-up steps) with the
hours of an epoch of ImageNet's 1,281,167 training images and of the paper's epochs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hw_bnn.imagefolder import load_image_folder  # noqa: E402
from hw_bnn.models import MODELS  # noqa: E402

IMAGENET_TRAIN_IMAGES = 1_281_167
#: (architecture, method, the paper's ImageNet epochs, seed_methods.md): SD-BNN ResNet-18 (two stages of 256),
#: AdaBin ResNet-18 (single-step, 120), BD-BNN ResNet-34 (its code's default 90; the paper's is unverified),
#: DyBNN ReActNet-A (ReActNet's two steps of 256)
RUNS = [("imagenet_resnet18", "sdbnn_se", 512), ("imagenet_resnet18", "adabin", 120),
        ("imagenet_resnet34", "bdbnn", 90), ("reactnet_a", "dybnn", 512)]


def write_tree(root: Path, images: int, classes: int = 8) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", images), ("val", classes)):
        for index in range(count):
            folder = root / split / f"n{index % classes:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.JPEG", quality=90)


def loader_rate(root: Path, workers: int, batch: int) -> float:
    data = load_image_folder("imagenet", root, 224, 0.1, workers, seed=0, augment=True)
    started = time.perf_counter()
    seen = sum(len(labels) for _, labels in data.loader(data.train, batch, list(range(data.n_train))))
    return seen / (time.perf_counter() - started)


def training_rate(name: str, method: str, device: torch.device, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = MODELS[name](method=method).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = (torch.rand(batch, 3, 224, 224) * 255).to(device)
    labels = torch.randint(0, 1000, (batch,)).to(device)

    def step():
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=256, help="synthetic training images for the loader")
    parser.add_argument("--batch", type=int, default=32, help="training batch (per step)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per architecture")
    args = parser.parse_args()
    device = torch.device(args.device)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_tree(root, args.images)
        print(f"\nStreamed loader, synthetic 500x375 JPEGs -> random-resized crop 224, flip, lighting; {cores} cores\n")
        print("| workers | images/s |")
        print("|---:|---:|")
        for workers in sorted({0, 1, min(2, cores), min(8, cores)}):
            print(f"| {workers} | {loader_rate(root, workers, args.batch):,.0f} |")
    print(f"\nTraining step on {device} ({torch.get_num_threads()} threads), batch {args.batch}, 224x224\n")
    print("| architecture | method | images/s | hours per epoch | paper's epochs | hours in all |")
    print("|---|---|---:|---:|---:|---:|")
    for name, method, epochs in RUNS:
        rate = training_rate(name, method, device, args.batch, args.steps)
        hours = IMAGENET_TRAIN_IMAGES / rate / 3600
        print(f"| {name} | {method} | {rate:,.1f} | {hours:,.1f} | {epochs} | {hours * epochs:,.0f} |")


if __name__ == "__main__":
    main()
