"""Cycle-accurate simulation of the stitched RTL with Verilator, against FINN and PyTorch.

The host part of the graph (the input layout nodes and the output affine) runs in
Python exactly as in the FINN graph; the dataflow partition runs in Verilator. Images
stream back to back, so the per-image output cycle stamps give both the latency of one
image and the steady-state initiation interval. A :class:`Backpressure` pattern instead
stalls both stream ends at random (seeded): the outputs must not change, and no beat may be
lost or duplicated, whatever the stalls.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from tqdm import tqdm

from hw_bnn.errors import HwBnnError
from hw_bnn.execute import run_host_graph
from hw_bnn.graph import hw_nodes, split_at_partition
from hw_bnn.rtl.streams import Stream
from hw_bnn.design.stitch import COUNTER_BITS, TOP, Design, generate_design
from hw_bnn.rtl.packing import pack_beats, pack_words, unpack_beats
from hw_bnn.rtl.verilator import Sim, SimExtraBeats, SimTimeout


@dataclass(frozen=True)
class Backpressure:
    """A seeded pattern of stalls at the design's two stream ends.

    In each cycle the source offers its next input beat with probability ``p_valid`` (once
    offered, the beat is held until taken) and the sink is ready with probability ``p_ready``;
    ``seed`` makes the pattern repeatable. ``Backpressure()`` is full rate: every beat offered
    at once, the output always ready.
    """

    p_valid: float = 1.0
    p_ready: float = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("p_valid", "p_ready"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise HwBnnError(f"Backpressure.{name}={value!r} is not a probability in (0, 1]: a beat must get "
                                 f"through sometimes; use 1 for no stalls")

    @classmethod
    def from_recipe(cls, section) -> Backpressure:
        """The pattern a recipe's ``sim.backpressure`` section (``hw_bnn.config.BackpressureConfig``) describes."""
        return cls(section.input_valid_probability, section.output_ready_probability, section.stall_seed)

    @property
    def full_rate(self) -> bool:
        """No stalls: cycle counts measured under this pattern are the design's own."""
        return self.p_valid == 1 and self.p_ready == 1

    def describe(self) -> str:
        """The pattern in words, for messages and progress lines."""
        return f"input valid with p={self.p_valid:g}, output ready with p={self.p_ready:g}, seed {self.seed}"

    def longest_stall(self, cycles: int) -> int:
        """Quiet cycles the pattern itself may cause within a run of ``cycles`` cycles: a stretch of k cycles with
        valid low (or ready low) starts in a given cycle with probability (1 - p)^k, so a stretch of k or more
        where ``cycles`` * (1 - p)^k < 1e-9 practically never occurs; one such stretch at each end."""
        def stretch(p: float) -> int:
            return 0 if p == 1 else math.ceil(math.log(1e-9 / max(cycles, 1)) / math.log(1 - p))
        return stretch(self.p_valid) + stretch(self.p_ready)


FULL_RATE = Backpressure()


@dataclass
class RtlRun:
    """What one simulation of a batch of frames gave."""

    raw: np.ndarray  # dataflow-partition outputs, one flattened row per frame
    frame_cycles: np.ndarray  # cycle of each frame's last output beat
    first_input_cycle: int
    wall_s: float
    #: the stalls the run was under; with stalls, the cycle counts are the stalls' rate, not the design's
    backpressure: Backpressure = FULL_RATE
    #: the highest occupancy (beats) each FIFO reached in the run, by link name (``Link.name``)
    fifo_peaks: dict[str, int] = field(default_factory=dict)
    #: a sharded run's parts, each a run of its own on a slice of the frames (``raw`` holds all of them;
    #: ``frame_cycles`` and ``first_input_cycle`` are the first part's)
    shards: list[RtlRun] = field(default_factory=list)

    @property
    def latency_cycles(self) -> int:
        """First input beat to last output beat of the first frame."""
        return int(self.frame_cycles[0] - self.first_input_cycle + 1)

    @property
    def ii_cycles(self) -> float:
        """Steady-state cycles per frame: mean spacing of the later half of the frames (of a sharded run:
        the parts' values weighted by their frames)."""
        if self.shards:
            return float(sum(part.ii_cycles * len(part.raw) for part in self.shards) / len(self.raw))
        stamps = self.frame_cycles
        if len(stamps) < 2:
            return float(self.latency_cycles)
        start = len(stamps) // 2 if len(stamps) >= 4 else 0
        return float(stamps[-1] - stamps[start]) / (len(stamps) - 1 - start)

    @property
    def cycles(self) -> int:
        """Cycles simulated (of a sharded run: all parts' together)."""
        if self.shards:
            return sum(part.cycles for part in self.shards)
        return int(self.frame_cycles[-1] - self.first_input_cycle + 1)


