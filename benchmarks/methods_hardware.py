"""Accuracy per hardware: every method on the Fashion-MNIST conv net, its test accuracy over seeds beside the
accelerator the trained model becomes, every design folded to the same target and synthesised.

Usage: .venv/bin/python benchmarks/methods_hardware.py [--methods baseline irnet ...] [--seeds 3] [--epochs N]
       [--cycles 5000] [--device auto|cpu|cuda] [--no-synth] [--pnr] [--out DIR] [--set KEY=VALUE ...]

Training is ``benchmarks/methods_fmnist.py --arch cnv`` (``training/recipes/fmnist_cnv_<method>.yaml``, the
same architecture, optimiser and epochs for every method; finished runs are read back). Seed 0's model of
each method then goes through export, build (folded for ``--cycles`` cycles per frame), RTL simulation and,
unless ``--no-synth``, Yosys for ECP5 (nextpnr on the LFE5U-85F with ``--pnr``). Printed: accuracy
(final epoch, mean ± std), bit-exactness, RTL cycles/frame, FINN's LUT estimate, Yosys LUT4 / DP16KD, Fmax
and frames/s; written: ``OUT/cnv_hardware.md``/``.json`` and ``OUT/cnv_hardware.png``, accuracy against
LUT with the Pareto front (the designs no other beats on both). ``--device``: ``cpu`` hides the GPUs,
``cuda`` insists on one, ``auto`` trains on a GPU when there is one; the device used is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import methods_fmnist  # noqa: E402  (the training half of this benchmark)

from hw_bnn import flow  # noqa: E402
from hw_bnn.config import load_config  # noqa: E402
from hw_bnn.io import atomic_path, write_json, write_text  # noqa: E402

ARCH = "cnv"


def choose_device(device: str) -> str:
    """Apply ``--device`` before torch touches a GPU; the device training will use, in words."""
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA GPU is visible to PyTorch here; use --device cpu or auto")
    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def build_hardware(method: str, args) -> dict:
    """Export, build, simulate and synthesise seed 0's trained model of ``method``; its report."""
    folder = args.out / ARCH / method / "seed0"
    stages = ["export", "build", "sim"] + ([] if args.no_synth else ["synth"])
    config = load_config(methods_fmnist._recipe(ARCH, method), [
        "train.seed=0", *args.overrides, *([f"train.epochs={args.epochs}"] if args.epochs else []),
        "build.target_fps=null", f"build.target_cycles_per_frame={args.cycles}", "synth.family=ecp5",
        f"synth.place_and_route={str(args.pnr).lower()}", f"stages=[{', '.join(stages)}]"])
    return flow.run(config, folder, progress=lambda message: print(f"  {method}: {message}"))


def hardware_row(report: dict) -> dict:
    synth = report.get("synth") or {}
    resources = synth.get("resources", {})
    return {"bit_exact": all(report["bit_exact"].values()), "cycles": report["rtl_sim"]["ii_cycles"],
            "finn_lut": report["estimate"]["lut"], "lut4": resources.get("LUT"), "bram": resources.get("BRAM"),
            "fmax_mhz": synth.get("fmax_mhz"), "fps": synth.get("fps_at_fmax")}


def pareto(points: dict[str, tuple[float, float]]) -> list[str]:
    """The names whose (cost, accuracy) no other point matches or beats on both with one strictly better."""
    def beaten(name: str) -> bool:
        cost, accuracy = points[name]
        return any(c <= cost and a >= accuracy and (c < cost or a > accuracy)
                   for other, (c, a) in points.items() if other != name)
    return sorted((name for name in points if not beaten(name)), key=lambda name: points[name][0])


