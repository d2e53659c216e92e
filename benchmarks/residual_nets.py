"""Residual CIFAR architectures through the whole flow: reduced-width ResNet-20, ResNet-18, VGG-small and
ReActNet, with static sign binarizers, per-sample ones (FrameThreshold chains), DyBNN's per-sample RPReLU
(FrameMultiThreshold chains) and AdaBin's.

Usage: .venv/bin/python benchmarks/residual_nets.py [--out DIR] [--data DIR] [--cycles N] [--images N]
       [--synth] [--fifo-sizing {fixed,simulate}] [--only CASE ...]

Trains each architecture for one epoch (on ``--data``, CIFAR-10 python batches; default: synthetic
CIFAR-format files, since no CIFAR-10 is on disk here), exports, compiles with FINN for a slowest-layer
target of ``--cycles`` cycles per frame, simulates ``--images`` test images in Verilator and, with
``--synth``, synthesises with Yosys for xc7. Prints, per architecture, the multi-bit nodes in the graph,
bit-exactness, FINN's cycle estimate against the RTL's measured cycles per frame, latency, the shortcut
FIFO depths computed for the residual sums (the stitcher uses at least sim.fifo_depth), and FINN's LUT
estimate (Yosys LUT with --synth). With ``--fifo-sizing simulate`` (at least 4 images) every FIFO is sized
in Verilator during the build, and a second table gives the FIFOs' beats, bits, LUT-RAM and BRAM18 at the
fixed depths (sim.fifo_depth, shortcuts as planned) and the sized ones, the cycles per frame kept, and the
sizing time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fifo_sizing import MEMORY_HEADER, memory_cells  # noqa: E402  (the FIFO sizing benchmark's table cells)
from test_data import write_cifar_folder  # noqa: E402  (synthetic CIFAR-format files)

from hw_bnn import flow  # noqa: E402
from hw_bnn.config import load_config  # noqa: E402
from hw_bnn.export import load_qonnx  # noqa: E402
from hw_bnn.features.residual.fifo_sizing import residual_fifo_depths  # noqa: E402
from hw_bnn.graph import hw_nodes  # noqa: E402
from hw_bnn.design.emitters import emit_nodes  # noqa: E402

#: case -> (architecture, method, model options, method options): static sign methods, the per-sample
#: binarizers (DyBNN on its ReActNet backbone, with ReActNet's static RPReLU after the sums, and with its
#: per-sample one, FrameMultiThreshold chains; SD-BNN's squeeze-excitation on ResNet-20), and AdaBin. At these widths the squeeze-excitation's reduction 16
#: leaves one hidden unit, which one epoch on 20 images can kill.
CASES = {
    "resnet20": ("resnet20", "baseline", {"width": 0.25, "blocks_per_stage": 1}, {}),
    "resnet20_se": ("resnet20", "sdbnn_se", {"width": 0.25, "blocks_per_stage": 1}, {"reduction": 2}),
    "resnet18": ("resnet18", "bdbnn", {"width": 0.0625}, {"teacher_epochs": 1}),
    "vgg_small": ("vgg_small", "sdbnn_static", {"width": 0.03125}, {}),
    "reactnet": ("reactnet", "baseline", {"width": 0.125}, {}),
    "reactnet_dybnn": ("reactnet", "dybnn", {"width": 0.125}, {"residual_shifts": "static", "reduction": 2}),
    "reactnet_dybnn_dynamic": ("reactnet", "dybnn", {"width": 0.125}, {"reduction": 2}),
    # the per-sample RPReLU's table grows with the stream's levels: the same two on a 4-bit stream
    "reactnet_dybnn_4bit": ("reactnet", "dybnn", {"width": 0.125, "residual_bits": 4},
                            {"residual_shifts": "static", "reduction": 2}),
    "reactnet_dybnn_dynamic_4bit": ("reactnet", "dybnn", {"width": 0.125, "residual_bits": 4}, {"reduction": 2}),
    "resnet20_adabin": ("resnet20", "adabin", {"width": 0.25, "blocks_per_stage": 1}, {}),
    "reactnet_adabin": ("reactnet", "adabin", {"width": 0.125}, {}),
}
SHOWN_OPS = ("DuplicateStreams", "ElementwiseAdd", "ElementwiseMul", "GlobalAccPool", "FMPadding", "Thresholding",
             "FrameThreshold", "FrameMultiThreshold", "MVAU")


def run(name: str, args, data: Path) -> dict:
    architecture, method, options, method_options = CASES[name]
    folder = Path(args.out) / name
    folder.mkdir(parents=True, exist_ok=True)
    recipe = folder / "recipe.yaml"
    stages = ["train", "export", "build", "sim"] + (["synth"] if args.synth else [])
    recipe.write_text(yaml.safe_dump({
        "name": f"reduced_{name}", "method": method,
        "method_options": method_options,
        "model": {"name": architecture, "options": options}, "data": {"name": "cifar10", "path": str(data)},
        "train": {"epochs": 1, "batch_size": 4, "lr": 0.01},
        "build": {"target_cycles_per_frame": args.cycles, "fifo_sizing": args.fifo_sizing}, "check": {"n_images": args.images},
        "synth": {"place_and_route": False}, "stages": stages}))
    report = flow.run(load_config(recipe), folder / "run", progress=lambda message: print("  " + message))
    graph = load_qonnx(folder / "run" / "hw_graph.onnx")
    report["ops"] = Counter(n.op_type for n in graph.graph.node)
    report["multi_bit_mvau"] = sum(1 for n in graph.graph.node if n.op_type == "MVAU"
                                   and graph.get_tensor_datatype(n.input[1]).name.startswith("INT"))
    report["shortcut_fifos"] = list(residual_fifo_depths(graph, emit_nodes(graph, hw_nodes(graph))).values())
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/residual_nets")
    parser.add_argument("--data", default=None, help="CIFAR-10 python batches (default: synthetic files)")
    parser.add_argument("--cycles", type=int, default=40000, help="target cycles per frame of the slowest layer")
    parser.add_argument("--images", type=int, default=3, help="test images simulated in RTL")
    parser.add_argument("--synth", action="store_true", help="also synthesise with Yosys (xc7)")
    parser.add_argument("--fifo-sizing", choices=("fixed", "simulate"), default="fixed",
                        help="FIFO depths: sim.fifo_depth (shortcuts as planned), or sized by simulation")
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES), help="cases to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data) if args.data else Path(scratch) / "cifar"
        if not args.data:
            write_cifar_folder(data)
        reports = {name: run(name, args, data) for name in args.only}
    print(f"\nResidual architectures, 32x32 CIFAR-format input, target {args.cycles} cycles/frame, "
          f"{args.images} images in RTL\n")
    print("| architecture | method | " + " | ".join(SHOWN_OPS) + " | int-weight MVAU | bit-exact | "
          "est. cycles | RTL cycles/frame | latency | shortcut FIFOs (beats) | LUT est." +
          (" | LUT (Yosys) | FF | BRAM18 |" if args.synth else " |"))
    print("|---|---|" + "---:|" * (len(SHOWN_OPS) + 1) + ":---:|---:|---:|---:|---|---:|" +
          ("---:|---:|---:|" if args.synth else ""))
    for name, r in reports.items():
        exact = all(r["bit_exact"].values())
        architecture, method, *_ = CASES[name]
        cells = [architecture, method, *(str(r["ops"].get(op, 0)) for op in SHOWN_OPS), str(r["multi_bit_mvau"]),
                 "yes" if exact else "NO", f"{r['estimate']['cycles_per_frame']:,}", f"{r['rtl_sim']['ii_cycles']:,.0f}",
                 f"{r['rtl_sim']['latency_cycles']:,}", ", ".join(map(str, r["shortcut_fifos"])) or "-",
                 f"{r['estimate']['lut']:,}"]
        if args.synth:
            res = r["synth"]["resources"]
            cells += [f"{res.get('LUT', 0):,}", f"{res.get('FF', 0):,}", str(res.get("BRAM18", 0))]
        print("| " + " | ".join(cells) + " |")
    if args.fifo_sizing == "simulate":
        print_fifo_sizing(reports)


def print_fifo_sizing(reports: dict) -> None:
    """FIFO memory at the fixed and at the sized depths, from each run's report.json ``fifo_sizing``."""
    print("\nFIFOs sized by simulation (report.json fifo_sizing; LUT-RAM/BRAM18 by hw_bnn.cost.memory_cost)\n")
    print(f"| architecture | method | {MEMORY_HEADER} | cycles/frame deep -> sized | sizing time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in reports.items():
        sizing = r["fifo_sizing"]
        architecture, method, *_ = CASES[name]
        print(f"| {architecture} | {method} | {memory_cells(sizing)} | {sizing['probe_ii_cycles']:,.0f} -> "
              f"{sizing['sized_ii_cycles']:,.0f} | {sizing['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
