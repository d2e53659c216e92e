"""The integer form of the residual CIFAR architectures (``hw_bnn.models.cifar``): the model the
dataflow accelerator computes, bit for bit.

Every tensor of those models between two layers with weights is an integer times a known constant
scale: raw pixels, accumulators of binary or multi-bit layers, codes of the residual stream, sums
of two codes, pooled sums. Whatever sits between two such points (BatchNorm, the method's
binarizer or nonlinearity, the stream quantiser, average pooling's division) is, per channel, a
monotone map from one integer to the next. The integer form replaces it by a ``MultiThreshold``
whose thresholds are *found by evaluating the trained eval-mode modules themselves* (bisection on
the integer input, then a check on the whole input range, or on a sample where the range is
large), so the thresholds reproduce PyTorch's own float arithmetic, ties included. A channel whose
map decreases (a negative BatchNorm scale) is flipped: its weight column is negated where a conv
feeds the map, or a channel-wise ``Mul`` by -1 is inserted where a max-pool sits in between.
A per-sample binarizer (SD-BNN's squeeze-excitation, DyBNN) is not a fixed map of its input code:
it becomes ``hw_bnn.features.dynamic_threshold.deploy``'s ``DynamicThresholdDeploy`` on the padded codes. An AdaBin conv's output
depends on two integers (the ±1-weighted sum of its input bits and their count): it becomes one
conv with fitted integer weights whose single accumulator the stream's thresholds read
(``_Converter.adabin_accumulator``).

The result exports, with ``torch.onnx``, to a plain QONNX graph: ``Conv`` / ``MatMul`` with
integer weights, ``MultiThreshold``, ``Pad``, ``MaxPool``, ``Add`` (the residual join),
``ReduceSum`` (the global pool), hw_bnn's ``DynamicThreshold`` (per-sample binarizers, and DyBNN's per-sample
RPReLU after a residual sum, a multi-level one: ``_Converter.dynamic_join``), and the
output ``Mul`` by the accumulator's scale (host side).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods.adabin import AdaBinActivation
from hw_bnn.features.adabin.deploy import binary_weight_set, fit_combination, is_adabin_layer
from hw_bnn.features.dynamic_threshold.deploy import (DynamicThresholdDeploy, dynamic_block, dynamic_threshold_unit,
                                                       hyper_params, pixels_seen)
from hw_bnn.methods.dybnn import ResidualRPReLU
from hw_bnn.models.cifar import (
    BasicBlock,
    BinaryConvUnit,
    BiRealConv,
    Classifier,
    DownsampleShortcut,
    OptionAShortcut,
    ReActBlock,
    Stem,
)

#: Input ranges up to this many integers are checked exhaustively, larger ones on a sample.
EXHAUSTIVE_CHECK = 1 << 14
SAMPLE_CHECK = 1 << 12
PIXEL_MAX = 255

ChannelMap = Callable[[torch.Tensor], torch.Tensor]


class MultiThresholdUnit(nn.Module):
    """``out_scale * #{n : x >= T[c, n]} + out_bias`` per channel (dim 1); exports as QONNX MultiThreshold."""

    def __init__(self, thresholds: np.ndarray, out_dtype: str, out_bias: float, out_scale: float = 1.0):
        super().__init__()
        self.register_buffer("thresholds", torch.as_tensor(thresholds, dtype=torch.float32))
        self.out_dtype, self.out_bias, self.out_scale = out_dtype, float(out_bias), float(out_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting():
            return torch.onnx.ops.symbolic(
                "qonnx.custom_op.general::MultiThreshold", (x, self.thresholds),
                attrs={"out_dtype": self.out_dtype, "out_bias": self.out_bias, "out_scale": self.out_scale,
                       "data_layout": "NCHW" if x.dim() == 4 else "NC"},
                dtype=x.dtype, shape=x.shape, version=1)
        view = (1, -1) + (1,) * (x.dim() - 2)
        count = sum((x >= self.thresholds[:, n].reshape(view)).to(x.dtype) for n in range(self.thresholds.shape[1]))
        return self.out_scale * count + self.out_bias


class IntegerConv(nn.Module):
    """Conv with integer (or ±1) weights and no bias: the accumulator."""

    def __init__(self, weight: torch.Tensor, stride: int = 1, padding: int = 0):
        super().__init__()
        self.register_buffer("weight", weight.detach().float().clone())
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return nn.functional.conv2d(x, self.weight, stride=self.stride, padding=self.padding)


class Residual(nn.Module):
    """``join(branch(x) + shortcut(x))``: the fork, the two paths, the integer sum and its threshold unit."""

    def __init__(self, branch: nn.Module, shortcut: nn.Module, join: nn.Module):
        super().__init__()
        self.branch, self.shortcut, self.join = branch, shortcut, join

    def forward(self, x):
        return self.join(self.branch(x) + self.shortcut(x))


class GlobalSum(nn.Module):
    """Sum over the pixels of each channel (the accelerator's GlobalAccPool), as an (N, C, 1, 1) map."""

    def forward(self, x):
        return x.sum(dim=(2, 3), keepdim=True)


class IntegerLinear(nn.Module):
    """``(x @ W + bias) * scale`` with integer weights and bias, on an (N, C) input or, as a 1×1 conv,
    on a pooled (N, C, 1, 1) map (which stays a pixel stream in hardware); the output is (N, classes).
    The bias and scale are applied by the host."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, scale: float):
        super().__init__()
        self.register_buffer("weight", weight.detach().float().clone())
        self.register_buffer("bias", bias.detach().float().clone())
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x):
        if x.dim() == 4:
            x = nn.functional.conv2d(x, self.weight[:, :, None, None]).flatten(1)
        else:
            x = torch.matmul(x, self.weight.T)
        return (x + self.bias) * self.scale


class ChannelSign(nn.Module):
    """Multiply channel c by ±1 (a channel-wise Mul), to make a decreasing channel map increasing."""

    def __init__(self, signs: np.ndarray):
        super().__init__()
        self.register_buffer("signs", torch.as_tensor(signs, dtype=torch.float32))

    def forward(self, x):
        return x * self.signs.reshape((1, -1) + (1,) * (x.dim() - 2))


# --- fitting thresholds to the trained modules ------------------------------------------------------

def _channel_map(modules: list[nn.Module], input_scale: float, spatial: bool, divide_by: int = 1) -> ChannelMap:
    """Input v (M, C), integers (or reals) -> the modules' eval output on v * input_scale [/ divide_by], (M, C)
    floats."""

    def apply(v: torch.Tensor) -> torch.Tensor:
        x = v.to(torch.float32) * input_scale
        if divide_by != 1:
            x = x / divide_by
        if spatial:
            x = x[:, :, None, None]
        with torch.no_grad():
            for module in modules:
                x = module(x)
                x = getattr(x, "value", x)  # a QuantTensor
        return x.reshape(v.shape)

    return apply


def _codes(stream_quant: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    scale = float(stream_quant.act_quant.scale())
    return lambda y: torch.round(y / scale).to(torch.int64)


def fit_thresholds(name: str, channel_map: Callable[[torch.Tensor], torch.Tensor], channels: int,
                   low: int, high: int, levels: tuple[int, int], allow_flip: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds T (C, L-1) and flips (C,) of ±1 such that, for every integer v in [low, high],
    ``levels[0] + #{n : flip_c * v >= T[c, n]} == channel_map(v)[c]`` (an integer in ``levels``).

    ``channel_map`` maps an (M, C) integer tensor to (M, C) integer outputs. A decreasing channel gets
    flip -1 (its caller negates that channel's input); without ``allow_flip`` it is an error.
    """
    ends = channel_map(torch.tensor([[low] * channels, [high] * channels]))
    flips = np.where((ends[0] > ends[1]).numpy(), -1, 1)
    if not allow_flip and (flips < 0).any():
        raise HwBnnError(f"{name}: channels {np.flatnonzero(flips < 0)[:8].tolist()} decrease with their input, "
                         f"which a threshold unit cannot compute here; the binarizer must be non-decreasing")
    flip_t = torch.as_tensor(flips)
    low_f, high_f = min(low, -high), max(high, -low)

    def flipped(v: torch.Tensor) -> torch.Tensor:  # (M, C) in the flipped domain
        return channel_map(v * flip_t)

    targets = torch.arange(levels[0] + 1, levels[1] + 1)
    lo = torch.full((channels, len(targets)), low_f, dtype=torch.int64)
    hi = torch.full((channels, len(targets)), high_f + 1, dtype=torch.int64)
    while bool((lo < hi).any()):
        mid = (lo + hi) // 2
        reached = flipped(mid.T).T >= targets  # (C, L-1)
        hi = torch.where(reached, mid, hi)
        lo = torch.where(reached, lo, mid + 1)
    thresholds = lo.numpy().astype(np.float64)
    _check_fit(name, channel_map, thresholds, flips, low, high, levels)
    return thresholds, flips


def _check_fit(name, channel_map, thresholds, flips, low, high, levels) -> None:
    channels = len(flips)
    if high - low + 1 <= EXHAUSTIVE_CHECK:
        values = torch.arange(low, high + 1)
    else:
        rng = np.random.default_rng(0)
        edges = np.clip(np.concatenate([thresholds.ravel(), thresholds.ravel() - 1]) * 1, low, high)
        values = torch.as_tensor(np.unique(np.concatenate(
            [rng.integers(low, high + 1, SAMPLE_CHECK), edges.astype(np.int64), [low, high]])))
    grid = values[:, None].expand(-1, channels)
    want = channel_map(grid).numpy()
    flipped = grid.numpy() * flips
    got = levels[0] + (flipped[:, :, None] >= thresholds[None]).sum(-1)
    if (want < levels[0]).any() or (want > levels[1]).any():
        raise HwBnnError(f"{name}: outputs outside {levels}; the quantiser does not match the stream width")
    bad = np.argwhere(got != want)
    if len(bad):
        v, c = bad[0]
        raise HwBnnError(f"{name}: channel {c} is not monotone in its integer input (at {int(values[v])} it gives "
                         f"{want[v, c]}, a threshold unit {got[v, c]}); only monotone channel maps (BatchNorm, "
                         f"hardtanh, a monotone Maxout, sign-like binarizers) can be mapped")


def _code_boundaries(name: str, after: list[nn.Module], channels: int, reach: float, levels: tuple[int, int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Boundaries B (C, L-1) and directions sigma (C,) of ``after``'s real input y -> stream codes: the code
    reaches level n exactly when sigma*y, rounded to float32 as the modules see it, is >= B[c, n], for
    |y| <= reach; found by bisection on the trained modules, then checked for monotonicity on a grid."""
    to_codes, channel_map = _codes(after[-1]), _channel_map(after, 1.0, spatial=True)

    def codes(z: np.ndarray, sigma: np.ndarray) -> np.ndarray:  # (M, C) in the sigma*y domain
        return to_codes(channel_map(torch.as_tensor(z * sigma, dtype=torch.float32))).numpy()

    ones = np.ones(channels)
    ends = codes(np.array([[-reach] * channels, [reach] * channels]), ones)
    sigma = np.where(ends[0] > ends[1], -1.0, 1.0)
    targets = np.arange(levels[0] + 1, levels[1] + 1)
    low = np.full((len(targets), channels), -reach)
    high = np.full((len(targets), channels), reach)
    for _ in range(64):
        mid = (low + high) / 2
        reached = codes(mid, sigma) >= targets[:, None]
        high, low = np.where(reached, mid, high), np.where(reached, low, mid)
    # the modules see float32: low and high end as neighbouring float32 values, and a real y reaches the
    # level when it rounds to high or above, i.e. from half-way between them
    first = high.astype(np.float32)
    halfway = (first.astype(np.float64) + low.astype(np.float32).astype(np.float64)) / 2
    start, end = ends.min(axis=0), ends.max(axis=0)  # the codes at sigma*y = -reach and +reach
    always, never = start[None, :] >= targets[:, None], end[None, :] < targets[:, None]
    boundaries = np.where(always, -reach - 1, np.where(never, reach + 1, halfway)).T
    first = np.where(always, -np.inf, np.where(never, np.inf, first)).T
    grid = np.concatenate([np.linspace(-reach, reach, SAMPLE_CHECK)[:, None].repeat(channels, 1), first.T,
                           np.nextafter(first.T.astype(np.float32), np.float32(-np.inf))])
    grid = np.sort(np.clip(grid.astype(np.float32), -reach, reach), axis=0)
    got = codes(grid, sigma)
    want = levels[0] + (grid.T[:, :, None] >= first[:, None, :]).sum(-1).T
    bad = np.argwhere(got != want)
    if len(bad):
        v, c = bad[0]
        raise HwBnnError(f"{name}: channel {c} is not monotone in the conv output (at {grid[v, c]!r} it gives "
                         f"{got[v, c]}, a threshold unit {want[v, c]}); a Maxout with a slope <= 0 cannot be mapped")
    return boundaries, sigma


# --- the conversion ---------------------------------------------------------------------------------

def _quant_weight(layer: nn.Module) -> tuple[torch.Tensor, float]:
    """Integer codes (±1 for binary layers) and scale of a Brevitas layer's weight."""
    quant = layer.quant_weight()
    if not hasattr(quant, "scale"):  # a weight transform binarises (SD-BNN's WSD): the ±1 values themselves
        return quant.detach().clone(), 1.0
    quant_scale = quant.scale.detach()
    scale = float(quant_scale.reshape(-1)[0]) if quant_scale.unique().numel() == 1 \
        else None
    if scale is None:
        raise HwBnnError(f"{type(layer).__name__} has per-channel weight scales; the integer form needs one scale")
    codes = torch.round(quant.value.detach() / scale)
    return codes, scale


def _acc_reach(codes: torch.Tensor, input_max: int) -> int:
    """Largest |accumulator| of a layer with integer weights ``codes`` on inputs of magnitude <= input_max."""
    return int(codes.abs().reshape(codes.shape[0], -1).sum(1).max().item()) * input_max


class _Converter:
    def __init__(self, stream_bits: int, pixels: dict[int, int]):
        self.pixels = pixels  # id(conv unit) -> pixels of its (unpadded) input map
        self.stream_levels = (-(1 << (stream_bits - 1)), (1 << (stream_bits - 1)) - 1)
        self.stream_scale = 2.0 ** -(stream_bits - 1)

    # a binary or multi-bit conv whose accumulator feeds ``after`` (ending in a stream quantiser)
    def conv_to_stream(self, name: str, layer: nn.Module, after: list[nn.Module], input_scale: float,
                       input_max: int, stride: int, padding: int, pool: int = 1) -> list[nn.Module]:
        """``pool`` > 1: a pool×pool average pool before the 1×1 ``layer``, which is one pool×pool, stride-pool
        conv with the weights repeated, the division by pool² absorbed by the thresholds."""
        codes, weight_scale = _quant_weight(layer)
        if pool > 1:
            codes, input_scale, stride = codes.repeat(1, 1, pool, pool), input_scale / pool ** 2, pool
        reach = _acc_reach(codes, input_max)
        channel_map = _channel_map(after, input_scale * weight_scale, spatial=True)
        to_codes = _codes(after[-1])
        thresholds, flips = fit_thresholds(name, lambda v: to_codes(channel_map(v)), codes.shape[0], -reach, reach,
                                           self.stream_levels)
        weight = codes * torch.as_tensor(flips, dtype=codes.dtype).reshape(-1, 1, 1, 1)
        return [IntegerConv(weight, stride, padding), self.stream_unit(thresholds)]

    @property
    def stream_dtype(self) -> str:
        """The residual stream's codes as a QONNX datatype (INT<bits>)."""
        return f"INT{int(np.log2(self.stream_levels[1] + 1)) + 1}"

    def stream_unit(self, thresholds: np.ndarray) -> MultiThresholdUnit:
        return MultiThresholdUnit(thresholds, self.stream_dtype, self.stream_levels[0])

    def binarize(self, name: str, unit: BinaryConvUnit) -> list[nn.Module]:
        """Pad the stream codes with 0, threshold them to ±1 (the binarizer). A per-sample binarizer
        (SD-BNN's squeeze-excitation, DyBNN) becomes a ``DynamicThresholdDeploy`` on the padded codes,
        which it sees as code * stream scale; its pool is the mean over the unpadded map, as the
        binarizer's (``HyperFunction.pool_inside``): the padded zeros add nothing to the sum the hardware
        pools, and the pixels it divides by are the unpadded map's."""
        binarizer = unit.binarize
        what = f"{name}.binarize ({type(binarizer).__name__})"
        channels = unit.conv.in_channels
        pad = [nn.ZeroPad2d(unit.pad.padding)] if any(unit.pad.padding) else []
        dynamic = dynamic_block(binarizer)
        if dynamic is not None:
            return pad + [dynamic_threshold_unit(dynamic, np.full(channels, self.stream_scale), np.zeros(channels),
                                                 self.pixels[id(unit)], -self.stream_levels[0], what)]
        channel_map = _channel_map([binarizer], self.stream_scale, spatial=True)
        if isinstance(binarizer, AdaBinActivation):  # bit 1: the larger of its two values
            centre = float(binarizer.centre().detach())
            thresholds, _ = fit_thresholds(what, lambda v: (channel_map(v) > centre).to(torch.int64), channels,
                                           *self.stream_levels, levels=(0, 1), allow_flip=False)
            return pad + [MultiThresholdUnit(thresholds, "BINARY", 0.0)]
        codes = torch.arange(self.stream_levels[0], self.stream_levels[1] + 1)
        values = channel_map(codes[:, None].expand(-1, channels))
        if not bool(((values == 1) | (values == -1)).all()):
            raise HwBnnError(f"{what} does not output ±1 on the residual stream; only sign-like and AdaBin "
                             f"binarizers map to the residual hardware")
        thresholds, _ = fit_thresholds(what, channel_map, channels, *self.stream_levels, levels=(-1, 1),
                                       allow_flip=False)
        # levels -1, 0, 1 are counted: a ±1 output has no 0, so its two thresholds coincide
        return pad + [MultiThresholdUnit(thresholds[:, :1], "BIPOLAR", -1.0, 2.0)]

    def binary_conv(self, name: str, unit: BinaryConvUnit, after: list[nn.Module]) -> list[nn.Module]:
        binarized = self.binarize(name, unit)
        if is_adabin_layer(unit.conv):
            weight, thresholds, _ = self.adabin_accumulator(name, unit, after)
            return binarized + [IntegerConv(weight, unit.conv.stride[0]), self.stream_unit(thresholds)]
        codes, scale = _quant_weight(unit.conv)
        if scale != 1.0 or not bool(((codes == 1) | (codes == -1)).all()):
            raise HwBnnError(f"{name}.conv: the residual hardware needs ±1 weights (scale 1) or AdaBin's weight "
                             f"sets; this layer's weights take other values")
        return binarized + self.conv_to_stream(name, unit.conv, after, 1.0, 1, unit.conv.stride[0], 0)

    def adabin_accumulator(self, name: str, unit: BinaryConvUnit, after: list[nn.Module]
                           ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Integer weights W and stream thresholds T (C, levels - 1) of an AdaBin conv on the 0/1 bits x
        of its AdaBin binarizer (seed_methods §5.6).

        The input takes the values lo + 2h*x (h = |alpha_a|), the weights alpha_w*s + beta_w per output
        channel, so the conv output is y = c + 2h*alpha_w*X + 2h*beta_w*N with X = sum(x*s) and the
        input count N = sum(x). ``after`` maps y to stream codes monotonically, with level boundaries
        found on the trained modules. One conv with the integer weights W = A*s + B computes
        L = A*X + B*N, and A, B, T are fitted (``fit_combination``) so that thresholds on L make the
        same decisions as the boundaries on y for every integer X in [-K, K] and N in [0, K]. Channels
        whose codes fall with y (sigma -1, returned too) get L = -(A*X + B*N)."""
        binarizer = unit.binarize
        if not isinstance(binarizer, AdaBinActivation):
            raise HwBnnError(f"{name}.conv has AdaBin weights behind a {type(binarizer).__name__} binarizer; the "
                             f"residual hardware maps AdaBin convs behind AdaBin's own binarizer (method adabin)")
        half = abs(float(binarizer.alpha_a.detach()))
        if half == 0:
            raise HwBnnError(f"{name}.binarize: alpha_a = 0, so its two values coincide and no bit can carry them")
        signs, alpha_w, beta_w = binary_weight_set(unit.conv)
        fan_in = signs[0].numel()
        low = float(binarizer.centre().detach()) - half
        a, b = 2 * half * alpha_w, 2 * half * beta_w
        c = low * (alpha_w * signs.flatten(1).sum(1).double().numpy() + beta_w * fan_in)
        reach = float(np.max(np.abs(c) + (np.abs(a) + np.abs(b)) * fan_in))
        boundaries, sigma = _code_boundaries(name, after, len(a), reach, self.stream_levels)
        weight = torch.empty_like(signs)
        thresholds = np.empty_like(boundaries, dtype=np.int64)
        for o in range(len(a)):
            coef_a, coef_b, thresholds[o] = fit_combination(
                sigma[o] * a[o], sigma[o] * b[o], sigma[o] * c[o], boundaries[o], np.zeros(len(boundaries[o])),
                (-fan_in, fan_in), (0, fan_in), f"{name}: channel {o}")
            weight[o] = coef_a * signs[o] + coef_b
        return weight, thresholds, sigma

    def join(self, name: str, after: list[nn.Module], channels: int) -> nn.Module:
        """The threshold unit on the sum of two stream codes: the residual activation is a fixed monotone map
        of the sum, or, with a per-sample part (DyBNN's dynamic RPReLU), a per-frame one (``dynamic_join``)."""
        if isinstance(after[0], ResidualRPReLU) and after[0].dynamic is not None:
            return self.dynamic_join(name, after[0], after[1], channels)
        levels = self.stream_levels
        to_codes = _codes(after[-1])
        channel_map = _channel_map(after, self.stream_scale, spatial=True)
        thresholds, _ = fit_thresholds(name, lambda v: to_codes(channel_map(v)), channels, 2 * levels[0],
                                       2 * levels[1], levels, allow_flip=False)
        return self.stream_unit(thresholds)

    def dynamic_join(self, name: str, activation: ResidualRPReLU, quant: nn.Module, channels: int
                     ) -> DynamicThresholdDeploy:
        """DyBNN's per-sample RPReLU after a residual sum, then the stream quantiser: a multi-level
        ``DynamicThresholdDeploy`` on the integer sum v of two codes (the RPReLU sees v * stream scale).

        Its hyper-function pools v and gives each channel a level code per head (gamma, zeta); the table
        holds, for every pair of levels, the stream thresholds on v of ``quant(RPReLU(x; gamma, zeta))``,
        found by bisection on the trained modules with the shifts at those levels (in float32, as the
        hyper-function's output reaches them), so ties round as PyTorch does."""
        hyper = activation.dynamic
        levels = self.stream_levels
        low, high = 2 * levels[0], 2 * levels[1]
        scale = np.full(channels, self.stream_scale)
        params = hyper_params(hyper, scale, np.zeros(channels), self.pixels[id(activation)], max(-low, high),
                              f"{name} ({type(activation).__name__})")
        output = hyper.output
        values = output.low + output.span * (torch.arange(output.steps + 1, dtype=torch.float32) / output.steps)
        to_codes = _codes(quant)

        def shifted(gamma: torch.Tensor, zeta: torch.Tensor) -> ChannelMap:
            def apply(v: torch.Tensor) -> torch.Tensor:
                x = (v.to(torch.float32) * self.stream_scale)[:, :, None, None]
                shifts = [value.expand(v.shape[0], channels) for value in (gamma, zeta)]
                with torch.no_grad():
                    y = quant(activation.rprelu(x, *shifts))
                return to_codes(getattr(y, "value", y)).reshape(v.shape)
            return apply

        table = np.stack([fit_thresholds(f"{name} at shift levels ({g}, {z})", shifted(values[g], values[z]),
                                         channels, low, high, levels, allow_flip=False)[0]
                          for g in range(len(values)) for z in range(len(values))], axis=1)
        params["table"] = table.astype(np.int64)  # (C, L*L, levels - 1): gamma's code the major index
        params["sign"] = np.ones(channels, dtype=np.int64)
        return DynamicThresholdDeploy(params, self.stream_dtype, levels[0])

    def shortcut(self, name: str, shortcut: nn.Module) -> nn.Module:
        """A residual shortcut: the identity, option A (a routing conv), or a multi-bit 1×1 conv + BN onto the
        stream (``DownsampleShortcut``)."""
        if isinstance(shortcut, OptionAShortcut):
            return self.option_a(shortcut)
        if isinstance(shortcut, DownsampleShortcut):
            pool = shortcut.pool.kernel_size if isinstance(shortcut.pool, nn.AvgPool2d) else 1
            return nn.Sequential(*self.conv_to_stream(name, shortcut.conv, [shortcut.norm, shortcut.quant],
                                                      self.stream_scale, -self.stream_levels[0],
                                                      shortcut.conv.stride[0], 0, pool))
        return nn.Identity()

    def option_a(self, shortcut: OptionAShortcut) -> nn.Module:
        """He et al.'s option A as a 1×1, stride-s conv with 0/1 weights (a multi-bit matrix unit)."""
        offset = shortcut.channel_offset
        sources = [c - offset if 0 <= c - offset < shortcut.in_channels else None
                   for c in range(shortcut.out_channels)]
        return _routing_conv(shortcut.in_channels, sources, stride=shortcut.stride)

    def average_pool(self, name: str, quant: nn.Module, channels: int) -> list[nn.Module]:
        """A 2×2 average pool re-quantised onto the stream: the sum of the four codes (a 2×2, stride-2 conv
        with 0/1 weights) and a threshold unit that absorbs the division by 4."""
        channel_map = _channel_map([quant], self.stream_scale, spatial=True, divide_by=4)
        to_codes = _codes(quant)
        thresholds, _ = fit_thresholds(name, lambda v: to_codes(channel_map(v)), channels, 4 * self.stream_levels[0],
                                       4 * self.stream_levels[1], self.stream_levels, allow_flip=False)
        return [_routing_conv(channels, list(range(channels)), kernel=2, stride=2), self.stream_unit(thresholds)]

    def padded_max_pool(self, unit: MultiThresholdUnit, pool: nn.MaxPool2d) -> list[nn.Module]:
        """``unit`` (stream codes) then ``pool`` with padding, which pads with -inf: the hardware pads with 0
        only, so the codes go unsigned (code - lowest level, all >= 0, and a 0 pad is never above a window's
        maximum), are zero-padded and max-pooled, and an identity threshold unit signs them again."""
        levels = self.stream_levels
        unsigned = MultiThresholdUnit(unit.thresholds.numpy(), f"UINT{int(np.log2(levels[1] - levels[0] + 1))}", 0.0)
        identity = np.tile(np.arange(1, levels[1] - levels[0] + 1, dtype=np.float64), (unit.thresholds.shape[0], 1))
        return [unsigned, nn.ZeroPad2d(pool.padding), nn.MaxPool2d(pool.kernel_size, pool.stride),
                self.stream_unit(identity)]

    @staticmethod
    def repeat_channels(channels: int, copies: int) -> nn.Module:
        """``x.repeat(1, copies, 1, 1)`` as a 1×1 conv with 0/1 weights (a multi-bit matrix unit)."""
        return _routing_conv(channels, [c % channels for c in range(channels * copies)])


def _routing_conv(in_channels: int, sources: list[int | None], kernel: int = 1, stride: int = 1) -> IntegerConv:
    """A conv with 0/1 weights whose output channel o sums input channel ``sources[o]`` over its k×k window
    (None: a zero channel)."""
    weight = torch.zeros(len(sources), in_channels, kernel, kernel)
    for out_channel, source in enumerate(sources):
        if source is not None:
            weight[out_channel, source] = 1.0
    return IntegerConv(weight, stride)


class IntegerForm(nn.Sequential):
    """The integer form of a residual architecture (what ``to_integer_form`` returns)."""


def is_residual_architecture(model: nn.Module) -> bool:
    features = getattr(model, "features", None)
    return isinstance(features, nn.Sequential) and len(features) > 0 and isinstance(features[0], Stem)


def to_integer_form(model: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """The integer form of a ``hw_bnn.models.cifar`` architecture for inputs of ``input_shape`` (C, H, W),
    in eval mode; ``model`` is switched to eval mode and otherwise not modified."""
    model.eval()
    if not is_residual_architecture(model):
        raise HwBnnError(f"{type(model).__name__} is not a residual CIFAR architecture of hw_bnn.models.cifar")
    stem = model.features[0]
    head = model.features[-1]
    pixels = pixels_seen(model, input_shape, [head, *(m for m in model.modules()
                                                       if isinstance(m, (BinaryConvUnit, ResidualRPReLU)))])
    bits = int(stem.quant.act_quant.bit_width())
    conv = _Converter(bits, pixels)
    layers: list[nn.Module] = conv.conv_to_stream("features.0", stem.conv, [stem.norm, stem.act, stem.quant], 1.0,
                                                  PIXEL_MAX, stem.conv.stride[0], stem.conv.padding[0])
    if isinstance(stem.pool, nn.MaxPool2d):
        layers = layers[:1] + conv.padded_max_pool(layers[1], stem.pool)
    children = list(model.features.named_children())[1:]
    index = 0
    while index < len(children):
        name, module = children[index]
        name = f"features.{name}"
        if isinstance(module, BiRealConv):
            branch = conv.binary_conv(name, module.unit, [module.norm, module.branch_quant])
            shortcut = conv.shortcut(f"{name}.shortcut", module.shortcut)
            join = conv.join(f"{name}.join", [module.nonlinearity, module.quant], module.unit.conv.out_channels)
            layers.append(Residual(nn.Sequential(*branch), shortcut, join))
        elif isinstance(module, BasicBlock):
            branch = (conv.binary_conv(f"{name}.unit1", module.unit1, [module.norm1, module.act1, module.quant1])
                      + conv.binary_conv(f"{name}.unit2", module.unit2, [module.norm2, module.branch_quant]))
            shortcut = conv.shortcut(f"{name}.shortcut", module.shortcut)
            join = conv.join(f"{name}.join", [module.act2, module.quant2], module.unit2.conv.out_channels)
            layers.append(Residual(nn.Sequential(*branch), shortcut, join))
        elif isinstance(module, ReActBlock):
            layers += _reactnet_block(conv, name, module)
        elif isinstance(module, BinaryConvUnit):  # VGG-small: unit [MaxPool] BatchNorm nonlinearity quant
            rest = [m for _, m in children[index + 1:index + 5]]
            pool = rest[0] if isinstance(rest[0], nn.MaxPool2d) else None
            after = rest[1:4] if pool else rest[:3]
            index += 4 if pool else 3
            layers += _vgg_stage(conv, name, module, pool, after)
        elif isinstance(module, Classifier):
            layers += _classifier(conv, name, module, pixels[id(head)])
        else:
            raise HwBnnError(f"layer '{name}' ({type(module).__name__}) has no integer form yet (the residual "
                             f"hardware maps resnet20, resnet18, vgg_small, reactnet and the ImageNet nets); "
                             f"train it, or pick one of those")
        index += 1
    return IntegerForm(*layers).eval()


def _reactnet_block(conv: _Converter, name: str, block: ReActBlock) -> list[nn.Module]:
    """The 3×3 conv with its (average-pooled) shortcut, then the 1×1 conv with its (repeated) shortcut."""
    channels = block.spatial.conv.in_channels
    shortcut: nn.Module = nn.Identity()
    if isinstance(block.spatial_shortcut, nn.Sequential):
        shortcut = nn.Sequential(*conv.average_pool(f"{name}.spatial_shortcut", block.spatial_shortcut[1], channels))
    spatial = Residual(nn.Sequential(*conv.binary_conv(f"{name}.spatial", block.spatial,
                                                       [block.spatial_norm, block.spatial_quant])),
                       shortcut, conv.join(f"{name}.spatial_join", [block.spatial_act, block.spatial_out], channels))
    repeat = conv.repeat_channels(channels, block.copies) if block.copies > 1 else nn.Identity()
    pointwise = Residual(nn.Sequential(*conv.binary_conv(f"{name}.pointwise", block.pointwise,
                                                         [block.pointwise_norm, block.pointwise_quant])),
                         repeat, conv.join(f"{name}.pointwise_join", [block.pointwise_act, block.pointwise_out],
                                           block.pointwise.conv.out_channels))
    return [spatial, pointwise]


def _vgg_stage(conv: _Converter, name: str, unit: BinaryConvUnit, pool: nn.Module | None,
               after: list[nn.Module]) -> list[nn.Module]:
    """A VGG-small conv. Without a pool it is a binary conv into the stream; with one, the max-pool
    sits on the accumulator, so decreasing channels are flipped by a channel-wise Mul after it."""
    if pool is None:
        return conv.binary_conv(name, unit, after)
    layers = conv.binarize(name, unit)
    if is_adabin_layer(unit.conv):  # the pool needs L rising with y: sigma moves behind it
        weight, thresholds, sigma = conv.adabin_accumulator(name, unit, after)
        layers += [IntegerConv(weight * torch.as_tensor(sigma, dtype=weight.dtype).reshape(-1, 1, 1, 1),
                               unit.conv.stride[0]), pool]
        if (sigma < 0).any():
            layers.append(ChannelSign(sigma))
        return layers + [conv.stream_unit(thresholds)]
    codes, _ = _quant_weight(unit.conv)
    reach = _acc_reach(codes, 1)
    to_codes = _codes(after[-1])
    channel_map = _channel_map(after, 1.0, spatial=True)
    thresholds, flips = fit_thresholds(name, lambda v: to_codes(channel_map(v)), codes.shape[0], -reach, reach,
                                       conv.stream_levels)
    layers += [IntegerConv(codes, unit.conv.stride[0]), pool]
    if (flips < 0).any():
        layers.append(ChannelSign(flips))
    return layers + [conv.stream_unit(thresholds)]


def _classifier(conv: _Converter, name: str, head: Classifier, pixels: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    features = head.linear.in_features
    if isinstance(head.pool, nn.Sequential):
        pool, _, norm = head.pool
        # the average pool divides the integer sum by the pixel count; the threshold unit absorbs it
        channel_map = _channel_map([norm, head.quant], conv.stream_scale, spatial=False, divide_by=pixels)
        to_codes = _codes(head.quant)
        reach = pixels * -conv.stream_levels[0]
        thresholds, flips = fit_thresholds(f"{name}.pool", lambda v: to_codes(channel_map(v)), features, -reach,
                                           reach, conv.stream_levels)
        layers.append(GlobalSum())
        if (flips < 0).any():
            layers.append(ChannelSign(flips))
        layers.append(conv.stream_unit(thresholds))
    else:
        layers.append(nn.Flatten())
    codes, weight_scale = _quant_weight(head.linear)
    scale = weight_scale * conv.stream_scale
    # Brevitas' Int32Bias: the bias rounded onto the accumulator's grid
    bias = torch.round(head.linear.bias.detach() / scale)
    return layers + [IntegerLinear(codes, bias, scale)]
