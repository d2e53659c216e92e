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
  FINN's ``MW x MH`` initializer.  A memory deeper than :data:`UNPACKED_ROM_WORDS` is stored
  ``pack`` beats to a word (``mvau.v`` ``WEIGHT_PACK``, :func:`param_rom_pack`): ``SF*NF/pack`` words of
  ``pack`` beat words side by side, beat ``g*pack + j`` at bits ``[j*beat_bits, +beat_bits)`` of word ``g``.
* Thresholds (``mvau.v`` ``THRESH_FILE``, ``thresholding.v`` ``THRESH_FILE``):
  ``NF`` words of ``PE*N*width`` bits; word ``nf`` holds at bits
  ``[(p*N + n)*width, +width)`` threshold ``T[nf*PE + p, n]``.  ``T`` is
  FINN's ``channels x N`` threshold initializer (a single row is broadcast to
  all channels, as FINN does).
* Output table (``thresholding.v`` ``THRESH_FILE`` with ``LOOKUP = 1``, one row of thresholds shared by
  every channel): ``2**in_width`` words of ``out_width`` bits; word ``a`` holds the output for the input
  whose ``in_width``-bit pattern is ``a`` (two's complement when signed), :func:`output_table`.

Feature modules write their own memories with :func:`write_memh` (AdaBin's parameters:
``hw_bnn.features.adabin.memfiles``; the dynamic thresholds': ``hw_bnn.features.dynamic_threshold.memfiles``).
"""

from __future__ import annotations

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


#: The deepest parameter ROM stored one beat to a word: 16,384, the depth of the deepest block-RAM shape
#: (ECP5 DP16KD and 7-series RAMB18 at 1 bit). A deeper one is cascaded in depth, and the multiplexer
#: behind the block RAMs' unregistered outputs set Fmax (the fully folded demo's 200,704-word MVAU_0
#: weights in 13 DP16KD: 86.9 MHz on ECP5); ``packed_param_rom.v`` stores such a memory several beats to
#: a word instead.
UNPACKED_ROM_WORDS = 16384

#: Words of a packed ROM at most: 2,048, the deepest block-RAM shape that keeps all 18 Kbit (2048 x 9), so
#: packing takes no more block RAMs and the fewest bits per word (each costs a shift-register stage).
PACKED_ROM_WORDS = 2048

#: Packing is not used when the smallest divisor that makes the memory shallow enough is more than this
#: many times the quotient it needs (a prime depth would need one word holding every beat).
MAX_PACK_WASTE = 4


def param_rom_pack(words: int, ram_style: str = "auto") -> int:
    """Beats per memory word of a cyclic parameter ROM of ``words`` beats (1: unpacked).

    LUT memories (``distributed``) and memories of at most :data:`UNPACKED_ROM_WORDS` words stay
    unpacked; otherwise the smallest divisor of ``words`` that leaves at most :data:`PACKED_ROM_WORDS`
    words, if it is within :data:`MAX_PACK_WASTE` times the least packing that would."""
    if ram_style == "distributed" or words <= UNPACKED_ROM_WORDS:
        return 1
    least = -(-words // PACKED_ROM_WORDS)
    for pack in range(least, MAX_PACK_WASTE * least + 1):
        if words % pack == 0:
            return pack
    return 1


def pack_words(words: list[int], beat_bits: int, pack: int) -> list[int]:
    """``packed_param_rom.v``'s memory words: ``pack`` consecutive beat words side by side, the first in
    the low bits."""
    if len(words) % pack:
        raise ValueError(f"{len(words)} beat words do not divide into groups of {pack}")
    return [sum(int(w) << (j * beat_bits) for j, w in enumerate(words[g:g + pack]))
            for g in range(0, len(words), pack)]


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


def write_mvau_weights(path, W, pe: int, simd: int, weight_width: int = 1, pack: int = 1) -> None:
    """Write the ``mvau.v`` weight file for FINN's MVAU weight initializer ``W`` (MW x MH), ``pack`` beats
    to a word (``mvau.v`` ``WEIGHT_PACK``).

    ``W`` holds bipolar (-1/+1) or, in XNOR mode, binary (0/1) values (``weight_width`` 1), or
    integers of ``weight_width`` bits.
    """
    beat_bits = pe * simd * weight_width
    write_memh(path, pack_words(mvau_weight_words(W, pe, simd, weight_width), beat_bits, pack), pack * beat_bits)


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


def output_table(thresholds, in_width: int, signed: bool, act_bias: int, out_width: int) -> list[int]:
    """The outputs of one row of integer ``thresholds`` for every ``in_width``-bit input, indexed by the
    input's bit pattern: ``act_bias + #{n : x >= thresholds[n]}`` modulo ``2**out_width``, the count
    ``threshold_count.v`` makes, so a table unit and a counting unit agree on every input."""
    patterns = np.arange(1 << in_width)
    x = patterns - (patterns >> (in_width - 1) << in_width) if signed else patterns
    counts = (x[:, None] >= np.asarray(thresholds, dtype=np.int64)[None, :]).sum(axis=1)
    return [int(v) for v in (act_bias + counts) % (1 << out_width)]


def write_output_table(path, thresholds, in_width: int, signed: bool, act_bias: int, out_width: int) -> None:
    """Write ``thresholding.v``'s table (``LOOKUP = 1``) for one row of integer ``thresholds``."""
    write_memh(path, output_table(thresholds, in_width, signed, act_bias, out_width), out_width)
