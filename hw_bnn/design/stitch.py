"""Generate the stitched RTL of a whole HW graph: one top module, the graph's streams.

The graph may fork (DuplicateStreams) and join (ElementwiseAdd of two streams), as residual
networks do. Between two nodes the stream passes a width converter where the producer's PE and
the consumer's SIMD differ, and a FIFO that decouples their handshakes (every FIFO has a
registered ready, so no combinational path runs through the design); the FIFO on a shortcut
branch is where a fork/join buffers the frame part the other branch still holds. The top has one
input and one output AXI-Stream port and a ``stream_beats`` port with a beat counter per
stream, which the simulator's stall watchdog reads to name the stream that stopped.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from hw_bnn.errors import HwBnnError
from hw_bnn.io import atomic_path, read_json, write_json, write_text
from hw_bnn.features.residual.fifo_sizing import residual_fifo_depths
from hw_bnn.graph import hw_nodes
from hw_bnn.design.emitters import emit_nodes
from hw_bnn.rtl.streams import Link, RtlNode, Stream, lcm_width
from hw_bnn.rtl.verilator import rtl_source, with_submodules

TOP = "hw_bnn_top"
#: The design's description in its folder: nodes, instances and streams (:func:`load_design` reads it back).
DESIGN_FILE = "design.json"
#: The HW graph with the stitcher's FIFOs and width converters as nodes (:func:`stitched_graph`).
STITCHED_GRAPH_FILE = "stitched_hw_graph.onnx"
#: Beat counter width of the stall watchdog.
COUNTER_BITS = 32


@dataclass
class Instance:
    """One module instance: its ports (name prefix, e.g. ``s_axis``) wired to numbered streams."""

    name: str
    module: str
    params: dict
    inputs: dict[str, int]
    outputs: dict[str, int]


@dataclass
class Design:
    """A generated design: its HW nodes (graph order), the folder holding its files, its instances and
    the width of every stream (stream 0 is the top's input, ``output_stream`` the top's output)."""

    nodes: list[RtlNode]
    folder: Path | None  # None: planned only (``plan``), nothing written
    instances: list[Instance] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    output_stream: int = 0
    #: stream feeding each node's first input port, by node name (the watchdog counts them)
    node_outputs: dict[str, int] = field(default_factory=dict)
    #: depth of the FIFOs the design's links have unless planned deeper (``generate_design``'s fifo_depth)
    fifo_depth: int | None = None
    #: the instances the stitcher put on each link between two nodes (width converters, then the FIFO),
    #: by ``Link.name``, in stream order
    link_instances: dict[str, list[str]] = field(default_factory=dict)

    @property
    def fifos(self) -> dict[str, Instance]:
        """The FIFO on each link, by ``Link.name``, in the order of the top's ``fifo_peaks`` port."""
        by_name = {inst.name: inst for inst in self.instances}
        return {link: by_name[name] for link, names in self.link_instances.items() for name in names
                if by_name[name].module == "stream_fifo"}

    @property
    def peak_bits(self) -> int:
        """Width of each FIFO's field in the top's ``fifo_peaks`` port: the widest FIFO's ``count``."""
        return max((_count_bits(inst) for inst in self.fifos.values()), default=1)

    @property
    def modules(self) -> list[str]:
        """The hls/rtl modules the design uses: the instantiated ones and their submodules."""
        return sorted(with_submodules(inst.module for inst in self.instances))

    @property
    def sources(self) -> list[Path]:
        return [self.folder / f"{module}.v" for module in self.modules] + [self.folder / f"{TOP}.v"]

    @property
    def described_instances(self) -> list[dict]:
        """Every instance as ``{"name", "module", "params"}``, its parameters without the memory-file names:
        what synthesis reports per instance and the resource model estimates from."""
        return [{"name": inst.name, "module": inst.module,
                 "params": {name: value for name, value in inst.params.items() if not name.endswith("FILE")}}
                for inst in self.instances]

    @property
    def counted_streams(self) -> list[str]:
        """Names of the streams the watchdog counts: the input, then each node's (first) output."""
        return ["input"] + [f"{node.name} output" for node in self.nodes]

    def expected_beats(self, frames: int) -> list[int]:
        return [self.nodes[0].inp.beats * frames] + [node.out.beats * frames for node in self.nodes]

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in self.sources:
            h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:16]


