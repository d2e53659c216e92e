"""Passes for the residual architectures' integer form (``hw_bnn.features.residual.integer_form``)."""

from __future__ import annotations

import numpy as np
from finn.transformation.fpgadataflow.convert_to_hw.global_acc_pool import InferGlobalAccPoolLayer
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from hw_bnn.intwidth import smallest_integer_type

#: Ops whose second input is a weight or a per-channel constant.
CONSTANT_OPERAND_OPS = {"Conv", "MatMul", "Add", "Mul"}


class AnnotateIntegerInitializers(Transformation):
    """Give integer-valued weights and constants their QONNX datatype: BIPOLAR for ±1 weights of a
    Conv/MatMul, else the smallest INTn/UINTn. The integer form exports plain float tensors, and FINN
    decides XNOR vs integer matrix units and the stream widths from these annotations."""

    def apply(self, model: ModelWrapper):
        changed = False
        for node in model.graph.node:
            if node.op_type not in CONSTANT_OPERAND_OPS or len(node.input) < 2:
                continue
            values = model.get_initializer(node.input[1])
            if values is None or not np.array_equal(values, np.round(values)):
                continue
            if node.op_type in ("Conv", "MatMul") and np.isin(values, (-1, 1)).all():
                dtype = DataType["BIPOLAR"]
            else:
                dtype = smallest_integer_type(int(values.min()), int(values.max()))
            if model.get_tensor_datatype(node.input[1]) != dtype:
                model.set_tensor_datatype(node.input[1], dtype)
                changed = True
        return model, changed


class InferGlobalAccPoolFromSum(Transformation):
    """A ReduceSum over the pixels (axes 2, 3 of an NCHW integer tensor) -> FINN GlobalAccPool.

    FINN converts GlobalAveragePool into GlobalAccPool followed by a Mul by 1/pixels; a sum is
    the GlobalAccPool alone, so the Mul FINN adds is dropped again. (The integer form exports the
    sum, not the mean, so that the threshold unit after it sees exact integers.)"""

    def apply(self, model: ModelWrapper):
        sums = [n for n in model.graph.node if n.op_type == "ReduceSum" and self._is_pixel_sum(model, n)]
        if not sums:
            return model, False
        for node in sums:
            del node.input[1:]
            for attr in list(node.attribute):
                node.attribute.remove(attr)
            node.op_type = "GlobalAveragePool"
        model = model.transform(InferGlobalAccPoolLayer())
        for pool in [n for n in model.graph.node if n.op_type == "GlobalAccPool"]:
            mean = model.find_consumer(pool.output[0])
            if mean is not None and mean.op_type == "Mul":
                pixels = int(np.prod(model.get_tensor_shape(pool.input[0])[1:-1]))
                if np.isclose(float(model.get_initializer(mean.input[1]).reshape(-1)[0]) * pixels, 1.0):
                    for consumer in model.find_consumers(mean.output[0]) or []:
                        consumer.input[list(consumer.input).index(mean.output[0])] = pool.output[0]
                    model.graph.node.remove(mean)
        return model, True

    @staticmethod
    def _is_pixel_sum(model: ModelWrapper, node) -> bool:
        if len(node.input) < 2 or model.get_initializer(node.input[1]) is None:
            return False
        keepdims = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
        axes = sorted(int(a) for a in model.get_initializer(node.input[1]).reshape(-1))
        return keepdims == 1 and axes == [2, 3] and model.get_tensor_datatype(node.input[0]).is_integer()


NCHW_TO_NHWC, NHWC_TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _perm(node) -> list[int]:
    return [int(v) for v in next(a.ints for a in node.attribute if a.name == "perm")]


