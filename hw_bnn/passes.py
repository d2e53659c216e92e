"""Graph passes that every hw_bnn feature and the compiler share (QONNX ``Transformation``s and the
graph queries they use): binary layers read 0/1 bits, per-channel ops run on the stream's channel-last
order, and FINN's analyses see a graph without hw_bnn's own nodes."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.errors import HwBnnError
from hw_bnn.graph import has_count_row, hw_nodes, is_hw_bnn_node
from hw_bnn.intwidth import smallest_integer_type

#: Ops a bit tensor may pass between the unit that makes it and the MatMul that reads it.
BIT_PRESERVING_OPS = ("MaxPool", "MaxPoolNHWC", "Transpose", "Reshape", "Flatten", "Im2Col")


def is_channelwise_hw_bnn_op(node) -> bool:
    """An hw_bnn op acting per channel of a layer's output: it carries a ``data_layout``."""
    return is_hw_bnn_node(node) and "data_layout" in getCustomOp(node).get_nodeattr_types()


def bit_producer(model, tensor: str, through: tuple[str, ...] = BIT_PRESERVING_OPS):
    """The node making the ±1 bits of ``tensor``, through bit-preserving ops (``through``)."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in through:
        node = model.find_producer(node.input[0])
    return node


def make_binary(model, producer, consumer_name: str) -> None:
    """Switch a bipolar bit producer to 0/1 output, as XnorPopcountMatMul reads it."""
    if producer is not None and producer.op_type == "MultiThreshold":
        inst = getCustomOp(producer)
        if inst.get_nodeattr("out_dtype") == "BINARY":
            return
        if (inst.get_nodeattr("out_dtype"), inst.get_nodeattr("out_scale"), inst.get_nodeattr("out_bias")) != \
                ("BIPOLAR", 2.0, -1.0):
            raise HwBnnError(f"node '{producer.name}' feeds binary layer '{consumer_name}' but is not a bipolar sign")
        inst.set_nodeattr("out_dtype", "BINARY")
        inst.set_nodeattr("out_scale", 1.0)
        inst.set_nodeattr("out_bias", 0.0)
    elif is_hw_bnn_node(producer) and "out_dtype" in getCustomOp(producer).get_nodeattr_types():
        # hw_bnn's sign units (AdaBin's, the dynamic threshold) choose their bit encoding by out_dtype
        getCustomOp(producer).set_nodeattr("out_dtype", "BINARY")
    else:
        what = "the graph input" if producer is None else f"node '{producer.name}' ({producer.op_type})"
        raise HwBnnError(f"the bipolar input of binary layer '{consumer_name}' comes from {what}, not from a sign; "
                         f"export the model with hw_bnn.export.export_model")


def require_channels_last(node) -> None:
    """A clear error when a channel-wise hw_bnn op still reads NCHW data."""
    if getCustomOp(node).get_nodeattr("data_layout") == "NCHW":
        raise HwBnnError(f"{node.op_type} '{node.name}' still reads NCHW data; the transposes around it were not "
                         f"absorbed")


def mvau_feeding(model, node):
    """The MVAU that produces the accumulators a channel-wise hw_bnn op reads, channels last; else a clear error."""
    producer = model.find_producer(node.input[0])
    if producer is None or producer.op_type != "MVAU":
        raise HwBnnError(f"{node.op_type} '{node.name}' is fed by {producer.op_type if producer else 'the graph input'}, "
                         f"not by an MVAU; the binary layer must produce its accumulators")
    require_channels_last(node)
    return producer


class RemoveHwBnnNodesForFinnAnalysis(Transformation):
    """FINN's view of a HW graph with hw_bnn's own nodes, for its folding search and estimates only: each
    counting MVAU (AdaBin's) without its count row (FINN's MVAU needs PE | MH; our RTL computes the count in a
    parallel lane), and every node of hw_bnn's domain bypassed (FINN cannot analyse them; hw_bnn
    estimates them).

    A view is made once: the count row is only recognisable by the op reading it, which a host op
    (``AdaBinOutput``) still is after the first pass, so the model records that it is a view."""

    VIEW_MARK = "hw_bnn_finn_analysis_view"

    def apply(self, model):
        if model.get_metadata_prop(self.VIEW_MARK) is not None:
            return model, False
        model.set_metadata_prop(self.VIEW_MARK, "1")
        for node in list(model.graph.node):
            if has_count_row(model, node):
                inst = getCustomOp(node)
                inst.set_nodeattr("MH", inst.get_nodeattr("MH") - 1)
                model.set_initializer(node.input[1], model.get_initializer(node.input[1])[:, :-1])
                shape = model.get_tensor_shape(node.output[0])
                model.set_tensor_shape(node.output[0], [*shape[:-1], shape[-1] - 1])
        for node in list(model.graph.node):
            if is_hw_bnn_node(node) and node in hw_nodes(model):
                for consumer in model.find_consumers(node.output[0]):
                    consumer.input[list(consumer.input).index(node.output[0])] = node.input[0]
                for port in model.graph.output:
                    if port.name == node.output[0]:
                        raise HwBnnError(f"{node.op_type} '{node.name}' ends the graph; it must feed a layer")
                model.graph.node.remove(node)
        return model, True


#: Transpose permutations between the NHWC stream order and PyTorch's NCHW.
NHWC_TO_NCHW = [0, 3, 1, 2]


class AbsorbTransposeIntoChannelwiseOp(Transformation):
    """``Transpose(NHWC -> NCHW) -> op (NCHW)`` becomes ``op (NHWC) -> Transpose`` for hw_bnn's per-channel
    ops (AdaBin's, ``DynamicThreshold``):
    the op acts per channel, so it can run on the stream order and the transpose moves on (to
    cancel against the next one), as FINN's AbsorbTransposeIntoMultiThreshold does for thresholds."""

    def apply(self, model):
        for node in list(model.graph.node):
            if not is_channelwise_hw_bnn_op(node) or getCustomOp(node).get_nodeattr("data_layout") != "NCHW":
                continue
            transpose = model.find_producer(node.input[0])
            if transpose is None or transpose.op_type != "Transpose" or \
                    list(helper.get_attribute_value(transpose.attribute[0])) != NHWC_TO_NCHW or \
                    len(model.find_consumers(transpose.output[0])) != 1:
                continue
            nhwc_in = transpose.input[0]
            out = node.output[0]
            n, c, h, w = model.get_tensor_shape(out)
            nhwc_out = model.make_new_valueinfo_name()
            model.graph.value_info.append(helper.make_tensor_value_info(nhwc_out, TensorProto.FLOAT, [n, h, w, c]))
            node.input[0] = nhwc_in
            node.output[0] = nhwc_out
            getCustomOp(node).set_nodeattr("data_layout", "NHWC")
            model.graph.node.remove(transpose)
            index = list(model.graph.node).index(node)
            model.graph.node.insert(index + 1, helper.make_node("Transpose", [nhwc_out], [out], perm=NHWC_TO_NCHW))
            return model.transform(InferShapes()).transform(InferDataTypes()), True
        return model, False


def _output_range(model: ModelWrapper, node) -> tuple[int, int] | None:
    """Exact output range of a node whose FINN annotation is a generic wide type, else None."""
    if node.op_type == "MVAU" and getCustomOp(node).get_nodeattr("noActivation"):
        inst = getCustomOp(node)
        weights = model.get_initializer(node.input[1])
        if inst.get_nodeattr("binaryXnorMode"):
            return 0, int(weights.shape[0])  # the XNOR popcount
        idt = model.get_tensor_datatype(node.input[0])
        low, high = int(idt.min()), int(idt.max())
        products = np.stack([weights * low, weights * high])
        return int(products.min(0).sum(0).min()), int(products.max(0).sum(0).max())
    if node.op_type in ("ElementwiseAdd", "ElementwiseMul"):
        ranges = []
        for name in node.input[:2]:
            const = model.get_initializer(name)
            dtype = model.get_tensor_datatype(name)
            ranges.append((int(const.min()), int(const.max())) if const is not None
                          else (int(dtype.min()), int(dtype.max())))
        (a_lo, a_hi), (b_lo, b_hi) = ranges
        if node.op_type == "ElementwiseAdd":
            return a_lo + b_lo, a_hi + b_hi
        products = [a * b for a in (a_lo, a_hi) for b in (b_lo, b_hi)]
        return min(products), max(products)
    return None


class SetExactStreamDatatypes(Transformation):
    """Annotate accumulators (MVAU without activation), residual sums and channel-wise products with
    the narrowest integer type that holds their exact range, so that the streams after them, and the
    threshold units they feed, are as wide as the values need (FINN annotates INT32 there; it also
    counts an XNOR popcount's range as 0..sum(weights) instead of 0..MW)."""

    def apply(self, model: ModelWrapper):
        for node in model.graph.node:
            span = _output_range(model, node)
            if span is None:
                continue
            dtype = smallest_integer_type(*span)
            if model.get_tensor_datatype(node.output[0]) == dtype:
                continue
            inst = getCustomOp(node)
            if node.op_type == "MVAU":
                inst.set_nodeattr("outputDataType", dtype.name)
                inst.set_nodeattr("accDataType", dtype.name)
            else:
                inst.set_nodeattr("out_dtype", dtype.name)
            model.set_tensor_datatype(node.output[0], dtype)
            return model.transform(InferDataTypes()), True
        return model, False


#: Weight memories of at most this many words go to LUT logic rather than block RAM: one
#: DP16KD holds 512 words of 36 bits, so a 32-word memory would fill 6 % of each block RAM it
#: takes, while as logic each bit costs two LUT4 and a mux.
DISTRIBUTED_MAX_WORDS = 32

#: FINN's MVAU ram_style values that the RTL backend implements (``ultra``: UltraRAM, Xilinx only).
RAM_STYLES = ("auto", "block", "distributed")


def weight_words(model: ModelWrapper, node) -> int:
    """Words in the RTL's weight memory of an MVAU: one per beat of a vector, (MW / SIMD) * (MH / PE),
    without an AdaBin count row (mvau.v computes it in a lane of its own, from no memory)."""
    inst = getCustomOp(node)
    mw, mh, pe, simd = (int(inst.get_nodeattr(a)) for a in ("MW", "MH", "PE", "SIMD"))
    rows = mh - 1 if has_count_row(model, node) else mh
    return (mw // simd) * (rows // pe)


class SetShallowWeightMemoriesDistributed(Transformation):
    """``ram_style = "distributed"`` on every MVAU whose weight memory has at most
    ``DISTRIBUTED_MAX_WORDS`` words and whose style is still FINN's default ``auto`` (a style set in
    the folding file stays): highly parallel layers have shallow, very wide weight memories that
    would take a block RAM per 36 bits of width (SFC's first layer at 32 cycles/frame: 200 DP16KD
    for 28 words of 7,168 bits). FINN's estimate then counts them as LUTs, as the RTL builds them."""

    def apply(self, model: ModelWrapper):
        for node in model.graph.node:
            if node.op_type.startswith("MVAU") and weight_words(model, node) <= DISTRIBUTED_MAX_WORDS:
                inst = getCustomOp(node)
                if inst.get_nodeattr("ram_style") == "auto":
                    inst.set_nodeattr("ram_style", "distributed")
        return model, False
