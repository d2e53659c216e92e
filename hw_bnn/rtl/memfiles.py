"""Memory-initialisation files for the hls/rtl modules.

All files are ``$readmemh`` text: one hexadecimal word per line, word 0 first,
no address markers.  Inside a word, element ``i`` sits in the bits
``[i*w, (i+1)*w)`` (element 0 in the least significant bits, FINN's packing
order); signed values are two's complement.

Layouts (``PE``/``SIMD`` as in the FINN node, ``SF = MW/SIMD``,
``NF = MH/PE`` or ``NF = NumChannels/PE``):

* MVAU weights (``mvau.v`` ``WEIGHT_FILE``): ``SF*NF`` words of
  ``PE*SIMD*ww`` bits (``ww`` = ``weight_width``, ``mvau.v`` ``WEIGHT_W``);
  word ``nf*SF + sf`` holds at bits ``[(p*SIMD + s)*ww, +ww)`` the weight
  ``W[sf*SIMD + s, nf*PE + p]``: for ``ww`` 1 as one bit (1 = +1 / binary 1,
  0 = -1 / binary 0), else as a ``ww``-bit two's complement integer.  ``W`` is
  FINN's ``MW x MH`` initializer.
* Thresholds (``mvau.v`` ``THRESH_FILE``, ``thresholding.v`` ``THRESH_FILE``):
  ``NF`` words of ``PE*N*width`` bits; word ``nf`` holds at bits
  ``[(p*N + n)*width, +width)`` threshold ``T[nf*PE + p, n]``.  ``T`` is
  FINN's ``channels x N`` threshold initializer (a single row is broadcast to
  all channels, as FINN does).
* AdaBin parameters (``adabin_threshold.v`` ``PARAM_FILE``): ``NF`` words of
  ``PE*PW`` bits, ``PW = 2*coef_w + 2*thr_w + 3``; word ``nf`` holds at bits
  ``[p*PW, +PW)`` the fields of channel ``nf*PE + p``, from the LSB: ``A``
  (``coef_w`` bits), ``B`` (``coef_w``), ``T0`` (``thr_w``), ``T1``
  (``thr_w``), ``DECODE`` (3 bits); the rows of the ``(C, 5)`` table of
  ``hw_bnn/custom_op/adabin_reference.py`` (``PARAM_FIELDS``).
"""

from __future__ import annotations

import math

import numpy as np

from hw_bnn.io import write_text
from hw_bnn.rtl.packing import pack_beats


