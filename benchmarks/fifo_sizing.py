"""FIFO sizing by simulation on finished builds: the FIFOs' beats, bits, LUT-RAM and BRAM18 at the fixed
depths against the sized ones, the cycles per frame kept, and the sizing time.

Usage: .venv/bin/python benchmarks/fifo_sizing.py RUN_DIR [RUN_DIR ...] [--images 16] [--out DIR]

Each RUN_DIR is the ``--out`` folder of a ``hw-bnn build`` (``hw_graph.onnx`` and the exported test
images). The design is sized again from scratch (``hw_bnn.design.fifo_sizing.size_fifos``, cold Verilator
builds unless the RTL cache has them) into ``--out``, on the first ``--images`` test images; fixed means
``sim.fifo_depth`` (32) on every link and the residual shortcuts' planned depths, and its cycles per
frame are simulated on the same images. Memory by
``hw_bnn.cost.memory_cost`` (what the FIFOs cost as LUT-RAM or BRAM18 by depth and width).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw_bnn.design.fifo_sizing import size_fifos, sizing_frames
from hw_bnn.design.sim import run_design
from hw_bnn.design.stitch import generate_design
from hw_bnn.export import load_qonnx
from hw_bnn.flow import read_output


def size_run(run_dir: Path, images: int, out: Path, fixed_depth: int = 32) -> dict:
    """Size the FIFOs of the design built in ``run_dir``: the report.json section, plus the cycles per frame
    of the design with the fixed depths (``fixed_ii_cycles``) on the same frames."""
    hw_graph = load_qonnx(run_dir / "hw_graph.onnx")
    tensors = sizing_frames(hw_graph, read_output(run_dir, "test_inputs.npy"), images)
    sizing = size_fifos(hw_graph, tensors, out / "sizing", fixed_depth, progress=lambda m: print("  " + m))
    fixed = generate_design(hw_graph, out / "fixed", fifo_depth=fixed_depth, fifo_depths=sizing.fixed_depths)
    design = generate_design(hw_graph, out / "sized", fifo_depth=fixed_depth, fifo_depths=sizing.depths)
    return {**sizing.report(design), "fixed_ii_cycles": run_design(fixed, tensors).ii_cycles}


#: The header of the columns ``memory_cells`` fills.
MEMORY_HEADER = "FIFOs | beats fixed -> sized | bits fixed -> sized | LUT-RAM fixed -> sized | BRAM18 fixed -> sized"


def memory_cells(sizing: dict) -> str:
    """The FIFO count, and the beats, bits, LUT-RAM and BRAM18 at the fixed and the sized depths, of a report.json
    ``fifo_sizing`` section, as Markdown cells."""
    fixed, sized = sizing["memory"]["fixed"], sizing["memory"]["sized"]
    return (f"{len(sizing['depths'])} | {sum(sizing['fixed_depths'].values()):,} -> {sum(sizing['depths'].values()):,} "
            f"| {fixed['bits']:,} -> {sized['bits']:,} | {fixed['lut']:,} -> {sized['lut']:,} "
            f"| {fixed['bram18']} -> {sized['bram18']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders of finished 'hw-bnn build' runs")
    parser.add_argument("--images", type=int, default=16, help="test images the sizing simulates")
    parser.add_argument("--out", type=Path, default=Path("build/fifo_sizing"))
    args = parser.parse_args()
    missing = [str(run) for run in args.runs if not (run / "hw_graph.onnx").is_file()]
    if missing:
        sys.exit(f"no hw_graph.onnx in {', '.join(missing)}: run 'hw-bnn build' with --out there first")
    rows = []
    for run in args.runs:
        print(f"{run}: sizing")
        rows.append((run, size_run(run, args.images, args.out / run.name)))
    print(f"\nFIFOs sized by simulation ({args.images} test images; fixed: 32 beats, shortcuts as planned)\n")
    print(f"| run | {MEMORY_HEADER} | cycles/frame fixed -> sized (deep FIFOs) | sizing time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for run, r in rows:
        print(f"| {run.name} | {memory_cells(r)} | {r['fixed_ii_cycles']:,.0f} -> {r['sized_ii_cycles']:,.0f} "
              f"({r['probe_ii_cycles']:,.0f}) | {r['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
