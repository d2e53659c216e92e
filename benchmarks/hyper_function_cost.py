"""Yosys resources of the hyper-function unit (hls/rtl/dynamic_threshold/hyper_function.v) at the sizes of
real DyBNN and SD-BNN layers, for the committed version at ``--before`` and for the working tree, next to
hw_bnn's analytical estimate of the working tree's unit (``FrameHyperFunction.hw_estimate``).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/hyper_function_cost.py [--before REF] [--families ecp5 xc7]
       [--cases NAME ...] [--out DIR]

Each case synthesises the unit alone (flattened, ``synth_ecp5`` / ``synth_xilinx -family xc7``) with random
parameters written by hw_bnn's memory-file writer; the sizes are those the compiler chose for the
784-256-256-256-10 MLP of ``fmnist_dybnn.yaml`` / ``fmnist_sdbnn_se.yaml`` at the folding target of 100k
frames/s. ``--before`` defaults to the last commit whose unit kept its pooled values, codes and thresholds
in register arrays.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.features.dynamic_threshold.memfiles import HYPER_MEMORIES, write_hyper_memories
from hw_bnn.features.dynamic_threshold.op import hyper_estimate
from hw_bnn.rtl.verilator import yosys_command
from hw_bnn.synth import get_family

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("hls/rtl/dynamic_threshold/hyper_function.v", "hls/rtl/dynamic_threshold/hyper_mac_layer.v")
REGISTER_ARRAY_COMMIT = "6335385"

#: name -> hyper_function.v parameters (PIXELS=1: an MLP layer; the unit's area does not depend on it)
CASES = {
    # DyBNN layer 1: 3 heads of 2-bit codes (27 table entries per channel), 32 MAC lanes
    "dybnn_c256_pe8_macs32": dict(C=256, PE=8, W=11, J=16, HEADS=3, NP=15, POOL_OFFSET=-8, P_W=4, WT_W=4,
                                  A1_W=13, NH=15, H_W=4, A2_W=11, NO=2, MACS=32),
    # DyBNN layers 2-3: 64 lanes
    "dybnn_c256_pe4_macs64": dict(C=256, PE=4, W=10, J=16, HEADS=3, NP=15, POOL_OFFSET=-8, P_W=4, WT_W=4,
                                  A1_W=13, NH=15, H_W=4, A2_W=11, NO=2, MACS=64),
    # SD-BNN squeeze-excitation: one head of 4-bit codes, 16 lanes
    "se_c256_pe8_macs16": dict(C=256, PE=8, W=11, J=16, HEADS=1, NP=15, POOL_OFFSET=-8, P_W=4, WT_W=4,
                               A1_W=13, NH=15, H_W=4, A2_W=11, NO=15, MACS=16),
}


def random_params(p: dict, rng) -> dict:
    """Integer parameters over the full widths (the values do not change the logic, only the ROM contents)."""
    c, j, heads = p["C"], p["J"], p["HEADS"]
    wt = 1 << (p["WT_W"] - 1)
    s = 1 << (p["W"] - 1)
    return {"pool_sign": rng.choice([-1, 1], c), "pool_thresholds": rng.integers(-s, s, (c, p["NP"])),
            "w1": rng.integers(-wt, wt, (j, c)),
            "hidden_thresholds": rng.integers(-(1 << (p["A1_W"] - 2)), 1 << (p["A1_W"] - 2), (j, p["NH"])),
            "w2": rng.integers(-wt, wt, (heads * c, j)),
            "output_thresholds": rng.integers(-(1 << (p["A2_W"] - 2)), 1 << (p["A2_W"] - 2), (heads * c, p["NO"])),
            "table": rng.integers(-s, s, (c, (p["NO"] + 1) ** heads))}


def synth_version(sources: dict[str, str], params: dict, family_name: str, folder: Path) -> dict[str, int]:
    """Yosys ``family_name`` synthesis (flattened) of the unit from ``sources`` with ``params``: the cell
    counts per resource as hw_bnn.synth counts them."""
    folder.mkdir(parents=True)
    for path, text in sources.items():
        (folder / Path(path).name).write_text(text)
    mems = {name: f"{name.removesuffix('_FILE').lower()}.mem" for name in HYPER_MEMORIES}
    values = random_params(params, np.random.default_rng(0))
    write_hyper_memories({name: folder / f for name, f in mems.items()}, values, params["PE"], params["MACS"], params)
    family = get_family(family_name)
    # chparam reads Verilog constants: a negative value as its 32-bit two's complement
    chparam = " ".join([f"-set {k} 32'sh{v & 0xFFFFFFFF:08x}" for k, v in {**params, "PIXELS": 1}.items()] +
                       [f'-set {k} "{v}"' for k, v in mems.items()])
    command = family.command.replace(" -noflatten", "")
    script = (f"read_verilog -defer {' '.join(Path(p).name for p in sources)}; chparam {chparam} hyper_function; "
              f"{command} -top hyper_function; tee -q -o stat.json stat -json")
    result = subprocess.run([*yosys_command(), "-q", "-l", "yosys.log", "-p", script], cwd=folder, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"Yosys failed in {folder}:\n{result.stderr[-2000:]}")
    cells = json.loads((folder / "stat.json").read_text())["modules"]["\\hyper_function"]["num_cells_by_type"]
    return {resource.split(" (as")[0]: sum(weight * n for cell, n in cells.items() if re.match(pattern, cell))
            for resource, (pattern, weight) in family.resources.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=REGISTER_ARRAY_COMMIT, help="git revision of the 'before' unit")
    parser.add_argument("--families", nargs="+", default=["ecp5", "xc7"], choices=("ecp5", "xc7"))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", default=None, help="keep the synthesis folders here (default: a temp dir)")
    args = parser.parse_args()
    versions = {
        f"before ({args.before})": {p: subprocess.run(["git", "show", f"{args.before}:{p}"], cwd=ROOT, check=True,
                                                     capture_output=True, text=True).stdout for p in SOURCES},
        "after (working tree)": {p: (ROOT / p).read_text() for p in SOURCES},
    }
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hyper_cost_"))
    print(f"\nhyper_function.v alone, Yosys flattened synthesis (folders under {out})\n")
    print("| case | family | version | LUT | LUTRAM | FF | CARRY | BRAM | DSP |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for case in args.cases:
        for family in args.families:
            for k, (version, sources) in enumerate(versions.items()):
                r = synth_version(sources, CASES[case], family, out / case / family / f"v{k}")
                bram = r.get("BRAM18", r.get("BRAM", 0))
                print(f"| {case} | {family} | {version} | {r['LUT']:,} | {r.get('LUTRAM', 0):,} | {r['FF']:,} | "
                      f"{r['CARRY']:,} | {bram} | {r['DSP']} |", flush=True)
        e = hyper_estimate(CASES[case])
        print(f"| {case} | xc7 | hw_bnn estimate | {e['lut']:,} | | | | {e['bram18']} | |", flush=True)


if __name__ == "__main__":
    main()