def write_memh(path, words, width: int) -> None:
    """Write integer ``words`` (each ``< 2**width``) as a ``$readmemh`` file."""
    ndig = max(1, (width + 3) // 4)
    lines = []
    for w in words:
        w = int(w)
        if w < 0 or w >> width:
            raise ValueError(f"memory word {w} does not fit in {width} bits")
        lines.append(f"{w:0{ndig}x}\n")
    write_text(path, "".join(lines))


def weight_bits(W) -> np.ndarray:
    """Map a bipolar (-1/+1) or binary (0/1) weight matrix to bits (1 = +1 / 1)."""
    W = np.asarray(W)
    vals = set(np.unique(W).tolist())
    if not (vals <= {-1.0, 1.0} or vals <= {0.0, 1.0}):
        raise ValueError(f"weights must be bipolar (-1/+1) or binary (0/1), got values {sorted(vals)[:8]}")
    return (W > 0).astype(np.int64)


def mvau_weight_words(W, pe: int, simd: int, weight_width: int = 1) -> list[int]:
    """Words of the MVAU weight memory (see module docstring) for ``W`` (MW x MH): bits of bipolar or
    binary weights (``weight_width`` 1), else two's complement integers of ``weight_width`` bits."""
    values = weight_bits(W) if weight_width == 1 else np.asarray(W).astype(np.int64)
    if weight_width > 1 and not (-(1 << (weight_width - 1)) <= values.min() and values.max() < 1 << (weight_width - 1)):
        raise ValueError(f"weights in [{values.min()}, {values.max()}] do not fit {weight_width} signed bits")
    mw, mh = values.shape
    if mw % simd or mh % pe:
        raise ValueError(f"SIMD={simd} must divide MW={mw} and PE={pe} must divide MH={mh}")
    sf, nf = mw // simd, mh // pe
    # b[nf, sf, p, s] = W[sf*simd + s, nf*pe + p]
    b = values.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    return pack_beats(b, weight_width)


def write_mvau_weights(path, W, pe: int, simd: int, weight_width: int = 1) -> None:
    """Write the ``mvau.v`` weight file for FINN's MVAU weight initializer ``W`` (MW x MH).

    ``W`` holds bipolar (-1/+1) or, in XNOR mode, binary (0/1) values (``weight_width`` 1), or
    integers of ``weight_width`` bits.
    """
    write_memh(path, mvau_weight_words(W, pe, simd, weight_width), pe * simd * weight_width)


def prepare_thresholds(T, channels: int, acc_min: int, acc_max: int) -> np.ndarray:
    """Make FINN thresholds exact integers for an integer accumulator in [acc_min, acc_max].

    For an integer ``acc``, ``acc >= t`` equals ``acc >= ceil(t)``; a threshold
    below ``acc_min`` is always passed and one above ``acc_max`` never, so
    clipping to ``[acc_min, acc_max + 1]`` keeps the result exact.  A single
    row is broadcast to ``channels`` rows (FINN's global threshold).
    Returns an int64 array ``channels x N``.
    """
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 2:
        raise ValueError(f"thresholds must be 2-D (channels x N), got shape {T.shape}")
    if T.shape[0] == 1 and channels != 1:
        T = np.tile(T, (channels, 1))
    if T.shape[0] != channels:
        raise ValueError(f"threshold rows {T.shape[0]} != channels {channels}")
    T = np.ceil(T)
    T = np.clip(T, acc_min, acc_max + 1)
    return T.astype(np.int64)


def signed_width(values, minimum: int = 2) -> int:
    """Smallest two's complement width that holds all ``values`` (at least ``minimum``)."""
    values = np.asarray(values, dtype=np.int64)
    w = minimum
    if values.size:
        lo, hi = int(values.min()), int(values.max())
        while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
            w += 1
    return w


def threshold_words(T, pe: int, width: int) -> list[int]:
    """Words of a threshold memory (see module docstring) for integer ``T`` (C x N)."""
    T = np.asarray(T)
    if T.dtype.kind == "f":
        if not np.all(T == np.round(T)):
            raise ValueError("thresholds must be integers; use prepare_thresholds() first")
        T = T.astype(np.int64)
    c, n = T.shape
    if c % pe:
        raise ValueError(f"PE={pe} must divide the number of channels {c}")
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if T.size and (T.min() < lo or T.max() > hi):
        raise ValueError(f"thresholds in [{T.min()}, {T.max()}] do not fit {width} signed bits")
    nf = c // pe
    rows = T.reshape(nf, pe * n)  # row nf: channel nf*pe+p, threshold n at p*n + n
    return pack_beats(rows, width)


def write_thresholds(path, T, pe: int, width: int) -> None:
    """Write a threshold file (``mvau.v`` / ``thresholding.v``) for integer ``T`` (C x N)."""
    T = np.asarray(T)
    write_memh(path, threshold_words(T, pe, width), pe * T.shape[1] * width)


def mvau_acc_bounds(mw: int, xnor: bool, in_min: int = 0, in_max: int = 1) -> tuple[int, int]:
    """Bounds of the MVAU accumulator for any weights: XNOR popcount ``[0, MW]``,
    else ``[-MW*m, MW*m]`` with ``m = max(|in_min|, |in_max|)``."""
    if xnor:
        return 0, mw
    m = max(abs(int(in_min)), abs(int(in_max)))
    return -mw * m, mw * m


def clog2(n: int) -> int:
    """Ceiling of log2 (0 for n <= 1), as Verilog's $clog2."""
    return 0 if n <= 1 else math.ceil(math.log2(n))


#: Column order of the AdaBin parameter table (PARAM_FIELDS of hw_bnn/custom_op/adabin_reference.py).
ADABIN_FIELDS = ("A", "B", "T0", "T1", "DECODE")


def adabin_param_words(params, pe: int, coef_w: int, thr_w: int) -> list[int]:
    """Words of the ``adabin_threshold.v`` parameter memory (see module docstring).

    ``params`` is the ``(C, 5)`` integer table ``[A, B, T0, T1, DECODE]`` per channel (Python
    ints or integer arrays; object arrays for values beyond int64).  A, B must fit ``coef_w``
    signed bits, T0, T1 ``thr_w`` signed bits and DECODE 0 .. 7, else ValueError.
    """
    table = np.asarray(params, dtype=object)
    if table.ndim != 2 or table.shape[1] != len(ADABIN_FIELDS):
        raise ValueError(f"AdaBin parameters must be a (C, {len(ADABIN_FIELDS)}) table, got shape {table.shape}")
    rows = [[int(v) for v in row] for row in table.tolist()]
    if any(int(v) != v for row in table.tolist() for v in row):
        raise ValueError("AdaBin parameters must be integers")
    c = len(rows)
    if c == 0 or c % pe:
        raise ValueError(f"PE={pe} must divide the number of channels {c} (>= 1)")
    widths = (coef_w, coef_w, thr_w, thr_w, 3)
    pw = 2 * coef_w + 2 * thr_w + 3
    lanes = []
    for ch, row in enumerate(rows):
        lane = 0
        off = 0
        for name, v, w in zip(ADABIN_FIELDS, row, widths):
            lo, hi = (0, 7) if name == "DECODE" else (-(1 << (w - 1)), (1 << (w - 1)) - 1)
            if not lo <= v <= hi:
                raise ValueError(f"AdaBin parameter {name} = {v} of channel {ch} does not fit "
                                 f"[{lo}, {hi}] ({w} {'unsigned' if name == 'DECODE' else 'signed'} bits)")
            lane |= (v & ((1 << w) - 1)) << off
            off += w
        lanes.append(lane)
    return [sum(lanes[nf * pe + p] << (p * pw) for p in range(pe)) for nf in range(c // pe)]


def write_adabin_params(path, params, pe: int, coef_w: int, thr_w: int) -> None:
    """Write the ``adabin_threshold.v`` parameter file for the ``(C, 5)`` table ``params``
    (``[A, B, T0, T1, DECODE]`` per channel, see :func:`adabin_param_words`)."""
    write_memh(path, adabin_param_words(params, pe, coef_w, thr_w), pe * (2 * coef_w + 2 * thr_w + 3))


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
    (``NO_ACT`` 1) and clipping thresholds (:func:`prepare_thresholds`)."""
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
