"""Reference outputs from FINN's own python execution of single HW nodes.

Each function builds a one-node ONNX graph of a generic FINN HW node
(``MVAU``, ``Thresholding``, ``ConvolutionInputGenerator``, ``Pool``,
``StreamingDataWidthConverter``), runs it with
``finn.core.onnx_exec.execute_onnx`` and returns the output as a numpy array
(FINN's ``float32`` values, in FINN's normal, unfolded NHWC order).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

_initialized = False


def _setup():
    global _initialized
    if not _initialized:
        from finn.util.settings import initialize_dummy_settings

        initialize_dummy_settings()
        _initialized = True


def _run(node, inputs: dict, in_infos, out_info, inits: dict, dtypes: dict):
    _setup()
    from finn.core.onnx_exec import execute_onnx
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    graph = helper.make_graph([node], "single_node", in_infos, [out_info])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="hw_bnn-rtl-test"))
    for name, val in inits.items():
        model.set_initializer(name, np.asarray(val, dtype=np.float32))
    for name, dt in dtypes.items():
        model.set_tensor_datatype(name, DataType[dt])
    ctx = execute_onnx(model, {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()})
    return ctx[out_info.name]


def mvau(x, W, T=None, *, pe=1, simd=1, xnor=True, idt="BINARY", wdt="BINARY",
         odt="BINARY", actval=0):
    """FINN ``MVAU`` on ``x`` (vectors x MW); ``T`` None means noActivation=1."""
    x = np.asarray(x, dtype=np.float32)
    nv, mw = x.shape
    mh = W.shape[1]
    ins = ["inp", "W"] + ([] if T is None else ["T"])
    node = helper.make_node(
        "MVAU", ins, ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        MW=mw, MH=mh, SIMD=simd, PE=pe, inputDataType=idt, weightDataType=wdt,
        outputDataType=odt, ActVal=actval, binaryXnorMode=int(xnor),
        noActivation=int(T is None), numInputVectors=[nv],
    )
    inits = {"W": W}
    dts = {"inp": idt, "W": wdt, "out": odt}
    if T is not None:
        inits["T"] = T
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [nv, mw])],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [nv, mh]),
        inits, dts,
    )


def thresholding(x, T, *, pe=1, idt="UINT8", odt="BINARY", actval=0):
    """FINN ``Thresholding`` on ``x`` (..., C), thresholds ``T`` (C x N)."""
    x = np.asarray(x, dtype=np.float32)
    c = x.shape[-1]
    n = T.shape[1]
    node = helper.make_node(
        "Thresholding", ["inp", "T"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", NumChannels=c, PE=pe, numSteps=n, inputDataType=idt,
        weightDataType="INT32", outputDataType=odt, ActVal=actval,
        numInputVectors=list(x.shape[:-1]),
    )
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(x.shape))],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, list(x.shape)),
        {"T": T}, {"inp": idt, "out": odt},
    )


def swg(x, *, k, stride, simd=1, idt="BINARY", depthwise=0):
    """FINN ``ConvolutionInputGenerator`` on one NHWC image ``x`` (1, H, W, C)."""
    x = np.asarray(x, dtype=np.float32)
    _, h, w, c = x.shape
    oh = (h - k) // stride + 1
    ow = (w - k) // stride + 1
    node = helper.make_node(
        "ConvolutionInputGenerator", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", ConvKernelDim=[k, k], IFMChannels=c, IFMDim=[h, w],
        OFMDim=[oh, ow], SIMD=simd, Stride=[stride, stride], Dilation=[1, 1],
        inputDataType=idt, outputDataType=idt, depthwise=depthwise,
    )
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, h, w, c])],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, oh, ow, k * k * c]),
        {}, {"inp": idt, "out": idt},
    )


def pool_max(x, *, k, channels, pe=1, idt="BINARY"):
    """FINN ``Pool`` (MaxPool) on the SWG output ``x`` (1, OH, OW, k*k*C)."""
    x = np.asarray(x, dtype=np.float32)
    _, oh, ow, _ = x.shape
    node = helper.make_node(
        "Pool", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        InputDataType=idt, OutputDataType=idt, Channels=channels, PE=pe, KernelSize=[k, k],
        Function="MaxPool", OutImgDims=[oh, ow], AccumBits=0, Size=0, BatchSize=1,
    )
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(x.shape))],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, oh, ow, channels]),
        {}, {"inp": idt, "out": idt},
    )


def label_select(x, *, k=1, pe=1, idt="INT8", odt=""):
    """FINN ``LabelSelect`` on ``x`` (vectors x Labels): the top-``k`` indices of each vector
    (largest first), shape (vectors, k). ``odt`` "" lets FINN choose the output type."""
    x = np.asarray(x, dtype=np.float32)
    nv, labels = x.shape
    attrs = dict(Labels=labels, PE=pe, K=k, inputDataType=idt, numInputVectors=[nv])
    if odt:
        attrs["outputDataType"] = odt
    node = helper.make_node("LabelSelect", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
                            backend="fpgadataflow", **attrs)
    _setup()
    from qonnx.custom_op.registry import getCustomOp

    odt = getCustomOp(node).get_nodeattr("outputDataType")
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [nv, labels])],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [nv, k]),
        {}, {"inp": idt, "out": odt},
    )


def fm_padding(x, *, padding, simd=1, idt="UINT8"):
    """FINN ``FMPadding`` on one NHWC image ``x`` (1, H, W, C); ``padding`` is
    FINN's [top, left, bottom, right]."""
    x = np.asarray(x, dtype=np.float32)
    _, h, w, c = x.shape
    oh, ow = h + padding[0] + padding[2], w + padding[1] + padding[3]
    node = helper.make_node(
        "FMPadding", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        ImgDim=[h, w], Padding=list(padding), NumChannels=c, SIMD=simd, inputDataType=idt,
    )
    return _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, h, w, c])],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, oh, ow, c]),
        {}, {"inp": idt, "out": idt},
    )


