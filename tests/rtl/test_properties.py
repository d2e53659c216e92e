"""Property tests (hypothesis) of the stream modules of hls/rtl over their shape, folding and
threshold space: mvau.v, thresholding.v, sliding_window.v, width_converter.v, stream_fifo.v.

Oracles never share code with the RTL path: FINN's python execution of the matching HW node
(``finn_ref``) for the MVAU, the thresholds and the sliding window; plain bit arithmetic for
the width converters and FIFOs.  Every output is compared exactly, at full rate and under
random source gaps / sink stalls, and the harness fails a run on any output beat beyond the
expected count, so a lost, duplicated or reordered beat fails the property.

Cost model: every distinct set of Verilog parameters is a Verilator build (5-15 s), every run
of a build takes milliseconds.  So each hypothesis example draws the compile-time parameters
(one build) from a modest space, then draws several data cases (weights, thresholds, inputs,
stall patterns) that all reuse that build.  How many examples run comes from the hypothesis
profile that tests/conftest.py loads: few (and the same ones on every run) by default, many
more with ``--runslow``.

Hypothesis tries the simplest example first (every draw at its minimum: all-zero data), and
with a handful of examples that one counts.  So the data values are scrambled with seeded
noise (:func:`varied_ints`), the ties with the data come first among the thresholds, and the
streams are long enough to fill the units: even the simplest example checks real data.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the dev extras: pip install -e '.[dev]'")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

import finn_ref  # noqa: E402
from hw_bnn.intwidth import clog2, mvau_acc_bounds, mvau_acc_bounds_int, signed_width  # noqa: E402
from hw_bnn.rtl.memfiles import prepare_thresholds, write_mvau_weights, write_thresholds  # noqa: E402
from hw_bnn.rtl.packing import pack_beats, unpack_beats  # noqa: E402
from hw_bnn.rtl.verilator import Sim  # noqa: E402

CHAIN_BENCH = Path(__file__).resolve().parent / "tb_stream_chain.v"
#: data cases drawn per build (each run at full rate and under one drawn stall pattern)
CASES_PER_BUILD = 4
#: a stall pattern of the harness: (seed, p_valid, p_ready); 0.1 keeps the sink stalled most of the time
STALLS = st.tuples(st.integers(0, 2**31 - 1), st.sampled_from([0.9, 0.5, 0.2]), st.sampled_from([0.8, 0.4, 0.1]))
#: activations as FINN output datatypes: thresholds per channel -> [(datatype, ActVal, OUT_W)]
ACTIVATIONS = {
    1: [("BIPOLAR", 0, 1), ("BINARY", 0, 1)],
    3: [("UINT2", 0, 2), ("INT2", -2, 2)],
    7: [("UINT3", 0, 3), ("INT3", -4, 3)],
}
#: integer input datatypes of mvau.v (XNOR = 0) and thresholding.v, signed and unsigned (a signed one
#: first: hypothesis's first example takes the first of each choice)
INT_INPUTS = ["INT4", "UINT8", "INT2", "UINT2", "INT8", "UINT4"]


def dtype_range(name: str) -> tuple[int, int]:
    """Smallest and largest value of a FINN integer datatype name (BINARY, BIPOLAR, UINTn, INTn)."""
    if name == "BINARY":
        return 0, 1
    if name == "BIPOLAR":
        return -1, 1
    if name.startswith("UINT"):
        return 0, (1 << int(name[4:])) - 1
    bits = int(name[3:])
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def dtype_bits(name: str) -> int:
    """Bit width of a FINN integer datatype name."""
    return 1 if name in ("BINARY", "BIPOLAR") else int(name.removeprefix("U").removeprefix("INT"))


def run_with_memories(sim: Sim, memories: dict, beats, n_out: int, **run_args):
    """Write ``sim``'s memory files, then stream ``beats`` through it and collect ``n_out`` beats.

    ``memories`` maps a memory-file parameter (``"WEIGHT_FILE"``) to a function that writes the
    file at the path it is given.  The only place in this file that knows where a build reads
    its memory files from.
    """
    for param, write in memories.items():
        write(sim.mem_path(param))
    return sim.run(beats, n_out, **run_args)


def runs(stall):
    """The (seed, p_valid, p_ready) of a data case's two runs: full rate, then the drawn stalls."""
    return [(0, 1.0, 1.0), stall]


