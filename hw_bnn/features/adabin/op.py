"""QONNX ops of AdaBin's hardware form (seed_methods §5.6), made by hw_bnn.features.adabin.deploy.

Both take a layer's C+1 accumulators along the channel axis: ``acc_x`` of the C output channels
(the XNOR popcount, or the bipolar-weighted sum of integer inputs) and, last, ``acc_a``, the same
layer's all-ones row (the count of the input window, P^a).

* ``AdaBinThreshold`` (a HW node once ``backend`` is ``fpgadataflow``): per channel
  ``L = A*acc_x + B*acc_a``, ``count = [L >= T0] + [L >= T1]``, ``bit = DECODE >> count & 1``
  (``reference.adabin_threshold_reference``); outputs BIPOLAR ±1 or, after XNOR conversion, BINARY 0/1 bits.
  Folding: ``PE`` channels per beat, tied to the PE of the XNOR unit that feeds it.
* ``AdaBinOutput`` (host): the last layer's float output ``acc_x*a + acc_a*b + c`` in float32,
  after the exact integer input affine ``acc * acc_scale + acc_offset``.
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from hw_bnn.cost import BRAM18_BITS, LUT6_ROM_BITS, LUTROM_MAX_WORDS
from hw_bnn.features.adabin.reference import adabin_threshold_reference
from hw_bnn.intwidth import mvau_acc_bounds, signed_width

#: Rough per-lane cost rules of the combine unit, fitted to Yosys synth_xilinx of adabin_threshold.v
#: (docs/hardware/adabin.md): LUTs per bit of L for its adder, two compares and pipeline
#: muxes; multipliers up to the DSP48's 25 x 18 go to DSPs, wider ones cost LUTs per bit pair.
LUTS_PER_LEVEL_BIT = 3
DSP_MULTIPLIER_WIDTHS = (25, 18)
LUTS_PER_MULTIPLIER_BIT_PAIR = 0.55


def _channel_axis(layout: str) -> int:
    return 1 if layout in ("NC", "NCHW") else -1


class _AdaBinBase(CustomOp):
    """Shape handling shared by both ops: C+1 accumulators in, C channels out."""

    def get_nodeattr_types(self):
        return {"data_layout": ("s", False, "NC", {"NC", "NCHW", "NHWC"})}

    def channels(self, model) -> int:
        shape = model.get_tensor_shape(self.onnx_node.input[0])
        return int(shape[_channel_axis(self.get_nodeattr("data_layout"))]) - 1

    def make_shape_compatible_op(self, model):
        shape = list(model.get_tensor_shape(self.onnx_node.input[0]))
        shape[_channel_axis(self.get_nodeattr("data_layout"))] -= 1
        return self.make_const_shape_op(shape)

    def _split(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(acc_x, acc_a) with channels last."""
        moved = np.moveaxis(acc, _channel_axis(self.get_nodeattr("data_layout")), -1)
        return moved[..., :-1], moved[..., -1:]

    def _restore(self, channels_last: np.ndarray) -> np.ndarray:
        return np.moveaxis(channels_last, -1, _channel_axis(self.get_nodeattr("data_layout")))

    def verify_node(self):
        return [] if len(self.onnx_node.input) == 2 else [f"{self.onnx_node.op_type} needs (acc, parameters) inputs"]


