"""hw_bnn's own resource estimate of the RTL it generates: LUT, FF, carry, LUT-RAM and block RAM of every
instance, from the instance's parameters alone, per FPGA family, in microseconds.

FINN's estimate models FINN's HLS/RTL nodes, not our modules, and is off against Yosys on our designs by
up to 2.35x either way (docs/synthesis.md). This model is ours, calibrated on Yosys:

- **Memories** are placed by rule: every memory of a module (weights, thresholds, FIFO storage, line and
  frame buffers) goes to block RAM when its ``ram_style`` says ``block``, or when it is ``auto`` and holds
  at least the family's calibrated number of bits; its block RAMs are then counted by tiling the
  memory with the primitive's aspect ratios (RAMB18E1 and DP16KD: 16K x 1 .. 512 x 36; SB_RAM40_4K:
  2K x 2 .. 256 x 16). Memories left in the fabric become LUT features.
- **Logic** is linear in a few structural features per module (adder-tree bits, accumulator bits,
  threshold comparators, multiplier bits, stream widths, memory bits in the fabric), with non-negative
  coefficients fitted per family, module and resource by least squares on the per-instance Yosys counts
  of the calibration designs (``benchmarks/estimate_calibration.py``). A module without calibration data
  falls back to one model of stream widths fitted on all modules.

The fitted coefficients live in ``resource_model.json`` beside this file; ``fit`` rebuilds them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError

MODEL_PATH = Path(__file__).with_name("resource_model.json")
#: Resources the model fits, as ``hw_bnn.synth`` counts them; block RAM (``BRAM_NAME``: BRAM18 on xc7,
#: DP16KD on ecp5, SB_RAM40_4K on ice40) is placed by rule instead.
LOGIC = ("LUT", "FF", "CARRY", "LUTRAM", "DSP")
#: Block RAM primitives: (depth, width) shapes one block can take.
BRAM_SHAPES = {
    "xc7": [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)],
    "ecp5": [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)],
    "ice40": [(2048, 2), (1024, 4), (512, 8), (256, 16)],
}
BRAM_NAME = {"xc7": "BRAM18", "ecp5": "BRAM", "ice40": "BRAM"}


@dataclass(frozen=True)
class Memory:
    depth: int
    width: int
    style: str = "auto"  # FINN's ram_style: auto, block or distributed

    @property
    def bits(self) -> int:
        return self.depth * self.width


def _clog2(value: int) -> int:
    return max(1, math.ceil(math.log2(max(value, 2))))


def memories(module: str, p: dict) -> list[Memory]:
    """The memories an instance of ``module`` with parameters ``p`` holds."""
    if module == "mvau":
        sf, nf = p["MW"] // p["SIMD"], p["MH"] // p["PE"]
        weights = Memory(sf * nf, p["PE"] * p["SIMD"] * p.get("WEIGHT_W", 1), p.get("WEIGHT_STYLE", "auto"))
        thresholds = [] if p.get("NO_ACT", 0) else [Memory(nf, p["PE"] * p["N_THR"] * p["THR_W"])]
        return [weights, *thresholds]
    if module == "thresholding":
        return [Memory(p["C"] // p["PE"], p["PE"] * p["N_THR"] * p["THR_W"])]
    if module == "channelwise_op":
        return [Memory(p["C"] // p["PE"], p["PE"] * p["PARAM_W"])]
    if module == "stream_fifo":
        return [Memory(p["DEPTH"], p["WIDTH"])]
    if module == "sliding_window":
        return [Memory(p.get("BUF_ROWS", p["K"]) * p["IFM_DIM"] * p["C"] // p["SIMD"], p["SIMD"] * p["ELEM_W"])]
    if module == "frame_buffer":
        return [Memory(p["PIXELS"] * p["C"] // p["PE"] * p.get("FRAMES", 1), p["PE"] * p.get("DATA_W", p["W"]))]
    return []


def _mvau_features(p: dict) -> dict[str, float]:
    lanes = p["PE"] + p.get("COUNT", 0)
    weight_w = p.get("WEIGHT_W", 1)
    term_w = 1 if p["XNOR"] else p["IN_W"] + (weight_w if weight_w > 1 else 1)
    acc_w = term_w + _clog2(p["MW"] + 1)
    return {"tree": lanes * p["SIMD"] * term_w, "acc": lanes * acc_w,
            "mult": 0 if p["XNOR"] or weight_w == 1 else lanes * p["SIMD"] * p["IN_W"] * weight_w,
            "compare": 0 if p.get("NO_ACT", 0) else p["PE"] * p["N_THR"] * p["THR_W"],
            "input": p["SIMD"] * p["IN_W"]}


#: Structural features of each module's logic, beside ``const`` and ``fabric_bits`` (memory bits left in
#: the fabric), which every module has.
FEATURES = {
    "mvau": _mvau_features,
    "thresholding": lambda p: {"compare": p["PE"] * p["N_THR"] * p["THR_W"], "input": p["PE"] * p["IN_W"]},
    "stream_fifo": lambda p: {"width": p["WIDTH"], "pointers": _clog2(p["DEPTH"] + 1)},
    "width_converter": lambda p: {"width": max(p["IN_W"], p["OUT_W"]), "ratio": max(p["IN_W"], p["OUT_W"])
                                  // max(1, min(p["IN_W"], p["OUT_W"]))},
    "sliding_window": lambda p: {"width": p["SIMD"] * p["ELEM_W"], "window": p["K"] * p["K"] * p["SIMD"] * p["ELEM_W"]},
    "fm_padding": lambda p: {"width": p["SIMD"] * p["ELEM_W"]},
    "pool_max": lambda p: {"width": p["PE"] * p["ELEM_W"] * p["K"]},
    "global_acc_pool": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "label_select": lambda p: {"width": p["PE"] * p["IN_W"], "kept": p["K"] * p["IN_W"]},
    "channelwise_op": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "add_streams": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "duplicate_streams": lambda p: {"width": p["WIDTH"]},
    "adabin_threshold": lambda p: {"width": p["PE"] * p["ACC_W"], "coef": p["PE"] * p["COEF_W"]},
    "frame_buffer": lambda p: {"width": p["PE"] * p.get("DATA_W", p["W"])},
    "frame_channel_sums": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "frame_threshold": lambda p: {"width": p["PE"] * p["W"]},
}


def _in_block_ram(memory: Memory, threshold_bits: int, honours_distributed: bool) -> bool:
    if memory.style == "block" or (memory.style == "distributed" and honours_distributed):
        return memory.style == "block"
    return memory.bits >= threshold_bits


def block_rams(memory: Memory, family: str) -> int:
    """Block RAMs of ``family`` that hold ``memory``: the best tiling with one of its shapes."""
    return min(-(-memory.depth // depth) * -(-memory.width // width) for depth, width in BRAM_SHAPES[family])


def features(module: str, params: dict, family: str, threshold_bits: int,
             honours_distributed: bool = True) -> tuple[dict[str, float], int]:
    """The logic features of an instance and the block RAMs its memories take."""
    found = FEATURES.get(module)
    values = {"const": 1.0, **(found(params) if found else {})}
    bram, fabric = 0, 0
    for memory in memories(module, params):
        if _in_block_ram(memory, threshold_bits, honours_distributed):
            bram += block_rams(memory, family)
        else:
            fabric += memory.bits
    values["fabric_bits"] = float(fabric)
    return values, bram


def _check_family(family: str) -> None:
    if family not in BRAM_SHAPES:
        raise HwBnnError(f"no resource model for family {family!r}: choose one of {sorted(BRAM_SHAPES)}")


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> dict:
    if not path.is_file():
        raise HwBnnError(f"the resource model {path} is missing: rebuild it with "
                         f"'.venv/bin/python benchmarks/estimate_calibration.py fit'")
    return json.loads(path.read_text())


def estimate_instance(module: str, params: dict, family: str, model: dict | None = None) -> dict[str, int]:
    """Resources of one instance: the family's ``LOGIC`` resources and its block RAM."""
    _check_family(family)
    fam = (model or load_model())[family]
    values, bram = features(module, params, family, fam["bram_threshold_bits"], fam["honours_distributed"])
    coefficients = fam["modules"].get(module)
    if coefficients is None:  # no calibration data for this module: the shared fallback
        coefficients = fam["modules"]["*"]
    result = {resource: max(0, round(sum(weight * values.get(name, 0.0)
                                         for name, weight in coefficients[resource].items())))
              for resource in LOGIC}
    result[BRAM_NAME[family]] = bram
    return result


