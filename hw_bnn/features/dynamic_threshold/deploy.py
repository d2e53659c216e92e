"""The hardware form of per-sample thresholds (SD-BNN's squeeze-excitation ASD, DyBNN): every
``binary layer -> BatchNorm -> dynamic block -> sign`` becomes ``binary layer -> DynamicThreshold``,
the integer unit of ``hw_bnn.features.dynamic_threshold.reference`` (seed_methods §2.7, §3.5).

The binary layer outputs the integer map ``acc`` (the ±1 dot products D). Everything after it is a
function of ``acc`` and of the frame's pooled sums S = sum_p acc[p]:

- BatchNorm is the affine x = a*acc + b per channel, so GAP(x) = a*S/P + b (P pixels per frame), and
  the hyper-function's quantised pooled input round(GAP(x)/s) is a step function of the integer S:
  one threshold on S per level (``pool_thresholds``; ``pool_sign`` -1 where a < 0).
- Each later step of the quantisation-aware hyper-function is exact integer arithmetic, because
  every scale is a power of two: the weights' integer codes, the hidden ReLU as thresholds on
  the integer accumulator (ties follow round-half-to-even exactly), and the sigmoid/tanh levels as
  thresholds on the second accumulator.
- The sign after the block is one threshold on ``acc`` per channel, which depends on the frame
  only through the hyper-function's level codes: ``table`` holds it for every combination.

Thresholds on float quantities (BatchNorm, sigmoid/tanh) are computed in float64, as FINN derives
its thresholds from BatchNorm; the deployment form computes with the integers, so it is the model
the hardware equals bit for bit, and the export stage reports the float model's agreement with it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from torch import nn

from hw_bnn.features.dynamic_threshold.reference import HYPER_PARAMS, dynamic_threshold, threshold_outputs
from hw_bnn.errors import HwBnnError
from hw_bnn.methods.dybnn import DynamicActivation
from hw_bnn.methods.hyper import HyperFunction, power_of_two_exponent
from hw_bnn.methods.layers import replace_children
from hw_bnn.methods.sdbnn import SqueezeExcitationShift

#: Largest magnitude of a pixel input (the flow feeds UINT8 pixels to a first layer).
PIXEL_MAX = 255


def _f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _bn_affine(bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    scale = _f64(bn.weight) / np.sqrt(_f64(bn.running_var) + bn.eps)
    return scale, _f64(bn.bias) - _f64(bn.running_mean) * scale


def threshold_on_acc(a: np.ndarray, b: np.ndarray, theta: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer (sign, T) per entry with [a*acc + b >= theta] == [sign*acc >= T] for every integer acc in
    [-reach, reach]; a, b broadcast against theta (channels first). Constant channels (a = 0) get a T
    outside the reachable range."""
    a, b, theta = np.broadcast_arrays(a, b, theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = (theta - b) / a
        up = np.ceil(bound)
        down = -np.floor(bound)
    thresholds = np.where(a > 0, up, np.where(a < 0, down, np.where(b >= theta, -reach - 1, reach + 1)))
    thresholds = np.clip(np.nan_to_num(thresholds, posinf=reach + 1, neginf=-reach - 1), -reach - 1, reach + 1)
    sign = np.where(a < 0, -1, 1)
    return sign.astype(np.int64), thresholds.astype(np.int64)


def _scale(quant_module, what: str) -> int:
    return power_of_two_exponent(quant_module.act_quant.scale(), what)


def _hidden_thresholds(exponent: int, levels: int) -> list[int]:
    """Integer thresholds on a1 for h = clamp(round_half_even(a1 * 2^-exponent), 0, levels - 1)."""
    reach = levels << max(exponent, 0)  # beyond every boundary: no threshold is clipped
    _, thresholds = _pool_thresholds(np.ones(1), np.zeros(1), 1, exponent, range(1, levels), reach)
    return thresholds[0].tolist()


def _pool_thresholds(a: np.ndarray, b: np.ndarray, pixels: int, exponent: int, levels: range,
                     reach: int) -> tuple[np.ndarray, np.ndarray]:
    """(sign (C,), T (C, len(levels))) with [round_half_even((a*S/P + b) / 2^exponent) >= m] == [sign*S >= T]
    for every integer pooled sum S in [-reach, reach], computed with exact rationals (also the hidden
    ReLU's rounding, ``_hidden_thresholds``).

    The level reaches m when the pooled value u exceeds m - 1/2, and at exactly m - 1/2 only for an even m
    (round half to even, as PyTorch). Such ties are reachable when a and b are powers of two (a binarizer on
    a residual stream code sees x = code * 2^-k), so the bound is exact, not float."""
    sign = np.where(a < 0, -1, 1).astype(np.int64)
    thresholds = np.empty((len(a), len(levels)), dtype=np.int64)
    for c, (scale, offset) in enumerate(zip(a.tolist(), b.tolist())):
        for j, m in enumerate(levels):
            boundary = (Fraction(2 * m - 1, 2) * Fraction(2) ** exponent - Fraction(offset)) * pixels
            tie_reaches = m % 2 == 0
            if scale == 0:
                reached = 0 > boundary or (0 == boundary and tie_reaches)
                thresholds[c, j] = -reach - 1 if reached else reach + 1
                continue
            bound = boundary / Fraction(scale) * sign[c]  # sign*S against it
            exact = bound.denominator == 1
            thresholds[c, j] = int(bound) if exact and tie_reaches else math.floor(bound) + 1 if exact \
                else math.ceil(bound)
    return sign, np.clip(thresholds, -reach - 1, reach + 1)


def hyper_params(hyper: HyperFunction, a: np.ndarray, b: np.ndarray, pixels: int, reach: int, name: str) -> dict:
    """The integer hyper-function of ``hyper`` on pooled sums of an acc map with BatchNorm (a, b) and
    ``pixels`` pixels per frame: a dict keyed by HYPER_PARAMS[:-1] plus ``pool_offset``."""
    if not hyper.quantized:
        raise HwBnnError(f"layer '{name}': {type(hyper).__name__} is float; set method_options.hyper_bits")
    bits = hyper.bits
    pool_exp = _scale(hyper.pool_quant, f"layer '{name}' pooled-input quantizer")
    hidden_exp = _scale(hyper.hidden_act, f"layer '{name}' hidden ReLU quantizer")
    w1, w2 = hyper.squeeze.quant_weight(), hyper.expand.quant_weight()
    w1_exp = power_of_two_exponent(w1.scale, f"layer '{name}' first FC weights")
    w2_exp = power_of_two_exponent(w2.scale, f"layer '{name}' second FC weights")
    qmin, qmax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pool_sign, pool_thresholds = _pool_thresholds(a, b, pixels, pool_exp, range(qmin + 1, qmax + 1), pixels * reach)
    w1_int = w1.int().detach().numpy().astype(np.int64)
    w2_int = w2.int().detach().numpy().astype(np.int64)
    hidden = _hidden_thresholds(hidden_exp - w1_exp - pool_exp, 1 << bits)
    # output level >= m  <=>  z >= z_m (z > z_m where a tie rounds down), z = a2 * 2^(w2_exp + hidden_exp)
    boundaries, tie_reaches = hyper.output.level_boundaries()
    out_bounds = boundaries / 2.0 ** (w2_exp + hidden_exp)
    out_thresholds = np.where((boundaries == 0) & ~tie_reaches, 1, np.ceil(out_bounds)).astype(np.int64)
    return {
        "pool_sign": pool_sign,
        "pool_thresholds": pool_thresholds,
        "pool_offset": qmin,
        "w1": w1_int,
        "hidden_thresholds": np.tile(np.array(hidden, dtype=np.int64), (w1_int.shape[0], 1)),
        "w2": w2_int,
        "output_thresholds": np.tile(out_thresholds, (w2_int.shape[0], 1)),
    }


def _se_table(block: SqueezeExcitationShift, a, b, reach) -> tuple[np.ndarray, np.ndarray]:
    """bit = [x + g_k >= 0], x = a*acc + b, for each sigmoid level g_k."""
    g = block.excitation.output.level_values()
    return threshold_on_acc(a[:, None], b[:, None], -g[None, :], reach)


def _dybnn_table(block: DynamicActivation, a, b, reach) -> tuple[np.ndarray, np.ndarray]:
    """bit = [PReLU(x - gamma') + zeta' - alpha' >= 0] for every (gamma, zeta, alpha) level combination
    (without the RPReLU, bit = [x - alpha' >= 0] per alpha level).

    The slope w is >= 0 (``RPReLU.slope``), so PReLU(u) >= t is one-sided in u: u >= t for
    t > 0; u >= t / w for t < 0 and w > 0; and always for t <= 0 otherwise (the PReLU is >= t everywhere)."""
    values = block.dynamic.output.level_values()
    alpha = _f64(block.static_threshold)[:, None] + values[None, :]
    if block.rprelu is None:
        return threshold_on_acc(a[:, None], b[:, None], alpha, reach)
    alpha = alpha[:, None, None, :]
    gamma = _f64(block.rprelu.input_shift)[:, None, None, None] + values[None, :, None, None]
    zeta = _f64(block.rprelu.output_shift)[:, None, None, None] + values[None, None, :, None]
    slope = np.broadcast_to(_f64(block.rprelu.slope()), a.shape)[:, None, None, None]
    t = alpha - zeta  # PReLU(u) >= t, u = x - gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        u0 = np.where(t > 0, t, np.where(slope > 0, t / slope, -np.inf))
    theta = (gamma + u0).reshape(a.shape[0], -1)
    return threshold_on_acc(a[:, None], b[:, None], theta, reach)


class DynamicThresholdDeploy(nn.Module):
    """``acc`` (N, C[, H, W]) -> ±1 bits, exactly ``reference.dynamic_threshold``; with a table of K thresholds
    per entry (C, L, K), the codes ``out_bias + count`` of ``out_dtype`` instead. Exports as
    ``hw_bnn.custom_op::DynamicThreshold`` with the integer parameters as inputs (HYPER_PARAMS, sign)."""

    maps_to_thresholds = True

    def __init__(self, params: dict, out_dtype: str = "BIPOLAR", out_bias: int = 0):
        super().__init__()
        self.pool_offset = int(params["pool_offset"])
        self.out_dtype, self.out_bias = out_dtype, int(out_bias)
        for key in (*HYPER_PARAMS, "sign"):
            self.register_buffer(key, torch.as_tensor(np.asarray(params[key], dtype=np.int64)))

    def params(self) -> dict:
        return {key: getattr(self, key).numpy() for key in (*HYPER_PARAMS, "sign")}

    def forward(self, acc: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting():
            inputs = (acc, *(getattr(self, key) for key in (*HYPER_PARAMS, "sign")))
            return torch.onnx.ops.symbolic(
                "hw_bnn.custom_op::DynamicThreshold", inputs,
                attrs={"data_layout": "NCHW" if acc.dim() == 4 else "NC", "pool_offset": self.pool_offset,
                       "out_dtype": self.out_dtype, "out_bias": float(self.out_bias)},
                dtype=acc.dtype, shape=acc.shape, version=1)
        moved = acc.detach().movedim(1, -1).to(torch.int64).numpy()
        counts = dynamic_threshold(moved, self.params(), self.pool_offset)
        out = threshold_outputs(counts, self.out_dtype, self.out_bias)
        return torch.from_numpy(out).to(acc.dtype).movedim(-1, 1)


#: The per-sample blocks: their hyper-function, and their threshold table on acc per level combination.
DYNAMIC_BLOCKS = {
    SqueezeExcitationShift: (lambda block: block.excitation, _se_table),
    DynamicActivation: (lambda block: block.dynamic, _dybnn_table),
}


def dynamic_threshold_unit(block: nn.Module, a: np.ndarray, b: np.ndarray, pixels: int, reach: int,
                      name: str) -> DynamicThresholdDeploy:
    """The integer unit of a per-sample ``block`` (a type in DYNAMIC_BLOCKS) on integer inputs v in
    [-reach, reach] that it sees as x = a*v + b per channel, ``pixels`` of them per frame."""
    hyper, table = DYNAMIC_BLOCKS[type(block)]
    params = hyper_params(hyper(block), a, b, pixels, reach, name)
    sign, params["table"] = table(block, a, b, reach)
    params["sign"] = sign[:, 0]
    return DynamicThresholdDeploy(params)


def dynamic_block(block: nn.Module) -> nn.Module | None:
    """The per-sample block inside an activation block, if it holds one."""
    parts = list(block.children()) if isinstance(block, nn.Sequential) else [block]
    found = [p for p in parts if type(p) in DYNAMIC_BLOCKS]
    return found[0] if found else None


def has_layers(model: nn.Module) -> bool:
    """True when ``model`` holds a per-sample threshold block (SD-BNN's squeeze-excitation, DyBNN's)."""
    return any(type(m) in DYNAMIC_BLOCKS for m in model.modules())


def pixels_seen(model: nn.Module, input_shape: tuple[int, ...], modules: list[nn.Module]) -> dict[int, int]:
    """id(module) -> pixels of the map each of ``modules`` takes as input (1 for a vector), from one
    forward pass of zeros."""
    pixels: dict[int, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args: pixels.__setitem__(id(mod), int(np.prod(args[0].shape[2:]))))
             for m in modules]
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return pixels


def to_hardware_form(model: nn.Module, input_shape: tuple[int, ...] | None) -> nn.Module:
    """Rewrite, in place, every ``binary layer, BatchNorm, dynamic block`` run of an eval-mode model's
    Sequentials into ``binary layer, DynamicThresholdDeploy`` (see module doc). The pooled thresholds
    depend on each map's pixel count, so this needs ``input_shape`` (C, H, W)."""
    if input_shape is None:
        raise HwBnnError("the model has per-sample threshold layers: deployable() needs the input_shape (C, H, W)")
    pixels = pixels_seen(model, input_shape, [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d,
                                                                                        nn.BatchNorm2d))])
    input_is_sign = False
    for module_name, module in list(model.named_modules()):
        if isinstance(module, QuantIdentity):
            input_is_sign = True
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        rebuilt: list[nn.Module] = []
        index = 0
        while index < len(children):
            name, child = children[index]
            rebuilt.append(child)
            index += 1
            if not isinstance(child, (QuantLinear, QuantConv2d)) or index + 1 >= len(children):
                continue
            bn, block = children[index][1], children[index + 1][1]
            dynamic = dynamic_block(block)
            if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) or dynamic is None:
                continue
            full_name = f"{module_name}.{children[index + 1][0]}" if module_name else children[index + 1][0]
            fan_in = child.weight[0].numel()
            reach = fan_in * (1 if input_is_sign else PIXEL_MAX)
            a, b = _bn_affine(bn)
            rebuilt.append(dynamic_threshold_unit(dynamic, a, b, pixels[id(bn)], reach, full_name))
            index += 2
            input_is_sign = True
        replace_children(module, rebuilt)
    return model
