"""adabin_threshold.v against ``adabin_threshold_reference`` (hw_bnn/features/adabin/reference.py).

One Verilator build per parameterisation; each build is re-run with several random parameter
tables (memory file rewritten), random accumulators, random valid gaps and ready stalls.
Thresholds are drawn so that many levels L tie with T0 or T1 exactly, are unsorted (T0 > T1),
or are unreachable (the extremes of THR_W).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.features.adabin.reference import PARAM_FIELDS, adabin_threshold_reference
from hw_bnn.features.adabin.memfiles import adabin_param_words, write_adabin_params
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

#: pipeline latency of adabin_threshold.v (input beat to output beat), see its header
LATENCY = {0: 4, 1: 1}
#: (p_valid, p_ready) of the runs; the first is full rate (throughput check)
RATES = [(1.0, 1.0), (0.5, 0.7), (0.95, 0.3), (0.3, 0.95)]


def srange(w: int) -> tuple[int, int]:
    """Inclusive range of a w-bit two's complement value."""
    return -(1 << (w - 1)), (1 << (w - 1)) - 1


def rand_signed(rng, w: int, size) -> np.ndarray:
    """Random w-bit signed Python ints (object array, any w), the extremes and 0 over-represented."""
    lo, hi = srange(w)
    n = int(np.prod(size))
    out = []
    for k in rng.random(n):
        if k < 0.08:
            out.append(lo)
        elif k < 0.16:
            out.append(hi)
        elif k < 0.24:
            out.append(0)
        elif k < 0.32:
            out.append(int(rng.integers(-3, 4)))
        else:
            out.append(lo + int(rng.integers(0, 1 << 62)) * (hi - lo + 1) // (1 << 62)
                       + int(rng.integers(0, 2)))
    return np.array([min(hi, max(lo, v)) for v in out], dtype=object).reshape(size)


def random_params(rng, acc_x, acc_a, coef_w: int, thr_w: int) -> np.ndarray:
    """(C, 5) object table [A, B, T0, T1, DECODE] with many exact ties of L and T."""
    c = acc_x.shape[1]
    ab = rand_signed(rng, coef_w, (c, 2))
    # levels of every (vector, channel), to draw ties from (test data only; the expected bits
    # come from adabin_threshold_reference)
    lev = ab[:, 0][None, :] * acc_x + ab[:, 1][None, :] * acc_a
    tlo, thi = srange(thr_w)
    T = np.empty((c, 2), dtype=object)
    for ch in range(c):
        col = [int(v) for v in lev[:, ch]]
        for n in range(2):
            k = rng.random()
            if k < 0.5:
                t = col[int(rng.integers(len(col)))] + (0 if k < 0.4 else int(rng.choice([-1, 1])))
            elif k < 0.6:
                t = tlo
            elif k < 0.7:
                t = thi
            else:
                lo, hi = min(col), max(col)
                t = lo - 2 + int(rng.integers(0, 1 << 62)) * (hi - lo + 5) // (1 << 62)
            T[ch, n] = min(thi, max(tlo, t))
    dec = np.array([int(d) for d in rng.integers(0, 8, c)], dtype=object)
    return np.concatenate([ab, T, dec[:, None]], axis=1)


def run_case(c, pe, acc_w, coef_w, thr_w, seed, n_sets=3, n_vec=24, rates=RATES):
    rng = np.random.default_rng(seed)
    params = dict(C=c, PE=pe, ACC_W=acc_w, COEF_W=coef_w, THR_W=thr_w)
    sim = Sim("adabin_threshold", params, mem_params=("PARAM_FILE",))
    nf = c // pe
    for k in range(n_sets):
        acc_x = rand_signed(rng, acc_w, (n_vec, c))
        acc_a = rand_signed(rng, acc_w, (n_vec, 1))
        table = random_params(rng, acc_x, acc_a, coef_w, thr_w)
        if k == 1:
            table[:, 2:4] = np.sort(table[:, 2:4].astype(object), axis=1)  # sorted thresholds
        write_adabin_params(sim.mem_path("PARAM_FILE"), table, pe, coef_w, thr_w)
        want = adabin_threshold_reference(acc_x, acc_a, table).astype(np.int64).reshape(n_vec * nf, pe)
        # beat (v, nf): acc_x[v, nf*pe : (nf+1)*pe], then acc_a[v]
        lanes = np.concatenate([acc_x.reshape(n_vec, nf, pe),
                                np.repeat(acc_a[:, None, :], nf, axis=1)], axis=2)
        beats = pack_beats(lanes.reshape(n_vec * nf, pe + 1).astype(np.int64), acc_w)
        for run_i, (pv, pr) in enumerate(rates):
            res = sim.run(beats, n_out=len(beats), seed=seed * 10 + k * 4 + run_i, p_valid=pv, p_ready=pr)
            got = np.array(unpack_beats(res.out, pe, 1))
            if not np.array_equal(got, want):
                bad = np.argwhere(got != want)[0]
                v, ch = bad[0] // nf, (bad[0] % nf) * pe + bad[1]
                raise AssertionError(
                    f"mismatch set {k} run {run_i} vector {v} channel {ch}: rtl {got[tuple(bad)]} "
                    f"ref {want[tuple(bad)]}; acc_x {acc_x[v, ch]} acc_a {acc_a[v, 0]} "
                    f"params {dict(zip(PARAM_FIELDS, table[ch]))}\n{params}")
            if (pv, pr) == (1.0, 1.0):
                assert_full_rate(res, len(beats), LATENCY[0])


