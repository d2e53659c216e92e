"""The integer semantics of per-sample (per-frame) thresholds, in numpy: SD-BNN's squeeze-excitation
ASD and DyBNN's dynamic RSign/RPReLU (seed_methods §2.7, §3.5).

One definition, shared by the QONNX custom ops' execution, the PyTorch deployment form, and the
tests of the RTL modules and HLS kernels. A dynamic layer binarises its integer map ``acc``
(the XNOR popcounts, or integer sums, of one frame: PIXELS x C) with thresholds that depend on
the frame itself, in four steps:

1. ``pool_sums``: S[c] = sum over the frame's pixels of acc[p, c].
2. ``hyper_function``: from S, the fixed-point hyper-function of the QAT model, every step an
   integer operation (FINN MultiThreshold semantics: ``count(x >= T)`` over sorted thresholds):

       p[c]   = count(POOL_SIGN[c] * S[c] >= POOL_T[c, :]) + POOL_OFFSET   (quantised pooled input)
       a1[j]  = sum_c W1[j, c] * p[c]
       h[j]   = count(a1[j] >= HID_T[j, :])                                 (quantised ReLU)
       a2[i]  = sum_j W2[i, j] * h[j]
       code[i]= count(a2[i] >= OUT_T[i, :])                                 (quantised bounded output)
       index[c] = sum_k code[k * C + c] * (NO + 1) ** (HEADS - 1 - k)       (HEADS codes per channel)
       T[c]   = TABLE[c, index[c]]

   SD-BNN has one head (the quantised sigmoid); DyBNN three (its RPReLU input shift, output
   shift and RSign threshold), combined by the table, which holds the exact per-channel
   threshold on ``acc`` for every combination of levels.
3. ``frame_threshold``: bit[p, c] = [SIGN[c] * acc[p, c] >= T[c]].

A multi-level layer (DyBNN's per-sample RPReLU on the residual stream, whose output is a multi-bit code)
has K thresholds per table entry, TABLE (C, L, K): T[c] is then a row of K and step 3 counts,
code[p, c] = #{k : SIGN[c] * acc[p, c] >= T[c, k]} (0 .. K; the caller adds the lowest code).

The frame buffer holds ``acc`` unchanged while steps 1-2 run, so it has no semantics of its own.
"""

from __future__ import annotations

import numpy as np

#: Names and order of the hyper-function's integer parameters (inputs 1.. of the QONNX op).
HYPER_PARAMS = ("pool_sign", "pool_thresholds", "w1", "hidden_thresholds", "w2", "output_thresholds", "table")


def count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """MultiThreshold: for values (..., R) and thresholds (R, K), the number of k with value >= T[r, k]."""
    return (values[..., None] >= thresholds).sum(axis=-1).astype(np.int64)


def pool_sums(acc: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) integer map -> (N, C) sums over the spatial dims ((N, C) comes back unchanged)."""
    acc = np.asarray(acc, dtype=np.int64)
    return acc.reshape(acc.shape[0], -1, acc.shape[-1]).sum(axis=1)


def hyper_codes(sums: np.ndarray, pool_sign, pool_thresholds, pool_offset: int, w1, hidden_thresholds, w2,
                output_thresholds) -> np.ndarray:
    """(N, C) pool sums -> (N, I) output codes in [0, NO] (steps of the module docstring)."""
    sums = np.asarray(sums, dtype=np.int64)
    pooled = count_at_least(sums * np.asarray(pool_sign, dtype=np.int64), np.asarray(pool_thresholds)) + pool_offset
    hidden = count_at_least(pooled @ np.asarray(w1, dtype=np.int64).T, np.asarray(hidden_thresholds))
    return count_at_least(hidden @ np.asarray(w2, dtype=np.int64).T, np.asarray(output_thresholds))


def table_index(codes: np.ndarray, channels: int, levels: int) -> np.ndarray:
    """(N, HEADS*C) codes (head-major) -> (N, C) table indices, the first head most significant."""
    heads = codes.shape[1] // channels
    index = np.zeros((codes.shape[0], channels), dtype=np.int64)
    for head in range(heads):
        index = index * levels + codes[:, head * channels:(head + 1) * channels]
    return index


def hyper_function(sums: np.ndarray, pool_sign, pool_thresholds, pool_offset: int, w1, hidden_thresholds, w2,
                   output_thresholds, table) -> np.ndarray:
    """(N, C) pool sums -> (N, C) per-frame thresholds T[c] on ``acc`` (int64); (N, C, K) with a 3-D table."""
    table = np.asarray(table, dtype=np.int64)
    channels = table.shape[0]
    codes = hyper_codes(sums, pool_sign, pool_thresholds, pool_offset, w1, hidden_thresholds, w2, output_thresholds)
    return table_rows(table, table_index(codes, channels, np.asarray(output_thresholds).shape[1] + 1))


def table_rows(table, index: np.ndarray) -> np.ndarray:
    """Each channel's entry of ``table`` (C, L[, K]) at the (N, C) indices: (N, C[, K])."""
    table = np.asarray(table, dtype=np.int64)
    return table[np.arange(table.shape[0])[None, :], index]


def frame_threshold(acc: np.ndarray, thresholds: np.ndarray, sign) -> np.ndarray:
    """Bits (0/1, int64) of ``acc`` (N, *spatial, C) against per-frame thresholds (N, C); with K thresholds per
    channel (N, C, K), the count #{k : s*acc >= T[c, k]} (0 .. K) instead."""
    acc = np.asarray(acc, dtype=np.int64)
    thresholds = np.asarray(thresholds, dtype=np.int64)
    per_channel = thresholds if thresholds.ndim == 3 else thresholds[..., None]
    view = (acc.shape[0],) + (1,) * (acc.ndim - 2) + per_channel.shape[1:]
    signed = acc * np.asarray(sign, dtype=np.int64)
    return (signed[..., None] >= per_channel.reshape(view)).sum(axis=-1).astype(np.int64)


def threshold_outputs(counts: np.ndarray, out_dtype: str, out_bias: int = 0) -> np.ndarray:
    """The values a layer emits for its threshold counts: ±1 (BIPOLAR), 0/1 (BINARY), or out_bias + count (an
    integer type: the codes of a multi-level layer)."""
    if out_dtype == "BIPOLAR":
        return 2 * counts - 1
    return counts if out_dtype == "BINARY" else counts + int(out_bias)


def dynamic_threshold(acc: np.ndarray, params: dict, pool_offset: int) -> np.ndarray:
    """The whole layer: (N, *spatial, C) integer map -> bits (counts 0 .. K with a 3-D table), with ``params``
    keyed by HYPER_PARAMS plus 'sign'."""
    hyper = [params[name] for name in HYPER_PARAMS]
    thresholds = hyper_function(pool_sums(acc), *hyper[:2], pool_offset, *hyper[2:])
    return frame_threshold(acc, thresholds, params["sign"])
