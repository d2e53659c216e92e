"""Issue 4's two hardware targets, measured in one run.

1. Throughput on the ULX3S-85F (Lattice ECP5 LFE5U-85F): Yosys ``synth_ecp5`` + nextpnr give the
   achieved Fmax of the SFC MLP (sfc.yaml), the Verilator simulation gives its cycles per image, and frames/s at
   Fmax = Fmax * 1e6 / cycles. Beside it, FINN's published TFC-W1A1 throughput (837,019 frames/s at
   100 MHz on a Pynq-Z1), as frames/s and normalised to the clock (frames/s per MHz). The SFC net is also
   re-folded for a higher frames/s target (``--refold-fps``), simulated and placed again, to show what
   more parallelism buys on the same device.
2. Resources: LUTs after Yosys ``synth_xilinx`` (xc7) against FINN's LUT estimate for the same folding,
   per layer, with the FIFOs and width converters FINN does not estimate as their own row.

Usage: .venv/bin/python benchmarks/fpga_targets.py [--out DIR] [--recipe R] [--set k=v ...]
                                                   [--refold-fps F] [--sim-images N]

With --out, DIR is a finished build of sfc.yaml (``hw-bnn run training/recipes/sfc.yaml --out DIR``: it needs
export.onnx, hw_graph.onnx, the test images and report.json with the ``estimate`` and ``rtl_sim``
sections); without it, train/export/build/sim run first into a temporary folder. Synthesis and place and
route run in DIR/benchmarks/fpga_targets/<design>/, so the build's own synth/ and report.json stay as
they are; the results are written to DIR/benchmarks/fpga_targets.json. On 2 cores the SFC net takes about
14 minutes, most of it Yosys and nextpnr on the re-folded design (--refold-fps 0 skips it: about 2 minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hw_bnn import flow
from hw_bnn.config import Config, load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.io import write_json

RESULTS = Path("benchmarks") / "fpga_targets.json"

#: FINN's TFC-W1A1 (784-64-64-64-10, 1-bit weights and activations) on a Pynq-Z1 (Zynq XC7Z020):
#: ``accel.throughput_test()`` in finn-examples' notebook finn_examples/notebooks/0_mnist_with_fc_networks.ipynb,
#: fclk 99.999 MHz, batch 1000, accelerator runtime only (no host-side packing).
FINN_TFC_W1A1 = {
    "name": "FINN TFC-W1A1 (finn-examples, Pynq-Z1)",
    "topology": "784-64-64-64-10",
    "fps": 837019.0,
    "clock_mhz": 100.0,
    "source": "github.com/Xilinx/finn-examples finn_examples/notebooks/0_mnist_with_fc_networks.ipynb",
}

#: Why the columns of the LUT table differ: FINN's formulas (finn/custom_op/fpgadataflow/hls/
#: matrixvectoractivation_hls.py and rtl/thresholding_rtl.py, lut_estimation) against what Yosys' logs show
#: for the SFC net (784-256-256-256-10) at 100,000 and 700,000 frames/s.
LUT_GAP_EXPLANATION = """\
Why FINN's LUT estimate and Yosys differ (on the SFC net):
- MVAU (XNOR-popcount): FINN's estimate is FINN-R's model of its HLS core, for 1-bit weights and activations
  300 + 1.1*PE*(2*SIMD + 2*(2*SIMD-1) + acc_bits): a fixed 300 LUTs per layer, and per PE*SIMD lane 2 LUTs for
  the XNOR (counted as a 1x1-bit multiplier) and 2 for its node of the adder tree, 6.6 LUTs a lane in all. The
  weights (block RAM) and the thresholds and their comparators (ram_style_thresholds=auto) count no LUTs. In
  Yosys' netlist there is no XNOR gate to count: ABC maps the XNORs together with the popcount adders into
  6-input LUTs and carry chains, and a layer's control (fold counters, handshake) is a few dozen LUTs. What our
  count holds and FINN's does not: the threshold memories, which Yosys builds from LUTs (a few dozen words of
  constants), and the threshold compare. On the wide layers at 100,000 frames/s all of it comes to about 3.4
  LUTs a lane, against FINN's 6.6 plus 300: FINN estimates 2.5 to 2.8 times what synthesis gives.
