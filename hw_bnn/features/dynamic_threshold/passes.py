"""Passes that compile per-sample thresholds (``DynamicThreshold``, hw_bnn.features.dynamic_threshold.op) into HW nodes.

The exported pattern per dynamic layer is ``bits -> MatMul(±1 weights) -> DynamicThreshold``, and the
next layer's MatMul reads the ``DynamicThreshold``'s bits.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.passes import bit_producer, make_binary, require_channels_last
from hw_bnn.features.dynamic_threshold.op import FRAMED_STREAM_OPS
from hw_bnn.features.dynamic_threshold.reference import HYPER_PARAMS
from hw_bnn.errors import HwBnnError
from hw_bnn.graph import DOMAIN
from hw_bnn.intwidth import mvau_acc_bounds, signed_width

def is_dynamic_threshold(node) -> bool:
    return node is not None and node.op_type == "DynamicThreshold" and node.domain == DOMAIN


def _consumer(model, tensor: str):
    consumers = model.find_consumers(tensor)
    return consumers[0] if consumers and len(consumers) == 1 else None


def _absorb_popcount(model, node, fan_in: int) -> None:
    """acc = 2P - K: rewrite the thresholds of ``node`` from the ±1 sums to the popcounts P.

    s*acc >= T  <=>  s*P >= ceil((T + s*K) / 2), per frame pixel; the pooled sums S = 2 S_P - P*K likewise."""
    inst = getCustomOp(node)
    params = inst.params(model)
    shape = model.get_tensor_shape(node.input[0])
    pixels = int(np.prod(shape[2:] if inst.get_nodeattr("data_layout") in ("NC", "NCHW") else shape[1:-1]))
    sign, pool_sign = params["sign"], params["pool_sign"]
    offset = (sign * fan_in).reshape((-1,) + (1,) * (params["table"].ndim - 1))
    table = -((-(params["table"] + offset)) // 2)
    pool = -((-(params["pool_thresholds"] + (pool_sign * pixels * fan_in)[:, None])) // 2)
    model.set_initializer(node.input[1 + HYPER_PARAMS.index("table")], table.astype(np.float32))
    model.set_initializer(node.input[1 + HYPER_PARAMS.index("pool_thresholds")], pool.astype(np.float32))


class ConvertDynamicThresholdMatMulToXnorPopcount(Transformation):
    """Bipolar MatMuls next to a ``DynamicThreshold`` -> ``XnorPopcountMatMul`` on 0/1 bits (FINN's own
    conversion needs a MultiThreshold on both sides).

    - A MatMul feeding a ``DynamicThreshold``: the op absorbs acc = 2P - K exactly (``_absorb_popcount``).
    - A MatMul reading a ``DynamicThreshold``'s bits that feeds anything else (the last layer): the
      affine 2P - K follows it as Mul and Add, as FINN's conversion does.
    Either way the producer of the MatMul's bits switches to 0/1 output.
    """

    def apply(self, model):
        changed = False
        for matmul in list(model.graph.node):
            if matmul.op_type != "MatMul" or model.get_tensor_datatype(matmul.input[0]) != DataType["BIPOLAR"] or \
                    model.get_tensor_datatype(matmul.input[1]) != DataType["BIPOLAR"]:
                continue
            producer = bit_producer(model, matmul.input[0])
            consumer = _consumer(model, matmul.output[0])
            if not (is_dynamic_threshold(producer) or is_dynamic_threshold(consumer)):
                continue
            weights = model.get_initializer(matmul.input[1])
            fan_in = int(weights.shape[0])
            make_binary(model, producer, matmul.name)
            matmul.op_type, matmul.domain = "XnorPopcountMatMul", "qonnx.custom_op.general"
            model.set_initializer(matmul.input[1], ((weights + 1) / 2).astype(np.float32))
            model.set_tensor_datatype(matmul.input[1], DataType["BINARY"])
            model.set_tensor_datatype(matmul.input[0], DataType["BINARY"])
            if is_dynamic_threshold(consumer):
                _absorb_popcount(model, consumer, fan_in)
            else:
                self._append_affine(model, matmul, fan_in)
            changed = True
        if changed:
            model = model.transform(InferShapes()).transform(InferDataTypes())
        return model, changed

    @staticmethod
    def _append_affine(model, matmul, fan_in: int) -> None:
        out = matmul.output[0]
        shape = model.get_tensor_shape(out)
        popcount = model.make_new_valueinfo_name()
        model.graph.value_info.append(helper.make_tensor_value_info(popcount, TensorProto.FLOAT, shape))
        doubled = model.make_new_valueinfo_name()
        model.graph.value_info.append(helper.make_tensor_value_info(doubled, TensorProto.FLOAT, shape))
        two = model.make_new_valueinfo_name()
        model.set_initializer(two, np.asarray([2.0], dtype=np.float32))
        offset = model.make_new_valueinfo_name()
        model.set_initializer(offset, np.asarray([-float(fan_in)], dtype=np.float32))
        matmul.output[0] = popcount
        index = list(model.graph.node).index(matmul)
        model.graph.node.insert(index + 1, helper.make_node("Mul", [popcount, two], [doubled]))
        model.graph.node.insert(index + 2, helper.make_node("Add", [doubled, offset], [out]))


def _input_range(model, node) -> tuple[int, int, int]:
    """(lowest, highest, PE) of the integers a ``DynamicThreshold`` reads: an MVAU's accumulator range and
    PE, else (a binarizer on a residual stream) its input datatype's range, PE 1 until ``TieDynamicThresholdFolding``."""
    require_channels_last(node)
    producer = model.find_producer(node.input[0])
    if producer is not None and producer.op_type == "MVAU":
        mvau = getCustomOp(producer)
        in_dt = DataType[mvau.get_nodeattr("inputDataType")]
        lo, hi = mvau_acc_bounds(int(mvau.get_nodeattr("MW")), bool(mvau.get_nodeattr("binaryXnorMode")),
                                 int(in_dt.min()), int(in_dt.max()))
        return lo, hi, int(mvau.get_nodeattr("PE"))
    dtype = model.get_tensor_datatype(node.input[0])
    if not dtype.is_integer():
        raise HwBnnError(f"DynamicThreshold '{node.name}' reads {dtype.name} values; it needs integers (an MVAU's "
                         f"accumulators or a quantised residual stream)")
    return int(dtype.min()), int(dtype.max()), 1


