"""DyBNN (Zhang et al., arXiv 2110.05185, ICASSP 2022): ReActNet with sample-dependent RSign
thresholds and RPReLU shifts. A documented RECONSTRUCTION.

DyBNN has no public code, and its paper could not be read (seed_methods §3.1, §3.3, §9). What
is verified is only the abstract: the Sign thresholds and the PReLU shifts of ReActNet become
dynamic, learnable and channel-wise, produced by a "hyper function aggregating global
information". Everything else below is our choice ([U] in seed_methods §3.3), modelled on
Dynamic ReLU (Chen et al., 2020), which the phrase matches:

1. Pooled tensor: each module pools its own input, i.e. the sign input for ``DynamicRSign``
   and the pre-PReLU tensor for ``DynamicRPReLU`` (seed_methods suggests the sign input as the
   natural choice).
2. Hyper-function: GAP -> FC(C -> max(1, C // r)) -> ReLU -> FC(-> outputs) -> bound * tanh,
   both FCs bias-free (a bias on the last FC would duplicate the static bias; bias-free FCs also
   match SD-BNN's squeeze-excitation branch).
3. r = 16, the squeeze-excitation default (SD-BNN on CIFAR, Dynamic ReLU).
4. bound = 1.0: tanh keeps the dynamic part in (-1, 1), the same range as Dynamic ReLU's
   2σ(·) − 1 residual. A shift of up to 1 can move a threshold across the whole window in
   which ApproxSign has a gradient ([-1, 1]) but not far beyond, where a channel's values
   would all lie on one side of the threshold and stop learning.
5. Static biases kept as additive terms initialised to 0 (ReActNet's ``LearnableBias`` init):
   threshold = α_c + α_c(x), shift = γ_c + γ_c(x), ζ_c + ζ_c(x).
6. Separate hyper-functions: one (C outputs) per ``DynamicRSign`` and one (2C outputs: γ, ζ)
   per ``DynamicRPReLU``. The two sit at different places in a ReActNet block and see
   different tensors, and separate modules keep each a drop-in replacement for ReActNet's
   ``LearnableBias`` / RPReLU.
7. Initialisation: the first FC ``kaiming_normal_`` (as the SE branch), the last FC zero, so
   the dynamic part is exactly 0 at init and DyBNN starts as ReActNet. The last FC still gets
   a gradient at init (tanh'(0) = 1 and the hidden ReLU is non-zero); the first FC starts
   learning once the last is non-zero.
8. Gradient path: plain autograd through the hyper-branch; the sign's estimator is the
   caller's (ApproxSign in ReActNet).

The modules return the shifted value through ``EstimatedSign`` (see ``hw_bnn.methods.layers``):
a Brevitas bipolar quantizer follows them in a model.
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.methods.layers import EstimatedSign, expand_channels, global_average_pool

PER_SAMPLE_THRESHOLDS_BLOCKER = (
    "per-sample thresholds: the hyper-function pools the whole input feature map, so the "
    "threshold of every output bit changes per frame, and FINN has no unit that takes per-frame "
    "thresholds (its thresholds are static or host-written); hardware comes with the per-sample "
    "thresholds issue"
)


class HyperFunction(nn.Module):
    """(N, C[, H, W]) -> (N, outputs) in (-bound, bound): bound * tanh(FC(ReLU(FC(GAP(x))))).

    Reconstruction choices 2-4 and 7 of the module docstring. On (N, C) input the "pool" is x
    itself (no spatial dims).

    Args:
        channels: C of the input.
        outputs: number of dynamic values per sample.
        reduction: hidden width divisor r (hidden = max(1, C // r)).
        bound: half-width of the output range.
    """

    def __init__(self, channels: int, outputs: int, reduction: int = 16, bound: float = 1.0):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.bound = float(bound)
        self.squeeze = nn.Linear(channels, hidden, bias=False)
        self.expand = nn.Linear(hidden, outputs, bias=False)
        nn.init.kaiming_normal_(self.squeeze.weight)
        nn.init.zeros_(self.expand.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bound * torch.tanh(self.expand(torch.relu(self.squeeze(global_average_pool(x)))))

    def extra_repr(self) -> str:
        return f"bound={self.bound}"


class DynamicRSign(nn.Module):
    r"""ReActNet's RSign with a sample-dependent threshold (reconstruction, module docstring).

    .. math:: y = \operatorname{sign}(x - (\alpha_c + \alpha_c(x)))

    returned as ``EstimatedSign(estimator)(x - threshold)``: ±1 in training, the shifted value
    in eval for the Brevitas sign that follows.
    """

    hardware_blocker = PER_SAMPLE_THRESHOLDS_BLOCKER

    def __init__(self, channels: int, estimator: nn.Module, reduction: int = 16, bound: float = 1.0):
        super().__init__()
        self.static_threshold = nn.Parameter(torch.zeros(channels))
        self.dynamic_threshold = HyperFunction(channels, channels, reduction, bound)
        self.sign = EstimatedSign(estimator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = expand_channels(self.static_threshold, x) + expand_channels(self.dynamic_threshold(x), x)
        return self.sign(x - threshold)


class DynamicRPReLU(nn.Module):
    r"""ReActNet's RPReLU with sample-dependent shifts (reconstruction, module docstring).

    .. math:: y = \mathrm{PReLU}_c(x - (\gamma_c + \gamma_c(x))) + \zeta_c + \zeta_c(x)

    The PReLU slope is per channel, initialised to 0.25 (``nn.PReLU(channels)``, as ReActNet).
    One hyper-function gives both dynamic shifts (2C outputs: γ first, then ζ).
    """

    hardware_blocker = PER_SAMPLE_THRESHOLDS_BLOCKER

    def __init__(self, channels: int, reduction: int = 16, bound: float = 1.0):
        super().__init__()
        self.static_input_shift = nn.Parameter(torch.zeros(channels))
        self.static_output_shift = nn.Parameter(torch.zeros(channels))
        self.dynamic_shifts = HyperFunction(channels, 2 * channels, reduction, bound)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dynamic_input_shift, dynamic_output_shift = self.dynamic_shifts(x).chunk(2, dim=1)
        input_shift = expand_channels(self.static_input_shift, x) + expand_channels(dynamic_input_shift, x)
        output_shift = expand_channels(self.static_output_shift, x) + expand_channels(dynamic_output_shift, x)
        return self.prelu(x - input_shift) + output_shift
