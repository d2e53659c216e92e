"""The vocabulary of the RTL backend: a stream (:class:`Stream`), a HW node as an instance of an
hls/rtl module (:class:`RtlNode`), and a link between two nodes (:class:`Link`). Emitters
(``hw_bnn.rtl.finn_emit``, each feature's ``emit``) make RtlNodes; the stitcher wires them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from qonnx.core.datatype import DataType


@dataclass
class Stream:
    """One side of a node: ``elems`` elements of ``elem_bits`` per beat, ``beats`` per frame."""

    elems: int
    elem_bits: int
    beats: int
    signed: bool = False
    bipolar: bool = False
    #: AdaBin accumulators of this many channels (0: none): each beat holds ``elems - 1`` channels and,
    #: in the last lane, the count of the vector; the tensor is (channels..., count) per vector
    #: (``hw_bnn.design.sim.to_count_lane_beats``).
    count_lane_channels: int = 0
    #: 1 when the beat carries a tag bit above its elements (the per-frame threshold beats that
    #: hyper_function.v inserts between payload beats; see hw_bnn.features.dynamic_threshold.op)
    tag: int = 0

    @property
    def width(self) -> int:
        return self.elems * self.elem_bits + self.tag


@dataclass
class RtlNode:
    """A HW node as an instance of an ``hls/rtl`` module."""

    name: str
    module: str
    params: dict[str, int]
    inp: Stream
    out: Stream
    #: Verilog parameter -> (memory file name, function writing it to a path)
    mem_files: dict[str, tuple[str, Callable[[Path], None]]] = field(default_factory=dict)
    #: The module's stream ports (name prefixes), in the order of the node's dynamic inputs / outputs.
    in_ports: tuple[str, ...] = ("s_axis",)
    out_ports: tuple[str, ...] = ("m_axis",)
    #: The second input's stream (a residual sum); every output port carries ``out``.
    side_inp: Stream | None = None

    @property
    def input_streams(self) -> list[Stream]:
        return [self.inp] + ([self.side_inp] if self.side_inp else [])

    @property
    def output_streams(self) -> list[Stream]:
        return [self.out] * len(self.out_ports)

    @property
    def cycles_per_frame(self) -> int:
        """Cycles the module is busy per frame at its full rate: its busiest stream, or for a folded matrix
        unit SF x NF cycles per vector (it reads a vector once and computes NF passes on it)."""
        beats = max(stream.beats for stream in self.input_streams + self.output_streams)
        if self.module == "mvau":
            return max(beats, self.inp.beats * self.params["MH"] // self.params["PE"])
        return beats

    def write_mem_files(self, folder: Path) -> None:
        for file_name, write in self.mem_files.values():
            write(folder / file_name)

    def verilog_params(self) -> dict[str, int | str]:
        return {**self.params, **{param: file_name for param, (file_name, _) in self.mem_files.items()}}


@dataclass(frozen=True)
class Link:
    """A stream from a node's output port to a node's input port (None: the top's input / output)."""

    producer: str | None
    out_port: int
    consumer: str | None
    in_port: int

    @property
    def name(self) -> str:
        port = f"_in{self.in_port}" if self.in_port else ""
        return f"{self.producer or 'input'}_to_{self.consumer or 'output'}{port}"


def node_dtype(inst, attr: str) -> DataType:
    """The QONNX datatype a node attribute names (e.g. ``inputDataType``)."""
    return DataType[inst.get_nodeattr(attr)]


def stream_of(elems: int, dtype: DataType, beats: int) -> Stream:
    """A stream of ``elems`` elements of ``dtype`` per beat, ``beats`` per frame."""
    return Stream(elems, dtype.bitwidth(), beats, signed=dtype.signed() and dtype != DataType["BIPOLAR"],
                  bipolar=dtype == DataType["BIPOLAR"])


def pixel_stream(shape, dtype: DataType, pe: int) -> Stream:
    """A channel-last tensor of ``shape`` streamed PE channels per beat."""
    return stream_of(pe, dtype, int(np.prod(shape)) // pe)


def vectors_per_frame(inst) -> int:
    """Vectors per frame (numInputVectors, e.g. [1, OH, OW] for a conv layer: OH*OW)."""
    return int(np.prod(inst.get_nodeattr("numInputVectors")))


def lcm_width(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)
