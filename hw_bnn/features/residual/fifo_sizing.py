"""FIFO depths for the shortcut branches of residual graphs (fork: DuplicateStreams, join: ElementwiseAdd).

A fork hands every beat to both of its outputs, and the join takes one beat from each of its inputs
at a time. The longer path (the binary convs: a sliding window must collect K-1 rows and K pixels
before its first output) holds the join's first operand back while the fork keeps emitting into the
shorter path (the shortcut). If the FIFO on the shorter path fills, the fork stops feeding the longer
path too, which then never produces the operand the join waits for: the design deadlocks. If it is
just too small, the fork stalls periodically and the frame rate drops.

``residual_fifo_depths`` computes, for each join, the lead of its longer path over its shorter one in
beats of the shorter path's last link, plus slack for the pipeline stages, and returns the FIFO depth
of that link; the stitcher uses it there. The lead of a path is the sum, over its nodes, of the input
a node needs before its first output (a sliding window: (K-1) rows + K pixels of its padded input; any
a per-sample binarizer's frame buffer: its whole frame, and its hyper-function's computation; any
other node: one pixel), scaled to pixels of the fork's stream. ``tests/test_residual_hw.py`` confirms
the depths in simulation: the design runs at the frame rate it has with very deep FIFOs, and a shortcut
FIFO far below the computed depth deadlocks.
"""

from __future__ import annotations

import math

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.streams import Link, RtlNode

#: Extra pixels of slack per node on the longer path (register stages, skid buffers, the MVAU's
#: input buffer), and extra beats per FIFO.
SLACK_PIXELS_PER_NODE = 2
SLACK_BEATS = 8


def _pixels(shape) -> int:
    return int(np.prod(list(shape)[:-1]))


def _first_output_needs(model: ModelWrapper, node) -> float:
    """Input pixels ``node`` consumes before it emits its first output."""
    if node.op_type == "ConvolutionInputGenerator":
        inst = getCustomOp(node)
        dim = int(inst.get_nodeattr("IFMDim")[0])
        k = int(inst.get_nodeattr("ConvKernelDim")[0])
        return (k - 1) * dim + k
    if node.op_type == "FrameBuffer":  # a per-sample binarizer: the whole frame and its thresholds row
        return _pixels(model.get_tensor_shape(node.input[0]))
    return 1.0


def _path_to_fork(model: ModelWrapper, tensor: str) -> tuple[list, object]:
    """The nodes from the fork (exclusive) down to the producer of ``tensor``, and the fork."""
    path = []
    node = model.find_producer(tensor)
    while node is not None and node.op_type != "DuplicateStreams":
        path.append(node)
        node = model.find_producer(node.input[0])
    if node is None:
        raise HwBnnError(f"tensor '{tensor}' joins a residual sum but no DuplicateStreams forks it")
    return path[::-1], node


def path_lead(model: ModelWrapper, path: list, fork_pixels: int, cycles_per_frame: int | None) -> float:
    """Pixels of the fork's stream that ``path`` must take in before its first output; a per-sample
    binarizer's hyper-function computes after its frame has passed, while the fork goes on at the
    design's rate (``cycles_per_frame`` for ``fork_pixels``; None where the graph has no hyper-function)."""
    lead = 0.0
    for node in path:
        node_pixels = _pixels(model.get_tensor_shape(node.input[0]))
        lead += _first_output_needs(model, node) * fork_pixels / node_pixels
        if node.op_type == "FrameHyperFunction":
            lead += getCustomOp(node).compute_cycles(model) * fork_pixels / cycles_per_frame
    return lead


def residual_fifo_depths(model: ModelWrapper, rtl_nodes: list[RtlNode]) -> dict[str, int]:
    """``{link name: FIFO depth}`` for the shorter input of every residual sum (``Link.name`` of the stitcher),
    from the graph and its emitted nodes (``hw_bnn.design.emitters.emit_nodes``)."""
    depths: dict[str, int] = {}
    by_name = {node.name: node for node in rtl_nodes}
    # the design's rate, which only a per-sample binarizer's hyper-function needs
    hyper = any(node.op_type == "FrameHyperFunction" for node in model.graph.node)
    cycles_per_frame = max(node.cycles_per_frame for node in rtl_nodes) if hyper else None
    for join in model.graph.node:
        if join.op_type != "ElementwiseAdd" or getCustomOp(join).get_nodeattr("rhs_style") != "input":
            continue
        paths = [_path_to_fork(model, tensor) for tensor in join.input[:2]]
        if paths[0][1] is not paths[1][1] and paths[0][1].name != paths[1][1].name:
            raise HwBnnError(f"the two inputs of '{join.name}' come from different forks; only a fork/join "
                             f"pair (a residual block) is sized")
        fork = paths[0][1]
        fork_pixels = _pixels(model.get_tensor_shape(fork.input[0]))
        leads = [path_lead(model, path, fork_pixels, cycles_per_frame) for path, _ in paths]
        short = int(np.argmin(leads))
        long_path = paths[1 - short][0]
        lag_pixels = leads[1 - short] - leads[short] + SLACK_PIXELS_PER_NODE * (len(long_path) + 1)
        join_stream = by_name[join.name].input_streams[short]
        join_pixels = _pixels(model.get_tensor_shape(join.input[short]))
        beats_per_pixel = join_stream.beats / join_pixels
        depth = math.ceil(lag_pixels * join_pixels / fork_pixels * beats_per_pixel) + SLACK_BEATS
        producer = model.find_producer(join.input[short])
        link = Link(producer.name, list(producer.output).index(join.input[short]), join.name, short)
        depths[link.name] = depth
    return depths
