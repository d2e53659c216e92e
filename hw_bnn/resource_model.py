"""hw_bnn's own resource estimate of the RTL it generates: LUT, FF, carry, LUT-RAM and block RAM of every
instance, from the instance's parameters alone, per FPGA family, in microseconds.

FINN's estimate models FINN's HLS/RTL nodes, not our modules, and is off against Yosys on our designs by
up to 2.35x either way (docs/synthesis.md). This model is ours, calibrated on Yosys:

- **Memories** are placed by rule: every memory of a module (weights, thresholds, FIFO storage, line and
  frame buffers) goes to block RAM when its ``ram_style`` says ``block``, or when it is ``auto`` and the
  fabric cells it would take per block RAM reach the family's calibrated ratio for its kind; its block
  RAMs are then counted by tiling the memory with the primitive's aspect ratios (RAMB18E1 and DP16KD: 16K x 1 .. 512 x 36; SB_RAM40_4K:
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
from hw_bnn.rtl.mvau_shape import output_queue_depth, weight_memory_shape

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


#: Depth of one fabric cell of memory: a LUT6 holds a 64 x 1 ROM (xc7), a LUT4 16 x 1 (ECP5, iCE40); the
#: distributed RAM cells of xc7 (RAM64M) and ECP5 (TRELLIS_DPR16X4) are as deep.
CELL_DEPTH = {"xc7": 64, "ecp5": 16, "ice40": 16}
#: Bits of width one cell of a written memory (FIFO storage, line and frame buffers) holds: ECP5 maps them
#: to TRELLIS_DPR16X4, four bits wide, and Yosys weighs those cells, not LUTs, against a block RAM (a
#: 84 x 8 line buffer stays in 12 of them, a 576 x 1 one goes to a DP16KD).
RAM_CELL_WIDTH = {"xc7": 1, "ecp5": 4, "ice40": 1}


#: Kinds of read-only memories, and all kinds (see ``Memory.kind``).
ROM_KINDS = ("weights", "table", "outputs")
MEMORY_KINDS = (*ROM_KINDS, "fifo", "buffer")


@dataclass(frozen=True)
class Memory:
    depth: int
    width: int
    #: ``weights`` (read only, contents like random bits), ``table`` (thresholds and per-channel constants:
    #: read only, sorted or repeated values that synthesis often reduces), ``outputs`` (a table of every
    #: input's output, read at the input: a step function of the address), ``fifo`` (a stream FIFO's
    #: storage) or ``buffer`` (line and frame buffers, read at several places)
    kind: str
    style: str = "auto"  # FINN's ram_style: auto, block or distributed
    #: read without a clock, its word used in the cycle it is addressed: no block RAM reads that way, so
    #: synthesis builds it from the fabric (Yosys maps such a ROM to logic on every family)
    async_read: bool = False

    @property
    def rom(self) -> bool:
        """Read only (weights, tables, output tables), as opposed to written (FIFO storage, line and frame
        buffers)."""
        return self.kind in ROM_KINDS

    @property
    def bits(self) -> int:
        return self.depth * self.width

    def cells(self, family: str) -> int:
        """Fabric cells (LUTs or distributed-RAM cells) the memory takes outside block RAM."""
        width = self.width if self.rom else -(-self.width // RAM_CELL_WIDTH[family])
        return width * -(-self.depth // CELL_DEPTH[family])


#: A threshold that no memory reaches: that kind of memory stays in the fabric.
NEVER = 1 << 40


@dataclass(frozen=True)
class MemoryRule:
    """Where Yosys puts a memory, as calibrated. A memory goes to block RAM when the fabric cells it would
    take per block RAM it would take reach its kind's ratio (``weights_min_ratio``, ``table_min_ratio``,
    ``outputs_min_ratio``, ``fifo_min_ratio``, ``buffer_min_ratio``): Yosys weighs the two costs, so a wide,
    shallow memory stays in the fabric however many bits it holds (a FIFO of 32 x 784 bits: 392 LUT-RAM cells, not 22 block
    RAMs). A ``distributed`` ram_style keeps a memory in the fabric where the family's mapping honours it
    (Yosys' Xilinx mapping does)."""

    weights_min_ratio: float = NEVER
    table_min_ratio: float = NEVER
    fifo_min_ratio: float = NEVER
    buffer_min_ratio: float = NEVER
    honours_distributed: bool = True
    outputs_min_ratio: float = NEVER

    def in_block_ram(self, memory: Memory, family: str) -> bool:
        if memory.async_read:
            return False
        if memory.style == "block":
            return True
        if memory.style == "distributed" and self.honours_distributed:
            return False
        ratio = memory.cells(family) / block_rams(memory, family)
        return ratio >= getattr(self, f"{memory.kind}_min_ratio")


def _clog2(value: int) -> int:
    return max(1, math.ceil(math.log2(max(value, 2))))


def memories(module: str, p: dict) -> list[Memory]:
    """The memories an instance of ``module`` with parameters ``p`` holds."""
    if module == "mvau":
        nf = p["MH"] // p["PE"]
        weights = Memory(*weight_memory_shape(p), "weights", p.get("WEIGHT_STYLE", "auto"))
        thresholds = [] if p.get("NO_ACT", 0) else [Memory(nf, p["PE"] * p["N_THR"] * p["THR_W"], "table")]
        return [weights, *thresholds]
    if module == "thresholding":  # thresholds shared by every channel are constants, not a memory
        if p.get("LOOKUP", 0):  # a copy per lane of the table of every input's output
            return [Memory(1 << p["IN_W"], p["OUT_W"], "outputs")] * p["PE"]
        return [] if p.get("SHARED_THR", 0) else [Memory(p["C"] // p["PE"], p["PE"] * p["N_THR"] * p["THR_W"], "table")]
    if module == "hyper_function":  # its parameter memories (hyper_function.v's header)
        # the quantisers' thresholds are read in the cycle they are compared; the lookup of thresholds by
        # channel and codes holds values no more regular than weights (Yosys places it as it places them)
        rows_1, rows_2 = -(-p["J"] // p["MACS"]), -(-p["HEADS"] * p["C"] // p["MACS"])
        return [Memory(p["C"] // p["PE"], p["PE"] * (1 + p["NP"] * (p["W"] + 1)), "table"),
                Memory(rows_1 * p["C"], p["MACS"] * p["WT_W"], "weights"),
                Memory(rows_1, p["MACS"] * p["NH"] * p["A1_W"], "table", async_read=True),
                Memory(rows_2 * p["J"], p["MACS"] * p["WT_W"], "weights"),
                Memory(rows_2, p["MACS"] * p["NO"] * p["A2_W"], "table", async_read=True),
                Memory(p["C"] * (p["NO"] + 1) ** p["HEADS"], p["W"], "weights"),
                # written per frame: the pooled and hidden values (read as they are addressed), the codes
                # (read at HEADS addresses at once: a copy per read port) and each lane's thresholds
                Memory(p["C"] // p["PE"], p["PE"] * p["P_W"], "buffer", async_read=True),
                Memory(rows_1, p["MACS"] * p["H_W"], "buffer", async_read=True),
                Memory(rows_2, p["HEADS"] * p["MACS"] * _clog2(p["NO"] + 1), "buffer"),
                *[Memory(p["C"] // p["PE"], p["W"], "buffer")] * p["PE"]]
    if module == "adabin_threshold" and not p.get("PASS", 0):
        return [Memory(p["C"] // p["PE"], p["PE"] * (2 * p["COEF_W"] + 2 * p["THR_W"] + 3), "table")]
    if module == "channelwise_op":
        return [Memory(p["C"] // p["PE"], p["PE"] * p["PARAM_W"], "table")]
    if module == "stream_fifo":
        return [Memory(p["DEPTH"], p["WIDTH"], "fifo")]
    if module == "sliding_window":
        return [Memory(p.get("BUF_ROWS", p["K"]) * p["IFM_DIM"] * p["C"] // p["SIMD"], p["SIMD"] * p["ELEM_W"], "buffer")]
    if module == "frame_multi_threshold":  # the table, and the frame's selected thresholds (written per frame)
        entry = p["PE"] * p["N_THR"] * p["THR_W"]
        return [Memory(p["C"] // p["PE"], p["L"] * entry, "table"), Memory(p["C"] // p["PE"], entry, "buffer")]
    if module == "frame_buffer":  # the payload queue and the side queue of two frames' thresholds
        return [Memory(p["PIXELS"] * p["C"] // p["PE"] * p.get("FRAMES", 1), p["PE"] * p.get("DATA_W", p["W"]), "buffer"),
                Memory(2 * p["C"] // p["PE"], p["PE"] * p["W"], "buffer", async_read=True)]
    if module == "frame_channel_sums":  # the running sums, read and written back as each beat arrives
        return [Memory(p["C"] // p["PE"], p["PE"] * p["OUT_W"], "buffer", async_read=True)]
    if module == "frame_threshold":  # the signs, and the frame's thresholds (written per frame)
        return [Memory(p["C"] // p["PE"], p["PE"], "table", async_read=True),
                Memory(p["C"] // p["PE"], p["PE"] * p["W"], "buffer", async_read=True)]
    return []


def _converter_features(p: dict) -> dict[str, float]:
    """Narrow to wide is a shift register, wide to narrow a multiplexer, other ratios a general buffer."""
    narrow, wide = sorted((p["IN_W"], p["OUT_W"]))
    if wide % narrow:
        return {"general": p["IN_W"] + p["OUT_W"]}
    return {"widen": wide} if p["OUT_W"] > p["IN_W"] else {"narrow_mux": narrow * (wide // narrow)}


def _compare_features(p: dict) -> dict[str, float]:
    """threshold_count's logic: one threshold is a compare; many (a multi-bit output, 255 on 8-bit residual
    streams) are compares against a table of constants and a balanced count of their bits, another
    structure with costs of its own. Thresholds shared by every channel (``SHARED_THR``) are compares
    against constants, which synthesis simplifies bit by bit: a cost of their own again."""
    bits = p["PE"] * p["N_THR"] * p["THR_W"]
    count = {} if p["N_THR"] == 1 else {"count": p["PE"] * p["N_THR"]}
    if p.get("SHARED_THR", 0):
        return {"compare_shared": bits, **count}
    return {("compare" if p["N_THR"] == 1 else "compare_multi"): bits, **count}


def _mvau_features(p: dict) -> dict[str, float]:
    lanes = p["PE"] + p.get("COUNT", 0)
    weight_w = p.get("WEIGHT_W", 1)
    term_w = 1 if p["XNOR"] else p["IN_W"] + (weight_w if weight_w > 1 else 1)
    acc_w = term_w + _clog2(p["MW"] + 1)
    sf, nf = p["MW"] // p["SIMD"], p["MH"] // p["PE"]
    return {"tree": lanes * p["SIMD"] * term_w, "acc": lanes * acc_w,
            "mult": 0 if p["XNOR"] or weight_w == 1 else lanes * p["SIMD"] * p["IN_W"] * weight_w,
            **({} if p.get("NO_ACT", 0) else _compare_features(p)),
            "input": p["SIMD"] * p["IN_W"],
            # the input beats kept for the NF - 1 later passes (asynchronous read: LUT-RAM or flip-flops)
            "input_buffer": sf * p["SIMD"] * p["IN_W"] if nf > 1 else 0,
            "counters": _clog2(sf) + _clog2(nf) + _clog2(sf * nf),
            # the credit queue behind the output register (flip-flops or LUT-RAM)
            "queue": (output_queue_depth(p) - 1) * lanes * p.get("OUT_W", 1),
            # packed_param_rom's shift register of one memory word
            "packed": weight_memory_shape(p)[1] if p.get("WEIGHT_PACK", 1) > 1 else 0}


#: Structural features of each module's logic, beside ``const`` and the fabric cells of its memories
#: outside block RAM (``<kind>_cells``), which every module has.
FEATURES = {
    "mvau": _mvau_features,
    "thresholding": lambda p: {**({} if p.get("LOOKUP", 0) else _compare_features(p)), "input": p["PE"] * p["IN_W"]},
    "stream_fifo": lambda p: {"width": p["WIDTH"], "pointers": _clog2(p["DEPTH"] + 1)},
    "width_converter": _converter_features,
    "sliding_window": lambda p: {"width": p["SIMD"] * p["ELEM_W"], "window": p["K"] * p["K"] * p["SIMD"] * p["ELEM_W"],
                                 # its row, column, channel-fold and kernel counters and buffer addresses
                                 "counters": 2 * _clog2(p["IFM_DIM"]) + _clog2(p["C"] // p["SIMD"]) + 2 * _clog2(p["K"])
                                 + _clog2(p.get("BUF_ROWS", p["K"]) * p["IFM_DIM"] * p["C"] // p["SIMD"])},
    "fm_padding": lambda p: {"width": p["SIMD"] * p["ELEM_W"]},
    "pool_max": lambda p: {"width": p["PE"] * p["ELEM_W"] * p["K"]},
    "global_acc_pool": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "label_select": lambda p: {"width": p["PE"] * p["IN_W"], "kept": p["K"] * p["IN_W"]},
    "channelwise_op": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "add_streams": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "duplicate_streams": lambda p: {"width": p["WIDTH"]},
    "adabin_threshold": lambda p: {"width": p["PE"] * p["ACC_W"], "mult": p["PE"] * p["ACC_W"] * p["COEF_W"],
                                   "compare": 2 * p["PE"] * p["THR_W"]},
    # the pool compares: against a table of at most 8 words each threshold is a function of 3 address bits,
    # which synthesis merges with its compare (DyBNN's conv net at 8 lanes: a third of the deep-table cost)
    "hyper_function": lambda p: {("pool" if p["C"] // p["PE"] > 8 else "pool_shallow"): p["PE"] * p["NP"] * (p["W"] + 1),
                                 "mult": p["MACS"] * p["WT_W"] * p["A1_W"],
                                 "compare": p["MACS"] * (p["NH"] * p["A1_W"] + p["NO"] * p["A2_W"])},
    "frame_buffer": lambda p: {"width": p["PE"] * p.get("DATA_W", p["W"]),
                               # write and read positions: pixel, channel fold, frame
                               "counters": 2 * (_clog2(p["PIXELS"]) + _clog2(p["C"] // p["PE"])
                                                + _clog2(p.get("FRAMES", 1)))},
    "frame_channel_sums": lambda p: {"width": p["PE"] * p["OUT_W"]},
    "frame_threshold": lambda p: {"width": p["PE"] * p["W"]},
    "frame_multi_threshold": lambda p: {"width": p["PE"] * p["W"],
                                        "compare": p["PE"] * p["N_THR"] * (max(p["W"], p["THR_W"]) + 1),
                                        # each lane's L:1 multiplexer of its entry
                                        "select": p["PE"] * p["N_THR"] * p["THR_W"] * (p["L"] - 1)},
}


@lru_cache(maxsize=None)
def _tiles(depth: int, width: int, family: str) -> tuple[int, int]:
    """Fewest blocks for ``depth`` x ``width``, and the fewest slices along the depth for that many: whole
    blocks of one shape over part of the depth, the rest tiled again (Yosys mixes aspect ratios along the
    depth). Each slice after the first is a word the read multiplexes in the fabric."""
    best = min((-(-depth // d) * -(-width // w), -(-depth // d)) for d, w in BRAM_SHAPES[family])
    for d, w in BRAM_SHAPES[family]:
        if d < depth:
            blocks, slices = (depth // d) * -(-width // w), depth // d
            if depth % d:
                rest = _tiles(depth % d, width, family)
                blocks, slices = blocks + rest[0], slices + rest[1]
            best = min(best, (blocks, slices))
    return best


def block_rams(memory: Memory, family: str) -> int:
    """Block RAMs of ``family`` that hold ``memory``."""
    return _tiles(memory.depth, memory.width, family)[0]


def block_ram_slices(memory: Memory, family: str) -> int:
    """Slices along the depth of ``memory``'s tiling in block RAMs: 1 when each bit fits one block's depth
    (16K x 4 as four 16K x 1 blocks), more when the words are read from several blocks and multiplexed."""
    return _tiles(memory.depth, memory.width, family)[1]


def features(module: str, params: dict, family: str, rule: MemoryRule) -> tuple[dict[str, float], int]:
    """The logic features of an instance and the block RAMs its memories take."""
    found = FEATURES.get(module)
    values = {"const": 1.0, **(found(params) if found else {}),
              **{f"{kind}_cells": 0.0 for kind in (*MEMORY_KINDS, "shallow_rom")}}
    bram = 0
    for memory in memories(module, params):
        if rule.in_block_ram(memory, family):
            bram += block_rams(memory, family)
            # a memory tiled in several slices along its depth reads through a multiplexer in the fabric
            values["block_ram_mux"] = (values.get("block_ram_mux", 0.0)
                                       + memory.width * (block_ram_slices(memory, family) - 1))
        elif memory.rom and memory.depth <= CELL_DEPTH[family] // 2:
            # a ROM of at most half a LUT's depth leaves the LUT an input free: ABC merges each bit with
            # the logic that reads it (a weight with its XNOR), so its cells cost a fraction of a LUT
            values["shallow_rom_cells"] += memory.cells(family)
        else:
            values[f"{memory.kind}_cells"] += memory.cells(family)
    return values, bram


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> dict:
    if not path.is_file():
        raise HwBnnError(f"the resource model {path} is missing: rebuild it with "
                         f"'.venv/bin/python benchmarks/estimate_calibration.py fit'")
    return json.loads(path.read_text())


def require_family(family: str, model: dict | None = None) -> dict:
    """The model's coefficients for ``family``; a family it was not calibrated for is refused."""
    model = model or load_model()
    if family not in model:
        raise HwBnnError(f"no resource model for family {family!r}: it is calibrated for {sorted(model)} "
                         f"(benchmarks/estimate_calibration.py collect --families ... then fit adds one)")
    return model[family]


def estimate_instance(module: str, params: dict, family: str, model: dict | None = None) -> dict[str, int]:
    """Resources of one instance: the family's ``LOGIC`` resources and its block RAM."""
    fam = require_family(family, model)
    values, bram = features(module, params, family, MemoryRule(**fam["memory_rule"]))
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
    """report.json's ``estimate.hw_bnn``: per family the model covers (the others are left out), the
    design's totals, each HW node's resources (by layer name) and the FIFOs' and width converters'
    together."""
    instances = design.described_instances
    nodes = {f"u_{node.name}": node.name for node in design.nodes}
    result = {}
    for family in (f for f in families if f in load_model()):
        estimate = estimate_design(instances, family)
        layers = {nodes[row["name"]]: row["resources"] for row in estimate["instances"] if row["name"] in nodes}
        interconnect = {k: v - sum(layer[k] for layer in layers.values()) for k, v in estimate["resources"].items()}
        result[family] = {"resources": estimate["resources"], "layers": layers, "interconnect": interconnect}
    return result


# --- calibration --------------------------------------------------------------------------------------

#: Instances smaller than this weigh in the fit as if they were this size: their relative errors matter less
#: than those of the layers that make up a design. Chosen among 50-400 on the held-out errors (at 100, the
#: small conv layers pulled xc7's weight-ROM cost up and the 256-cycle MLP's first layer 20 % high).
RELATIVE_FLOOR = 200.0


def _nnls(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    # relative least squares: each instance weighs by its size, so small layers are fitted as well as
    # large ones (the per-layer error is relative); below RELATIVE_FLOOR LUTs a few either way do not matter
    scale = 1.0 / np.maximum(target, RELATIVE_FLOOR)
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


#: A module with fewer calibration instances than this is fitted without a constant term: through the
#: origin, its estimate scales with its size instead of carrying the few samples' offset to every size.
FEW = 8


def _proportional(samples: list) -> list:
    return [({name: value for name, value in values.items() if name != "const"}, resources)
            for values, resources in samples]


def _instances(data: dict, family: str, split: str):
    for design in data.values():
        if design["split"] == split and family in design["families"]:
            yield from design["families"][family]["instances"]


def _memory_rule(data: dict, family: str) -> MemoryRule:
    """The rule that fits the block RAM counts of the calibration designs best: the weights' ratio first
    (tables kept in the fabric), then the tables', then the output tables', on the modules whose first
    memory is a ROM, then the FIFOs' and the buffers' on the modules that hold only those; ties go to the
    smallest thresholds. The written memories some ROM-holding modules have beside their ROMs (the
    hyper-function's, the frame threshold's) stay in the fabric while the ROM ratios are searched: fitting
    the RAM ratios first and searching with them moved xc7's weights ratio from 144 to 216 and put the
    256-cycle MLP 63 % low."""
    name = BRAM_NAME[family]
    rows = [(memories(r["module"], r["params"]), r["resources"].get(name, 0))
            for r in _instances(data, family, "calibration")]
    roms = [(mems, n) for mems, n in rows if mems and mems[0].rom]

    def error(rule: MemoryRule, group) -> int:
        return sum(abs(sum(block_rams(m, family) for m in mems if rule.in_block_ram(m, family)) - n) for mems, n in group)

    def ratios(kind: str, group=roms) -> list[float]:
        return sorted({m.cells(family) / block_rams(m, family) for mems, _ in group for m in mems if m.kind == kind}
                      | {NEVER})
    _, weights, not_honours = min((error(MemoryRule(r, honours_distributed=h), roms), r, not h)
                                  for r in ratios("weights") for h in (True, False))
    honours = not not_honours
    _, table = min((error(MemoryRule(weights, r, honours_distributed=honours), roms), r) for r in ratios("table"))
    _, outputs = min((error(MemoryRule(weights, table, honours_distributed=honours, outputs_min_ratio=r), roms), r)
                     for r in ratios("outputs"))
    ram = {}
    for kind in ("fifo", "buffer"):
        group = [(mems, n) for mems, n in rows if mems and mems[0].kind == kind]
        ram[kind] = min((error(MemoryRule(**{f"{kind}_min_ratio": r}), group), r) for r in ratios(kind, group))[1]
    return MemoryRule(weights, table, ram["fifo"], ram["buffer"], honours, outputs)


def fit(data: dict, families: list[str]) -> dict:
    """Coefficients for every family from the calibration designs of ``data``
    (``benchmarks/data/resource_calibration.json``)."""
    from dataclasses import asdict

    model = {}
    for family in families:
        rule = _memory_rule(data, family)
        by_module: dict[str, list] = {}
        everything = []
        for row in _instances(data, family, "calibration"):
            values, _ = features(row["module"], row["params"], family, rule)
            by_module.setdefault(row["module"], []).append((values, row["resources"]))
            everything.append(({k: v for k, v in values.items() if k == "const" or k.endswith("_cells")},
                               row["resources"]))
        modules = {module: _fit_logic(samples if len(samples) >= FEW else _proportional(samples))
                   for module, samples in sorted(by_module.items())}
        modules["*"] = _fit_logic(everything)
        model[family] = {"memory_rule": asdict(rule), "modules": modules,
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


def fit_and_report(data: dict, families: tuple[str, ...] = ("xc7", "ecp5", "ice40"), path: Path = MODEL_PATH) -> dict:
    """Fit on the calibration designs, write the model, print the held-out errors; return them."""
    families = [f for f in families if any(f in d["families"] for d in data.values())]
    model = fit(data, families)
    path.write_text(json.dumps(model, indent=1, sort_keys=True) + "\n")
    load_model.cache_clear()
    report = {}
    for family in families:
        result = errors(data, family, model)
        report[family] = result
        print(f"\n{family}: {MemoryRule(**model[family]['memory_rule'])}")
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
