"""The shared building blocks of hls/rtl on their own: skid_buffer.v (common/), adder_tree.v (common/, through
tb_adder_tree), fold_param_rom.v
(common/, through tb_fold_param_rom), credit_fifo.v with fold_param_rom's free-running read (common/,
through tb_credit_fifo) and hyper_mac_layer.v (dynamic_threshold/, through
tb_hyper_mac_layer), with random valid gaps and ready stalls.  The modules that instantiate them
(mvau, thresholding, adabin_threshold, channelwise_op, hyper_function) have their own tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hw_bnn.rtl.verilator import Sim

BENCH = Path(__file__).resolve().parent / "tb_shared_units.v"
STALLS = [(1.0, 1.0), (0.5, 0.9), (0.9, 0.3), (0.2, 0.2)]


@pytest.mark.parametrize("width", [1, 8, 70])
def test_skid_buffer(width):
    sim = Sim("skid_buffer", dict(WIDTH=width))
    rng = np.random.default_rng(width)
    data = [int.from_bytes(rng.bytes((width + 7) // 8), "little") % (1 << width) for _ in range(300)]
    for run_i, (pv, pr) in enumerate(STALLS):
        res = sim.run(data, n_out=len(data), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == data, run_i
        if pr == 1.0:
            # latency 1 for every beat while the output is ready, whatever the input gaps
            assert res.out_cycles == [c + 1 for c in res.in_cycles], run_i


@pytest.mark.parametrize("reg_read,depth,w", [(1, 1, 5), (1, 3, 8), (0, 1, 3), (0, 4, 70)])
def test_fold_param_rom(reg_read, depth, w):
    """Beat i comes out with word i mod DEPTH, under any stalls; latency 1 either way."""
    dw = 8
    sim = Sim("tb_fold_param_rom", dict(W=w, DEPTH=depth, REG_READ=reg_read, DW=dw), mem_params=("FILE",),
              sources=(BENCH, "fold_param_rom.v"))
    rng = np.random.default_rng(depth * 10 + reg_read)
    words = [int.from_bytes(rng.bytes((w + 7) // 8), "little") % (1 << w) for _ in range(depth)]
    sim.mem_path("FILE").write_text("".join(f"{v:x}\n" for v in words))
    data = [int(v) for v in rng.integers(0, 1 << dw, size=100)]
    expected = [(words[i % depth] << dw) | d for i, d in enumerate(data)]
    for run_i, (pv, pr) in enumerate(STALLS):
        res = sim.run(data, n_out=len(data), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == expected, run_i
        if run_i == 0:
            assert res.out_cycles == [c + 1 for c in res.in_cycles]


@pytest.mark.parametrize("stages,depth", [(1, 3), (3, 5), (6, 8), (2, 1)])
def test_credit_fifo_in_a_free_running_pipeline(stages, depth):
    """Every beat comes out once, in order, with its ROM word, under any stalls; with DEPTH = STAGES + 2
    (one more than the outputs in flight) a ready output keeps the full rate at latency STAGES + 1, and one
    place less costs throughput."""
    w, rom_depth, dw = 6, 5, 8
    sim = Sim("tb_credit_fifo", dict(W=w, ROM_DEPTH=rom_depth, DW=dw, STAGES=stages, DEPTH=depth),
              mem_params=("FILE",), sources=(BENCH, "fold_param_rom.v", "credit_fifo.v"))
    rng = np.random.default_rng(stages * 10 + depth)
    words = [int(v) for v in rng.integers(0, 1 << w, size=rom_depth)]
    sim.mem_path("FILE").write_text("".join(f"{v:x}\n" for v in words))
    data = [int(v) for v in rng.integers(0, 1 << dw, size=200)]
    expected = [(words[i % rom_depth] << dw) | d for i, d in enumerate(data)]
    for run_i, (pv, pr) in enumerate(STALLS):
        res = sim.run(data, n_out=len(data), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == expected, run_i
        if run_i == 0:
            gaps = np.diff(res.out_cycles)
            if depth >= stages + 2:
                assert res.out_cycles == [c + stages + 1 for c in res.in_cycles]
                assert set(gaps) == {1}
            else:
                assert gaps.max() > 1


def _wrap(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@pytest.mark.parametrize("params", [
    dict(MACS=2, X_W=3, X_SIGNED=1, WT_W=4, ACC_W=10, N_THR=3, LEVEL_W=2),
    dict(MACS=3, X_W=2, X_SIGNED=0, WT_W=3, ACC_W=9, N_THR=2, LEVEL_W=3),
    # products wider than the accumulator: everything modulo 2^ACC_W
    dict(MACS=1, X_W=5, X_SIGNED=1, WT_W=4, ACC_W=6, N_THR=1, LEVEL_W=1),
])
def test_hyper_mac_layer(params):
    """Passes of random length: level_l = #{k : sum_i w_l,i * x_i >= T_l[k]} in ACC_W-bit arithmetic."""
    macs, x_w, wt_w, acc_w, n_thr = (params[k] for k in ("MACS", "X_W", "WT_W", "ACC_W", "N_THR"))
    sim = Sim("tb_hyper_mac_layer", params, sources=(BENCH, "hyper_mac_layer.v"))
    rng = np.random.default_rng(macs * 100 + acc_w)
    x_lo, x_hi = (-(1 << (x_w - 1)), 1 << (x_w - 1)) if params["X_SIGNED"] else (0, 1 << x_w)
    beats, expected = [], []
    for _ in range(60):
        n = int(rng.integers(1, 9))
        xs = rng.integers(x_lo, x_hi, size=n)
        ws = rng.integers(-(1 << (wt_w - 1)), 1 << (wt_w - 1), size=(n, macs))
        thr = rng.integers(-(1 << (acc_w - 1)), 1 << (acc_w - 1), size=(macs, n_thr))
        thr_word = sum((int(t) % (1 << acc_w)) << ((l * n_thr + k) * acc_w)
                       for l in range(macs) for k, t in enumerate(thr[l]))
        for i in range(n):
            w_word = sum((int(w) % (1 << wt_w)) << (l * wt_w) for l, w in enumerate(ws[i]))
            beat = thr_word if i == n - 1 else 0
            beat = (beat << (macs * wt_w)) | w_word
            beat = (beat << x_w) | (int(xs[i]) % (1 << x_w))
            beats.append((beat << 2) | (int(i == 0) << 1) | int(i == n - 1))
        out = 0
        for l in range(macs):
            acc = _wrap(sum(_wrap(int(ws[i, l]) * int(xs[i]), acc_w) for i in range(n)), acc_w)
            out |= sum(acc >= int(t) for t in thr[l]) << (l * params["LEVEL_W"])
        expected.append(out)
    for run_i, (pv, pr) in enumerate(STALLS):
        res = sim.run(beats, n_out=len(expected), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == expected, run_i


def _tree_stages(n: int, reg_every: int, level_offset: int) -> int:
    """adder_tree.v's registered levels: level l of clog2(n) is registered at the root and where
    (l + LEVEL_OFFSET) % REG_EVERY == 0."""
    levels = (n - 1).bit_length()
    return sum(1 for lvl in range(1, levels + 1) if lvl == levels or (lvl + level_offset) % reg_every == 0)


@pytest.mark.parametrize("n, term_w, signed, reg_every, level_offset", [
    # one unsigned bit per term: the levels up to the first register are popcounts
    (2, 1, 0, 3, 0), (3, 1, 0, 3, 0), (5, 1, 0, 3, 0), (8, 1, 0, 3, 0), (9, 1, 0, 3, 0), (28, 1, 0, 3, 0),
    (100, 1, 0, 3, 0), (37, 1, 0, 1, 0), (37, 1, 0, 2, 1), (64, 1, 0, 4, 2), (13, 1, 0, 3, 5),
    # wider or signed terms: pairwise adders at every level
    (12, 2, 1, 3, 1), (7, 3, 0, 2, 0), (33, 1, 1, 3, 0),
])
def test_adder_tree_sums_every_vector_at_its_registered_depth(n, term_w, signed, reg_every, level_offset):
    """The exact sum of N random terms (all-ones and all-zeros vectors among them), in the cycle the
    register rule says, for beats arriving with random gaps."""
    stages = _tree_stages(n, reg_every, level_offset)
    sim = Sim("tb_adder_tree", dict(N=n, TERM_W=term_w, SIGNED=signed, REG_EVERY=reg_every,
                                    LEVEL_OFFSET=level_offset, STAGES=stages), sources=(BENCH, "adder_tree.v"))
    rng = np.random.default_rng(n * 10 + reg_every)
    lo, hi = (-(1 << (term_w - 1)), 1 << (term_w - 1)) if signed else (0, 1 << term_w)
    terms = rng.integers(lo, hi, size=(200, n))
    terms[0], terms[1] = hi - 1, lo
    beats = [sum((int(t) % (1 << term_w)) << (i * term_w) for i, t in enumerate(row)) for row in terms]
    result = sim.run(beats, len(beats), p_valid=0.7, seed=n)
    width = term_w + (n - 1).bit_length()
    sums = [v - (1 << width) if signed and v >> (width - 1) else v for v in result.out]
    assert sums == terms.sum(axis=1).tolist()
    assert [out - inp for out, inp in zip(result.out_cycles, result.in_cycles)] == [stages] * len(beats)