def to_count_lane_beats(values: np.ndarray, stream: Stream) -> np.ndarray:
    """Rows of (channels..., count) per vector -> beat lanes (the beat's channels, then the count)."""
    lanes, nf = stream.elems - 1, stream.count_lane_channels // (stream.elems - 1)
    rows = values.reshape(-1, stream.count_lane_channels + 1)
    count = np.broadcast_to(rows[:, -1:, None], (len(rows), nf, 1))
    return np.concatenate([rows[:, :-1].reshape(-1, nf, lanes), count], axis=2).reshape(len(values), -1)


def from_count_lane_beats(values: np.ndarray, stream: Stream) -> np.ndarray:
    """The inverse of ``to_count_lane_beats``; the count is taken from each vector's first beat."""
    lanes, nf = stream.elems - 1, stream.count_lane_channels // (stream.elems - 1)
    beats = values.reshape(-1, nf, stream.elems)
    rows = np.concatenate([beats[:, :, :lanes].reshape(len(beats), -1), beats[:, 0, lanes:]], axis=1)
    return rows.reshape(len(values), -1)


def _beat_elements(tensors: np.ndarray, stream: Stream) -> np.ndarray:
    """Frames (n, ...) in FINN's stream order -> the integer elements of each beat (beats x elements)."""
    values = tensors.reshape(len(tensors), -1)
    if stream.count_lane_channels:
        values = to_count_lane_beats(values, stream)
    if stream.bipolar:
        values = (values + 1) / 2
    if not np.array_equal(values, np.round(values)):
        raise HwBnnError("stream values are not integers; the graph's datatype annotations are off")
    return values.astype(np.int64).reshape(-1, stream.elems)


def encode(tensors: np.ndarray, stream: Stream) -> list[int]:
    """Frames (n, ...) in FINN's stream order -> beats (element 0 in the LSBs)."""
    return pack_beats(_beat_elements(tensors, stream), stream.elem_bits)


def encode_words(tensors: np.ndarray, stream: Stream) -> np.ndarray:
    """As :func:`encode`, as the (beats x 32-bit words) array the simulation harness reads."""
    return pack_words(_beat_elements(tensors, stream), stream.elem_bits)


def decode(beats: list[int], stream: Stream, frames: int) -> np.ndarray:
    """Output beats -> one flattened row of element values per frame."""
    values = np.array(unpack_beats(beats, stream.elems, stream.elem_bits, stream.signed), dtype=np.float32)
    if stream.bipolar:
        values = 2 * values - 1
    values = values.reshape(frames, -1)
    return from_count_lane_beats(values, stream) if stream.count_lane_channels else values


#: A run of this many frames, or of this many cycles, has its Verilator model compiled for speed
#: (``Sim.optimize``): 200 frames of the SFC net take about 0.1 s at -O1 whatever its folding (a wider folding
#: runs fewer cycles, each dearer), 500k cycles about 0.2 s; beyond either the optimised build's 0.5 s pays
#: back within a run or two (builds are cached). Shorter runs (FIFO sizing's probes, most tests) take the
#: faster-building -O1.
OPTIMIZE_FROM_FRAMES = 200
OPTIMIZE_FROM_CYCLES = 500_000


def _simulator(design: Design, waveform: bool, frames: int) -> Sim:
    """The Verilator model of ``design`` for a run of ``frames`` frames (with a waveform: traced, unoptimised)."""
    cycles = frames * max(node.cycles_per_frame for node in design.nodes)
    long_run = frames >= OPTIMIZE_FROM_FRAMES or cycles >= OPTIMIZE_FROM_CYCLES
    return Sim(TOP, sources=tuple(design.sources), defines=("HW_BNN_STREAM_BEATS", "HW_BNN_FIFO_PEAKS"),
               trace=waveform, optimize=long_run and not waveform)


def _fifo_peaks(design: Design, port: int | None) -> dict[str, int]:
    """The top's ``fifo_peaks`` port value, split per FIFO and named by its link."""
    bits = design.peak_bits
    return {link: (port >> (i * bits)) & ((1 << bits) - 1)
            for i, link in enumerate(design.fifos)} if port is not None else {}


