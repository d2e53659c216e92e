"""Design-space exploration: one folded design per throughput target, synthesised, on a Pareto plot.

Each point is compiled from the same ``export.onnx`` with its own ``build.target_fps``,
estimated by FINN, and (optionally) synthesised by Yosys, in parallel over the machine's
cores. The points that no other point beats on both LUTs and frames/s form the Pareto front.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from hw_bnn.io import atomic_path, write_text


def explore_point(qonnx_path: str, build: dict, family: str | None, folder: str) -> dict:
    """Compile, estimate and (with ``family``) synthesise one design; runs in a worker process."""
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.compiler import compile_model, read_folding
    from hw_bnn.config import BuildConfig
    from hw_bnn.estimate import estimate
    from hw_bnn.design.stitch import generate_design
    from hw_bnn.synth import synthesize

    cfg = BuildConfig(**build)
    hw = compile_model(ModelWrapper(qonnx_path), cfg)
    est = estimate(hw, cfg.part, cfg.clock_mhz)
    point = {"target_fps": cfg.target_fps, "cycles_per_frame": est["cycles_per_frame"], "fps": est["fps"],
             "bottleneck": est["bottleneck"], "finn_lut": est["lut"], "finn_bram18": est["bram18"],
             "lut": None, "ff": None, "bram": None, "folding": read_folding(hw)}
    if family:
        synth = synthesize(generate_design(hw, Path(folder) / "rtl"), family, folder)
        point.update(lut=synth["resources"]["LUT"], ff=synth["resources"]["FF"],
                     bram=synth["resources"].get("BRAM18", synth["resources"].get("BRAM")))
    return point


def pareto_front(points: list[dict], cost: str) -> list[dict]:
    """Points that no other point beats on both ``cost`` (lower) and fps (higher)."""
    def dominated(p):
        return any(q[cost] <= p[cost] and q["fps"] >= p["fps"] and (q[cost] < p[cost] or q["fps"] > p["fps"])
                   for q in points)
    return [p for p in points if not dominated(p)]


def explore(qonnx_path: Path, build: dict, targets: list[float], family: str | None, out_dir: Path,
            workers: int | None = None) -> list[dict]:
    """Explore ``targets`` (frames/s at the build clock); return the points, sorted by fps."""
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or min(len(targets), os.cpu_count() or 1)
    points = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(explore_point, str(qonnx_path), {**build, "target_fps": t, "target_cycles_per_frame": None,
                                                             "folding_file": None},
                            family, str(out_dir / f"fps_{int(t)}")) for t in targets]
        for job in tqdm(as_completed(jobs), total=len(jobs), desc="explore", disable=None):
            points.append(job.result())
    points.sort(key=lambda p: p["fps"])
    cost = "lut" if family else "finn_lut"
    front = pareto_front(points, cost)
    for point in points:
        point["pareto"] = point in front
    return points


def write_points(points: list[dict], path: Path) -> None:
    columns = ["target_fps", "cycles_per_frame", "fps", "bottleneck", "lut", "ff", "bram", "finn_lut",
               "finn_bram18", "pareto"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(points)
    write_text(path, text.getvalue())


def plot_points(points: list[dict], path: Path, family: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost = "lut" if family else "finn_lut"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([p[cost] for p in points], [p["fps"] for p in points], label="designs")
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p[cost])
    ax.plot([p[cost] for p in front], [p["fps"] for p in front], "r-o", label="Pareto front")
    ax.set_xlabel(f"LUT ({'Yosys ' + family if family else 'FINN estimate'})")
    ax.set_ylabel("frames/s at the build clock")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
