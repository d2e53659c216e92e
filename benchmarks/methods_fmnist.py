"""Test accuracy of every BNN method on full Fashion-MNIST: same architecture, optimiser and epoch
budget for all, several seeds each; mean ± std in a Markdown table (the methods table of docs/methods.md).

Usage: .venv/bin/python benchmarks/methods_fmnist.py [--arch mlp|cnv] [--seeds 3] [--epochs N]
                                                      [--methods baseline sdbnn_static ...] [--out DIR]
                                                      [--set key=value ...]

Each run trains ``training/recipes/fmnist_<method>.yaml`` (``fmnist_cnv_<method>.yaml`` for the conv
net) with ``train.seed`` = 0, 1, ... into ``OUT/<arch>/<method>/seed<k>``. A finished run (its
model.pt and report.json) is read back instead of trained again, so an interrupted benchmark
continues where it stopped. BD-BNN's full-precision teacher is trained once (seed 0) and shared by
its seeds. Reported: the final-epoch test accuracy (what the deployed model scores), and the best
epoch's, which is the protocol of the SD-BNN and AdaBin papers' CIFAR numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.io import write_json, write_text

METHODS = ["baseline", "irnet", "sdbnn_static", "sdbnn_se", "bdbnn", "adabin", "dybnn"]

#: The papers' own results (CIFAR-10 / ImageNet top-1, %), for context only: other datasets,
#: architectures and budgets than this benchmark. Sources in shared/research/seed_methods.md.
PUBLISHED = {
    "baseline": "(BinaryNet sign + STE: no published number on these nets)",
    "irnet": "IR-Net: CIFAR-10 ResNet-20 86.5, VGG-small 90.4, ResNet-18 91.5; ImageNet R-18 58.1",
    "sdbnn_static": "(static ASD is our hardware variant; not in the paper)",
    "sdbnn_se": "SD-BNN: CIFAR-10 ResNet-20 86.9, VGG-small 90.8, ResNet-18 92.5; ImageNet R-18 66.5",
    "bdbnn": "BD-BNN: no table number could be verified (paper not readable here)",
    "adabin": "AdaBin: CIFAR-10 ResNet-20 88.1, VGG-small 92.3; ImageNet R-18 63.1 (66.4 two-step)",
    "dybnn": "DyBNN: ImageNet ReActNet-A 71.2, ReActNet-18 67.4 (no CIFAR-10 result known)",
}


def _recipe(arch: str, method: str) -> Path:
    return Path("training/recipes") / (f"fmnist_{method}.yaml" if arch == "mlp" else f"fmnist_cnv_{method}.yaml")


def run_one(arch: str, method: str, seed: int, epochs: int | None, overrides: list[str], out: Path,
            teacher: Path | None) -> dict:
    """Train one (method, seed), or read it back if finished; return its accuracies and time."""
    folder = out / arch / method / f"seed{seed}"
    report_path = folder / "report.json"
    if (folder / "model.pt").is_file() and report_path.is_file() and "train" in json.loads(report_path.read_text()):
        report = json.loads(report_path.read_text())
    else:
        sets = [f"train.seed={seed}", "stages=[train]", *overrides]
        if epochs:
            sets.append(f"train.epochs={epochs}")
        if teacher is not None:
            sets.append(f"method_options.teacher={teacher}")
        config = load_config(_recipe(arch, method), sets)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        flow.train_stage(config, folder, progress=print)
        seconds = time.perf_counter() - start
        report = flow.update_report(folder, config, train_seconds=seconds)
    history = report["train"]["epochs"]
    return {"final": history[-1]["test_acc"], "best": max(e["test_acc"] for e in history),
            "epochs": len(history), "seconds_per_epoch": report.get("train_seconds", 0.0) / len(history)}


def shared_teacher(arch: str, epochs: int | None, overrides: list[str], out: Path) -> Path:
    """Train BD-BNN's full-precision teacher once (seed 0) and return its model.pt."""
    folder = out / arch / "bdbnn" / "teacher_run"
    sets = ["train.seed=0", *overrides] + ([f"train.epochs={epochs}"] if epochs else [])
    flow.teacher_stage(load_config(_recipe(arch, "bdbnn"), sets), folder, progress=print)
    return folder / "teacher" / "model.pt"


def summarise(results: dict[str, list[dict]]) -> list[dict]:
    """Mean ± std per method and the difference of the means to the baseline."""
    rows = []
    for method, runs in results.items():
        finals = [100 * r["final"] for r in runs]
        bests = [100 * r["best"] for r in runs]
        rows.append({
            "method": method, "seeds": len(runs),
            "final_mean": statistics.mean(finals), "final_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
            "best_mean": statistics.mean(bests), "best_std": statistics.stdev(bests) if len(bests) > 1 else 0.0,
            "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in runs),
        })
    baseline = next((r["final_mean"] for r in rows if r["method"] == "baseline"), None)
    for row in rows:
        row["vs_baseline"] = None if baseline is None else row["final_mean"] - baseline
    return rows


def markdown(rows: list[dict], arch: str, epochs: int) -> str:
    lines = [f"Fashion-MNIST test accuracy (%), {arch}, {epochs} epochs, mean ± std over seeds",
             "", "| method | seeds | final epoch | best epoch | vs baseline | s/epoch | published (theirs, other data) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        delta = "" if r["vs_baseline"] is None or r["method"] == "baseline" else f"{r['vs_baseline']:+.2f}"
        lines.append(f"| {r['method']} | {r['seeds']} | {r['final_mean']:.2f} ± {r['final_std']:.2f} | "
                     f"{r['best_mean']:.2f} ± {r['best_std']:.2f} | {delta} | {r['seconds_per_epoch']:.1f} | "
                     f"{PUBLISHED[r['method']]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=["mlp", "cnv"], default="mlp")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs (same for every method)")
    parser.add_argument("--out", type=Path, default=Path("build/methods_fmnist"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every run, e.g. data.n_train=2000")
    args = parser.parse_args(argv)
    teacher = shared_teacher(args.arch, args.epochs, args.overrides, args.out) if "bdbnn" in args.methods else None
    # Seed-major order: an interrupted benchmark has every method at the seeds it finished.
    results: dict[str, list[dict]] = {method: [] for method in args.methods}
    for seed in range(args.seeds):
        for method in args.methods:
            results[method].append(run_one(args.arch, method, seed, args.epochs, args.overrides, args.out,
                                           teacher if method == "bdbnn" else None))
    rows = summarise(results)
    epochs = next(iter(results.values()))[0]["epochs"]
    table = markdown(rows, args.arch, epochs)
    print(table)
    write_json(args.out / f"{args.arch}.json", {"rows": rows, "runs": results})
    write_text(args.out / f"{args.arch}.md", table + "\n")
    return rows


if __name__ == "__main__":
    main()
