"""Issue 19's targets: FINN's own BNN-PYNQ networks through the flow, one row each, FINN's figures beside.

TFC/SFC/LFC/CNV-1w1a come from ``brevitas_examples.bnn_pynq.models`` untouched (their quantizers, their
2x - 1 input mapping, their TensorNorm). Each is trained briefly by the flow (or loaded with
``--set model.checkpoint=PATH`` and ``--epochs 0``), exported, built, simulated in Verilator on test images
and synthesised with Yosys (``synth.family``, ECP5 by default, with nextpnr for Fmax). The table gives, per
network: whether each stage is exact (``exact``: bit for bit; ``integers``: the accelerator's integers
exact and the host's float TensorNorm within its rounding), cycles per image in the simulation against
FINN's estimate for the same folding, LUT and block RAM after Yosys, Fmax and frames/s, and accuracy.

Beside them, FINN's published figures for the same networks, labelled as theirs: they are measured on a
board with Vivado and trained for hundreds of epochs on full datasets, so accuracy and throughput compare
only in kind. TFC is folded like finn-examples' TFC-W1A1 (64 cycles per image) and CNV like its CNV-W1A1
(32,768), so cycles per image compare like for like; SFC runs at the demo's 896 (it is the demo's topology;
its top-end folding is issue 20's) and LFC at 4,096.

Usage: .venv/bin/python benchmarks/byom.py [--models tfc sfc lfc cnv] [--epochs N] [--images N]
                                           [--cifar PATH] [--out DIR] [--no-pnr] [--set k=v ...]

Without --cifar, CNV trains and runs on generated images in the CIFAR-10 python format (its accuracy is then
meaningless; the exactness, cycles and resources are not). Runs go to DIR/<model>/ (a temporary folder
without --out); a model whose report already holds the synth section is read back, not rerun. Results are
written to DIR/byom.json. On 2 cores, tfc+sfc+cnv with the defaults take about 25 minutes; lfc (1024-wide
layers) adds a long Verilator build and synthesis.
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.data import CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCHES
from hw_bnn.errors import HwBnnError
from hw_bnn.io import write_json

RECIPES = Path(__file__).resolve().parents[1] / "training" / "recipes"

#: Per network: its recipe, its factory in brevitas_examples.bnn_pynq.models, and its folding in cycles per
#: image (finn-examples' build/bnn-pynq/folding_config for TFC-W1A1, 64, and CNV-W1A1, 32,768).
MODELS = {
    "tfc": ("bnn_pynq_tfc_1w1a.yaml", "tfc_1w1a", 64),
    "sfc": ("bnn_pynq_tfc_1w1a.yaml", "sfc_1w1a", 896),
    "lfc": ("bnn_pynq_tfc_1w1a.yaml", "lfc_1w1a", 4096),
    "cnv": ("bnn_pynq_cnv_1w1a.yaml", "cnv_1w1a", 32768),
}

#: FINN's published figures (../shared/research/anchors.md, sections 1 and 8), theirs, not measured here.
FINN_FIGURES = [
    {"network": "TFC-W1A1", "work": "finn-examples, AUP-ZU3 (Xilinx/finn PR #1499, 2025)", "accuracy": 0.9293,
     "fps": 1_089_430, "lut": None, "bram": None},
    {"network": "TFC-W1A1", "work": "finn-examples, Pynq-Z1 at 100 MHz (notebook throughput_test)", "accuracy": 0.9296,
     "fps": 837_019, "lut": None, "bram": None},
    {"network": "SFC (3x256)", "work": "FINN'17 SFC-max, ZC706 at 200 MHz, 16 cycles/image", "accuracy": 0.958,
     "fps": 12_300_000, "lut": 91_131, "bram": "5 BRAM36"},
    {"network": "LFC-W1A1", "work": "BNN-PYNQ (HLS), Pynq-Z1 (resources), batch throughput", "accuracy": 0.9840,
     "fps": 356_633, "lut": 28_360, "bram": "110 BRAM36"},
    {"network": "CNV-W1A1", "work": "finn-examples, AUP-ZU3 (Xilinx/finn PR #1499, 2025)", "accuracy": 0.8262,
     "fps": 5_311, "lut": None, "bram": None},
    {"network": "CNV-W1A1", "work": "finn-examples, Pynq-Z1 at 100 MHz (32,768 cycles/image)", "accuracy": 0.8419,
     "fps": 3_020, "lut": None, "bram": None},
    {"network": "CNV-W1A1", "work": "BNN-PYNQ (HLS), Pynq-Z1", "accuracy": 0.7922, "fps": 9_150, "lut": 26_072,
     "bram": "124 BRAM36"},
]


def write_generated_cifar(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Random 32x32x3 images in the CIFAR-10 python format (five train batches and a test batch)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [n_train // len(CIFAR10_TRAIN_BATCHES)] * len(CIFAR10_TRAIN_BATCHES) + [n_test]
    for name, n in zip((*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH), sizes):
        batch = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, size=n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def stage_exactness(report: dict, stage: str) -> str:
    """``exact`` (bit for bit), ``integers`` (integers exact, host float tail within its rounding) or ``NO``."""
    if report["bit_exact"].get(stage):
        return "exact"
    tail = report.get("host_tail", {}).get(stage)
    return "integers" if tail and tail["integer_outputs_exact"] and tail["top1_exact"] else "NO"


def row(name: str, report: dict) -> dict:
    synth, sim = report.get("synth", {}), report["rtl_sim"]
    resources = synth.get("resources", {})
    return {"model": name, **{stage: stage_exactness(report, stage) for stage in ("qonnx", "finn", "rtl")},
            "cycles": sim["ii_cycles"], "estimate": report["estimate"]["cycles_per_frame"],
            "ii_over_estimate": sim["ii_over_estimate"], "lut": resources.get("LUT"),
            "bram": resources.get("BRAM", resources.get("BRAM18")), "fmax_mhz": synth.get("fmax_mhz"), "fps": synth.get("fps_at_fmax"),
            "family": synth.get("family"), "accuracy": report["accuracy"]["rtl"], "n_test": report["n_test"],
            "max_abs_diff": max((t["max_abs_diff"] for t in report.get("host_tail", {}).values()), default=0.0)}


def run_one(name: str, out: Path, epochs: int | None, images: int, cifar: Path | None, pnr: bool,
            overrides: list[str]) -> dict:
    """Train (unless ``epochs`` is 0), export, build and simulate ``name`` into ``out``, then synthesise it;
    the stages a previous call finished are read back. A synthesis that fails is a row without resources,
    its reason in ``out/synth_error.txt``."""
    recipe, factory, cycles = MODELS[name]
    settings = [f"model.factory=brevitas_examples.bnn_pynq.models:{factory}", f"check.n_images={images}",
                f"build.target_cycles_per_frame={cycles}", "build.fifo_sizing=simulate", "synth.family=ecp5",
                f"synth.place_and_route={pnr}",
                f"stages=[{'' if epochs == 0 else 'train, '}export, build, sim]"]
    if epochs:
        settings.append(f"train.epochs={epochs}")
    if name == "cnv" and cifar is not None:
        settings.append(f"data.path={cifar}")
    config = load_config(str(RECIPES / recipe), settings + overrides)
    failed = out / "synth_error.txt"
    if "rtl_sim" not in (flow.read_report(out) if (out / "report.json").exists() else {}):
        print(f"== {name}: {factory}, {cycles} cycles/image target, {images} test images", flush=True)
        flow.run(config, out)
    if "synth" not in flow.read_report(out) and not failed.exists():
        try:
            flow.synth_stage(config, out)
        except HwBnnError as error:
            failed.write_text(str(error))
            print(f"== {name}: synthesis failed, see {failed}", flush=True)
    result = row(name, flow.read_report(out))
    result["synth_error"] = _reason(failed.read_text()) if failed.exists() else None
    return result


def _reason(error: str) -> str:
    """The line of a tool's error that says why (a Yosys ERROR, a WebAssembly trap), else its first line."""
    lines = error.splitlines()
    return next((line.strip() for line in lines if "ERROR" in line or "wasm trap" in line), lines[0] if lines else "")