def stream_parallelism(node) -> int:
    """Elements per stream beat of a HW node's output: its PE, or SIMD for nodes folded by SIMD (FMPadding)."""
    inst = getCustomOp(node)
    return int(inst.get_nodeattr("PE" if "PE" in inst.get_nodeattr_types() else "SIMD"))


def _clip(values: np.ndarray, reach: int) -> np.ndarray:
    """Thresholds beyond a value's reachable range [-reach, reach] act like reach + 1 or -reach."""
    return np.clip(values, -reach, reach + 1)


class InferDynamicThresholdLayer(Transformation):
    """Every ``DynamicThreshold`` (channels last) -> the chain GlobalPoolAccumulator -> FrameHyperFunction ->
    FrameBuffer -> FrameThreshold (hw_bnn.features.dynamic_threshold.op), with the exact stream width: the range of its
    input (an MVAU's accumulators, or the integer codes of a residual stream), its sums over a frame, and
    the thresholds. A multi-level one (a table of K thresholds per entry) ends in FrameMultiThreshold, which
    holds the table: the hyper-function sends the table index of each channel instead of its threshold."""

    def apply(self, model):
        dynamic = [node for node in model.graph.node if is_dynamic_threshold(node)]
        for node in dynamic:
            self._expand(model, node, *_input_range(model, node))
        return model.transform(InferShapes()).transform(InferDataTypes()), bool(dynamic)

    @staticmethod
    def _expand(model, node, lo: int, hi: int, pe: int) -> None:
        inst = getCustomOp(node)
        params = inst.params(model)
        shape = model.get_tensor_shape(node.input[0])
        spatial, channels = [int(d) for d in shape[1:-1]], int(shape[-1])
        pixels = int(np.prod(spatial)) if spatial else 1
        reach, sum_reach = max(abs(lo), abs(hi)), pixels * max(abs(lo), abs(hi))
        params["table"] = _clip(params["table"], reach)
        params["pool_thresholds"] = _clip(params["pool_thresholds"], sum_reach)
        multi_table, indices = None, []
        if params["table"].ndim == 3:  # the hyper-function sends indices; the last node holds the table
            if (params["sign"] < 0).any():
                raise HwBnnError(f"DynamicThreshold '{node.name}': a multi-level per-frame unit needs channels that "
                                 f"rise with their input; channels {np.flatnonzero(params['sign'] < 0)[:8].tolist()} "
                                 f"fall")
            multi_table = params["table"]
            params["table"] = np.tile(np.arange(multi_table.shape[1], dtype=np.int64), (channels, 1))
            indices = [multi_table.shape[1] - 1]
        stream_bits = signed_width([pixels * lo, pixels * hi, -reach, reach + 1, *indices])
        acc_dt = f"INT{signed_width([lo, hi])}"
        common = dict(domain=DOMAIN, backend="fpgadataflow", NumChannels=channels,
                      PE=pe, accDataType=acc_dt, streamDataType=f"INT{stream_bits}")
        if spatial:  # an empty list has no ONNX attribute type; the default is []
            common["spatial"] = spatial
        names = [model.make_new_valueinfo_name() for _ in range(3)]
        for name in names:
            model.graph.value_info.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, pixels + 1, channels]))
        hyper_inputs = []
        for key in HYPER_PARAMS:
            tensor = model.make_new_valueinfo_name()
            model.set_initializer(tensor, params[key].astype(np.float32))
            hyper_inputs.append(tensor)
        sign = node.input[1 + HYPER_PARAMS.index("table") + 1]
        base = node.name or "DynamicThreshold"
        chain = [
            helper.make_node("GlobalPoolAccumulator", [node.input[0]], [names[0]], name=f"{base}_pool", **common),
            helper.make_node("FrameHyperFunction", [names[0], *hyper_inputs], [names[1]], name=f"{base}_hyper",
                             pool_offset=inst.get_nodeattr("pool_offset"), **common),
            helper.make_node("FrameBuffer", [names[1]], [names[2]], name=f"{base}_buffer", **common),
            InferDynamicThresholdLayer._last_node(model, inst, names[2], sign, multi_table, f"{base}_threshold",
                                                  common),
        ]
        index = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, new in enumerate(chain):
            model.graph.node.insert(index + offset, new)
        hyper = getCustomOp(chain[1])
        widths = hyper.widths(model)
        p = hyper.params(model)
        a1, a2 = (1 << (widths["A1_W"] - 1)) - 2, (1 << (widths["A2_W"] - 1)) - 2
        model.set_initializer(hyper_inputs[HYPER_PARAMS.index("hidden_thresholds")],
                              _clip(p["hidden_thresholds"], a1).astype(np.float32))
        model.set_initializer(hyper_inputs[HYPER_PARAMS.index("output_thresholds")],
                              _clip(p["output_thresholds"], a2).astype(np.float32))

    @staticmethod
    def _last_node(model, inst, framed: str, sign: str, multi_table, name: str, common: dict):
        """FrameThreshold on the frame's thresholds, or, for a multi-level layer, FrameMultiThreshold holding
        the table (its input 1) that the frame's indices select from."""
        output = inst.onnx_node.output[0]
        if multi_table is None:
            return helper.make_node("FrameThreshold", [framed, sign], [output], name=name,
                                    out_dtype=inst.get_nodeattr("out_dtype"), **common)
        table = model.make_new_valueinfo_name()
        model.set_initializer(table, multi_table.astype(np.float32))
        return helper.make_node("FrameMultiThreshold", [framed, table], [output], name=name,
                                out_dtype=inst.get_nodeattr("out_dtype"), out_bias=int(inst.get_nodeattr("out_bias")),
                                **common)


