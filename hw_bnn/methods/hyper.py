"""The hyper-function of the per-sample methods (SD-BNN's squeeze-excitation ASD, DyBNN): a global pool of
a feature map, a two-layer bias-free MLP, and a bounded output, per sample.

Two forms, chosen by ``bits``:

- float (``bits=None``): the released SD-BNN branch / our DyBNN reconstruction, for accuracy
  comparison. It has no hardware form.
- quantisation-aware (``bits=b``): the pooled input is a signed b-bit fixed-point value, the
  weights are b-bit fixed-point (Brevitas ``Int8WeightPerTensorFixedPoint`` at b bits), the
  hidden ReLU is an unsigned b-bit fixed-point activation, and the bounded output takes
  2^output_bits levels. Every scale is a power of two, so in eval mode each step is an exact
  integer operation on the previous one; the hardware (``hw_bnn.features.dynamic_threshold.reference``)
  computes the same integers. The only non-integer steps, the BatchNorm before the pool and the
  sigmoid/tanh, become integer thresholds at deployment (``hw_bnn.methods.hyper_deploy``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods.layers import global_average_pool


#: Why the float hyper-function has no hardware form.
FLOAT_HYPER_BLOCKER = (
    "float hyper-function: its per-sample thresholds need the quantisation-aware (fixed-point) branch to be "
    "exact in hardware; set method_options.hyper_bits (e.g. 4)"
)


class _RoundSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class BoundedOutput(nn.Module):
    """z -> a bounded value, optionally on 2^bits evenly spaced levels (round with a straight-through gradient).

    Subclasses define ``unit(z)`` in [0, 1] (strictly increasing), ``inverse_unit(u)`` and the
    affine ``low + span * unit`` that gives the value.
    """

    low: float = 0.0
    span: float = 1.0

    def __init__(self, bits: int | None = None):
        super().__init__()
        if bits is not None and bits < 1:
            raise HwBnnError(f"{type(self).__name__}: output bits must be >= 1, not {bits}")
        self.bits = bits

    @property
    def steps(self) -> int:
        """M: the levels are k / M, k = 0..M (of the unit interval)."""
        return (1 << self.bits) - 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        unit = self.unit(z)
        if self.bits is not None:
            unit = _RoundSte.apply(unit * self.steps) / self.steps
        return self.low + self.span * unit

    def level_values(self) -> np.ndarray:
        """The M + 1 output values, level k = 0..M (float64)."""
        return self.low + self.span * np.arange(self.steps + 1) / self.steps

    def level_boundaries(self) -> tuple[np.ndarray, np.ndarray]:
        """z_m, m = 1..M, and whether z = z_m itself reaches level m.

        The level is >= m when z > z_m, and at z = z_m exactly when round half to even takes the
        half-way value m - 1/2 up, i.e. when m is even. Only z_m = 0 (unit value 1/2) can be met
        exactly: every other boundary of the sigmoid and tanh at these levels is irrational. That
        tie is reached with 1 output bit (M = 1, m = 1: torch.round(0.5) = 0 keeps level 0).
        """
        levels = np.arange(1, self.steps + 1)
        return self.inverse_unit((levels - 0.5) / self.steps), levels % 2 == 0

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class SigmoidOutput(BoundedOutput):
    """sigmoid(z) in (0, 1): SD-BNN's squeeze-excitation shift."""

    def unit(self, z):
        return torch.sigmoid(z)

    @staticmethod
    def inverse_unit(u):
        return np.log(u / (1 - u))


class TanhOutput(BoundedOutput):
    """bound * tanh(z) in (-bound, bound): DyBNN's dynamic shifts (reconstruction).

    Quantised, it takes 2^bits - 1 levels, symmetric around 0 (narrow range), so that a zero
    dynamic part, where DyBNN starts, is one of them."""

    def __init__(self, bound: float = 1.0, bits: int | None = None):
        super().__init__(bits)
        if bits is not None and bits < 2:
            raise HwBnnError(f"TanhOutput: a symmetric quantised output needs bits >= 2, not {bits}")
        self.low, self.span = -float(bound), 2.0 * float(bound)

    @property
    def steps(self) -> int:
        return (1 << self.bits) - 2

    def unit(self, z):
        return (torch.tanh(z) + 1) / 2

    @staticmethod
    def inverse_unit(u):
        return np.arctanh(2 * u - 1)


