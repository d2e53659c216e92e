"""sliding_window.v against FINN's python execution of ``ConvolutionInputGenerator``."""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim


def swg_expected(img, k, stride, simd, depthwise, idt):
    """FINN's output for one image as beats x SIMD (dws: channel-group-major reorder)."""
    y = finn_ref.swg(img, k=k, stride=stride, simd=simd, idt=idt, depthwise=depthwise)
    _, oh, ow, _ = y.shape
    c = img.shape[-1]
    y = y.reshape(oh, ow, k * k, c // simd, simd)
    if depthwise:
        y = y.transpose(0, 1, 3, 2, 4)
    return y.reshape(-1, simd).astype(np.int64)


def run_case(ifm, c, simd, k, stride, elem_w, depthwise, seed, n_img=3):
    params = dict(IFM_DIM=ifm, C=c, SIMD=simd, K=k, STRIDE=stride, ELEM_W=elem_w, DEPTHWISE=depthwise)
    sim = Sim("sliding_window", params)
    rng = np.random.default_rng(seed)
    idt = "BINARY" if elem_w == 1 else f"UINT{elem_w}"
    imgs = rng.integers(0, 1 << elem_w, size=(n_img, 1, ifm, ifm, c))
    want = np.concatenate([swg_expected(im, k, stride, simd, depthwise, idt) for im in imgs])
    beats = pack_beats(imgs.reshape(-1, simd), elem_w)
    n_in = len(beats) // n_img
    n_out = len(want) // n_img
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.8), (0.9, 0.3), (0.3, 1.0)]):
        res = sim.run(beats, n_out=len(want), seed=seed * 10 + run_i, p_valid=pv, p_ready=pr)
        got = np.array(unpack_beats(res.out, simd, elem_w))
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[0]
            raise AssertionError(f"run {run_i}: first mismatch at beat {bad[0]} of {len(want)} {params}")
        if run_i == 0:
            # full throughput: II per image = the busier side's beat count
            starts = [res.out_cycles[i * n_out] for i in range(n_img)]
            iis = np.diff(starts)
            bound = max(n_in, n_out)
            assert all(ii <= bound + 2 for ii in iis), (list(iis), n_in, n_out)
    return sim


# (ifm, c, simd, k, stride, elem_w, depthwise)
CASES = {
    "k3s1_simd2": (6, 4, 2, 3, 1, 1, 0),
    "k3s2_drop_row_uint8": (8, 3, 3, 3, 2, 8, 0),
    "k1s2_stride_gt_k": (5, 2, 1, 1, 2, 1, 0),
    "k2s2_dws_pool": (6, 4, 2, 2, 2, 1, 1),
    "k3s1_dws": (5, 6, 3, 3, 1, 2, 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sliding_window(name):
    run_case(*CASES[name], seed=sum(map(ord, name)))


def test_sliding_window_small_buffer():
    """BUF_ROWS = K still gives the exact order (only slower)."""
    params = dict(IFM_DIM=5, C=2, SIMD=2, K=3, STRIDE=1, ELEM_W=1, DEPTHWISE=0, BUF_ROWS=3)
    sim = Sim("sliding_window", params)
    rng = np.random.default_rng(5)
    imgs = rng.integers(0, 2, size=(2, 1, 5, 5, 2))
    want = np.concatenate([swg_expected(im, 3, 1, 2, 0, "BINARY") for im in imgs])
    res = sim.run(pack_beats(imgs.reshape(-1, 2), 1), n_out=len(want), seed=3, p_valid=0.7, p_ready=0.6)
    assert np.array_equal(np.array(unpack_beats(res.out, 2, 1)), want)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sliding_window_random_shape(seed):
    rng = np.random.default_rng(500 + seed)
    k = int(rng.integers(1, 5))
    stride = int(rng.integers(1, 4))
    ifm = k + int(rng.integers(0, 7))
    simd = int(rng.choice([1, 2, 3]))
    c = simd * int(rng.integers(1, 4))
    run_case(ifm, c, simd, k, stride, int(rng.choice([1, 3])), int(rng.integers(0, 2)), seed=seed)
