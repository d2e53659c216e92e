"""mvau.v against FINN's python execution of the generic ``MVAU`` node.

One Verilator build per parameterisation; each build is re-run with several
random weight/threshold sets (memory files rewritten), random input vectors,
random valid gaps and ready stalls.  Weights: XNOR (binary), bipolar, and
signed integers (weightDataType INTn, ``WEIGHT_W`` = n).
"""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim
from hw_bnn.intwidth import mvau_acc_bounds, mvau_acc_bounds_int, mvau_weight_acc_bounds, signed_width
from hw_bnn.rtl.mvau_shape import tree_stages
from hw_bnn.rtl.memfiles import (mvau_weight_words, pack_words, param_rom_pack, prepare_thresholds, write_mvau_weights,
                                 write_thresholds)

DT_RANGE = {"BINARY": (0, 1), "UINT8": (0, 255), "INT4": (-8, 7), "UINT4": (0, 15), "INT8": (-128, 127),
            "INT2": (-2, 1)}
DT_BITS = {"BINARY": 1, "BIPOLAR": 1, "UINT2": 2, "INT2": 2, "UINT8": 8, "INT4": 4,
           "UINT4": 4, "INT8": 8, "INT16": 16, "INT24": 24}


def dt_bits(name):
    """Bit width of a FINN datatype name (INTn / UINTn beyond the table too)."""
    return DT_BITS[name] if name in DT_BITS else int(name.removeprefix("U").removeprefix("INT"))


def mvau_params(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, thr_w, weight_width=1):
    """RTL parameters of mvau.v for a FINN MVAU configuration (thresholds as prepared)."""
    p = dict(MW=mw, MH=mh, SIMD=simd, PE=pe, XNOR=int(xnor), IN_W=dt_bits(idt),
             IN_SIGNED=int(idt.startswith("INT")), NO_ACT=int(not act), OUT_W=dt_bits(odt))
    if weight_width > 1:
        p["WEIGHT_W"] = weight_width
    if act:
        actval = 0 if odt in ("BIPOLAR", "BINARY") else (-(1 << (dt_bits(odt) - 1)) if odt.startswith("INT") else 0)
        p.update(N_THR=n_thr, THR_W=thr_w, ACT_BIAS=actval)
    return p


def expected_elems(y, odt):
    """FINN output values -> RTL output elements (bipolar -1/+1 -> bit 0/1)."""
    y = np.asarray(y)
    if odt == "BIPOLAR":
        y = (y + 1) / 2
    return y.astype(np.int64)


def random_thresholds(rng, acc, mh, n_thr, lo, hi, sort):
    """Thresholds with many exact ties: half drawn from observed accumulator values."""
    T = rng.integers(lo - 1, hi + 2, size=(mh, n_thr)).astype(np.float64)
    tie = rng.random((mh, n_thr)) < 0.5
    for c in range(mh):
        for n in range(n_thr):
            if tie[c, n]:
                T[c, n] = acc[rng.integers(len(acc)), c]
    if sort:
        T = np.sort(T, axis=1)
    return T


def int_weights(rng, mw, mh, wdt):
    """Random ``wdt`` (INTn) weights over the whole range; column 0 all the minimum and column 1
    all the maximum weight (the accumulator's corners with the all-min / all-max vectors)."""
    w_lo, w_hi = DT_RANGE.get(wdt) or (-(1 << (dt_bits(wdt) - 1)), (1 << (dt_bits(wdt) - 1)) - 1)
    W = rng.integers(w_lo, w_hi + 1, size=(mw, mh)).astype(np.float64)
    W[:, 0] = w_lo
    if mh > 1:
        W[:, 1] = w_hi
    return W


