"""Stream packing in FINN's convention: element 0 of a beat in the least significant bits."""

from __future__ import annotations

import numpy as np


def pack_beats(elems, width: int) -> list[int]:
    """Pack a 2-D array (beats x elements) of integers into beat integers.

    Element ``i`` of a beat occupies bits ``[i*width, (i+1)*width)``; negative values are
    stored in two's complement. Beats of up to 63 bits are packed with numpy, wider ones
    with Python's unbounded integers.
    """
    elems = np.asarray(elems, dtype=np.int64)
    if elems.ndim != 2:
        raise ValueError(f"expected beats x elements, got shape {elems.shape}")
    fields = elems & ((1 << width) - 1)
    if elems.shape[1] * width <= 63:
        shifts = np.arange(elems.shape[1], dtype=np.int64) * width
        return [int(v) for v in (fields << shifts).sum(axis=1)]
    return [sum(int(e) << (i * width) for i, e in enumerate(row)) for row in fields.tolist()]


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