- Weights in LUTs: synth_xilinx builds a shallow weight ROM from LUTs instead of block RAM (the BRAM18 columns;
  the log's MEMORY_MAP pass lists each such memory). At 100,000 frames/s that is only the last layer, 640 words
  of 4 bits, which costs about as much as FINN's fixed 300. Re-folded for 700,000 frames/s every weight memory
  is 80 to 128 words deep and 32 to 1792 bits wide, and all of them become LUTs: 0 BRAM18 against FINN's 81,
  and about 10 to 12 LUTs a lane, so there Yosys counts more LUTs than FINN. synth_ecp5 maps the same memories
  to DP16KD block RAMs (the throughput table), so this is a choice of Yosys' Xilinx memory mapping, not of the
  RTL.
- Thresholding (the input binarisation): FINN's Thresholding_rtl estimate is only its threshold memory, one
  9-bit threshold per channel (784 for a 28x28 image) in LUT-RAM. Every pixel has the same threshold (x >= 128,
  the sign of x - 127.5), so the memory file holds one value 784 times and Yosys folds the ROM into a constant
  compare: a handful of LUTs for the channel counter and the handshake.
- FIFOs and width converters: FINN estimates them only as the nodes its InsertFIFO and InsertDWC add, which
  this flow's estimate does not run; the stitched top has them, and Yosys counts them on their own row (their
  storage is in LUT-RAM, not counted as LUT).
"""


def throughput(fmax_mhz: float, cycles_per_frame: float, reference: dict = FINN_TFC_W1A1) -> dict:
    """Frames/s at ``fmax_mhz`` for ``cycles_per_frame``, and both ratios to ``reference``: at each
    design's own clock, and per MHz (the same clock for both, i.e. the ratio of cycles per frame)."""
    fps = fmax_mhz * 1e6 / cycles_per_frame
    per_mhz = 1e6 / cycles_per_frame
    ref_per_mhz = reference["fps"] / reference["clock_mhz"]
    return {"fmax_mhz": fmax_mhz, "cycles_per_frame": cycles_per_frame, "fps_at_fmax": fps,
            "fps_per_mhz": per_mhz, "vs_finn_fps": fps / reference["fps"], "vs_finn_per_mhz": per_mhz / ref_per_mhz}


def lut_rows(estimate_layers: list[dict], synth: dict) -> list[dict]:
    """One row per layer (FINN's LUT estimate beside Yosys' LUTs, matched by node name), a row for the
    FIFOs and width converters (Yosys only), and the total."""
    finn = {layer["name"]: layer for layer in estimate_layers}
    rows = []
    for layer in synth["layers"]:
        est = finn.get(layer["name"])
        if est is None:
            raise HwBnnError(f"layer {layer['name']} of the synthesised design has no FINN estimate; the estimate "
                             f"and the RTL come from different builds")
        lanes = est["pe"] * est["simd"]
        rows.append({"layer": layer["name"], "op": est["op"], "lanes": lanes, "finn_lut": est["lut"],
                     "yosys_lut": layer["resources"]["LUT"], "finn_bram18": est["bram18"],
                     "yosys_bram18": layer["resources"]["BRAM18"]})
    rows.append({"layer": "FIFOs + width converters", "op": "", "lanes": None, "finn_lut": 0,
                 "yosys_lut": synth["interconnect"]["LUT"], "finn_bram18": 0,
                 "yosys_bram18": synth["interconnect"]["BRAM18"]})
    rows.append({"layer": "total", "op": "", "lanes": None, "finn_lut": sum(r["finn_lut"] for r in rows),
                 "yosys_lut": synth["resources"]["LUT"], "finn_bram18": sum(r["finn_bram18"] for r in rows),
                 "yosys_bram18": synth["resources"]["BRAM18"]})
    for row in rows:
        row["finn_over_yosys"] = row["finn_lut"] / row["yosys_lut"] if row["yosys_lut"] and row["finn_lut"] else None
    return rows


