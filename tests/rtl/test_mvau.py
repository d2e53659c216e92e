"""mvau.v against FINN's python execution of the generic ``MVAU`` node.

One Verilator build per parameterisation; each build is re-run with several
random weight/threshold sets (memory files rewritten), random input vectors,
random valid gaps and ready stalls.
"""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim
from hw_bnn.rtl.memfiles import mvau_acc_bounds, prepare_thresholds, signed_width, write_mvau_weights, write_thresholds

DT_RANGE = {"BINARY": (0, 1), "UINT8": (0, 255), "INT4": (-8, 7), "UINT4": (0, 15)}
DT_BITS = {"BINARY": 1, "BIPOLAR": 1, "UINT2": 2, "INT2": 2, "UINT8": 8, "INT4": 4,
           "UINT4": 4, "INT8": 8, "INT16": 16, "INT24": 24}


def mvau_params(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, thr_w):
    """RTL parameters of mvau.v for a FINN MVAU configuration (thresholds as prepared)."""
    p = dict(MW=mw, MH=mh, SIMD=simd, PE=pe, XNOR=int(xnor), IN_W=DT_BITS[idt],
             IN_SIGNED=int(idt.startswith("INT")), NO_ACT=int(not act), OUT_W=DT_BITS[odt])
    if act:
        actval = 0 if odt in ("BIPOLAR", "BINARY") else (-(1 << (DT_BITS[odt] - 1)) if odt.startswith("INT") else 0)
        p.update(N_THR=n_thr, THR_W=thr_w, ACT_BIAS=actval)
    return p


def mvau_tree_stages(simd, xnor, k=3):
    """Register stages of mvau.v's adder tree (TREE_K = k levels per stage)."""
    lv = (simd - 1).bit_length()
    off = 0 if xnor else 1
    return 1 if lv == 0 else sum(1 for lvl in range(1, lv + 1) if lvl == lv or (lvl + off) % k == 0)


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


def run_case(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, seed, n_sets=3, n_vec=6, count=False):
    """``count``: build with COUNT=1 (NO_ACT only) and also check lane PE (the all-ones-row
    accumulator: popcount / sum of each vector) and that the full-rate timing equals COUNT=0."""
    rng = np.random.default_rng(seed)
    in_lo, in_hi = DT_RANGE[idt]
    acc_lo, acc_hi = mvau_acc_bounds(mw, xnor, in_lo, in_hi)
    # thresholds are clipped to [acc_lo, acc_hi + 1]
    thr_w = signed_width([acc_lo, acc_hi + 1])
    params = mvau_params(mw, mh, simd, pe, xnor, idt, odt, n_thr, act, thr_w)
    mems = ("WEIGHT_FILE", "THRESH_FILE") if act else ("WEIGHT_FILE",)
    sim0 = None
    if count:
        assert not act, "COUNT=1 requires NO_ACT=1"
        sim0 = Sim("mvau", params, mem_params=mems)  # the same unit without the count lane
        params = dict(params, COUNT=1)
    sim = Sim("mvau", params, mem_params=mems)
    lanes = pe + int(count)
    sf, nf = mw // simd, mh // pe
    for k in range(n_sets):
        if xnor:
            W = rng.integers(0, 2, size=(mw, mh)).astype(np.float64)
        else:
            W = rng.choice([-1.0, 1.0], size=(mw, mh))
        x = rng.integers(in_lo, in_hi + 1, size=(n_vec, mw)).astype(np.float64)
        # include the extreme vectors (all-min / all-max / matching a weight column)
        x[0] = in_lo
        x[1] = in_hi
        if xnor:
            x[2] = W[:, rng.integers(mh)]
        acc = finn_ref.mvau(x, W, None, simd=simd, pe=pe, xnor=xnor, idt=idt,
                            wdt="BINARY" if xnor else "BIPOLAR", odt="INT32")
        T = None
        if act:
            T = random_thresholds(rng, acc, mh, n_thr, acc_lo, acc_hi, sort=(k % 2 == 0))
            if n_thr == 1 and k == 2:
                T = T[:1]  # a single global threshold row, broadcast by FINN
            write_thresholds(sim.mem_path("THRESH_FILE"), prepare_thresholds(T, mh, acc_lo, acc_hi),
                             pe, thr_w)
        write_mvau_weights(sim.mem_path("WEIGHT_FILE"), W, pe, simd)
        if sim0 is not None:
            write_mvau_weights(sim0.mem_path("WEIGHT_FILE"), W, pe, simd)
        actval = params.get("ACT_BIAS", 0) if odt != "BIPOLAR" else 0
        y = finn_ref.mvau(x, W, T, simd=simd, pe=pe, xnor=xnor, idt=idt,
                          wdt="BINARY" if xnor else "BIPOLAR", odt=odt,
                          actval=actval if odt != "BIPOLAR" else 0)
        want = expected_elems(y, odt).reshape(n_vec * nf, pe)
        if count:
            # lane PE: all-ones weight row = popcount of the bits (XNOR) / sum of the elements,
            # the same on every one of a vector's NF output beats
            cnt = x.astype(np.int64).sum(axis=1)
            want = np.concatenate([want, np.repeat(cnt, nf)[:, None]], axis=1)
        beats = pack_beats(x.astype(np.int64).reshape(n_vec * sf, simd), params["IN_W"])
        # a run at full rate (throughput) and runs with random gaps/stalls
        for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.6, 0.5), (0.9, 0.2)]):
            res = sim.run(beats, n_out=n_vec * nf, seed=seed * 10 + k * 3 + run_i, p_valid=pv, p_ready=pr)
            got = np.array(unpack_beats(res.out, lanes, params["OUT_W"], signed=True))
            exp = want.copy()
            ow = params["OUT_W"]
            exp = ((exp + (1 << ow)) % (1 << ow))
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
                # full throughput: SF*NF cycles per vector, a few cycles of latency
                # (4 + the adder tree's register stages, see mvau.v)
                span = res.out_cycles[-1] - res.in_cycles[0] + 1
                assert span <= n_vec * sf * nf + 4 + mvau_tree_stages(simd, xnor), (span, n_vec * sf * nf)
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