def extreme_vectors(x, W, in_lo, in_hi):
    """x[0] all-min, x[1] all-max, x[2] / x[3] the vectors giving the largest / smallest accumulator
    of any channel (so a value-based output width is hit at both ends)."""
    x[0] = in_lo
    x[1] = in_hi
    if len(x) > 3:
        hi_vec = np.where(W > 0, in_hi, in_lo)  # per channel: the input maximising W[:, c] . x
        lo_vec = np.where(W > 0, in_lo, in_hi)
        c_hi = int(np.argmax((W * hi_vec).sum(axis=0)))
        c_lo = int(np.argmin((W * lo_vec).sum(axis=0)))
        x[2], x[3] = hi_vec[:, c_hi], lo_vec[:, c_lo]


def run_case(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, seed, n_sets=3, n_vec=6, count=False, wdt=None,
             pack=1):
    """``count``: build with COUNT=1 (NO_ACT only) and also check lane PE (the all-ones-row
    accumulator: popcount / sum of each vector) and that the full-rate timing equals COUNT=0.

    ``wdt``: None for binary (XNOR) / bipolar weights, else FINN's integer weight type ``INTn``
    (``WEIGHT_W`` = n, XNOR = 0).  With integer weights and no activation ``odt`` may be FINN's
    own choice (``minimize_accumulator_width``): "acc" (worst case of the datatypes), "acc_last"
    (the same, rounded up to bytes as for a graph's last node) or "acc_value" (from the weights:
    one weight matrix for all sets); the RTL output is then compared unwrapped, as the
    datatype's values.

    ``pack`` > 1: the weight memory stored ``pack`` beats to a word (``WEIGHT_PACK``, packed_param_rom.v)."""
    rng = np.random.default_rng(seed)
    in_lo, in_hi = DT_RANGE[idt]
    ww = 1 if wdt is None else dt_bits(wdt)
    assert ww == 1 or (not xnor and not count)
    fixed_w = None
    if wdt is None:
        acc_lo, acc_hi = mvau_acc_bounds(mw, xnor, in_lo, in_hi)
    else:
        acc_lo, acc_hi = mvau_acc_bounds_int(mw, ww, in_lo, in_hi)
        if odt.startswith("acc"):
            assert not act
            if odt == "acc_value":
                fixed_w = int_weights(rng, mw, mh, wdt)
            _, odt = finn_ref.mvau_acc_datatype(fixed_w if fixed_w is not None else np.zeros((mw, mh)),
                                                idt=idt, wdt=wdt, datatype_only=fixed_w is None,
                                                last=odt == "acc_last")
    # thresholds are clipped to [acc_lo, acc_hi + 1]
    thr_w = signed_width([acc_lo, acc_hi + 1])
    params = mvau_params(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, thr_w, weight_width=ww)
    if pack > 1:
        params["WEIGHT_PACK"] = pack
    mems = ("WEIGHT_FILE", "THRESH_FILE") if act else ("WEIGHT_FILE",)
    sim0 = None
    if count:
        assert not act, "COUNT=1 requires NO_ACT=1"
        sim0 = Sim("mvau", params, mem_params=mems)  # the same unit without the count lane
        params = dict(params, COUNT=1)
    sim = Sim("mvau", params, mem_params=mems)
    lanes = pe + int(count)
    sf, nf = mw // simd, mh // pe
    if wdt is None:
        wdt = "BINARY" if xnor else "BIPOLAR"
    for k in range(n_sets):
        if fixed_w is not None:
            W = fixed_w
        elif ww > 1:
            W = int_weights(rng, mw, mh, wdt)
        elif xnor:
            W = rng.integers(0, 2, size=(mw, mh)).astype(np.float64)
        else:
            W = rng.choice([-1.0, 1.0], size=(mw, mh))
        x = rng.integers(in_lo, in_hi + 1, size=(n_vec, mw)).astype(np.float64)
        # include the extreme vectors (all-min / all-max / matching a weight column)
        if ww > 1:
            extreme_vectors(x, W, in_lo, in_hi)
        else:
            x[0] = in_lo
            x[1] = in_hi
        if xnor:
            x[2] = W[:, rng.integers(mh)]
        acc = finn_ref.mvau(x, W, None, simd=simd, pe=pe, xnor=xnor, idt=idt, wdt=wdt, odt="INT32")
        if ww > 1:
            # the accumulators stay in the bounds of these weights, within those of any weights
            w_lo, w_hi = mvau_weight_acc_bounds(W, in_lo, in_hi)
            assert acc_lo <= w_lo <= acc.min() and acc.max() <= w_hi <= acc_hi
        T = None
        if act:
            # drawn around the accumulators of these weights; clipped to the bounds of any weights
            # (even sets) or of these weights (odd sets)
            t_lo, t_hi = (acc_lo, acc_hi) if ww == 1 else mvau_weight_acc_bounds(W, in_lo, in_hi)
            T = random_thresholds(rng, acc, mh, n_thr, t_lo, t_hi, sort=(k % 2 == 0))
            if n_thr == 1 and k == 2:
                T = T[:1]  # a single global threshold row, broadcast by FINN
            clip = (acc_lo, acc_hi) if k % 2 == 0 else (t_lo, t_hi)
            write_thresholds(sim.mem_path("THRESH_FILE"), prepare_thresholds(T, mh, *clip), pe, thr_w)
        write_mvau_weights(sim.mem_path("WEIGHT_FILE"), W, pe, simd, ww, pack)
        if sim0 is not None:
            write_mvau_weights(sim0.mem_path("WEIGHT_FILE"), W, pe, simd)
        actval = params.get("ACT_BIAS", 0) if odt != "BIPOLAR" else 0
        y = finn_ref.mvau(x, W, T, simd=simd, pe=pe, xnor=xnor, idt=idt, wdt=wdt, odt=odt,
                          actval=actval if odt != "BIPOLAR" else 0)
        want = expected_elems(y, odt).reshape(n_vec * nf, pe)
        if count:
            # lane PE: all-ones weight row = popcount of the bits (XNOR) / sum of the elements,
            # the same on every one of a vector's NF output beats
            cnt = x.astype(np.int64).sum(axis=1)
            want = np.concatenate([want, np.repeat(cnt, nf)[:, None]], axis=1)
        beats = pack_beats(x.astype(np.int64).reshape(n_vec * sf, simd), params["IN_W"])
        ow = params["OUT_W"]
        exact = ww > 1 and not act  # the accumulator itself, in FINN's output datatype
        if exact:
            o_lo, o_hi = (0, (1 << ow) - 1) if odt.startswith("UINT") else (-(1 << (ow - 1)), (1 << (ow - 1)) - 1)
            assert o_lo <= want.min() and want.max() <= o_hi, (odt, want.min(), want.max())
        # a run at full rate (throughput) and runs with random gaps/stalls
        for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.6, 0.5), (0.9, 0.2)]):
            res = sim.run(beats, n_out=n_vec * nf, seed=seed * 10 + k * 3 + run_i, p_valid=pv, p_ready=pr)
            if exact:
                got = np.array(unpack_beats(res.out, lanes, ow, signed=not odt.startswith("UINT")))
                exp = want
            else:
                got = np.array(unpack_beats(res.out, lanes, ow, signed=True))
                exp = ((want + (1 << ow)) % (1 << ow))
                exp = np.where(exp >= (1 << (ow - 1)), exp - (1 << ow), exp)
            if not np.array_equal(got, exp):
                bad = np.argwhere(got != exp)[0]
                raise AssertionError(
                    f"mismatch set {k} run {run_i} at beat {bad[0]} pe {bad[1]}: "
                    f"rtl {got[bad[0], bad[1]]} finn {exp[bad[0], bad[1]]}\n{params}")
            if run_i == 0 and sim0 is not None:
                # the count lane costs no cycles: same input/output cycles as COUNT=0, and the
                # PE real lanes are bit-identical to the COUNT=0 unit's output
                res0 = sim0.run(beats, n_out=n_vec * nf, seed=seed * 10 + k * 3, p_valid=1.0, p_ready=1.0)
                assert res.in_cycles == res0.in_cycles and res.out_cycles == res0.out_cycles, (
                    res.in_cycles, res0.in_cycles, res.out_cycles, res0.out_cycles)
                mask = (1 << (pe * params["OUT_W"])) - 1
                assert [b & mask for b in res.out] == res0.out
                assert all(b >> (lanes * params["OUT_W"]) == 0 for b in res.out)
            if run_i == 0:
                # full throughput: SF*NF cycles per vector, and the latency of mvau.v's header:
                # 4 + D_T cycles from the last input beat of a pass to its output beat
                latency = 4 + tree_stages(simd, xnor, ww)
                assert res.out_cycles[0] - res.in_cycles[sf - 1] == latency, (
                    res.out_cycles[0], res.in_cycles[sf - 1], latency)
                span = res.out_cycles[-1] - res.in_cycles[0] + 1
                assert span <= n_vec * sf * nf + latency, (span, n_vec * sf * nf)
                # steady state: consecutive vectors' last beats are SF*NF cycles apart
                last = res.out_cycles[nf - 1::nf]
                assert all(b - a == sf * nf for a, b in zip(last, last[1:])), last


