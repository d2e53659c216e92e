"""Passes that compile AdaBin's hardware form (``hw_bnn.features.adabin.op``) into HW nodes.

The exported pattern per layer is ``bits -> MatMul(W | ones) -> AdaBinThreshold`` (or
``AdaBinOutput`` for the last layer): a bipolar MatMul whose last weight column is all +1, so its
last output is the count of the input (seed_methods §5.6, point 3).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes

from hw_bnn.passes import bit_producer, make_binary, mvau_feeding
from hw_bnn.errors import HwBnnError
from hw_bnn.graph import is_hw_bnn_node

ADABIN_OPS = ("AdaBinThreshold", "AdaBinOutput")


def is_adabin(node) -> bool:
    return is_hw_bnn_node(node) and node.op_type in ADABIN_OPS


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
        return model, changed


class InferAdaBinThresholdLayer(Transformation):
    """Make every ``AdaBinThreshold`` fed by an MVAU a HW node (backend ``fpgadataflow``), channels last."""

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type != "AdaBinThreshold" or not is_hw_bnn_node(node):
                continue
            mvau_feeding(model, node)
            inst = getCustomOp(node)
            if inst.get_nodeattr("backend") != "fpgadataflow":
                inst.set_nodeattr("backend", "fpgadataflow")
                changed = True
        return model, changed


class TieAdaBinThresholdFolding(Transformation):
    """Give every HW ``AdaBinThreshold`` the PE of the MVAU feeding it: the two share one stream of
    PE accumulators plus the count per beat, so their folding is one decision."""

    def apply(self, model):
        changed = False
        for node in model.graph.node:
            if node.op_type == "AdaBinThreshold" and is_hw_bnn_node(node):
                inst, pe = getCustomOp(node), int(getCustomOp(model.find_producer(node.input[0])).get_nodeattr("PE"))
                if inst.get_nodeattr("PE") != pe:
                    inst.set_nodeattr("PE", pe)
                    changed = True
        return model, changed
