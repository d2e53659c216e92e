"""The emitter of every HW op type: FINN's nodes (``hw_bnn.rtl.finn_emit``) and each feature's own
(``hw_bnn.features.*.emit``). :func:`emit_nodes` emits a design's nodes in graph order and hands each
emitter the stream that arrives at its input; an op type without an emitter is an error naming the node.
"""

from __future__ import annotations

from typing import Callable

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.features.adabin.emit import emit_adabin_threshold
from hw_bnn.features.dynamic_threshold.emit import (emit_frame_buffer, emit_frame_channel_sums,
                                                    emit_frame_multi_threshold, emit_frame_threshold,
                                                    emit_hyper_function)
from hw_bnn.features.residual.emit import emit_add_streams, emit_duplicate_streams
from hw_bnn.rtl.finn_emit import (emit_channelwise_op, emit_fm_padding, emit_global_acc_pool, emit_label_select,
                                  emit_mvau, emit_pool, emit_sliding_window, emit_thresholding)
from hw_bnn.rtl.streams import RtlNode, Stream

Emitter = Callable[[ModelWrapper, object, "Stream | None"], RtlNode]


def emit_elementwise(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    """FINN's ElementwiseAdd/Mul: of two streams a residual sum, with a constant a channel-wise op."""
    two_streams = getCustomOp(node).get_nodeattr("rhs_style") == "input"
    return (emit_add_streams if two_streams else emit_channelwise_op)(model, node, arriving)


#: HW op type -> emitter.
EMITTERS: dict[str, Emitter] = {
    "MVAU": emit_mvau,
    "Thresholding": emit_thresholding,
    "ConvolutionInputGenerator": emit_sliding_window,
    "Pool": emit_pool,
    "LabelSelect": emit_label_select,
    "FMPadding": emit_fm_padding,
    "GlobalAccPool": emit_global_acc_pool,
    "ElementwiseAdd": emit_elementwise,
    "ElementwiseMul": emit_elementwise,
    "DuplicateStreams": emit_duplicate_streams,
    "AdaBinThreshold": emit_adabin_threshold,
    "GlobalPoolAccumulator": emit_frame_channel_sums,
    "FrameHyperFunction": emit_hyper_function,
    "FrameBuffer": emit_frame_buffer,
    "FrameThreshold": emit_frame_threshold,
    "FrameMultiThreshold": emit_frame_multi_threshold,
}


def emit(model: ModelWrapper, node, arriving: Stream | None = None) -> RtlNode:
    """``node`` as an RtlNode; ``arriving``: the stream at its first input (None: work it out from the graph)."""
    if node.op_type not in EMITTERS:
        raise HwBnnError(f"node '{node.name}' ({node.op_type}) has no RTL module yet; the RTL backend maps "
                         f"{sorted(EMITTERS)}")
    if arriving is None:
        arriving = _arriving(model, node)
    return EMITTERS[node.op_type](model, node, arriving)


def _arriving(model: ModelWrapper, node) -> Stream | None:
    """The stream the HW node before ``node`` emits (None when no HW node feeds it)."""
    producer = model.find_producer(node.input[0])
    if producer is None or producer.op_type not in EMITTERS:
        return None
    return emit(model, producer).out


def emit_nodes(model: ModelWrapper, nodes: list) -> list[RtlNode]:
    """``nodes`` (graph order) as RtlNodes, each emitter handed the stream its first input receives."""
    streams: dict[str, Stream] = {}
    emitted = []
    for node in nodes:
        rtl = emit(model, node, streams.get(node.input[0]))
        streams.update({tensor: rtl.out for tensor in node.output})
        emitted.append(rtl)
    return emitted
