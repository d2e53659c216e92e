"""pool_max.v (fed in sliding_window's depthwise order) against FINN's ``Pool`` (MaxPool)."""

from __future__ import annotations

import numpy as np
import pytest

from pathlib import Path

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

RTL_CHAIN = Path(__file__).resolve().parent / "tb_swg_pool.v"


def finn_maxpool(img, k, pe, idt):
    """FINN SWG (python order) followed by FINN Pool; returns (out NHWC, SWG output)."""
    c = img.shape[-1]
    win = finn_ref.swg(img, k=k, stride=k, simd=pe, idt=idt, depthwise=1)
    return finn_ref.pool_max(win, k=k, channels=c, pe=pe, idt=idt), win


def dws_order(win, k, c, pe):
    """FINN's (OH, OW, K*K*C) window tensor in the depthwise generator's beat order."""
    oh, ow = win.shape[1:3]
    return win.reshape(oh, ow, k * k, c // pe, pe).transpose(0, 1, 3, 2, 4).reshape(-1, pe)


# (ifm, c, pe, k, elem_w, signed)
CASES = {
    "k2_binary_pe2": (6, 4, 2, 2, 1, 0),
    "k3_int4_pe3": (6, 6, 3, 3, 4, 1),
    "k2_uint3_pe1": (4, 3, 1, 2, 3, 0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pool_max(name):
    ifm, c, pe, k, ew, signed = CASES[name]
    idt = "BINARY" if ew == 1 else (f"INT{ew}" if signed else f"UINT{ew}")
    sim = Sim("pool_max", dict(K=k, PE=pe, ELEM_W=ew, SIGNED=signed))
    rng = np.random.default_rng(sum(map(ord, name)))
    lo, hi = (-(1 << (ew - 1)), (1 << (ew - 1)) - 1) if signed else (0, (1 << ew) - 1)
    imgs = rng.integers(lo, hi + 1, size=(3, 1, ifm, ifm, c))
    beats, want = [], []
    for im in imgs:
        y, win = finn_maxpool(im, k, pe, idt)
        beats += pack_beats(dws_order(win, k, c, pe).astype(np.int64), ew)
        want.append(y.reshape(-1, pe).astype(np.int64))
    want = np.concatenate(want)
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.6, 0.5), (1.0, 0.1)]):
        res = sim.run(beats, n_out=len(want), seed=run_i, p_valid=pv, p_ready=pr)
        got = np.array(unpack_beats(res.out, pe, ew, signed=bool(signed)))
        assert np.array_equal(got, want), (run_i, np.argwhere(got != want)[:3])
        if run_i == 0:
            assert res.in_cycles[-1] - res.in_cycles[0] == len(beats) - 1  # II = 1


@pytest.mark.parametrize("ifm,c,pe,k", [(6, 4, 2, 2), (9, 3, 3, 3)])
def test_swg_pool_chain(ifm, c, pe, k):
    """sliding_window (DEPTHWISE=1) -> pool_max equals FINN's SWG+Pool, at full rate."""
    sim = Sim("tb_swg_pool", dict(IFM_DIM=ifm, C=c, PE=pe, K=k, ELEM_W=1),
              sources=("sliding_window.v", "pool_max.v", RTL_CHAIN))
    rng = np.random.default_rng(ifm * 100 + k)
    imgs = rng.integers(0, 2, size=(3, 1, ifm, ifm, c))
    want = np.concatenate([finn_maxpool(im, k, pe, "BINARY")[0].reshape(-1, pe) for im in imgs])
    beats = pack_beats(imgs.reshape(-1, pe), 1)
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.7, 0.4)]):
        res = sim.run(beats, n_out=len(want), seed=run_i, p_valid=pv, p_ready=pr)
        got = np.array(unpack_beats(res.out, pe, 1))
        assert np.array_equal(got, want.astype(np.int64)), run_i
        if run_i == 0:
            # K = stride: the generator emits as many beats as it reads; one per cycle
            n_in = len(beats) // 3
            assert res.in_cycles[-1] - res.in_cycles[0] <= 3 * n_in + 4
