"""QONNX ops of per-sample (per-frame) thresholds, made by hw_bnn.features.dynamic_threshold.deploy (semantics:
``hw_bnn.features.dynamic_threshold.reference``).

* ``DynamicThreshold`` (host form, as exported): a binary layer's integer map ``acc`` -> bits, with the
  integer hyper-function parameters as inputs. ``InferDynamicThresholdLayer`` replaces it, once an
  MVAU produces ``acc``, by a linear chain of four HW nodes that stream one frame at a time:

* ``GlobalPoolAccumulator``: passes the frame through and appends the per-channel sums, (N, P+1, C).
* ``FrameHyperFunction``: replaces the sums row by the frame's thresholds, (N, P+1, C). In hardware the
  thresholds are computed while the next frame passes, and are tagged into the stream.
* ``FrameBuffer``: holds the map until its thresholds arrive and sends them first, (N, 1+P, C);
  double-buffered (two frames), so the pooling of the next frame overlaps.
* ``FrameThreshold``: the bits, [SIGN[c] * acc >= T[c]], (N, *spatial, C).

A multi-level layer (a table of K thresholds per entry: DyBNN's per-sample RPReLU on the residual stream,
whose output is a multi-bit code) ends in ``FrameMultiThreshold`` instead: the hyper-function sends each
channel's table index, and the last node holds the table, looks up the frame's K thresholds per channel
and emits out_bias + #{k : acc >= T[c, k]}.

P is the number of pixels of a frame (1 for a fully connected layer). The HW nodes carry every value
of their stream in ``streamDataType`` (wide enough for sums and thresholds); ``PE`` channels per beat,
tied to the PE of the MVAU that feeds the chain. ``FrameHyperFunction`` computes with ``MACS``
parallel multiply-accumulate lanes.
"""

from __future__ import annotations

import math

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from hw_bnn.features.dynamic_threshold.reference import (HYPER_PARAMS, dynamic_threshold, frame_threshold,
                                                         hyper_function, pool_sums, table_rows, threshold_outputs)
from hw_bnn.cost import memory_cost
from hw_bnn.intwidth import signed_width

#: Payload capacity of the frame buffer, in frames (double buffering).
FRAME_BUFFER_FRAMES = 2


class DynamicThreshold(CustomOp):
    """acc (N, C[, H, W] or N, [H, W,] C) + integer parameters -> bits: ``reference.dynamic_threshold``; with
    a 3-D table (K thresholds per entry), the codes out_bias + count (``out_dtype`` an integer type)."""

    def get_nodeattr_types(self):
        return {
            "data_layout": ("s", False, "NC", {"NC", "NCHW", "NHWC"}),
            "pool_offset": ("i", True, 0),
            "out_dtype": ("s", False, "BIPOLAR"),
            "out_bias": ("f", False, 0.0),
        }

    def _channels_last(self, acc: np.ndarray) -> np.ndarray:
        return np.moveaxis(acc, 1, -1) if self.get_nodeattr("data_layout") in ("NC", "NCHW") else acc

    def params(self, source) -> dict:
        """The integer parameters by name, from a model (initializers) or an execution context."""
        names = (*HYPER_PARAMS, "sign")
        get = source.get_initializer if hasattr(source, "get_initializer") else source.__getitem__
        return {name: np.asarray(get(self.onnx_node.input[1 + i])).astype(np.int64) for i, name in enumerate(names)}

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op(model.get_tensor_shape(self.onnx_node.input[0]))

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("out_dtype")])

    def execute_node(self, context, graph):
        acc = np.round(np.asarray(context[self.onnx_node.input[0]])).astype(np.int64)
        counts = dynamic_threshold(self._channels_last(acc), self.params(context), self.get_nodeattr("pool_offset"))
        out = threshold_outputs(counts, self.get_nodeattr("out_dtype"), self.get_nodeattr("out_bias"))
        if self.get_nodeattr("data_layout") in ("NC", "NCHW"):
            out = np.moveaxis(out, -1, 1)
        context[self.onnx_node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        want = 2 + len(HYPER_PARAMS)
        got = len(self.onnx_node.input)
        problems = [] if got == want else [f"DynamicThreshold needs {want} inputs (acc, {', '.join(HYPER_PARAMS)}, "
                                           f"sign), has {got}"]
        out_dtype = self.get_nodeattr("out_dtype")
        if out_dtype not in DataType.get_accumulator_dt_cands() + ["BIPOLAR", "BINARY"]:
            problems.append(f"DynamicThreshold out_dtype {out_dtype} is not BIPOLAR, BINARY or an integer type")
        return problems


class _FrameStreamNode(CustomOp):
    """Attributes and stream shapes shared by the four HW nodes of a dynamic layer."""

    def get_nodeattr_types(self):
        return {
            "backend": ("s", False, "fpgadataflow"),
            "NumChannels": ("i", True, 0),
            "PE": ("i", False, 1),
            #: spatial dims of the layer's map, e.g. [H, W]; [] for a fully connected layer
            "spatial": ("ints", False, []),
            #: exact datatype of the acc values (the MVAU's accumulator range)
            "accDataType": ("s", True, ""),
            #: datatype of every element of the sums/threshold stream
            "streamDataType": ("s", True, ""),
        }

    @property
    def channels(self) -> int:
        return int(self.get_nodeattr("NumChannels"))

    @property
    def pixels(self) -> int:
        return int(np.prod(self.get_nodeattr("spatial"))) if self.get_nodeattr("spatial") else 1

    def folds(self) -> int:
        """Beats per pixel (C / PE)."""
        return self.channels // int(self.get_nodeattr("PE"))

    def framed_shape(self) -> list[int]:
        return [1, self.pixels + 1, self.channels]

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op(self.framed_shape())

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("streamDataType")])

    def stream_bits(self) -> int:
        return DataType[self.get_nodeattr("streamDataType")].bitwidth()

    def get_exp_cycles_for(self, model) -> int:
        """One beat per cycle over the frame and its side row."""
        return (self.pixels + 1) * self.folds()

    def _framed(self, context) -> np.ndarray:
        x = np.round(np.asarray(context[self.onnx_node.input[0]])).astype(np.int64)
        return x.reshape(x.shape[0], -1, self.channels)

    def verify_node(self):
        return []