def estimate_design(instances: list[dict], family: str, model: dict | None = None) -> dict:
    """Per-instance and total resources of a design given as ``[{"name", "module", "params"}]`` (the
    design's instances, as ``design.json`` and ``hw_bnn.synth`` list them)."""
    rows = [{"name": inst["name"], "module": inst["module"],
             "resources": estimate_instance(inst["module"], inst["params"], family, model)} for inst in instances]
    totals: dict[str, int] = {}
    for row in rows:
        for resource, value in row["resources"].items():
            totals[resource] = totals.get(resource, 0) + value
    return {"family": family, "resources": totals, "instances": rows}


def estimate_built_design(design, families: list[str]) -> dict:
    """report.json's ``estimate.hw_bnn``: per family, the design's totals, each HW node's resources (by
    layer name) and the FIFOs' and width converters' together."""
    from hw_bnn.synth import parameter_values

    instances = [{"name": inst.name, "module": inst.module, "params": parameter_values(inst.params)}
                 for inst in design.instances]
    nodes = {f"u_{node.name}": node.name for node in design.nodes}
    result = {}
    for family in families:
        estimate = estimate_design(instances, family)
        layers = {nodes[row["name"]]: row["resources"] for row in estimate["instances"] if row["name"] in nodes}
        interconnect = {k: v - sum(layer[k] for layer in layers.values()) for k, v in estimate["resources"].items()}
        result[family] = {"resources": estimate["resources"], "layers": layers, "interconnect": interconnect}
    return result


