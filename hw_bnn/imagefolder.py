"""ImageNet-scale data: an ImageFolder tree (``train/<class>/*``, ``val/<class>/*``) streamed from disk by worker
processes, never held whole in memory.

Classes are the sorted folder names (label 0 first), images the sorted files with an image extension in each,
as torchvision's ``ImageFolder``. Each image is decoded with Pillow and transformed into the raw 8-bit pixels
every hw_bnn model takes (the BatchNorm after the stem absorbs the papers' per-channel normalisation):

- training (``augment``): the standard ImageNet augmentation — a random-resized crop (area 8-100 %, aspect
  3/4-4/3, ten tries then a centre crop, as torchvision's ``RandomResizedCrop``) to ``size``×``size``, a random
  horizontal flip, and optionally AlexNet's PCA lighting noise (``lighting``: its standard deviation, 0.1 in
  ReActNet's code; 0 for none);
- evaluation: the shorter side resized to ``size``·256/224 (256 for 224), then the centre ``size``×``size``.

The random draws of an image depend only on (seed, epoch, index), never on which worker decodes it, so a run
is reproducible whatever ``data.workers`` is. torchvision is not a dependency: its wheels on this platform
need another torch build (several GB); Pillow does the decoding and resizing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hw_bnn.errors import HwBnnError

#: Dataset names (``data.name``) that stream an ImageFolder tree from ``data.path``.
STREAMED_DATASETS = ("imagenet",)
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
#: AlexNet's PCA of ImageNet's RGB pixels (on 0..1 values): eigenvalues and eigenvectors (columns).
PCA_EIGENVALUES = np.array([0.2175, 0.0188, 0.0045])
PCA_EIGENVECTORS = np.array([[-0.5675, 0.7192, 0.4009],
                             [-0.5808, -0.0045, -0.8140],
                             [-0.5836, -0.6948, 0.4203]])
CROP_AREA = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


def list_images(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The classes (sorted sub-folder names) and the (file, label) pairs of one split, files sorted in each."""
    if not folder.is_dir():
        raise HwBnnError(f"ImageFolder: {folder} is not a folder; data.path must hold train/<class>/ and "
                         f"val/<class>/ folders of images")
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if not classes:
        raise HwBnnError(f"ImageFolder: {folder} has no class folders; put each class's images in {folder}/<class>/")
    samples = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise HwBnnError(f"ImageFolder: class folder {folder / name} holds no images "
                             f"({', '.join(IMAGE_EXTENSIONS)}); remove it or add its images")
        samples += [(path, label) for path in files]
    return classes, samples


def _random_resized_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a random crop of CROP_AREA of the image's area and an aspect ratio in CROP_RATIO."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*CROP_AREA)
        ratio = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    # the centre crop of the whole image, its aspect ratio clamped into CROP_RATIO
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, round(width / CROP_RATIO[0])
    elif ratio > CROP_RATIO[1]:
        w, h = round(height * CROP_RATIO[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def train_pixels(image: Image.Image, size: int, lighting: float, rng: np.random.Generator) -> np.ndarray:
    """Random-resized crop, random flip and optional PCA lighting: (3, size, size) uint8."""
    left, top, w, h = _random_resized_box(*image.size, rng)
    image = image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    pixels = np.asarray(image, dtype=np.uint8)
    if lighting > 0:
        shift = PCA_EIGENVECTORS @ (rng.normal(0.0, lighting, 3) * PCA_EIGENVALUES) * 255.0
        pixels = np.clip(np.rint(pixels + shift), 0, 255).astype(np.uint8)
    return pixels.transpose(2, 0, 1)


def eval_pixels(image: Image.Image, size: int) -> np.ndarray:
    """Shorter side to size·256/224, centre size×size crop: (3, size, size) uint8."""
    short = round(size * 256 / 224)
    width, height = image.size
    scale = short / min(width, height)
    width, height = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((width, height), Image.BILINEAR)
    left, top = (width - size) // 2, (height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


class ImageFolderSplit(torch.utils.data.Dataset):
    """One split of an ImageFolder tree: ``split[i]`` is (uint8 image (3, size, size), label), decoded when asked.

    ``classes`` and ``samples`` as ``list_images`` gives them (the samples possibly a subset). ``augment``: the
    training transform, drawn from (seed, epoch, i) (``set_epoch``); otherwise the evaluation transform."""

    def __init__(self, classes: list[str], samples: list[tuple[Path, int]], size: int, augment: bool,
                 lighting: float = 0.0, seed: int = 0):
        self.classes, self.samples = classes, samples
        self.size, self.augment, self.lighting, self.seed = size, augment, lighting, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose random crops the next iteration draws (workers get the value when they start)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples], dtype=np.int64)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except OSError as exc:
            raise HwBnnError(f"ImageFolder: {path} is not a readable image ({exc}); remove or replace it") from None
        if self.augment:
            pixels = train_pixels(image, self.size, self.lighting,
                                  np.random.default_rng((self.seed, self.epoch, index)))
        else:
            pixels = eval_pixels(image, self.size)
        return torch.from_numpy(np.ascontiguousarray(pixels)), label


