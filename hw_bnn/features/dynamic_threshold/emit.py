"""RTL of the dynamic (per-sample) thresholds: the four nodes of a dynamic layer, each one module of
hls/rtl/dynamic_threshold/: ``GlobalPoolAccumulator`` -> frame_channel_sums.v, ``FrameHyperFunction``
-> hyper_function.v, ``FrameBuffer`` -> frame_buffer.v, ``FrameThreshold`` -> frame_threshold.v (a
multi-level layer: ``FrameMultiThreshold`` -> frame_multi_threshold.v).

Between them runs the framed stream: a frame of accumulators followed by one side row (the channel sums,
then the frame's thresholds, tagged by hyper_function.v).
"""

from __future__ import annotations

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.features.dynamic_threshold.memfiles import (HYPER_MEMORIES, hyper_memory_words, write_multi_threshold_table,
                                                       write_sign_file)
from hw_bnn.rtl.memfiles import write_memh
from hw_bnn.rtl.streams import RtlNode, Stream


def _framed_stream(model: ModelWrapper, node):
    """(inst, the framed stream: a frame of acc plus its side row of sums or thresholds) of a per-frame node."""
    inst = getCustomOp(node)
    pe, bits = int(inst.get_nodeattr("PE")), inst.stream_bits()
    framed = Stream(pe, bits, (inst.pixels + 1) * inst.folds(), signed=True)
    return inst, framed


def _frame_params(inst) -> dict:
    return dict(C=inst.channels, PE=int(inst.get_nodeattr("PE")), PIXELS=inst.pixels)


def emit_frame_channel_sums(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst, framed = _framed_stream(model, node)
    producer = model.find_producer(node.input[0])  # an MVAU's accumulators (a popcount is unsigned), or codes
    if arriving is None:
        raise HwBnnError(f"node '{node.name}' (GlobalPoolAccumulator) starts the design; it must follow the "
                         f"HW node that makes its accumulators")
    if arriving.elems != framed.elems:
        raise HwBnnError(f"node '{node.name}' (GlobalPoolAccumulator): PE={framed.elems} differs from the "
                         f"PE={arriving.elems} of '{producer.name}' that feeds it; set them equal")
    params = dict(**_frame_params(inst), IN_W=arriving.elem_bits, IN_SIGNED=int(arriving.signed),
                  OUT_W=framed.elem_bits)
    return RtlNode(node.name, "frame_channel_sums", params, arriving, framed)


def emit_hyper_function(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst, framed = _framed_stream(model, node)
    sizes, widths = inst.sizes(model), inst.widths(model)
    params = inst.params(model)
    macs = int(inst.get_nodeattr("MACS"))
    verilog = dict(**_frame_params(inst), W=framed.elem_bits, J=sizes["J"], HEADS=sizes["HEADS"], NP=sizes["NP"],
                   POOL_OFFSET=int(inst.get_nodeattr("pool_offset")), P_W=widths["P_W"], WT_W=widths["WT_W"],
                   A1_W=widths["A1_W"], NH=sizes["NH"], H_W=widths["H_W"], A2_W=widths["A2_W"], NO=sizes["NO"],
                   MACS=macs)
    words = hyper_memory_words(params, verilog["PE"], macs, widths)
    mem = {name: (f"{node.name}_{name.removesuffix('_FILE').lower()}.mem",
                  lambda path, words=words[name]: write_memh(path, *words))
           for name in HYPER_MEMORIES}
    tagged = Stream(framed.elems, framed.elem_bits, framed.beats, signed=True, tag=1)
    return RtlNode(node.name, "hyper_function", verilog, framed, tagged, mem)


def emit_frame_buffer(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst, framed = _framed_stream(model, node)
    tagged = Stream(framed.elems, framed.elem_bits, framed.beats, signed=True, tag=1)
    params = dict(**_frame_params(inst), W=framed.elem_bits,
                  DATA_W=DataType[inst.get_nodeattr("accDataType")].bitwidth(), FRAMES=int(inst.get_nodeattr("frames")))
    return RtlNode(node.name, "frame_buffer", params, tagged, framed)


def emit_frame_threshold(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst, framed = _framed_stream(model, node)
    sign = model.get_initializer(node.input[1])
    pe = int(inst.get_nodeattr("PE"))
    entry = (f"{node.name}_signs.mem", lambda path: write_sign_file(path, sign, pe))
    bits = Stream(framed.elems, 1, inst.pixels * inst.folds())
    return RtlNode(node.name, "frame_threshold", dict(**_frame_params(inst), W=framed.elem_bits), framed, bits,
                   {"SIGN_FILE": entry})


def emit_frame_multi_threshold(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst, framed = _framed_stream(model, node)
    params = dict(**inst.rtl_params(model), W=framed.elem_bits)
    table, pe, thr_w = inst.table(model), params["PE"], params["THR_W"]
    entry = (f"{node.name}_table.mem", lambda path: write_multi_threshold_table(path, table, pe, thr_w))
    codes = Stream(framed.elems, params["OUT_W"], inst.pixels * inst.folds(), signed=True)
    return RtlNode(node.name, "frame_multi_threshold", params, framed, codes, {"TABLE_FILE": entry})
