"""DyBNN (Zhang et al., arXiv 2110.05185, ICASSP 2022): ReActNet with sample-dependent RSign
thresholds and RPReLU shifts. A documented RECONSTRUCTION.

DyBNN has no public code, and its paper could not be read (seed_methods §3.1, §3.3, §9). What
is verified is only the abstract: the Sign thresholds and the PReLU shifts of ReActNet become
dynamic, learnable and channel-wise, produced by a "hyper function aggregating global
information". Everything else below is our choice ([U] in seed_methods §3.3), modelled on
Dynamic ReLU (Chen et al., 2020), which the phrase matches:

1. Pooled tensor: the block input x (the BatchNorm output), pooled once per block, as Dynamic ReLU
   computes all its coefficients from one pool of its input. (Pooling the RSign input instead
   would chain two global pools, and two frame buffers, per layer in hardware.)
2. Hyper-function: GAP -> FC(C -> max(1, C // r)) -> ReLU -> FC(-> 3C) -> bound * tanh,
   both FCs bias-free (a bias on the last FC would duplicate the static bias; bias-free FCs also
   match SD-BNN's squeeze-excitation branch).
3. r = 16, the squeeze-excitation default (SD-BNN on CIFAR, Dynamic ReLU).
4. bound = 1.0: tanh keeps the dynamic part in (-1, 1), the same range as Dynamic ReLU's
   2σ(·) − 1 residual. A shift of up to 1 can move a threshold across the whole window in
   which ApproxSign has a gradient ([-1, 1]) but not far beyond, where a channel's values
   would all lie on one side of the threshold and stop learning. The quantised hyper-function
   (three levels per value) uses 0.25 by default instead (``hw_bnn.methods.catalog.dybnn``).
5. Static biases kept as additive terms initialised to 0 (ReActNet's ``LearnableBias`` init):
   threshold = α_c + α_c(x), shift = γ_c + γ_c(x), ζ_c + ζ_c(x).
6. One hyper-function per block with 3C outputs (γ, ζ, α in this order), following from 1.
7. Initialisation: the first FC ``kaiming_normal_`` (as the SE branch), the last FC zero, so
   the dynamic part is exactly 0 at init and DyBNN starts as ReActNet. The last FC still gets
   a gradient at init (tanh'(0) = 1 and the hidden ReLU is non-zero); the first FC starts
   learning once the last is non-zero. (The quantised branch starts the last FC small instead,
   see ``hw_bnn.methods.hyper.HyperFunction``.)
8. Gradient path: plain autograd through the hyper-branch; the sign's estimator is the
   caller's (ApproxSign in ReActNet).
9. With the quantisation-aware hyper-function (the hardware form), the PReLU slope is used
   clamped at 0: a negative slope makes the RPReLU V-shaped, so the sign after it would need
   two thresholds per channel. ReActNet's slopes start at 0.25 and rarely go negative.

The block returns the shifted value through ``EstimatedSign`` (see ``hw_bnn.methods.layers``):
a Brevitas bipolar quantizer follows it in a model. Its quantisation-aware form maps to per-frame
threshold hardware (``hw_bnn.features.dynamic_threshold.deploy``).

In residual nets (ReActNet, the backbone DyBNN builds on) the two halves sit apart, as in ReActNet:
RSign at each binary conv's input (``DynamicActivation(rprelu=False)``, the dynamic threshold alone),
and RPReLU after each residual sum, on the multi-bit stream that feeds the next shortcut
(``ResidualRPReLU``). There sign∘RPReLU would collapse to one threshold; after the sum the RPReLU
shapes the values the next block adds. Its shifts are per sample (``residual_shifts: dynamic``, the
default: choice 10) or ReActNet's static ones (``static``).

10. The residual RPReLU's per-sample shifts come from a hyper-function of the RPReLU's own input (the
    residual sum), as Dynamic ReLU computes its coefficients from its input, with 2C outputs (γ, ζ);
    the binarizer's hyper-function has C (α). Hardware: the static RPReLU folds into the join's
    thresholds, bit-exact; the per-sample one becomes a per-frame multi-level threshold unit on the
    integer sum (its hyper-function picks, per channel, one of the (levels)² threshold rows of the stream
    quantiser: ``hw_bnn.features.residual.integer_form._Converter.dynamic_join``), bit-exact too.
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.methods.hyper import FLOAT_HYPER_BLOCKER, HyperFunction, TanhOutput
from hw_bnn.methods.layers import EstimatedSign, expand_channels

class DynamicActivation(nn.Module):
    r"""ReActNet's RPReLU then RSign, with sample-dependent shifts and threshold (reconstruction, module docstring).

    .. math::
        y = \mathrm{PReLU}_c(x - (\gamma_c + \gamma_c(x))) + \zeta_c + \zeta_c(x), \qquad
        \mathrm{out} = \operatorname{sign}(y - (\alpha_c + \alpha_c(x)))

    returned as ``EstimatedSign(estimator)(y - threshold)``: ±1 in training, the shifted value in
    eval for the Brevitas sign that follows. The PReLU slope is per channel, initialised to 0.25
    (``nn.PReLU(channels)``, as ReActNet). Without ``rprelu`` it is the dynamic RSign alone,
    ``sign(x - (alpha_c + alpha_c(x)))``, with one hyper-function head: a residual net's binarizer, whose
    RPReLU follows the residual sum instead (``ResidualRPReLU``).

    Args:
        channels: C.
        estimator: the sign's training estimator (ApproxSign in ReActNet).
        reduction, bound: reconstruction choices 3 and 4.
        bits: None for the float hyper-function (no hardware form), b for the quantisation-aware one.
        output_bits: levels (2^output_bits) of each dynamic value in the quantised hyper-function.
        rprelu: keep the RPReLU before the sign (heads γ, ζ, α) or not (head α).
    """

    def __init__(self, channels: int, estimator: nn.Module, reduction: int = 16, bound: float = 1.0,
                 bits: int | None = None, output_bits: int = 2, rprelu: bool = True):
        super().__init__()
        self.rprelu = RPReLU(channels, monotone=bits is not None) if rprelu else None
        self.static_threshold = nn.Parameter(torch.zeros(channels))
        heads = 3 if rprelu else 1
        self.dynamic = HyperFunction(channels, heads * channels,
                                     TanhOutput(bound, None if bits is None else output_bits),
                                     reduction, bits, zero_expand=True)
        self.sign = EstimatedSign(estimator)

    @property
    def hardware_blocker(self) -> str | None:
        return None if self.dynamic.quantized else FLOAT_HYPER_BLOCKER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dynamic = self.dynamic(x)
        threshold = expand_channels(self.static_threshold, x) + expand_channels(dynamic[:, -x.shape[1]:], x)
        if self.rprelu is not None:
            input_shift, output_shift, _ = dynamic.chunk(3, dim=1)
            x = self.rprelu(x, input_shift, output_shift)
        return self.sign(x - threshold)


class RPReLU(nn.Module):
    r"""ReActNet's RPReLU, ``PReLU_c(x - (gamma_c + gamma(x))) + zeta_c + zeta(x)``, with the per-sample parts
    (N, C) given by the caller (none: ReActNet's static RPReLU). The slope is per channel, initialised to 0.25;
    ``monotone`` (the hardware form) clamps it at 0 (reconstruction choice 9)."""

    def __init__(self, channels: int, monotone: bool = False):
        super().__init__()
        self.input_shift = nn.Parameter(torch.zeros(channels))
        self.output_shift = nn.Parameter(torch.zeros(channels))
        self.prelu = nn.PReLU(channels)
        self.monotone = monotone

    def slope(self) -> torch.Tensor:
        """The PReLU slope in use: clamped at 0 in the hardware form (reconstruction choice 9)."""
        return self.prelu.weight.clamp(min=0) if self.monotone else self.prelu.weight

    def forward(self, x: torch.Tensor, input_shift: torch.Tensor | None = None,
                output_shift: torch.Tensor | None = None) -> torch.Tensor:
        gamma, zeta = expand_channels(self.input_shift, x), expand_channels(self.output_shift, x)
        if input_shift is not None:
            gamma, zeta = gamma + expand_channels(input_shift, x), zeta + expand_channels(output_shift, x)
        return nn.functional.prelu(x - gamma, self.slope()) + zeta


class ResidualRPReLU(nn.Module):
    """The RPReLU after a residual sum (module docstring): ReActNet's static one, or with per-sample shifts
    γ(x), ζ(x) from a hyper-function of its own input (reconstruction choice 10), on the same levels as the
    binarizer's.

    Args:
        channels: C.
        dynamic: per-sample shifts (DyBNN) or static ones (ReActNet).
        reduction, bound, bits, output_bits: as ``DynamicActivation``'s hyper-function.
    """

    def __init__(self, channels: int, dynamic: bool = True, reduction: int = 16, bound: float = 1.0,
                 bits: int | None = None, output_bits: int = 2):
        super().__init__()
        self.rprelu = RPReLU(channels, monotone=bits is not None)
        self.dynamic = HyperFunction(channels, 2 * channels, TanhOutput(bound, None if bits is None else output_bits),
                                     reduction, bits, zero_expand=True) if dynamic else None

    @property
    def hardware_blocker(self) -> str | None:
        return None if self.dynamic is None or self.dynamic.quantized else FLOAT_HYPER_BLOCKER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic is None:
            return self.rprelu(x)
        return self.rprelu(x, *self.dynamic(x).chunk(2, dim=1))
