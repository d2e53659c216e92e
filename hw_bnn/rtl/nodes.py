"""Map each generic FINN HW node to one parameterised module of ``hls/rtl``.

An emitter reads the node's attributes and initializers and returns an
:class:`RtlNode`: the module, its Verilog parameters, the memory files it needs, and
the shape of its input and output streams. Emitters are registered by op type in
``EMITTERS``; an op type without one is an error naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.frame_memfiles import HYPER_MEMORIES, hyper_memory_words, write_sign_file
from hw_bnn.rtl.memfiles import (
    mvau_acc_bounds,
    mvau_weight_acc_bounds,
    prepare_thresholds,
    signed_width,
    write_adabin_params,
    write_mvau_weights,
    write_memh,
    write_thresholds,
)
from hw_bnn.transformation.adabin import has_count_row


@dataclass
class Stream:
    """One side of a node: ``elems`` elements of ``elem_bits`` per beat, ``beats`` per frame."""

    elems: int
    elem_bits: int
    beats: int
    signed: bool = False
    bipolar: bool = False
    #: AdaBin accumulators of this many channels (0: none): each beat holds ``elems - 1`` channels and,
    #: in the last lane, the count of the vector; the tensor is (channels..., count) per vector
    #: (``hw_bnn.rtl.sim.to_count_lane_beats``).
    count_lane: int = 0
    #: 1 when the beat carries a tag bit above its elements (the per-frame threshold beats that
    #: hyper_function.v inserts between payload beats; see hw_bnn.custom_op.frame)
    tag: int = 0

    @property
    def width(self) -> int:
        return self.elems * self.elem_bits + self.tag


@dataclass
class RtlNode:
    """A HW node as an instance of an ``hls/rtl`` module."""

    name: str
    module: str
    params: dict[str, int]
    inp: Stream
    out: Stream
    #: Verilog parameter -> (memory file name, function writing it to a path)
    mem_files: dict[str, tuple[str, Callable[[Path], None]]] = field(default_factory=dict)
    #: The module's stream ports (name prefixes), in the order of the node's dynamic inputs / outputs.
    in_ports: tuple[str, ...] = ("s_axis",)
    out_ports: tuple[str, ...] = ("m_axis",)
    #: The second input's stream (a residual sum); every output port carries ``out``.
    side_inp: Stream | None = None

    @property
    def input_streams(self) -> list[Stream]:
        return [self.inp] + ([self.side_inp] if self.side_inp else [])

    @property
    def output_streams(self) -> list[Stream]:
        return [self.out] * len(self.out_ports)

    @property
    def cycles_per_frame(self) -> int:
        """Cycles the module is busy per frame at its full rate: its busiest stream, or for a folded matrix
        unit SF x NF cycles per vector (it reads a vector once and computes NF passes on it)."""
        beats = max(stream.beats for stream in self.input_streams + self.output_streams)
        if self.module == "mvau":
            return max(beats, self.inp.beats * self.params["MH"] // self.params["PE"])
        return beats

    def write_mem_files(self, folder: Path) -> None:
        for file_name, write in self.mem_files.values():
            write(folder / file_name)

    def verilog_params(self) -> dict[str, int | str]:
        return {**self.params, **{param: file_name for param, (file_name, _) in self.mem_files.items()}}


def _dtype(inst, attr: str) -> DataType:
    return DataType[inst.get_nodeattr(attr)]


def _stream(elems: int, dtype: DataType, beats: int) -> Stream:
    return Stream(elems, dtype.bitwidth(), beats, signed=dtype.signed() and dtype != DataType["BIPOLAR"],
                  bipolar=dtype == DataType["BIPOLAR"])


def _frames(inst) -> int:
    """Vectors per frame (numInputVectors, e.g. [1, OH, OW] for a conv layer)."""
    return int(np.prod(inst.get_nodeattr("numInputVectors")))


def _thresholds(model: ModelWrapper, node, channels: int, acc_lo: int, acc_hi: int, pe: int, prefix: str):
    """Prepared integer thresholds, their width, and the memory-file entry for them."""
    T = prepare_thresholds(model.get_initializer(node.input[-1]), channels, acc_lo, acc_hi)
    width = signed_width([acc_lo, acc_hi + 1])
    entry = (f"{prefix}_thresholds.mem", lambda path: write_thresholds(path, T, pe, width))
    return T, width, entry


#: Widest integer weights of mvau.v (its WEIGHT_W).
MAX_WEIGHT_BITS = 16


def emit_mvau(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    mw, mh, pe, simd = (int(inst.get_nodeattr(a)) for a in ("MW", "MH", "PE", "SIMD"))
    counting = has_count_row(model, node)
    if counting:
        # AdaBin: the all-ones last row becomes mvau.v's parallel count lane (COUNT = 1)
        mh -= 1
    xnor = bool(inst.get_nodeattr("binaryXnorMode"))
    no_act = bool(inst.get_nodeattr("noActivation"))
    idt, odt = _dtype(inst, "inputDataType"), _dtype(inst, "outputDataType")
    wdt = _dtype(inst, "weightDataType")
    W = model.get_initializer(node.input[1])[:, :mh]
    in_lo, in_hi = (0, 1) if xnor else (int(idt.min()), int(idt.max()))
    if wdt == DataType["BIPOLAR"] or (wdt == DataType["BINARY"] and xnor):
        weight_width = 1
        acc_lo, acc_hi = mvau_acc_bounds(mw, xnor, in_lo, in_hi)
    elif wdt.is_integer() and not xnor and not counting:
        # integer weights (BINARY 0/1 ones too) as signed words; the accumulator range of these weights
        weight_width = signed_width([int(W.min()), int(W.max())])
        if weight_width > MAX_WEIGHT_BITS:
            raise HwBnnError(f"node '{node.name}' (MVAU) has {weight_width}-bit weights; mvau.v takes at most "
                             f"{MAX_WEIGHT_BITS} (an AdaBin conv's fitted weights grow with its fan-in and the number "
                             f"of stream levels: fewer input channels or a smaller model.options.residual_bits "
                             f"narrow them)")
        acc_lo, acc_hi = mvau_weight_acc_bounds(W, in_lo, in_hi)
    else:
        raise HwBnnError(f"node '{node.name}' (MVAU) has {wdt.name} weights on {idt.name} inputs; the RTL backend "
                         f"maps bipolar weights and integer weights on integer inputs")
    if mh % pe:
        raise HwBnnError(f"node '{node.name}' (MVAU): PE={pe} does not divide its {mh} output channels")
    params = dict(MW=mw, MH=mh, SIMD=simd, PE=pe, XNOR=int(xnor), IN_W=1 if xnor else idt.bitwidth(),
                  IN_SIGNED=int(idt.signed() and not xnor), NO_ACT=int(no_act))
    if counting:
        params["COUNT"] = 1
    if weight_width > 1:
        params["WEIGHT_W"] = weight_width
    mem = {"WEIGHT_FILE": (f"{node.name}_weights.mem",
                           lambda path: write_mvau_weights(path, W, pe, simd, weight_width))}
    vectors = _frames(inst)
    if no_act and not counting and odt.is_integer() and odt.allowed(acc_lo) and odt.allowed(acc_hi):
        # the accumulator leaves the unit in the type compile's SetExactStreamDatatypes annotated
        params["OUT_W"] = odt.bitwidth()
        out = _stream(pe, odt, vectors * mh // pe)
    elif no_act:
        # FINN's own accDataType can be narrower than the XNOR popcount's range (and an AdaBin
        # count lane joins the channels): size the output from the exact bounds.
        out_bits = signed_width([acc_lo, acc_hi])
        params["OUT_W"] = out_bits
        out = Stream(pe + counting, out_bits, vectors * mh // pe, signed=True, count_lane=mh if counting else 0)
    else:
        T, width, mem["THRESH_FILE"] = _thresholds(model, node, mh, acc_lo, acc_hi, pe, node.name)
        params.update(N_THR=T.shape[1], THR_W=width, ACT_BIAS=int(inst.get_nodeattr("ActVal")),
                      OUT_W=odt.bitwidth())
        out = _stream(pe, odt, vectors * mh // pe)
    inp = _stream(simd, idt, vectors * mw // simd)
    return RtlNode(node.name, "mvau", params, inp, out, mem)


def emit_thresholding(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    idt, odt = _dtype(inst, "inputDataType"), _dtype(inst, "outputDataType")
    if not idt.is_integer():
        raise HwBnnError(f"node '{node.name}' (Thresholding) has {idt.name} input; the RTL backend needs "
                         f"integer inputs (annotate the graph input, e.g. UINT8 pixels)")
    T, width, entry = _thresholds(model, node, channels, int(idt.min()), int(idt.max()), pe, node.name)
    params = dict(C=channels, PE=pe, IN_W=idt.bitwidth(), IN_SIGNED=int(idt.signed()), N_THR=T.shape[1],
                  THR_W=width, ACT_BIAS=int(inst.get_nodeattr("ActVal")), OUT_W=odt.bitwidth())
    beats = _frames(inst) * channels // pe
    return RtlNode(node.name, "thresholding", params, _stream(pe, idt, beats), _stream(pe, odt, beats),
                   {"THRESH_FILE": entry})


def _square(node, attr: str, value) -> int:
    value = list(value)
    if any(v != value[0] for v in value):
        raise HwBnnError(f"node '{node.name}': {attr}={value} is not square; the RTL sliding window "
                         f"supports square images and kernels")
    return int(value[0])


def emit_sliding_window(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    dim = _square(node, "IFMDim", inst.get_nodeattr("IFMDim"))
    k = _square(node, "ConvKernelDim", inst.get_nodeattr("ConvKernelDim"))
    stride = _square(node, "Stride", inst.get_nodeattr("Stride"))
    if list(inst.get_nodeattr("Dilation")) != [1, 1]:
        raise HwBnnError(f"node '{node.name}': dilation {inst.get_nodeattr('Dilation')} is not supported "
                         f"by the RTL sliding window")
    channels, simd = int(inst.get_nodeattr("IFMChannels")), int(inst.get_nodeattr("SIMD"))
    idt = _dtype(inst, "inputDataType")
    out_dim = (dim - k) // stride + 1
    params = dict(IFM_DIM=dim, C=channels, SIMD=simd, K=k, STRIDE=stride, ELEM_W=idt.bitwidth(),
                  DEPTHWISE=int(inst.get_nodeattr("depthwise")))
    inp = _stream(simd, idt, dim * dim * channels // simd)
    out = _stream(simd, idt, out_dim * out_dim * k * k * channels // simd)
    return RtlNode(node.name, "sliding_window", params, inp, out)


def emit_pool(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    if inst.get_nodeattr("Function") != "MaxPool":
        raise HwBnnError(f"node '{node.name}': Pool function {inst.get_nodeattr('Function')} has no RTL module "
                         f"(only MaxPool)")
    k = _square(node, "KernelSize", inst.get_nodeattr("KernelSize"))
    out_dim = _square(node, "OutImgDims", inst.get_nodeattr("OutImgDims"))
    channels, pe = int(inst.get_nodeattr("Channels")), int(inst.get_nodeattr("PE"))
    producer = model.find_producer(node.input[0])
    if producer is None or producer.op_type != "ConvolutionInputGenerator" or \
            getCustomOp(producer).get_nodeattr("SIMD") != pe or not getCustomOp(producer).get_nodeattr("depthwise"):
        raise HwBnnError(f"node '{node.name}' (Pool, PE={pe}) must be fed by a depthwise "
                         f"ConvolutionInputGenerator with SIMD={pe}; set both to the same value in the folding")
    idt = _dtype(inst, "InputDataType")
    params = dict(K=k, PE=pe, ELEM_W=idt.bitwidth(), SIGNED=int(idt.signed()))
    windows = out_dim * out_dim * channels // pe
    return RtlNode(node.name, "pool_max", params, _stream(pe, idt, windows * k * k), _stream(pe, idt, windows))


def emit_label_select(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    labels, pe, k = (int(inst.get_nodeattr(a)) for a in ("Labels", "PE", "K"))
    idt, odt = _dtype(inst, "inputDataType"), _dtype(inst, "outputDataType")
    if not idt.is_integer():
        raise HwBnnError(f"node '{node.name}' (LabelSelect) has {idt.name} input; the RTL label select "
                         f"compares integers")
    if labels % pe or not 1 <= k <= labels:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): needs PE={pe} dividing Labels={labels} and "
                         f"1 <= K={k} <= Labels")
    if odt.signed() or odt.bitwidth() > 32 or 2 ** odt.bitwidth() < labels:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): outputDataType {odt.name} cannot hold the "
                         f"indices 0..{labels - 1} (use an unsigned type of at most 32 bits)")
    inp = _stream(pe, idt, _frames(inst) * labels // pe)
    # The producer's RTL may carry the values in fewer bits than FINN's annotation (an
    # MVAU without activation emits its exact accumulator range, while FINN annotates
    # e.g. UINT32): take the element format of the stream that actually arrives.
    producer = model.find_producer(node.input[0])
    if producer is not None and producer.op_type in EMITTERS and producer.op_type != "LabelSelect":
        arriving = EMITTERS[producer.op_type](model, producer).out
        inp = Stream(pe, arriving.elem_bits, inp.beats, signed=arriving.signed, bipolar=arriving.bipolar)
    if inp.elem_bits > 32:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): {inp.elem_bits}-bit inputs; the RTL label "
                         f"select takes at most 32")
    params = dict(LABELS=labels, PE=pe, K=k, IN_W=inp.elem_bits, IN_SIGNED=int(inp.signed),
                  OUT_W=odt.bitwidth())
    return RtlNode(node.name, "label_select", params, inp, _stream(1, odt, _frames(inst) * k))


def emit_fm_padding(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    height, width = (int(v) for v in inst.get_nodeattr("ImgDim"))
    pad = [int(v) for v in inst.get_nodeattr("Padding")]
    channels, simd = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("SIMD"))
    idt = _dtype(inst, "inputDataType")
    if len(pad) != 4 or min(pad) < 0:
        raise HwBnnError(f"node '{node.name}' (FMPadding): Padding={pad} is not [top, left, bottom, right] "
                         f"with non-negative entries")
    if idt == DataType["BIPOLAR"] or not idt.allowed(0):
        raise HwBnnError(f"node '{node.name}' (FMPadding) pads {idt.name} values with 0, which {idt.name} "
                         f"cannot represent; pad only integer inputs (e.g. the UINT8 pixels)")
    if channels % simd:
        raise HwBnnError(f"node '{node.name}' (FMPadding): SIMD={simd} does not divide NumChannels={channels}")
    out_h, out_w = height + pad[0] + pad[2], width + pad[1] + pad[3]
    params = dict(IMG_H=height, IMG_W=width, PAD_T=pad[0], PAD_L=pad[1], PAD_B=pad[2], PAD_R=pad[3],
                  C=channels, SIMD=simd, ELEM_W=idt.bitwidth())
    inp = _stream(simd, idt, height * width * channels // simd)
    out = _stream(simd, idt, out_h * out_w * channels // simd)
    return RtlNode(node.name, "fm_padding", params, inp, out)


def emit_adabin_threshold(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    producer = model.find_producer(node.input[0])
    arriving = emit_mvau(model, producer).out
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


def _pixel_stream(shape, dtype: DataType, pe: int) -> Stream:
    """A channel-last tensor of ``shape`` streamed PE channels per beat."""
    return _stream(pe, dtype, int(np.prod(shape)) // pe)


def emit_duplicate_streams(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    if int(inst.get_nodeattr("NumOutputStreams")) != 2:
        raise HwBnnError(f"node '{node.name}' (DuplicateStreams) has {inst.get_nodeattr('NumOutputStreams')} "
                         f"outputs; the RTL module forks into 2 (a tensor feeds at most two consumers)")
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    stream = _pixel_stream([*inst.get_nodeattr("numInputVectors"), channels], _dtype(inst, "inputDataType"), pe)
    return RtlNode(node.name, "duplicate_streams", dict(WIDTH=stream.width), stream, stream,
                   out_ports=("m0_axis", "m1_axis"))


def _elementwise_operands(model: ModelWrapper, node):
    inst = getCustomOp(node)
    pe = int(inst.get_nodeattr("PE"))
    lhs, rhs, out = (DataType[inst.get_nodeattr(f"{side}_dtype")] for side in ("lhs", "rhs", "out"))
    shape = list(inst.get_nodeattr("out_shape"))
    if list(inst.get_nodeattr("lhs_shape")) != shape or inst.get_nodeattr("lhs_style") != "input":
        raise HwBnnError(f"node '{node.name}' ({node.op_type}): the RTL modules take a streamed left operand "
                         f"of the output's shape {shape}")
    if not all(dt.is_integer() for dt in (lhs, rhs, out)):
        raise HwBnnError(f"node '{node.name}' ({node.op_type}) has non-integer operands; only integer "
                         f"elementwise ops run in hardware (float scales stay on the host)")
    if shape[-1] % pe:
        raise HwBnnError(f"node '{node.name}' ({node.op_type}): PE={pe} does not divide its {shape[-1]} channels")
    return inst, pe, lhs, rhs, out, shape


def emit_elementwise(model: ModelWrapper, node) -> RtlNode:
    """ElementwiseAdd of two streams (a residual sum: add_streams), or ElementwiseAdd/Mul with a
    per-channel constant (channel-wise affine: channelwise_op)."""
    inst, pe, lhs, rhs, out, shape = _elementwise_operands(model, node)
    a = _pixel_stream(shape, lhs, pe)
    y = _pixel_stream(shape, out, pe)
    if inst.get_nodeattr("rhs_style") == "input":
        if node.op_type != "ElementwiseAdd" or list(inst.get_nodeattr("rhs_shape")) != shape:
            raise HwBnnError(f"node '{node.name}' ({node.op_type}): two streamed operands are mapped for "
                             f"ElementwiseAdd of equal shapes only")
        b = _pixel_stream(shape, rhs, pe)
        params = dict(PE=pe, A_W=a.elem_bits, A_SIGNED=int(lhs.signed()), B_W=b.elem_bits,
                      B_SIGNED=int(rhs.signed()), OUT_W=y.elem_bits, OUT_SIGNED=int(out.signed()))
        return RtlNode(node.name, "add_streams", params, a, y, in_ports=("s0_axis", "s1_axis"), side_inp=b)
    channels = shape[-1]
    const = model.get_initializer(node.input[1]).reshape(-1)
    if const.size not in (1, channels):
        raise HwBnnError(f"node '{node.name}' ({node.op_type}): a constant of {const.size} values is neither "
                         f"per-tensor nor per-channel ({channels} channels)")
    values = np.broadcast_to(const, (channels,)).astype(np.int64)
    param_w = signed_width(values)
    params = dict(C=channels, PE=pe, IN_W=a.elem_bits, IN_SIGNED=int(lhs.signed()), PARAM_W=param_w,
                  OUT_W=y.elem_bits, OUT_SIGNED=int(out.signed()), OP=int(node.op_type == "ElementwiseMul"))
    # one constant per channel: the layout of a threshold memory with one threshold per channel
    entry = (f"{node.name}_params.mem", lambda path: write_thresholds(path, values[:, None], pe, param_w))
    return RtlNode(node.name, "channelwise_op", params, a, y, {"PARAM_FILE": entry})


def emit_global_acc_pool(model: ModelWrapper, node) -> RtlNode:
    inst = getCustomOp(node)
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    vectors = [int(v) for v in inst.get_nodeattr("numInputVectors")]
    idt = _dtype(inst, "inputDataType")
    odt = model.get_tensor_datatype(node.output[0])
    pixels = int(np.prod(vectors[1:]))
    params = dict(C=channels, PE=pe, N_PIX=pixels, IN_W=idt.bitwidth(), IN_SIGNED=int(idt.signed()),
                  OUT_W=odt.bitwidth())
    return RtlNode(node.name, "global_acc_pool", params, _pixel_stream([*vectors, channels], idt, pe),
                   _pixel_stream([channels], odt, pe))


def _frame_streams(model: ModelWrapper, node):
    """(inst, the framed stream: a frame of acc plus its side row of sums or thresholds) of a per-frame node."""
    inst = getCustomOp(node)
    pe, bits = int(inst.get_nodeattr("PE")), inst.stream_bits()
    framed = Stream(pe, bits, (inst.pixels + 1) * inst.folds(), signed=True)
    return inst, framed


def _frame_params(inst) -> dict:
    return dict(C=inst.channels, PE=int(inst.get_nodeattr("PE")), PIXELS=inst.pixels)


def emit_frame_channel_sums(model: ModelWrapper, node) -> RtlNode:
    inst, framed = _frame_streams(model, node)
    producer = model.find_producer(node.input[0])
    arriving = emit(model, producer).out  # an MVAU's accumulators (a popcount is unsigned), or stream codes
    if arriving.elems != framed.elems:
        raise HwBnnError(f"node '{node.name}' (GlobalPoolAccumulator): PE={framed.elems} differs from the "
                         f"PE={arriving.elems} of '{producer.name}' that feeds it; set them equal")
    params = dict(**_frame_params(inst), IN_W=arriving.elem_bits, IN_SIGNED=int(arriving.signed),
                  OUT_W=framed.elem_bits)
    return RtlNode(node.name, "frame_channel_sums", params, arriving, framed)


def emit_hyper_function(model: ModelWrapper, node) -> RtlNode:
    inst, framed = _frame_streams(model, node)
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


def emit_frame_buffer(model: ModelWrapper, node) -> RtlNode:
    inst, framed = _frame_streams(model, node)
    tagged = Stream(framed.elems, framed.elem_bits, framed.beats, signed=True, tag=1)
    params = dict(**_frame_params(inst), W=framed.elem_bits,
                  DATA_W=DataType[inst.get_nodeattr("accDataType")].bitwidth(), FRAMES=int(inst.get_nodeattr("frames")))
    return RtlNode(node.name, "frame_buffer", params, tagged, framed)


def emit_frame_threshold(model: ModelWrapper, node) -> RtlNode:
    inst, framed = _frame_streams(model, node)
    sign = model.get_initializer(node.input[1])
    pe = int(inst.get_nodeattr("PE"))
    entry = (f"{node.name}_signs.mem", lambda path: write_sign_file(path, sign, pe))
    bits = Stream(framed.elems, 1, inst.pixels * inst.folds())
    return RtlNode(node.name, "frame_threshold", dict(**_frame_params(inst), W=framed.elem_bits), framed, bits,
                   {"SIGN_FILE": entry})


#: FINN generic HW op type (and hw_bnn's own HW ops) -> emitter.
EMITTERS: dict[str, Callable[[ModelWrapper, object], RtlNode]] = {
    "MVAU": emit_mvau,
    "Thresholding": emit_thresholding,
    "ConvolutionInputGenerator": emit_sliding_window,
    "Pool": emit_pool,
    "LabelSelect": emit_label_select,
    "FMPadding": emit_fm_padding,
    "AdaBinThreshold": emit_adabin_threshold,
    "GlobalPoolAccumulator": emit_frame_channel_sums,
    "FrameHyperFunction": emit_hyper_function,
    "FrameBuffer": emit_frame_buffer,
    "FrameThreshold": emit_frame_threshold,
    "DuplicateStreams": emit_duplicate_streams,
    "ElementwiseAdd": emit_elementwise,
    "ElementwiseMul": emit_elementwise,
    "GlobalAccPool": emit_global_acc_pool,
}


def emit(model: ModelWrapper, node) -> RtlNode:
    if node.op_type not in EMITTERS:
        raise HwBnnError(f"node '{node.name}' ({node.op_type}) has no RTL module yet; the RTL backend maps "
                         f"{sorted(EMITTERS)}")
    return EMITTERS[node.op_type](model, node)


def lcm_width(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)