def graph_links(model: ModelWrapper, nodes: list) -> list[Link]:
    """The streams between ``nodes`` (HW nodes of ``model``): one per dynamic input of each node, plus
    the top's output. A tensor no node of the set produces is the top's input; there must be one."""
    names = {node.name for node in nodes}
    links, top_inputs = [], set()
    for node in nodes:
        dynamic = [t for t in node.input if model.get_initializer(t) is None]
        for port, tensor in enumerate(dynamic):
            producer = model.find_producer(tensor)
            if producer is None or producer.name not in names:
                top_inputs.add(tensor)
                links.append(Link(None, 0, node.name, port))
            else:
                links.append(Link(producer.name, list(producer.output).index(tensor), node.name, port))
    consumed = {(link.producer, link.out_port) for link in links}
    outputs = [(node.name, i) for node in nodes for i in range(len(node.output)) if (node.name, i) not in consumed]
    if len(top_inputs) != 1 or len(outputs) != 1:
        raise HwBnnError(f"the HW nodes {sorted(names)[:6]}... have {len(top_inputs)} input and {len(outputs)} "
                         f"output streams; a design has one of each (is a DuplicateStreams output unused?)")
    return links + [Link(outputs[0][0], outputs[0][1], None, 0)]


def _converters(link: str, in_width: int, out_width: int) -> list[tuple[str, dict, int]]:
    """Width converters (name, params, output width) from ``in_width`` to ``out_width`` (via their LCM
    when neither divides the other)."""
    if in_width == out_width:
        return []
    if in_width % out_width == 0 or out_width % in_width == 0:
        return [(f"u_dwc_{link}", dict(IN_W=in_width, OUT_W=out_width), out_width)]
    mid = lcm_width(in_width, out_width)
    return _converters(f"{link}_up", in_width, mid) + _converters(f"{link}_down", mid, out_width)


def plan_design(design: Design, links: list[Link], fifo_depths: dict[str, int], default_depth: int) -> None:
    """Fill ``design`` with instances and streams: each node, and on each link between two nodes its width
    converters and a FIFO (depth ``fifo_depths[link.name]``, else ``default_depth``)."""
    by_name = {node.name: node for node in design.nodes}
    widths: list[int] = []

    def new_stream(width: int) -> int:
        widths.append(width)
        return len(widths) - 1

    node_in: dict[tuple[str, int], int] = {}
    node_out: dict[tuple[str, int], int] = {}
    instances: list[Instance] = []
    for link in links:
        if link.producer is None:
            consumer = by_name[link.consumer]
            node_in[(link.consumer, link.in_port)] = new_stream(consumer.input_streams[link.in_port].width)
            continue
        producer = by_name[link.producer]
        source = producer.output_streams[link.out_port]
        stream = node_out[(link.producer, link.out_port)] = new_stream(source.width)
        if link.consumer is None:
            design.output_stream = stream
            continue
        sink = by_name[link.consumer].input_streams[link.in_port]
        if source.elem_bits != sink.elem_bits:
            raise HwBnnError(f"stream {link.producer} -> {link.consumer}: {source.elem_bits}-bit elements feed "
                             f"{sink.elem_bits}-bit inputs; the graph's datatypes disagree")
        on_link = []
        for name, params, out_width in _converters(link.name, source.width, sink.width):
            nxt = new_stream(out_width)
            on_link.append(Instance(name, "width_converter", params, {"s_axis": stream}, {"m_axis": nxt}))
            stream = nxt
        nxt = new_stream(sink.width)
        depth = fifo_depths.get(link.name, default_depth)
        on_link.append(Instance(f"u_fifo_{link.name}", "stream_fifo", dict(WIDTH=sink.width, DEPTH=depth),
                                {"s_axis": stream}, {"m_axis": nxt}))
        instances += on_link
        design.link_instances[link.name] = [inst.name for inst in on_link]
        node_in[(link.consumer, link.in_port)] = nxt
    for node in design.nodes:
        instances.append(Instance(
            f"u_{node.name}", node.module, node.verilog_params(),
            {port: node_in[(node.name, i)] for i, port in enumerate(node.in_ports)},
            {port: node_out[(node.name, i)] for i, port in enumerate(node.out_ports)}))
        design.node_outputs[node.name] = node_out[(node.name, 0)]
    design.instances, design.widths = instances, widths


