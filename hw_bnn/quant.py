"""Brevitas quantizers for bipolar (+1/-1) weights and activations.

Both use a constant scale of 1, so that every tensor between two binarisations is an
integer in PyTorch as well as in the exported graph: the hardware is exact by
construction, not by tolerance. The sign convention is Brevitas' ``binary_sign``:
x >= 0 maps to +1 (FINN's bit 1), x < 0 to -1 (bit 0).
"""

from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst


class BipolarWeight(SignedBinaryWeightPerTensorConst):
    """Weights sign(w) in {-1, +1}; latent weights are clipped to [-1, 1] in place (STE)."""

    scaling_const = 1.0


class BipolarAct(SignedBinaryActPerTensorConst):
    """Activations sign(x) in {-1, +1}; the gradient passes where |x| <= 1 (clipped STE)."""

    scaling_const = 1.0