def assert_full_rate(res, n_beats, latency):
    """One beat per cycle, in and out, and only the pipeline latency on top."""
    assert res.out_cycles[0] - res.in_cycles[0] == latency, (res.out_cycles[0], res.in_cycles[0])
    span = res.out_cycles[-1] - res.in_cycles[0] + 1
    assert span <= n_beats + latency, (span, n_beats, latency)
    assert all(b - a == 1 for a, b in zip(res.in_cycles, res.in_cycles[1:])), res.in_cycles
    assert all(b - a == 1 for a, b in zip(res.out_cycles, res.out_cycles[1:])), res.out_cycles


# (C, PE, ACC_W, COEF_W, THR_W)
CASES = {
    "c8_pe2": (8, 2, 8, 8, 18),
    "c6_pe3_narrow_thr": (6, 3, 5, 4, 7),   # THR_W < width of L: extreme thresholds are reachable
    "c5_pe5_nf1_min_widths": (5, 5, 2, 2, 2),
    "c1_pe1": (1, 1, 12, 10, 24),
    "c12_pe1_nf12": (12, 1, 6, 9, 16),
}


@pytest.mark.parametrize("name", list(CASES))
def test_adabin_threshold(name):
    run_case(*CASES[name], seed=sum(map(ord, name)))


def test_adabin_threshold_wide():
    """ACC_W=24, COEF_W=32, THR_W=60: |L| < 2^56, int64-exact, full-range random values."""
    run_case(6, 2, 24, 32, 60, seed=11, n_sets=2, rates=RATES[:2])


def test_adabin_threshold_max_widths():
    """ACC_W=COEF_W=40, THR_W=64: L needs 81 bits, beyond int64 (object arrays in the reference)."""
    run_case(4, 2, 40, 40, 64, seed=12, n_sets=2, rates=RATES[:2])


@pytest.mark.parametrize("pe,acc_w", [(3, 13), (2, 40)])
def test_adabin_threshold_pass(pe, acc_w):
    """PASS=1: every input beat comes out unchanged (latency 1, no parameter file)."""
    c = 2 * pe
    sim = Sim("adabin_threshold", dict(C=c, PE=pe, ACC_W=acc_w, PASS=1))
    rng = np.random.default_rng(pe * 100 + acc_w)
    iw = (pe + 1) * acc_w
    beats = [int(rng.integers(0, 1 << 62)) << max(0, iw - 62) | int(rng.integers(0, 1 << min(62, iw)))
             for _ in range(60)]
    beats = [b & ((1 << iw) - 1) for b in beats] + [0, (1 << iw) - 1]
    for run_i, (pv, pr) in enumerate(RATES):
        res = sim.run(beats, n_out=len(beats), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == beats, run_i
        if run_i == 0:
            assert_full_rate(res, len(beats), LATENCY[1])


def test_param_words_layout():
    """Fields from the LSB: A, B, T0, T1, DECODE per lane, lane p at [p*PW, +PW)."""
    table = [[-1, 2, -3, 4, 5], [1, -2, 3, -4, 6]]
    # COEF_W=4, THR_W=5: PW = 21
    lane0 = 0xF | 2 << 4 | (32 - 3) << 8 | 4 << 13 | 5 << 18
    lane1 = 1 | 0xE << 4 | 3 << 8 | (32 - 4) << 13 | 6 << 18
    assert adabin_param_words(table, 2, 4, 5) == [lane0 | lane1 << 21]
    assert adabin_param_words(table, 1, 4, 5) == [lane0, lane1]


@pytest.mark.parametrize("row,field", [
    ([8, 0, 0, 0, 0], "A"),
    ([0, -9, 0, 0, 0], "B"),
    ([0, 0, 16, 0, 0], "T0"),
    ([0, 0, 0, -17, 0], "T1"),
    ([0, 0, 0, 0, 8], "DECODE"),
    ([0, 0, 0, 0, -1], "DECODE"),
])
def test_write_params_range_check(tmp_path, row, field):
    table = [[7, -8, 15, -16, 7], row]
    with pytest.raises(ValueError, match=rf"\b{field}\b.*channel 1"):
        write_adabin_params(tmp_path / "p.mem", table, 1, 4, 5)
    with pytest.raises(ValueError, match="must divide"):
        write_adabin_params(tmp_path / "p.mem", table[:1] * 3, 2, 4, 5)
    # the largest values still fit; Python ints beyond int64
    write_adabin_params(tmp_path / "p.mem", [[-(1 << 39), (1 << 39) - 1, (1 << 63) - 1, -(1 << 63), 7]], 1, 40, 64)


@pytest.mark.parametrize("name", ["c12_pe3", "wide_coef32_thr60"])
def test_rtl_and_hls_kernel_agree_on_the_same_vectors(name, tmp_path):
    """The files the HLS C++ kernel's test checks (tests/test_hls_cpp.py) drive the RTL too: the
    RTL's output beats equal that test's expected.hex, word for word."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_hls_cpp import CASES as HLS_CASES, random_case, write_case_files

    c, pe, acc_w, coef_w, thr_w = HLS_CASES[name]
    params, acc_x, acc_a = random_case(np.random.default_rng(7), c, acc_w, coef_w, thr_w, vectors=30, style="random")
    paths = write_case_files(tmp_path, params, acc_x, acc_a, pe, acc_w, coef_w, thr_w)
    sim = Sim("adabin_threshold", dict(C=c, PE=pe, ACC_W=acc_w, COEF_W=coef_w, THR_W=thr_w),
              mem_params=("PARAM_FILE",))
    sim.mem_path("PARAM_FILE").write_text(paths["params"].read_text())
    beats = [int(t, 16) for t in paths["in"].read_text().split()]
    res = sim.run(beats, n_out=len(beats), seed=3, p_valid=0.7, p_ready=0.6)
    assert res.out == [int(t, 16) for t in paths["expected"].read_text().split()]
