"""Full-precision teachers of another architecture for knowledge distillation (ReActNet's and SD-BNN's ImageNet
recipes distil from a ResNet-34): torchvision's ResNet layout, so that a torchvision weights file (its
``state_dict``, e.g. ``resnet34-b627a593.pth``) loads into it unchanged, without torchvision (whose wheels need
another torch build here) and without a download: the user gives the file.

The teacher sees hw_bnn's raw 0..255 pixels; ``ImageNetTeacher`` maps them to torchvision's normalised input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.io import load_torch_weights, state_dict_of

#: torchvision's ImageNet normalisation (on 0..1 pixels).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchvisionResNet(nn.Module):
    """torchvision's ResNet-18 / -34 (basic blocks), with its parameter names."""

    BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

    def __init__(self, depth: int = 34, num_classes: int = 1000):
        super().__init__()
        if depth not in self.BLOCKS:
            raise HwBnnError(f"teacher resnet{depth}: choose one of {[f'resnet{d}' for d in self.BLOCKS]}")
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 64
        for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), self.BLOCKS[depth])):
            layers = []
            for block in range(blocks):
                layers.append(_BasicBlock(channels, width, 2 if stage > 0 and block == 0 else 1))
                channels = width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ImageNetTeacher(nn.Module):
    """A frozen teacher fed hw_bnn's 0..255 pixels, normalised as torchvision's models expect."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1) * 255)

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def load_teacher(architecture: str, path: str | Path, num_classes: int) -> ImageNetTeacher:
    """``architecture`` (``resnet18``, ``resnet34``) with the weights in ``path`` (a torchvision state dict,
    read weights-only), frozen in eval mode."""
    if not architecture.startswith("resnet") or not architecture[6:].isdigit():
        raise HwBnnError(f"train.distill_teacher {architecture!r}: choose resnet18 or resnet34 (torchvision layout)")
    model = TorchvisionResNet(int(architecture[6:]), num_classes)
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"train.distill_from {path} does not exist: give the teacher's weights file "
                         f"(a torchvision {architecture} state dict)")
    state = state_dict_of(load_torch_weights(path), f"train.distill_from {path}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise HwBnnError(f"train.distill_from {path} is not a torchvision {architecture} with {num_classes} classes "
                         f"({' '.join(str(exc).split())[:300]}); check train.distill_teacher") from None
    teacher = ImageNetTeacher(model).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher
