"""The integer semantics of AdaBin's combine-and-threshold unit, in numpy.

One function, shared by the QONNX custom op's execution, the PyTorch deployment form, and the
tests of the RTL module and the HLS kernel, so that all of them are checked against one definition.

Per output channel c and vector (pixel), from the two integer accumulators of an XNOR unit that
also counts its input (seed_methods §5.6):

    L     = A[c] * acc_x[c] + B[c] * acc_a          (exact integer arithmetic)
    count = [L >= T0[c]] + [L >= T1[c]]             (0, 1 or 2)
    bit   = (DECODE[c] >> count) & 1

``acc_x`` is the channel's XNOR popcount P^x (or, for integer inputs, the bipolar-weighted sum) and
``acc_a`` the count of the input window, P^a (or the plain sum of integer inputs). A channel that
folds to a single threshold has T1 unreachable and DECODE 0b010 (bit = [L >= T0]); two reachable
thresholds and a decode map a non-monotone Maxout exactly (e.g. DECODE 0b101: bit = [L < T0 or
L >= T1]).
"""

from __future__ import annotations

import numpy as np

#: Column order of the (C, 5) integer parameter table.
PARAM_FIELDS = ("A", "B", "T0", "T1", "DECODE")


def adabin_threshold_reference(acc_x: np.ndarray, acc_a: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Bits (0/1, int64) of shape ``acc_x.shape`` for accumulators ``acc_x`` (..., C), ``acc_a`` (..., 1).

    ``params`` is the (C, 5) integer table [A, B, T0, T1, DECODE] (Python ints or int64; callers with
    wider values than int64 must use object arrays).
    """
    params = np.asarray(params)
    acc_x = np.asarray(acc_x).astype(params.dtype)
    acc_a = np.asarray(acc_a).astype(params.dtype)
    a, b, t0, t1, decode = (params[:, i] for i in range(5))
    level = a * acc_x + b * acc_a
    count = (level >= t0).astype(np.int64) + (level >= t1).astype(np.int64)
    return (decode.astype(np.int64) >> count) & 1