def _param_list(params: dict) -> str:
    def value(v):
        return f'"{v}"' if isinstance(v, str) else str(int(v))
    return ",\n".join(f"        .{k}({value(v)})" for k, v in params.items())


def _count_bits(fifo: Instance) -> int:
    """Width of a stream_fifo's ``count`` port: $clog2(DEPTH + 1)."""
    return max(1, fifo.params["DEPTH"].bit_length())


def top_verilog(design: Design) -> str:
    """The top module: every instance, the stream wires, and the watchdog's beat counters."""
    nodes, widths, out = design.nodes, design.widths, design.output_stream
    n_counters = len(nodes) + 1
    fifos, peak_bits = list(design.fifos.values()), design.peak_bits
    lines = [
        "// Generated by hw_bnn (hw_bnn.design.stitch) from a FINN HW graph: do not edit.",
        "// Streams: element 0 in the LSBs of a beat (FINN packing); nodes in graph order:",
        *[f"//   {node.name}: {node.module}, in {node.inp.elems}x{node.inp.elem_bits} bit, "
          f"out {node.out.elems}x{node.out.elem_bits} bit, {node.inp.beats}/{node.out.beats} beats per frame"
          for node in nodes],
        "`resetall", "`timescale 1ns / 1ps", "`default_nettype none", "",
        f"module {TOP} (",
        "    input  wire clk,",
        "    input  wire rst_n,",
        f"    input  wire [{widths[0] - 1}:0] s_axis_tdata,",
        "    input  wire s_axis_tvalid,",
        "    output wire s_axis_tready,",
        f"    output wire [{widths[out] - 1}:0] m_axis_tdata,",
        "    output wire m_axis_tvalid,",
        "    input  wire m_axis_tready",
        "`ifndef SYNTHESIS",
        "    // simulation only: beats seen on the input and on each node's output (stall watchdog)",
        f"    , output wire [{n_counters * COUNTER_BITS - 1}:0] stream_beats",
        "    // simulation only: the highest occupancy each FIFO reached (FIFO sizing by simulation)",
        f"    , output wire [{max(1, len(fifos)) * peak_bits - 1}:0] fifo_peaks",
        "`endif",
        ");", "",
    ]
    for k, width in enumerate(widths):
        lines += [f"wire [{width - 1}:0] s{k}_tdata;", f"wire s{k}_tvalid;", f"wire s{k}_tready;"]
    lines += ["assign s0_tdata = s_axis_tdata;", "assign s0_tvalid = s_axis_tvalid;",
              "assign s_axis_tready = s0_tready;",
              f"assign m_axis_tdata = s{out}_tdata;", f"assign m_axis_tvalid = s{out}_tvalid;",
              f"assign s{out}_tready = m_axis_tready;", ""]
    for inst in design.instances:
        ports = []
        for prefix, k in inst.inputs.items():
            ports += [f"        .{prefix}_tdata(s{k}_tdata)", f"        .{prefix}_tvalid(s{k}_tvalid)",
                      f"        .{prefix}_tready(s{k}_tready)"]
        for prefix, k in inst.outputs.items():
            ports += [f"        .{prefix}_tdata(s{k}_tdata)", f"        .{prefix}_tvalid(s{k}_tvalid)",
                      f"        .{prefix}_tready(s{k}_tready)"]
        if inst.module == "stream_fifo":
            lines += ["/* verilator lint_off UNUSEDSIGNAL */",
                      f"wire [{_count_bits(inst) - 1}:0] {inst.name}_count;  // occupancy (fifo_peaks)",
                      "/* verilator lint_on UNUSEDSIGNAL */"]
            ports.append(f"        .count({inst.name}_count)")
        lines += [f"{inst.module} #(", _param_list(inst.params), f") {inst.name} (",
                  "        .clk(clk),", "        .rst_n(rst_n),", ",\n".join(ports), ");", ""]
    counted = [0] + [design.node_outputs[node.name] for node in nodes]
    lines.append("`ifndef SYNTHESIS")
    lines.append(f"reg [{COUNTER_BITS - 1}:0] beats [0:{n_counters - 1}];")
    lines.append("always @(posedge clk) begin")
    lines.append("    if (!rst_n) begin")
    lines += [f"        beats[{i}] <= {COUNTER_BITS}'d0;" for i in range(n_counters)]
    lines.append("    end else begin")
    lines += [f"        if (s{k}_tvalid && s{k}_tready) beats[{i}] <= beats[{i}] + {COUNTER_BITS}'d1;"
              for i, k in enumerate(counted)]
    lines += ["    end", "end"]
    lines += [f"assign stream_beats[{(i + 1) * COUNTER_BITS - 1}:{i * COUNTER_BITS}] = beats[{i}];"
              for i in range(n_counters)]
    lines.append(f"reg [{peak_bits - 1}:0] peak [0:{max(1, len(fifos)) - 1}];")
    lines.append("always @(posedge clk) begin")
    lines.append("    if (!rst_n) begin")
    lines += [f"        peak[{i}] <= {peak_bits}'d0;" for i in range(max(1, len(fifos)))]
    lines.append("    end else begin")
    for i, inst in enumerate(fifos):
        pad = peak_bits - _count_bits(inst)
        count = f"{{{{{pad}{{1'b0}}}}, {inst.name}_count}}" if pad else f"{inst.name}_count"
        lines.append(f"        if ({count} > peak[{i}]) peak[{i}] <= {count};")
    lines += ["    end", "end"]
    lines += [f"assign fifo_peaks[{(i + 1) * peak_bits - 1}:{i * peak_bits}] = peak[{i}];"
              for i in range(max(1, len(fifos)))]
    lines += ["`endif", "", "endmodule", "", "`resetall", ""]
    return "\n".join(lines)


