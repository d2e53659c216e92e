"""The papers' CIFAR-10 architectures (SD-BNN, AdaBin, IR-Net code bases), built from a method's pieces.

These are for training and reproducing the papers' numbers. Their full-precision stem and
classifier, zero padding of binarised tensors and real-valued shortcuts do not map to the
binary dataflow hardware yet (quantised residual streams come with the residual-network work),
so their recipes train only.

Layer structure (seed_methods §2.3, §5.2):
- ``vgg_small``: full-precision conv 3→128 + BN + hardtanh, then five binary 3×3 convs
  (128-256-256-512-512), max-pool *before* BN after convs 1, 3, 5, and a full-precision Linear.
- ``resnet20``: Bi-Real style, a shortcut around *every* binary conv:
  ``out = nonlinearity(BN(conv(binarise(x))) + shortcut(x))``; down-sampling shortcut "option A"
  (stride-2 subsampling plus zero channels, no parameters). Stem conv 3→16 full precision;
  average pool → BatchNorm1d → Linear.
- ``resnet18``: IR-Net basic blocks, one shortcut per two binary convs, full-precision 1×1 conv +
  BN on down-sampling shortcuts; average pool → BatchNorm1d → Linear.

A binary conv's input goes through the method's ``binarizer`` block; the nonlinearity after a
residual sum is the method's ``residual_activation`` (hardtanh, AdaBin's Maxout).
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.methods import Method, get_method

#: The ImageNet statistics the SD-BNN and AdaBin CIFAR code normalise with (pixels in 0..255).
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class _Normalise(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _stem(out_channels: int) -> nn.Sequential:
    return nn.Sequential(_Normalise(), nn.Conv2d(3, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.Hardtanh())


def _check_rgb(input_shape, name: str) -> None:
    if tuple(input_shape)[0] != 3:
        from hw_bnn.errors import HwBnnError

        raise HwBnnError(f"{name} is a CIFAR-10 architecture for 3-channel images, got input {tuple(input_shape)}; "
                         f"use data.name: cifar10 (or the mlp/cnv models for grey images)")


class BinaryVGGSmall(nn.Module):
    """VGG-small (SD-BNN/IR-Net CIFAR-10). ``width`` scales every channel count (1.0: the paper's)."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0):
        super().__init__()
        _check_rgb(input_shape, "vgg_small")
        method = get_method(method)
        channels = [max(1, round(c * width)) for c in (128, 128, 256, 256, 512, 512)]
        layers: list[nn.Module] = [_stem(channels[0])]
        size = input_shape[1]
        for index in range(1, 6):
            layers += [method.binarizer(channels[index - 1]),
                       method.conv2d(channels[index - 1], channels[index], 3, padding=1)]
            if index % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            layers += [nn.BatchNorm2d(channels[index]), method.residual_activation(channels[index])]
        layers += [nn.Flatten(), nn.Linear(channels[5] * size * size, num_classes)]
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


def _option_a_shortcut(x: torch.Tensor, out_channels: int, stride: int) -> torch.Tensor:
    if stride != 1:
        x = x[:, :, ::stride, ::stride]
    missing = out_channels - x.shape[1]
    if missing:
        x = nn.functional.pad(x, (0, 0, 0, 0, missing // 2, missing - missing // 2))
    return x


class _BiRealConv(nn.Module):
    """nonlinearity(BN(conv(binarise(x))) + shortcut(x)), option-A shortcut."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.binarize = method.binarizer(in_channels)
        self.conv = method.conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.nonlinearity = method.residual_activation(out_channels)
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        residual = _option_a_shortcut(x, self.out_channels, self.stride)
        return self.nonlinearity(self.norm(self.conv(self.binarize(x))) + residual)


class BinaryResNet20(nn.Module):
    """ResNet-20 with a shortcut around every binary conv (SD-BNN / AdaBin CIFAR-10 code)."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0, blocks_per_stage: int = 3):
        super().__init__()
        _check_rgb(input_shape, "resnet20")
        method = get_method(method)
        widths = [max(1, round(c * width)) for c in (16, 32, 64)]
        layers: list[nn.Module] = [_stem(widths[0])]
        channels = widths[0]
        for stage, out_channels in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers += [_BiRealConv(method, channels, out_channels, stride),
                           _BiRealConv(method, out_channels, out_channels, 1)]
                channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(channels), nn.Linear(channels, num_classes)]
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


class _BasicBlock(nn.Module):
    """IR-Net basic block: two binary convs, one shortcut (1×1 full-precision conv + BN to down-sample)."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.binarize1 = method.binarizer(in_channels)
        self.conv1 = method.conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.act1 = method.residual_activation(out_channels)
        self.binarize2 = method.binarizer(out_channels)
        self.conv2 = method.conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.act2 = method.residual_activation(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.act1(self.norm1(self.conv1(self.binarize1(x))))
        return self.act2(self.norm2(self.conv2(self.binarize2(out))) + self.shortcut(x))


class BinaryResNet18(nn.Module):
    """CIFAR-10 ResNet-18 (IR-Net / SD-BNN code): 3×3 stem, four stages of two basic blocks."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0):
        super().__init__()
        _check_rgb(input_shape, "resnet18")
        method = get_method(method)
        widths = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        layers: list[nn.Module] = [_stem(widths[0])]
        channels = widths[0]
        for stage, out_channels in enumerate(widths):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(_BasicBlock(method, channels, out_channels, stride))
                channels = out_channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(channels), nn.Linear(channels, num_classes)]
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)