def assert_all_taken(res, beats, what):
    """Every input beat was accepted (the harness already fails on missing or extra output beats)."""
    assert len(res.in_cycles) == len(beats), f"{what}: {len(res.in_cycles)} of {len(beats)} input beats taken"


@st.composite
def varied_ints(draw, shape, lo: int, hi: int, salt: int = 0):
    """An int64 array of ``shape`` in [lo, hi]: hypothesis's draw plus seeded noise (modulo the range),
    so that the simplest example (all draws 0) holds varied values too; ``salt`` varies the noise
    between the cases of one example. Shrinking still goes element by element."""
    span = hi - lo + 1
    drawn = draw(arrays(np.int64, shape, elements=st.integers(0, hi - lo)))
    noise = np.random.default_rng(draw(st.integers(0, 2**32 - 1)) + salt).integers(0, span, size=shape)
    return lo + (drawn + noise) % span


@st.composite
def varied_beats(draw, n: int, width: int, salt: int = 0):
    """``n`` beats of ``width`` bits (any width), scrambled with seeded noise as :func:`varied_ints`."""
    drawn = draw(st.lists(st.integers(0, (1 << width) - 1), min_size=n, max_size=n))
    noise = random.Random(draw(st.integers(0, 2**32 - 1)) + salt)
    return [(d + noise.getrandbits(width)) % (1 << width) for d in drawn]


@st.composite
def threshold_matrix(draw, rows: int, n_thr: int, lo: int, hi: int, seen: np.ndarray):
    """FINN thresholds (rows x n_thr, floats) for integer values in [lo, hi]: exact ties with the
    values ``seen[:, row]`` that occur (the simplest choice), the ends of the range and one past
    them, values far outside (clipped by prepare_thresholds), half-integers (rounded up), sorted
    or not."""
    special = [lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, lo - 2**20, hi + 2**20]
    T = np.zeros((rows, n_thr))
    for r in range(rows):
        value = st.one_of(
            st.sampled_from(sorted(set(seen[:, r].tolist()))),
            st.sampled_from(special),
            st.integers(lo - 2, hi + 2),
            st.integers(lo - 1, hi + 1).map(lambda v: v - 0.5),
        )
        T[r] = [draw(value) for _ in range(n_thr)]
    if draw(st.booleans()):
        T = np.sort(T, axis=1)
    return T


# --------------------------------------------------------------------------- mvau.v
@dataclass(frozen=True)
class MvauBuild:
    """Compile-time parameters of one mvau.v build (FINN MVAU attributes)."""

    mw: int
    mh: int
    simd: int
    pe: int
    idt: str  # BINARY with XNOR, else an integer type
    wdt: str  # BINARY (XNOR), BIPOLAR or INTn
    n_thr: int  # 0: noActivation
    odt: str  # output datatype (INT32 with no activation: FINN's accumulator)
    act_bias: int
    out_w: int
    pack: int = 1  # weight beats per memory word (WEIGHT_PACK, packed_param_rom.v)

    @property
    def xnor(self) -> bool:
        return self.wdt == "BINARY"

    @property
    def weight_w(self) -> int:
        return dtype_bits(self.wdt) if self.wdt.startswith("INT") else 1

    def acc_bounds(self) -> tuple[int, int]:
        """Accumulator range for any weights of the weight format (the threshold range)."""
        in_lo, in_hi = dtype_range(self.idt)
        if self.xnor:
            return mvau_acc_bounds(self.mw, True)
        return mvau_acc_bounds_int(self.mw, self.weight_w, in_lo, in_hi)

    def params(self) -> dict:
        p = dict(MW=self.mw, MH=self.mh, SIMD=self.simd, PE=self.pe, XNOR=int(self.xnor),
                 IN_W=dtype_bits(self.idt), IN_SIGNED=int(self.idt.startswith("INT")),
                 NO_ACT=int(self.n_thr == 0), OUT_W=self.out_w, WEIGHT_W=self.weight_w, WEIGHT_PACK=self.pack)
        if self.n_thr:
            acc_lo, acc_hi = self.acc_bounds()
            p.update(N_THR=self.n_thr, THR_W=signed_width([acc_lo, acc_hi + 1]), ACT_BIAS=self.act_bias)
        return p


