"""Emitters of FINN's generic HW nodes: each reads a node's attributes and initializers and returns an
:class:`~hw_bnn.rtl.streams.RtlNode` of the hls/rtl/finn module that implements it (its Verilog
parameters, memory files, and input and output streams). ``arriving`` is the stream that reaches
the node's first input (None at the design's input): an emitter that must match it reads it there.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.graph import has_count_row
from hw_bnn.passes import RAM_STYLES
from hw_bnn.intwidth import mvau_acc_bounds, mvau_weight_acc_bounds, signed_width
from hw_bnn.rtl.memfiles import (param_rom_pack, prepare_thresholds, write_mvau_weights, write_output_table,
                                 write_thresholds)
from hw_bnn.rtl.mvau_shape import weight_memory_shape
from hw_bnn.rtl.streams import RtlNode, Stream, node_dtype, pixel_stream, stream_of, vectors_per_frame


def _thresholds(model: ModelWrapper, node, channels: int, acc_lo: int, acc_hi: int, pe: int, prefix: str):
    """Prepared integer thresholds, their width, and the memory-file entry for them."""
    T = prepare_thresholds(model.get_initializer(node.input[-1]), channels, acc_lo, acc_hi)
    width = signed_width([acc_lo, acc_hi + 1])
    entry = (f"{prefix}_thresholds.mem", lambda path: write_thresholds(path, T, pe, width))
    return T, width, entry


#: Widest integer weights of mvau.v (its WEIGHT_W).
MAX_WEIGHT_BITS = 16
#: Bits of a table one LUT6 holds.
LUT_BITS = 64


def emit_mvau(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    mw, mh, pe, simd = (int(inst.get_nodeattr(a)) for a in ("MW", "MH", "PE", "SIMD"))
    counting = has_count_row(model, node)
    if counting:
        # AdaBin: the all-ones last row becomes mvau.v's parallel count lane (COUNT = 1)
        mh -= 1
    xnor = bool(inst.get_nodeattr("binaryXnorMode"))
    no_act = bool(inst.get_nodeattr("noActivation"))
    idt, odt = node_dtype(inst, "inputDataType"), node_dtype(inst, "outputDataType")
    wdt = node_dtype(inst, "weightDataType")
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
    ram_style = inst.get_nodeattr("ram_style")
    if ram_style not in RAM_STYLES:
        raise HwBnnError(f"node '{node.name}' (MVAU) has ram_style={ram_style!r}; the RTL backend builds "
                         f"{list(RAM_STYLES)} (set one in the folding file)")
    if ram_style != "auto":
        params["WEIGHT_STYLE"] = ram_style
    pack = param_rom_pack(weight_memory_shape(params)[0], ram_style)  # the unpacked depth: SF*NF beats
    if pack > 1:
        params["WEIGHT_PACK"] = pack
    mem = {"WEIGHT_FILE": (f"{node.name}_weights.mem",
                           lambda path: write_mvau_weights(path, W, pe, simd, weight_width, pack))}
    vectors = vectors_per_frame(inst)
    if no_act and not counting and odt.is_integer() and odt.allowed(acc_lo) and odt.allowed(acc_hi):
        # the accumulator leaves the unit in the type compile's SetExactStreamDatatypes annotated
        params["OUT_W"] = odt.bitwidth()
        out = stream_of(pe, odt, vectors * mh // pe)
    elif no_act:
        # FINN's own accDataType can be narrower than the XNOR popcount's range (and an AdaBin
        # count lane joins the channels): size the output from the exact bounds.
        out_bits = signed_width([acc_lo, acc_hi])
        params["OUT_W"] = out_bits
        out = Stream(pe + counting, out_bits, vectors * mh // pe, signed=True, count_lane_channels=mh if counting else 0)
    else:
        T, width, mem["THRESH_FILE"] = _thresholds(model, node, mh, acc_lo, acc_hi, pe, node.name)
        params.update(N_THR=T.shape[1], THR_W=width, ACT_BIAS=int(inst.get_nodeattr("ActVal")),
                      OUT_W=odt.bitwidth())
        out = stream_of(pe, odt, vectors * mh // pe)
    inp = stream_of(simd, idt, vectors * mw // simd)
    return RtlNode(node.name, "mvau", params, inp, out, mem)


def emit_thresholding(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    idt, odt = node_dtype(inst, "inputDataType"), node_dtype(inst, "outputDataType")
    if not idt.is_integer():
        raise HwBnnError(f"node '{node.name}' (Thresholding) has {idt.name} input; the RTL backend needs "
                         f"integer inputs (annotate the graph input, e.g. UINT8 pixels)")
    T, width, entry = _thresholds(model, node, channels, int(idt.min()), int(idt.max()), pe, node.name)
    params = dict(C=channels, PE=pe, IN_W=idt.bitwidth(), IN_SIGNED=int(idt.signed()), N_THR=T.shape[1],
                  THR_W=width, ACT_BIAS=int(inst.get_nodeattr("ActVal")), OUT_W=odt.bitwidth())
    if channels > 1 and np.all(T == T[0]):
        # a per-tensor quantiser's thresholds (a residual stream's 255), the same for every channel
        params["SHARED_THR"] = 1
        table_bits = odt.bitwidth() << idt.bitwidth()
        if T.shape[1] > 1 and table_bits <= LUT_BITS * T.shape[1] * width:
            # a table of every input's output that LUTs hold in no more cells than the compares have
            # threshold bits: 255 compares of 10 bits become 512 words of 8 bits
            params["LOOKUP"] = 1
            entry = (entry[0], lambda path: write_output_table(path, T[0], idt.bitwidth(), idt.signed(),
                                                               params["ACT_BIAS"], params["OUT_W"]))
        else:  # written once, compared as constants
            entry = (entry[0], lambda path: write_thresholds(path, T[:1], 1, width))
    beats = vectors_per_frame(inst) * channels // pe
    return RtlNode(node.name, "thresholding", params, stream_of(pe, idt, beats), stream_of(pe, odt, beats),
                   {"THRESH_FILE": entry})


def _square(node, attr: str, value) -> int:
    value = list(value)
    if any(v != value[0] for v in value):
        raise HwBnnError(f"node '{node.name}': {attr}={value} is not square; the RTL sliding window "
                         f"supports square images and kernels")
    return int(value[0])


def emit_sliding_window(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    dim = _square(node, "IFMDim", inst.get_nodeattr("IFMDim"))
    k = _square(node, "ConvKernelDim", inst.get_nodeattr("ConvKernelDim"))
    stride = _square(node, "Stride", inst.get_nodeattr("Stride"))
    if list(inst.get_nodeattr("Dilation")) != [1, 1]:
        raise HwBnnError(f"node '{node.name}': dilation {inst.get_nodeattr('Dilation')} is not supported "
                         f"by the RTL sliding window")
    channels, simd = int(inst.get_nodeattr("IFMChannels")), int(inst.get_nodeattr("SIMD"))
    idt = node_dtype(inst, "inputDataType")
    out_dim = (dim - k) // stride + 1
    params = dict(IFM_DIM=dim, C=channels, SIMD=simd, K=k, STRIDE=stride, ELEM_W=idt.bitwidth(),
                  DEPTHWISE=int(inst.get_nodeattr("depthwise")))
    inp = stream_of(simd, idt, dim * dim * channels // simd)
    out = stream_of(simd, idt, out_dim * out_dim * k * k * channels // simd)
    return RtlNode(node.name, "sliding_window", params, inp, out)


def emit_pool(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
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
    idt = node_dtype(inst, "InputDataType")
    params = dict(K=k, PE=pe, ELEM_W=idt.bitwidth(), SIGNED=int(idt.signed()))
    windows = out_dim * out_dim * channels // pe
    return RtlNode(node.name, "pool_max", params, stream_of(pe, idt, windows * k * k), stream_of(pe, idt, windows))


def emit_label_select(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    labels, pe, k = (int(inst.get_nodeattr(a)) for a in ("Labels", "PE", "K"))
    idt, odt = node_dtype(inst, "inputDataType"), node_dtype(inst, "outputDataType")
    if not idt.is_integer():
        raise HwBnnError(f"node '{node.name}' (LabelSelect) has {idt.name} input; the RTL label select "
                         f"compares integers")
    if labels % pe or not 1 <= k <= labels:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): needs PE={pe} dividing Labels={labels} and "
                         f"1 <= K={k} <= Labels")
    if odt.signed() or odt.bitwidth() > 32 or 2 ** odt.bitwidth() < labels:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): outputDataType {odt.name} cannot hold the "
                         f"indices 0..{labels - 1} (use an unsigned type of at most 32 bits)")
    inp = stream_of(pe, idt, vectors_per_frame(inst) * labels // pe)
    # The producer's RTL may carry the values in fewer bits than FINN's annotation (an
    # MVAU without activation emits its exact accumulator range, while FINN annotates
    # e.g. UINT32): take the element format of the stream that actually arrives.
    if arriving is not None:
        inp = Stream(pe, arriving.elem_bits, inp.beats, signed=arriving.signed, bipolar=arriving.bipolar)
    if inp.elem_bits > 32:
        raise HwBnnError(f"node '{node.name}' (LabelSelect): {inp.elem_bits}-bit inputs; the RTL label "
                         f"select takes at most 32")
    params = dict(LABELS=labels, PE=pe, K=k, IN_W=inp.elem_bits, IN_SIGNED=int(inp.signed),
                  OUT_W=odt.bitwidth())
    return RtlNode(node.name, "label_select", params, inp, stream_of(1, odt, vectors_per_frame(inst) * k))


def emit_fm_padding(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    height, width = (int(v) for v in inst.get_nodeattr("ImgDim"))
    pad = [int(v) for v in inst.get_nodeattr("Padding")]
    channels, simd = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("SIMD"))
    idt = node_dtype(inst, "inputDataType")
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
    inp = stream_of(simd, idt, height * width * channels // simd)
    out = stream_of(simd, idt, out_h * out_w * channels // simd)
    return RtlNode(node.name, "fm_padding", params, inp, out)


def elementwise_operands(model: ModelWrapper, node):
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



def emit_channelwise_op(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    """ElementwiseAdd/Mul with a per-tensor or per-channel constant (a channel-wise affine): channelwise_op."""
    inst, pe, lhs, rhs, out, shape = elementwise_operands(model, node)
    if inst.get_nodeattr("rhs_style") == "input":
        raise HwBnnError(f"node '{node.name}' ({node.op_type}) has two streamed operands; channelwise_op takes a "
                         f"constant one (two streams are a residual sum: hw_bnn.features.residual.emit)")
    a = pixel_stream(shape, lhs, pe)
    y = pixel_stream(shape, out, pe)
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


def emit_global_acc_pool(model: ModelWrapper, node, arriving: Stream | None) -> RtlNode:
    inst = getCustomOp(node)
    channels, pe = int(inst.get_nodeattr("NumChannels")), int(inst.get_nodeattr("PE"))
    vectors = [int(v) for v in inst.get_nodeattr("numInputVectors")]
    idt = node_dtype(inst, "inputDataType")
    odt = model.get_tensor_datatype(node.output[0])
    pixels = int(np.prod(vectors[1:]))
    params = dict(C=channels, PE=pe, N_PIX=pixels, IN_W=idt.bitwidth(), IN_SIGNED=int(idt.signed()),
                  OUT_W=odt.bitwidth())
    return RtlNode(node.name, "global_acc_pool", params, pixel_stream([*vectors, channels], idt, pe),
                   pixel_stream([channels], odt, pe))