def _fmt(value, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_tables(rows: list[dict]) -> None:
    family = next((r["family"] for r in rows if r["family"]), "")
    print(f"\n| BNN-PYNQ model | QONNX | FINN | RTL | cycles/image (sim) | FINN estimate | sim/estimate | LUT ({family}) | "
          "block RAM | Fmax MHz | frames/s at Fmax | accuracy (images) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']}-1w1a | {r['qonnx']} | {r['finn']} | {r['rtl']} | {r['cycles']:,.0f} | "
              f"{r['estimate']:,} | {r['ii_over_estimate']:.3f} | {_fmt(r['lut'])} | {_fmt(r['bram'])} | "
              f"{_fmt(r['fmax_mhz'], '.1f')} | {_fmt(r['fps'])} | {r['accuracy']:.3f} ({r['n_test']}) |")
    for r in rows:
        if r["synth_error"]:
            print(f"\n{r['model']}-1w1a: no resources, synthesis failed: {r['synth_error']}")
    print("\nFINN's published figures for the same networks (theirs: Vivado, a board, full training):")
    print("| network | work | accuracy | frames/s | LUT | block RAM |")
    print("|---|---|---|---|---|---|")
    for f in FINN_FIGURES:
        print(f"| {f['network']} | {f['work']} | {f['accuracy']:.2%} | {f['fps']:,} | {_fmt(f['lut'])} | "
              f"{f['bram'] or '-'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["tfc", "sfc", "cnv"])
    parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's; 0: no training, "
                                                   "with --set model.checkpoint=PATH)")
    parser.add_argument("--images", type=int, default=100, help="test images for the stage checks and the RTL sim")
    parser.add_argument("--cifar", type=Path, help="CIFAR-10 python batches for cnv (default: generated images)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--no-pnr", action="store_true", help="Yosys only: no nextpnr Fmax")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        cifar = args.cifar
        if "cnv" in args.models and cifar is None:
            cifar = write_generated_cifar(out / "generated_cifar", n_train=500, n_test=args.images)
        rows = [run_one(name, out / name, args.epochs, args.images, cifar, not args.no_pnr, args.set)
                for name in args.models]
        write_json(out / "byom.json", {"rows": rows, "finn": FINN_FIGURES})
        print_tables(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
