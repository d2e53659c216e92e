"""width_converter.v: FINN StreamingDataWidthConverter element order (LSB-first re-chunking)."""

from __future__ import annotations

import numpy as np
import pytest

from hw_bnn.rtl.verilator import Sim


def rechunk(beats, in_w, out_w):
    """The same bit sequence (beat 0 first, LSBs first) cut into out_w-bit beats."""
    total = 0
    for i, b in enumerate(beats):
        total |= b << (i * in_w)
    n = len(beats) * in_w // out_w
    return [(total >> (i * out_w)) & ((1 << out_w) - 1) for i in range(n)]


@pytest.mark.parametrize("in_w,out_w", [(8, 2), (12, 4), (2, 6), (3, 12), (6, 6), (96, 32)])
def test_width_converter(in_w, out_w):
    sim = Sim("width_converter", dict(IN_W=in_w, OUT_W=out_w))
    rng = np.random.default_rng(in_w * 100 + out_w)
    n_in = 240 if in_w < out_w else 60
    beats = [int.from_bytes(rng.bytes((in_w + 7) // 8), "little") & ((1 << in_w) - 1) for _ in range(n_in)]
    want = rechunk(beats, in_w, out_w)
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.8), (0.9, 0.3)]):
        res = sim.run(beats, n_out=len(want), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == want, run_i
        if run_i == 0:
            # the narrow side moves one beat per cycle
            narrow = res.out_cycles if in_w > out_w else res.in_cycles
            assert narrow[-1] - narrow[0] == len(narrow) - 1


@pytest.mark.parametrize("n_elems, width", [(1, 8), (4, 3), (8, 8), (40, 2), (72, 1), (3, 33), (2, 40)])
def test_packing_round_trip(n_elems, width):
    """One-int64 (<= 63-bit beats), word-array and unbounded-integer packing agree with the element layout,
    and with each other, for row- and column-major batches."""
    from hw_bnn.rtl.packing import pack_beats, pack_words, unpack_beats

    rng = np.random.default_rng(width)
    elems = rng.integers(-(1 << (width - 1)), 1 << (width - 1), size=(5, n_elems))
    beats = pack_beats(elems, width)
    assert beats[0] & ((1 << width) - 1) == int(elems[0, 0]) & ((1 << width) - 1)
    assert np.array_equal(unpack_beats(beats, n_elems, width, signed=True), elems)
    assert pack_beats(np.asfortranarray(elems), width) == beats
    if width <= 62:
        words = pack_words(np.asfortranarray(elems), width)
        assert [int.from_bytes(row.tobytes(), "little") for row in words] == beats
