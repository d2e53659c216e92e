"""Issue 20's top-end targets: the SFC MLP (sfc.yaml: FINN's SFC topology, 784-256-256-256-10, baseline method) folded from 896 down
to 16 cycles/frame, each simulated in Verilator (bit-exact check, measured cycles/frame) and synthesised
with Yosys for ECP5 (LUT4, FF, DP16KD; nextpnr on an LFE5U-85F for Fmax where it fits).

896, 128 and 32 cycles/frame are FINN's SetFolding for that target; 16 takes a folding file (FOLDING_16):
it needs 12,544 weight bits per beat in MVAU_0, beyond the 8,191 of FINN's search. A design larger than
the device is reported with the resource and the overflow instead of placed.

Usage: .venv/bin/python benchmarks/top_end_folding.py --from DIR [--out DIR] [--cycles 896 128 32 16]
                                                      [--images N] [--no-pnr]

``--from`` is a finished run of sfc.yaml (``hw-bnn run training/recipes/sfc.yaml --out DIR``): its trained model
is reused, so every folding is the same network. Each folding runs in OUT/c<cycles>/; a folding
whose report already has the synth section is read back. Results go to OUT/top_end_folding.json.
Yosys needs about 4 minutes at 32 cycles/frame on 2 cores; nextpnr on a design filling most of the
LFE5U-85F takes much longer (--no-pnr skips it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from byom import FINN_FIGURES, _fmt

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.io import write_json
from hw_bnn.synth import check_fit, get_family

#: 16 cycles/frame: every node at 16 cycles (784/49, 256/16, 10/10 x 256/16).
FOLDING_16 = {
    "Thresholding_0": {"PE": 49},
    "MVAU_0": {"PE": 256, "SIMD": 49},
    "MVAU_1": {"PE": 256, "SIMD": 16},
    "MVAU_2": {"PE": 256, "SIMD": 16},
    "MVAU_3": {"PE": 10, "SIMD": 16},
}

#: What a finished run of sfc.yaml holds that every folding reuses: the trained model (each folding exports it
#: again with its test images).
REUSED = ("config.yaml", "checkpoint.pt", "model.pt")


def run_one(source: Path, out: Path, cycles: int, images: int, pnr: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for name in REUSED:
        if (source / name).is_file() and not (out / name).exists():
            shutil.copyfile(source / name, out / name)
    settings = [f"check.n_images={images}", "synth.family=ecp5", f"synth.place_and_route={pnr}",
                "build.fifo_sizing=simulate", "build.target_fps=null", "stages=[export, build, sim]"]
    if cycles in (16,):
        (out / "folding.in.json").write_text(json.dumps(FOLDING_16))
        settings.append(f"build.folding_file={out / 'folding.in.json'}")
    else:
        settings.append(f"build.target_cycles_per_frame={cycles}")
    config = load_config(str(source / "config.yaml"), settings)
    report = flow.read_report(out) if (out / "report.json").is_file() else {}
    if "rtl_sim" not in report:
        print(f"== {cycles} cycles/frame: build and simulate {images} images", flush=True)
        flow.run(config, out)
    failed = out / "synth_error.txt"
    if "synth" not in flow.read_report(out) and not failed.exists():
        print(f"== {cycles} cycles/frame: Yosys{' and nextpnr' if pnr else ''}", flush=True)
        try:
            flow.synth_stage(config, out)
        except HwBnnError as error:
            failed.write_text(str(error))
    report = flow.read_report(out)
    synth, sim = report.get("synth", {}), report["rtl_sim"]
    resources = synth.get("resources", {})
    if resources and not failed.exists():
        try:
            check_fit(resources, get_family("ecp5"))
        except HwBnnError as error:  # said plainly in the table's notes: the resource and the overflow
            failed.write_text(str(error))
    return {"target": cycles, "cycles": sim["ii_cycles"], "estimate": report["estimate"]["cycles_per_frame"],
            "exact": bool(report["bit_exact"].get("rtl")), "lut": resources.get("LUT"), "ff": resources.get("FF"),
            "bram": resources.get("BRAM"), "yosys_s": synth.get("seconds"), "fmax_mhz": synth.get("fmax_mhz"),
            "fps": synth.get("fps_at_fmax"), "note": failed.read_text().splitlines()[0] if failed.exists() else None}


def print_table(rows: list[dict]) -> None:
    print("\n| cycles/frame (target) | cycles/frame (sim) | RTL exact | LUT4 | FF | DP16KD | Yosys s | Fmax MHz "
          "| frames/s at Fmax | frames/s per LUT4 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        per_lut = r["fps"] / r["lut"] if r["fps"] and r["lut"] else None
        print(f"| {r['target']} | {r['cycles']:,.1f} | {'yes' if r['exact'] else 'NO'} | {_fmt(r['lut'])} | "
              f"{_fmt(r['ff'])} | {_fmt(r['bram'])} | {_fmt(r['yosys_s'], '.0f')} | {_fmt(r['fmax_mhz'], '.1f')} | "
              f"{_fmt(r['fps'])} | {_fmt(per_lut, '.1f')} |")
    for r in rows:
        if r["note"]:
            print(f"\n{r['target']} cycles/frame: {r['note']}")
    sfc_max = next(f for f in FINN_FIGURES if f["network"].startswith("SFC") and f["lut"])
    print(f"\nFINN's SFC-max (theirs: {sfc_max['work']}): {sfc_max['fps']:,} frames/s, {sfc_max['lut']:,} LUT "
          f"(6-input), {sfc_max['fps'] / sfc_max['lut']:.1f} frames/s per LUT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="a finished run of sfc.yaml")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cycles", type=int, nargs="+", default=[896, 128, 32, 16])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--no-pnr", action="store_true", help="Yosys only: no nextpnr Fmax")
    args = parser.parse_args(argv)
    for name in ("model.pt", "config.yaml"):
        if not (args.source / name).is_file():
            raise HwBnnError(f"{args.source / name} is missing; --from needs a finished "
                             f"'hw-bnn run training/recipes/sfc.yaml --out DIR'")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        rows = [run_one(args.source, out / f"c{cycles}", cycles, args.images, not args.no_pnr)
                for cycles in args.cycles]
        write_json(out / "top_end_folding.json", {"rows": rows})
        print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