# --- calibration --------------------------------------------------------------------------------------

def _nnls(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    # relative least squares: each instance weighs by its size, so small modules are fitted as well
    # as large ones (the per-layer error is relative)
    scale = 1.0 / np.maximum(target, 20.0)
    return nnls(matrix * scale[:, None], target * scale)[0]


def _fit_logic(samples: list[tuple[dict[str, float], dict[str, int]]]) -> dict[str, dict[str, float]]:
    names = sorted({name for values, _ in samples for name in values})
    matrix = np.array([[values.get(name, 0.0) for name in names] for values, _ in samples])
    fitted = {}
    for resource in LOGIC:
        target = np.array([float(resources.get(resource, 0)) for _, resources in samples])
        weights = _nnls(matrix, target)
        fitted[resource] = {name: float(w) for name, w in zip(names, weights) if w > 0}
    return fitted


def _instances(data: dict, family: str, split: str):
    for design in data.values():
        if design["split"] == split and family in design["families"]:
            yield from design["families"][family]["instances"]


def _memory_rule(data: dict, family: str) -> tuple[int, bool]:
    """How Yosys placed the calibration designs' memories: the size (bits) from which an 'auto' memory
    goes to block RAM, and whether a 'distributed' one stays in the fabric (Yosys' Xilinx mapping honours
    it; its ECP5 mapping puts large ones in DP16KD all the same) -- the rule that fits their block RAM
    counts best."""
    name = BRAM_NAME[family]
    rows = list(_instances(data, family, "calibration"))

    def error(rule: tuple[int, bool]) -> int:
        return sum(abs(features(r["module"], r["params"], family, *rule)[1] - r["resources"].get(name, 0))
                   for r in rows)
    sizes = sorted({m.bits for r in rows for m in memories(r["module"], r["params"])} | {1 << 40})
    return min(((size, honours) for size in sizes for honours in (True, False)),
               key=lambda rule: (error(rule), rule[0], not rule[1]))


def fit(data: dict, families: list[str]) -> dict:
    """Coefficients for every family from the calibration designs of ``data``
    (``benchmarks/data/resource_calibration.json``)."""
    model = {}
    for family in families:
        threshold, honours = _memory_rule(data, family)
        by_module: dict[str, list] = {}
        everything = []
        for row in _instances(data, family, "calibration"):
            values, _ = features(row["module"], row["params"], family, threshold, honours)
            by_module.setdefault(row["module"], []).append((values, row["resources"]))
            everything.append(({"const": 1.0, "fabric_bits": values["fabric_bits"]}, row["resources"]))
        modules = {module: _fit_logic(samples) for module, samples in sorted(by_module.items())}
        modules["*"] = _fit_logic(everything)
        model[family] = {"bram_threshold_bits": threshold, "honours_distributed": honours, "modules": modules,
                         "calibrated_on": sorted(n for n, d in data.items() if d["split"] == "calibration")}
    return model


def _relative(estimate: float, measured: float) -> float:
    return (estimate - measured) / measured if measured else 0.0


#: Layers smaller than this (Yosys LUTs) are left out of the per-layer error: a few LUTs either way is
#: not a modelling error worth a percentage.
MIN_LAYER_LUT = 100


def errors(data: dict, family: str, model: dict, split: str = "held_out") -> dict:
    """Per-layer and per-design LUT errors of our model (and of FINN's, on xc7) on ``split``."""
    layers, designs = [], []
    for name, design in sorted(data.items()):
        if design["split"] != split or family not in design["families"]:
            continue
        synth = design["families"][family]
        ours = estimate_design(synth["instances"], family, model)
        for row, est in zip(synth["instances"], ours["instances"]):
            measured = row["resources"].get("LUT", 0)
            layer = row["name"].removeprefix("u_")
            finn = design.get("finn_xc7", {}).get(layer) if family == "xc7" else None
            if measured >= MIN_LAYER_LUT and layer in design.get("finn_xc7", {}):
                layers.append({"design": name, "layer": layer, "module": row["module"], "yosys": measured,
                               "ours": est["resources"]["LUT"], "finn": finn["lut"] if finn else None})
        total = synth["resources"]["LUT"]
        finn_total = sum(v["lut"] for v in design.get("finn_xc7", {}).values()) if family == "xc7" else None
        designs.append({"design": name, "yosys": total, "ours": ours["resources"]["LUT"], "finn": finn_total,
                        "bram_yosys": synth["resources"].get(BRAM_NAME[family], 0),
                        "bram_ours": ours["resources"][BRAM_NAME[family]]})
    for row in layers + designs:
        row["ours_error"] = _relative(row["ours"], row["yosys"])
        row["finn_error"] = _relative(row["finn"], row["yosys"]) if row["finn"] is not None else None
    return {"layers": layers, "designs": designs}


def _summary(rows: list[dict], key: str) -> str:
    values = [abs(r[key]) for r in rows if r[key] is not None]
    if not values:
        return "-"
    return f"median {100 * float(np.median(values)):.1f} %, worst {100 * max(values):.1f} %"


def fit_and_report(data: dict, families: tuple[str, ...] = ("xc7", "ecp5"), path: Path = MODEL_PATH) -> dict:
    """Fit on the calibration designs, write the model, print the held-out errors; return them."""
    families = [f for f in families if any(f in d["families"] for d in data.values())]
    model = fit(data, families)
    path.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n")
    load_model.cache_clear()
    report = {}
    for family in families:
        result = errors(data, family, model)
        report[family] = result
        print(f"\n{family}: block RAM above {model[family]['bram_threshold_bits']} bits (auto memories)")
        print("| design | Yosys LUT | ours | error | FINN | FINN error | Yosys BRAM | ours |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for row in result["designs"]:
            finn = f"{row['finn']:,} | {100 * row['finn_error']:+.1f} %" if row["finn"] is not None else "- | -"
            print(f"| {row['design']} | {row['yosys']:,} | {row['ours']:,} | {100 * row['ours_error']:+.1f} % | "
                  f"{finn} | {row['bram_yosys']} | {row['bram_ours']} |")
        print(f"per design: ours {_summary(result['designs'], 'ours_error')}; "
              f"FINN {_summary(result['designs'], 'finn_error')}")
        print(f"per layer (>= {MIN_LAYER_LUT} LUT, {len(result['layers'])} layers): ours "
              f"{_summary(result['layers'], 'ours_error')}; FINN {_summary(result['layers'], 'finn_error')}")
    return report
