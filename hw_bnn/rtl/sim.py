"""Cycle-accurate simulation of the stitched RTL with Verilator, against FINN and PyTorch.

The host part of the graph (the input layout nodes and the output affine) runs in
Python exactly as in the FINN graph; the dataflow partition runs in Verilator. Images
stream back to back, so the per-image output cycle stamps give both the latency of one
image and the steady-state initiation interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from tqdm import tqdm

from hw_bnn.compiler import split_at_partition
from hw_bnn.errors import HwBnnError
from hw_bnn.execute import run_graph
from hw_bnn.rtl.nodes import Stream
from hw_bnn.rtl.stitch import COUNTER_BITS, TOP, Design, generate_design, hw_nodes
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim, SimTimeout


@dataclass
class RtlRun:
    """What one simulation of a batch of frames gave."""

    raw: np.ndarray  # dataflow-partition outputs, one flattened row per frame
    frame_cycles: np.ndarray  # cycle of each frame's last output beat
    first_input_cycle: int
    wall_s: float

    @property
    def latency_cycles(self) -> int:
        """First input beat to last output beat of the first frame."""
        return int(self.frame_cycles[0] - self.first_input_cycle + 1)

    @property
    def ii_cycles(self) -> float:
        """Steady-state cycles per frame: mean spacing of the later half of the frames."""
        stamps = self.frame_cycles
        if len(stamps) < 2:
            return float(self.latency_cycles)
        start = len(stamps) // 2 if len(stamps) >= 4 else 0
        return float(stamps[-1] - stamps[start]) / (len(stamps) - 1 - start)

    @property
    def cycles(self) -> int:
        return int(self.frame_cycles[-1] - self.first_input_cycle + 1)


def to_count_lane_beats(values: np.ndarray, stream: Stream) -> np.ndarray:
    """Rows of (channels..., count) per vector -> beat lanes (the beat's channels, then the count)."""
    lanes, nf = stream.elems - 1, stream.count_lane // (stream.elems - 1)
    rows = values.reshape(-1, stream.count_lane + 1)
    count = np.broadcast_to(rows[:, -1:, None], (len(rows), nf, 1))
    return np.concatenate([rows[:, :-1].reshape(-1, nf, lanes), count], axis=2).reshape(len(values), -1)


def from_count_lane_beats(values: np.ndarray, stream: Stream) -> np.ndarray:
    """The inverse of ``to_count_lane_beats``; the count is taken from each vector's first beat."""
    lanes, nf = stream.elems - 1, stream.count_lane // (stream.elems - 1)
    beats = values.reshape(-1, nf, stream.elems)
    rows = np.concatenate([beats[:, :, :lanes].reshape(len(beats), -1), beats[:, 0, lanes:]], axis=1)
    return rows.reshape(len(values), -1)


def encode(tensors: np.ndarray, stream: Stream) -> list[int]:
    """Frames (n, ...) in FINN's stream order -> beats (element 0 in the LSBs)."""
    values = tensors.reshape(len(tensors), -1)
    if stream.count_lane:
        values = to_count_lane_beats(values, stream)
    if stream.bipolar:
        values = (values + 1) / 2
    if not np.array_equal(values, np.round(values)):
        raise HwBnnError("stream values are not integers; the graph's datatype annotations are off")
    return pack_beats(values.astype(np.int64).reshape(-1, stream.elems), stream.elem_bits)


def decode(beats: list[int], stream: Stream, frames: int) -> np.ndarray:
    """Output beats -> one flattened row of element values per frame."""
    values = np.array(unpack_beats(beats, stream.elems, stream.elem_bits, stream.signed), dtype=np.float32)
    if stream.bipolar:
        values = 2 * values - 1
    values = values.reshape(frames, -1)
    return from_count_lane_beats(values, stream) if stream.count_lane else values


def _simulator(design: Design, waveform: bool) -> Sim:
    return Sim(TOP, sources=tuple(design.sources), defines=("HW_BNN_STREAM_BEATS",), trace=waveform)


def _stalled_stream(design: Design, counters: int, frames: int) -> str:
    """Name the first stream that carried fewer beats than the frames need."""
    mask = (1 << COUNTER_BITS) - 1
    for index, (name, expected) in enumerate(zip(design.counted_streams, design.expected_beats(frames))):
        seen = (counters >> (index * COUNTER_BITS)) & mask
        if seen < expected:
            hint = ("; a residual sum waits on its longer branch while the fork feeding it waits on a full "
                    "shortcut FIFO: check the shortcut FIFO depths (hw_bnn.rtl.fifo_sizing)"
                    if "add_streams" in design.modules else "")
            return f"stream '{name}' stopped after {seen} of {expected} beats{hint}"
    return "every stream carried its beats, but the output never completed"


def run_design(design: Design, tensors: np.ndarray, waveform_frames: int = 0) -> RtlRun:
    """Stream ``tensors`` (frames in FINN's layout for the first node) through the design."""
    first, last = design.nodes[0], design.nodes[-1]
    frames = len(tensors)
    sim = _simulator(design, waveform_frames > 0)
    beats_in = encode(tensors, first.inp)
    n_out = frames * last.out.beats
    # no beat leaves the design while a frame crosses it: at most the sum of every module's busy cycles
    per_frame = [node.cycles_per_frame for node in design.nodes]
    idle_limit = max(20 * max(per_frame), 2 * sum(per_frame)) + 1000
    trace = design.folder.parent / "sim" / "waveform.fst" if waveform_frames else None
    if trace:
        trace.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = sim.run(beats_in, n_out, max_cycles=(frames + 4) * idle_limit, idle_limit=idle_limit,
                         cwd=design.folder, trace_file=trace, trace_beats=waveform_frames * last.out.beats)
    except SimTimeout as stall:
        raise HwBnnError(f"RTL simulation stalled: {_stalled_stream(design, stall.stream_beats, frames)} "
                         f"(no beat in or out for {idle_limit} cycles); dump a waveform with "
                         f"sim.waveform_images=1 to look inside") from None
    wall = time.perf_counter() - start
    stamps = np.array(result.out_cycles).reshape(frames, last.out.beats)[:, -1]
    return RtlRun(decode(result.out, last.out, frames), stamps, result.in_cycles[0], wall)


def _execute_each(model: ModelWrapper | None, tensors: np.ndarray) -> np.ndarray:
    if model is None:
        return tensors
    return run_graph(model, tensors, show_progress=False).reshape(len(tensors), *_shape(model, 1))


def _shape(model: ModelWrapper, side: int) -> tuple:
    name = model.graph.output[0].name if side else model.graph.input[0].name
    return tuple(model.get_tensor_shape(name)[1:])


@dataclass
class SimReport:
    run: RtlRun
    outputs: np.ndarray  # final outputs (host output affine applied), one row per image
    design: Design


def simulate(hw_graph: ModelWrapper, images: np.ndarray, out_dir: str | Path, fifo_depth: int = 32,
             waveform_images: int = 0, fifo_depths: dict[str, int] | None = None) -> SimReport:
    """Generate ``out_dir/rtl``, simulate ``images`` through it, and return outputs and timing
    (``fifo_depths``: see ``generate_design``)."""
    out_dir = Path(out_dir)
    pre, partition, post = split_at_partition(hw_graph)
    design = generate_design(hw_graph, out_dir / "rtl", fifo_depth=fifo_depth, fifo_depths=fifo_depths)
    inputs = np.stack([_execute_each(pre, image[None].astype(np.float32))[0] for image in images]) \
        if pre is not None else images.astype(np.float32)
    run = run_design(design, inputs, waveform_images)
    raw = run.raw.reshape(len(images), *_shape(partition, 1))
    outputs = np.stack([_execute_each(post, row[None])[0] for row in raw]) if post is not None else raw
    return SimReport(run, outputs.reshape(len(images), -1), design)


def single_stream_nodes(hw_graph: ModelWrapper) -> list:
    """The HW nodes with one input and one output stream (forks and joins cannot run alone)."""
    return [n for n in hw_nodes(hw_graph)
            if len(n.output) == 1 and sum(hw_graph.get_initializer(t) is None for t in n.input) == 1]


def locate_mismatch(hw_graph: ModelWrapper, image: np.ndarray, folder: str | Path) -> str:
    """Simulate each HW node alone on FINN's input to it; name the first whose output differs."""
    from finn.core.onnx_exec import execute_onnx

    context = execute_onnx(hw_graph, {hw_graph.graph.input[0].name: image[None].astype(np.float32)},
                           return_full_exec_context=True)
    for node in tqdm(single_stream_nodes(hw_graph), desc="locating the first diverging layer", leave=False):
        design = generate_design(hw_graph, Path(folder) / node.name, nodes=[node])
        run = run_design(design, context[node.input[0]][None].astype(np.float32))
        expected = context[node.output[0]].reshape(1, -1)
        if not np.array_equal(run.raw, expected):
            index = int(np.flatnonzero(run.raw[0] != expected[0])[0])
            return (f"layer '{node.name}' ({node.op_type}) is the first to differ: output element {index} "
                    f"is {run.raw[0, index]:g} in RTL, {expected[0, index]:g} in FINN")
    return "no single layer differs on its own; the stitching (FIFOs, width converters) does"


def measure_layers(hw_graph: ModelWrapper, images: np.ndarray, folder: str | Path) -> list[dict]:
    """Cycles per frame of each HW node simulated alone, fed back to back at full rate."""
    from finn.core.onnx_exec import execute_onnx

    contexts = [execute_onnx(hw_graph, {hw_graph.graph.input[0].name: image[None].astype(np.float32)},
                             return_full_exec_context=True) for image in images]
    layers = []
    for node in tqdm(single_stream_nodes(hw_graph), desc="per-layer simulation", leave=False):
        design = generate_design(hw_graph, Path(folder) / node.name, nodes=[node])
        run = run_design(design, np.stack([c[node.input[0]] for c in contexts]).astype(np.float32))
        layers.append({"name": node.name, "op": node.op_type, "ii_cycles": run.ii_cycles,
                       "latency_cycles": run.latency_cycles})
    return layers
