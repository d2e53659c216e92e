"""Human-readable views of report.json: a terminal summary table and report.md."""

from __future__ import annotations

from pathlib import Path

from hw_bnn.io import write_text

STAGE_ORDER = ("pytorch", "qonnx", "finn", "rtl")


def _fmt_acc(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _fmt_exact(stage: str, bit_exact: dict, host_tail: dict) -> str:
    if stage == "pytorch":
        return "(reference)"
    value = bit_exact.get(stage)
    if value is None:
        return "not run"
    if not value and host_tail.get(stage):
        return (f"integers yes; host float tail rounded (max difference "
                f"{host_tail[stage]['max_abs_diff']:.2g}), top-1 yes")
    return "yes" if value else "NO"


def _rate_kind(sim: dict) -> str:
    """What the measured cycles per image are: the design's steady state, or the stalls' rate."""
    stalls = sim.get("backpressure") or {}
    if stalls.get("note"):
        return (f"under back-pressure (input valid {stalls['input_valid_probability']:g}, output ready "
                f"{stalls['output_ready_probability']:g}, seed {stalls['stall_seed']}: the stalls' rate)")
    return "in steady state"


def summary_lines(report: dict) -> list[str]:
    """The summary as plain text lines (used for the terminal and report.md)."""
    lines = [f"{report.get('model')} / {report.get('method')} on {report.get('dataset')}, "
             f"{report.get('n_test', '?')} test images"]
    accuracy, bit_exact = report.get("accuracy", {}), report.get("bit_exact", {})
    lines.append(f"{'stage':<10}{'accuracy':>12}  bit-exact vs PyTorch")
    for stage in STAGE_ORDER:
        lines.append(f"{stage:<10}{_fmt_acc(accuracy.get(stage)):>12}  "
                     f"{_fmt_exact(stage, bit_exact, report.get('host_tail') or {})}")
    sim = report.get("rtl_sim")
    if sim:
        ratio = sim.get("ii_over_estimate")
        lines.append("")
        lines.append(f"RTL simulation (Verilator) of {sim['images']} images: {sim['ii_cycles']:.0f} cycles/image "
                     f"{_rate_kind(sim)}" + (f" ({ratio:.3f} x FINN's estimate, bottleneck {sim['estimate_bottleneck']})"
                                             if ratio else "")
                     + f", latency {sim['latency_cycles']} cycles, {sim['sim_cycles_per_s'] / 1e6:.1f} M simulated cycles/s")
    sizing = report.get("fifo_sizing")
    if sizing:
        fixed, sized = sizing["memory"]["fixed"], sizing["memory"]["sized"]
        lines.append(f"FIFOs sized by simulation on {sizing['images']} images in {sizing['seconds']:.0f} s: "
                     f"{sum(sizing['depths'].values()):,} beats in all against {sum(sizing['fixed_depths'].values()):,} "
                     f"fixed ({fixed['bits']:,} -> {sized['bits']:,} bits; LUT-RAM {fixed['lut']} -> {sized['lut']} LUT, "
                     f"{fixed['bram18']} -> {sized['bram18']} BRAM18), {sizing['sized_ii_cycles']:.0f} cycles/frame "
                     f"(deep FIFOs: {sizing['probe_ii_cycles']:.0f})"
                     + (f"; under back-pressure {stalled['sized_ii_cycles']:.0f} (deep FIFOs: {stalled['probe_ii_cycles']:.0f})"
                        if (stalled := sizing.get("backpressure")) else ""))
    synth = report.get("synth")
    if synth:
        lines.append("")
        total = ", ".join(f"{v} {k}" for k, v in synth["resources"].items() if v)
        lines.append(f"Yosys synthesis for {synth['family']} ({synth['device']}): {total}")
        if synth.get("fmax_mhz"):
            lines.append(f"nextpnr: Fmax {synth['fmax_mhz']:.1f} MHz (constraint {synth['clock_constraint_mhz']:g} MHz)"
                         + (f", {synth['fps_at_fmax']:,.0f} frames/s at Fmax" if synth.get("fps_at_fmax") else ""))
        board = synth.get("board")
        if board:
            used = ", ".join(f"{v:g}% {k}" for k, v in board["utilisation_pct"].items() if v)
            lines.append(f"bitstream for {board['name']} ({board['device']}, {board['clock_mhz']:g} MHz, UART "
                         f"{board['baud']} baud): {board['bitstream']}; {used}"
                         + (f"; latency {board['latency_us']:.2f} us" if board.get("latency_us") else ""))
            lines.append(f"load it with: {board['load_command']}")
    est = report.get("estimate")
    if est:
        lines.append("")
        lines.append(f"FINN estimate on {est['part']} at {est['clock_mhz']:g} MHz: {est['cycles_per_frame']} "
                     f"cycles/frame (bottleneck {est['bottleneck']}), {est['fps']:,.0f} frames/s, "
                     f"latency {est['latency_cycles']} cycles")
        lines.append(f"resources: {est['lut']} LUT, {est['bram18']} BRAM18, {est['dsp']} DSP")
        for family, ours in (est.get("hw_bnn") or {}).items():
            lines.append(f"hw_bnn estimate for {family} (calibrated on Yosys): " + ", ".join(
                f"{value} {name}" for name, value in ours["resources"].items()))
        dynamic = est.get("per_frame_thresholds")
        if dynamic:
            lines.append(f"per-frame thresholds: {dynamic['layers']} layers, frame buffers {dynamic['frame_buffer_bits']:,} "
                         f"bits, about {dynamic['added_latency_cycles']:,} cycles of added latency")
        target = est.get("target_cycles_per_frame")
        if target is not None and est["cycles_per_frame"] > target:
            lines.append(f"note: the folding target of {target} cycles/frame was not reached; "
                         f"{est['bottleneck']} could not fold further (FINN SetFolding: MVAU weights per PE <= 36 bits, "
                         f"SIMD <= input channels)")
        lines.append(f"{'layer':<32}{'op':<32}{'PE':>5}{'SIMD':>6}{'cycles':>9}{'LUT':>8}{'BRAM18':>8}")
        for layer in est["layers"]:
            lines.append(f"{layer['name']:<32}{layer['op']:<32}{layer['pe']:>5}{layer['simd']:>6}"
                         f"{layer['cycles']:>9}{layer['lut']:>8}{layer['bram18']:>8}")
    return lines


def write_markdown(report: dict, path: str | Path) -> None:
    """report.md: the summary table plus the per-layer estimate as Markdown tables."""
    accuracy, bit_exact = report.get("accuracy", {}), report.get("bit_exact", {})
    md = [f"# {report.get('model')} / {report.get('method')} on {report.get('dataset')}", "",
          f"{report.get('n_test', '?')} test images.", "",
          "| stage | accuracy | bit-exact vs PyTorch |", "|---|---:|---|"]
    md += [f"| {s} | {_fmt_acc(accuracy.get(s))} | {_fmt_exact(s, bit_exact, report.get('host_tail') or {})} |"
           for s in STAGE_ORDER]
    sim = report.get("rtl_sim")
    if sim:
        md += ["", "## RTL simulation (Verilator)", "",
               f"- {sim['images']} images, {sim['ii_cycles']:.0f} cycles/image {_rate_kind(sim)}"
               + (f" ({sim['ii_over_estimate']:.3f} x FINN's estimate)" if sim.get("ii_over_estimate") else ""),
               f"- latency {sim['latency_cycles']} cycles (first input beat to last output beat)",
               f"- {sim['sim_cycles_per_s'] / 1e6:.1f} M simulated cycles/s, {sim['images_per_s']:,.0f} images/s"]
    synth = report.get("synth")
    if synth:
        keys = list(synth["resources"])
        md += ["", f"## Yosys synthesis ({synth['family']}, {synth['device']})", "",
               "| layer | " + " | ".join(keys) + " | FINN estimate LUT |", "|---|" + "---:|" * (len(keys) + 1)]
        md += [f"| {x['name']} | " + " | ".join(str(x["resources"][k]) for k in keys)
               + f" | {x.get('finn_estimate_lut', '-')} |" for x in synth["layers"]]
        md += ["| FIFOs, width converters | " + " | ".join(str(synth["interconnect"][k]) for k in keys) + " | |",
               "| **total** | " + " | ".join(f"**{synth['resources'][k]}**" for k in keys) + " | |"]
    est = report.get("estimate")
    if est:
        md += ["", f"## FINN estimate ({est['part']}, {est['clock_mhz']:g} MHz)", "",
               f"- {est['cycles_per_frame']} cycles/frame, bottleneck `{est['bottleneck']}`",
               f"- {est['fps']:,.0f} frames/s, latency {est['latency_cycles']} cycles",
               f"- {est['lut']} LUT, {est['bram18']} BRAM18, {est['dsp']} DSP",
               *([f"- per-frame thresholds: {d['layers']} layers, frame buffers {d['frame_buffer_bits']:,} bits, "
                  f"about {d['added_latency_cycles']:,} cycles of added latency"]
                 if (d := est.get("per_frame_thresholds")) else []), "",
               "![cycles and LUT per layer](estimate.png)", "",
               "| layer | op | PE | SIMD | cycles | LUT | BRAM18 |", "|---|---|---:|---:|---:|---:|---:|"]
        md += [f"| {x['name']} | {x['op']} | {x['pe']} | {x['simd']} | {x['cycles']} | {x['lut']} | {x['bram18']} |"
               for x in est["layers"]]
        for family, ours in (est.get("hw_bnn") or {}).items():
            keys = list(ours["resources"])
            md += ["", f"## hw_bnn estimate ({family}, calibrated on Yosys)", "",
                   "| layer | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
            md += [f"| {name} | " + " | ".join(str(layer[k]) for k in keys) + " |" for name, layer in ours["layers"].items()]
            md += ["| FIFOs, width converters | " + " | ".join(str(ours["interconnect"][k]) for k in keys) + " |",
                   "| **total** | " + " | ".join(f"**{ours['resources'][k]}**" for k in keys) + " |"]
    write_text(path, "\n".join(md) + "\n")