class GlobalPoolAccumulator(_FrameStreamNode):
    def execute_node(self, context, graph):
        acc = self._framed(context)
        out = np.concatenate([acc, pool_sums(acc)[:, None, :]], axis=1)
        context[self.onnx_node.output[0]] = out.astype(np.float32)

    def hw_estimate(self, model) -> dict[str, int]:
        """PE adders of the sum width, the C running sums (LUT RAM or registers), the output mux."""
        width = self.stream_bits()
        pe = int(self.get_nodeattr("PE"))
        sums = memory_cost(self.folds(), pe * width)
        return {"cycles": self.get_exp_cycles_for(model), "lut": 2 * pe * width + sums["lut"],
                "bram18": sums["bram18"], "dsp": 0}


class FrameHyperFunction(_FrameStreamNode):
    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), "pool_offset": ("i", True, 0), "MACS": ("i", False, 1)}

    def params(self, source) -> dict:
        get = source.get_initializer if hasattr(source, "get_initializer") else source.__getitem__
        return {name: np.asarray(get(self.onnx_node.input[1 + i])).astype(np.int64)
                for i, name in enumerate(HYPER_PARAMS)}

    def execute_node(self, context, graph):
        framed = self._framed(context)
        params = self.params(context)
        thresholds = hyper_function(framed[:, -1, :], *(params[k] for k in HYPER_PARAMS[:2]),
                                    self.get_nodeattr("pool_offset"), *(params[k] for k in HYPER_PARAMS[2:]))
        out = np.concatenate([framed[:, :-1, :], thresholds[:, None, :]], axis=1)
        context[self.onnx_node.output[0]] = out.astype(np.float32)

    def sizes(self, model) -> dict[str, int]:
        """J hidden units, I output rows, HEADS, NP/NH/NO thresholds per row, L table entries."""
        p = self.params(model)
        return {"J": p["w1"].shape[0], "I": p["w2"].shape[0], "HEADS": p["w2"].shape[0] // self.channels,
                "NP": p["pool_thresholds"].shape[1], "NH": p["hidden_thresholds"].shape[1],
                "NO": p["output_thresholds"].shape[1], "L": p["table"].shape[1]}

    def widths(self, model) -> dict[str, int]:
        """Exact bit widths of every integer the unit computes (from its parameters' ranges)."""
        p = self.params(model)
        offset = self.get_nodeattr("pool_offset")
        n_pool = p["pool_thresholds"].shape[1]
        pooled = [offset, offset + n_pool]
        max_p = max(abs(v) for v in pooled)
        a1 = int(np.abs(p["w1"]).sum(axis=1).max()) * max_p
        n_hidden = p["hidden_thresholds"].shape[1]
        a2 = int(np.abs(p["w2"]).sum(axis=1).max()) * n_hidden
        return {"W": self.stream_bits(), "P_W": signed_width(pooled),
                "WT_W": signed_width([*p["w1"].ravel(), *p["w2"].ravel(), 1]),
                "A1_W": signed_width([-a1 - 1, a1 + 1]), "H_W": max(1, n_hidden.bit_length()),
                "A2_W": signed_width([-a2 - 1, a2 + 1])}

    def compute_cycles(self, model) -> int:
        """Cycles from the last sums beat to the last threshold beat (hyper_function.v's header)."""
        s, c = self.sizes(model), self.channels
        macs = int(self.get_nodeattr("MACS"))
        # sums in, layer 1 and its thresholds, layer 2 and its codes, the table (a channel per cycle), out
        return self.folds() + math.ceil(s["J"] / macs) * (c + 1) + math.ceil(s["I"] / macs) * (s["J"] + 1) + \
            c + 2 + self.folds() + 2

    def get_exp_cycles_for(self, model) -> int:
        """Per frame: the stream passes at one beat per cycle while the previous frame's thresholds are
        computed; the unit is the bottleneck only when the computation is longer than the frame."""
        return max(super().get_exp_cycles_for(model) + self.folds(), self.compute_cycles(model))

    def rtl_params(self, model) -> dict[str, int]:
        """The integer parameters of hyper_function.v for this node (C, PE, J, HEADS, NP, NH, NO, MACS, widths)."""
        s = self.sizes(model)
        return {"C": self.channels, "PE": int(self.get_nodeattr("PE")), "J": s["J"], "HEADS": s["HEADS"],
                "NP": s["NP"], "NH": s["NH"], "NO": s["NO"], "MACS": int(self.get_nodeattr("MACS")),
                **self.widths(model)}

    def hw_estimate(self, model) -> dict[str, int]:
        return {"cycles": self.get_exp_cycles_for(model), **hyper_estimate(self.rtl_params(model)), "dsp": 0,
                "compute_cycles": self.compute_cycles(model), "macs": int(self.get_nodeattr("MACS"))}