@st.composite
def mvau_builds(draw, xnor: bool):
    """An MVAU folding (SIMD | MW, PE | MH) with binary inputs and weights (``xnor``), or with
    signed/unsigned integer inputs and bipolar or INTn weights; with 1, 3 or 7 thresholds per
    channel or none (then the accumulator is the output, in a width that fits it exactly or in
    a wider, sign-extended one)."""
    simd = draw(st.sampled_from([1, 2, 3, 4, 8]))
    pe = draw(st.sampled_from([1, 2, 3, 4]))
    mw, mh = simd * draw(st.integers(1, 3)), pe * draw(st.integers(1, 3))
    idt = "BINARY" if xnor else draw(st.sampled_from(INT_INPUTS))
    wdt = "BINARY" if xnor else draw(st.sampled_from(["BIPOLAR", "INT2", "INT3", "INT4"]))
    n_thr = draw(st.sampled_from([0, 1, 3, 7]))
    build = MvauBuild(mw, mh, simd, pe, idt, wdt, n_thr, "INT32", 0, 1)
    if n_thr:
        odt, act_bias, out_w = draw(st.sampled_from(ACTIVATIONS[n_thr]))
    else:
        odt, act_bias = "INT32", 0
        acc_lo, acc_hi = build.acc_bounds()
        term_w = 1 if xnor else dtype_bits(idt) + (1 if wdt == "BIPOLAR" else build.weight_w)
        acc_w = term_w + clog2(mw + 1)  # mvau.v's ACC_W: a wider OUT_W sign-extends it
        out_w = draw(st.sampled_from([signed_width([acc_lo, acc_hi]), acc_w + 3]))
    # the weight memory one beat a word, or packed (as a memory deeper than one block RAM is)
    beats = (mw // simd) * (mh // pe)
    pack = draw(st.sampled_from([1] + [d for d in range(2, beats + 1) if beats % d == 0]))
    return MvauBuild(mw, mh, simd, pe, idt, wdt, n_thr, odt, act_bias, out_w, pack)


@st.composite
def mvau_cases(draw, b: MvauBuild, salt: int):
    """Weights, input vectors (some the vectors giving a channel's largest or smallest
    accumulator), thresholds (possibly one global row) and a stall pattern for build ``b``."""
    in_lo, in_hi = dtype_range(b.idt)
    w_lo, w_hi = dtype_range(b.wdt)
    if b.wdt == "BIPOLAR":
        W = 2 * draw(varied_ints((b.mw, b.mh), 0, 1, salt)) - 1
    else:
        W = draw(varied_ints((b.mw, b.mh), w_lo, w_hi, salt))
    if draw(st.booleans()):  # a column of the smallest and one of the largest weights
        W[:, 0], W[:, -1] = w_lo, w_hi
    n_vec = draw(st.integers(2, 5))
    x = draw(varied_ints((n_vec, b.mw), in_lo, in_hi, salt))
    for v in range(n_vec):
        kind = draw(st.sampled_from(["drawn", "acc_max", "acc_min"]))
        c = draw(st.integers(0, b.mh - 1))
        if kind != "drawn":
            if b.xnor:  # popcount MW / 0: the weight column or its complement
                x[v] = W[:, c] if kind == "acc_max" else 1 - W[:, c]
            else:
                up = (W[:, c] > 0) == (kind == "acc_max")
                x[v] = np.where(up, in_hi, in_lo)
    T = None
    if b.n_thr:
        if b.xnor:
            acc = (x[:, :, None] == W[None]).sum(axis=1)
        else:
            acc = x @ W
        rows = 1 if draw(st.booleans()) else b.mh  # one global row is broadcast by FINN
        T = draw(threshold_matrix(rows, b.n_thr, *b.acc_bounds(), seen=acc[:, :rows]))
    return W, x, T, draw(STALLS)


def check_mvau(b: MvauBuild, data):
    params = b.params()
    sim = Sim("mvau", params, mem_params=("WEIGHT_FILE", "THRESH_FILE") if b.n_thr else ("WEIGHT_FILE",))
    sf, nf = b.mw // b.simd, b.mh // b.pe
    acc_lo, acc_hi = b.acc_bounds()
    for case in range(CASES_PER_BUILD):
        W, x, T, stall = data.draw(mvau_cases(b, case))
        y = finn_ref.mvau(x, W, T, simd=b.simd, pe=b.pe, xnor=b.xnor, idt=b.idt, wdt=b.wdt,
                          odt=b.odt, actval=b.act_bias)
        want = np.asarray(y).astype(np.int64)
        if b.odt == "BIPOLAR":
            want = (want + 1) // 2  # -1/+1 -> bit 0/1
        if b.n_thr == 0:
            o_lo, o_hi = -(1 << (b.out_w - 1)), (1 << (b.out_w - 1)) - 1
            assert o_lo <= want.min() and want.max() <= o_hi, "OUT_W must hold every accumulator"
        want = want.reshape(-1, b.pe)
        memories = {"WEIGHT_FILE": lambda p: write_mvau_weights(p, W, b.pe, b.simd, b.weight_w, b.pack)}
        if b.n_thr:
            memories["THRESH_FILE"] = lambda p: write_thresholds(
                p, prepare_thresholds(T, b.mh, acc_lo, acc_hi), b.pe, params["THR_W"])
        beats = pack_beats(x.reshape(-1, b.simd), params["IN_W"])
        for seed, p_valid, p_ready in runs(stall):
            res = run_with_memories(sim, memories, beats, len(want), seed=seed, p_valid=p_valid, p_ready=p_ready)
            got = np.array(unpack_beats(res.out, b.pe, b.out_w, signed=b.n_thr == 0 or b.act_bias < 0))
            assert np.array_equal(got, want), f"{params} stalls {(p_valid, p_ready)}: rtl {got.tolist()} finn {want.tolist()}"
            assert_all_taken(res, beats, params)
            if p_valid == p_ready == 1.0:
                # FINN's cycle count: a vector every SF*NF cycles, back to back
                last = res.out_cycles[nf - 1::nf]
                assert all(q - p == sf * nf for p, q in zip(last, last[1:])), (last, sf * nf)


@given(build=mvau_builds(xnor=True), data=st.data())
def test_mvau_binary_matches_finn(build, data):
    """XNOR-popcount MVAU (binary inputs and weights) == FINN's MVAU for every drawn folding,
    with thresholds at and beyond the popcount's ends, and under random stalls."""
    check_mvau(build, data)


@given(build=mvau_builds(xnor=False), data=st.data())
def test_mvau_integer_matches_finn(build, data):
    """MVAU with signed/unsigned integer inputs and bipolar or INTn weights == FINN's MVAU for
    every drawn folding (accumulator output or thresholds at its extremes), under random stalls."""
    check_mvau(build, data)


# --------------------------------------------------------------------------- thresholding.v
@st.composite
def thresholding_builds(draw):
    """Channels folded by PE, binary or signed/unsigned integer inputs, 1, 3 or 7 thresholds,
    thresholds exactly as wide as the input range needs or wider."""
    pe = draw(st.sampled_from([1, 2, 3, 4]))
    c = pe * draw(st.integers(1, 3))
    idt = draw(st.sampled_from(INT_INPUTS + ["BINARY"]))
    n_thr = draw(st.sampled_from([1, 3, 7]))
    odt, act_bias, out_w = draw(st.sampled_from(ACTIVATIONS[n_thr]))
    in_lo, in_hi = dtype_range(idt)
    thr_w = signed_width([in_lo, in_hi + 1]) + draw(st.sampled_from([0, 4]))
    return dict(C=c, PE=pe, IN_W=dtype_bits(idt), IN_SIGNED=int(idt.startswith("INT")), N_THR=n_thr,
                THR_W=thr_w, ACT_BIAS=act_bias, OUT_W=out_w), idt, odt


@given(build=thresholding_builds(), data=st.data())
def test_thresholding_matches_finn(build, data):
    """thresholding.v == FINN's Thresholding for every drawn folding, input type and threshold
    set (ties, range ends, out of range, half-integers, one global row), under random stalls."""
    params, idt, odt = build
    c, pe = params["C"], params["PE"]
    in_lo, in_hi = dtype_range(idt)
    sim = Sim("thresholding", params, mem_params=("THRESH_FILE",))
    for case in range(CASES_PER_BUILD):
        n_pix = data.draw(st.integers(4, 12))
        x = data.draw(varied_ints((1, n_pix, c), in_lo, in_hi, case))
        for p in range(n_pix):  # whole pixels at the input range's ends
            x[0, p] = data.draw(st.sampled_from([x[0, p], np.full(c, in_lo), np.full(c, in_hi)]))
        rows = 1 if data.draw(st.booleans()) else c
        T = data.draw(threshold_matrix(rows, params["N_THR"], in_lo, in_hi, seen=x[0, :, :rows]))
        stall = data.draw(STALLS)
        want = np.asarray(finn_ref.thresholding(x, T, pe=pe, idt=idt, odt=odt, actval=params["ACT_BIAS"]))
        want = want.astype(np.int64).reshape(-1, pe)
        if odt == "BIPOLAR":
            want = (want + 1) // 2
        memories = {"THRESH_FILE": lambda p: write_thresholds(
            p, prepare_thresholds(T, c, in_lo, in_hi), pe, params["THR_W"])}
        beats = pack_beats(x.reshape(-1, pe), params["IN_W"])
        for seed, p_valid, p_ready in runs(stall):
            res = run_with_memories(sim, memories, beats, len(want), seed=seed, p_valid=p_valid, p_ready=p_ready)
            got = np.array(unpack_beats(res.out, pe, params["OUT_W"], signed=params["ACT_BIAS"] < 0))
            assert np.array_equal(got, want), f"{params} stalls {(p_valid, p_ready)}: rtl {got.tolist()} finn {want.tolist()}"
            assert_all_taken(res, beats, params)
            if p_valid == p_ready == 1.0:  # one beat per cycle
                assert res.out_cycles[-1] - res.out_cycles[0] == len(want) - 1, res.out_cycles


# --------------------------------------------------------------------------- sliding_window.v
@st.composite
def sliding_window_builds(draw):
    """Square k x k windows with stride 1-3 (windows that skip input rows/columns too), channels
    folded by SIMD, 1- to 4-bit elements, standard or depthwise order, line buffers from the
    smallest legal one (K rows: slower) to the default."""
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    simd = draw(st.sampled_from([1, 2, 3]))
    params = dict(IFM_DIM=k + draw(st.integers(0, 4)), C=simd * draw(st.integers(1, 3)), SIMD=simd, K=k,
                  STRIDE=stride, ELEM_W=draw(st.sampled_from([1, 2, 4])), DEPTHWISE=draw(st.sampled_from([1, 0])))
    buf_rows = draw(st.sampled_from([None, k, k + stride]))
    if buf_rows is not None:
        params["BUF_ROWS"] = buf_rows
    return params


@given(params=sliding_window_builds(), data=st.data())
def test_sliding_window_matches_finn(params, data):
    """sliding_window.v emits exactly FINN's ConvolutionInputGenerator windows (depthwise:
    channel-group-major) for every drawn geometry, image after image, under random stalls."""
    k, stride, simd, c, ifm = params["K"], params["STRIDE"], params["SIMD"], params["C"], params["IFM_DIM"]
    elem_w = params["ELEM_W"]
    idt = "BINARY" if elem_w == 1 else f"UINT{elem_w}"
    sim = Sim("sliding_window", params)
    for case in range(CASES_PER_BUILD):
        n_img = data.draw(st.integers(2, 3))  # images back to back
        imgs = data.draw(varied_ints((n_img, 1, ifm, ifm, c), 0, (1 << elem_w) - 1, case))
        stall = data.draw(STALLS)
        want = []
        for img in imgs:
            y = np.asarray(finn_ref.swg(img, k=k, stride=stride, simd=simd, idt=idt,
                                        depthwise=params["DEPTHWISE"]))
            _, oh, ow, _ = y.shape
            y = y.reshape(oh, ow, k * k, c // simd, simd)
            if params["DEPTHWISE"]:  # FINN's python execution has only the (ky, kx, c) order
                y = y.transpose(0, 1, 3, 2, 4)
            want.append(y.reshape(-1, simd).astype(np.int64))
        want = np.concatenate(want)
        beats = pack_beats(imgs.reshape(-1, simd), elem_w)
        for seed, p_valid, p_ready in runs(stall):
            res = sim.run(beats, n_out=len(want), seed=seed, p_valid=p_valid, p_ready=p_ready)
            got = np.array(unpack_beats(res.out, simd, elem_w))
            assert np.array_equal(got, want), f"{params} stalls {(p_valid, p_ready)}: first mismatch at beat " \
                                              f"{np.argwhere(got != want)[0][0]} of {len(want)}"
            assert_all_taken(res, beats, params)


# --------------------------------------------------------------------------- width_converter.v
def rechunk(beats, in_w: int, out_w: int) -> list[int]:
    """The bit sequence of ``beats`` (beat 0 first, LSB first) cut into ``out_w``-bit beats."""
    total = sum(b << (i * in_w) for i, b in enumerate(beats))
    return [(total >> (i * out_w)) & ((1 << out_w) - 1) for i in range(len(beats) * in_w // out_w)]


@st.composite
def width_chains(draw):
    """Widths W0 -> W1 -> W2 -> W3 of three chained converters, each dividing its neighbour or
    divided by it (down-, up- and equal-width conversions, 1 to 128 bits)."""
    widths = [draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 32]))]
    for _ in range(3):
        w = widths[-1]
        step = draw(st.sampled_from(["down", "up", "same"]))
        factor = draw(st.sampled_from([2, 3, 4]))
        if step == "down" and w % factor == 0:
            widths.append(w // factor)
        elif step != "same" and w * factor <= 128:
            widths.append(w * factor)
        else:
            widths.append(w)
    return widths


@given(widths=width_chains(), data=st.data())
def test_width_converter_chain_keeps_bit_order(widths, data):
    """Three chained width converters pass the input's bit sequence through unchanged (element 0
    first), whatever the widths and the source gaps / sink stalls: nothing lost, duplicated or
    reordered."""
    sim = Sim("tb_width_chain", dict(W0=widths[0], W1=widths[1], W2=widths[2], W3=widths[3]),
              sources=(CHAIN_BENCH, "width_converter.v", "stream_fifo.v"))
    # whole words of every converter (multiples of lcm(W0..W3) bits), so all of them flush
    per_word = reduce(math.lcm, widths) // widths[0]
    for case in range(CASES_PER_BUILD):
        # at least 32 input beats (or 2 whole words): enough to fill all three converters
        n_words = data.draw(st.integers(max(2, 32 // per_word), max(3, 128 // per_word)))
        beats = data.draw(varied_beats(n_words * per_word, widths[0], case))
        stall = data.draw(STALLS)
        want = rechunk(beats, widths[0], widths[3])
        for seed, p_valid, p_ready in runs(stall):
            res = sim.run(beats, n_out=len(want), seed=seed, p_valid=p_valid, p_ready=p_ready)
            assert res.out == want, f"widths {widths} stalls {(p_valid, p_ready)}"
            assert_all_taken(res, beats, widths)


# --------------------------------------------------------------------------- stream_fifo.v
@given(width=st.sampled_from([1, 2, 7, 8, 33, 64, 70]), depths=st.lists(st.integers(1, 9), min_size=3, max_size=3),
       data=st.data())
def test_fifo_chain_loses_nothing(width, depths, data):
    """Three chained FIFOs of drawn depths (1 included: no full throughput) deliver exactly the
    input beats in order under random gaps / stalls; with every depth >= 3, at full rate, one
    beat per cycle after 2 cycles per FIFO (stream_fifo.v's documented timing)."""
    sim = Sim("tb_fifo_chain", dict(WIDTH=width, D0=depths[0], D1=depths[1], D2=depths[2]),
              sources=(CHAIN_BENCH, "stream_fifo.v", "width_converter.v"))
    for case in range(CASES_PER_BUILD):
        # more beats than the three FIFOs hold together (<= 27), so that they fill under stalls
        beats = data.draw(varied_beats(data.draw(st.integers(40, 160)), width, case))
        stall = data.draw(STALLS)
        for seed, p_valid, p_ready in runs(stall):
            res = sim.run(beats, n_out=len(beats), seed=seed, p_valid=p_valid, p_ready=p_ready)
            assert res.out == beats, f"width {width} depths {depths} stalls {(p_valid, p_ready)}"
            assert_all_taken(res, beats, depths)
            if p_valid == p_ready == 1.0 and min(depths) >= 3:
                assert res.out_cycles[0] - res.in_cycles[0] == 2 * len(depths), (res.in_cycles[0], res.out_cycles[0])
                assert res.out_cycles[-1] - res.out_cycles[0] == len(beats) - 1, res.out_cycles
