"""duplicate_streams.v and add_streams.v: a residual fork/join (x -> two branches -> sum) and
add_streams alone on mixed widths/signedness, against numpy, under random source gaps, sink
stalls and LFSR-gated branches (benches in tb_fork_join.v)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

TB = Path(__file__).resolve().parent / "tb_fork_join.v"
SOURCES = (TB, "duplicate_streams.v", "stream_fifo.v", "add_streams.v")
RUNS = [(1.0, 1.0), (0.5, 0.9), (0.9, 0.3), (0.3, 0.6)]  # (p_valid, p_ready) of the harness


def _full_rate(res, n: int):
    """One beat per cycle: the outputs are back to back and the whole run spans n + a few cycles."""
    assert res.out_cycles[-1] - res.out_cycles[0] == n - 1
    assert res.out_cycles[-1] - res.in_cycles[0] + 1 <= n + 8


# name: (MODE, D0, D1, SEED, GATE); MODE 0: y = x + x, MODE 1: y = x + floor(x / 2)
FORK_JOIN = {
    "x2_ungated": (0, 8, 8, 1, 0),
    "x2_gated": (0, 8, 4, 0xACE1, 2),
    "xhalf_gated": (1, 4, 16, 7, 1),
    "x2_fifo1_gated": (0, 1, 1, 0x0BAD, 2),  # FIFOs far too small: slower, but nothing lost
}


@pytest.mark.parametrize("name", list(FORK_JOIN))
def test_fork_join(name):
    mode, d0, d1, seed, gate = FORK_JOIN[name]
    pe, w = 2, 8
    sim = Sim("tb_fork_join", dict(PE=pe, W=w, D0=d0, D1=d1, SEED=seed, GATE=gate, MODE=mode), sources=SOURCES)
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.integers(-(1 << (w - 1)), 1 << (w - 1), size=(300, pe))
    x[:4] = [[-128, 127], [-1, 0], [127, -128], [1, -2]]
    want = x + x if mode == 0 else x + (x >> 1)
    beats = pack_beats(x, w)
    for run_i, (pv, pr) in enumerate(RUNS):
        res = sim.run(beats, n_out=len(beats), seed=run_i, p_valid=pv, p_ready=pr, idle_limit=2000)
        got = np.array(unpack_beats(res.out, pe, w + 1, signed=True))
        assert np.array_equal(got, want), (run_i, np.argwhere(got != want)[:3])
        if run_i == 0 and gate == 0 and min(d0, d1) >= 4:
            _full_rate(res, len(beats))


def test_fork_join_small_fifos_only_cost_throughput():
    """Ungated, full rate: FIFOs of one beat still deliver every sum in order, only slower."""
    x = np.random.default_rng(5).integers(-128, 128, size=(200, 2))
    beats = pack_beats(x, 8)
    spans = {}
    for d in (1, 2, 8):
        sim = Sim("tb_fork_join", dict(PE=2, W=8, D0=d, D1=d, SEED=1, GATE=0, MODE=0), sources=SOURCES)
        res = sim.run(beats, n_out=len(beats), idle_limit=2000)
        assert np.array_equal(np.array(unpack_beats(res.out, 2, 9, signed=True)), 2 * x), d
        spans[d] = res.out_cycles[-1] - res.in_cycles[0] + 1
    assert spans[8] <= len(beats) + 8
    assert spans[1] > spans[8] + len(beats) // 4  # a FIFO of one beat cannot stream back to back


def _sum_width(a_w, a_s, b_w, b_s):
    """Narrowest (OUT_W, OUT_SIGNED) that holds every a + b."""
    lo = (-(1 << (a_w - 1)) if a_s else 0) + (-(1 << (b_w - 1)) if b_s else 0)
    hi = ((1 << (a_w - 1)) - 1 if a_s else (1 << a_w) - 1) + ((1 << (b_w - 1)) - 1 if b_s else (1 << b_w) - 1)
    if lo >= 0:
        return max(1, hi.bit_length()), 0
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
        w += 1
    return w, 1


# name: (PE, A_W, A_SIGNED, B_W, B_SIGNED, extra OUT_W bits beyond the narrowest)
ADD = {
    "u4_plus_s8": (3, 4, 0, 8, 1, 0),
    "s8_plus_u4": (2, 8, 1, 4, 0, 0),
    "u1_plus_u1": (1, 1, 0, 1, 0, 0),
    "s1_plus_u3": (4, 1, 1, 3, 0, 0),
    "s6_plus_s6_wide_out": (4, 6, 1, 6, 1, 5),
    "u7_plus_u5_signed_out": (2, 7, 0, 5, 0, 1),
    "s32_plus_s32": (4, 32, 1, 32, 1, 0),
    "u16_plus_s3": (2, 16, 0, 3, 1, 0),
}


@pytest.mark.parametrize("name", list(ADD))
def test_add_streams(name):
    pe, a_w, a_s, b_w, b_s, extra = ADD[name]
    out_w, out_s = _sum_width(a_w, a_s, b_w, b_s)
    out_w += extra
    out_s = 1 if extra else out_s  # wider than needed: read back as signed (sign bits all equal)
    params = dict(PE=pe, A_W=a_w, A_SIGNED=a_s, B_W=b_w, B_SIGNED=b_s, OUT_W=out_w, OUT_SIGNED=out_s,
                  SEED=sum(map(ord, name)), GATE=2, D=3)
    sim = Sim("tb_add_split", params, sources=SOURCES)
    rng = np.random.default_rng(sum(map(ord, name)))
    n = 250

    def operand(bits, signed):
        lo, hi = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
        v = rng.integers(lo, hi, size=(n, pe))
        v[:2] = [lo] * pe, [hi - 1] * pe  # the extremes, both operands at once
        return v

    a, b = operand(a_w, a_s), operand(b_w, b_s)
    beats = [(bb << (pe * a_w)) | aa for aa, bb in zip(pack_beats(a, a_w), pack_beats(b, b_w))]
    want = a + b
    for run_i, (pv, pr) in enumerate(RUNS):
        res = sim.run(beats, n_out=n, seed=run_i + 10, p_valid=pv, p_ready=pr, idle_limit=2000)
        got = np.array(unpack_beats(res.out, pe, out_w, signed=bool(out_s)))
        assert np.array_equal(got, want), (run_i, np.argwhere(got != want)[:3])


def test_add_streams_full_rate():
    """Ungated operands at full rate: one sum per cycle."""
    params = dict(PE=3, A_W=4, A_SIGNED=0, B_W=8, B_SIGNED=1, OUT_W=9, OUT_SIGNED=1, SEED=1, GATE=0, D=4)
    sim = Sim("tb_add_split", params, sources=SOURCES)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 16, size=(200, 3)), rng.integers(-128, 128, size=(200, 3))
    beats = [(bb << 12) | aa for aa, bb in zip(pack_beats(a, 4), pack_beats(b, 8))]
    res = sim.run(beats, n_out=len(beats))
    assert np.array_equal(np.array(unpack_beats(res.out, 3, 9, signed=True)), a + b)
    _full_rate(res, len(beats))
