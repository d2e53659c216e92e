"""Integer widths and ranges: the bits a value, a stream or an accumulator needs.

Every width in the flow comes from here, so that a custom op's estimate, the graph pass that
annotates a datatype and the RTL emitter that sizes a port always agree.
"""

from __future__ import annotations

import math

import numpy as np
from qonnx.core.datatype import DataType


def signed_width(values, minimum: int = 2) -> int:
    """Smallest two's complement width that holds all ``values`` (at least ``minimum``)."""
    values = np.asarray(values, dtype=np.int64)
    w = minimum
    if values.size:
        lo, hi = int(values.min()), int(values.max())
        while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
            w += 1
    return w


def signed_type(low: int, high: int) -> DataType:
    """The narrowest INTn holding [low, high] (-2^(n-1) <= low, high < 2^(n-1))."""
    return DataType[f"INT{signed_width([low, high], minimum=1)}"]


def smallest_integer_type(low: int, high: int) -> DataType:
    """The narrowest INTn / UINTn holding [low, high]."""
    if low >= 0:
        return DataType[f"UINT{max(1, int(high).bit_length())}"]
    return signed_type(low, high)


def clog2(n: int) -> int:
    """Ceiling of log2 (0 for n <= 1), as Verilog's $clog2."""
    return 0 if n <= 1 else math.ceil(math.log2(n))


def mvau_acc_bounds(mw: int, xnor: bool, in_min: int = 0, in_max: int = 1) -> tuple[int, int]:
    """Bounds of the MVAU accumulator for any weights: XNOR popcount ``[0, MW]``,
    else ``[-MW*m, MW*m]`` with ``m = max(|in_min|, |in_max|)``."""
    if xnor:
        return 0, mw
    m = max(abs(int(in_min)), abs(int(in_max)))
    return -mw * m, mw * m


def mvau_acc_bounds_int(mw: int, weight_width: int, in_min: int, in_max: int) -> tuple[int, int]:
    """Bounds of the ``mvau.v`` accumulator (``XNOR`` 0) for any weights of its weight format and
    any inputs in ``[in_min, in_max]``: ``weight_width`` 1 bipolar weights (as
    :func:`mvau_acc_bounds`), else ``weight_width``-bit signed integers
    ``[-2**(ww-1), 2**(ww-1) - 1]``.  ``MW`` times the smallest / largest product of a weight
    and an input bound (FINN's ``minimize_accumulator_width(datatype_only=True)`` range for
    weightDataType ``INT<ww>``).  ``mvau.v``'s accumulator holds this range."""
    if weight_width < 1:
        raise ValueError(f"weight_width must be >= 1, got {weight_width}")
    if weight_width == 1:
        return mvau_acc_bounds(mw, False, in_min, in_max)
    w_lo, w_hi = -(1 << (weight_width - 1)), (1 << (weight_width - 1)) - 1
    corners = [w * x for w in (w_lo, w_hi) for x in (int(in_min), int(in_max))]
    return mw * min(corners), mw * max(corners)


def mvau_weight_acc_bounds(W, in_min: int, in_max: int) -> tuple[int, int]:
    """Bounds of the MVAU accumulator ``sum_i W[i, c] * x[i]`` (``XNOR`` 0) for the integer weights
    ``W`` (``MW x MH``, the values FINN multiplies: bipolar -1/+1 or integers) and any inputs in
    ``[in_min, in_max]``: the smallest channel minimum and the largest channel maximum (as qonnx's
    ``calculate_matvec_accumulator_range``, FINN's accumulator range).  For sizing ``OUT_W``
    (``NO_ACT`` 1) and clipping thresholds."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"weights must be 2-D (MW x MH), got shape {W.shape}")
    if W.dtype.kind == "f":
        if not np.all(W == np.round(W)):
            raise ValueError("weights must be integers")
    W = W.astype(np.int64)
    lo_prod = np.minimum(W * int(in_min), W * int(in_max))
    hi_prod = np.maximum(W * int(in_min), W * int(in_max))
    return int(lo_prod.sum(axis=0).min()), int(hi_prod.sum(axis=0).max())
