"""global_acc_pool.v (FINN ``GlobalAccPool``) and channelwise_op.v (FINN ``ElementwiseAdd`` /
``ElementwiseMul`` with a constant per-channel right-hand side) against FINN's python execution of
the node, with FINN's datatypes; random valid gaps and ready stalls, several frames back to back.

One Verilator build per case; every rate runs new random inputs through it.
"""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType

import finn_ref
from hw_bnn.intwidth import signed_width
from hw_bnn.rtl.memfiles import write_thresholds
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

#: (p_valid, p_ready) of the runs: full rate first, then back-pressure at either end and both
RATES = [(1.0, 1.0), (0.5, 0.7), (0.95, 0.3), (0.3, 0.95), (1.0, 0.1)]


def random_in(rng, dt: DataType, shape) -> np.ndarray:
    """Random integers over the whole range of ``dt``."""
    return rng.integers(int(dt.min()), int(dt.max()) + 1, shape)


def in_range(values, dt: DataType) -> bool:
    return bool(dt.min() <= values.min() and values.max() <= dt.max())


# ---- global_acc_pool: FINN GlobalAccPool ----

# name: (C, PE, H, W, idt)
POOL_CASES = {
    "int4_pe2_3x3": (4, 2, 3, 3, "INT4"),
    "uint8_pe_eq_c": (6, 6, 2, 2, "UINT8"),
    "int8_pe1_4x2": (5, 1, 4, 2, "INT8"),
    "uint4_pe1_1px": (3, 1, 1, 1, "UINT4"),  # one pixel: a frame is NF beats, sums leave at the input rate
    "int6_nf4_1px": (8, 2, 1, 1, "INT6"),
    "binary_1x3": (2, 1, 1, 3, "BINARY"),
    "int3_c16_7x7": (16, 4, 7, 7, "INT3"),
    "int2_minimal": (1, 1, 1, 1, "INT2"),
}


@pytest.mark.parametrize("name", list(POOL_CASES))
def test_global_acc_pool_matches_finn(name):
    c, pe, h, w, idt = POOL_CASES[name]
    dt = DataType[idt]
    nf, n_pix, frames = c // pe, h * w, 5
    rng = np.random.default_rng(sum(map(ord, name)))
    _, odt_name = finn_ref.global_acc_pool(np.zeros((1, h, w, c)), pe=pe, idt=idt)
    odt = DataType[odt_name]
    # the output width is FINN's output datatype's; the sums are signed iff the input is
    assert odt.signed() == dt.signed() and odt.bitwidth() >= dt.bitwidth()
    sim = Sim("global_acc_pool", dict(C=c, PE=pe, N_PIX=n_pix, IN_W=dt.bitwidth(), IN_SIGNED=int(dt.signed()),
                                      OUT_W=odt.bitwidth()))
    for k, (p_valid, p_ready) in enumerate(RATES):
        x = random_in(rng, dt, (frames, h, w, c))
        x[1] = dt.min() if k % 2 else dt.max()  # the extreme sums of FINN's output range
        want, odt_k = finn_ref.global_acc_pool(x, pe=pe, idt=idt)
        assert odt_k == odt_name
        want = want.astype(np.int64)
        assert in_range(want, odt) and np.array_equal(want[:, 0, 0, :], x.sum(axis=(1, 2)))
        beats = pack_beats(x.reshape(-1, pe), dt.bitwidth())  # FINN folded (N, H, W, NF, PE), pixel-major
        res = sim.run(beats, frames * nf, seed=k, p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(res.out, pe, odt.bitwidth(), signed=odt.signed())).reshape(want.shape)
        assert np.array_equal(got, want), (k, np.argwhere(got != want)[:3])
        if k == 0:
            # full rate: N_PIX*NF cycles per frame, no gap between frames, ...
            assert res.in_cycles[-1] - res.in_cycles[0] == len(beats) - 1
            # ... sum nf of a frame 2 cycles after beat nf of its last pixel, the NF sums back to back
            completing = [(f * n_pix + n_pix - 1) * nf + g for f in range(frames) for g in range(nf)]
            assert [res.out_cycles[i] - res.in_cycles[j] for i, j in enumerate(completing)] == [2] * len(completing)


