"""IR-Net (Qin et al., CVPR 2020), the papers' usual baseline: Libra-PB balanced weights and the Error
Decay Estimator on weights and activations (seed_methods fidelity notes; IR-Net code ``ir_1w1a.py``).

The released binary conv computes ``conv(sign_EDE(a), sign_EDE(w_std) * s_w)`` with
``w_std = (w - mean_o(w)) / std_o(w)`` per output channel o (Libra-PB: balanced, standardised weights;
the gradient flows through the mean and std) and ``s_w = 2^round(log2(mean_o|w_std|))``, detached.

``s_w`` is left out here, and the deployed network is the same: it is a positive per-output-channel factor
on the conv output, and a BatchNorm follows every binary conv. In training the BatchNorm's batch
statistics divide it out (up to its eps); at inference it folds into the channel's thresholds like every
other positive per-channel scale. The weights stay exactly ±1, so IR-Net maps to XNOR + thresholds.
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.methods.layers import WeightTransform, per_output_channel_dims


class BalancedWeight(WeightTransform):
    r"""Libra-PB: the sign of the standardised latent weight, per output channel.

    .. math:: w_b = \operatorname{sign}\left(\frac{w - \operatorname{mean}_o(w)}{\operatorname{std}_o(w)}\right)

    The forward is sign(w - mean_o(w)) (dividing by a positive std keeps the sign); the standardisation
    matters to the estimator, whose surrogate is evaluated on unit-variance weights, and to the gradient,
    which flows through mean_o and std_o as in the released code. ``torch.std`` is unbiased, as there.
    """

    def __init__(self, estimator: nn.Module):
        super().__init__()
        self.estimator = estimator

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        dims = per_output_channel_dims(weight)
        centred = weight - weight.mean(dim=dims, keepdim=True)
        return self.estimator(centred / centred.std(dim=dims, keepdim=True))
