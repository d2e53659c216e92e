"""The papers' CIFAR-10 architectures (SD-BNN, AdaBin, IR-Net code bases), built from a method's
pieces, in a form the dataflow hardware computes exactly.

Layer structure (seed_methods §2.3, §5.2):
- ``vgg_small``: stem conv 3→128, then five binary 3×3 convs (128-256-256-512-512), max-pool
  *before* BN after convs 1, 3, 5, and a classifier.
- ``resnet20``: Bi-Real style, a shortcut around *every* binary conv:
  ``out = nonlinearity(BN(conv(binarise(x))) + shortcut(x))``; down-sampling shortcut "option A"
  (stride-2 subsampling plus zero channels, no parameters). Stem conv 3→16; average pool →
  BatchNorm1d → classifier.
- ``resnet18``: IR-Net basic blocks, one shortcut per two binary convs, a 1×1 conv + BN on
  down-sampling shortcuts; average pool → BatchNorm1d → classifier. ``shortcuts: per_conv`` is AdaBin's
  released network: a shortcut around every binary conv, the down-sampling ones through a 1×1 conv + BN.
- the stem (conv, BatchNorm) is followed by the method's residual activation in ``vgg_small``,
  ``resnet20`` and ``resnet18``, as in the SD-BNN, IR-Net and AdaBin code (AdaBin: Maxout).
- ``reactnet``: ReActNet blocks at CIFAR scale (``ReActBlock``), the backbone DyBNN builds on.

A binary conv's input goes through the method's ``binarizer`` block; the nonlinearity after a
residual sum is the method's ``residual_activation`` (hardtanh, AdaBin's Maxout).

Where the papers keep real values, these models quantise, so that the accelerator is exact:
- every real-valued tensor between binary layers (the residual stream) is a ``residual_bits``-bit
  fixed-point number on [-1, 1) with the constant scale 2^-(bits-1) (``hw_bnn.quant.stream_quantizer``).
  A binary branch's BatchNorm output goes onto the same grid before the sum, so the sum is an exact
  (bits+1)-bit integer in PyTorch and in hardware;
- the stem, the down-sampling 1×1 convs and the classifier have ``weight_bits`` weights with a
  power-of-two scale; the stem takes the raw 0..255 pixels (the papers' ImageNet normalisation is a
  per-channel affine map, which the BatchNorm after the stem absorbs); the classifier's bias is
  quantised on its accumulator's grid;
- a binary conv zero-pads its *real* input before the binarizer, so the border holds the
  binarizer's value at 0, which the hardware pads exactly (a ±1 tensor cannot be padded with 0 in
  one bit, as the papers' code does).

Initialisation (``init: official``, the default; ``pytorch`` keeps PyTorch's and Brevitas' own) is the
official code's for each architecture, on the latent weights:
- ``resnet20``, ``resnet18``: ``kaiming_normal_`` on every conv (SD-BNN's and IR-Net's ``_weights_init``);
- ``vgg_small``: every conv N(0, √(2/(9·C_out))), the squeeze-excitation FCs and the classifier N(0, 0.01)
  (SD-BNN's VGG code); other methods' hyper-functions keep their own (DyBNN's starts at zero);
- ``reactnet``: the binary convs' latent weights U[0, 0.001) (ReActNet's ``HardBinaryConv``,
  ``torch.rand(n) * 0.001``); the stem and classifier as PyTorch's.
"""

from __future__ import annotations

import torch
from brevitas.nn import QuantConv2d, QuantHardTanh, QuantLinear
from brevitas.quant.scaled_int import Int32Bias
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods import Method, get_method
from hw_bnn.methods.hyper import HyperFunction
from hw_bnn.methods.losses import is_binary_layer, latent_weight
from hw_bnn.methods.sdbnn import SqueezeExcitationShift
from hw_bnn.quant import int_weight_quantizer, stream_quantizer


def _check_rgb(input_shape, name: str) -> None:
    if tuple(input_shape)[0] != 3:
        from hw_bnn.errors import HwBnnError

        raise HwBnnError(f"{name} is a CIFAR-10 architecture for 3-channel images, got input {tuple(input_shape)}; "
                         f"use data.name: cifar10 (or the mlp/cnv models for grey images)")