def _stalled_stream(design: Design, counters: int, frames: int) -> str:
    """Name the first stream that carried fewer beats than the frames need."""
    mask = (1 << COUNTER_BITS) - 1
    for index, (name, expected) in enumerate(zip(design.counted_streams, design.expected_beats(frames))):
        seen = (counters >> (index * COUNTER_BITS)) & mask
        if seen < expected:
            hint = ("; a residual sum waits on its longer branch while the fork feeding it waits on a full "
                    "shortcut FIFO: check the shortcut FIFO depths (hw_bnn.features.residual.fifo_sizing)"
                    if "add_streams" in design.modules else "")
            return f"stream '{name}' stopped after {seen} of {expected} beats{hint}"
    return "every stream carried its beats, but the output never completed"


def _idle_limit(design: Design, frames: int, backpressure: Backpressure) -> int:
    """Cycles without a beat in or out after which the design counts as stalled."""
    # at full rate no beat crosses the design's ends while a frame crosses it: at most the sum of every
    # module's busy cycles
    per_frame = [node.cycles_per_frame for node in design.nodes]
    full_rate = max(20 * max(per_frame), 2 * sum(per_frame)) + 1000
    # under stalls a quiet stretch can also hold the longest run of valid-low or ready-low cycles the seeded
    # pattern may draw in the whole run (a run takes at most about frames * full_rate / p cycles)
    lowest = min(backpressure.p_valid, backpressure.p_ready)
    return full_rate + backpressure.longest_stall(int((frames + 4) * full_rate / lowest))


def run_design(design: Design, tensors: np.ndarray, waveform_frames: int = 0,
               backpressure: Backpressure = FULL_RATE, pace_cycles: int = 0, model_frames: int | None = None) -> RtlRun:
    """Stream ``tensors`` (frames in FINN's layout for the first node) through the design, under
    ``backpressure``'s stalls, each frame's beats spread over ``pace_cycles`` cycles (0: as fast as the
    design takes them); a stall, a lost or an extra beat raises an HwBnnError naming it. The Verilator model
    is the one for a run of ``model_frames`` frames (default: these; a sharded run's parts use the whole run's)."""
    first, last = design.nodes[0], design.nodes[-1]
    frames = len(tensors)
    sim = _simulator(design, waveform_frames > 0, model_frames or frames)
    beats_in = encode_words(tensors, first.inp)
    n_out = frames * last.out.beats
    idle_limit = _idle_limit(design, frames, backpressure)
    trace = design.folder.parent / "sim" / "waveform.fst" if waveform_frames else None
    if trace:
        trace.parent.mkdir(parents=True, exist_ok=True)
    where = f"design {TOP} in {design.folder}"
    stalls = "" if backpressure.full_rate else f" under back-pressure ({backpressure.describe()})"
    start = time.perf_counter()
    try:
        result = sim.run(beats_in, n_out, seed=backpressure.seed, p_valid=backpressure.p_valid,
                         p_ready=backpressure.p_ready,
                         max_cycles=int((frames + 4) * idle_limit / min(backpressure.p_valid, backpressure.p_ready)),
                         idle_limit=idle_limit, cwd=design.folder, trace_file=trace,
                         trace_beats=waveform_frames * last.out.beats, pace=(pace_cycles, first.inp.beats),
                         log_inputs=False)
    except SimTimeout as stall:
        raise HwBnnError(f"RTL simulation stalled{stalls}: {_stalled_stream(design, stall.stream_beats, frames)} "
                         f"(no beat in or out for {idle_limit} cycles, {where}); dump a waveform with "
                         f"sim.waveform_images=1 to look inside") from None
    except SimExtraBeats as failure:
        extra = str(failure)
        raise HwBnnError(f"RTL simulation{stalls}: the output stream of {where} carried more than the {n_out} "
                         f"beats of {frames} frames ({last.out.beats} a frame): {extra}; a module duplicates "
                         f"beats, or the input held more than {frames} frames (hw_bnn.design.sim.locate_mismatch "
                         f"simulates one layer at a time)") from None
    wall = time.perf_counter() - start
    if result.in_count < len(beats_in):
        raise HwBnnError(f"RTL simulation{stalls}: {where} emitted all {n_out} output beats of {frames} frames but "
                         f"took only {result.in_count} of their {len(beats_in)} input beats; a module skips input "
                         f"beats, or the input held more than {frames} frames (hw_bnn.design.sim.locate_mismatch "
                         f"simulates one layer at a time)")
    stamps = np.array(result.out_cycles).reshape(frames, last.out.beats)[:, -1]
    return RtlRun(decode(result.out, last.out, frames), stamps, result.in_first, wall, backpressure,
                  _fifo_peaks(design, result.fifo_peaks))


