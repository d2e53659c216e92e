"""RTL of AdaBin's combine-and-threshold node: ``AdaBinThreshold`` -> hls/rtl/adabin/adabin_threshold.v.

It reads the stream of the MVAU before it: PE accumulators and, in the last lane, the count of the
input vector (the MVAU's count lane, ``hw_bnn.rtl.finn_emit.emit_mvau``).
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.features.adabin.memfiles import write_adabin_params
from hw_bnn.rtl.streams import RtlNode, Stream


def emit_adabin_threshold(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    producer = model.find_producer(node.input[0])  # the MVAU whose accumulators and count lane arrive
    if arriving is None or not arriving.count_lane_channels:
        raise HwBnnError(f"node '{node.name}' (AdaBinThreshold) must follow the MVAU that makes its accumulators "
                         f"and count lane")
    channels, pe = inst.channels(model), int(inst.get_nodeattr("PE"))
    if pe != arriving.elems - 1:
        raise HwBnnError(f"node '{node.name}' (AdaBinThreshold): PE={pe} differs from the PE={arriving.elems - 1} "
                         f"of '{producer.name}' that feeds it; they share one stream, set them equal")
    params = [[int(v) for v in row] for row in inst.params(model)]
    widths = inst.widths(model)
    entry = (f"{node.name}_params.mem",
             lambda path: write_adabin_params(path, params, pe, widths["coef"], widths["thr"]))
    verilog = dict(C=channels, PE=pe, ACC_W=arriving.elem_bits, COEF_W=widths["coef"], THR_W=widths["thr"], PASS=0)
    beats = inst.vectors(model) * channels // pe
    return RtlNode(node.name, "adabin_threshold", verilog, arriving, Stream(pe, 1, beats), {"PARAM_FILE": entry})