def stream_quant(bits: int, return_quant_tensor: bool = False) -> QuantHardTanh:
    """Clamp to [-1, 1) and round onto the residual stream's ``bits``-bit grid."""
    return QuantHardTanh(act_quant=stream_quantizer(bits), return_quant_tensor=return_quant_tensor)


class Stem(nn.Module):
    """Multi-bit k×k conv 3→C on the raw pixels, BatchNorm, [the method's residual activation,] stream quantiser
    [, 3×3 stride-2 max-pool (the ImageNet ResNets')].

    The SD-BNN, IR-Net and AdaBin CIFAR nets put their nonlinearity after the stem's BatchNorm (hardtanh,
    AdaBin's Maxout); ReActNet's stem has none. Before the stream quantiser, which clamps to [-1, 1) itself,
    hardtanh changes nothing. The max-pool takes the codes: the quantiser is monotone, so pooling before or
    after it gives the same values."""

    def __init__(self, out_channels: int, residual_bits: int, weight_bits: int, activation: nn.Module | None = None,
                 kernel_size: int = 3, stride: int = 1, pool: bool = False):
        super().__init__()
        self.conv = QuantConv2d(3, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False,
                                weight_quant=int_weight_quantizer(weight_bits))
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = activation if activation is not None else nn.Identity()
        self.quant = stream_quant(residual_bits)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else nn.Identity()

    def forward(self, x):
        return self.pool(self.quant(self.act(self.norm(self.conv(x)))))


class BinaryConvUnit(nn.Module):
    """Zero padding of the real input, the method's binarizer, a binary conv without padding."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.pad = nn.ZeroPad2d(kernel_size // 2)
        self.binarize = method.binarizer(in_channels)
        self.conv = method.conv2d(in_channels, out_channels, kernel_size, stride=stride)
        # A per-sample binarizer's hyper-function pools the map it is given, as the official squeeze-excitation
        # does, not the zeros padded around it here (which would shrink the mean by HW / ((H+2)(W+2))).
        for module in self.binarize.modules():
            if isinstance(module, HyperFunction):
                module.pool_inside(kernel_size // 2)

    def forward(self, x):
        return self.conv(self.binarize(self.pad(x)))


class OptionAShortcut(nn.Module):
    """He et al.'s parameter-free down-sampling shortcut: stride-2 subsampling, zero channels added."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.channel_offset = (out_channels - in_channels) // 2

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        after = self.out_channels - self.in_channels - self.channel_offset
        return nn.functional.pad(x, (0, 0, 0, 0, self.channel_offset, after))


class DownsampleShortcut(nn.Module):
    """IR-Net's down-sampling shortcut: multi-bit 1×1 conv, BatchNorm, stream quantiser. ``pooled``: Bi-Real's
    and ReActNet's ImageNet form, a stride×stride average pool before a stride-1 1×1 conv."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, residual_bits: int, weight_bits: int,
                 pooled: bool = False):
        super().__init__()
        self.pool = nn.AvgPool2d(stride) if pooled and stride > 1 else nn.Identity()
        self.conv = QuantConv2d(in_channels, out_channels, 1, stride=1 if pooled else stride, bias=False,
                                weight_quant=int_weight_quantizer(weight_bits))
        self.norm = nn.BatchNorm2d(out_channels)
        self.quant = stream_quant(residual_bits)

    def forward(self, x):
        return self.quant(self.norm(self.conv(self.pool(x))))


class BiRealConv(nn.Module):
    """quant(nonlinearity(quant(BN(conv(binarise(x)))) + shortcut(x))): a shortcut around one binary conv.
    Down-sampling shortcut: option A, or with ``weight_bits`` a multi-bit 1×1 conv + BN (AdaBin's ResNet-18),
    average-pooled first with ``pooled_shortcut`` (the ImageNet ResNets)."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, stride: int, residual_bits: int,
                 weight_bits: int | None = None, pooled_shortcut: bool = False):
        super().__init__()
        self.unit = BinaryConvUnit(method, in_channels, out_channels, stride=stride)
        self.norm = nn.BatchNorm2d(out_channels)
        self.branch_quant = stream_quant(residual_bits)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = (OptionAShortcut(in_channels, out_channels, stride) if weight_bits is None
                             else DownsampleShortcut(in_channels, out_channels, stride, residual_bits, weight_bits,
                                                     pooled_shortcut))
        self.nonlinearity = method.residual_activation(out_channels)
        self.quant = stream_quant(residual_bits)

    def forward(self, x):
        return self.quant(self.nonlinearity(self.branch_quant(self.norm(self.unit(x))) + self.shortcut(x)))