def mvau_acc_datatype(W, *, idt, wdt, xnor=False, no_act=True, last=True, datatype_only=False):
    """FINN's accumulator and output datatype names of an ``MVAU`` with weights ``W`` (MW x MH),
    from ``minimize_accumulator_width`` (value based, or worst case of the datatypes with
    ``datatype_only``): ``(accDataType, outputDataType)``.  With ``no_act`` the output datatype is
    the accumulator's, rounded up to a multiple of 8 bits when the node is the graph's ``last``
    (a classifier), exact otherwise (a successor consumes it)."""
    _setup()
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    W = np.asarray(W, dtype=np.float32)
    mw, mh = W.shape
    ins = ["inp", "W"] + ([] if no_act else ["T"])
    node = helper.make_node(
        "MVAU", ins, ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        MW=mw, MH=mh, SIMD=1, PE=1, inputDataType=idt, weightDataType=wdt,
        outputDataType="INT32", binaryXnorMode=int(xnor), noActivation=int(no_act), numInputVectors=[1],
    )
    nodes = [node]
    out = "out"
    if not last:
        nodes.append(helper.make_node("Identity", ["out"], ["out2"]))
        out = "out2"
    graph = helper.make_graph(nodes, "mvau_acc", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, mw])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, mh])],
                              value_info=[helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, mh])]
                              if not last else None)
    model = ModelWrapper(qonnx_make_model(graph, producer_name="hw_bnn-rtl-test"))
    model.set_initializer("W", W)
    if not no_act:
        model.set_initializer("T", np.zeros((mh, 1), dtype=np.float32))
    model.set_tensor_datatype("inp", DataType[idt])
    model.set_tensor_datatype("W", DataType[wdt])
    inst = getCustomOp(model.graph.node[0])
    inst.minimize_accumulator_width(model, datatype_only=datatype_only)
    return inst.get_nodeattr("accDataType"), inst.get_nodeattr("outputDataType")


def global_acc_pool(x, *, pe=1, idt="INT8"):
    """FINN ``GlobalAccPool`` on ``x`` (N, H, W, C): per image the sum over the H*W pixels of
    every channel, shape (N, 1, 1, C); returns ``(sums, odt)`` with ``odt`` the name of FINN's
    output datatype (``GlobalAccPool.get_output_datatype``)."""
    _setup()
    from qonnx.custom_op.registry import getCustomOp

    x = np.asarray(x, dtype=np.float32)
    n, h, w, c = x.shape
    node = helper.make_node(
        "GlobalAccPool", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
        NumChannels=c, PE=pe, inputDataType=idt, numInputVectors=[n, h, w],
    )
    odt = getCustomOp(node).get_output_datatype().name
    y = _run(
        node, {"inp": x},
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [n, h, w, c])],
        helper.make_tensor_value_info("out", TensorProto.FLOAT, [n, 1, 1, c]),
        {}, {"inp": idt, "out": odt},
    )
    return y, odt


def elementwise_const(x, const, *, op="Add", pe=1, idt="INT8"):
    """FINN ``ElementwiseAdd`` / ``ElementwiseMul`` (``op`` "Add" / "Mul") of ``x`` (..., C) and a
    constant right-hand side ``const`` (C per-channel integers, or 1 for all channels), made as
    FINN's flow makes it: a one-node ONNX Add/Mul converted by ``InferElementwiseBinaryOperation``
    (``rhs_style`` "const"), then ``MinimizeWeightBitWidth`` and ``MinimizeAccumulatorWidth``
    (the constant's and the output's datatypes).  Returns ``(y, rhs_dtype, out_dtype)``: FINN's
    python execution of the node and its datatype names."""
    _setup()
    from finn.core.onnx_exec import execute_onnx
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.minimize_accumulator_width import MinimizeAccumulatorWidth
    from finn.transformation.fpgadataflow.minimize_weight_bit_width import MinimizeWeightBitWidth
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    x = np.asarray(x, dtype=np.float32)
    const = np.asarray(const, dtype=np.float32).reshape(-1)
    node = helper.make_node(op, ["inp", "c"], ["out"])
    graph = helper.make_graph([node], "single_node",
                              [helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(x.shape))])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="hw_bnn-rtl-test"))
    model.set_initializer("c", const)
    model.set_tensor_datatype("inp", DataType[idt])
    model = model.transform(InferElementwiseBinaryOperation())
    assert [n.op_type for n in model.graph.node] == [f"Elementwise{op}"], model.graph.node
    getCustomOp(model.graph.node[0]).set_nodeattr("PE", pe)
    model = model.transform(MinimizeWeightBitWidth())
    model = model.transform(MinimizeAccumulatorWidth())
    inst = getCustomOp(model.graph.node[0])
    assert inst.get_nodeattr("rhs_style") == "const"
    y = execute_onnx(model, {"inp": x})["out"]
    return y, inst.get_nodeattr("rhs_dtype"), inst.get_nodeattr("out_dtype")
