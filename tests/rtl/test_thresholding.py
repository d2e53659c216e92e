"""thresholding.v against FINN's python execution of the generic ``Thresholding`` node."""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim
from hw_bnn.intwidth import signed_width
from hw_bnn.rtl.memfiles import prepare_thresholds, write_output_table, write_thresholds

DT = {"UINT8": (8, 0, 255), "INT4": (4, -8, 7), "UINT1": (1, 0, 1)}
ODT = {"BIPOLAR": (1, 0), "BINARY": (1, 0), "INT2": (2, -2), "UINT2": (2, 0)}


# (channels, pe, idt, odt, n_thr)
CASES = {
    "rgb_uint8_bipolar": (3, 1, "UINT8", "BIPOLAR", 1),
    "uint8_int2_multithr": (6, 3, "UINT8", "INT2", 3),
    "int4_binary_nf1": (5, 5, "INT4", "BINARY", 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_thresholding(name):
    c, pe, idt, odt, n_thr = CASES[name]
    in_w, in_lo, in_hi = DT[idt]
    out_w, actval = ODT[odt]
    thr_w = signed_width([in_lo, in_hi + 1])
    params = dict(C=c, PE=pe, IN_W=in_w, IN_SIGNED=int(idt.startswith("INT")), N_THR=n_thr,
                  THR_W=thr_w, ACT_BIAS=actval, OUT_W=out_w)
    sim = Sim("thresholding", params, mem_params=("THRESH_FILE",))
    rng = np.random.default_rng(sum(map(ord, name)))
    for k in range(3):
        n_pix = 40
        x = rng.integers(in_lo, in_hi + 1, size=(1, n_pix, c)).astype(np.float64)
        # thresholds: random (some out of range, some non-integer), many ties with inputs
        T = rng.uniform(in_lo - 3, in_hi + 3, size=(c, n_thr))
        T = np.where(rng.random(T.shape) < 0.5, x[0, rng.integers(n_pix, size=T.shape), 0], T)
        if k == 1:
            T = np.sort(T, axis=1)
        if k == 2:
            T = np.round(T)
        y = finn_ref.thresholding(x, T, pe=pe, idt=idt, odt=odt, actval=actval)
        want = y.reshape(-1, pe).astype(np.int64)
        if odt == "BIPOLAR":
            want = (want + 1) // 2
        write_thresholds(sim.mem_path("THRESH_FILE"), prepare_thresholds(T, c, in_lo, in_hi), pe, thr_w)
        beats = pack_beats(x.astype(np.int64).reshape(-1, pe), in_w)
        for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.7), (0.95, 0.3)]):
            res = sim.run(beats, n_out=len(beats), seed=k * 7 + run_i, p_valid=pv, p_ready=pr)
            got = np.array(unpack_beats(res.out, pe, out_w, signed=actval < 0))
            assert np.array_equal(got, want), (k, run_i, np.argwhere(got != want)[:3])
            if run_i == 0:
                assert res.out_cycles[-1] - res.in_cycles[0] + 1 <= len(beats) + 2


@pytest.mark.parametrize("lookup", [0, 1])
@pytest.mark.parametrize("idt", ["UINT8", "INT4"])
def test_shared_thresholds(idt, lookup):
    """SHARED_THR = 1 (a per-tensor quantiser's thresholds, written once) gives every channel of every fold
    the same thresholds, counted (LOOKUP = 0) or read from the table of every input's output (LOOKUP = 1):
    against FINN on a two-fold stream with 7 unsorted thresholds per channel, some out of range."""
    c, pe, n_thr, out_w, actval = 6, 3, 7, 3, -4
    in_w, in_lo, in_hi = DT[idt]
    thr_w = signed_width([in_lo, in_hi + 1])
    params = dict(C=c, PE=pe, IN_W=in_w, IN_SIGNED=int(idt.startswith("INT")), N_THR=n_thr, THR_W=thr_w,
                  ACT_BIAS=actval, OUT_W=out_w, SHARED_THR=1, LOOKUP=lookup)
    sim = Sim("thresholding", params, mem_params=("THRESH_FILE",))
    rng = np.random.default_rng(7)
    x = rng.integers(in_lo, in_hi + 1, size=(1, 50, c)).astype(np.float64)
    row = np.concatenate([x[0, :n_thr - 3, 0] + 0.5, [in_lo - 4.0, in_hi + 0.5, in_hi + 30.0]])[rng.permutation(n_thr)]
    T = np.tile(row, (c, 1))
    want = finn_ref.thresholding(x, T, pe=pe, idt=idt, odt="INT3", actval=actval).reshape(-1, pe).astype(np.int64)
    prepared = prepare_thresholds(T, c, in_lo, in_hi)
    if lookup:
        write_output_table(sim.mem_path("THRESH_FILE"), prepared[0], in_w, in_lo < 0, actval, out_w)
    else:
        write_thresholds(sim.mem_path("THRESH_FILE"), prepared[:1], 1, thr_w)
    beats = pack_beats(x.astype(np.int64).reshape(-1, pe), in_w)
    res = sim.run(beats, n_out=len(beats), seed=3, p_valid=0.6, p_ready=0.6)
    got = np.array(unpack_beats(res.out, pe, out_w, signed=True))
    assert len(np.unique(want)) >= 4  # the inputs reach several counts
    assert np.array_equal(got, want), np.argwhere(got != want)[:3]