class BasicBlock(nn.Module):
    """IR-Net basic block: two binary convs, one shortcut (1×1 conv + BN to down-sample)."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, stride: int, residual_bits: int,
                 weight_bits: int):
        super().__init__()
        self.unit1 = BinaryConvUnit(method, in_channels, out_channels, stride=stride)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.act1 = method.residual_activation(out_channels)
        self.quant1 = stream_quant(residual_bits)
        self.unit2 = BinaryConvUnit(method, out_channels, out_channels)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.branch_quant = stream_quant(residual_bits)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = DownsampleShortcut(in_channels, out_channels, stride, residual_bits, weight_bits)
        self.act2 = method.residual_activation(out_channels)
        self.quant2 = stream_quant(residual_bits)

    def forward(self, x):
        out = self.quant1(self.act1(self.norm1(self.unit1(x))))
        return self.quant2(self.act2(self.branch_quant(self.norm2(self.unit2(out))) + self.shortcut(x)))


class Classifier(nn.Module):
    """[global average pool, BatchNorm1d,] stream quantiser, multi-bit Linear with an integer bias.

    The bias is quantised with the accumulator's scale (input scale × weight scale), so the output
    is that scale times an integer: the accelerator computes the integer, the host the product.
    """

    def __init__(self, features: int, num_classes: int, residual_bits: int, weight_bits: int, pooled: bool):
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(features)) if pooled \
            else nn.Flatten()
        self.quant = stream_quant(residual_bits, return_quant_tensor=True)
        self.linear = QuantLinear(features, num_classes, bias=True, weight_quant=int_weight_quantizer(weight_bits),
                                  bias_quant=Int32Bias)

    def forward(self, x):
        return self.linear(self.quant(self.pool(x)))


def _kaiming_convs(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(latent_weight(module))


def _vgg_init(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            weight = latent_weight(module)
            nn.init.normal_(weight, 0.0, (2.0 / (weight.shape[2] * weight.shape[3] * weight.shape[0])) ** 0.5)
        elif isinstance(module, (SqueezeExcitationShift, Classifier)):
            for linear in module.modules():
                if isinstance(linear, nn.Linear):
                    nn.init.normal_(latent_weight(linear), 0.0, 0.01)
                    if linear.bias is not None:
                        nn.init.zeros_(linear.bias)


def _reactnet_init(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and is_binary_layer(module):
            nn.init.uniform_(latent_weight(module), 0.0, 0.001)


#: ``init`` choices: the official code's initialisation of each architecture (module docstring), or none.
OFFICIAL_INIT = {"resnet20": _kaiming_convs, "resnet18": _kaiming_convs, "vgg_small": _vgg_init,
                 "reactnet": _reactnet_init, "imagenet_resnet18": _reactnet_init, "imagenet_resnet34": _reactnet_init,
                 "reactnet_a": _reactnet_init}
INIT_CHOICES = ("official", "pytorch")


def initialise(model: nn.Module, architecture: str, init: str) -> None:
    """Apply ``init`` (``official`` or ``pytorch``) to ``model``, an ``architecture`` network."""
    if init not in INIT_CHOICES:
        raise HwBnnError(f"{architecture}: model.options.init {init!r} is not one of {list(INIT_CHOICES)} (official: "
                         f"the official code's initialisation; pytorch: PyTorch's and Brevitas' defaults)")
    if init == "official":
        with torch.no_grad():
            OFFICIAL_INIT[architecture](model)


def _widths(base, width: float) -> list[int]:
    return [max(1, round(c * width)) for c in base]


class BinaryVGGSmall(nn.Module):
    """VGG-small (SD-BNN/IR-Net CIFAR-10). ``width`` scales every channel count (1.0: the paper's)."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0, residual_bits: int = 8, weight_bits: int = 8,
                 init: str = "official"):
        super().__init__()
        _check_rgb(input_shape, "vgg_small")
        method = get_method(method)
        channels = _widths((128, 128, 256, 256, 512, 512), width)
        layers: list[nn.Module] = [Stem(channels[0], residual_bits, weight_bits,
                                        method.residual_activation(channels[0]))]
        size = input_shape[1]
        for index in range(1, 6):
            layers.append(BinaryConvUnit(method, channels[index - 1], channels[index]))
            if index % 2 == 1:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            layers += [nn.BatchNorm2d(channels[index]), method.residual_activation(channels[index]),
                       stream_quant(residual_bits)]
        layers.append(Classifier(channels[5] * size * size, num_classes, residual_bits, weight_bits, pooled=False))
        self.features = nn.Sequential(*layers)
        initialise(self, "vgg_small", init)

    def forward(self, x):
        return self.features(x)


