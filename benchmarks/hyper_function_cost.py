"""Yosys resources of the hyper-function unit (hls/rtl/dynamic_threshold/hyper_function.v) at the sizes of
real DyBNN and SD-BNN layers, for the committed version at ``--before`` and for the working tree, next to
hw_bnn's analytical estimate of the working tree's unit (``FrameHyperFunction.hw_estimate``).

Usage: .venv/bin/python benchmarks/hyper_function_cost.py [--before REF] [--families ecp5 xc7]
       [--cases NAME ...] [--out DIR]

Each case synthesises the unit alone (flattened, ``synth_ecp5`` / ``synth_xilinx -family xc7``) with random
parameters written by hw_bnn's memory-file writer; the sizes are those the compiler chose for the
784-256-256-256-10 MLP of ``fmnist_dybnn.yaml`` / ``fmnist_sdbnn_se.yaml`` at the folding target of 100k
frames/s. ``--before`` defaults to the last commit whose unit kept its pooled values, codes and thresholds
in register arrays.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from hw_bnn.features.dynamic_threshold.memfiles import HYPER_MEMORIES, write_hyper_memories
from hw_bnn.synth import synthesize_flat

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


def wrapper(params: dict) -> str:
    """A top module that instantiates the unit with ``params`` (synthesize_flat takes no parameters)."""
    pe_w = params["PE"] * params["W"]
    bindings = ",\n    ".join(f".{k}({v!r})" if not isinstance(v, str) else f'.{k}("{v}")' for k, v in params.items())
    return f"""`default_nettype none
module bench_top (input wire clk, input wire rst_n, input wire [{pe_w - 1}:0] s_axis_tdata,
                  input wire s_axis_tvalid, output wire s_axis_tready, output wire [{pe_w}:0] m_axis_tdata,
                  output wire m_axis_tvalid, input wire m_axis_tready);
hyper_function #(
    {bindings}
) u_hyper (.clk(clk), .rst_n(rst_n), .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid),
           .s_axis_tready(s_axis_tready), .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid),
           .m_axis_tready(m_axis_tready));
endmodule
"""


def synth_version(sources: dict[str, str], params: dict, family: str, folder: Path) -> dict[str, int]:
    folder.mkdir(parents=True)
    for path, text in sources.items():
        (folder / Path(path).name).write_text(text)
    mems = {name: folder / f"{name.removesuffix('_FILE').lower()}.mem" for name in HYPER_MEMORIES}
    rng = np.random.default_rng(0)
    write_hyper_memories(mems, random_params(params, rng), params["PE"], params["MACS"], params)
    (folder / "bench_top.v").write_text(wrapper({**params, "PIXELS": 1,
                                                 **{name: mems[name].name for name in HYPER_MEMORIES}}))
    files = [folder / Path(path).name for path in sources] + [folder / "bench_top.v"]
    return synthesize_flat(files, "bench_top", family, folder, f"{family}")


def estimate(params: dict) -> dict[str, int]:
    """The working tree's FrameHyperFunction.hw_estimate for ``params`` (xc7 LUT6s and BRAM18s)."""
    from hw_bnn.features.dynamic_threshold.op import hyper_estimate
    return hyper_estimate(params)


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
        e = estimate(CASES[case])
        print(f"| {case} | xc7 | hw_bnn estimate | {e['lut']:,} | | | | {e['bram18']} | |", flush=True)


if __name__ == "__main__":
    main()