def _spaced(n: int | None, total: int, split: str, name: str) -> np.ndarray | None:
    """``n`` indices spread evenly over ``total`` (every class of a sorted tree appears), or None for all."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= total:
        raise HwBnnError(f"dataset '{name}': n_{split}={n!r} is not possible, the {split} split has {total} images; "
                         f"use a whole number from 1 to {total} (or leave it unset for all)")
    return np.linspace(0, total - 1, n).round().astype(np.int64)


@dataclass(frozen=True)
class StreamedDataset:
    """An ImageFolder data set, streamed: ``train`` and ``test`` (the ``val`` folder) splits decoded by
    ``workers`` processes per DataLoader (``loader``)."""

    name: str
    train: ImageFolderSplit
    test: ImageFolderSplit
    workers: int

    @property
    def num_classes(self) -> int:
        return len(self.train.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return 3, self.train.size, self.train.size

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)

    def test_images(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` test images spread evenly over the split (so every class appears), decoded now: (n, 3, S, S)
        uint8 and their labels."""
        chosen = _spaced(n, len(self.test), "test", self.name)
        pairs = [self.test[int(i)] for i in chosen]
        return np.stack([image.numpy() for image, _ in pairs]), np.array([label for _, label in pairs], np.int64)

    def loader(self, split: ImageFolderSplit, batch_size: int, order: list[int] | None = None,
               pin_memory: bool = False) -> torch.utils.data.DataLoader:
        """Batches of ``split`` in ``order`` (default: the split's own), decoded by ``workers`` processes, which
        exit when the iteration ends."""
        return torch.utils.data.DataLoader(split, batch_size=batch_size, sampler=order, num_workers=self.workers,
                                           pin_memory=pin_memory)


def load_image_folder(name: str, path: Path | None, size: int, lighting: float, workers: int | None, seed: int,
                      augment: bool, n_train: int | None = None, n_test: int | None = None) -> StreamedDataset:
    """The ImageFolder tree at ``path`` (``train/`` and ``val/``) as a StreamedDataset."""
    if path is None:
        raise HwBnnError(f"dataset '{name}' streams an ImageFolder tree from disk: set data.path to the folder "
                         f"holding train/<class>/ and val/<class>/")
    if size < 8:
        raise HwBnnError(f"dataset '{name}': data.image_size {size} is too small (at least 8; ImageNet: 224)")
    if lighting < 0:
        raise HwBnnError(f"dataset '{name}': data.lighting {lighting} must be >= 0 (0 for no lighting noise)")
    path = Path(path)
    train_classes, train_samples = list_images(path / "train")
    val_classes, val_samples = list_images(path / "val")
    if val_classes != train_classes:
        missing = sorted(set(train_classes) ^ set(val_classes))[:5]
        raise HwBnnError(f"dataset '{name}': train/ and val/ in {path} have different class folders (e.g. {missing}); "
                         f"both need the same classes")
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    if workers < 0:
        raise HwBnnError(f"dataset '{name}': data.workers {workers} must be >= 0 (0 decodes in the training process)")
    train = ImageFolderSplit(train_classes, _subset(train_samples, n_train, "train", name), size, augment,
                             lighting, seed)
    test = ImageFolderSplit(val_classes, _subset(val_samples, n_test, "test", name), size, False)
    return StreamedDataset(name, train, test, workers)


def _subset(samples: list, n: int | None, split: str, name: str) -> list:
    chosen = _spaced(n, len(samples), split, name)
    return samples if chosen is None else [samples[i] for i in chosen]