def hyper_estimate(p: dict[str, int]) -> dict[str, int]:
    """LUTs and BRAM18s of hyper_function.v with parameters ``p`` (its parameter names): MACS
    multiply-accumulators, the pool and output comparators, the parameter ROMs, and the pooled values,
    hidden values, codes and thresholds in LUT RAM with the lane multiplexers of their reads."""
    c, pe, macs, heads = p["C"], p["PE"], p["MACS"], p["HEADS"]
    folds, i_rows = c // pe, heads * c
    j_blocks, i_blocks = math.ceil(p["J"] / macs), math.ceil(i_rows / macs)
    table = (p["NO"] + 1) ** heads
    code_w = max(1, p["NO"].bit_length())
    mac_luts = macs * (0.6 * p["WT_W"] * max(p["P_W"], p["H_W"]) + max(p["A1_W"], p["A2_W"]) * 2)
    compare_luts = pe * p["NP"] * (p["W"] + 1) / 2 + macs * max(p["NH"], p["NO"]) * max(p["A1_W"], p["A2_W"]) / 2
    # one value of a word read per cycle: a lanes-to-1 multiplexer per bit (a LUT6 selects among 4)
    select_luts = (pe * p["P_W"] + macs * p["H_W"] + heads * macs * code_w) / 4
    memories = [memory_cost(folds, pe * p["NP"] * (p["W"] + 1)),
                # the two layers' weights, read one cycle ahead at a clock edge
                memory_cost(j_blocks * c, macs * p["WT_W"]), memory_cost(i_blocks * p["J"], macs * p["WT_W"]),
                memory_cost(folds * table, pe * p["W"]),
                # the written memories (synthesis copies the codes once per head, one read port each)
                memory_cost(folds, pe * p["P_W"]), memory_cost(j_blocks, macs * p["H_W"]),
                *[memory_cost(i_blocks, macs * code_w)] * heads, memory_cost(folds, pe * p["W"])]
    return {"lut": int(round(mac_luts + compare_luts + select_luts)) + sum(m["lut"] for m in memories),
            "bram18": sum(m["bram18"] for m in memories)}


class FrameBuffer(_FrameStreamNode):
    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), "frames": ("i", False, FRAME_BUFFER_FRAMES)}

    def execute_node(self, context, graph):
        framed = self._framed(context)
        context[self.onnx_node.output[0]] = np.concatenate([framed[:, -1:, :], framed[:, :-1, :]], axis=1) \
            .astype(np.float32)

    def get_exp_cycles_for(self, model) -> int:
        """One beat per cycle, and one idle cycle per frame (frame_buffer.v's header)."""
        return super().get_exp_cycles_for(model) + 1

    def memory_bits(self) -> int:
        """Payload storage: ``frames`` whole maps at the acc width (plus two side rows)."""
        acc_bits = DataType[self.get_nodeattr("accDataType")].bitwidth()
        return self.get_nodeattr("frames") * self.pixels * self.channels * acc_bits + \
            2 * self.channels * self.stream_bits()

    def hw_estimate(self, model) -> dict[str, int]:
        acc_bits = DataType[self.get_nodeattr("accDataType")].bitwidth()
        pe = int(self.get_nodeattr("PE"))
        payload = memory_cost(self.get_nodeattr("frames") * self.pixels * self.folds(), pe * acc_bits)
        side = memory_cost(2 * self.folds(), pe * self.stream_bits())
        return {"cycles": self.get_exp_cycles_for(model), "lut": 60 + payload["lut"] + side["lut"] +
                pe * self.stream_bits(), "bram18": payload["bram18"] + side["bram18"], "dsp": 0,
                "memory_bits": self.memory_bits()}