class BinaryResNet20(nn.Module):
    """ResNet-20 with a shortcut around every binary conv (SD-BNN / AdaBin CIFAR-10 code)."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0, blocks_per_stage: int = 3, residual_bits: int = 8, weight_bits: int = 8,
                 init: str = "official"):
        super().__init__()
        _check_rgb(input_shape, "resnet20")
        method = get_method(method)
        widths = _widths((16, 32, 64), width)
        layers: list[nn.Module] = [Stem(widths[0], residual_bits, weight_bits, method.residual_activation(widths[0]))]
        channels = widths[0]
        for stage, out_channels in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers += [BiRealConv(method, channels, out_channels, stride, residual_bits),
                           BiRealConv(method, out_channels, out_channels, 1, residual_bits)]
                channels = out_channels
        layers.append(Classifier(channels, num_classes, residual_bits, weight_bits, pooled=True))
        self.features = nn.Sequential(*layers)
        initialise(self, "resnet20", init)

    def forward(self, x):
        return self.features(x)


class BinaryResNet18(nn.Module):
    """CIFAR-10 ResNet-18: 3×3 stem, four stages of two blocks. ``shortcuts``: ``per_block`` (IR-Net / SD-BNN
    code: basic blocks, one shortcut per two binary convs) or ``per_conv`` (AdaBin's code: a shortcut around
    every binary conv, Bi-Real style, the first of a down-sampling block through a 1×1 conv + BN)."""

    SHORTCUTS = ("per_block", "per_conv")

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "baseline",
                 width: float = 1.0, residual_bits: int = 8, weight_bits: int = 8, shortcuts: str = "per_block",
                 init: str = "official"):
        super().__init__()
        _check_rgb(input_shape, "resnet18")
        if shortcuts not in self.SHORTCUTS:
            raise HwBnnError(f"resnet18: model.options.shortcuts {shortcuts!r} is not one of {list(self.SHORTCUTS)} "
                             f"(per_block: IR-Net basic blocks; per_conv: AdaBin's Bi-Real blocks)")
        method = get_method(method)
        widths = _widths((64, 128, 256, 512), width)
        layers: list[nn.Module] = [Stem(widths[0], residual_bits, weight_bits, method.residual_activation(widths[0]))]
        channels = widths[0]
        for stage, out_channels in enumerate(widths):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                if shortcuts == "per_block":
                    layers.append(BasicBlock(method, channels, out_channels, stride, residual_bits, weight_bits))
                else:
                    layers += [BiRealConv(method, channels, out_channels, stride, residual_bits, weight_bits),
                               BiRealConv(method, out_channels, out_channels, 1, residual_bits)]
                channels = out_channels
        layers.append(Classifier(channels, num_classes, residual_bits, weight_bits, pooled=True))
        self.features = nn.Sequential(*layers)
        initialise(self, "resnet18", init)

    def forward(self, x):
        return self.features(x)


class ReActBlock(nn.Module):
    """ReActNet's basic block (Liu et al. 2020, MobileNet-style with Bi-Real shortcuts), as DyBNN builds on:
    a binary 3×3 conv (stride 1 or 2) with a shortcut (2×2 average pool, re-quantised onto the stream, when
    down-sampling), then a binary 1×1 conv with a shortcut. Where the channels double, ReActNet runs two 1×1
    convs on the same bits, each with its own BatchNorm and the shortcut, and concatenates them: that is one
    1×1 conv C→2C, one BatchNorm over 2C channels and the shortcut repeated, which is how it is built here.
    The method's binarizer sits at each conv's input (DyBNN: the dynamic RSign), its ``residual_activation``
    after each sum, on the multi-bit stream that feeds the next shortcut: DyBNN's (and ReActNet's) RPReLU,
    hardtanh or AdaBin's Maxout for the other methods."""

    def __init__(self, method: Method, in_channels: int, out_channels: int, stride: int, residual_bits: int):
        super().__init__()
        if out_channels not in (in_channels, 2 * in_channels):
            from hw_bnn.errors import HwBnnError

            raise HwBnnError(f"ReActBlock keeps or doubles the channels, got {in_channels} -> {out_channels}")
        self.spatial = BinaryConvUnit(method, in_channels, in_channels, 3, stride)
        self.spatial_norm = nn.BatchNorm2d(in_channels)
        self.spatial_quant = stream_quant(residual_bits)
        self.spatial_shortcut = nn.Sequential(nn.AvgPool2d(2), stream_quant(residual_bits)) if stride == 2 \
            else nn.Identity()
        self.spatial_act = method.residual_activation(in_channels)
        self.spatial_out = stream_quant(residual_bits)
        self.copies = out_channels // in_channels
        self.pointwise = BinaryConvUnit(method, in_channels, out_channels, 1)
        self.pointwise_norm = nn.BatchNorm2d(out_channels)
        self.pointwise_quant = stream_quant(residual_bits)
        self.pointwise_act = method.residual_activation(out_channels)
        self.pointwise_out = stream_quant(residual_bits)

    def forward(self, x):
        y = self.spatial_out(self.spatial_act(
            self.spatial_quant(self.spatial_norm(self.spatial(x))) + self.spatial_shortcut(x)))
        branch = self.pointwise_quant(self.pointwise_norm(self.pointwise(y)))
        return self.pointwise_out(self.pointwise_act(branch + y.repeat(1, self.copies, 1, 1)))


