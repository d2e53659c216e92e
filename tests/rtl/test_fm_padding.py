"""fm_padding.v against FINN's python execution of ``FMPadding``, alone and as the first layer of a
compiled conv net whose first conv pads (FINN's InferConvInpGen puts FMPadding before the SWG)."""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

# (h, w, padding [top, left, bottom, right], c, simd, idt)
CASES = {
    "uint8_rgb_pad1": (5, 5, [1, 1, 1, 1], 3, 3, "UINT8"),
    "int4_asym_simd2": (4, 3, [2, 0, 1, 3], 4, 2, "INT4"),
    "binary_1x1_bottom_right": (1, 1, [0, 0, 2, 1], 2, 1, "BINARY"),
    "uint2_no_pad": (3, 4, [0, 0, 0, 0], 6, 2, "UINT2"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fm_padding(name):
    h, w, pad, c, simd, idt = CASES[name]
    bits = 1 if idt == "BINARY" else int(idt.lstrip("UINT"))
    signed = idt.startswith("INT")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    params = dict(IMG_H=h, IMG_W=w, PAD_T=pad[0], PAD_L=pad[1], PAD_B=pad[2], PAD_R=pad[3], C=c, SIMD=simd,
                  ELEM_W=bits)
    sim = Sim("fm_padding", params)
    rng = np.random.default_rng(sum(map(ord, name)))
    imgs = rng.integers(lo, hi + 1, size=(3, 1, h, w, c))
    beats, want = [], []
    for img in imgs:
        y = finn_ref.fm_padding(img, padding=pad, simd=simd, idt=idt)
        assert y.shape == (1, h + pad[0] + pad[2], w + pad[1] + pad[3], c)
        beats += pack_beats(img.reshape(-1, simd), bits)
        want.append(y.reshape(-1, simd).astype(np.int64))
    want = np.concatenate(want)
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.7), (0.9, 0.2)]):
        res = sim.run(beats, n_out=len(want), seed=run_i, p_valid=pv, p_ready=pr)
        got = np.array(unpack_beats(res.out, simd, bits, signed=signed))
        assert np.array_equal(got, want), (run_i, np.argwhere(got != want)[:3])
        if run_i == 0:  # one output beat per cycle: FINN's expected cycles
            assert res.out_cycles[-1] - res.out_cycles[0] == len(want) - 1


def test_padded_conv_net_equals_finn_and_pytorch(random_images, tmp_path):
    """A conv net whose first conv has padding=1: FMPadding on the UINT8 pixels, in the stitched RTL."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from model_helpers import randomize_batchnorm
    from torch import nn

    from hw_bnn.compiler import compile_model
    from hw_bnn.config import BuildConfig
    from hw_bnn.execute import run_graph
    from hw_bnn.export import export_model
    from hw_bnn.quant import BipolarAct, BipolarWeight
    from hw_bnn.design import sim as rtl_sim
    from hw_bnn.train import predict

    model = randomize_batchnorm(nn.Sequential(
        QuantConv2d(2, 4, 3, padding=1, bias=False, weight_quant=BipolarWeight), nn.BatchNorm2d(4),
        QuantIdentity(act_quant=BipolarAct),
        nn.MaxPool2d(2), nn.Flatten(),
        QuantLinear(4 * 4 * 4, 10, bias=False, weight_quant=BipolarWeight),
    ), seed=3)
    graph = export_model(model, (2, 8, 8), tmp_path / "export.onnx")
    hw = compile_model(graph, BuildConfig())
    ops = [n.op_type for n in hw.graph.node]
    assert ops.index("FMPadding") + 1 == ops.index("ConvolutionInputGenerator")
    images = random_images(4, shape=(2, 8, 8), seed=8)
    result = rtl_sim.simulate(hw, images, tmp_path)
    assert np.array_equal(result.outputs, run_graph(hw, images, show_progress=False))
    assert np.array_equal(result.outputs, predict(model, images))
    node = next(n for n in result.design.nodes if n.module == "fm_padding")
    assert node.params == dict(IMG_H=8, IMG_W=8, PAD_T=1, PAD_L=1, PAD_B=1, PAD_R=1, C=2, SIMD=2, ELEM_W=8)


def test_emitter_rejects_bipolar_padding():
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from hw_bnn.errors import HwBnnError
    from hw_bnn.design.emitters import emit

    def graph(idt):
        node = helper.make_node("FMPadding", ["inp"], ["out"], name="FMPadding_3",
                                domain="finn.custom_op.fpgadataflow", backend="fpgadataflow", ImgDim=[4, 3],
                                Padding=[1, 0, 2, 1], NumChannels=4, SIMD=2, inputDataType=idt)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 4, 3, 4])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 7, 4, 4])])
        model = ModelWrapper(qonnx_make_model(g))
        return model, model.graph.node[0]

    rtl = emit(*graph("INT4"))
    assert (rtl.inp.beats, rtl.out.beats, rtl.out.elems, rtl.out.signed) == (4 * 3 * 2, 7 * 4 * 2, 2, True)
    with pytest.raises(HwBnnError, match="'FMPadding_3'.*BIPOLAR"):
        emit(*graph("BIPOLAR"))
