"""What the papers' ImageNet networks cost in hardware: each full-size net at 224×224 exported and compiled to the
FINN HW graph (our custom ops where FINN has none), folded to a target, and estimated — and which devices hold it.

    .venv/bin/python benchmarks/imagenet_hardware.py [--cycles 1000000] [--only imagenet_resnet18_sdbnn ...]

Untrained weights (the estimate depends on the shapes, the folding and the bit widths, not on the values); the
build runs FINN's execution of the HW graph on one synthetic image against PyTorch and writes the RTL with fixed
FIFO depths (sizing by simulation would simulate millions of cycles per frame). Prints FINN's estimate (xc7 LUT6,
BRAM18, DSP), cycles per frame, frames/s at 200 MHz, and the smallest of a list of AMD parts whose LUTs and BRAM18
hold it (data-sheet capacities; FINN's LUT estimate, not synthesis: see docs/synthesis.md, "Exploring foldings", for how far
it is off on our designs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hw_bnn import flow  # noqa: E402
from hw_bnn.methods import get_method  # noqa: E402
from hw_bnn.models import MODELS  # noqa: E402

#: case -> (architecture, method, method options): each paper's ImageNet network with its method
CASES = {
    "imagenet_resnet18_sdbnn": ("imagenet_resnet18", "sdbnn_se", {"reduction": 8}),
    "imagenet_resnet18_sdbnn_static": ("imagenet_resnet18", "sdbnn_static", {}),
    "imagenet_resnet18_adabin": ("imagenet_resnet18", "adabin", {}),
    "imagenet_resnet34_bdbnn": ("imagenet_resnet34", "bdbnn", {}),
    "reactnet_a_dybnn": ("reactnet_a", "dybnn", {"residual_shifts": "static"}),
}
#: AMD parts by size: LUT6, BRAM18 (36 Kb blocks x 2; UltraRAM not counted), from the data sheets
PARTS = [("xc7z020 (PYNQ-Z2)", 53_200, 280), ("xczu3eg (Ultra96)", 70_560, 432),
         ("xczu7ev (ZCU104)", 230_400, 624), ("xczu9eg (ZCU102)", 274_080, 1_824),
         ("xcvu9p (VCU118, AWS F1)", 1_182_240, 4_320), ("xcu250 (Alveo U250)", 1_728_000, 5_376)]


def smallest_part(lut: int, bram18: int) -> str:
    fits = [name for name, luts, brams in PARTS if lut <= luts and bram18 <= brams]
    return fits[0] if fits else "none listed"


def run(name: str, cycles: int, folder: Path) -> dict:
    architecture, method, options = CASES[name]
    torch.manual_seed(0)
    model = MODELS[architecture](method=get_method(method, options)).eval()
    image = np.random.default_rng(0).integers(0, 256, (1, 3, 224, 224), dtype=np.uint8)
    started = time.perf_counter()
    report = flow.run_model(model, image, folder, overrides=[f"build.target_cycles_per_frame={cycles}",
                                                             "build.fifo_sizing=fixed", "check.n_images=1"],
                            stages=("export", "build"), progress=lambda message: print("  " + message))
    report["seconds"] = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1_000_000, help="target cycles per frame")
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--out", default=None, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        reports = {name: run(name, args.cycles, out / name) for name in args.only}
    print(f"\nImageNet networks at 224x224, folded for {args.cycles:,} cycles per frame (FINN estimate, xc7)\n")
    print("| network | method | bit-exact (FINN) | LUT | BRAM18 | DSP | cycles/frame | frames/s at 200 MHz | "
          "smallest part that holds it | build time |")
    print("|---|---|:---:|---:|---:|---:|---:|---:|---|---:|")
    for name, report in reports.items():
        architecture, method, _ = CASES[name]
        est = report["estimate"]
        print(f"| {architecture} | {method} | {'yes' if report['bit_exact']['finn'] else 'NO'} | {est['lut']:,} | "
              f"{est['bram18']:,} | {est['dsp']:,} | {est['cycles_per_frame']:,} | "
              f"{200e6 / est['cycles_per_frame']:,.0f} | {smallest_part(est['lut'], est['bram18'])} | "
              f"{report['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
