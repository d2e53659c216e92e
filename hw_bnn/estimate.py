"""Analytical estimates of a folded HW graph: resources, cycles, throughput, latency.

One protocol per node: FINN's analyses for FINN's nodes, ``hw_estimate(model)`` (cycles, lut, bram18, dsp
and extras) for hw_bnn's own ops.
"""

from __future__ import annotations

from pathlib import Path

import hw_bnn.finn_env  # noqa: F401
from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
from finn.analysis.fpgadataflow.res_estimation import res_estimation
from finn.util.fpgadataflow import is_fpgadataflow_node
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.compiler import specialize
from hw_bnn.graph import has_count_row, hw_nodes, is_hw_bnn_node
from hw_bnn.io import atomic_path


def estimate(hw_graph: ModelWrapper, part: str, clock_mhz: float) -> dict:
    """The ``estimate`` section of report.json for ``hw_graph`` (generic HW nodes) on ``part``.

    FINN only estimates specialised (``*_hls``/``*_rtl``) nodes, so this runs on a
    specialised copy; layer names are those of the generic graph the user sees.
    Latency is FINN's pessimistic critical path: the sum of layer cycles.
    """
    special = specialize(hw_graph, part)
    cycles = special.analysis(exp_cycles_per_layer)
    resources = special.analysis(lambda m: res_estimation(m, part))
    special_hw = iter([n for n in special.graph.node if is_fpgadataflow_node(n)])
    layers = []
    for generic in hw_nodes(hw_graph):
        if is_hw_bnn_node(generic):  # hw_bnn's own ops estimate themselves (hw_estimate); FINN has no model of them
            inst = getCustomOp(generic)
            layers.append({"name": generic.name, "op": generic.op_type, "pe": int(inst.get_nodeattr("PE")),
                           "simd": 1, **inst.hw_estimate(hw_graph)})
            continue
        node = next(special_hw)
        inst = getCustomOp(node)
        attrs = inst.get_nodeattr_types()
        res = resources[node.name]
        layers.append({
            "name": generic.name,
            "op": node.op_type,
            "pe": int(inst.get_nodeattr("PE")) if "PE" in attrs else 1,
            "simd": int(inst.get_nodeattr("SIMD")) if "SIMD" in attrs else 1,
            "cycles": int(cycles[node.name]),
            "lut": int(round(res["LUT"])),
            "bram18": int(res["BRAM_18K"]),
            "dsp": int(res["DSP"]),
        })
        if has_count_row(hw_graph, generic):
            # the count lane: one more PE lane of the same adder tree (FINN's estimate per lane)
            layers[-1]["lut"] += int(round(layers[-1]["lut"] / layers[-1]["pe"]))
            layers[-1]["count_lane"] = True
    buffers = [layer for layer in layers if layer["op"] == "FrameBuffer"]
    hypers = [layer for layer in layers if layer["op"] == "FrameHyperFunction"]
    bottleneck = max(layers, key=lambda layer: layer["cycles"])
    cycles_per_frame = max(1, bottleneck["cycles"])
    return {
        "part": part,
        "clock_mhz": float(clock_mhz),
        "cycles_per_frame": cycles_per_frame,
        "latency_cycles": sum(layer["cycles"] for layer in layers),
        "fps": clock_mhz * 1e6 / cycles_per_frame,
        "bottleneck": bottleneck["name"],
        "lut": sum(layer["lut"] for layer in layers),
        "bram18": sum(layer["bram18"] for layer in layers),
        "dsp": sum(layer["dsp"] for layer in layers),
        "layers": layers,
        **({"per_frame_thresholds": {
            "layers": len(buffers),
            "frame_buffer_bits": sum(layer["memory_bits"] for layer in buffers),
            # each dynamic layer holds a whole frame, then waits for its hyper-function
            "added_latency_cycles": sum(layer["cycles"] for layer in buffers) +
            sum(layer["compute_cycles"] for layer in hypers),
        }} if buffers else {}),
    }


def plot_estimate(est: dict, path: str | Path) -> None:
    """Bar plots of cycles and LUTs per layer, the bottleneck highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [layer["name"] for layer in est["layers"]]
    colours = ["tab:red" if name == est["bottleneck"] else "tab:blue" for name in names]
    fig, (ax_cycles, ax_lut) = plt.subplots(2, 1, figsize=(max(6, 0.6 * len(names)), 6), sharex=True)
    ax_cycles.bar(names, [layer["cycles"] for layer in est["layers"]], color=colours)
    ax_cycles.set_ylabel("cycles / frame")
    ax_cycles.set_title(f"FINN estimate, {est['part']} at {est['clock_mhz']:g} MHz\n"
                        f"{est['fps']:,.0f} frames/s, bottleneck {est['bottleneck']} (red)", fontsize=10)
    ours = (est.get("hw_bnn") or {}).get("xc7")
    if ours:  # FINN's LUTs beside ours for the same family, layer by layer
        x = range(len(names))
        ax_lut.bar([i - 0.2 for i in x], [layer["lut"] for layer in est["layers"]], 0.4, color=colours,
                   label="FINN estimate")
        ax_lut.bar([i + 0.2 for i in x], [ours["layers"].get(name, {}).get("LUT", 0) for name in names], 0.4,
                   color="tab:gray", label="hw_bnn estimate (xc7, calibrated on Yosys)")
        ax_lut.legend(fontsize=7)
    else:
        ax_lut.bar(names, [layer["lut"] for layer in est["layers"]], color=colours)
    ax_lut.set_ylabel("LUT")
    ax_lut.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=100)
    plt.close(fig)
