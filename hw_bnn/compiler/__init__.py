"""Compile an exported QONNX graph into a folded FINN dataflow graph of HW nodes.

The flow is an explicit list of named steps, each ``step_*(model, cfg) -> model`` built
from FINN/QONNX transformations (FINN's own builder cannot be imported without Vivado).
The result is the *generic* HW graph (``MVAU``, ``Thresholding``,
``ConvolutionInputGenerator``, ``Pool``): FINN executes it in Python, so it is the
hardware oracle. Around it only layout and output-affine nodes remain:

* a leading ``Reshape`` (MLP) or ``Transpose`` (conv net) that turns the NCHW input into
  the pixel-major stream order the accelerator takes (for one-channel images both are
  free; for colour images the host sends pixels in HWC order);
* a trailing ``Mul``/``Add`` pair that maps the last layer's popcount P to the bipolar
  dot product 2*P - K the PyTorch model outputs (done on the host; argmax is unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from onnx import helper

import hw_bnn.finn_env  # noqa: F401  (must precede FINN imports)
import finn.transformation.streamline.absorb as absorb
from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
    InferBinaryMatrixVectorActivation,
)
from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
from finn.transformation.fpgadataflow.convert_to_hw.label_select import InferLabelSelectLayer
from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
    InferQuantizedMatrixVectorActivation,
)
from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
from finn.transformation.fpgadataflow.set_folding import SetFolding
from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
from finn.transformation.streamline import Streamline
from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import InferDuplicateStreamsLayer
from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
    InferElementwiseBinaryOperation,
)
from finn.transformation.fpgadataflow.convert_to_hw.fm_padding import InferFMPadding
from finn.transformation.streamline.collapse_repeated import CollapseRepeatedMul
from finn.transformation.streamline.reorder import (
    MakeMaxPoolNHWC,
    MoveAddPastMul,
    MoveTransposePastEltwise,
    MoveTransposePastFork,
    MoveTransposePastJoinAdd,
)
from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
from finn.util.fpgadataflow import is_fpgadataflow_node
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation
from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import (
    GiveReadableTensorNames,
    GiveUniqueNodeNames,
    RemoveStaticGraphInputs,
    RemoveUnusedTensors,
)
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.insert_topk import InsertTopK
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

from hw_bnn.passes import (
    BIT_PRESERVING_OPS,
    AbsorbTransposeIntoChannelwiseOp,
    RemoveHwBnnNodesForFinnAnalysis,
    bit_producer,
)
from hw_bnn.errors import HwBnnError
from hw_bnn.features.adabin.passes import (
    ConvertAdaBinMatMulToXnorPopcount,
    InferAdaBinThresholdLayer,
    TieAdaBinThresholdFolding,
)
from hw_bnn.features.dynamic_threshold.passes import (
    ConvertDynamicThresholdMatMulToXnorPopcount,
    InferDynamicThresholdLayer,
    SetHyperFunctionMACS,
    TieDynamicThresholdFolding,
    hyper_macs_limit,
)
from hw_bnn.features.residual.passes import (
    InferGlobalAccPoolFromSum,
    MakePadNHWC,
    MoveScalarLinearPastMaxPool,
    SqueezeChannelLastConstants,
)
from hw_bnn.passes import RAM_STYLES, SetExactStreamDatatypes, SetShallowWeightMemoriesDistributed
from hw_bnn.graph import finn_nodes, has_count_row, source_module, split_at_partition
from hw_bnn.io import atomic_path

if TYPE_CHECKING:  # the recipe's build section; the compiler reads it, never the other way round
    from hw_bnn.config import BuildConfig

#: Non-HW nodes allowed before the first HW node (input layout) ...
INPUT_LAYOUT_OPS = {"Reshape", "Transpose", "Flatten"}
#: ... and after the last one (the output affine 2*P - K, or AdaBin's float output, applied on the host).
OUTPUT_AFFINE_OPS = {"Mul", "Add", "AdaBinOutput", "Transpose", "Reshape", "Flatten"}

#: (op_type, folding attribute) -> the node attribute the folding factor must divide.
FOLDING_DIVIDES = {
    ("LabelSelect", "PE"): "Labels",
    ("FMPadding", "SIMD"): "NumChannels",
    ("MVAU", "PE"): "MH",
    ("MVAU", "SIMD"): "MW",
    ("Thresholding", "PE"): "NumChannels",
    ("ConvolutionInputGenerator", "SIMD"): "IFMChannels",
    ("Pool", "PE"): "Channels",
    ("FrameHyperFunction", "MACS"): None,
}


def _tidy(model: ModelWrapper) -> ModelWrapper:
    for transformation in (
        InferShapes(),
        FoldConstants(),
        GiveUniqueNodeNames(),
        GiveReadableTensorNames(),
        InferDataTypes(),
        RemoveStaticGraphInputs(),
    ):
        model = model.transform(transformation)
    return model


#: Float nonlinearities: inside the network (before its last layer) nothing integer computes them.
FLOAT_NONLINEAR_OPS = {"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Gelu", "Sigmoid", "HardSigmoid", "Tanh",
                       "Softplus", "Softsign", "Softmax", "LogSoftmax", "Exp", "Log", "Sqrt", "Pow"}
LAYER_OPS = ("MatMul", "Gemm", "Conv")
QUANT_OPS = ("Quant", "BipolarQuant", "Trunc")


def _quantizer_bits(model: ModelWrapper, node) -> int | None:
    """The bit width of a QONNX quantizer node (1 for BipolarQuant), None for any other node."""
    if node is None or node.op_type not in QUANT_OPS:
        return None
    if node.op_type == "BipolarQuant":
        return 1
    bits = model.get_initializer(node.input[3] if node.op_type == "Quant" else node.input[4])
    return None if bits is None else int(np.asarray(bits).max())


def _zero_pads(node) -> bool:
    """A Conv that pads its input with zeros (ONNX ``pads``)."""
    pads = next((list(a.ints) for a in node.attribute if a.name == "pads"), [])
    return node.op_type == "Conv" and any(pads)


#: What to change, for an op that often stops the mapping inside the network.
UNMAPPED_HINTS = {
    "AveragePool": "an average of +-1 bits has no XNOR-popcount form: use a max-pool (the OR of the bits) or pool "
                   "the real values before the binarizer",
    **dict.fromkeys(("Mul", "Add", "MatMul"), "a scale or offset between a binarizer and the next layer cannot "
                    "fold into 1-bit weights (the layer reads no +-1 bits): move it before the binarizer, where it "
                    "becomes part of the thresholds"),
}


def _refuse_unmappable_layers(model: ModelWrapper) -> None:
    """Name, with its PyTorch module, what no HW node computes: a float nonlinearity inside the network,
    a layer whose weights are float or wider than 1 bit, and a layer after the first that reads a multi-bit
    activation (the first layer may read the 8-bit input: thresholds on the pixels)."""
    nodes = list(model.graph.node)
    layers = [i for i, node in enumerate(nodes) if node.op_type in LAYER_OPS]
    for index, node in enumerate(nodes):
        problem, culprit = None, node
        if node.op_type in FLOAT_NONLINEAR_OPS and layers and index < layers[-1]:
            problem = "is a float nonlinearity inside the network; binarise with a 1-bit QuantIdentity instead"
        elif node.op_type in LAYER_OPS and len(node.input) > 1:
            weights = model.find_producer(node.input[1])
            initializer = model.get_initializer(node.input[1])
            weight_bits = _quantizer_bits(model, weights)
            # the quantizer whose values reach the layer unchanged (through pools, reshapes and paddings)
            activation = bit_producer(model, node.input[0], through=(*BIT_PRESERVING_OPS, "Pad"))
            activation_bits = _quantizer_bits(model, activation)
            if weight_bits is not None and weight_bits > 1:
                problem, culprit = (f"has {weight_bits}-bit weights; the flow maps 1-bit (bipolar) weights: use "
                                    f"weight_quant=hw_bnn.quant.BipolarWeight"), weights
            elif weights is None and initializer is not None and not model.get_tensor_datatype(node.input[1]).is_integer() \
                    and not np.array_equal(initializer, np.round(initializer)):
                problem = "has float weights; use a QuantLinear/QuantConv2d with 1-bit weights"
            elif activation is not None and activation.op_type == "BipolarQuant" and _zero_pads(node):
                problem = ("zero-pads +-1 activations: 0 is neither bit, and the hardware's padding cannot hold it. "
                           "Pad the real-valued tensor before the binarizer instead (nn.ZeroPad2d, then the 1-bit "
                           "quantizer, then the conv with padding=0, as hw_bnn.models.cifar does)")
            elif index != layers[0] and activation_bits is not None and activation_bits > 1:
                problem, culprit = (f"reads {activation_bits}-bit activations inside the network; binary is the "
                                    f"flow's scope (only the first layer reads the multi-bit input): use "
                                    f"act_quant=hw_bnn.quant.BipolarAct"), activation
        if problem:
            source = source_module(model, culprit)
            raise HwBnnError(f"node '{node.name}' ({node.op_type}{', ' + source if source else ''}) {problem}")


class FactorScaleOutOfBipolarActivations(Transformation):
    """sign(x) * s -> (sign(x) * 1) * s for an activation BipolarQuant with a positive scale s other than 1
    (a learned or statistics-based scale of a binary quantizer): FINN converts only scale-1 BipolarQuants,
    and the Mul left behind is streamlined into the next thresholds or the host's output affine."""

    def apply(self, model: ModelWrapper):
        for node in list(model.graph.node):
            scale = model.get_initializer(node.input[1]) if node.op_type == "BipolarQuant" else None
            if scale is None or model.get_initializer(node.input[0]) is not None or np.all(scale == 1):
                continue
            if np.any(scale <= 0):
                raise HwBnnError(f"node '{node.name}' (BipolarQuant, {source_module(model, node)}) has a scale "
                                 f"<= 0; a binary activation's scale must be positive")
            scaled, unit = node.output[0], model.make_new_valueinfo_name()
            model.set_initializer(node.input[1], np.ones(1, dtype=np.float32))
            node.output[0] = unit
            model.set_initializer(scale_name := model.make_new_valueinfo_name(), scale.astype(np.float32))
            model.graph.node.insert(list(model.graph.node).index(node) + 1,
                                    helper.make_node("Mul", [unit, scale_name], [scaled], name=f"{node.name}_scale"))
            return model, True
        return model, False


