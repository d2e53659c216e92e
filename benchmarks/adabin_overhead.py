"""AdaBin's hardware cost against plain sign binarisation, on the same network and folding target.

Usage: .venv/bin/python benchmarks/adabin_overhead.py [--arch mlp|cnv] [--out DIR] [--reuse DIR]
       [--epochs N] [--images N] [--set k=v ...]

Runs ``fmnist_<arch>baseline.yaml`` and ``fmnist_<arch>adabin.yaml`` (the same architecture, optimiser
and epoch budget) through train, export, build, sim (bit-exact check on ``--images`` test images) and
Yosys synthesis for xc7, each into DIR/<method>. ``--reuse DIR`` takes trained models from
DIR/<method>/seed0/model.pt (e.g. the methods benchmark's build/methods_fmnist/mlp) instead of
training; a method already built in DIR/<method> is reused as it is. Prints one row per method
(accuracy, LUT, FF, BRAM, cycles per frame from the RTL simulation, latency) and AdaBin's overhead
as differences and ratios.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from hw_bnn import flow
from hw_bnn.config import load_config

METHODS = ("baseline", "adabin")


def run_method(method: str, args, name: str | None = None, extra: tuple[str, ...] = (),
               stages: tuple[str, ...] = ("export", "build", "sim", "synth")) -> dict:
    """Run ``fmnist_<arch>_<method>.yaml`` into ``args.out/<name>`` (default: the method's name) with
    ``extra`` overrides; reuse what is already there (see the module docstring)."""
    name = name or method
    prefix = "fmnist_cnv_" if args.arch == "cnv" else "fmnist_"
    out = Path(args.out) / name
    report = flow.read_report(out) if (out / "report.json").is_file() else {}
    done = (report.get("synth") or {}).get("resources") and report.get("bit_exact", {}).get("rtl") \
        if "synth" in stages else (out / "model.pt").is_file() and report.get("train")
    if done:
        return report
    stages = list(stages)
    if not (out / "model.pt").is_file():
        trained = Path(args.reuse) / name / "seed0" / "model.pt" if args.reuse else None
        if trained is not None and trained.is_file():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trained, out / "model.pt")
        else:
            stages.insert(0, "train")
    overrides = [f"check.n_images={args.images}", f"stages={stages}", "synth.family=xc7", *extra, *args.set]
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    config = load_config(Path("training/recipes") / f"{prefix}{method}.yaml", overrides)
    return flow.run(config, out, progress=lambda line: print(f"[{name}] {line}", flush=True))


def row(method: str, report: dict) -> dict:
    resources = report["synth"]["resources"]
    return {
        "method": method,
        "accuracy": report["accuracy"]["rtl"],
        "bit_exact": report["bit_exact"]["rtl"],
        "lut": resources.get("LUT", 0),
        "ff": resources.get("FF", 0),
        "bram": resources.get("BRAM18", resources.get("BRAM", 0)),
        "dsp": resources.get("DSP", 0),
        "cycles": report["rtl_sim"]["ii_cycles"],
        "latency": report["rtl_sim"]["latency_cycles"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("mlp", "cnv"), default="mlp")
    parser.add_argument("--out", default=None, help="default build/adabin_overhead/<arch>")
    parser.add_argument("--reuse", default=None, help="folder with <method>/seed0/model.pt trained models")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    parser.add_argument("--images", type=int, default=1000, help="test images simulated in RTL")
    parser.add_argument("--set", nargs="*", default=[], help="recipe overrides, key=value")
    args = parser.parse_args()
    args.out = args.out or f"build/adabin_overhead/{args.arch}"
    rows = [row(method, run_method(method, args)) for method in METHODS]
    print(f"\nAdaBin vs plain sign, {args.arch} on Fashion-MNIST, Yosys xc7, RTL simulation of "
          f"{args.images} test images\n")
    print("| method | accuracy % | bit-exact | LUT | FF | BRAM | DSP | cycles/frame | latency cycles |")
    print("|---|---:|:---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {100 * r['accuracy']:.2f} | {'yes' if r['bit_exact'] else 'NO'} | {r['lut']:,} | "
              f"{r['ff']:,} | {r['bram']} | {r['dsp']} | {r['cycles']:.0f} | {r['latency']:,} |")
    base, ada = rows
    print(f"| AdaBin - baseline | {100 * (ada['accuracy'] - base['accuracy']):+.2f} | | {ada['lut'] - base['lut']:+,} | "
          f"{ada['ff'] - base['ff']:+,} | {ada['bram'] - base['bram']:+} | {ada['dsp'] - base['dsp']:+} | {ada['cycles'] - base['cycles']:+.0f} | "
          f"{ada['latency'] - base['latency']:+,} |")
    ratio = lambda key: ada[key] / base[key] if base[key] else float("nan")  # noqa: E731
    print(f"| AdaBin / baseline | | | {ratio('lut'):.2f}x | {ratio('ff'):.2f}x | | | {ratio('cycles'):.2f}x | "
          f"{ratio('latency'):.2f}x |")


if __name__ == "__main__":
    main()
