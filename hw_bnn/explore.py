"""Design-space exploration: thousands of per-layer foldings estimated in seconds with hw_bnn's own
resource model, the LUT-vs-frames/s Pareto front, Yosys on the front (and a few points off it) over a
Dask cluster, and the chosen folding written for ``hw-bnn build``.

1. **Candidates.** Every HW node's legal PE/SIMD (``hw_bnn.compiler.legal_values``) and the cycles each
   gives the node (FINN's analytical cycles; hw_bnn's ops' own ``hw_estimate``). For each bottleneck
   target T among the cycle counts the layers can take, each layer takes its least parallel option
   that meets T (as FINN's SetFolding), and seeded variants take other options of the same or the
   next parallelism (a PE/SIMD split changes memory shapes and stream widths, so costs differ).
2. **Estimates.** Each candidate is folded (``apply_folding``, then the shallow weight memories to LUT
   logic as the build does), planned with its FIFOs and width converters (``hw_bnn.design.stitch.plan``,
   nothing written) and estimated per instance (``hw_bnn.resource_model``) for the family.
3. **Choice.** The points that meet the constraints (a device or LUT/block-RAM budget, a frames/s
   target, a latency bound): the cheapest that reaches the target, or without a target the fastest
   that fits. ``explore/folding.json`` holds it, ready for ``build.folding_file``.
4. **Synthesis.** Points evenly along the estimated front and a few off it are generated, shipped to
   Dask workers as RTL archives and synthesised there (``hw_bnn.sweep``: a local cluster by default,
   ``explore.cluster`` for an existing scheduler; resumable). Each synthesised point reports the
   estimate's error.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import tempfile
from pathlib import Path
from typing import Callable

from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path, write_csv, write_text
from hw_bnn.sweep import pack_files, run_sweep, unpack_files

#: Columns of ``explore/points.csv``: the folding's key, its analytical performance, our estimate for the
#: family, and Yosys' count where it was synthesised.
COLUMNS = ["key", "cycles_per_frame", "fps", "latency_cycles", "lut", "ff", "bram", "pareto", "chosen",
           "yosys_lut", "yosys_ff", "yosys_bram", "lut_error"]
SYNTH_COLUMNS = ["key", "yosys_lut", "yosys_ff", "yosys_bram", "seconds"]


def folding_key(folding: dict) -> str:
    return hashlib.sha1(json.dumps(folding, sort_keys=True).encode()).hexdigest()[:12]


def _searched_attrs(node) -> list[str]:
    from hw_bnn.compiler import FOLDING_DIVIDES

    # the hyper-function's MACS follow the frame rate (SetHyperFunctionMACS) and a max-pool's PE its window
    # generator's SIMD (``_tie_pools``); the other PE and SIMD are searched
    return [attr for (op, attr) in FOLDING_DIVIDES if op == node.op_type and (op, attr) not in
            (("FrameHyperFunction", "MACS"), ("Pool", "PE"))]


def _tie_pools(model, folding: dict) -> dict:
    """The folding with every max-pool's PE set to its window generator's SIMD (pool_max takes the
    window's lanes as they arrive: hw_bnn.rtl.finn_emit.emit_pool)."""
    tied = dict(folding)
    for node in model.graph.node:
        producer = model.find_producer(node.input[0]) if node.op_type == "Pool" else None
        if producer is not None and "SIMD" in folding.get(producer.name, {}):
            tied[node.name] = {**folding.get(node.name, {}), "PE": folding[producer.name]["SIMD"]}
    return tied


def node_cycles(model, node) -> int:
    """Analytical cycles per frame of one HW node at its current folding."""
    from qonnx.custom_op.registry import getCustomOp

    from hw_bnn.graph import is_hw_bnn_node

    inst = getCustomOp(node)
    return int(inst.hw_estimate(model)["cycles"] if is_hw_bnn_node(node) else inst.get_exp_cycles())


def folding_options(model) -> dict[str, list[tuple[dict, int]]]:
    """Per foldable node: every legal ``{attr: value}`` choice with the cycles it gives the node."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from hw_bnn.compiler import legal_values
    from hw_bnn.graph import hw_nodes

    scratch = ModelWrapper(model.model.__deepcopy__())
    options = {}
    for node in hw_nodes(scratch):
        attrs = _searched_attrs(node)
        if not attrs:
            continue
        inst = getCustomOp(node)
        original = {attr: inst.get_nodeattr(attr) for attr in attrs}
        choices = []
        for values in itertools.product(*(legal_values(scratch, node, attr) for attr in attrs)):
            choice = dict(zip(attrs, values))
            for attr, value in choice.items():
                inst.set_nodeattr(attr, value)
            choices.append((choice, node_cycles(scratch, node)))
        for attr, value in original.items():
            inst.set_nodeattr(attr, value)
        options[node.name] = choices
    return options


def _parallelism(choice: dict) -> int:
    product = 1
    for value in choice.values():
        product *= value
    return product


def candidate_foldings(options: dict[str, list[tuple[dict, int]]], max_points: int, seed: int = 0) -> list[dict]:
    """Foldings to estimate: for each bottleneck target, the least parallel choice per layer and variants."""
    if not options:
        raise HwBnnError("the HW graph has no foldable node (MVAU, Thresholding, sliding window, ...): "
                         "nothing to explore")
    fastest = max(min(cycles for _, cycles in choices) for choices in options.values())
    targets = sorted({cycles for choices in options.values() for _, cycles in choices if cycles >= fastest},
                     reverse=True)
    rng = random.Random(seed)
    variants_per_target = max(1, max_points // max(1, len(targets)))
    if len(targets) > max_points:  # keep the targets spread over the whole range
        step = len(targets) / max_points
        targets = [targets[int(i * step)] for i in range(max_points)]
    foldings, seen = [], set()
    for target in targets:
        meeting = {name: sorted(((c, cyc) for c, cyc in choices if cyc <= target),
                                key=lambda item: (_parallelism(item[0]), item[1]))
                   for name, choices in options.items()}
        for variant in range(variants_per_target):
            folding = {}
            for name, choices in meeting.items():
                if variant == 0:
                    folding[name] = dict(choices[0][0])
                    continue
                # another choice of the same or the next parallelism level
                levels = sorted({_parallelism(c) for c, _ in choices})[:2]
                folding[name] = dict(rng.choice([c for c, _ in choices if _parallelism(c) in levels]))
            key = folding_key(folding)
            if key not in seen:
                seen.add(key)
                foldings.append(folding)
    return foldings[:max_points]


def evaluate(model, folding: dict, family: str, clock_mhz: float, fifo_depth: int) -> dict:
    """Fold ``model`` as ``folding`` and estimate it: analytical cycles, our resources per instance."""
    from hw_bnn.compiler import apply_folding, read_folding
    from hw_bnn.design.stitch import plan
    from hw_bnn.graph import hw_nodes
    from hw_bnn.passes import SetShallowWeightMemoriesDistributed
    from hw_bnn.resource_model import BRAM_NAME, estimate_design

    # every weight memory starts from 'auto', so that the build's rule puts the shallow ones in LUTs
    with_styles = {name: {**attrs, **({"ram_style": "auto"} if "SIMD" in attrs and name.startswith("MVAU") else {})}
                   for name, attrs in _tie_pools(model, folding).items()}
    folded = apply_folding(model, with_styles, "explore").transform(SetShallowWeightMemoriesDistributed())
    cycles = {node.name: node_cycles(folded, node) for node in hw_nodes(folded)}
    design, _ = plan(folded, fifo_depth=fifo_depth)
    estimate = estimate_design(design.described_instances, family)
    cycles_per_frame = max(1, max(cycles.values()))
    resources = estimate["resources"]
    applied = read_folding(folded)
    return {"key": folding_key(applied), "folding": applied, "cycles_per_frame": cycles_per_frame,
            "fps": clock_mhz * 1e6 / cycles_per_frame, "latency_cycles": sum(cycles.values()),
            "lut": resources["LUT"], "ff": resources["FF"], "bram": resources[BRAM_NAME[family]]}


def pareto_front(points: list[dict], cost: str) -> list[dict]:
    """Points that no other point beats on both ``cost`` (lower) and fps (higher)."""
    ranked = sorted(points, key=lambda p: (p[cost], -p["fps"]))
    front, best_fps = [], -1.0
    for point in ranked:
        if point["fps"] > best_fps:
            front.append(point)
            best_fps = point["fps"]
    return front


def device_capacity(name: str) -> tuple[str, dict[str, int]]:
    """The family and capacity of an ``explore.device`` name (any case)."""
    from hw_bnn.synth import DEVICES, device_family

    found = {key.lower(): key for key in DEVICES}
    key = found.get(name.lower()) or found.get(f"ice40{name.lower()}")
    if key is None:
        raise HwBnnError(f"unknown device {name!r} (explore.device): choose one of {sorted(DEVICES)}")
    return device_family(key), DEVICES[key]


def limits(explore_cfg, family: str) -> dict[str, int]:
    """LUT / FF / block-RAM limits from the device and the budgets (the smaller of the two)."""
    from hw_bnn.resource_model import BRAM_NAME

    caps: dict[str, int] = {}
    if explore_cfg.device:
        _, capacity = device_capacity(explore_cfg.device)
        caps = {"lut": capacity["LUT"], "ff": capacity["FF"], "bram": capacity[BRAM_NAME[family]]}
    for key, budget in (("lut", explore_cfg.max_lut), ("bram", explore_cfg.max_bram)):
        if budget is not None:
            caps[key] = min(caps.get(key, budget), budget)
    return caps


def fitting(points: list[dict], explore_cfg, family: str) -> list[dict]:
    """The points within the device, the budgets and the latency bound."""
    caps = limits(explore_cfg, family)
    return [p for p in points if all(p[key] <= cap for key, cap in caps.items())
            and (explore_cfg.max_latency_cycles is None or p["latency_cycles"] <= explore_cfg.max_latency_cycles)]


def choose(points: list[dict], explore_cfg, family: str) -> dict:
    """The point the constraints pick; a clear error when none meets them."""
    caps = limits(explore_cfg, family)
    fits = fitting(points, explore_cfg, family)
    if not fits:
        smallest = min(points, key=lambda p: p["lut"])
        where = explore_cfg.device or "the budget"
        raise HwBnnError(
            f"no folding fits {where} ({', '.join(f'{k} <= {v:,}' for k, v in caps.items()) or 'no resource limit'}"
            + (f", latency <= {explore_cfg.max_latency_cycles:,} cycles" if explore_cfg.max_latency_cycles else "")
            + f"): the smallest design needs {smallest['lut']:,} LUT, {smallest['ff']:,} FF, {smallest['bram']} "
            f"block RAMs, latency {smallest['latency_cycles']:,} cycles (estimated for {family}); choose a larger "
            f"device, raise explore.max_lut/max_bram, or make the network smaller")
    if explore_cfg.target_fps is None:
        return max(fits, key=lambda p: (p["fps"], -p["lut"]))
    reaching = [p for p in fits if p["fps"] >= explore_cfg.target_fps]
    if not reaching:
        fastest = max(fits, key=lambda p: p["fps"])
        raise HwBnnError(f"no folding that fits reaches explore.target_fps={explore_cfg.target_fps:,.0f}: the "
                         f"fastest that fits gives {fastest['fps']:,.0f} frames/s ({fastest['lut']:,} LUT); lower "
                         f"the target, raise build.clock_mhz, or allow more resources")
    return min(reaching, key=lambda p: (p["lut"], -p["fps"]))


def to_synthesise(points: list[dict], front_count: int, off_count: int, seed: int = 0) -> list[dict]:
    """Points evenly spaced along the front (by fps), and a few random ones off it (``points``: those
    that fit the constraints)."""
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p["fps"])
    if front_count >= len(front):
        picked = front
    elif front_count > 0:
        picked = [front[round(i * (len(front) - 1) / max(1, front_count - 1))] for i in range(front_count)]
    else:
        picked = []
    off = [p for p in points if not p["pareto"]]
    picked += random.Random(seed).sample(off, min(off_count, len(off)))
    unique = {p["key"]: p for p in picked}
    return list(unique.values())


def pack_design(model, point: dict, fifo_depth: int) -> bytes:
    """The point's RTL folder as a gzipped tar: what a worker needs to synthesise it, nothing else."""
    from hw_bnn.compiler import apply_folding
    from hw_bnn.design.stitch import generate_design

    folded = apply_folding(model, point["folding"], f"explore point {point['key']}")
    with tempfile.TemporaryDirectory() as scratch:
        generate_design(folded, Path(scratch) / "rtl", fifo_depth=fifo_depth)
        return pack_files({"rtl": Path(scratch) / "rtl"})


def synthesise_job(job: dict) -> dict:
    """Worker side: unpack the design's RTL, run Yosys for the family, return its counts."""
    from hw_bnn.design.stitch import load_design
    from hw_bnn.resource_model import BRAM_NAME
    from hw_bnn.synth import synthesize

    with tempfile.TemporaryDirectory() as scratch:
        unpack_files(job["rtl"], Path(scratch))
        synth = synthesize(load_design(Path(scratch) / "rtl"), job["family"], scratch)
    resources = synth["resources"]
    return {"key": job["key"], "yosys_lut": resources["LUT"], "yosys_ff": resources["FF"],
            "yosys_bram": resources[BRAM_NAME[job["family"]]], "seconds": synth["seconds"]}


def explore(model, explore_cfg, family: str, clock_mhz: float, fifo_depth: int, out_dir: Path,
            progress: Callable[[str], None] = print) -> tuple[list[dict], dict]:
    """Estimate the candidates, mark the front, choose, synthesise; return the points and the chosen one."""
    import time

    from tqdm import tqdm

    from hw_bnn.resource_model import require_family

    require_family(family)  # before the search, whose candidates would each be refused for it
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    options = folding_options(model)
    foldings = candidate_foldings(options, explore_cfg.max_points)
    points: dict[str, dict] = {}
    rejected: list[str] = []
    for folding in tqdm(foldings, desc="explore: estimate", disable=None):
        try:
            point = evaluate(model, folding, family, clock_mhz, fifo_depth)
        except HwBnnError as exc:  # a combination one of the RTL modules cannot build
            rejected.append(str(exc))
            continue
        points.setdefault(point["key"], point)
    if not points:
        raise HwBnnError(f"explore: none of the {len(foldings)} foldings can be built; the first reason: {rejected[0]}")
    points_list = sorted(points.values(), key=lambda p: p["fps"])
    seconds = time.perf_counter() - start
    progress(f"explore: {len(points_list)} foldings estimated for {family} in {seconds:.1f} s "
             f"({len(points_list) / seconds:,.0f} points/s)"
             + (f"; {len(rejected)} left out that the RTL cannot build, e.g. {rejected[0]}" if rejected else ""))
    front = {p["key"] for p in pareto_front(points_list, "lut")}
    for point in points_list:
        point["pareto"] = point["key"] in front
    chosen = choose(points_list, explore_cfg, family)
    for point in points_list:
        point["chosen"] = point is chosen
    write_text(out_dir / "folding.json", json.dumps(chosen["folding"], indent=2) + "\n")
    # only what fits is worth synthesising: the front within the device and budgets
    picked = to_synthesise(fitting(points_list, explore_cfg, family), explore_cfg.synthesize_front,
                           explore_cfg.synthesize_off_front)
    if chosen["key"] not in {p["key"] for p in picked} and (explore_cfg.synthesize_front or explore_cfg.synthesize_off_front):
        picked.append(chosen)
    if picked:
        jobs = [{"key": p["key"], "family": family, "rtl": pack_design(model, p, fifo_depth)} for p in picked]
        rows = run_sweep(jobs, synthesise_job, out_dir / "synth.csv", SYNTH_COLUMNS, cluster=explore_cfg.cluster,
                         workers=explore_cfg.workers, desc="explore: synthesise")
        for row in rows:
            point = points[row["key"]]
            point.update({k: row[k] for k in ("yosys_lut", "yosys_ff", "yosys_bram")})
            point["lut_error"] = round((point["lut"] - row["yosys_lut"]) / row["yosys_lut"], 4) if row["yosys_lut"] else None
    return points_list, chosen


def write_points(points: list[dict], path: Path) -> None:
    write_csv(path, COLUMNS, points)


def plot_points(points: list[dict], path: Path, family: str) -> None:
    """LUT against frames/s: every estimated point, the estimated front, the synthesised points (Yosys)
    joined to their estimates, and the chosen design."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter([p["lut"] for p in points], [p["fps"] for p in points], s=6, color="0.75",
               label=f"estimated ({len(points)} foldings)")
    front = sorted((p for p in points if p["pareto"]), key=lambda p: p["lut"])
    ax.plot([p["lut"] for p in front], [p["fps"] for p in front], "-", color="tab:blue", label="estimated Pareto front")
    synthesised = [p for p in points if p.get("yosys_lut") is not None]
    for p in synthesised:
        ax.plot([p["lut"], p["yosys_lut"]], [p["fps"], p["fps"]], color="tab:red", linewidth=0.8)
    ax.scatter([p["yosys_lut"] for p in synthesised], [p["fps"] for p in synthesised], marker="x", color="tab:red",
               label=f"Yosys {family} ({len(synthesised)} synthesised)")
    chosen = [p for p in points if p.get("chosen")]
    ax.scatter([p["lut"] for p in chosen], [p["fps"] for p in chosen], marker="*", s=160, color="tab:green",
               zorder=3, label="chosen")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"LUT ({family})")
    ax.set_ylabel("frames/s at the build clock")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
