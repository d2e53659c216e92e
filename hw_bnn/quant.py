"""Brevitas quantizers: bipolar (+1/-1) weights and activations, and the multi-bit residual stream
and weights of the residual architectures.

The bipolar ones use a constant scale of 1, so that every tensor between two binarisations is an
integer in PyTorch as well as in the exported graph: the hardware is exact by construction, not by
tolerance. The sign convention is Brevitas' ``binary_sign``: x >= 0 maps to +1 (FINN's bit 1),
x < 0 to -1 (bit 0). The residual stream has a constant power-of-two scale and the multi-bit weights
a learned power-of-two scale, for the same reason (``hw_bnn.models.cifar``).
"""

from brevitas.core.restrict_val import RestrictValueType
from brevitas.core.scaling import ScalingImplType
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from brevitas.quant.fixed_point import Int8WeightPerTensorFixedPoint
from brevitas.quant.scaled_int import Int8ActPerTensorFloat


class BipolarWeight(SignedBinaryWeightPerTensorConst):
    """Weights sign(w) in {-1, +1}; latent weights are clipped to [-1, 1] in place (STE)."""

    scaling_const = 1.0


class BipolarAct(SignedBinaryActPerTensorConst):
    """Activations sign(x) in {-1, +1}; the gradient passes where |x| <= 1 (clipped STE)."""

    scaling_const = 1.0


def stream_quantizer(bits: int) -> type:
    """Brevitas quantizer of a residual stream: ``bits``-bit signed fixed point on [-1, 1), scale 2^-(bits-1).

    The scale is a constant power of two, so the codes of every tensor on the stream, and the sum of
    two of them, are exact integers in PyTorch as in hardware.
    """
    if not isinstance(bits, int) or bits < 2:
        from hw_bnn.errors import HwBnnError

        raise HwBnnError(f"residual stream bits must be an integer >= 2, got {bits!r} (model.options.residual_bits)")
    return type(f"Stream{bits}bit", (Int8ActPerTensorFloat,), {
        "bit_width": bits, "scaling_impl_type": ScalingImplType.CONST,
        "restrict_scaling_type": RestrictValueType.POWER_OF_TWO,
        "scaling_const": 1.0, "max_val": 1.0, "min_val": -1.0})


def int_weight_quantizer(bits: int) -> type:
    """``bits``-bit weights with a learned power-of-two scale and a symmetric (narrow) range, so that
    negating a weight column (done when a BatchNorm scale is negative) stays in range."""
    if not isinstance(bits, int) or bits < 2:
        from hw_bnn.errors import HwBnnError

        raise HwBnnError(f"weight bits must be an integer >= 2, got {bits!r} (model.options.weight_bits)")
    return type(f"IntWeight{bits}bit", (Int8WeightPerTensorFixedPoint,), {"bit_width": bits, "narrow_range": True})
