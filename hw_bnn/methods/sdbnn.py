"""SD-BNN (Self-Distribution BNN, Xue et al., arXiv 2103.02394): shift weights and activations
before the sign so their distributions sit better around the threshold, with no scaling factors.

Built from the official code as summarised in seed_methods §2.1 (SD-code):

- WSD, ``WeightSelfDistribution``: a learned per-filter nudge of the weight threshold; at
  inference the weights are plain bits.
- ASD as released, ``SqueezeExcitationShift``: a per-sample shift from a squeeze-and-excitation
  branch. It cannot be folded into static thresholds (seed_methods §2.7); its quantisation-aware
  form maps to per-frame threshold hardware (``hw_bnn.features.dynamic_threshold.deploy``).
- ASD's static variant left commented out in the code, ``StaticActivationShift``: a learned
  per-channel shift that folds exactly into the next thresholds (the recommended hardware
  ablation, seed_methods §2.7).

The activation shifts return the shifted value, not a sign: in a model they are followed by
``EstimatedSign`` and a Brevitas bipolar quantizer (see ``hw_bnn.methods.layers``).
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.methods.hyper import FLOAT_HYPER_BLOCKER, HyperFunction, SigmoidOutput
from hw_bnn.methods.layers import WeightTransform, expand_channels, per_output_channel_dims

#: WSD's fixed step: the threshold moves by at most 1 % of the filter mean (SD-code constant).
WSD_SHIFT_SCALE = 0.01


class WeightSelfDistribution(WeightTransform):
    r"""SD-BNN's weight self-distribution (WSD), a weight parametrization producing ±1 weights.

    .. math:: w' = w + \sigma(\alpha_o) \cdot 0.01 \cdot \operatorname{mean}_o(w), \qquad w_b = \operatorname{sign}(w')

    (seed_methods §2.1, SD-code ``ir_1w1a.py``: the sign is "+", so filter o's sign threshold
    moves to -0.01 σ(α_o) mean_o(w).) mean_o is over all dims but the output channel and is
    detached, as in the official code, so the weights get no gradient through the shift; α gets
    its gradient through the estimator. There is no scaling factor: the output is exactly ±1.

    Args:
        out_channels: number of filters (dim 0 of the weight); one α per filter, initialised
            to 0 (σ = 0.5).
        estimator: sign estimator for the weights (EDE on CIFAR, clipped identity on ImageNet).
    """

    def __init__(self, out_channels: int, estimator: nn.Module):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(out_channels))
        self.estimator = estimator

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        filter_mean = weight.detach().mean(dim=per_output_channel_dims(weight), keepdim=True)
        gate = torch.sigmoid(self.alpha).reshape(-1, *([1] * (weight.dim() - 1)))
        return self.estimator(weight + gate * WSD_SHIFT_SCALE * filter_mean)


class StaticActivationShift(nn.Module):
    r"""The static activation shift x + σ(β_c), β_c initialised to 0 (so the shift starts at 0.5).

    SD-code's commented-out ASD variant (seed_methods §2.1). The shift is a per-channel constant,
    so at inference it folds into the next layer's thresholds as τ_c in identity (I1)
    (seed_methods §1, §2.7). Input (N, C) or (N, C, H, W).
    """

    #: Exports as a constant Add, which FINN's streamlining absorbs into the thresholds.
    maps_to_thresholds = True

    def __init__(self, channels: int):
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + expand_channels(torch.sigmoid(self.beta), x)


class SqueezeExcitationShift(nn.Module):
    r"""SD-BNN's released activation self-distribution (ASD): a per-sample squeeze-and-excitation shift.

    .. math:: x' = x + \sigma(W_2\,\mathrm{ReLU}(W_1\,\mathrm{GAP}(x)))

    (seed_methods §2.1, SD-code ``se_module.py``). W_1: C -> max(1, C // reduction) and
    W_2: back to C, both bias-free and initialised with ``kaiming_normal_`` as the official
    ResNet code's ``_weights_init`` does. The shift lies in [0, 1] for every sample and channel,
    so it always biases the sign towards +1.

    Input (N, C, H, W): GAP is the spatial mean, and the shift is per sample and channel.
    Input (N, C): there are no spatial dims, so the "pool" is x itself; the shift then depends
    on the sample's whole activation vector.

    Args:
        channels: C.
        reduction: hidden width divisor (16 on CIFAR, 8 on ImageNet in SD-code).
        bits: None for the released float branch (no hardware form); b for the quantisation-aware
            branch (``hw_bnn.methods.hyper``) that maps to per-frame threshold hardware.
        output_bits: the sigmoid's levels (2^output_bits) in the quantised branch.
    """

    def __init__(self, channels: int, reduction: int = 16, bits: int | None = None, output_bits: int = 4):
        super().__init__()
        self.excitation = HyperFunction(channels, channels, SigmoidOutput(None if bits is None else output_bits),
                                        reduction, bits)

    @property
    def hardware_blocker(self) -> str | None:
        return None if self.excitation.quantized else FLOAT_HYPER_BLOCKER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + expand_channels(self.excitation(x), x)