class HyperFunction(nn.Module):
    """(N, C[, H, W]) -> (N, outputs): output(FC2(ReLU(FC1(GAP(x))))), both FCs bias-free.

    Args:
        channels: C of the input.
        outputs: number of dynamic values per sample.
        output: the bounded output (``SigmoidOutput``, ``TanhOutput``), with its levels.
        reduction: hidden width divisor r (hidden = max(1, C // r)).
        bits: None for the float branch, else the fixed-point width of the pooled input, the
            weights and the hidden activation.
        zero_expand: initialise FC2 to zero, so the dynamic part starts at output(0) (DyBNN). The
            quantised FC2 cannot start at exactly zero (its power-of-two scale comes from max |w|):
            it starts small instead (std 0.01), whose b-bit codes are mostly 0.
    """

    def __init__(self, channels: int, outputs: int, output: BoundedOutput, reduction: int = 16,
                 bits: int | None = None, zero_expand: bool = False):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.bits = bits
        #: pixels at each edge of the input map left out of the pool (``pool_inside``)
        self.border = 0
        self.output = output
        if bits is None:
            self.pool_quant = nn.Identity()
            self.squeeze = nn.Linear(channels, hidden, bias=False)
            self.hidden_act = nn.ReLU()
            self.expand = nn.Linear(hidden, outputs, bias=False)
        else:
            if bits < 2:
                raise HwBnnError(f"hyper-function bits must be >= 2 (signed pooled input), not {bits}")
            self.pool_quant = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits)
            self.squeeze = QuantLinear(channels, hidden, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                       weight_bit_width=bits)
            self.hidden_act = QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits)
            self.expand = QuantLinear(hidden, outputs, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                      weight_bit_width=bits)
        nn.init.kaiming_normal_(self.squeeze.weight)
        if not zero_expand:
            nn.init.kaiming_normal_(self.expand.weight)
        elif bits is None:
            nn.init.zeros_(self.expand.weight)
        else:
            nn.init.normal_(self.expand.weight, std=0.01)

    @property
    def quantized(self) -> bool:
        return self.bits is not None

    def pool_inside(self, border: int) -> None:
        """Pool only the inside of the maps this gets, ``border`` pixels in from each edge: the zeros a
        conv unit pads around its input before the binarizer are not part of the map the pool describes."""
        if border < 0:
            raise HwBnnError(f"hyper-function pool border must be >= 0, not {border}")
        self.border = border

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.border and x.dim() > 2:
            x = x[..., self.border:-self.border, self.border:-self.border]
        pooled = self.pool_quant(global_average_pool(x))
        return self.output(self.expand(self.hidden_act(self.squeeze(pooled))))

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


#: Scales at or below this are Brevitas' clamp of an all-zero statistic (its default minimum is 1e-10).
COLLAPSED_SCALE = 1e-9


def power_of_two_exponent(scale: torch.Tensor | float, what: str) -> int:
    """log2 of a fixed-point scale, which must be an exact power of two."""
    value = float(scale)
    exponent = math.log2(value) if value > 0 else float("nan")
    if not math.isfinite(exponent) or exponent != round(exponent):
        why = (" (Brevitas' floor for a scale: the quantizer saw only zeros while its statistics were collected, "
               "e.g. a dead hidden ReLU; train on more data or longer, or lower method_options.reduction)"
               if 0 < value <= COLLAPSED_SCALE else "; the hyper-function needs fixed-point (power-of-two) quantizers")
        raise HwBnnError(f"{what}: scale {value!r} is not a power of two{why}")
    return int(round(exponent))
