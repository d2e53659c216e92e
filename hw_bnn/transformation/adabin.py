"""Passes that compile AdaBin's hardware form (``hw_bnn.custom_op.adabin``) into HW nodes.

The exported pattern per layer is ``bits -> MatMul(W | ones) -> AdaBinThreshold`` (or
``AdaBinOutput`` for the last layer): a bipolar MatMul whose last weight column is all +1, so its
last output is the count of the input (seed_methods §5.6, point 3).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

import hw_bnn.finn_env  # noqa: F401
from finn.util.fpgadataflow import is_fpgadataflow_node

from hw_bnn.errors import HwBnnError

ADABIN_OPS = ("AdaBinThreshold", "AdaBinOutput")
#: Ops a bit tensor may pass between the unit that makes it and the MatMul that reads it.
BIT_PRESERVING_OPS = ("MaxPool", "MaxPoolNHWC", "Transpose", "Reshape", "Flatten", "Im2Col")


def is_adabin(node) -> bool:
    return node is not None and node.op_type in ADABIN_OPS and node.domain == "hw_bnn.custom_op"


def is_hw_bnn_node(node) -> bool:
    """A node of hw_bnn's own op domain (FINN neither estimates nor implements it)."""
    return node is not None and node.domain == "hw_bnn.custom_op"


#: hw_bnn ops that act per channel on a layer's output and carry a ``data_layout``.
CHANNELWISE_OPS = (*ADABIN_OPS, "DynamicThreshold")


def bit_producer(model, tensor: str):
    """The node making the ±1 bits of ``tensor``, through bit-preserving ops."""
    node = model.find_producer(tensor)
    while node is not None and node.op_type in BIT_PRESERVING_OPS:
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
    elif producer is not None and producer.op_type in ("AdaBinThreshold", "DynamicThreshold"):
        getCustomOp(producer).set_nodeattr("out_dtype", "BINARY")
    else:
        what = "the graph input" if producer is None else f"node '{producer.name}' ({producer.op_type})"
        raise HwBnnError(f"the bipolar input of binary layer '{consumer_name}' comes from {what}, not from a sign; "
                         f"export the model with hw_bnn.export.export_model")


