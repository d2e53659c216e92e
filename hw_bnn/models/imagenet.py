"""The papers' ImageNet architectures, from the same pieces as the CIFAR nets (``hw_bnn.models.cifar``), so every
method's binarizer and residual activation plugs in and the integer form maps them to the residual hardware.

- ``imagenet_resnet18`` / ``imagenet_resnet34``: the Bi-Real / ReActNet ResNets that SD-BNN, AdaBin and BD-BNN
  report on ImageNet: a 7×7 stride-2 stem conv, BatchNorm, 3×3 stride-2 max-pool; four stages (64-128-256-512
  channels) of 2-2-2-2 / 3-4-6-3 blocks of two binary 3×3 convs, *each* with its own shortcut (Bi-Real); the
  method's ``stem_activation`` after the stem's BatchNorm (AdaBin's Maxout; none for the others); the
  first conv of a down-sampling block has stride 2 and its shortcut is a 2×2 average pool, a multi-bit 1×1 conv
  and BatchNorm; global average pool, BatchNorm1d, classifier.
- ``reactnet_a``: ReActNet-A (Liu et al. 2020), the MobileNetV1-based network DyBNN reports (71.2 % with DyBNN):
  a 3×3 stride-2 stem conv 3→32 and BatchNorm, then 13 ReActNet blocks 32→64, 128 (×2), 256 (×2), 512 (×6),
  1024 (×2), down-sampling where ReActNet does (``ReActBlock``: 3×3 conv, 1×1 conv, each with a shortcut).

They take any input resolution (224×224 for ImageNet; the tests build them at 32×32 and reduced ``width``). The
stream, weight and initialisation conventions are the CIFAR nets' (``hw_bnn.models.cifar`` docstring):
``residual_bits``-bit residual stream, ``weight_bits`` stem / down-sampling / classifier weights, raw 0..255
pixels into the stem; ``init: official`` is ReActNet's code base's (its binary convs U[0, 0.001)), on which
the methods' ImageNet trainings build.
"""

from __future__ import annotations

from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods import Method, get_method
from hw_bnn.models.cifar import BiRealConv, Classifier, Stem, _widths, initialise, reactnet_features


def _check_rgb(input_shape, name: str) -> None:
    if tuple(input_shape)[0] != 3:
        raise HwBnnError(f"{name} is an ImageNet architecture for 3-channel images, got input {tuple(input_shape)}")


class BinaryImageNetResNet(nn.Module):
    """Bi-Real / ReActNet ResNet-18 or -34 (module docstring): ``depth`` 18 or 34, ``width`` scales every
    channel count."""

    #: blocks per stage (each block: two binary convs, a shortcut around each)
    BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

    def __init__(self, input_shape=(3, 224, 224), num_classes: int = 1000, method: str | Method = "baseline",
                 depth: int = 18, width: float = 1.0, residual_bits: int = 8, weight_bits: int = 8,
                 init: str = "official"):
        super().__init__()
        if depth not in self.BLOCKS:
            raise HwBnnError(f"imagenet ResNet depth {depth} is not one of {sorted(self.BLOCKS)}")
        name = f"imagenet_resnet{depth}"
        _check_rgb(input_shape, name)
        method = get_method(method)
        widths = _widths((64, 128, 256, 512), width)
        stem_activation = method.stem_activation(widths[0]) if method.stem_activation else None
        layers: list[nn.Module] = [Stem(widths[0], residual_bits, weight_bits, stem_activation, kernel_size=7,
                                        stride=2, pool=True)]
        channels = widths[0]
        for stage, (out_channels, blocks) in enumerate(zip(widths, self.BLOCKS[depth])):
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                layers += [BiRealConv(method, channels, out_channels, stride, residual_bits, weight_bits,
                                      pooled_shortcut=True),
                           BiRealConv(method, out_channels, out_channels, 1, residual_bits)]
                channels = out_channels
        layers.append(Classifier(channels, num_classes, residual_bits, weight_bits, pooled=True))
        self.features = nn.Sequential(*layers)
        initialise(self, name, init)

    def forward(self, x):
        return self.features(x)


def imagenet_resnet18(**kwargs) -> BinaryImageNetResNet:
    return BinaryImageNetResNet(depth=18, **kwargs)


def imagenet_resnet34(**kwargs) -> BinaryImageNetResNet:
    return BinaryImageNetResNet(depth=34, **kwargs)


class BinaryReActNetA(nn.Module):
    """ReActNet-A (module docstring); ``width`` scales every channel count."""

    #: (doubles the channels, stride) per block, from the stem's 32 channels: ReActNet-A's 13 blocks
    PLAN = ((True, 1), (True, 2), (False, 1), (True, 2), (False, 1), (True, 2), *((False, 1),) * 5,
            (True, 2), (False, 1))

    def __init__(self, input_shape=(3, 224, 224), num_classes: int = 1000, method: str | Method = "dybnn",
                 width: float = 1.0, residual_bits: int = 8, weight_bits: int = 8, init: str = "official"):
        super().__init__()
        _check_rgb(input_shape, "reactnet_a")
        self.features = reactnet_features(get_method(method), self.PLAN, width, num_classes, residual_bits,
                                          weight_bits, stem_stride=2)
        initialise(self, "reactnet_a", init)

    def forward(self, x):
        return self.features(x)
