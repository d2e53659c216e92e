"""The parameter memory of ``adabin_threshold.v`` (``PARAM_FILE``), ``$readmemh`` text as every hls/rtl memory.

``NF`` words of ``PE*PW`` bits, ``PW = 2*coef_w + 2*thr_w + 3``; word ``nf`` holds at bits
``[p*PW, +PW)`` the fields of channel ``nf*PE + p``, from the LSB: ``A`` (``coef_w`` bits), ``B``
(``coef_w``), ``T0`` (``thr_w``), ``T1`` (``thr_w``), ``DECODE`` (3 bits): the rows of the ``(C, 5)``
table of :mod:`hw_bnn.features.adabin.reference` (``PARAM_FIELDS``).
"""

from __future__ import annotations

import numpy as np

from hw_bnn.features.adabin.reference import PARAM_FIELDS
from hw_bnn.rtl.memfiles import write_memh

def adabin_param_words(params, pe: int, coef_w: int, thr_w: int) -> list[int]:
    """Words of the ``adabin_threshold.v`` parameter memory (see the module docstring).

    ``params`` is the ``(C, 5)`` integer table ``[A, B, T0, T1, DECODE]`` per channel (Python
    ints or integer arrays; object arrays for values beyond int64).  A, B must fit ``coef_w``
    signed bits, T0, T1 ``thr_w`` signed bits and DECODE 0 .. 7, else ValueError.
    """
    table = np.asarray(params, dtype=object)
    if table.ndim != 2 or table.shape[1] != len(PARAM_FIELDS):
        raise ValueError(f"AdaBin parameters must be a (C, {len(PARAM_FIELDS)}) table, got shape {table.shape}")
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
        for name, v, w in zip(PARAM_FIELDS, row, widths):
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
