"""Size every FIFO of a design by simulation (``build.fifo_sizing: simulate``), in seconds.

A FIFO between two nodes has to absorb the bursts in which its producer writes and its consumer reads
(a sliding window emits a row's windows in a burst, a layer its outputs at the end of a fold); too
shallow, and the faster side waits, so the whole pipeline runs slower than its slowest node. The
depth each link needs is measured in Verilator, from the top's ``fifo_peaks`` port:

1. **Probe** at full rate, every FIFO ``PROBE_DEPTH`` beats deep (at least the residual shortcuts' plan):
   the design's own cycles per frame when no FIFO limits it.
2. **Paced probe**, the same build, each frame's input beats spread evenly over that many cycles, as the
   design takes them in steady state: each FIFO's peak occupancy is then what its bursts need. (Offered as fast as it is
   taken, the input would run ahead and fill every FIFO before the slowest node to the brim, whatever
   it needs.) A FIFO that reached the probe depth doubles it and the probes run again.
3. Each depth starts at the paced peak + ``MARGIN`` (at least ``MIN_DEPTH``), but no deeper than without
   sizing (``sim.fifo_depth``, shortcuts as planned): a peak is what a burst fills when nothing stops it,
   not always what the rate needs (a sliding window fills the FIFO before a slow layer in bursts, and
   waits as well in a shallower one). The design is **re-simulated at full rate**: the cycles per frame
   must stay within ``TOLERANCE`` of the probe's, the outputs equal; else the FIFOs that ran full double
   (up to their peak + margin), then all go to their peak + margin, then all double (never past the
   probe's), each time checked again.
4. Under ``sim.backpressure`` (random stalls at the input and output), the probe and the sized design are
   simulated again with the same seeded stalls, and the depths grow as in 3 until the sized design keeps the
   probe's cycles per frame there too. (Its peaks are no guide: a stalled output fills every FIFO behind it.)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hw_bnn.cost import memory_cost
from hw_bnn.design.sim import FULL_RATE, Backpressure, RtlRun, run_design
from hw_bnn.design.stitch import Design, generate_design, planned_fifo_depths
from hw_bnn.errors import HwBnnError

#: Depth of every FIFO in the first probe; doubled while a FIFO fills it.
PROBE_DEPTH = 1024
#: Deepest probe before sizing gives up.
MAX_PROBE_DEPTH = 16384
#: Beats added to each measured peak: a sized FIFO never runs full where the probe's did not.
MARGIN = 2
#: A stream_fifo needs 3 beats to pass one beat per cycle.
MIN_DEPTH = 3
#: Frames a run needs for a steady state (the later half are measured).
MIN_FRAMES = 4
#: How much slower than the probe the sized design may run (cycles per frame).
TOLERANCE = 0.005


@dataclass
class FifoSizing:
    """What sizing measured and chose, by link name."""

    depths: dict[str, int]
    peaks: dict[str, int]
    #: the depths without sizing: ``sim.fifo_depth``, residual shortcuts as planned
    fixed_depths: dict[str, int]
    probe_depth: int
    probe_ii_cycles: float
    sized_ii_cycles: float
    images: int
    seconds: float
    #: sized under ``sim.backpressure`` too: the stall pattern and the probe's and sized design's cycles per
    #: frame under it (None at full rate)
    backpressure: dict | None = None

    def report(self, design: Design) -> dict:
        """The report.json section: depths, cycles, and the FIFOs' memory at the fixed and sized depths
        (``hw_bnn.cost.memory_cost``: LUT-RAM or BRAM18 by depth)."""
        widths = {link: inst.params["WIDTH"] for link, inst in design.fifos.items()}
        memory = {}
        for kind, depths in (("fixed", self.fixed_depths), ("sized", self.depths)):
            parts = [memory_cost(depths[link], widths[link]) for link in depths]
            memory[kind] = {"bits": sum(depths[link] * widths[link] for link in depths),
                            "lut": sum(p["lut"] for p in parts), "bram18": sum(p["bram18"] for p in parts)}
        return {**asdict(self), "margin_beats": MARGIN, "tolerance": TOLERANCE, "memory": memory}


def size_fifos(hw_graph: ModelWrapper, tensors: np.ndarray, folder: str | Path, fixed_depth: int,
               progress=print, backpressure: Backpressure = FULL_RATE) -> FifoSizing:
    """Measure the depth every FIFO of ``hw_graph``'s design needs on ``tensors`` (frames in the first
    node's layout, as ``run_design`` takes them); designs are generated under ``folder``. With a
    ``backpressure`` pattern the depths must also keep the probe's cycles per frame under its stalls."""
    from hw_bnn.design.emitters import emit_nodes
    from hw_bnn.graph import hw_nodes

    folder = Path(folder)
    start = time.perf_counter()
    if len(tensors) < MIN_FRAMES:
        raise HwBnnError(f"FIFO sizing needs at least {MIN_FRAMES} frames for a steady state; it got {len(tensors)}")
    planned = planned_fifo_depths(hw_graph, emit_nodes(hw_graph, hw_nodes(hw_graph)), fixed_depth)
    probe_depth = PROBE_DEPTH
    while True:
        depths = {link: max(probe_depth, depth) for link, depth in planned.items()}
        probe = generate_design(hw_graph, folder / f"probe_{probe_depth}", fifo_depth=probe_depth, fifo_depths=depths)
        progress(f"build: FIFO sizing, probe with {probe_depth}-beat FIFOs on {len(tensors)} frames")
        full = run_design(probe, tensors)
        probe_ii = full.ii_cycles
        paced = run_design(probe, tensors, pace_cycles=math.ceil(probe_ii))
        capacity = {link: inst.params["DEPTH"] for link, inst in probe.fifos.items()}
        filled = [link for link, peak in paced.fifo_peaks.items() if peak >= capacity[link]]
        if not filled:
            break
        if probe_depth * 2 > MAX_PROBE_DEPTH:
            raise HwBnnError(f"FIFO sizing: {', '.join(filled)} filled {probe_depth}-beat FIFOs even with the input "
                             f"paced at the design's rate; set build.fifo_sizing: fixed and sim.fifo_depth by hand")
        probe_depth *= 2
    fixed = {link: planned.get(link, fixed_depth) for link in paced.fifo_peaks}
    # The paced peaks are enough but not always needed: a sliding window fills its FIFO in bursts faster
    # than a slow layer drains it, and waits just as well in a shallower one. Start no deeper than fixed.
    enough = {link: max(MIN_DEPTH, peak + MARGIN) for link, peak in paced.fifo_peaks.items()}
    sized = {link: max(MIN_DEPTH, min(enough[link], fixed[link])) for link in enough}
    sized, sized_ii = _grow_until_rate_kept(hw_graph, tensors, folder, fixed_depth, sized, enough, capacity, full,
                                            progress)
    stalled = None
    if not backpressure.full_rate:
        progress(f"build: FIFO sizing, probe under back-pressure ({backpressure.describe()})")
        probe_stalled = run_design(probe, tensors, backpressure=backpressure)
        sized, stalled_ii = _grow_until_rate_kept(hw_graph, tensors, folder, fixed_depth, sized, enough, capacity,
                                                  probe_stalled, progress)
        stalled = {"pattern": backpressure.describe(), "probe_ii_cycles": probe_stalled.ii_cycles,
                   "sized_ii_cycles": stalled_ii}
    return FifoSizing(sized, dict(paced.fifo_peaks), fixed, probe_depth, probe_ii, sized_ii, len(tensors),
                      round(time.perf_counter() - start, 1), stalled)