def reactnet_features(method: Method, plan, width: float, num_classes: int, residual_bits: int, weight_bits: int,
                      stem_stride: int = 1) -> nn.Sequential:
    """A ReActNet: stem (3×3, ``stem_stride``) to 32·width channels, a ``ReActBlock`` per (doubles the channels,
    stride) of ``plan``, and the pooled classifier."""
    channels = _widths((32,), width)[0]
    layers: list[nn.Module] = [Stem(channels, residual_bits, weight_bits, stride=stem_stride)]
    for doubles, stride in plan:
        out_channels = 2 * channels if doubles else channels
        layers.append(ReActBlock(method, channels, out_channels, stride, residual_bits))
        channels = out_channels
    layers.append(Classifier(channels, num_classes, residual_bits, weight_bits, pooled=True))
    return nn.Sequential(*layers)


class BinaryReActNet(nn.Module):
    """A CIFAR-10 ReActNet-A-style network (DyBNN's ImageNet backbone, scaled to 32×32): stem, then
    ReActBlocks 32-64-128-128-256-256-512, down-sampling where the channels double after the first;
    average pool, BatchNorm1d, classifier. ``width`` scales every channel count."""

    #: (doubles the channels, stride) per block, from the stem's 32 channels
    PLAN = ((True, 1), (True, 2), (False, 1), (True, 2), (False, 1), (True, 2))

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10, method: str | Method = "dybnn",
                 width: float = 1.0, residual_bits: int = 8, weight_bits: int = 8,
                 init: str = "official"):
        super().__init__()
        _check_rgb(input_shape, "reactnet")
        self.features = reactnet_features(get_method(method), self.PLAN, width, num_classes, residual_bits,
                                          weight_bits)
        initialise(self, "reactnet", init)

    def forward(self, x):
        return self.features(x)
