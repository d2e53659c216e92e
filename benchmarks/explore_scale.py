"""Design-space exploration at scale: how fast hw_bnn's resource model estimates foldings, how many designs
an hour Yosys synthesises on 1 and 2 local Dask workers, the estimate's error on the held-out designs
(ours beside FINN's), and the estimated Pareto fronts of the SFC MLP (sfc.yaml) and the CNV net on ECP5-85F and
xc7z020.

Usage: .venv/bin/python benchmarks/explore_scale.py --out DIR [--synth 4] [--points 2000] [--nets sfc cnv]

DIR gets a 1-epoch build of the SFC MLP and of the CNV demo net (kept: a rerun reuses them), the fronts'
plots (``front_<net>_<device>.png``) and the synthesis CSVs. The error table reads the calibration data of
``benchmarks/estimate_calibration.py`` (its held-out designs). ``--synth 0`` skips the timed syntheses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETS = {"sfc": ("training/recipes/sfc.yaml", ["build.target_fps=null", "build.target_cycles_per_frame=896"]),
        "cnv": ("training/recipes/cnv_demo.yaml", [])}
DEVICES = ("LFE5U-85F", "xc7z020")


def built(name: str, out: Path):
    from hw_bnn import flow
    from hw_bnn.config import load_config
    from hw_bnn.export import load_qonnx

    recipe, overrides = NETS[name]
    folder = out / name
    if not (folder / "hw_graph.onnx").is_file():
        config = load_config(ROOT / recipe, ["train.epochs=1", "check.n_images=3", "build.fifo_sizing=fixed",
                                             *overrides, "stages=[train, export, build]"])
        flow.run(config, folder, progress=lambda message: None)
    return load_qonnx(folder / "hw_graph.onnx")


def estimate_speed(model, family: str, max_points: int) -> tuple[list[dict], float]:
    from hw_bnn.explore import candidate_foldings, evaluate, folding_options

    start = time.perf_counter()
    foldings = candidate_foldings(folding_options(model), max_points)
    points = {}
    for folding in foldings:
        point = evaluate(model, folding, family, 100.0, 32)
        points.setdefault(point["key"], point)  # (explore leaves out foldings the RTL refuses; none here)
    return list(points.values()), time.perf_counter() - start


def timed_syntheses(model, points: list[dict], family: str, workers: int, folder: Path) -> float:
    from hw_bnn.explore import SYNTH_COLUMNS, pack_design, synthesise_job
    from hw_bnn.sweep import run_sweep

    jobs = [{"key": p["key"], "family": family, "rtl": pack_design(model, p, 32)} for p in points]
    csv_path = folder / f"synth_{family}_{workers}w.csv"
    csv_path.unlink(missing_ok=True)
    start = time.perf_counter()
    run_sweep(jobs, synthesise_job, csv_path, SYNTH_COLUMNS, workers=workers, desc=f"{workers} worker(s)")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--synth", type=int, default=4, help="designs synthesised per timing (0: none)")
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--nets", nargs="+", choices=sorted(NETS), default=list(NETS))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from hw_bnn.explore import device_capacity, pareto_front, plot_points
    from hw_bnn.resource_model import errors, load_model

    models = {name: built(name, out) for name in args.nets}

    print("\n## Estimate speed (hw_bnn resource model, one process)\n")
    print("| net | family | foldings estimated | seconds | points/s |")
    print("|---|---|---:|---:|---:|")
    fronts = {}
    for name, model in models.items():
        for device in DEVICES:
            family, capacity = device_capacity(device)
            points, seconds = estimate_speed(model, family, args.points)
            print(f"| {name} | {family} | {len(points):,} | {seconds:.1f} | {len(points) / seconds:,.0f} |")
            fits = [p for p in points if p["lut"] <= capacity["LUT"] and p["bram"] <= capacity.get("BRAM", capacity.get("BRAM18"))]
            front = {p["key"] for p in pareto_front(fits, "lut")}
            for p in points:
                p["pareto"] = p["key"] in front
                p["chosen"] = False
            fronts[(name, device)] = sorted((p for p in fits if p["pareto"]), key=lambda p: p["fps"])
            plot_points(points, out / f"front_{name}_{device}.png", family)

    print("\n## Estimated Pareto fronts (points that fit the device; fps at 100 MHz)\n")
    for (name, device), front in fronts.items():
        print(f"{name} on {device}: {len(front)} points on the front; the fastest that fits: "
              f"{front[-1]['cycles_per_frame']:,} cycles/frame, {front[-1]['fps']:,.0f} frames/s, {front[-1]['lut']:,} LUT, "
              f"{front[-1]['bram']} BRAM; the smallest: {front[0]['lut']:,} LUT at {front[0]['fps']:,.0f} frames/s")

    data_path = ROOT / "benchmarks" / "data" / "resource_calibration.json"
    data = json.loads(data_path.read_text())
    model = load_model()
    print("\n## The estimate's LUT error on the held-out designs (|relative error| against Yosys)\n")
    print("| family | designs: ours median / worst | FINN median / worst | layers >= 100 LUT | ours median / worst | FINN median / worst |")
    print("|---|---:|---:|---:|---:|---:|")
    for family in model:
        result = errors(data, family, model)

        def stat(rows, key):
            values = sorted(abs(r[key]) for r in rows if r[key] is not None)
            return f"{100 * statistics.median(values):.1f} % / {100 * values[-1]:.1f} %" if values else "-"
        print(f"| {family} | {stat(result['designs'], 'ours_error')} | {stat(result['designs'], 'finn_error')} | "
              f"{len(result['layers'])} | {stat(result['layers'], 'ours_error')} | {stat(result['layers'], 'finn_error')} |")

    if args.synth and "sfc" in models:
        print(f"\n## Synthesis throughput (Yosys, {args.synth} designs of the SFC net's front, local Dask workers)\n")
        front = fronts[("sfc", "xc7z020")]
        picked = [front[round(i * (len(front) - 1) / max(1, args.synth - 1))] for i in range(min(args.synth, len(front)))]
        times = {workers: timed_syntheses(models["sfc"], picked, "xc7", workers, out) for workers in (1, 2)}
        print("| workers | seconds | designs/hour |")
        print("|---:|---:|---:|")
        for workers, seconds in times.items():
            print(f"| {workers} | {seconds:.0f} | {3600 * len(picked) / seconds:,.0f} |")
        per_design = times[1] / len(picked)
        print(f"\nspeed-up 1 -> 2 workers: {times[1] / times[2]:.2f}x. On paper, with {per_design:.0f} s a design "
              "and no other limit, a 1,000-design sweep takes " + ", ".join(
                  f"{1000 * per_design / n / 3600:.1f} h on {n} workers" for n in (1, 2, 8, 32, 128)))


if __name__ == "__main__":
    main()