def markdown(rows: list[dict], epochs: int, seeds: int, cycles: int, device: str, synthesised: bool) -> str:
    lines = [f"Fashion-MNIST conv net ({ARCH}), {epochs} epochs, {seeds} seeds, trained on {device}; every design folded "
             f"for {cycles:,} cycles/frame" + (", Yosys synth_ecp5" if synthesised else ", not synthesised (--no-synth)")
             + "; Pareto: accuracy against " + ("Yosys LUT4" if synthesised else "FINN's LUT estimate"), "",
             "| method | test accuracy % (mean ± std) | bit-exact | RTL cycles/frame | FINN LUT est. | Yosys LUT4 | "
             "DP16KD | Fmax MHz | frames/s | Pareto |",
             "|---|---:|:---:|---:|---:|---:|---:|---:|---:|:---:|"]

    def cell(value, fmt="{:,.0f}"):
        return "–" if value is None else fmt.format(value)
    for r in rows:
        lines.append(f"| {r['method']} | {r['final_mean']:.2f} ± {r['final_std']:.2f} | "
                     f"{'yes' if r['bit_exact'] else 'NO'} | {cell(r['cycles'])} | {cell(r['finn_lut'])} | "
                     f"{cell(r['lut4'])} | {cell(r['bram'])} | {cell(r['fmax_mhz'], '{:.1f}')} | {cell(r['fps'])} | "
                     f"{'*' if r['pareto'] else ''} |")
    return "\n".join(lines)


def plot(rows: list[dict], cost_key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in rows:
        ax.errorbar(r[cost_key], r["final_mean"], yerr=r["final_std"], fmt="o", capsize=3,
                    color="tab:red" if r["pareto"] else "tab:blue")
        ax.annotate(r["method"], (r[cost_key], r["final_mean"]), textcoords="offset points", xytext=(5, 4))
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r[cost_key])
    ax.step([r[cost_key] for r in front], [r["final_mean"] for r in front], where="post", color="tab:red",
            label="Pareto front")
    ax.set_xlabel("Yosys LUT4 (ECP5)" if cost_key == "lut4" else "FINN LUT estimate (no synthesis run)")
    ax.set_ylabel("test accuracy % (mean ± std over seeds)")
    ax.set_title("Accuracy per hardware, Fashion-MNIST conv net")
    ax.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=methods_fmnist.METHODS, choices=methods_fmnist.METHODS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs (same for every method)")
    parser.add_argument("--cycles", type=int, default=5000, help="folding target, cycles per frame, for every design")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--no-synth", action="store_true", help="skip Yosys (the plot then uses FINN's LUT estimate)")
    parser.add_argument("--pnr", action="store_true", help="also place and route (nextpnr, LFE5U-85F) for Fmax")
    parser.add_argument("--out", type=Path, default=Path("build/methods_hardware"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every run, e.g. data.n_train=2000")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    device = choose_device(args.device)
    print(f"training on {device}")
    fmnist_args = ["--arch", ARCH, "--seeds", str(args.seeds), "--out", str(args.out), "--methods", *args.methods,
                   *(["--epochs", str(args.epochs)] if args.epochs else []),
                   *(item for value in args.overrides for item in ("--set", value))]
    accuracy = {row["method"]: row for row in methods_fmnist.main(fmnist_args)}
    rows = []
    for method in args.methods:
        print(f"{method}: hardware from seed 0's model")
        rows.append({**accuracy[method], **hardware_row(build_hardware(method, args))})
    cost_key = "finn_lut" if args.no_synth else "lut4"
    front = pareto({r["method"]: (r[cost_key], r["final_mean"]) for r in rows})
    for r in rows:
        r["pareto"] = r["method"] in front
    epochs = flow.read_report(args.out / ARCH / args.methods[0] / "seed0")["train"]["epochs"][-1]["epoch"]
    table = markdown(rows, epochs, args.seeds, args.cycles, device, not args.no_synth)
    print("\n" + table)
    write_json(args.out / f"{ARCH}_hardware.json", {"device": device, "cycles": args.cycles, "rows": rows})
    write_text(args.out / f"{ARCH}_hardware.md", table + "\n")
    plot(rows, cost_key, args.out / f"{ARCH}_hardware.png")
    return rows


if __name__ == "__main__":
    main()
