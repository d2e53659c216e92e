"""Execute ONNX graphs (QONNX or FINN) image by image, with progress; host-side graphs on a whole batch."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

import hw_bnn.finn_env  # noqa: F401
from finn.core.onnx_exec import execute_onnx
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper


def run_graph(model: ModelWrapper, images: np.ndarray, desc: str = "execute", show_progress: bool = True) -> np.ndarray:
    """Outputs of ``model`` for uint8 ``images`` (N, C, H, W), one row per image.

    FINN's HW nodes execute one frame at a time, so every graph is run per image
    (about 100 images/s for an MLP in FINN's python execution).
    """
    in_name, out_name = model.graph.input[0].name, model.graph.output[0].name
    outputs = []
    for image in tqdm(images, desc=desc, disable=None if show_progress else True, leave=False):
        result = execute_onnx(model, {in_name: image[None].astype(np.float32)})
        outputs.append(np.asarray(result[out_name], dtype=np.float32).reshape(-1))
    return np.stack(outputs)


def _batched(model: ModelWrapper, node, x: np.ndarray) -> np.ndarray | None:
    """``node`` applied to the batch ``x`` (first axis: frames) with NumPy, or None for an op (or a form of
    it) this does not cover. Each is the same single float32 operation per element as ONNX's, so the
    results equal an image-by-image execution bit for bit."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type in ("Mul", "Add"):
        constants = [model.get_initializer(name) for name in node.input]
        if constants[0] is not None or constants[1] is None:
            return None
        c = np.asarray(constants[1], dtype=np.float32)
        if c.ndim > x.ndim or (c.ndim == x.ndim and c.shape[0] != 1):
            return None
        return x * c if node.op_type == "Mul" else x + c
    if node.op_type == "Reshape":
        shape = model.get_initializer(node.input[1])
        if shape is None or shape[0] not in (1, -1) or -1 in shape[1:]:  # the batch goes first
            return None
        return x.reshape(len(x), *shape[1:])
    if node.op_type == "Transpose" and attrs.get("perm", [0])[0] == 0:
        return np.transpose(x, attrs["perm"])
    if node.op_type == "Flatten" and attrs.get("axis", 1) == 1:
        return x.reshape(len(x), -1)
    return None


def _run_batched(model: ModelWrapper, x: np.ndarray) -> np.ndarray | None:
    """The chain of nodes of ``model`` on the batch ``x``; None where a node is not one ``_batched`` covers."""
    tensor = model.graph.input[0].name
    for node in model.graph.node:
        if node.input[0] != tensor:
            return None
        x = _batched(model, node, x)
        if x is None:
            return None
        tensor = node.output[0]
    return x


def run_host_graph(model: ModelWrapper, tensors: np.ndarray) -> np.ndarray:
    """Outputs of a host-side graph (the input layout before the accelerator, the output affine after it)
    for a batch of frames, one row per frame in the graph output's shape.

    A chain of Reshape, Flatten, Transpose and Mul/Add by a constant runs on the whole batch at once (the
    simulation's pre- and post-processing of thousands of images in milliseconds); a graph with any other
    op (AdaBin's output unit) runs frame by frame with FINN's execute_onnx."""
    batched = _run_batched(model, np.asarray(tensors, dtype=np.float32))
    if batched is not None:
        return batched
    shape = model.get_tensor_shape(model.graph.output[0].name)[1:]
    return run_graph(model, tensors, show_progress=False).reshape(len(tensors), *shape)