#: FINN's op types for what the stitcher puts on a link, in the graph view of a design.
LINK_OPS = {"stream_fifo": "StreamingFIFO", "width_converter": "StreamingDataWidthConverter"}


def stitched_graph(hw_graph: ModelWrapper, design: Design, links: list[Link]) -> ModelWrapper:
    """A copy of ``hw_graph`` with the design's width converters and FIFOs on its links, as FINN's
    ``StreamingDataWidthConverter`` / ``StreamingFIFO`` nodes (``inWidth``/``outWidth``, ``depth``): the
    stitched design to inspect, e.g. in Netron. It describes the RTL; the RTL is not generated from it."""
    view = ModelWrapper(hw_graph.model.__deepcopy__())
    graph = view.graph
    by_name = {node.name: node for node in graph.node}
    instances = {inst.name: inst for inst in design.instances}
    for link in links:
        if link.producer is None or link.consumer is None:
            continue
        consumer = by_name[link.consumer]
        dynamic = [i for i, tensor in enumerate(consumer.input) if view.get_initializer(tensor) is None]
        port = dynamic[link.in_port]
        tensor = consumer.input[port]
        shape, dtype = view.get_tensor_shape(tensor), view.get_tensor_datatype(tensor)
        for name in design.link_instances[link.name]:
            inst = instances[name]
            attrs = (dict(depth=inst.params["DEPTH"]) if inst.module == "stream_fifo"
                     else dict(inWidth=inst.params["IN_W"], outWidth=inst.params["OUT_W"]))
            out = view.make_new_valueinfo_name()
            graph.value_info.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, shape))
            view.set_tensor_datatype(out, dtype)
            node = helper.make_node(LINK_OPS[inst.module], [consumer.input[port]], [out], name=name.removeprefix("u_"),
                                    domain="finn.custom_op.fpgadataflow", backend="fpgadataflow",
                                    dataType=dtype.name, **attrs)
            graph.node.insert(list(graph.node).index(consumer), node)
            consumer.input[port] = out
    return view


def planned_fifo_depths(hw_graph: ModelWrapper, rtl_nodes: list[RtlNode], fifo_depth: int) -> dict[str, int]:
    """The FIFO depth of every link that needs more than ``fifo_depth`` beats (the shortcuts of residual
    sums: ``hw_bnn.features.residual.fifo_sizing``), by ``Link.name``; the others get ``fifo_depth``."""
    return {link: max(depth, fifo_depth) for link, depth in residual_fifo_depths(hw_graph, rtl_nodes).items()}


