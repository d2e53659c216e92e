"""The per-frame threshold modules (frame_channel_sums.v, hyper_function.v, frame_buffer.v, frame_threshold.v,
frame_multi_threshold.v) against ``hw_bnn.features.dynamic_threshold.reference``, with random valid gaps and ready
stalls at both ends; and their HLS C++ kernels (hls/cpp/frame_units.hpp) against both, on the same vectors.

One Verilator build per parameterisation; several frames and random parameter tables per build.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.features.dynamic_threshold.reference import frame_threshold, hyper_function, pool_sums, table_rows
from hw_bnn.hls import HLS_CPP_DIR, compile_kernel_test
from hw_bnn.features.dynamic_threshold.memfiles import (HYPER_MEMORIES, write_hyper_memories,
                                                        write_multi_threshold_table, write_sign_file)
from hw_bnn.intwidth import signed_width
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

#: (p_valid, p_ready) of the runs: full rate, then back-pressure at either end and both
RATES = [(1.0, 1.0), (0.5, 0.7), (0.95, 0.3), (0.3, 0.95)]


def signed_range(width: int) -> tuple[int, int]:
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def payload_beats(frames: np.ndarray, pe: int, width: int) -> list[list[int]]:
    """(n, P, C) -> per frame, its P*C/PE beats."""
    return [pack_beats(frame.reshape(-1, pe), width) for frame in frames]


# ---- frame_channel_sums ----

@pytest.mark.parametrize("c,pe,pixels,in_w,signed", [(4, 2, 5, 6, True), (6, 3, 1, 9, True), (3, 1, 9, 4, True),
                                                    (8, 8, 2, 5, True), (4, 2, 5, 6, False), (3, 1, 9, 4, False)])
def test_frame_channel_sums_passes_the_frame_and_appends_the_sums(c, pe, pixels, in_w, signed):
    """Signed inputs (stream codes, ±1 dot products) and unsigned ones (XNOR popcounts: the top bit is
    a magnitude, which sign extension would turn negative)."""
    out_w = in_w + max(1, (pixels - 1).bit_length()) + 1
    sim = Sim("frame_channel_sums", dict(C=c, PE=pe, PIXELS=pixels, IN_W=in_w, IN_SIGNED=int(signed), OUT_W=out_w))
    rng = np.random.default_rng(c * 100 + pixels)
    lo, hi = signed_range(in_w) if signed else (0, (1 << in_w) - 1)
    for k, (p_valid, p_ready) in enumerate(RATES):
        frames = rng.integers(lo, hi + 1, (3, pixels, c))
        frames[0] = hi if k % 2 else lo  # sums at the extremes of the range
        expected = np.concatenate([frames, pool_sums(frames)[:, None, :]], axis=1)
        result = sim.run([b for f in payload_beats(frames, pe, in_w) for b in f], expected.size // pe,
                         seed=k, p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(result.out, pe, out_w, signed=True)).reshape(expected.shape)
        assert np.array_equal(got, expected)
        if k == 0:  # full rate: the payload of a frame leaves on consecutive cycles
            first = result.out_cycles[: pixels * c // pe]
            assert first[-1] - first[0] == len(first) - 1


# ---- frame_threshold ----

@pytest.mark.parametrize("c,pe,pixels,w", [(4, 2, 6, 7), (6, 3, 1, 10), (5, 1, 3, 5)])
def test_frame_threshold_compares_each_frame_with_its_thresholds(c, pe, pixels, w, tmp_path):
    sim = Sim("frame_threshold", dict(C=c, PE=pe, PIXELS=pixels, W=w), mem_params=("SIGN_FILE",))
    rng = np.random.default_rng(c + pixels)
    lo, hi = signed_range(w)
    for k, (p_valid, p_ready) in enumerate(RATES):
        sign = rng.choice([-1, 1], c)
        write_sign_file(sim.mem_path("SIGN_FILE"), sign, pe)
        frames = rng.integers(lo, hi + 1, (4, pixels, c))
        thresholds = rng.integers(lo, hi + 1, (4, c))
        ties = rng.random((4, c)) < 0.5  # many thresholds equal to a value of their channel
        thresholds = np.where(ties, frames[:, 0, :] * sign, thresholds)
        beats = []
        for frame, t in zip(frames, thresholds):
            beats += pack_beats(t.reshape(-1, pe), w) + pack_beats(frame.reshape(-1, pe), w)
        expected = frame_threshold(frames, thresholds, sign)
        result = sim.run(beats, expected.size // pe, seed=k, p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(result.out, pe, 1)).reshape(expected.shape)
        assert np.array_equal(got, expected)


# ---- frame_multi_threshold ----

MULTI_THRESHOLD_CASES = [  # c, pe, pixels, w, entries, n_thr, thr_w, bias
    (4, 2, 5, 6, 3, 3, 8, -2),     # THR_W > W, negative bias
    (6, 6, 2, 10, 1, 4, 6, 0),     # PE = C, one entry, THR_W < W
    (5, 1, 3, 5, 4, 1, 5, 1),      # PE = 1, one threshold
    (8, 4, 3, 8, 9, 15, 8, -8),    # 9 entries (not a power of 2), 15 thresholds, INT4 output
]


def multi_threshold_case(rng, c, pixels, w, entries, n_thr, thr_w, n_frames=4):
    """Random frames (n, P, C) of W-bit values, per-frame table indices (n, C) and a table (C, L, N_THR) of
    THR_W-bit thresholds, 40 % of them inside the payload range and 40 % tied with a payload value of their
    channel (where it fits THR_W bits)."""
    lo, hi = signed_range(w)
    t_lo, t_hi = signed_range(thr_w)
    frames = rng.integers(lo, hi + 1, (n_frames, pixels, c))
    index = rng.integers(0, entries, (n_frames, c))
    table = rng.integers(t_lo, t_hi + 1, (c, entries, n_thr))
    near = rng.integers(max(lo, t_lo), min(hi, t_hi) + 1, table.shape)
    table = np.where(rng.random(table.shape) < 0.4, near, table)
    picks = rng.integers(0, n_frames, table.shape), rng.integers(0, pixels, table.shape)
    values = frames[picks[0], picks[1], np.arange(c)[:, None, None]]
    ties = (rng.random(table.shape) < 0.4) & (values >= t_lo) & (values <= t_hi)
    return frames, index, np.where(ties, values, table)


def multi_threshold_beats(frames, index, pe, w) -> list[int]:
    """Per frame its index beats, then its payload beats."""
    beats = []
    for frame, idx in zip(frames, index):
        beats += pack_beats(idx.reshape(-1, pe), w) + pack_beats(frame.reshape(-1, pe), w)
    return beats


@pytest.mark.parametrize("c,pe,pixels,w,entries,n_thr,thr_w,bias", MULTI_THRESHOLD_CASES)
def test_frame_multi_threshold_counts_each_frame_against_its_indexed_thresholds(c, pe, pixels, w, entries, n_thr,
                                                                                 thr_w, bias):
    out_w = signed_width([bias, bias + n_thr])
    sim = Sim("frame_multi_threshold", dict(C=c, PE=pe, PIXELS=pixels, W=w, L=entries, N_THR=n_thr, THR_W=thr_w,
                                            ACT_BIAS=bias, OUT_W=out_w), mem_params=("TABLE_FILE",))
    rng = np.random.default_rng(c * 10 + entries)
    nf = c // pe
    for k, (p_valid, p_ready) in enumerate(RATES):
        frames, index, table = multi_threshold_case(rng, c, pixels, w, entries, n_thr, thr_w)
        write_multi_threshold_table(sim.mem_path("TABLE_FILE"), table, pe, thr_w)
        beats = multi_threshold_beats(frames, index, pe, w)
        expected = bias + frame_threshold(frames, table_rows(table, index), np.ones(c, dtype=np.int64))
        result = sim.run(beats, expected.size // pe, seed=k, p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(result.out, pe, out_w, signed=True)).reshape(expected.shape)
        assert np.array_equal(got, expected)
        if k == 0:  # full rate: every beat taken on consecutive cycles, each output 1 cycle after its payload beat
            assert result.in_cycles == list(range(result.in_cycles[0], result.in_cycles[0] + len(beats)))
            per_frame = nf + pixels * nf
            payload_in = [result.in_cycles[n * per_frame + nf + i] for n in range(len(frames))
                          for i in range(pixels * nf)]
            assert result.out_cycles == [cycle + 1 for cycle in payload_in]


# ---- frame_buffer ----

def tagged_stream(frames, sides, pe, w, rng) -> list[int]:
    """Payload beats of every frame in order, with frame n's side beats inserted at a random place
    between the end of payload n and the start of payload n+2 (what hyper_function.v guarantees)."""
    tag = 1 << (pe * w)
    payload = [pack_beats(f.reshape(-1, pe), w) for f in frames]
    side = [[b | tag for b in pack_beats(s.reshape(-1, pe), w)] for s in sides]
    stream: list[int] = []
    pending: list[int] = []
    for n, beats in enumerate(payload):
        cut = int(rng.integers(0, len(beats) + 1))  # where the previous frame's side beats go
        stream += beats[:cut] + pending + beats[cut:]
        pending = side[n]
    return stream + pending


@pytest.mark.parametrize("c,pe,pixels,w,data_w", [(4, 2, 5, 9, 6), (6, 6, 1, 12, 12), (3, 1, 4, 8, 3)])
def test_frame_buffer_sends_each_frames_thresholds_first(c, pe, pixels, w, data_w):
    sim = Sim("frame_buffer", dict(C=c, PE=pe, PIXELS=pixels, W=w, DATA_W=data_w, FRAMES=2))
    rng = np.random.default_rng(c * pixels)
    for k, (p_valid, p_ready) in enumerate(RATES + [(1.0, 0.05)]):
        frames = rng.integers(*signed_range(data_w), (5, pixels, c), endpoint=True)
        sides = rng.integers(*signed_range(w), (5, c), endpoint=True)
        expected = np.concatenate([sides[:, None, :], frames], axis=1)
        result = sim.run(tagged_stream(frames, sides, pe, w, rng), expected.size // pe, seed=k,
                         p_valid=p_valid, p_ready=p_ready)
        got = np.array(unpack_beats(result.out, pe, w, signed=True)).reshape(expected.shape)
        assert np.array_equal(got, expected)


def test_frame_buffer_sustains_one_beat_per_cycle_but_one_per_frame():
    c, pe, pixels, w = 4, 2, 8, 8
    sim = Sim("frame_buffer", dict(C=c, PE=pe, PIXELS=pixels, W=w, DATA_W=w, FRAMES=2))
    rng = np.random.default_rng(1)
    frames = rng.integers(-100, 100, (6, pixels, c))
    sides = rng.integers(-100, 100, (6, c))
    tag = 1 << (pe * w)
    stream = []
    for frame, side in zip(frames, sides):  # side beats right after their payload
        stream += pack_beats(frame.reshape(-1, pe), w) + [b | tag for b in pack_beats(side.reshape(-1, pe), w)]
    n_out = (pixels + 1) * c // pe * len(frames)
    result = sim.run(stream, n_out)
    steady = result.out_cycles[n_out // 3:]
    frames_spanned = len(steady) / ((pixels + 1) * c // pe)
    assert len(steady) - 1 <= steady[-1] - steady[0] <= len(steady) - 1 + np.ceil(frames_spanned)


# ---- hyper_function ----

def random_hyper(rng, c: int, j: int, heads: int, n_pool: int, n_hidden: int, n_out: int, sum_range: int, wt_w: int):
    """Random integer parameters over the full widths, thresholds unsorted, many of them reachable."""
    p_lo = -(1 << 2)
    pooled = [p_lo, p_lo + n_pool]
    w1 = rng.integers(-(1 << (wt_w - 1)), 1 << (wt_w - 1), (j, c))
    w2 = rng.integers(-(1 << (wt_w - 1)), 1 << (wt_w - 1), (heads * c, j))
    a1 = int(np.abs(w1).sum(1).max()) * max(map(abs, pooled))
    a2 = int(np.abs(w2).sum(1).max()) * n_hidden
    params = {
        "pool_sign": rng.choice([-1, 1], c),
        "pool_thresholds": rng.integers(-sum_range, sum_range + 2, (c, n_pool)),
        "w1": w1,
        "hidden_thresholds": rng.integers(-a1 // 3 - 1, a1 // 3 + 2, (j, n_hidden)),
        "w2": w2,
        "output_thresholds": rng.integers(-a2 // 3 - 1, a2 // 3 + 2, (heads * c, n_out)),
        "table": rng.integers(-sum_range, sum_range + 1, (c, (n_out + 1) ** heads)),
    }
    widths = {"P_W": signed_width(pooled), "WT_W": wt_w, "A1_W": signed_width([-a1 - 1, a1 + 1]),
              "A2_W": signed_width([-a2 - 1, a2 + 1]), "H_W": max(1, n_hidden.bit_length())}
    return params, p_lo, widths


HYPER_CASES = {
    # c, pe, pixels, j, heads, n_pool, n_hidden, n_out, macs
    "se_fc": (8, 2, 1, 3, 1, 7, 3, 3, 2),
    "dybnn_conv": (4, 4, 3, 2, 3, 3, 3, 3, 1),
    "odd_macs": (6, 3, 2, 5, 1, 15, 15, 7, 4),
}


@pytest.mark.parametrize("name", list(HYPER_CASES))
def test_hyper_function_computes_the_reference_thresholds(name):
    c, pe, pixels, j, heads, n_pool, n_hidden, n_out, macs = HYPER_CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    in_lo, in_hi = -20, 20
    w = signed_width([pixels * in_lo, pixels * in_hi - 1, pixels * in_hi + 1])
    params, offset, widths = random_hyper(rng, c, j, heads, n_pool, n_hidden, n_out, pixels * in_hi, 3)
    verilog = dict(C=c, PE=pe, PIXELS=pixels, W=w, J=j, HEADS=heads, NP=n_pool, POOL_OFFSET=offset,
                   NH=n_hidden, NO=n_out, MACS=macs, **widths)
    sim = Sim("hyper_function", verilog, mem_params=HYPER_MEMORIES)
    nf = c // pe
    tag = 1 << (pe * w)
    for k, (p_valid, p_ready) in enumerate(RATES):
        if k:
            params, offset, _ = random_hyper(rng, c, j, heads, n_pool, n_hidden, n_out, pixels * in_hi, 3)
        write_hyper_memories({m: sim.mem_path(m) for m in HYPER_MEMORIES}, params, pe, macs, {"W": w, **widths})
        frames = rng.integers(in_lo, in_hi + 1, (4, pixels, c))
        sums = pool_sums(frames)
        beats = []
        for frame, s in zip(frames, sums):
            beats += pack_beats(frame.reshape(-1, pe), w) + pack_beats(s.reshape(-1, pe), w)
        expected = hyper_function(sums, params["pool_sign"], params["pool_thresholds"], offset, params["w1"],
                                  params["hidden_thresholds"], params["w2"], params["output_thresholds"],
                                  params["table"])
        result = sim.run(beats, len(frames) * (pixels + 1) * nf, seed=k, p_valid=p_valid, p_ready=p_ready)
        payload = [b for b in result.out if not b & tag]
        side = [b ^ tag for b in result.out if b & tag]
        assert payload == [b for f in payload_beats(frames, pe, w) for b in f]
        got = np.array(unpack_beats(side, pe, w, signed=True)).reshape(expected.shape)
        assert np.array_equal(got, expected)
        if k == 0:  # full rate: the computation takes the cycles hyper_function.v's header states
            last_sum = result.in_cycles[pixels * nf + nf - 1]
            last_threshold = result.out_cycles[[i for i, b in enumerate(result.out) if b & tag][nf - 1]]
            i_rows = heads * c
            stated = -(-j // macs) * (c + 1) + -(-i_rows // macs) * (j + 1) + c + 1 + nf + 1
            assert abs((last_threshold - last_sum) - stated) <= 2
        # frame n's thresholds come after its payload and before the payload of frame n+2
        positions = [i for i, b in enumerate(result.out) if b & tag]
        per_frame = pixels * nf
        for n in range(len(frames)):
            first, last = positions[n * nf], positions[(n + 1) * nf - 1]
            payload_before = first - n * nf
            assert (n + 1) * per_frame <= payload_before and last - (n + 1) * nf < (n + 2) * per_frame


# ---- the HLS C++ kernels (hls/cpp/frame_units.hpp) on the same vectors as the RTL ----

TB_CPP = HLS_CPP_DIR / "frame_units_tb.cpp"


def run_hls(kernel: int, params: dict, frames: int, beats: list[int], folder: Path) -> list[int]:
    """Build frame_units_tb for ``kernel`` with ``params`` (RTL parameter names) and run it on ``beats``."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not on PATH: the HLS C++ kernels are C-simulated with g++ (apt-get install g++)")
    defines = {"TB_KERNEL": kernel, **{f"TB_{k}": v for k, v in params.items() if isinstance(v, int)}}
    binary = compile_kernel_test([TB_CPP], folder / f"tb{kernel}", defines)
    (folder / "in.hex").write_text("".join(f"{b:x}\n" for b in beats))
    res = subprocess.run([str(binary), str(frames), str(folder / "in.hex"), str(folder / "out.hex"), str(folder)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [int(t, 16) for t in (folder / "out.hex").read_text().split()]


def test_hls_kernels_match_the_rtl_and_the_reference(tmp_path):
    """One random dynamic layer through all four kernels, each fed the vectors its RTL module gets."""
    c, pe, pixels, j, heads, n_pool, n_hidden, n_out, macs = 6, 3, 4, 3, 3, 7, 3, 3, 2
    rng = np.random.default_rng(11)
    in_w, frames_n = 6, 3
    lo, hi = signed_range(in_w)
    w = signed_width([pixels * lo, pixels * hi + 1])
    frames = rng.integers(lo, hi + 1, (frames_n, pixels, c))
    params, offset, widths = random_hyper(rng, c, j, heads, n_pool, n_hidden, n_out, pixels * hi, 4)
    hyper = dict(C=c, PE=pe, PIXELS=pixels, W=w, J=j, HEADS=heads, NP=n_pool, POOL_OFFSET=offset, NH=n_hidden,
                 NO=n_out, MACS=macs, **widths)
    sign = rng.choice([-1, 1], c)
    mems = {name: tmp_path / f"{name.removesuffix('_FILE').lower()}.mem" for name in HYPER_MEMORIES}
    write_hyper_memories(mems, params, pe, macs, {"W": w, **widths})
    write_sign_file(tmp_path / "sign.mem", sign, pe)

    def rtl(module, verilog, beats, n_out, mem_params=()):
        sim = Sim(module, verilog, mem_params=mem_params)
        for m in mem_params:
            shutil.copyfile(tmp_path / ("sign.mem" if m == "SIGN_FILE" else mems[m].name), sim.mem_path(m))
        return sim.run(beats, n_out, p_valid=0.8, p_ready=0.8).out

    # pool
    pool_in = [b for f in payload_beats(frames, pe, in_w) for b in f]
    pool_params = dict(C=c, PE=pe, PIXELS=pixels, IN_W=in_w, IN_SIGNED=1, OUT_W=w)
    pool_out = run_hls(1, pool_params, frames_n, pool_in, tmp_path)
    assert pool_out == rtl("frame_channel_sums", pool_params, pool_in, len(pool_out))
    # hyper-function: the same payload and the same thresholds (RTL interleaving differs by timing)
    hyper_out = run_hls(2, hyper, frames_n, pool_out, tmp_path)
    hyper_rtl = rtl("hyper_function", hyper, pool_out, len(hyper_out), HYPER_MEMORIES)
    tag = 1 << (pe * w)
    assert [b for b in hyper_out if not b & tag] == [b for b in hyper_rtl if not b & tag]
    assert [b for b in hyper_out if b & tag] == [b for b in hyper_rtl if b & tag]
    expected = hyper_function(pool_sums(frames), params["pool_sign"], params["pool_thresholds"], offset,
                              params["w1"], params["hidden_thresholds"], params["w2"], params["output_thresholds"],
                              params["table"])
    side = [b ^ tag for b in hyper_out if b & tag]
    assert np.array_equal(np.array(unpack_beats(side, pe, w, signed=True)).reshape(expected.shape), expected)
    # frame buffer, fed the RTL hyper-function's interleaved stream
    buffer_params = dict(C=c, PE=pe, PIXELS=pixels, W=w, DATA_W=in_w)
    buffer_out = run_hls(3, buffer_params, frames_n, hyper_rtl, tmp_path)
    assert buffer_out == rtl("frame_buffer", buffer_params, hyper_rtl, len(buffer_out))
    # thresholds
    threshold_params = dict(C=c, PE=pe, PIXELS=pixels, W=w)
    bits = run_hls(4, threshold_params, frames_n, buffer_out, tmp_path)
    assert bits == rtl("frame_threshold", threshold_params, buffer_out, len(bits), ("SIGN_FILE",))
    want = frame_threshold(frames, expected, sign)
    assert np.array_equal(np.array(unpack_beats(bits, pe, 1)).reshape(want.shape), want)


@pytest.mark.parametrize("c,pe,pixels,w,entries,n_thr,thr_w,bias", MULTI_THRESHOLD_CASES)
def test_hls_frame_multi_threshold_matches_the_rtl_and_the_reference(c, pe, pixels, w, entries, n_thr, thr_w, bias,
                                                                      tmp_path):
    """The kernel and frame_multi_threshold.v on the same beats and table, indices beyond the L entries
    and index bits above the addressed ones included (both select entry min(index mod 2^clog2(L), L-1))."""
    out_w = signed_width([bias, bias + n_thr])
    params = dict(C=c, PE=pe, PIXELS=pixels, W=w, L=entries, N_THR=n_thr, THR_W=thr_w, ACT_BIAS=bias, OUT_W=out_w)
    rng = np.random.default_rng(c * 100 + entries)
    frames, index, table = multi_threshold_case(rng, c, pixels, w, entries, n_thr, thr_w, n_frames=5)
    address_bits = (entries - 1).bit_length()
    sent = index + (rng.integers(0, 1 << (w - 1 - address_bits), index.shape) << address_bits)  # high bits set
    sent[-1] = (1 << address_bits) - 1  # the highest address: beyond L - 1 where L is not a power of 2
    selected = np.minimum(sent & ((1 << address_bits) - 1), entries - 1)
    write_multi_threshold_table(tmp_path / "table.mem", table, pe, thr_w)
    beats = multi_threshold_beats(frames, sent, pe, w)
    levels = run_hls(5, params, len(frames), beats, tmp_path)
    sim = Sim("frame_multi_threshold", params, mem_params=("TABLE_FILE",))
    shutil.copyfile(tmp_path / "table.mem", sim.mem_path("TABLE_FILE"))
    assert levels == sim.run(beats, len(levels), p_valid=0.8, p_ready=0.8).out
    expected = bias + frame_threshold(frames, table_rows(table, selected), np.ones(c, dtype=np.int64))
    assert np.array_equal(np.array(unpack_beats(levels, pe, out_w, signed=True)).reshape(expected.shape), expected)