def is_framed_stream_node(node) -> bool:
    return node is not None and node.op_type in FRAMED_STREAM_OPS and node.domain == DOMAIN


class TieDynamicThresholdFolding(Transformation):
    """The four nodes of a dynamic layer take the parallelism of the node feeding them: they share its stream."""

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type == "GlobalPoolAccumulator" and node.domain == DOMAIN:
                pe = stream_parallelism(model.find_producer(node.input[0]))
                current = node
                while is_framed_stream_node(current):
                    if getCustomOp(current).get_nodeattr("PE") != pe:
                        getCustomOp(current).set_nodeattr("PE", pe)
                        changed = True
                    current = _consumer(model, current.output[0])
        return model, changed


class SetHyperFunctionMACS(Transformation):
    """The fewest multiply-accumulate lanes, a power of two, with which each hyper-function keeps up with
    ``target_cycles`` per frame (its computation overlaps the next frame, so that is its only constraint).

    Powers of two: when hyper_function.v kept its values in register arrays written at row
    ``block * MACS + lane``, other lane counts made every row's write enable a general comparison (a
    39-lane unit took 97k LUT). Its memories are now RAMs addressed by counters; the rule stays until
    other lane counts are measured."""

    def __init__(self, target_cycles: int):
        super().__init__()
        self.target_cycles = int(target_cycles)

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type != "FrameHyperFunction" or node.domain != DOMAIN:
                continue
            inst = getCustomOp(node)
            before = inst.get_nodeattr("MACS")
            rows = inst.sizes(model)["I"]
            macs = 1
            inst.set_nodeattr("MACS", macs)
            while macs < rows and inst.get_exp_cycles_for(model) > self.target_cycles:
                macs *= 2
                inst.set_nodeattr("MACS", macs)
            changed = changed or inst.get_nodeattr("MACS") != before
        return model, changed


def hyper_macs_limit(model, node) -> int:
    """Most useful MACS of a hyper-function: one lane per output row."""
    return getCustomOp(node).sizes(model)["I"]