class MakePadNHWC(Transformation):
    """``Transpose(NHWC->NCHW) -> Pad(spatial, zeros)`` becomes ``Pad(NHWC, axes 1, 2) -> Transpose``:
    the padding moves to the pixel-major stream, where FINN's InferFMPadding makes it an FMPadding
    node, and the Transpose moves on to cancel against the next one."""

    def apply(self, model: ModelWrapper):
        for pad in model.graph.node:
            if pad.op_type != "Pad" or len(pad.input) < 2:
                continue
            transpose = model.find_producer(pad.input[0])
            pads = model.get_initializer(pad.input[1])
            if transpose is None or transpose.op_type != "Transpose" or _perm(transpose) != NHWC_TO_NCHW \
                    or pads is None or len(pads) != 8 or any(pads[[0, 1, 4, 5]]) \
                    or len(model.find_consumers(pad.input[0]) or []) != 1:
                continue
            if len(pad.input) > 2 and pad.input[2] and model.get_initializer(pad.input[2]) not in (None, 0):
                continue
            nhwc_in, nchw_out = transpose.input[0], pad.output[0]
            padded = model.make_new_valueinfo_name()
            nhwc_pads = np.array([pads[2], pads[3], pads[6], pads[7]], dtype=np.int64)
            names = [model.make_new_valueinfo_name() for _ in range(3)]
            model.set_initializer(names[0], nhwc_pads)
            model.set_initializer(names[1], np.zeros((), dtype=np.float32))
            model.set_initializer(names[2], np.array([1, 2], dtype=np.int64))
            new_pad = helper.make_node("Pad", [nhwc_in, *names], [padded], mode="constant")
            new_transpose = helper.make_node("Transpose", [padded], [nchw_out], perm=NHWC_TO_NCHW)
            index = list(model.graph.node).index(pad)
            model.graph.node.insert(index, new_transpose)
            model.graph.node.insert(index, new_pad)
            model.graph.node.remove(pad)
            model.graph.node.remove(transpose)
            n, h, w, c = model.get_tensor_shape(nhwc_in)
            model.set_tensor_shape(padded, [n, h + int(pads[2] + pads[6]), w + int(pads[3] + pads[7]), c])
            model.set_tensor_datatype(padded, model.get_tensor_datatype(nhwc_in))
            model.set_tensor_layout(padded, ["N", "H", "W", "C"])
            return model, True
        return model, False


class MoveScalarLinearPastMaxPool(Transformation):
    """A Mul by a positive scalar or an Add of a scalar before a max-pool moves after it (both commute
    with max). XNOR conversion puts the affine 2*P - K on a popcount that a max-pool follows
    (VGG-small pools before its BatchNorm); after the pool it reaches the threshold unit and is absorbed."""

    def apply(self, model: ModelWrapper):
        graph = model.graph
        for node in graph.node:
            if node.op_type not in ("Mul", "Add") or model.is_fork_node(node):
                continue
            const = model.get_initializer(node.input[1])
            if const is None or const.size != 1 or (node.op_type == "Mul" and float(const.reshape(-1)[0]) <= 0):
                continue
            pool = model.find_consumer(node.output[0])
            if pool is None or pool.op_type not in ("MaxPool", "MaxPoolNHWC"):
                continue
            linear_in, between, pooled = node.input[0], node.output[0], pool.output[0]
            pool.input[0], pool.output[0] = linear_in, between
            node.input[0], node.output[0] = between, pooled
            model.set_tensor_shape(between, model.get_tensor_shape(pooled))
            graph.node.remove(pool)
            graph.node.insert(list(graph.node).index(node), pool)
            return model, True
        return model, False


class SqueezeChannelLastConstants(Transformation):
    """A Mul/Add constant of shape (1, ..., 1, C) becomes shape (C,): the same broadcast, in the form
    FINN's absorption passes read as per-channel (they take a rank-4 constant for NCHW)."""

    def apply(self, model: ModelWrapper):
        changed = False
        for node in model.graph.node:
            if node.op_type not in ("Mul", "Add") or len(node.input) < 2:
                continue
            const = model.get_initializer(node.input[1])
            if const is not None and const.ndim > 1 and const.shape[-1] > 1 and const.size == const.shape[-1]:
                model.set_initializer(node.input[1], const.reshape(-1))
                changed = True
        return model, changed
