"""AdaBin (Tu et al., ECCV 2022, arXiv 2208.08084): adaptive binary sets {centre ± distance}
for weights and activations, with a two-slope Maxout nonlinearity.

Built from the official PyTorch code as summarised in seed_methods §5.1 (AB-code). Unlike the
other methods, AdaBin's binary values are not ±1, so ``AdaBinActivation`` does its own sign in
train and eval alike (no Brevitas quantizer follows it). The hardware form (seed_methods §5.6:
an XNOR unit that also counts its input, then a combine-and-threshold unit) is built from these
modules by ``hw_bnn.features.adabin.deploy``; both binarisers expose their binary sets for it.
"""

from __future__ import annotations

import torch
from torch import nn

from hw_bnn.errors import HwBnnError
from hw_bnn.methods.layers import WeightTransform, expand_channels, per_output_channel_dims

#: Added to each filter's variance before the square root (see AdaBinWeight).
VARIANCE_EPSILON = 1e-12

ACTIVATION_FORMS = ("paper", "code")


class AdaBinWeight(WeightTransform):
    r"""AdaBin's weight binariser ("equalization"), a weight parametrization.

    Per output channel o, over all its other dims (seed_methods §5.1, AB-code ``binarylib.py``):

    .. math::
        \beta_{w,o} = \operatorname{mean}(w_o), \quad
        \alpha_{w,o} = \sqrt{\operatorname{mean}((w_o - \beta_{w,o})^2)}, \quad
        w_b = \alpha_{w,o}\,\operatorname{sign}\!\left(\frac{w - \beta_{w,o}}{\alpha_{w,o}}\right) + \beta_{w,o}

    so filter o takes the two values {β_w,o − α_w,o, β_w,o + α_w,o} = mean ± population std.
    α and β are not detached: as in the official code, the gradient reaches w through them as
    well as through the estimator (EDE in AB-code).

    Guard: the official code divides by α unguarded. A filter whose weights are all equal (a
    one-input Linear, a zero-initialised or pruned filter) has α = 0, and both the division
    and sqrt's derivative at 0 give NaN that silently spreads through training. So α is
    sqrt(variance + 1e-12): the relative change of α is below 1e-5 even for Bi-Real's
    U[0, 0.001) initialisation (variance ~8e-8), and a constant filter binarises to ≈ its mean.
    """

    def __init__(self, estimator: nn.Module):
        super().__init__()
        self.estimator = estimator

    def binary_set(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(signs, distance alpha_w, centre beta_w) of ``weight``: the binarised weight is
        ``distance * signs + centre``; alpha and beta keep dims for broadcasting."""
        dims = per_output_channel_dims(weight)
        centre = weight.mean(dim=dims, keepdim=True)
        distance = torch.sqrt(((weight - centre) ** 2).mean(dim=dims, keepdim=True) + VARIANCE_EPSILON)
        return self.estimator((weight - centre) / distance), distance, centre

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        signs, distance, centre = self.binary_set(weight)
        return distance * signs + centre


class AdaBinActivation(nn.Module):
    r"""AdaBin's activation binariser with a learned per-layer distance α_a and centre β_a.

    .. math:: \hat{x} = (x - \beta_a)/\alpha_a, \qquad s = \operatorname{sign}(\hat{x})

    - ``form="paper"``: out = α_a s + β_a, the set {β_a − α_a, β_a + α_a}. The author calls the
      released line a coding mistake and gives this form as intended (AB-iss57, seed_methods §5.1).
    - ``form="code"``: out = α_a (s + β_a), the released code; use it to reproduce the released
      checkpoint. Its centre is α_a β_a, so it is a different function family.

    In both forms the threshold is x = β_a (for α_a > 0; the comparison flips for α_a < 0, which
    is not prevented, as in the official code). α_a = 1.0 and β_a = 0.0 initially, scalars per
    layer; both get gradients through the normalisation and the output affine. The estimator is
    ApproxSign in AB-code. Train and eval compute the same thing: no Brevitas sign follows,
    because the output is not ±1.
    """

    def __init__(self, estimator: nn.Module, form: str = "paper"):
        super().__init__()
        if form not in ACTIVATION_FORMS:
            raise HwBnnError(f"unknown AdaBin activation form {form!r}: choose one of {list(ACTIVATION_FORMS)}")
        self.form = form
        self.estimator = estimator
        self.alpha_a = nn.Parameter(torch.tensor(1.0))
        self.beta_a = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        signs = self.estimator((x - self.beta_a) / self.alpha_a)
        if self.form == "paper":
            return self.alpha_a * signs + self.beta_a
        return self.alpha_a * (signs + self.beta_a)

    def centre(self) -> torch.Tensor:
        """The centre of the binary set: beta_a (paper form) or alpha_a * beta_a (code form)."""
        return self.beta_a if self.form == "paper" else self.alpha_a * self.beta_a

    def extra_repr(self) -> str:
        return f"form={self.form!r}"


class Maxout(nn.Module):
    r"""AdaBin's two-slope nonlinearity, per channel c (dim 1):

    .. math:: f(z) = p_c\,\mathrm{ReLU}(z) - n_c\,\mathrm{ReLU}(-z)

    with p initialised to 1.0 and n to 0.25 (seed_methods §5.1, AB-code). f is strictly
    increasing exactly when p_c > 0 and n_c > 0; then a later sign threshold on f(z) is a
    per-channel threshold on z. Training may drive a slope to ≤ 0, which makes the preimage of
    a threshold two half-lines (seed_methods §5.6, point 4), so the exporter asks
    ``non_monotone_channels``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.positive_slope = nn.Parameter(torch.ones(channels))
        self.negative_slope = nn.Parameter(torch.full((channels,), 0.25))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (expand_channels(self.positive_slope, z) * torch.relu(z)
                - expand_channels(self.negative_slope, z) * torch.relu(-z))

    def is_monotone(self) -> torch.Tensor:
        """Per channel: True where f is strictly increasing (both slopes > 0)."""
        return ((self.positive_slope > 0) & (self.negative_slope > 0)).detach()

    def non_monotone_channels(self) -> list[int]:
        """Channels whose f is not strictly increasing, so no single threshold on z exists."""
        return torch.nonzero(~self.is_monotone()).flatten().tolist()