def plan(hw_graph: ModelWrapper, folder: Path | None = None, fifo_depth: int = 32, nodes: list | None = None,
         fifo_depths: dict[str, int] | None = None) -> tuple[Design, list[Link]]:
    """The design of ``hw_graph`` (its nodes, FIFOs and width converters with their parameters) without
    writing anything: what :func:`generate_design` writes, and what the resource model estimates."""
    graph_nodes = nodes if nodes is not None else hw_nodes(hw_graph)
    rtl_nodes = emit_nodes(hw_graph, graph_nodes)
    if fifo_depths is None:
        fifo_depths = planned_fifo_depths(hw_graph, rtl_nodes, fifo_depth) if nodes is None else {}
    design = Design(rtl_nodes, folder, fifo_depth=fifo_depth)
    links = graph_links(hw_graph, graph_nodes)
    plan_design(design, links, fifo_depths, fifo_depth)
    return design, links


def generate_design(hw_graph: ModelWrapper, folder: str | Path, fifo_depth: int = 32,
                    nodes: list | None = None, fifo_depths: dict[str, int] | None = None) -> Design:
    """Write the top, the module sources and the memory files for ``hw_graph`` into ``folder``.

    ``nodes`` restricts the design to a part of the graph's HW nodes with one input and one output
    stream (used to simulate one layer alone when locating a mismatch). Every link gets a FIFO of
    ``fifo_depth`` beats unless ``fifo_depths`` names it (``Link.name``); by default the shortcut links of
    residual sums get the depth ``hw_bnn.features.residual.fifo_sizing`` computes (never less than ``fifo_depth``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    design, links = plan(hw_graph, folder, fifo_depth, nodes, fifo_depths)
    rtl_nodes = design.nodes
    for module in design.modules:
        shutil.copyfile(rtl_source(module), folder / f"{module}.v")
    for node in rtl_nodes:
        node.write_mem_files(folder)
    write_text(folder / f"{TOP}.v", top_verilog(design))
    write_json(folder / DESIGN_FILE, {
        "top": TOP,
        "fifo_depth": fifo_depth,
        "nodes": [{"name": n.name, "module": n.module, "params": n.verilog_params(), "module_params": n.params,
                   "in": vars(n.inp), "out": vars(n.out), "side_in": vars(n.side_inp) if n.side_inp else None,
                   "in_ports": list(n.in_ports), "out_ports": list(n.out_ports)} for n in rtl_nodes],
        # each instance with its streams (ids into "stream_widths") and its first input/output width
        "instances": [{**vars(inst), "in_width": design.widths[next(iter(inst.inputs.values()))],
                       "out_width": design.widths[next(iter(inst.outputs.values()))]} for inst in design.instances],
        "stream_widths": design.widths,
        "output_stream": design.output_stream,
        "node_outputs": design.node_outputs,
        "link_instances": design.link_instances,
    })
    if nodes is None:
        with atomic_path(folder / STITCHED_GRAPH_FILE) as tmp:
            stitched_graph(hw_graph, design, links).save(str(tmp))
    return design


def load_design(folder: str | Path) -> Design:
    """The design :func:`generate_design` wrote into ``folder`` (its files are used as they are there)."""
    folder = Path(folder)
    fix = "run 'hw-bnn build' again (it writes the RTL)"
    saved = read_json(folder / DESIGN_FILE, fix)
    missing = [key for key in ("nodes", "instances", "stream_widths", "output_stream", "node_outputs")
               if key not in saved]
    if missing:
        raise HwBnnError(f"{folder / DESIGN_FILE} lacks {', '.join(missing)} (written by an older hw_bnn?); {fix}")
    nodes = [RtlNode(n["name"], n["module"], n["module_params"], Stream(**n["in"]), Stream(**n["out"]),
                     in_ports=tuple(n["in_ports"]), out_ports=tuple(n["out_ports"]),
                     side_inp=Stream(**n["side_in"]) if n["side_in"] else None) for n in saved["nodes"]]
    instances = [Instance(i["name"], i["module"], i["params"], i["inputs"], i["outputs"]) for i in saved["instances"]]
    return Design(nodes, folder, instances, saved["stream_widths"], saved["output_stream"], saved["node_outputs"],
                  saved.get("fifo_depth"), saved.get("link_instances", {}))