def test_global_acc_pool_holds_the_sums_under_a_stopped_sink():
    """The sink stops for long stretches: the first pixel of the next frame waits for the sums it would
    overwrite, nothing is lost or duplicated (one pixel per frame, the tightest case)."""
    c, pe, idt = 6, 2, "INT5"
    dt = DataType[idt]
    _, odt_name = finn_ref.global_acc_pool(np.zeros((1, 1, 1, c)), pe=pe, idt=idt)
    odt = DataType[odt_name]
    sim = Sim("global_acc_pool", dict(C=c, PE=pe, N_PIX=1, IN_W=dt.bitwidth(), IN_SIGNED=1, OUT_W=odt.bitwidth()))
    rng = np.random.default_rng(3)
    x = random_in(rng, dt, (40, 1, 1, c))
    want = finn_ref.global_acc_pool(x, pe=pe, idt=idt)[0].astype(np.int64)
    res = sim.run(pack_beats(x.reshape(-1, pe), dt.bitwidth()), want.size // pe, seed=9, p_valid=1.0, p_ready=0.02)
    got = np.array(unpack_beats(res.out, pe, odt.bitwidth(), signed=True)).reshape(want.shape)
    assert np.array_equal(got, want)


# ---- channelwise_op: FINN ElementwiseAdd / ElementwiseMul, rhs_style "const" ----

# name: (C, PE, idt, op, constants' lo, hi, per-tensor constant)
CW_CASES = {
    "add_int4_pe2": (4, 2, "INT4", "Add", -8, 7, False),
    "mul_uint8_negative": (6, 3, "UINT8", "Mul", -5, 5, False),
    "mul_sign_flip_pe_eq_c": (8, 8, "INT6", "Mul", -1, 1, False),
    "add_uint4_positive_pe1": (5, 1, "UINT4", "Add", 1, 20, False),
    "sub_uint4_negative_pe1": (5, 1, "UINT4", "Add", -20, -1, False),
    "mul_binary_pe1": (3, 1, "BINARY", "Mul", -100, 100, False),
    "add_int8_wide": (16, 4, "INT8", "Add", -1000, 1000, False),
    # FINN executes in float32: products stay below 2**24 to be exact there
    "mul_int12": (4, 2, "INT12", "Mul", -2000, 2000, False),
    "mul_uint8_positive": (4, 4, "UINT8", "Mul", 0, 9, False),
    "add_int6_per_tensor": (6, 2, "INT6", "Add", -13, -13, True),
}


@pytest.mark.parametrize("name", list(CW_CASES))
def test_channelwise_op_matches_finn(name):
    c, pe, idt, op, lo, hi, scalar = CW_CASES[name]
    dt = DataType[idt]
    nf = c // pe
    rng = np.random.default_rng(sum(map(ord, name)))
    const = np.array([lo]) if scalar else rng.integers(lo, hi + 1, c)
    if not scalar:
        const[:2] = lo, hi  # both ends of the range: FINN's constant datatype is deterministic
    probe = np.zeros((1, 1, c))
    _, rhs_name, out_name = finn_ref.elementwise_const(probe, const, op=op, pe=pe, idt=idt)
    rdt, odt = DataType[rhs_name], DataType[out_name]
    values = np.broadcast_to(const, (c,))
    param_w = signed_width(values)
    assert param_w <= max(2, rdt.bitwidth() + (not rdt.signed()))  # no wider than FINN's constant type
    params = dict(C=c, PE=pe, IN_W=dt.bitwidth(), IN_SIGNED=int(dt.signed()), PARAM_W=param_w,
                  OUT_W=odt.bitwidth(), OUT_SIGNED=int(odt.signed()), OP=int(op == "Mul"))
    sim = Sim("channelwise_op", params, mem_params=("PARAM_FILE",))
    # one constant per channel: the layout of a threshold memory with one threshold per channel
    write_thresholds(sim.mem_path("PARAM_FILE"), np.asarray(values)[:, None], pe, param_w)
    for k, (p_valid, p_ready) in enumerate(RATES):
        x = random_in(rng, dt, (3, 4, 5, c))  # 3 frames of 4x5 pixels
        x[0, 0] = dt.min()
        x[0, 1] = dt.max()
        want, _, out_k = finn_ref.elementwise_const(x, const, op=op, pe=pe, idt=idt)
        assert out_k == out_name
        want = want.astype(np.int64)
        assert in_range(want, odt), (want.min(), want.max(), out_name)
        assert np.array_equal(want, x + values if op == "Add" else x * values)
        beats = pack_beats(x.reshape(-1, pe), dt.bitwidth())  # FINN folded (..., NF, PE)
        res = sim.run(beats, len(beats), seed=k, p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(res.out, pe, odt.bitwidth(), signed=odt.signed())).reshape(want.shape)
        assert np.array_equal(got, want), (k, np.argwhere(got != want)[:3])
        if k == 0:  # full rate: one beat (NF per pixel) per cycle, latency 1
            assert res.in_cycles[-1] - res.in_cycles[0] == len(beats) - 1
            assert [o - i for o, i in zip(res.out_cycles, res.in_cycles)] == [1] * len(beats)
    assert len(beats) == x.size // c * nf


def test_channelwise_param_file_layout(tmp_path):
    """Word nf holds channel nf*PE + p at bits [p*PARAM_W +: PARAM_W], two's complement."""
    path = tmp_path / "p.mem"
    values = np.array([-1, 2, -8, 7, 0, -3])
    assert signed_width(values) == 4
    write_thresholds(path, values[:, None], 2, 4)
    assert path.read_text().split() == ["2f", "78", "d0"]
    with pytest.raises(ValueError):
        write_thresholds(path, values[:, None], 4, 4)
    with pytest.raises(ValueError):
        write_thresholds(path, np.array([[9]]), 1, 4)
