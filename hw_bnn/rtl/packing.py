"""Stream packing in FINN's convention: element 0 of a beat in the least significant bits."""

from __future__ import annotations

import numpy as np


def pack_beats(elems, width: int) -> list[int]:
    """Pack a 2-D array (beats x elements) of integers into beat integers.

    Element ``i`` of a beat occupies bits ``[i*width, (i+1)*width)``; negative values are
    stored in two's complement. Beats of up to 63 bits are packed into one int64 each, wider ones
    into 32-bit words with numpy (:func:`pack_words`) that become one Python integer per beat.
    """
    elems = np.asarray(elems, dtype=np.int64)
    if elems.ndim != 2:
        raise ValueError(f"expected beats x elements, got shape {elems.shape}")
    fields = elems & ((1 << width) - 1)
    if elems.shape[1] * width <= 63:
        shifts = np.arange(elems.shape[1], dtype=np.int64) * width
        return [int(v) for v in (fields << shifts).sum(axis=1)]
    if width <= 62:
        words = pack_words(elems, width)
        row_bytes = 4 * words.shape[1]
        data = words.tobytes()
        return [int.from_bytes(data[i:i + row_bytes], "little") for i in range(0, len(data), row_bytes)]
    return [sum(int(e) << (i * width) for i, e in enumerate(row)) for row in fields.tolist()]


def pack_words(elems, width: int) -> np.ndarray:
    """Pack a 2-D array (beats x elements) of integers into 32-bit words, (beats x words) ``uint32``.

    The same layout as :func:`pack_beats` (element ``i`` at bits ``[i*width, (i+1)*width)`` of the beat,
    two's complement), word ``j`` holding bits ``[32*j, 32*j + 32)``: the simulation harness's binary
    input, packed with numpy at any beat width.
    """
    elems = np.ascontiguousarray(elems, dtype=np.int64)  # a transposed (column-major) batch too
    if elems.ndim != 2:
        raise ValueError(f"expected beats x elements, got shape {elems.shape}")
    if not 1 <= width <= 62:
        raise ValueError(f"element width {width} is outside 1..62 bits")
    beats, n = elems.shape
    fields = elems & ((1 << width) - 1)
    words = max(1, -(-(n * width) // 32))
    if n * width <= 63:
        # one int64 per beat, viewed as its two little-endian words
        packed = fields[:, 0] if n == 1 else (fields << (np.arange(n, dtype=np.int64) * width)).sum(axis=1)
        return np.ascontiguousarray(np.ascontiguousarray(packed, dtype="<u8").view("<u4").reshape(beats, 2)[:, :words])
    bits = ((fields[:, :, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8).reshape(beats, n * width)
    bits = np.pad(bits, ((0, 0), (0, words * 32 - n * width)))
    return np.packbits(bits, axis=1, bitorder="little").view("<u4").reshape(beats, words)


def ints_to_words(beats) -> np.ndarray:
    """Non-negative beat integers -> (beats x words) ``uint32``, as many words as the widest needs."""
    ints = [int(b) for b in beats]
    if any(b < 0 for b in ints):
        raise ValueError("beats must be non-negative integers (two's complement within the beat)")
    words = max(1, -(-max((b.bit_length() for b in ints), default=1) // 32))
    data = b"".join(b.to_bytes(4 * words, "little") for b in ints)
    return np.frombuffer(data, dtype="<u4").reshape(len(ints), words)


def unpack_beats(beats, n_elems: int, width: int, signed: bool = False) -> list[list[int]]:
    """Inverse of :func:`pack_beats`; returns a list of lists of ints."""
    mask = (1 << width) - 1
    rows = []
    for beat in beats:
        row = [(int(beat) >> (i * width)) & mask for i in range(n_elems)]
        if signed:
            row = [e - (1 << width) if e >> (width - 1) else e for e in row]
        rows.append(row)
    return rows