# (mw, mh, simd, pe, xnor, idt, odt, n_thr, act)
CASES = {
    "xnor_thr_bipolar": (24, 12, 4, 3, True, "BINARY", "BIPOLAR", 1, True),
    "xnor_thr_sf1_pe1": (30, 5, 30, 1, True, "BINARY", "BINARY", 1, True),
    "xnor_multithr_int2": (16, 6, 2, 6, True, "BINARY", "INT2", 3, True),
    "xnor_noact": (40, 10, 8, 2, True, "BINARY", "INT8", 0, False),
    "int_uint8_thr": (27, 8, 9, 4, False, "UINT8", "BIPOLAR", 1, True),
    "int_int4_noact_sext": (12, 4, 3, 2, False, "INT4", "INT24", 0, False),
    "int_uint4_multithr": (8, 4, 1, 1, False, "UINT4", "UINT2", 3, True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_mvau(name):
    run_case(*CASES[name], seed=sum(map(ord, name)))


@pytest.mark.parametrize("seed", [1, 2])
def test_mvau_random_shape(seed):
    """Random shapes and foldings (XNOR with thresholds)."""
    rng = np.random.default_rng(1000 + seed)
    simd = int(rng.choice([1, 2, 3, 5, 8]))
    pe = int(rng.choice([1, 2, 4, 7]))
    mw = simd * int(rng.integers(1, 6))
    mh = pe * int(rng.integers(1, 5))
    n_thr = int(rng.choice([1, 3]))
    run_case(mw, mh, simd, pe, True, "BINARY", "BINARY" if n_thr == 1 else "UINT2", n_thr, True, seed=seed)



@pytest.mark.parametrize("seed", [3, 4])
def test_mvau_random_shape_int(seed):
    """Random shapes and foldings, integer inputs x bipolar weights, with and without thresholds."""
    rng = np.random.default_rng(2000 + seed)
    simd = int(rng.choice([1, 3, 4, 9]))
    pe = int(rng.choice([1, 2, 5]))
    mw = simd * int(rng.integers(1, 5))
    mh = pe * int(rng.integers(1, 4))
    idt = str(rng.choice(["UINT8", "INT4", "UINT4"]))
    act = bool(seed % 2)
    if act:
        n_thr = int(rng.choice([1, 3]))
        odt = "BIPOLAR" if n_thr == 1 else "INT2"
    else:
        n_thr, odt = 0, "INT16"
    run_case(mw, mh, simd, pe, False, idt, odt, n_thr, act, seed=seed)

@pytest.mark.parametrize("mw,mh,simd,pe,pack,xnor", [(24, 12, 4, 3, 2, True), (6, 4, 1, 1, 3, True),
                                                   (24, 12, 4, 3, 24, True), (24, 12, 3, 2, 4, False)])
def test_mvau_packed_weight_memory(mw, mh, simd, pe, pack, xnor):
    """A deep weight memory stored several beats to a word (packed_param_rom.v): the same outputs, and
    the same full rate and latency, as the plain memory; pack = SF*NF is the whole period in one word."""
    assert (mw // simd) * (mh // pe) % pack == 0
    idt, odt = ("BINARY", "BIPOLAR") if xnor else ("UINT4", "INT2")
    run_case(mw, mh, simd, pe, xnor, idt, odt, 1 if xnor else 3, True, seed=pack * 7 + simd, pack=pack)


def test_weight_packing_rule():
    """Memories up to 16,384 words (one block RAM deep) stay one beat a word, LUT memories always; deeper
    ones get the smallest divisor that leaves at most 2,048 words, unless that is far beyond the packing
    needed (a prime depth)."""
    assert param_rom_pack(16_384) == 1 and param_rom_pack(100_000, "distributed") == 1
    assert param_rom_pack(200_704) == 98  # the fully folded demo's MVAU_0: 2,048 words of 98 bits
    assert param_rom_pack(32_768) == 16 and param_rom_pack(18_000) == 9 and param_rom_pack(49_158) == 1
    assert param_rom_pack(65_537) == 1  # prime: one word holding every beat would waste block RAM
    # 49,158 = 2 x 3^2 x 2,731 has no divisor between the 25 needed and 100
    words = [1, 2, 3, 4, 5, 6]
    assert pack_words(words, 4, 3) == [0x321, 0x654]
    with pytest.raises(ValueError, match="groups of 4"):
        pack_words(words, 4, 4)


# integer weights (weightDataType INTn -> WEIGHT_W = n, binaryXnorMode=0)
# (mw, mh, simd, pe, idt, wdt, odt, n_thr, act); odt "acc*": FINN's accumulator datatype (run_case)
INT_WEIGHT_CASES = {
    # stem conv: 3x3x3 UINT8 pixels, INT4 weights, accumulator out as for a last node (INT24 > ACC_W)
    "w4_uint8_noact_last": (27, 8, 9, 4, "UINT8", "INT4", "acc_last", 0, False),
    # fully parallel (SIMD = MW, PE = MH), INT8 inputs, exact accumulator datatype of INT2 weights
    "w2_int8_noact_full_parallel": (16, 8, 16, 8, "INT8", "INT2", "acc", 0, False),
    # SIMD = 1, INT8 x INT8 (the product corner (-128)*(-128)), output width from the weights (< ACC_W)
    "w8_int8_noact_value_simd1": (12, 6, 1, 3, "INT8", "INT8", "acc_value", 0, False),
    # INT4 x INT4, deep tree (SIMD 32: D_T = 3)
    "w4_int4_noact_deep_tree": (64, 10, 32, 5, "INT4", "INT4", "acc", 0, False),
    # 255 thresholds: UINT8 inputs -> INT8 output (1x1 down-sampling conv into an INT8 stream)
    "w8_uint8_thr255_int8": (18, 6, 6, 2, "UINT8", "INT8", "INT8", 255, True),
    # 255 thresholds: INT8 inputs -> UINT8 output, SIMD = 1, PE = MH
    "w4_int8_thr255_uint8": (24, 4, 1, 4, "INT8", "INT4", "UINT8", 255, True),
    # a few thresholds, INT4 inputs
    "w4_int4_thr3_int2": (20, 6, 5, 3, "INT4", "INT4", "INT2", 3, True),
    # classifier-like: one threshold, bipolar output, fully parallel input
    "w2_uint8_thr_bipolar_simd_mw": (32, 8, 32, 2, "UINT8", "INT2", "BIPOLAR", 1, True),
}


@pytest.mark.parametrize("name", list(INT_WEIGHT_CASES))
def test_mvau_int_weights(name):
    mw, mh, simd, pe, idt, wdt, odt, n_thr, act = INT_WEIGHT_CASES[name]
    run_case(mw, mh, simd, pe, False, idt, odt, n_thr, act, seed=sum(map(ord, name)), wdt=wdt)


@pytest.mark.parametrize("seed", [6, 9, 10, 11])
def test_mvau_random_shape_int_weights(seed):
    """Random shapes and foldings, integer inputs x integer weights, with and without thresholds."""
    rng = np.random.default_rng(3000 + seed)
    simd = int(rng.choice([1, 2, 3, 4, 9]))
    pe = int(rng.choice([1, 2, 3, 5]))
    mw = simd * int(rng.integers(1, 5))
    mh = pe * int(rng.integers(1, 4))
    idt = str(rng.choice(["UINT8", "INT8", "INT4", "UINT4"]))
    wdt = str(rng.choice(["INT2", "INT3", "INT4", "INT8"]))
    act = bool(seed % 2)
    if act:
        n_thr = int(rng.choice([1, 3, 15]))
        odt = {1: "BIPOLAR", 3: "INT2", 15: "UINT4"}[n_thr]
    else:
        n_thr, odt = 0, "acc"
    run_case(mw, mh, simd, pe, False, idt, odt, n_thr, act, seed=seed, wdt=wdt)


def test_mvau_weight_words_int():
    """Integer weight words: element (p, s) of word nf*SF + sf at bits [(p*SIMD + s)*ww, +ww), two's
    complement -- the order of the 1-bit words, each bit widened to ww bits."""
    mw, mh, simd, pe = 4, 6, 2, 3
    rng = np.random.default_rng(0)
    W = rng.integers(-8, 8, size=(mw, mh))
    words = mvau_weight_words(W, pe, simd, 4)
    sf, nf = mw // simd, mh // pe
    assert len(words) == sf * nf
    for n in range(nf):
        for f in range(sf):
            for p in range(pe):
                for s in range(simd):
                    v = (words[n * sf + f] >> ((p * simd + s) * 4)) & 0xF
                    assert v - 16 * (v >> 3) == W[f * simd + s, n * pe + p]
    # WEIGHT_W = 1 words are the same arrangement of single bits (1 = +1)
    Wb = rng.choice([-1, 1], size=(mw, mh))
    bits = mvau_weight_words(Wb, pe, simd)
    ints = mvau_weight_words(Wb, pe, simd, 2)
    for b, i in zip(bits, ints):
        for e in range(pe * simd):
            assert (b >> e) & 1 == int(((i >> (2 * e)) & 3) == 1)
    with pytest.raises(ValueError, match="do not fit 4 signed bits"):
        mvau_weight_words(np.full((mw, mh), 8), pe, simd, 4)


@pytest.mark.parametrize("idt", ["UINT8", "INT8", "INT4", "UINT4", "BINARY"])
@pytest.mark.parametrize("wdt", ["INT2", "INT4", "INT8"])
def test_mvau_acc_bounds_int(idt, wdt):
    """The accumulator bounds against FINN: any weights of the type as FINN's worst case
    (minimize_accumulator_width(datatype_only=True)), the bounds of given weights as qonnx's
    calculate_matvec_accumulator_range; the RTL's ACC_W holds them."""
    from qonnx.core.datatype import DataType
    from qonnx.util.basic import calculate_matvec_accumulator_range

    mw, mh = 27, 5
    i_dt, w_dt = DataType[idt], DataType[wdt]
    in_lo, in_hi = int(i_dt.min()), int(i_dt.max())
    lo, hi = mvau_acc_bounds_int(mw, w_dt.bitwidth(), in_lo, in_hi)
    ranges = [calculate_matvec_accumulator_range(np.full((mw, mh), w), i_dt) for w in (w_dt.min(), w_dt.max())]
    assert (lo, hi) == (min(r[0] for r in ranges), max(r[1] for r in ranges))
    acc_dt, _ = finn_ref.mvau_acc_datatype(np.zeros((mw, mh)), idt=idt, wdt=wdt, datatype_only=True, last=False)
    assert DataType[acc_dt].allowed(lo) and DataType[acc_dt].allowed(hi)
    # mvau.v: ACC_W = IN_W + WEIGHT_W + clog2(MW + 1) bits, signed
    acc_w = i_dt.bitwidth() + w_dt.bitwidth() + (mw).bit_length()
    assert -(1 << (acc_w - 1)) <= lo and hi < (1 << (acc_w - 1))
    rng = np.random.default_rng(1)
    W = rng.integers(int(w_dt.min()), int(w_dt.max()) + 1, size=(mw, mh))
    assert mvau_weight_acc_bounds(W, in_lo, in_hi) == tuple(int(v) for v in calculate_matvec_accumulator_range(W, i_dt))
    # bipolar weights: the same as the bipolar bounds
    assert mvau_acc_bounds_int(mw, 1, in_lo, in_hi) == mvau_acc_bounds(mw, False, in_lo, in_hi)


@pytest.mark.parametrize("extra", [dict(COUNT=1, NO_ACT=1, OUT_W=16), dict(XNOR=1, IN_W=1)])
def test_mvau_int_weights_illegal(extra):
    """WEIGHT_W > 1 with COUNT = 1 or XNOR = 1: the initial-block check ends the simulation."""
    from hw_bnn.errors import HwBnnError

    params = {**dict(MW=16, MH=8, SIMD=4, PE=2, XNOR=0, IN_W=8, WEIGHT_W=4), **extra}
    mems = ("WEIGHT_FILE",) if params.get("NO_ACT") else ("WEIGHT_FILE", "THRESH_FILE")
    sim = Sim("mvau", params, mem_params=mems)
    sim.mem_path("WEIGHT_FILE").write_text("00000000\n" * 16)
    if "THRESH_FILE" in mems:
        sim.mem_path("THRESH_FILE").write_text("0000\n" * 4)
    with pytest.raises(HwBnnError, match="WEIGHT_W must be 1 .. 16, and > 1 only with XNOR = 0, COUNT = 0"):
        sim.run([0] * 4, n_out=4)


# COUNT=1 (extra lane PE = all-ones weight row; NO_ACT only)
# (mw, mh, simd, pe, xnor, idt, odt, n_thr, act)
COUNT_CASES = {
    "count_xnor": (16, 8, 4, 2, True, "BINARY", "INT8", 0, False),
    "count_xnor_full_parallel": (16, 8, 16, 8, True, "BINARY", "INT8", 0, False),
    "count_xnor_simd1_pe1": (16, 8, 1, 1, True, "BINARY", "INT8", 0, False),
    "count_xnor_deep_tree": (64, 4, 32, 2, True, "BINARY", "INT8", 0, False),
    # CNV first layer: 3x3x3 UINT8 pixels, count up to 27*255 = 6885
    "count_int_uint8": (27, 8, 9, 4, False, "UINT8", "INT16", 0, False),
    "count_int_int4": (12, 4, 3, 2, False, "INT4", "INT8", 0, False),
    "count_int_int4_sext": (12, 6, 1, 3, False, "INT4", "INT24", 0, False),
}


@pytest.mark.parametrize("name", list(COUNT_CASES))
def test_mvau_count(name):
    run_case(*COUNT_CASES[name], seed=sum(map(ord, name)), count=True)


def test_mvau_count_requires_no_act():
    """COUNT=1 with thresholds: the initial-block check ends the simulation with an error."""
    from hw_bnn.errors import HwBnnError

    sim = Sim("mvau", dict(MW=16, MH=8, SIMD=4, PE=2, COUNT=1, NO_ACT=0),
              mem_params=("WEIGHT_FILE", "THRESH_FILE"))
    sim.mem_path("WEIGHT_FILE").write_text("00\n" * 16)
    sim.mem_path("THRESH_FILE").write_text("0000\n" * 4)
    with pytest.raises(HwBnnError, match="COUNT = 1 requires NO_ACT = 1"):
        sim.run([0] * 4, n_out=4)


def test_mvau_negative_bn_scale_channels():
    """Channels with a negative BatchNorm scale, through FINN's own lowering.

    FINN never emits a flipped (<=) comparison: Streamline factors the sign of a
    negative per-channel Mul out (FactorOutMulSignMagnitude) and absorbs it into
    the bipolar weights (Absorb1BitMulIntoMatMul), so such a channel arrives at
    the MVAU with an inverted weight column and an ordinary >= threshold.  Here
    MatMul -> Mul(+-scale) -> Add(bias) -> sign is lowered by FINN to an XNOR
    MVAU, and the RTL built from that MVAU's W/T must reproduce the original
    graph, including exact ties (scale*acc + bias == 0 -> +1).
    """
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    finn_ref._setup()
    from finn.core.onnx_exec import execute_onnx
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
    from finn.transformation.streamline import Streamline
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds

    mw, mh, simd, pe, nv = 24, 12, 4, 3, 40
    rng = np.random.default_rng(7)
    W = rng.choice([-1.0, 1.0], (mw, mh)).astype(np.float32)
    sign = np.where(np.arange(mh) % 3 == 1, -1.0, 1.0)
    scale = (sign * rng.choice([0.5, 1.0, 2.0], mh)).reshape(1, mh).astype(np.float32)
    # even integer biases in the accumulator's range give exact ties
    bias = (rng.integers(-6, 7, (1, mh)) * 2 * np.abs(scale)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"]),
        helper.make_node("Mul", ["mm", "s"], ["ms"]),
        helper.make_node("Add", ["ms", "b"], ["ab"]),
        helper.make_node("MultiThreshold", ["ab", "T"], ["y"], domain="qonnx.custom_op.general",
                         out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0),
    ]
    g = helper.make_graph(nodes, "bn_sign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [nv, mw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [nv, mh])])
    model = ModelWrapper(qonnx_make_model(g))
    for name, val in (("W", W), ("s", scale), ("b", bias), ("T", np.zeros((mh, 1), np.float32))):
        model.set_initializer(name, val)
    model.set_tensor_datatype("x", DataType["BIPOLAR"])
    model.set_tensor_datatype("W", DataType["BIPOLAR"])
    model.set_tensor_datatype("y", DataType["BIPOLAR"])
    model = model.transform(InferShapes()).transform(InferDataTypes())

    x = rng.choice([-1.0, 1.0], (nv, mw)).astype(np.float32)
    x[:mh] = np.where(W.T > 0, 1.0, -1.0)  # vectors equal to weight columns: extreme accumulators
    y_ref = execute_onnx(model, {"x": x})["y"]
    # make sure the test exercises ties on both kinds of channel
    acc = x @ W
    ties = (acc * scale + bias) == 0
    assert ties[:, sign < 0].any() and ties[:, sign > 0].any()

    hw = model.transform(Streamline()).transform(ConvertBipolarMatMulToXnorPopcount())
    hw = hw.transform(Streamline()).transform(RoundAndClipThresholds())
    hw = hw.transform(InferBinaryMatrixVectorActivation())
    assert [n.op_type for n in hw.graph.node] == ["MVAU"]
    mvau = hw.graph.node[0]
    Wm, Tm = hw.get_initializer(mvau.input[1]), hw.get_initializer(mvau.input[2])
    assert (Tm >= 0).all()
    for c in range(mh):  # negative-scale channels carry inverted weight columns
        assert np.array_equal(Wm[:, c] > 0, (W[:, c] > 0) == (sign[c] > 0))

    acc_lo, acc_hi = mvau_acc_bounds(mw, True)
    thr_w = signed_width([acc_lo, acc_hi + 1])
    params = mvau_params(mw, mh, simd, pe, True, "BINARY", "BIPOLAR", 1, True, thr_w)
    sim = Sim("mvau", params, mem_params=("WEIGHT_FILE", "THRESH_FILE"))
    write_mvau_weights(sim.mem_path("WEIGHT_FILE"), Wm, pe, simd)
    write_thresholds(sim.mem_path("THRESH_FILE"), prepare_thresholds(Tm, mh, acc_lo, acc_hi), pe, thr_w)
    beats = pack_beats(((x + 1) / 2).astype(np.int64).reshape(-1, simd), 1)
    res = sim.run(beats, n_out=nv * mh // pe, seed=3, p_valid=0.8, p_ready=0.7)
    got = np.array(unpack_beats(res.out, pe, 1)).reshape(nv, mh)
    assert np.array_equal(got, (y_ref > 0).astype(np.int64))
