"""RTL of residual graphs: the fork (FINN ``DuplicateStreams``: duplicate_streams.v) and the join (FINN
``ElementwiseAdd`` of two streams: add_streams.v) of every shortcut. The global pool and channel-wise
constants of residual nets are FINN node equivalents (``hw_bnn.rtl.finn_emit``).
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.finn_emit import elementwise_operands
from hw_bnn.rtl.streams import RtlNode, Stream, node_dtype, pixel_stream


def emit_duplicate_streams(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    if int(inst.get_nodeattr("NumOutputStreams")) != 2:
        raise HwBnnError(f"node '{node.name}' (DuplicateStreams) has {inst.get_nodeattr('NumOutputStreams')} "
                         f"outputs; the RTL module forks into 2 (a tensor feeds at most two consumers)")
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    stream = pixel_stream([*inst.get_nodeattr("numInputVectors"), channels], node_dtype(inst, "inputDataType"), pe)
    return RtlNode(node.name, "duplicate_streams", dict(WIDTH=stream.width), stream, stream,
                   out_ports=("m0_axis", "m1_axis"))


def emit_add_streams(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    """ElementwiseAdd of two streams (a residual sum): add_streams."""
    inst, pe, lhs, rhs, out, shape = elementwise_operands(model, node)
    a = pixel_stream(shape, lhs, pe)
    y = pixel_stream(shape, out, pe)
    if node.op_type != "ElementwiseAdd" or list(inst.get_nodeattr("rhs_shape")) != shape:
        raise HwBnnError(f"node '{node.name}' ({node.op_type}): two streamed operands are mapped for "
                         f"ElementwiseAdd of equal shapes only")
    b = pixel_stream(shape, rhs, pe)
    params = dict(PE=pe, A_W=a.elem_bits, A_SIGNED=int(lhs.signed()), B_W=b.elem_bits,
                  B_SIGNED=int(rhs.signed()), OUT_W=y.elem_bits, OUT_SIGNED=int(out.signed()))
    return RtlNode(node.name, "add_streams", params, a, y, in_ports=("s0_axis", "s1_axis"), side_inp=b)