class ConvertAdaBinMatMulToXnorPopcount(Transformation):
    """Bipolar ``MatMul(W | ones)`` feeding an AdaBin op -> ``XnorPopcountMatMul`` on 0/1 bits.

    The MatMul's outputs change from the ±1 sums (D, S) to the popcounts (P^x, P^a), D = 2P - K,
    and the AdaBin op absorbs that exactly: ``AdaBinThreshold``'s integers become
    A' = A, B' = B, T' = ceil((T + K(A + B)) / 2) (from L_D = 2 L_P - K(A + B)); ``AdaBinOutput``
    gets the input affine (2, -K) so that it computes the same float32 operations as before.
    Integer-input MatMuls (a first conv on pixels) already produce exact sums and are left as they are.
    """

    def apply(self, model):
        changed = False
        for node in list(model.graph.node):
            if not is_adabin(node):
                continue
            matmul = model.find_producer(node.input[0])
            if matmul is None or matmul.op_type != "MatMul":
                continue
            if model.get_tensor_datatype(matmul.input[0]) != DataType["BIPOLAR"]:
                continue
            weights = model.get_initializer(matmul.input[1])
            if weights is None or model.get_tensor_datatype(matmul.input[1]) != DataType["BIPOLAR"] or \
                    not np.all(weights[:, -1] == 1):
                raise HwBnnError(f"AdaBin node '{node.name}' is fed by MatMul '{matmul.name}' whose weights are not "
                                 f"bipolar with an all-ones last column; re-export the model")
            fan_in = int(weights.shape[0])
            make_binary(model, bit_producer(model, matmul.input[0]), node.name)
            matmul.op_type, matmul.domain = "XnorPopcountMatMul", "qonnx.custom_op.general"
            model.set_initializer(matmul.input[1], ((weights + 1) / 2).astype(np.float32))
            model.set_tensor_datatype(matmul.input[1], DataType["BINARY"])
            model.set_tensor_datatype(matmul.input[0], DataType["BINARY"])
            inst = getCustomOp(node)
            if node.op_type == "AdaBinThreshold":
                params = inst.params(model)
                a, b = params[:, 0], params[:, 1]
                shifted = params[:, 2:4] + fan_in * (a + b)[:, None]
                params[:, 2:4] = -((-shifted) // 2)
                model.set_initializer(node.input[1], params)
            else:
                inst.set_nodeattr("acc_scale", 2)
                inst.set_nodeattr("acc_offset", -fan_in)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, False


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


class InferAdaBinThresholdLayer(Transformation):
    """Make every ``AdaBinThreshold`` fed by an MVAU a HW node (backend ``fpgadataflow``), channels last."""

    def apply(self, model):
        for node in model.graph.node:
            if node.op_type != "AdaBinThreshold" or node.domain != "hw_bnn.custom_op":
                continue
            mvau_feeding(model, node)
            getCustomOp(node).set_nodeattr("backend", "fpgadataflow")
        return model, False


def has_count_row(model, node) -> bool:
    """True for an MVAU whose last output row is an AdaBin count (its accumulators feed an AdaBin op)."""
    return node.op_type == "MVAU" and any(is_adabin(c) for c in model.find_consumers(node.output[0]))


class TieAdaBinThresholdFolding(Transformation):
    """Give every HW ``AdaBinThreshold`` the PE of the MVAU feeding it: the two share one stream of
    PE accumulators plus the count per beat, so their folding is one decision."""

    def apply(self, model):
        for node in model.graph.node:
            if node.op_type == "AdaBinThreshold" and node.domain == "hw_bnn.custom_op":
                producer = model.find_producer(node.input[0])
                getCustomOp(node).set_nodeattr("PE", int(getCustomOp(producer).get_nodeattr("PE")))
        return model, False


class RemoveHwBnnNodesForFinnAnalysis(Transformation):
    """FINN's view of a HW graph with hw_bnn's own nodes, for its folding search and estimates only: each
    AdaBin counting MVAU without its count row (FINN's MVAU needs PE | MH; our RTL computes the count in a
    parallel lane), and every node of hw_bnn's domain bypassed (FINN cannot analyse them; hw_bnn
    estimates them)."""

    def apply(self, model):
        for node in list(model.graph.node):
            if has_count_row(model, node):
                inst = getCustomOp(node)
                inst.set_nodeattr("MH", inst.get_nodeattr("MH") - 1)
                model.set_initializer(node.input[1], model.get_initializer(node.input[1])[:, :-1])
                shape = model.get_tensor_shape(node.output[0])
                model.set_tensor_shape(node.output[0], [*shape[:-1], shape[-1] - 1])
        for node in list(model.graph.node):
            if is_hw_bnn_node(node) and is_fpgadataflow_node(node):
                for consumer in model.find_consumers(node.output[0]):
                    consumer.input[list(consumer.input).index(node.output[0])] = node.input[0]
                for port in model.graph.output:
                    if port.name == node.output[0]:
                        raise HwBnnError(f"{node.op_type} '{node.name}' ends the graph; it must feed a layer")
                model.graph.node.remove(node)
        return model, False


#: Transpose permutations between the NHWC stream order and PyTorch's NCHW.
NHWC_TO_NCHW = [0, 3, 1, 2]


class AbsorbTransposeIntoChannelwiseOp(Transformation):
    """``Transpose(NHWC -> NCHW) -> op (NCHW)`` becomes ``op (NHWC) -> Transpose`` for hw_bnn's per-channel
    ops (AdaBin's, ``DynamicThreshold``):
    the op acts per channel, so it can run on the stream order and the transpose moves on (to
    cancel against the next one), as FINN's AbsorbTransposeIntoMultiThreshold does for thresholds."""

    def apply(self, model):
        for node in list(model.graph.node):
            if node.op_type not in CHANNELWISE_OPS or not is_hw_bnn_node(node) or \
                    getCustomOp(node).get_nodeattr("data_layout") != "NCHW":
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
