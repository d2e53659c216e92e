"""label_select.v against FINN's python execution of ``LabelSelect``, alone and at the end of a
compiled network (FINN's InsertTopK + AbsorbScalarMulAddIntoTopK + InferLabelSelectLayer)."""

from __future__ import annotations

import numpy as np
import pytest

import finn_ref
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

# (labels, pe, k, idt): signed and unsigned values, PE-folded and unfolded, top-1 and top-K
CASES = {
    "int4_top1_pe1": (10, 1, 1, "INT4"),
    "int8_top1_pe4": (12, 4, 1, "INT8"),
    "uint3_top3_pe2": (6, 2, 3, "UINT3"),
    "int5_top5_nf1": (5, 5, 5, "INT5"),
}


def _vectors(rng, n, labels, lo, hi):
    """Random vectors from a narrow range (many equal maxima), plus constant and extreme ones."""
    x = rng.integers(lo, hi + 1, size=(n, labels))
    narrow = rng.integers(lo, hi + 1, size=(n, 1)) + rng.integers(0, 2, size=(n, labels))
    x[: n // 2] = np.clip(narrow[: n // 2], lo, hi)
    x[0] = lo
    x[1] = hi
    x[2, :] = lo
    x[2, -1] = hi
    return x


@pytest.mark.parametrize("name", list(CASES))
def test_label_select(name):
    labels, pe, k, idt = CASES[name]
    bits = int(idt.lstrip("UINT"))
    signed = idt.startswith("INT")
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    out_w = 8  # FINN's default outputDataType for up to 256 labels: UINT8
    sim = Sim("label_select", dict(LABELS=labels, PE=pe, K=k, IN_W=bits, IN_SIGNED=int(signed), OUT_W=out_w))
    rng = np.random.default_rng(sum(map(ord, name)))
    x = _vectors(rng, 24, labels, lo, hi)
    want = finn_ref.label_select(x, k=k, pe=pe, idt=idt).astype(np.int64)
    assert want.shape == (len(x), k)
    # the tie rule FINN (onnxruntime TopK) follows: largest first, equal values by lower index
    assert np.array_equal(want, np.argsort(-x, axis=1, kind="stable")[:, :k])
    beats = pack_beats(x.reshape(-1, pe), bits)
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.7), (0.9, 0.2)]):
        res = sim.run(beats, n_out=want.size, seed=run_i, p_valid=pv, p_ready=pr)
        got = np.array(unpack_beats(res.out, 1, out_w)).reshape(want.shape)
        assert np.array_equal(got, want), (run_i, np.argwhere(got != want)[:3])
        if run_i == 0:
            nf = labels // pe
            if k <= nf:  # input at full rate, output beats of a vector right after its last beat
                assert res.in_cycles[-1] - res.in_cycles[0] == len(beats) - 1
                assert res.out_cycles[-1] - res.in_cycles[-1] == k


def test_mlp_with_label_select_equals_finn(random_images, tmp_path):
    """A compiled MLP ending in FINN's LabelSelect: the stitched RTL returns FINN's class indices."""
    from model_helpers import randomize_batchnorm
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.insert_topk import InsertTopK

    from hw_bnn.compiler import compile_model
    from hw_bnn.config import BuildConfig
    from hw_bnn.execute import run_graph
    from hw_bnn.export import export_model
    from hw_bnn.models.mlp import BinaryMLP
    from hw_bnn.design import sim as rtl_sim
    from hw_bnn.train import predict
    import hw_bnn.finn_env  # noqa: F401
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
    from finn.transformation.streamline.absorb import AbsorbScalarMulAddIntoTopK

    model = randomize_batchnorm(BinaryMLP(hidden=(32, 16)), seed=5)
    graph = export_model(model, (1, 28, 28), tmp_path / "export.onnx")
    hw = compile_model(graph, BuildConfig(target_cycles_per_frame=300))
    # the class-index stage: TopK at the output, the host's 2*P - K affine absorbed into it
    # (a positive scale and an offset keep the order), then TopK -> LabelSelect
    hw = hw.transform(InsertTopK(k=1)).transform(AbsorbScalarMulAddIntoTopK()).transform(InferDataTypes())
    hw = hw.transform(InferLabelSelectLayer()).transform(GiveUniqueNodeNames())
    label_select = next(n for n in hw.graph.node if n.op_type == "LabelSelect")
    assert hw.graph.node[-1] is label_select
    getCustomOp(label_select).set_nodeattr("PE", 2)  # folded: 5 beats of 2 values per image
    images = random_images(12, seed=21)
    result = rtl_sim.simulate(hw, images, tmp_path)
    finn = run_graph(hw, images, show_progress=False)
    assert np.array_equal(result.outputs, finn)
    assert np.array_equal(result.outputs[:, 0], np.argmax(predict(model, images), axis=1))
    node = next(n for n in result.design.nodes if n.module == "label_select")
    assert node.params["IN_W"] < 32  # the MVAU's exact accumulator width, not FINN's UINT32 annotation


def test_emitter_rejects_what_the_module_cannot_do():
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    from hw_bnn.errors import HwBnnError
    from hw_bnn.design.emitters import emit

    def graph(**attrs):
        node = helper.make_node("LabelSelect", ["inp"], ["out"], name="LabelSelect_7",
                                domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                                **{**dict(Labels=10, PE=1, K=1, inputDataType="INT8", outputDataType="UINT8",
                                          numInputVectors=[1]), **attrs})
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])])
        model = ModelWrapper(qonnx_make_model(g))
        return model, model.graph.node[0]

    rtl = emit(*graph(PE=5, K=2))
    assert (rtl.module, rtl.inp.beats, rtl.out.beats, rtl.out.elem_bits) == ("label_select", 2, 2, 8)
    with pytest.raises(HwBnnError, match="'LabelSelect_7'.*UINT2 cannot hold"):
        emit(*graph(outputDataType="UINT2"))
    with pytest.raises(HwBnnError, match="'LabelSelect_7'.*PE=3 dividing"):
        emit(*graph(PE=3))
    with pytest.raises(HwBnnError, match="'LabelSelect_7'.*FLOAT32 input"):
        emit(*graph(inputDataType="FLOAT32"))