def step_qonnx_to_finn(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """QONNX Quant/BipolarQuant nodes -> FINN MultiThreshold and bipolar weight annotations, after refusing
    what no HW node can compute (named with its PyTorch module)."""
    model = _tidy(model)
    _refuse_unmappable_layers(model)
    model = model.transform(FactorScaleOutOfBipolarActivations())
    return _tidy(model.transform(ConvertQONNXtoFINN()))


class MoveLayoutPastResiduals(Transformation):
    """Push the NHWC->NCHW Transposes that lowering leaves around forks, paddings (and a max-pool after one,
    the ImageNet stem's), residual sums, channel-wise constants and the global pool down the graph until they
    cancel, so that all of these act on the pixel-major stream (per-sample binarizers too), and absorb what the
    moves bring next to a threshold (the 2P - K of an XNOR layer that a max-pool sat on).

    One ``apply`` is one sweep of the moves; it reports the graph modified when the sweep changed any
    node, so that QONNX's ``transform`` repeats it until the moves have nothing left to do, or until a
    sweep comes back to a graph it has seen (two moves undoing each other, as FactorOutMulSignMagnitude
    and CollapseRepeatedMul do on a scale they cannot place): what is left is then named by the
    HW-only check."""

    def __init__(self):
        super().__init__()
        self._seen: set[bytes] = set()

    @staticmethod
    def _moves():
        return (MoveTransposePastFork(), MakePadNHWC(), MakeMaxPoolNHWC(), MoveTransposePastJoinAdd(),
                MoveTransposePastEltwise(), MoveScalarLinearPastMaxPool(), SqueezeChannelLastConstants(),
                absorb.AbsorbConsecutiveTransposes(),
                absorb.AbsorbTransposeIntoMultiThreshold(), AbsorbTransposeIntoChannelwiseOp(), InferShapes(),
                InferDataLayouts(),
                MoveAddPastMul(), CollapseRepeatedMul(), absorb.FactorOutMulSignMagnitude(),
                absorb.AbsorbAddIntoMultiThreshold(), absorb.AbsorbMulIntoMultiThreshold())

    @staticmethod
    def _state(model: ModelWrapper) -> bytes:
        """The graph without its tensor and node names (the moves make up new ones on every sweep)."""
        parts = []
        for node in model.graph.node:
            parts.append(node.op_type.encode() + b"".join(a.SerializeToString() for a in node.attribute))
            parts.extend(np.asarray(model.get_initializer(name)).tobytes() if model.get_initializer(name) is not None
                         else b"-" for name in node.input)
        return b"|".join(parts)

    def apply(self, model: ModelWrapper):
        self._seen.add(self._state(model))
        for move in self._moves():
            model = model.transform(move)
        return model, self._state(model) not in self._seen


def step_streamline(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """Fold BatchNorm and scales into integer thresholds; bipolar MatMuls become XNOR-popcount.

    Convs are lowered to Im2Col + MatMul and max-pools made NHWC in between, so that one
    sequence serves MLPs, conv nets and residual nets alike.
    """
    model = _streamline_steps(model)
    if any(n.op_type in ("Add", "Pad", "ReduceSum") for n in model.graph.node):
        model = model.transform(InferGlobalAccPoolFromSum()).transform(MoveLayoutPastResiduals())
        model = _tidy(model.transform(RoundAndClipThresholds()).transform(InferDataLayouts()))
    return model


def _streamline_steps(model: ModelWrapper) -> ModelWrapper:
    for transformation in (
        Streamline(),
        LowerConvsToMatMul(),
        AbsorbTransposeIntoChannelwiseOp(),
        absorb.AbsorbConsecutiveTransposes(),
        MakeMaxPoolNHWC(),
        absorb.AbsorbTransposeIntoMultiThreshold(),
        AbsorbTransposeIntoChannelwiseOp(),
        absorb.AbsorbConsecutiveTransposes(),
        ConvertAdaBinMatMulToXnorPopcount(),
        ConvertDynamicThresholdMatMulToXnorPopcount(),
        ConvertBipolarMatMulToXnorPopcount(),
        absorb.AbsorbAddIntoMultiThreshold(),
        absorb.AbsorbMulIntoMultiThreshold(),
        RoundAndClipThresholds(),
        Streamline(),
        InferDataLayouts(),
        RemoveUnusedTensors(),
    ):
        model = model.transform(transformation)
    return _tidy(model)


def _integer_operands(model: ModelWrapper, node) -> bool:
    """Elementwise ops go to hardware only on integers (residual sums, channel-wise sign flips); the
    float output scale and bias stay on the host."""
    return all(model.get_tensor_datatype(name).is_integer() for name in node.input)


def step_convert_to_hw(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """XNOR/integer MatMul+MultiThreshold -> MVAU, thresholds -> Thresholding, Im2Col -> SWG, MaxPool -> Pool;
    residual nets: Pad -> FMPadding, residual sums and channel-wise constants -> ElementwiseAdd/Mul, pixel
    sums (made GlobalAccPool while streamlining) stay, and a DuplicateStreams goes at every fork."""
    for transformation in (
        InferBinaryMatrixVectorActivation(),
        InferQuantizedMatrixVectorActivation(),
        InferAdaBinThresholdLayer(),
        InferDynamicThresholdLayer(),
        InferThresholdingLayer(),
        InferPool(),
        InferConvInpGen(),
        InferFMPadding(),
        InferElementwiseBinaryOperation(_integer_operands),
        RemoveCNVtoFCFlatten(),
        absorb.AbsorbConsecutiveTransposes(),
        InferDuplicateStreamsLayer(),
        SetExactStreamDatatypes(),
    ):
        model = model.transform(transformation)
    return _tidy(model)


def step_argmax_output(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """With ``build.argmax``: end the accelerator in a top-1 stage (FINN ``LabelSelect``).

    The output affine 2*P - K is absorbed first: a positive scale and an offset keep the
    order of the outputs, so the index of the maximum is the same.
    """
    if not cfg.argmax:
        return model
    _require_integer_scores(model)
    for transformation in (InsertTopK(k=1), absorb.AbsorbScalarMulAddIntoTopK(), InferDataTypes(),
                           InferLabelSelectLayer(), GiveUniqueNodeNames()):
        model = model.transform(transformation)
    return _tidy(model)


def _require_integer_scores(model: ModelWrapper) -> None:
    """Raise unless the class scores are an order-preserving affine map of an integer stream (a top-1 stage in
    hardware compares integers): name the node that computes them otherwise."""
    node = model.find_producer(model.graph.output[0].name)
    while node is not None and node.op_type in OUTPUT_AFFINE_OPS - {"AdaBinOutput"}:
        node = model.find_producer(node.input[0])
    if node is not None and node.op_type == "AdaBinOutput":
        raise HwBnnError(
            f"build.argmax: the class scores come from {node.name} (AdaBinOutput), which combines two accumulators "
            f"per class in float on the host (D*a + S*b + c, with a and b of either sign per class), so no integer "
            f"stream of the accelerator orders the classes as the scores do; leave build.argmax off (the host takes "
            f"the top-1 of the scores) or train a method whose last layer is an XNOR/integer MVAU")


def step_check_hw_only(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """Fail, naming the node, if anything but HW nodes (and the documented edge nodes) is left."""
    nodes = list(model.graph.node)
    hw_positions = [i for i, node in enumerate(nodes) if is_fpgadataflow_node(node)]
    if not hw_positions:
        raise HwBnnError("no layer of the model was mapped to a FINN HW node; is it a binary network?")
    first, last = hw_positions[0], hw_positions[-1]
    unmapped = [node for index, node in enumerate(nodes) if not is_fpgadataflow_node(node) and node.op_type not in
                (INPUT_LAYOUT_OPS if index < first else OUTPUT_AFFINE_OPS if index > last else set())]
    # a layout node (Transpose, Reshape) is left over because of the op next to it: name that op
    computing = [node for node in unmapped if node.op_type not in INPUT_LAYOUT_OPS]
    if unmapped:
        node = (computing or unmapped)[0]
        source = source_module(model, node)
        raise HwBnnError(
            f"node '{node.name}' ({node.op_type}{', ' + source if source else ''}) could not be mapped to a "
            f"FINN HW node; the flow maps bipolar QuantLinear/QuantConv2d, BatchNorm and other affines "
            f"before a 1-bit activation, max-pools, and float affines after the last layer (on the host). "
            + (UNMAPPED_HINTS[node.op_type] + " " if node.op_type in UNMAPPED_HINTS else "Change that layer ")
            + "(inspect streamlined.onnx)"
        )
    return model


def legal_values(model: ModelWrapper, node, attr: str) -> list[int]:
    """The folding factors the node accepts for ``attr`` (divisors of the dimension it folds;
    an AdaBin counting MVAU folds its MH - 1 real rows, the count has its own lane)."""
    if (node.op_type, attr) == ("FrameHyperFunction", "MACS"):
        return list(range(1, hyper_macs_limit(model, node) + 1))
    dim = getCustomOp(node).get_nodeattr(FOLDING_DIVIDES[(node.op_type, attr)])
    if attr == "PE" and has_count_row(model, node):
        dim -= 1
    return [d for d in range(1, dim + 1) if dim % d == 0]


def apply_folding(model: ModelWrapper, folding: dict[str, dict[str, int]], source: str) -> ModelWrapper:
    """Set PE/SIMD from a ``{node name: {attr: value}}`` dict, checking every value is legal."""
    model = ModelWrapper(model.model.__deepcopy__())
    nodes = {node.name: node for node in model.graph.node if is_fpgadataflow_node(node)}
    for name, attrs in folding.items():
        if name == "Defaults":
            continue
        if name not in nodes:
            raise HwBnnError(f"folding {source}: no HW node named '{name}'; the nodes are {sorted(nodes)}")
        node = nodes[name]
        for attr, value in attrs.items():
            if (node.op_type, attr) == ("MVAU", "ram_style"):
                if value not in RAM_STYLES:
                    raise HwBnnError(f"folding {source}: ram_style={value!r} is not implemented for node '{name}' "
                                     f"(MVAU); the RTL backend builds {list(RAM_STYLES)}")
                getCustomOp(node).set_nodeattr(attr, value)
                continue
            if (node.op_type, attr) not in FOLDING_DIVIDES:
                foldable = sorted(a for (op, a) in FOLDING_DIVIDES if op == node.op_type)
                raise HwBnnError(f"folding {source}: node '{name}' ({node.op_type}) has no folding "
                                 f"attribute '{attr}'; it has {foldable}")
            legal = legal_values(model, node, attr)
            if not isinstance(value, int) or value not in legal:
                raise HwBnnError(f"folding {source}: {attr}={value!r} is illegal for node '{name}' "
                                 f"({node.op_type}); legal values are {legal}")
            getCustomOp(node).set_nodeattr(attr, value)
    return model.transform(TieAdaBinThresholdFolding()).transform(TieDynamicThresholdFolding())


def read_folding(model: ModelWrapper) -> dict[str, dict[str, int]]:
    """The current PE/SIMD of every HW node, in the folding-file format."""
    folding = {}
    for node in model.graph.node:
        attrs = {attr: getCustomOp(node).get_nodeattr(attr) for (op, attr) in FOLDING_DIVIDES if op == node.op_type}
        if node.op_type == "MVAU":
            attrs["ram_style"] = getCustomOp(node).get_nodeattr("ram_style")
        if attrs:
            folding[node.name] = attrs
    return folding


def specialize(model: ModelWrapper, part: str) -> ModelWrapper:
    """The dataflow partition with FINN's HLS/RTL backends chosen (for its folding search and estimates).

    Nodes of hw_bnn's own domain are not in it (see ``RemoveHwBnnNodesForFinnAnalysis``); FINN's nodes
    keep their order, so ``finn_nodes`` of the generic graph pairs with it node by node.
    """
    view = ModelWrapper(model.model.__deepcopy__()).transform(RemoveHwBnnNodesForFinnAnalysis())
    return split_at_partition(view)[1].transform(SpecializeLayers(part))


def _search_folding(special: ModelWrapper, target: int) -> ModelWrapper:
    """FINN's SetFolding for ``target`` cycles/frame; if it misses the target, again with SIMD no longer
    capped at 36 weight bits per PE.

    FINN caps an MVAU's weight stream at 36 bits per PE (``mvau_wwidth_max``, the width of a block RAM
    port), so SFC's first layer stops at SIMD=28, 28 cycles/frame. Targets beyond that need wider
    SIMD, and their weight memories are so shallow that they go to LUT logic anyway
    (``SetShallowWeightMemoriesDistributed``), where the port width does not matter. Foldings beyond
    FINN's search (more than 8191 weight bits per beat) take a folding file.
    """
    searched = special.transform(SetFolding(target_cycles_per_frame=target))
    reached = searched.analysis(dataflow_performance)["max_cycles"]
    row_bits = [getCustomOp(node).get_nodeattr("MW") * getCustomOp(node).get_input_datatype(1).bitwidth()
                for node in special.graph.node if node.op_type.startswith("MVAU")]
    if reached <= target or not row_bits or max(row_bits) <= 36:
        return searched
    # FINN's other cap, 8191 weight bits per beat (an HLS ap_int limit), still holds: the wider search
    # can end slower than the first (SIMD=784 leaves PE<=10), so the faster of the two is kept.
    wider = special.transform(SetFolding(target_cycles_per_frame=target, mvau_wwidth_max=max(row_bits)))
    return wider if wider.analysis(dataflow_performance)["max_cycles"] < reached else searched


def step_set_folding(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """PE/SIMD (``_fold``), then the weight memories that folding made shallow go to LUT logic."""
    return _fold(model, cfg).transform(SetShallowWeightMemoriesDistributed())


def _fold(model: ModelWrapper, cfg: BuildConfig) -> ModelWrapper:
    """PE/SIMD from the folding file, else FINN's SetFolding search for the cycle target.

    FINN's search only understands specialised nodes, so it runs on a specialised copy and
    the result is copied back node by node (specialisation keeps node order).
    """
    if cfg.folding_file:
        path = Path(cfg.folding_file)
        if not path.is_file():
            raise HwBnnError(f"folding file {path} does not exist; fix build.folding_file")
        try:
            folding = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise HwBnnError(f"folding file {path} is not valid JSON: {exc}") from None
        return apply_folding(model, folding, str(path))
    target = cfg.target_cycles()
    if target is None:
        return model.transform(TieAdaBinThresholdFolding()).transform(TieDynamicThresholdFolding())
    searched = _search_folding(specialize(model, cfg.part), target)
    generic_hw = finn_nodes(model)
    special_hw = [n for n in searched.graph.node if is_fpgadataflow_node(n)]
    folding = {}
    for generic, special in zip(generic_hw, special_hw, strict=True):
        assert special.op_type.startswith(generic.op_type), (generic.op_type, special.op_type)
        folding[generic.name] = {
            attr: getCustomOp(special).get_nodeattr(attr) for (op, attr) in FOLDING_DIVIDES if op == generic.op_type
        }
    folded = apply_folding(model, folding, f"from SetFolding(target_cycles_per_frame={target})")
    return folded.transform(SetHyperFunctionMACS(target))


Step = Callable[[ModelWrapper, "BuildConfig"], ModelWrapper]

#: The build, in order; each step's output is saved as ``<name>.onnx`` when a folder is given.
#: The compile, in order: (the name of the graph the step leaves, saved as ``<out_dir>/<name>.onnx``; the step).
BUILD_STEPS: list[tuple[str, Step]] = [
    ("finn", step_qonnx_to_finn),
    ("streamlined", step_streamline),
    ("hw_unchecked", step_convert_to_hw),
    ("hw_argmax", step_argmax_output),
    ("hw_checked", step_check_hw_only),
    ("hw_graph", step_set_folding),
]


def compile_model(model: ModelWrapper, cfg: BuildConfig, out_dir: str | Path | None = None,
                  progress: Callable[[str], None] | None = None) -> ModelWrapper:
    """Run every build step; with ``out_dir``, save each step's graph there as ``<name>.onnx``."""
    for name, step in BUILD_STEPS:
        if progress:
            progress(f"build: {step.__name__}")
        model = step(model, cfg)
        if out_dir is not None:
            with atomic_path(Path(out_dir) / f"{name}.onnx") as tmp:
                model.save(str(tmp))
    return model