def _fmt(value, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_throughput(rows: list[dict], reference: dict = FINN_TFC_W1A1) -> None:
    ref_per_mhz = reference["fps"] / reference["clock_mhz"]
    print(f"{'design':<44}{'LUT4':>7}{'FF':>7}{'DP16KD':>7}{'Fmax MHz':>10}{'cycles/img':>11}"
          f"{'frames/s @Fmax':>16}{'fps/MHz':>9}{'vs FINN':>9}{'vs FINN/MHz':>12}")
    for row in rows:
        if row.get("not_fitted"):
            print(f"{row['design']:<44}  {row['not_fitted']}")
            continue
        res = row["resources"]
        print(f"{row['design']:<44}{res['LUT']:>7,}{res['FF']:>7,}{res['BRAM']:>7}{row['fmax_mhz']:>10.1f}"
              f"{row['cycles_per_frame']:>11.0f}{row['fps_at_fmax']:>16,.0f}{row['fps_per_mhz']:>9,.0f}"
              f"{row['vs_finn_fps']:>8.2f}x{row['vs_finn_per_mhz']:>11.2f}x")
    print(f"{reference['name']:<44}{'':>31}{reference['clock_mhz']:>10.1f}"
          f"{reference['clock_mhz'] * 1e6 / reference['fps']:>11.1f}{reference['fps']:>16,.0f}{ref_per_mhz:>9,.0f}"
          f"{1:>8.2f}x{1:>11.2f}x")


def print_luts(name: str, rows: list[dict]) -> None:
    print(f"\n{name}: LUTs per layer, FINN's estimate (xc7z020) against Yosys synth_xilinx (xc7)")
    print(f"{'layer':<26}{'op':<18}{'PE*SIMD':>8}{'FINN est LUT':>14}{'Yosys LUT':>11}{'FINN/Yosys':>12}"
          f"{'LUT/lane FINN':>15}{'Yosys':>7}{'BRAM18 FINN':>13}{'Yosys':>7}")
    for row in rows:
        lanes = row["lanes"]
        print(f"{row['layer']:<26}{row['op']:<18}{_fmt(lanes):>8}{row['finn_lut']:>14,}{row['yosys_lut']:>11,}"
              f"{_fmt(row['finn_over_yosys'], '.2f'):>11}{'x' if row['finn_over_yosys'] else ' '}"
              f"{_fmt(lanes and row['finn_lut'] / lanes, '.2f'):>15}{_fmt(lanes and row['yosys_lut'] / lanes, '.2f'):>7}"
              f"{row['finn_bram18']:>13}{row['yosys_bram18']:>7}")


def measure(hw_graph, folder: Path, clock_mhz: float, progress) -> dict:
    """Yosys xc7 and ecp5 on the stitched RTL of ``hw_graph`` in ``folder``, then nextpnr on the LFE5U-85F."""
    from hw_bnn.design.stitch import generate_design
    from hw_bnn.synth import check_fit, get_family, place_and_route, synthesize

    design = generate_design(hw_graph, folder / "rtl")
    start = time.perf_counter()
    progress(f"  Yosys synth_xilinx (xc7) and synth_ecp5, side by side, in {folder}")
    # two Yosys processes at once: each is single-threaded, and the two write apart (synth/xc7_*, synth/ecp5_*)
    with ThreadPoolExecutor(max_workers=2) as pool:
        xc7, ecp5 = pool.map(lambda family: synthesize(design, family, folder), ("xc7", "ecp5"))
    family = get_family("ecp5")
    result = {"xc7": xc7, "ecp5": ecp5, "resources": ecp5["resources"]}
    try:
        check_fit(ecp5["resources"], family)
    except HwBnnError as exc:  # a re-folded design may outgrow the device: report it, measure the others
        result["not_fitted"] = str(exc)
    else:
        progress(f"  nextpnr-ecp5 on {family.default_device} at {clock_mhz:g} MHz")
        result["pnr"] = place_and_route(family, folder, clock_mhz)
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def refold(config: Config, out: Path, target_fps: float, n_images: int, folder: Path, progress) -> tuple:
    """The SFC net compiled again from export.onnx for ``target_fps``, its RTL simulated on the first
    ``n_images`` test images (checked equal to PyTorch's outputs): the graph, FINN's estimate and the run."""
    from hw_bnn.compiler import compile_model
    from hw_bnn.estimate import estimate
    from hw_bnn.export import load_qonnx
    from hw_bnn.design.sim import simulate

    build = config.build.model_copy(update={"target_fps": target_fps, "target_cycles_per_frame": None,
                                            "folding_file": None})
    progress(f"refold: FINN SetFolding for {target_fps:,.0f} frames/s at {build.clock_mhz:g} MHz")
    hw_graph = compile_model(load_qonnx(out / "export.onnx"), build)
    est = estimate(hw_graph, build.part, build.clock_mhz)
    images = np.load(out / "test_inputs.npy")[:n_images]
    progress(f"refold: Verilator simulation of {len(images)} images")
    sim = simulate(hw_graph, images, folder)
    if not np.array_equal(sim.outputs, np.load(out / "pytorch_outputs.npy")[:len(images)]):
        raise HwBnnError(f"the re-folded design ({target_fps:g} frames/s) differs from PyTorch in the RTL simulation "
                         f"(RTL in {folder / 'rtl'})")
    return hw_graph, est, sim.run


def _topology(hw_graph) -> str:
    """Layer widths of the matrix units, e.g. 784-256-256-256-10 (what the comparison with TFC-W1A1 is about)."""
    from qonnx.custom_op.registry import getCustomOp

    mvaus = [getCustomOp(node) for node in hw_graph.graph.node if node.op_type.startswith("MVAU")]
    return "-".join(str(n) for n in [mvaus[0].get_nodeattr("MW"), *(m.get_nodeattr("MH") for m in mvaus)])


def _folding_label(build) -> str:
    if build.folding_file:
        return f"folding {Path(build.folding_file).name}"
    if build.target_fps:
        return f"folded for {build.target_fps:,.0f} frames/s"
    if build.target_cycles_per_frame:
        return f"folded for {build.target_cycles_per_frame} cycles/image"
    return "fully folded"


def benchmark(config: Config, out: Path, refold_fps: float, sim_images: int, progress=print) -> dict:
    """Measure the SFC net in ``out`` (and its re-folded variant); write and return the results."""
    from hw_bnn.compiler import read_folding
    from hw_bnn.export import load_qonnx
    from hw_bnn.synth import get_family

    for needed in ("export.onnx", "hw_graph.onnx", "test_inputs.npy", "pytorch_outputs.npy"):
        if not (out / needed).is_file():
            raise HwBnnError(f"{out / needed} is missing; run 'hw-bnn run training/recipes/sfc.yaml --out {out}' first")
    report = flow.read_report(out)
    if not report.get("estimate") or not (report.get("rtl_sim") or {}).get("ii_cycles"):
        raise HwBnnError(f"{out / 'report.json'} lacks the 'estimate' or 'rtl_sim' section; run "
                         f"'hw-bnn sim RECIPE --out {out}' (after 'hw-bnn build') first")
    work = out / "benchmarks" / "fpga_targets"
    clock = config.build.clock_mhz
    designs = [{"design": f"{config.name}, {_folding_label(config.build)}",
                "hw_graph": load_qonnx(out / "hw_graph.onnx"), "estimate": report["estimate"],
                "cycles": report["rtl_sim"]["ii_cycles"], "folder": work / config.name}]
    if refold_fps:
        folder = work / f"fps_{int(refold_fps)}"
        hw_graph, est, run = refold(config, out, refold_fps, sim_images, folder, progress)
        designs.append({"design": f"{config.name}, re-folded for {refold_fps:,.0f} frames/s", "hw_graph": hw_graph,
                        "estimate": est, "cycles": run.ii_cycles, "folder": folder})
    results = []
    for d in designs:
        progress(f"synthesis of {d['design']}")
        measured = measure(d["hw_graph"], d["folder"], clock, progress)
        row = {
            "design": d["design"],
            "topology": _topology(d["hw_graph"]),
            "folding": read_folding(d["hw_graph"]),
            "finn_estimate_cycles": d["estimate"]["cycles_per_frame"],
            "resources": measured["resources"],
            "xc7_resources": measured["xc7"]["resources"],
            "luts": lut_rows(d["estimate"]["layers"], measured["xc7"]),
            "seconds": measured["seconds"],
        }
        if "not_fitted" in measured:
            row["not_fitted"] = measured["not_fitted"]
        else:
            row.update(throughput(measured["pnr"]["fmax_mhz"], d["cycles"]), pnr=measured["pnr"])
        results.append(row)
    result = {"board": "ULX3S-85F", "device": get_family("ecp5").default_device, "clock_constraint_mhz": clock,
              "finn_reference": FINN_TFC_W1A1, "designs": results}
    write_json(out / RESULTS, result)
    return result


def print_results(result: dict) -> None:
    print(f"\nTarget 1: frames/s on the {result['board']} ({result['device']}), Yosys synth_ecp5 + nextpnr-ecp5 "
          f"(clock constraint {result['clock_constraint_mhz']:g} MHz), cycles per image measured in the RTL simulation")
    print_throughput(result["designs"])
    for row in result["designs"]:
        print(f"  {row['design']}: {row['topology']}; " + ", ".join(
            f"{name} " + " ".join(f"{k}={v}" for k, v in f.items()) for name, f in row["folding"].items()))
    # FINN's TFC-W1A1 is 784-64-64-64-10; the SFC net is 784-256-256-256-10 folded for 100,000 frames/s (and
    # re-folded here for more): the comparison holds at the chosen folding, not for equal work per image.
    print(f"(vs FINN: frames/s at each design's own clock over FINN's; vs FINN/MHz: the same at equal clocks, i.e. "
          f"FINN's cycles per image over ours; FINN's cycles/img is its clock over its measured frames/s. FINN's "
          f"TFC-W1A1 is {FINN_TFC_W1A1['topology']}: the comparison is at the chosen folding, not for equal work "
          f"per image.)")
    print("\nTarget 2: LUTs after synthesis against FINN's estimate")
    for row in result["designs"]:
        print_luts(row["design"], row["luts"])
    print()
    print(LUT_GAP_EXPLANATION)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="training/recipes/sfc.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=None,
                        help="finished build of sfc.yaml (default: train/export/build/sim into a temporary folder)")
    parser.add_argument("--refold-fps", type=float, default=700000,
                        help="also re-fold the SFC net for this many frames/s at build.clock_mhz and measure it; 0: "
                             "skip (default 700000: 128 cycles per image, FINN's SetFolding search limits SIMD to "
                             "28/32, and the next step, MVAU_0 at PE 128, keeps Yosys' Verilog frontend busy for "
                             "more than five minutes)")
    parser.add_argument("--sim-images", type=int, default=200,
                        help="test images the re-folded design is simulated on (default 200)")
    args = parser.parse_args()
    if args.out is not None:
        saved = args.out / "config.yaml"
        config = load_config(saved if saved.is_file() else args.recipe, args.overrides)
        print_results(benchmark(config, args.out, args.refold_fps, args.sim_images))
        print(f"results: {args.out / RESULTS}")
        return
    config = load_config(args.recipe, args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        for stage in ("train", "export", "build", "sim"):
            flow.STAGES[stage](config, tmp, progress=lambda message: None)
        print_results(benchmark(config, Path(tmp), args.refold_fps, args.sim_images))


if __name__ == "__main__":
    main()