def _shape(model: ModelWrapper, side: int) -> tuple:
    name = model.graph.output[0].name if side else model.graph.input[0].name
    return tuple(model.get_tensor_shape(name)[1:])


@dataclass
class SimReport:
    run: RtlRun
    outputs: np.ndarray  # final outputs (host output affine applied), one row per image
    design: Design


def check_image_shape(hw_graph: ModelWrapper, images: np.ndarray) -> None:
    """Raise an HwBnnError unless ``images`` is a batch of images of the graph input's shape."""
    expected = _shape(hw_graph, 0)
    given = tuple(np.shape(images))
    if len(given) != len(expected) + 1 or given[1:] != expected or given[0] == 0:
        name = hw_graph.graph.input[0].name
        raise HwBnnError(f"simulate(): the images have shape {given}, but the graph's input '{name}' takes images "
                         f"of shape {expected}: pass a batch of shape (n, {', '.join(map(str, expected))}) with n >= 1 "
                         f"(e.g. images.reshape(-1, {', '.join(map(str, expected))}) for a flat batch)")


#: Frames a shard needs at the least, for a steady state of its own.
MIN_SHARD_FRAMES = 8


def run_sharded(design: Design, tensors: np.ndarray, shards: int, backpressure: Backpressure = FULL_RATE) -> RtlRun:
    """``run_design`` on ``shards`` consecutive slices of the frames at once (one Verilator process each,
    each filling its own pipeline), as one run: the outputs in order, the steady-state cycles per frame of
    the parts (each part's own, as a single run measures them), the first part's latency. Fewer parts
    when a part would have fewer than ``MIN_SHARD_FRAMES`` frames."""
    parts = max(1, min(shards, len(tensors) // MIN_SHARD_FRAMES))
    if parts == 1:
        return run_design(design, tensors, backpressure=backpressure)
    _simulator(design, False, len(tensors))  # build (or find) the Verilator model once, before the parts share it
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parts) as pool:  # each part is a subprocess: threads suffice
        runs = list(pool.map(lambda part: run_design(design, part, backpressure=backpressure,
                                                     model_frames=len(tensors)),
                             np.array_split(tensors, parts)))
    peaks = {link: max(run.fifo_peaks.get(link, 0) for run in runs) for link in runs[0].fifo_peaks}
    return RtlRun(np.concatenate([run.raw for run in runs]), runs[0].frame_cycles, runs[0].first_input_cycle,
                  time.perf_counter() - start, backpressure, peaks, runs)


def simulate(hw_graph: ModelWrapper, images: np.ndarray, out_dir: str | Path, fifo_depth: int = 32,
             waveform_images: int = 0, fifo_depths: dict[str, int] | None = None,
             backpressure: Backpressure = FULL_RATE, design: Design | None = None, shards: int = 1) -> SimReport:
    """Simulate ``images`` (n followed by the graph input's shape) through ``design`` (the RTL of ``hw_graph``; by
    default generated into ``out_dir/rtl`` with ``fifo_depth``/``fifo_depths``, see ``generate_design``)
    under ``backpressure``, and return outputs and timing. ``shards`` > 1 splits the images over that many
    Verilator processes (``run_sharded``; not with a waveform)."""
    check_image_shape(hw_graph, images)
    out_dir = Path(out_dir)
    pre, partition, post = split_at_partition(hw_graph)
    if design is None:
        design = generate_design(hw_graph, out_dir / "rtl", fifo_depth=fifo_depth, fifo_depths=fifo_depths)
    inputs = run_host_graph(pre, images) if pre is not None else images.astype(np.float32)
    run = run_sharded(design, inputs, shards, backpressure) if shards > 1 and not waveform_images \
        else run_design(design, inputs, waveform_images, backpressure)
    raw = run.raw.reshape(len(images), *_shape(partition, 1))
    outputs = run_host_graph(post, raw) if post is not None else raw
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