class AdaBinThreshold(_AdaBinBase):
    def get_nodeattr_types(self):
        return {
            **super().get_nodeattr_types(),
            "out_dtype": ("s", False, "BIPOLAR", {"BIPOLAR", "BINARY"}),
            # "fpgadataflow" once InferAdaBinThresholdLayer made it a HW node
            "backend": ("s", False, ""),
            "PE": ("i", False, 1),
        }

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("out_dtype")])

    def params(self, model) -> np.ndarray:
        return np.asarray(model.get_initializer(self.onnx_node.input[1])).astype(np.int64)

    def execute_node(self, context, graph):
        acc = np.asarray(context[self.onnx_node.input[0]])
        params = np.asarray(context[self.onnx_node.input[1]]).astype(np.int64)
        acc_x, acc_a = self._split(np.round(acc).astype(np.int64))
        bits = adabin_threshold_reference(acc_x, acc_a, params)
        if self.get_nodeattr("out_dtype") == "BIPOLAR":
            bits = 2 * bits - 1
        context[self.onnx_node.output[0]] = self._restore(bits).astype(np.float32)

    # --- HW node interface (FINN analyses, folding, estimates) ---

    def vectors(self, model) -> int:
        """Output vectors (pixels) per frame."""
        shape = model.get_tensor_shape(self.onnx_node.output[0])
        return int(np.prod(shape)) // self.channels(model)

    def get_exp_cycles_for(self, model) -> int:
        return self.vectors(model) * self.channels(model) // self.get_nodeattr("PE")

    def widths(self, model) -> dict[str, int]:
        """Bit widths of the accumulators (the exact range of the MVAU that makes them, as its RTL
        carries them; FINN annotates a wider type such as UINT32), of A/B, T0/T1 and of L."""
        from qonnx.custom_op.registry import getCustomOp

        mvau = getCustomOp(model.find_producer(self.onnx_node.input[0]))
        in_dt = DataType[mvau.get_nodeattr("inputDataType")]
        acc = signed_width(mvau_acc_bounds(int(mvau.get_nodeattr("MW")), bool(mvau.get_nodeattr("binaryXnorMode")),
                                           int(in_dt.min()), int(in_dt.max())))
        params = self.params(model)
        coef = signed_width(params[:, :2].ravel())
        return {"acc": acc, "coef": coef, "thr": signed_width(params[:, 2:4].ravel()), "level": coef + acc + 1}

    def resource_estimate(self, model) -> dict[str, int]:
        """LUTs and DSPs of the PE lanes: two multipliers (A*acc_x, B*acc_a), their sum, two compares."""
        w = self.widths(model)
        pe = self.get_nodeattr("PE")
        wide, narrow = sorted((w["coef"], w["acc"]), reverse=True)
        in_dsp = wide <= DSP_MULTIPLIER_WIDTHS[0] and narrow <= DSP_MULTIPLIER_WIDTHS[1]
        multiplier_luts = 0 if in_dsp else 2 * LUTS_PER_MULTIPLIER_BIT_PAIR * w["coef"] * w["acc"]
        return {"lut": int(round(pe * (LUTS_PER_LEVEL_BIT * w["level"] + multiplier_luts))),
                "dsp": 2 * pe if in_dsp else 0}

    def param_bits(self, model) -> int:
        w = self.widths(model)
        return self.channels(model) * (2 * w["coef"] + 2 * w["thr"] + 3)

    def hw_estimate(self, model) -> dict[str, int]:
        """Cycles, LUTs and DSPs of the lanes, and the parameter memory (a LUT ROM when shallow, else BRAM18s)."""
        bits = self.param_bits(model)
        in_lut = self.channels(model) // int(self.get_nodeattr("PE")) <= LUTROM_MAX_WORDS
        resources = self.resource_estimate(model)
        return {
            "cycles": int(self.get_exp_cycles_for(model)),
            "lut": resources["lut"] + (bits // LUT6_ROM_BITS if in_lut else 0),
            "bram18": 0 if in_lut else -(-bits // BRAM18_BITS),
            "dsp": resources["dsp"],
        }


class AdaBinOutput(_AdaBinBase):
    def get_nodeattr_types(self):
        return {
            **super().get_nodeattr_types(),
            # exact integer affine on the accumulators before the float combine (2, -K after XNOR conversion)
            "acc_scale": ("i", False, 1),
            "acc_offset": ("i", False, 0),
        }

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["FLOAT32"])

    def execute_node(self, context, graph):
        acc = np.asarray(context[self.onnx_node.input[0]], dtype=np.float32)
        acc = acc * np.float32(self.get_nodeattr("acc_scale")) + np.float32(self.get_nodeattr("acc_offset"))
        coefficients = np.asarray(context[self.onnx_node.input[1]], dtype=np.float32)
        acc_x, acc_a = self._split(acc)
        out = acc_x * coefficients[0] + acc_a * coefficients[1] + coefficients[2]
        context[self.onnx_node.output[0]] = self._restore(out).astype(np.float32)