def _grow_until_rate_kept(hw_graph: ModelWrapper, tensors: np.ndarray, folder: Path, fixed_depth: int,
                          sized: dict[str, int], enough: dict[str, int], capacity: dict[str, int],
                          reference: RtlRun, progress) -> tuple[dict[str, int], float]:
    """Simulate the design with ``sized`` FIFOs under ``reference``'s stall pattern until it keeps
    ``reference``'s cycles per frame and outputs; while it is slower, grow first the FIFOs that ran full
    (doubled, up to their paced peak ``enough``), then all to ``enough``, then all doubled up to the probe's
    ``capacity``. The depths and their cycles per frame."""
    pattern = reference.backpressure
    stalls = "" if pattern.full_rate else " under back-pressure"
    while True:
        design = generate_design(hw_graph, folder / "sized", fifo_depth=fixed_depth, fifo_depths=sized)
        progress(f"build: FIFO sizing, checking the sized depths{stalls} ({sum(sized.values()):,} beats in all)")
        run = run_design(design, tensors, backpressure=pattern)
        if not np.array_equal(run.raw, reference.raw):
            raise HwBnnError(f"FIFO sizing: the design with sized FIFOs computes other outputs than the probe "
                             f"(RTL in {folder / 'sized'}); a FIFO loses or repeats beats")
        if run.ii_cycles <= reference.ii_cycles * (1 + TOLERANCE):
            return sized, run.ii_cycles
        ran_full = {link for link, peak in run.fifo_peaks.items() if peak >= sized[link]}
        for grown in ({link: min(2 * depth, max(depth, enough[link])) if link in ran_full else depth
                       for link, depth in sized.items()},
                      {link: max(depth, enough[link]) for link, depth in sized.items()},
                      {link: min(2 * depth, capacity[link]) for link, depth in sized.items()}):
            if grown != sized:
                break
        else:
            raise HwBnnError(f"FIFO sizing: even at the probe's depths the design runs at {run.ii_cycles:.0f} "
                             f"cycles/frame{stalls} against the probe's {reference.ii_cycles:.0f}")
        sized = grown


#: Test images the build's sizing simulates (``size_design_fifos``).
SIZING_IMAGES = 16


def sizing_frames(hw_graph: ModelWrapper, images: np.ndarray, max_images: int = SIZING_IMAGES) -> np.ndarray:
    """The accelerator's input for the first ``max_images`` of ``images`` (the model's input, through the
    host-side nodes that run ahead of the accelerator). The designs' timing does not depend on the pixels,
    so fewer images than a steady state needs are streamed again until there are ``MIN_FRAMES``."""
    from hw_bnn.execute import run_host_graph
    from hw_bnn.graph import split_at_partition

    count = max(MIN_FRAMES, min(len(images), max_images))
    frames = np.resize(images[:max_images], (count, *images.shape[1:]))
    pre = split_at_partition(hw_graph)[0]
    return run_host_graph(pre, frames) if pre is not None else frames.astype(np.float32)


def size_design_fifos(hw_graph: ModelWrapper, images: np.ndarray, folder: str | Path, fixed_depth: int,
                      progress=print, backpressure: Backpressure = FULL_RATE) -> FifoSizing:
    """``size_fifos`` on ``sizing_frames`` of the model's input ``images``."""
    return size_fifos(hw_graph, sizing_frames(hw_graph, images), folder, fixed_depth, progress, backpressure)
