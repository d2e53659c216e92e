"""Speed of the three executions of the SFC design (sfc.yaml) on the same test images: PyTorch eval, FINN's
Python execution of the HW graph, and the Verilator simulation of the stitched RTL.

Usage: .venv/bin/python benchmarks/sim_speed.py [--out DIR] [--images N] [--recipe R] [--set k=v ...]

With --out, DIR is a finished build (model.pt, hw_graph.onnx, test_inputs.npy; its config.yaml is
used, with the --set values on top); without it, train/export/build run first into a temporary folder
with the recipe. The RTL simulation is called once to build (or find) the Verilator model and timed on a
second call: as a whole (RTL generation, host-side input/output nodes, Verilator) and the Verilator run
alone, and again split over ``--shards`` Verilator processes. Prints one table row per execution with images/s and how much faster the RTL simulation is, and
the simulated cycles per second.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _best_of(fn, min_total_s: float = 1.0, max_reps: int = 50) -> float:
    """Best wall time of ``fn`` over repeats (after one warm-up call), for fast calls."""
    fn()
    times = []
    while len(times) < max_reps and (len(times) < 3 or sum(times) < min_total_s):
        times.append(_timed(fn)[1])
    return min(times)


def benchmark(config, out: Path, n: int, shards: int = 2) -> None:
    from hw_bnn.export import deployable, load_qonnx
    from hw_bnn.execute import run_graph
    from hw_bnn.design.sim import simulate
    from hw_bnn.train import predict

    for needed in ("model.pt", "hw_graph.onnx", "test_inputs.npy"):
        if not (out / needed).is_file():
            raise HwBnnError(f"{out / needed} is missing; run 'hw-bnn run RECIPE --out {out}' first")
    images = np.load(out / "test_inputs.npy")
    if n > len(images):
        raise HwBnnError(f"--images {n} but {out} holds {len(images)} test images")
    images = images[:n]
    dataset = flow.load_data(config)
    # the flow's reference: the deployment form (for AdaBin the integer combine, whose float output rounds
    # differently from the training form's)
    model = deployable(flow.trained_model(config, out, dataset), dataset.input_shape)
    hw_graph = load_qonnx(out / "hw_graph.onnx")

    torch_outputs = predict(model, images)
    torch_s = _best_of(lambda: predict(model, images))
    finn_outputs, finn_s = _timed(run_graph, hw_graph, images, show_progress=False)
    with tempfile.TemporaryDirectory() as sim_dir:
        _, first_s = _timed(simulate, hw_graph, images, sim_dir)  # builds the Verilator model unless cached
        result, call_s = _timed(simulate, hw_graph, images, sim_dir)
        sharded, sharded_s = _timed(simulate, hw_graph, images, sim_dir, shards=shards)
    run = result.run
    exact = np.array_equal(result.outputs, torch_outputs) and np.array_equal(finn_outputs, torch_outputs)
    sharded_same = (np.array_equal(sharded.outputs, result.outputs) and sharded.run.ii_cycles == run.ii_cycles
                    and sharded.run.latency_cycles == run.latency_cycles)

    rows = [("PyTorch eval (predict, CPU)", torch_s),
            ("FINN python (run_graph, HW graph)", finn_s),
            ("RTL sim: simulate() call", call_s),
            ("RTL sim: Verilator run only", run.wall_s),
            (f"RTL sim: simulate(shards={max(1, len(sharded.run.shards))}) call", sharded_s)]
    print(f"\n{config.name}: {out}, {n} test images, II {run.ii_cycles:.0f} cycles/image, "
          f"{run.cycles:,} cycles simulated")
    print(f"{'execution':<36}{'seconds':>9}{'images/s':>11}{'sim call / this':>18}{'Verilator / this':>18}")
    for name, seconds in rows:
        ratios = "" if name.startswith("RTL") else \
            f"{f'{seconds / call_s:.3g}x':>18}{f'{seconds / run.wall_s:.3g}x':>18}"
        print(f"{name:<36}{seconds:>9.3f}{n / seconds:>11,.0f}{ratios}")
    print("(x / this: the RTL simulation's images/s over that row's, for the whole simulate() call and for the "
          "Verilator run alone; above 1x the simulation is faster)")
    print(f"simulated: {run.cycles / run.wall_s:,.0f} cycles/s in the Verilator run "
          f"({run.cycles / call_s:,.0f} cycles/s over the whole call)")
    clock = config.build.clock_mhz
    hw_ips = clock * 1e6 / run.ii_cycles
    print(f"the accelerator itself at {clock:g} MHz: {hw_ips:,.0f} images/s, "
          f"{hw_ips * run.wall_s / n:,.0f}x the Verilator run")
    print(f"first simulate() call (Verilator build unless cached): {first_s:.1f} s")
    print(f"outputs identical (PyTorch == FINN == RTL): {'yes' if exact else 'NO'}")
    print(f"sharded run identical to one process (outputs, cycles/image, latency): {'yes' if sharded_same else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="training/recipes/sfc.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=None,
                        help="finished build folder (default: train/export/build into a temporary folder)")
    parser.add_argument("--images", type=int, default=200, help="test images to time on (default 200)")
    parser.add_argument("--shards", type=int, default=os.cpu_count() or 1,
                        help="Verilator processes for the sharded row (default: the cores)")
    args = parser.parse_args()
    if args.out is not None:
        saved = args.out / "config.yaml"
        config = load_config(saved if saved.is_file() else args.recipe, args.overrides)
        benchmark(config, args.out, args.images, args.shards)
        return
    # the build's own checks need only the images timed here
    config = load_config(args.recipe, [f"check.n_images={args.images}", *args.overrides])
    with tempfile.TemporaryDirectory() as out:
        for stage in ("train", "export", "build"):
            flow.STAGES[stage](config, out, progress=lambda message: None)
        benchmark(config, Path(out), args.images, args.shards)


if __name__ == "__main__":
    main()
