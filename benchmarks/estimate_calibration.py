"""Yosys resources of every instance of a set of designs: the data hw_bnn's resource model is fitted on
(``hw_bnn/resource_model.py``) and checked against.

Usage: .venv/bin/python benchmarks/estimate_calibration.py collect --out DIR [--families xc7 ecp5 ice40] [--only NAME ...]
       .venv/bin/python benchmarks/estimate_calibration.py fit [--data DATA.json] [--model hw_bnn/resource_model.json]

``collect`` trains each design of ``DESIGNS`` for one epoch on a small subset (the resources depend on the
folding and widths, hardly on how well it is trained), builds it at its folding target and synthesises it with
Yosys for each family (no place-and-route), then writes one row per instance (module, parameters, resources)
and per design (totals, FINN's xc7 estimate per layer) to ``benchmarks/data/resource_calibration.json``.
Designs already synthesised under DIR are read back, so an interrupted collection resumes. ``fit`` fits the
model on the ``calibration`` designs, writes ``hw_bnn/resource_model.json`` and prints the error per layer and
per design on the ``held_out`` designs, ours beside FINN's (xc7; FINN has no ECP5 or iCE40 model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "resource_calibration.json"

#: name -> (split, recipe, overrides). Calibration and held-out designs differ in network and folding; the
#: module families of the flow appear in both (MVAU XNOR / 8-bit input, thresholding, sliding windows,
#: pools, FIFOs of LUT-RAM and block-RAM depth, width converters, the AdaBin and per-sample units). The
#: reduced ResNet-20 at two foldings brings the residual modules (forks, joins, integer-weight MVAUs,
#: 255-threshold counts on its 8-bit streams), on generated CIFAR-format images (``{cifar}`` in an override).
SMALL = ["train.epochs=1", "check.n_images=3", "build.fifo_sizing=fixed"]
MLP = "training/recipes/sfc.yaml"
CNV = "training/recipes/cnv_demo.yaml"
RESNET20 = "training/recipes/cifar10_resnet20_baseline.yaml"
#: the reduced ResNet-20 of benchmarks/residual_nets.py (width 0.25, one block per stage)
RESNET20_REDUCED = ["data.path={cifar}", "model.options.width=0.25", "model.options.blocks_per_stage=1",
                    "train.batch_size=4", "train.augment=false"]
DESIGNS: dict[str, tuple[str, str, list[str]]] = {
    "mlp_896": ("calibration", MLP, ["build.target_fps=100000"]),
    "mlp_128": ("calibration", MLP, ["build.target_cycles_per_frame=128"]),
    "mlp_3584_deep_fifos": ("calibration", MLP, ["build.target_cycles_per_frame=3584", "sim.fifo_depth=512"]),
    "tfc_64": ("calibration", MLP, ["build.target_cycles_per_frame=64", "model.options.hidden=[64, 64, 64]"]),
    "cnv_fully_folded": ("calibration", CNV, []),  # no folding target: PE = SIMD = 1
    "cnv_se_fmnist": ("calibration", "training/recipes/fmnist_cnv_sdbnn_se.yaml",
                      ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=20000"]),
    # the SE conv net's frame units (channel sums, frame buffers, thresholds) at 4-8 lanes, where the one at
    # 20,000 cycles/frame has 1-2
    "cnv_se_5000": ("calibration", "training/recipes/fmnist_cnv_sdbnn_se.yaml",
                    ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=5000"]),
    # hyper-functions with several MAC lanes (MACS 8 at 2,000 cycles/frame), beside the CNV's single-lane ones
    "mlp_se_fmnist": ("calibration", "training/recipes/fmnist_sdbnn_se.yaml",
                      ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=2000"]),
    "mlp_adabin_fmnist": ("calibration", "training/recipes/fmnist_adabin.yaml",
                          ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=1000"]),
    # AdaBin's combine-and-threshold units at other channel counts and lanes than the MLP's
    "cnv_adabin_wide_5000": ("calibration", "training/recipes/fmnist_cnv_adabin.yaml",
                             ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=5000",
                              "model.options.channels=[32, 32, 64, 64]", "model.options.fc=[256]"]),
    # a wider CNV at another folding (as calibration it moved xc7's line-buffer rule and cost the others)
    "cnv_wide_8000": ("held_out", CNV, ["build.target_cycles_per_frame=8000",
                                           "model.options.channels=[32, 32, 64, 64]"]),
    "resnet20_reduced": ("calibration", RESNET20, [*RESNET20_REDUCED, "build.target_cycles_per_frame=40000"]),
    "resnet20_reduced_10000": ("held_out", RESNET20, [*RESNET20_REDUCED, "build.target_cycles_per_frame=10000"]),
    # 4-bit residual streams: threshold units of 15 thresholds, per channel and shared, beside the 255 of the
    # 8-bit ones (whose per-channel unit, the last, is the same in both ResNets above)
    "resnet20_reduced_r4_20000": ("calibration", RESNET20, [*RESNET20_REDUCED, "model.options.residual_bits=4",
                                                             "build.target_cycles_per_frame=20000"]),
    # held out between the two: twice as wide, 6-bit streams (63 thresholds), at another folding
    "resnet20_half_r6_20000": ("held_out", RESNET20, [*RESNET20_REDUCED, "model.options.width=0.5",
                                                       "model.options.residual_bits=6",
                                                       "build.target_cycles_per_frame=20000"]),
    "mlp_300": ("held_out", MLP, ["build.target_cycles_per_frame=300"]),
    "tfc_512_deep_fifos": ("held_out", MLP, ["build.target_cycles_per_frame=512", "model.options.hidden=[64, 64, 64]",
                                             "sim.fifo_depth=128"]),
    "cnv_20000": ("held_out", CNV, ["build.target_cycles_per_frame=20000", "model.options.channels=[16, 16, 32, 64]"]),
    "cnv_adabin_fmnist": ("held_out", "training/recipes/fmnist_cnv_adabin.yaml",
                          ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=20000"]),
    # DyBNN's hyper-function (three heads of three codes, a 27-entry lookup per channel) on an MLP and a conv
    # net, beside SE's (one head of 16 codes)
    "mlp_dybnn_fmnist": ("calibration", "training/recipes/fmnist_dybnn.yaml",
                         ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=2000"]),
    "cnv_dybnn_fmnist": ("calibration", "training/recipes/fmnist_cnv_dybnn.yaml",
                         ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=20000"]),
    # DyBNN at other foldings of the same nets
    "mlp_dybnn_4000": ("held_out", "training/recipes/fmnist_dybnn.yaml",
                       ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=4000"]),
    "cnv_dybnn_8000": ("held_out", "training/recipes/fmnist_cnv_dybnn.yaml",
                       ["data.n_train=200", "data.n_test=20", "build.target_cycles_per_frame=8000"]),
}


def collect_design(name: str, out: Path, families: list[str]) -> dict:
    from hw_bnn import flow
    from hw_bnn.config import load_config
    from hw_bnn.design.stitch import load_design
    from hw_bnn.synth import synthesize

    split, recipe, overrides = DESIGNS[name]
    folder = out / name
    if any("{cifar}" in o for o in overrides):
        from byom import write_generated_cifar

        cifar = out / "generated_cifar"
        if not cifar.is_dir():
            write_generated_cifar(cifar, n_train=20, n_test=3)
        overrides = [o.replace("{cifar}", str(cifar)) for o in overrides]
    # a recipe's own folding target gives way to the design's
    targets = [f"build.{target}=null" for target in ("target_fps", "target_cycles_per_frame")
               if not any(o.startswith(f"build.{target}=") for o in overrides)]
    config = load_config(ROOT / recipe, [*SMALL, *targets, *overrides, "stages=[train, export, build]"])
    if "estimate" not in (flow.read_report(folder) if (folder / "report.json").is_file() else {}):
        flow.run(config, folder, progress=lambda message: None)  # no finished build there yet
    report = flow.read_report(folder)
    design = load_design(folder / "rtl")
    row = {"name": name, "split": split, "cycles_per_frame": report["estimate"]["cycles_per_frame"],
           "finn_xc7": {layer["name"]: {"lut": layer["lut"], "bram18": layer["bram18"]}
                        for layer in report["estimate"]["layers"]},
           "families": {}}
    for family in families:
        saved = folder / f"synth_{family}.json"
        if not saved.is_file():
            saved.write_text(json.dumps(synthesize(design, family, folder)))
        synth = json.loads(saved.read_text())
        row["families"][family] = {"resources": synth["resources"], "seconds": synth["seconds"],
                                   "instances": synth["instances"]}
        print(f"  {name} {family}: {synth['resources']} in {synth['seconds']} s", flush=True)
    return row


def collect(args) -> None:
    out = Path(args.out)
    rows = json.loads(DATA.read_text()) if DATA.is_file() else {}
    for name in args.only or DESIGNS:
        print(f"{name}:", flush=True)
        rows[name] = collect_design(name, out, args.families)
        DATA.write_text(json.dumps(rows, indent=1, sort_keys=True))  # after every design: resumable
    print(f"{len(rows)} designs in {DATA}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--out", required=True)
    c.add_argument("--families", nargs="+", default=["xc7", "ecp5", "ice40"])
    c.add_argument("--only", nargs="+", choices=sorted(DESIGNS))
    f = sub.add_parser("fit")
    f.add_argument("--data", default=str(DATA))
    f.add_argument("--model", help="where to write the model (default: hw_bnn/resource_model.json)")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args)
    else:
        from hw_bnn.resource_model import MODEL_PATH, fit_and_report

        fit_and_report(json.loads(Path(args.data).read_text()), path=Path(args.model) if args.model else MODEL_PATH)


if __name__ == "__main__":
    main()