class FrameThreshold(_FrameStreamNode):
    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), "out_dtype": ("s", False, "BINARY", {"BIPOLAR", "BINARY"})}

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op([1, *self.get_nodeattr("spatial"), self.channels])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("out_dtype")])

    def execute_node(self, context, graph):
        framed = self._framed(context)
        sign = np.asarray(context[self.onnx_node.input[1]]).astype(np.int64)
        bits = threshold_outputs(frame_threshold(framed[:, 1:, :], framed[:, 0, :], sign),
                                 self.get_nodeattr("out_dtype"))
        shape = (framed.shape[0], *self.get_nodeattr("spatial"), self.channels)
        context[self.onnx_node.output[0]] = bits.reshape(shape).astype(np.float32)

    def hw_estimate(self, model) -> dict[str, int]:
        pe = int(self.get_nodeattr("PE"))
        thresholds = memory_cost(self.folds(), pe * self.stream_bits())
        return {"cycles": self.get_exp_cycles_for(model),
                "lut": pe * (self.stream_bits() + 1) + thresholds["lut"] + 20, "bram18": thresholds["bram18"],
                "dsp": 0}


class FrameMultiThreshold(_FrameStreamNode):
    """The last node of a multi-level dynamic layer: the side row holds each channel's table index (from a
    hyper-function whose table is the identity), and the node holds the table of K thresholds per entry
    (input 1, (C, L, K)): out_bias + #{k : acc >= TABLE[c, index[c], k]} (frame_multi_threshold.v)."""

    def get_nodeattr_types(self):
        return {**super().get_nodeattr_types(), "out_dtype": ("s", True, ""), "out_bias": ("i", False, 0)}

    def make_shape_compatible_op(self, model):
        return self.make_const_shape_op([1, *self.get_nodeattr("spatial"), self.channels])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("out_dtype")])

    def table(self, source) -> np.ndarray:
        get = source.get_initializer if hasattr(source, "get_initializer") else source.__getitem__
        return np.asarray(get(self.onnx_node.input[1])).astype(np.int64)

    def execute_node(self, context, graph):
        framed = self._framed(context)
        thresholds = table_rows(self.table(context), framed[:, 0, :])
        counts = frame_threshold(framed[:, 1:, :], thresholds, np.ones(self.channels, dtype=np.int64))
        shape = (framed.shape[0], *self.get_nodeattr("spatial"), self.channels)
        out = threshold_outputs(counts, self.get_nodeattr("out_dtype"), self.get_nodeattr("out_bias"))
        context[self.onnx_node.output[0]] = out.reshape(shape).astype(np.float32)

    def threshold_bits(self, model) -> int:
        return signed_width(self.table(model).ravel().tolist() + [0])

    def rtl_params(self, model) -> dict[str, int]:
        """frame_multi_threshold.v's parameters but the stream width W."""
        _, entries, levels = self.table(model).shape
        return {"C": self.channels, "PE": int(self.get_nodeattr("PE")), "PIXELS": self.pixels, "L": entries,
                "N_THR": levels, "THR_W": self.threshold_bits(model), "ACT_BIAS": int(self.get_nodeattr("out_bias")),
                "OUT_W": DataType[self.get_nodeattr("out_dtype")].bitwidth()}

    def hw_estimate(self, model) -> dict[str, int]:
        """The table (NF words of PE*L*K thresholds), each lane's L:1 multiplexer of K thresholds, the K
        comparators per lane and the frame's thresholds (NF words of PE*K)."""
        p = self.rtl_params(model)
        pe, entry = p["PE"], p["N_THR"] * p["THR_W"]
        table = memory_cost(self.folds(), pe * p["L"] * entry)
        selected = memory_cost(self.folds(), pe * entry)
        compare = pe * p["N_THR"] * (max(self.stream_bits(), p["THR_W"]) + 1) // 2
        select = pe * entry * (p["L"] - 1) // 3  # a LUT6 holds a 4:1 multiplexer; a tree of them, L:1
        return {"cycles": self.get_exp_cycles_for(model), "lut": compare + select + table["lut"] + selected["lut"] + 20,
                "bram18": table["bram18"] + selected["bram18"], "dsp": 0}


#: The HW nodes of one dynamic layer, in stream order (a multi-level layer ends in FrameMultiThreshold).
FRAMED_STREAM_OPS = ("GlobalPoolAccumulator", "FrameHyperFunction", "FrameBuffer", "FrameThreshold",
                     "FrameMultiThreshold")
