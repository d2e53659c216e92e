"""AdaBin's hardware form: every AdaBin layer becomes an XNOR unit that also counts its input,
followed by an integer combine-and-threshold (seed_methods §5.6).

For a binary layer with AdaBin weights ``alpha_w * s_w + beta_w`` (per output channel) whose
input takes the two values ``m ± h`` (the previous AdaBin activation's set; ``h = 1, m = 0`` for
a ±1 sign or for raw integer pixels), the layer output is exactly

    y_o = a_o * D_o + b_o * S + c_o,   a = alpha_w h,  b = beta_w h,  c = m (alpha_w S_w + beta_w K)

with ``D_o`` the ±1 dot product of the input with the weight signs, ``S`` the sum of the input
(signs) and ``S_w`` the sum of the weight signs. ``D`` and ``S`` are what one bipolar layer with an
extra all-ones output row computes. BatchNorm, Maxout and the next AdaBin sign act per channel
on ``y``, so each output bit is a function of the two integers (D_o, S) alone. That function
changes value at most twice along ``y`` (Maxout has two linear pieces), and it is fitted here,
in exact integer arithmetic checked over every reachable integer input, by

    L = A * acc_x + B * acc_a,   count = [L >= T0] + [L >= T1],   bit = DECODE >> count & 1

(``hw_bnn.features.adabin.reference``). A monotone Maxout gives one threshold; a Maxout whose
trained slopes make it non-monotone gives two and a decode, mapped exactly rather than refused.

The deployment copy computes with these integers, so it is the software model the hardware
equals bit for bit. It differs from the float model only where the float model's own rounding
decides a tie (the fit follows the real-valued arithmetic in float64); the export stage reports
both accuracies. The last layer has no sign after it: its two accumulators leave the
accelerator and the host applies the float affine ``a D + b S + c`` exactly as the deployment copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from torch import nn
from torch.nn.utils import parametrize

from hw_bnn.features.adabin.reference import adabin_threshold_reference
from hw_bnn.errors import HwBnnError
from hw_bnn.methods.adabin import AdaBinActivation, AdaBinWeight, Maxout
from hw_bnn.methods.layers import replace_children
from hw_bnn.quant import BipolarWeight

#: |A| <= 2^MAX_FRACTION_BITS when fitting the integer combination A*X + B*Y.
MAX_FRACTION_BITS = 40
#: Range of the raw integer inputs a first layer may take (the flow feeds UINT8 pixels).
PIXEL_RANGE = (0, 255)


@dataclass(frozen=True)
class InputSet:
    """What a binary layer's input holds: two values ``centre ± half_range`` coded as bits
    (binary), or plain integers in ``[low, high]``."""

    binary: bool
    half_range: float = 1.0
    centre: float = 0.0
    low: int = -1
    high: int = 1


SIGN_INPUT = InputSet(binary=True)


@dataclass(frozen=True)
class ChannelChain:
    """Per-channel float64 arrays of what follows y = a*D + b*S + c up to the next bit:
    BatchNorm as ``u = y * bn_scale + bn_shift``, Maxout ``v = u * (slope_pos if u >= 0 else
    slope_neg)``, then bit = [v >= theta] (or [v > theta] where ``strict``)."""

    bn_scale: np.ndarray
    bn_shift: np.ndarray
    slope_pos: np.ndarray
    slope_neg: np.ndarray
    theta: np.ndarray
    strict: np.ndarray

    def bit(self, channel: int, y: np.ndarray) -> np.ndarray:
        u = y * self.bn_scale[channel] + self.bn_shift[channel]
        v = np.where(u >= 0, u * self.slope_pos[channel], u * self.slope_neg[channel])
        return (v > self.theta[channel]) if self.strict[channel] else (v >= self.theta[channel])

    def switch_points(self, channel: int) -> list[float]:
        """Every y where the bit can change: the Maxout kink and each piece's crossing of theta."""
        g, k = self.bn_scale[channel], self.bn_shift[channel]
        if g == 0:
            return []
        points = [-k / g]
        for slope, on_piece in ((self.slope_pos[channel], lambda u: u >= 0),
                                (self.slope_neg[channel], lambda u: u < 0)):
            if slope != 0:
                u = self.theta[channel] / slope
                if on_piece(u):
                    points.append((u - k) / g)
        return sorted(set(points))


def _profile(chain: ChannelChain, channel: int) -> tuple[list[tuple[float, bool]], list[int]]:
    """The bit as a function of y: switch points (y_j, strict_j) and the values of the segments
    between them (len = switches + 1). strict: the bit changes just after y_j (y > y_j)."""
    points = chain.switch_points(channel)
    if not points:
        return [], [int(chain.bit(channel, np.array([0.0]))[0])]
    span = max(1.0, max(abs(p) for p in points))
    probes = [points[0] - span] + [(lo + hi) / 2 for lo, hi in zip(points, points[1:])] + [points[-1] + span]
    segment = [int(v) for v in chain.bit(channel, np.array(probes))]
    at_point = [int(v) for v in chain.bit(channel, np.array(points))]
    switches, values = [], [segment[0]]
    for j, point in enumerate(points):
        left, right = segment[j], segment[j + 1]
        if left == right:
            if at_point[j] != left:
                raise HwBnnError(f"channel {channel}: the bit differs only at the single value y = {point!r}; "
                                 f"no threshold can express that")
            continue
        switches.append((point, at_point[j] == left))
        values.append(right)
    return switches, values


def _first_index(values: np.ndarray, strict) -> np.ndarray:
    """Smallest integer n with n >= values (n > values where strict), elementwise."""
    return np.where(strict, np.floor(values) + 1, np.ceil(values))


def _ceil_div(num: np.ndarray, den: int) -> np.ndarray:
    return -((-num) // den)


def _approximation_runs(ratio: float, max_denominator: int):
    """The Stern-Brocot path to ``ratio`` as runs of (denominator, numerator) pairs: every rational with the
    smallest denominator in an interval around ``ratio`` is on it, denominators grow along it, and within
    a run the fractions approach ``ratio`` monotonically from one side (semiconvergents)."""
    sign = -1 if ratio < 0 else 1
    rest = Fraction(abs(ratio))
    whole = rest.numerator // rest.denominator
    yield [(1, sign * whole)]  # floor(ratio)/1
    h_prev, k_prev, h, k = 1, 0, whole, 1  # the convergents before and at this step: h/k
    while rest != whole:
        rest = 1 / (rest - whole)
        whole = rest.numerator // rest.denominator
        steps = min(whole, (max_denominator - k_prev) // k)
        if steps < 1:
            return
        yield [(k_prev + j * k, sign * (h_prev + j * h)) for j in range(1, steps + 1)]
        h_prev, k_prev, h, k = h, k, whole * h + h_prev, whole * k + k_prev


def fit_combination(a: float, b: float, c: float, points: np.ndarray, strict: np.ndarray,
                    x_range: tuple[int, int], y_range: tuple[int, int], what: str) -> tuple[int, int, np.ndarray]:
    """Integers A, B and T[j] with [a*X + b*Y + c >= points[j]] (``>`` where ``strict[j]``) equal to
    [A*X + B*Y >= T[j]] for every integer X in ``x_range`` and Y in ``y_range`` (inclusive), a != 0, the
    real arithmetic in float64: |A| is the smallest denominator of a fraction B/|A| close enough to b/|a|
    (searched along its Stern-Brocot path), so that the unit that computes L is as narrow as it can be."""
    points, strict = np.asarray(points, dtype=np.float64), np.asarray(strict, dtype=bool)
    ys = np.arange(y_range[0], y_range[1] + 1, dtype=np.int64)
    x_lo, x_hi = x_range
    xi = (points[:, None] - c - b * ys[None, :].astype(np.float64)) / a  # the real X boundary per point and Y
    if a > 0:  # X >= xi (or >): first X, x_hi + 1 where none
        want = np.clip(_first_index(xi, strict[:, None]), x_lo, x_hi + 1).astype(np.int64)
    else:  # X <= xi (or <): last X, x_lo - 1 where none
        want = np.clip(np.where(strict[:, None], np.ceil(xi) - 1, np.floor(xi)), x_lo - 1, x_hi).astype(np.int64)

    def thresholds_for(den: int, num: int) -> np.ndarray | None:
        """T for A = +-den, B = num, or None where no T makes every decision."""
        coef_a = den if a > 0 else -den
        inside = (want <= x_hi) if a > 0 else (want >= x_lo)
        values = np.where(inside, coef_a * want + num * ys[None, :], np.iinfo(np.int64).max)
        # the smallest L among the points that reach: (x_hi + 1 or x_lo - 1) reach nowhere in their column
        edge = coef_a * (x_hi + 1 if a > 0 else x_lo - 1) + num * ys
        thresholds = np.minimum(values.min(axis=1), edge.max() + 1)
        if a > 0:  # integer: X >= (T - B*Y) / den
            got = np.clip(_ceil_div(thresholds[:, None] - num * ys[None, :], den), x_lo, x_hi + 1)
        else:  # integer: X <= (B*Y - T) / den
            got = np.clip((num * ys[None, :] - thresholds[:, None]) // den, x_lo - 1, x_hi)
        return thresholds if np.array_equal(want, got) else None

    for run in _approximation_runs(b / abs(a), 2 ** MAX_FRACTION_BITS):
        if thresholds_for(*run[-1]) is None:
            continue
        low, high = 0, len(run) - 1  # the first valid fraction of the run: validity only grows along it
        while low < high:
            mid = (low + high) // 2
            low, high = (low, mid) if thresholds_for(*run[mid]) is not None else (mid + 1, high)
        den, num = run[low]
        return (den if a > 0 else -den), num, thresholds_for(den, num)
    raise HwBnnError(f"{what}: no integer thresholds with |A| up to 2^{MAX_FRACTION_BITS} reproduce the "
                     f"layer's decisions (a={a!r}, b={b!r}, c={c!r})")


def fit_channel(a: float, b: float, c: float, chain: ChannelChain, channel: int,
                x_range: tuple[int, int], y_range: tuple[int, int]) -> list[int]:
    """Integer [A, B, T0, T1, DECODE] with bit(a*X + b*Y + c) == reference(L) for every integer
    X in ``x_range`` and Y in ``y_range`` (both inclusive), the real arithmetic done in float64."""
    switches, values = _profile(chain, channel)
    if len(switches) > 2:
        raise HwBnnError(f"channel {channel}: the bit changes {len(switches)} times along the layer output; "
                         f"the combine unit maps at most two thresholds")
    if a != 0:
        # B/|A| the simplest fraction near b/|a| that reproduces every decision
        coef_a, coef_b, fitted = fit_combination(a, b, c, np.array([p for p, _ in switches]),
                                                 np.array([s for _, s in switches]), x_range, y_range,
                                                 f"channel {channel}")
        thresholds = [int(t) for t in fitted]
    else:  # the bit depends on Y alone, so Y itself is thresholded (A = 0, B = +-1)
        coef_a, coef_b = 0, (1 if b >= 0 else -1)
        thresholds = []
        for point, strict in switches:
            if b == 0:
                raise HwBnnError(f"channel {channel}: a = b = 0 but the bit changes with the input")
            bound = (point - c) / b  # b*Y >= point - c
            if b > 0:
                thresholds.append(int(_first_index(np.array([bound]), strict)[0]))
            else:  # Y <= bound (Y < bound where strict): L = -Y >= -last
                last = np.floor(bound) if not strict else np.ceil(bound) - 1
                thresholds.append(int(-last))
    corners = [coef_a * x + coef_b * y for x in x_range for y in y_range]
    unreachable = max(corners) + 1
    thresholds += [unreachable] * (2 - len(thresholds))
    values += [values[-1]] * (3 - len(values))
    decode = values[0] | values[1] << 1 | values[2] << 2
    return [coef_a, coef_b, thresholds[0], thresholds[1], decode]


def _export_as(op_type: str, acc: torch.Tensor, table: torch.Tensor, channels: int) -> torch.Tensor:
    """The node ``hw_bnn.custom_op::<op_type>(acc, table)`` in the ONNX graph being exported: C+1
    accumulators in, C channels out, along dim 1."""
    shape = (acc.shape[0], channels, *acc.shape[2:])
    return torch.onnx.ops.symbolic(f"hw_bnn.custom_op::{op_type}", (acc, table),
                                   attrs={"data_layout": "NCHW" if acc.dim() == 4 else "NC"},
                                   dtype=acc.dtype, shape=shape, version=1)


class AdaBinThresholdDeploy(nn.Module):
    """The combine-and-threshold unit on a layer's (C+1) accumulators (D_0..D_{C-1}, S) along dim 1:
    ±1 bits, exactly ``adabin_threshold_reference``. Exports as ``hw_bnn.custom_op::AdaBinThreshold``."""

    maps_to_thresholds = True

    def __init__(self, params: np.ndarray):
        super().__init__()
        self.register_buffer("params", torch.as_tensor(np.asarray(params, dtype=np.int64)))

    def forward(self, acc: torch.Tensor) -> torch.Tensor:
        channels = self.params.shape[0]
        if torch.compiler.is_exporting():
            return _export_as("AdaBinThreshold", acc, self.params, channels)
        moved = acc.detach().movedim(1, -1).to(torch.int64).numpy()
        bits = adabin_threshold_reference(moved[..., :channels], moved[..., channels:], self.params.numpy())
        return torch.from_numpy(2.0 * bits - 1).to(acc.dtype).movedim(-1, 1)


class AdaBinOutputDeploy(nn.Module):
    """The last layer's float output from its (C+1) accumulators along dim 1: ``D*a + S*b + c`` in
    float32, in this order, on the host. Exports as ``hw_bnn.custom_op::AdaBinOutput``."""

    maps_to_thresholds = True

    def __init__(self, coefficients: np.ndarray):
        super().__init__()
        self.register_buffer("coefficients", torch.as_tensor(np.asarray(coefficients, dtype=np.float32)))

    def forward(self, acc: torch.Tensor) -> torch.Tensor:
        channels = self.coefficients.shape[1]
        if torch.compiler.is_exporting():
            return _export_as("AdaBinOutput", acc, self.coefficients, channels)
        view = (1, channels) + (1,) * (acc.dim() - 2)
        a, b, c = (self.coefficients[i].reshape(view) for i in range(3))
        return acc[:, :channels] * a + acc[:, channels:] * b + c


def is_adabin_layer(module: nn.Module) -> bool:
    return (isinstance(module, (QuantLinear, QuantConv2d)) and parametrize.is_parametrized(module, "weight")
            and any(isinstance(p, AdaBinWeight) for p in module.parametrizations.weight))


def _counting_layer(layer: nn.Module, signs: torch.Tensor) -> nn.Module:
    """A bipolar copy of ``layer`` with one more output row, all +1: outputs (D, S)."""
    ones = torch.ones_like(signs[:1])
    if isinstance(layer, QuantLinear):
        new = QuantLinear(layer.in_features, layer.out_features + 1, bias=False, weight_quant=BipolarWeight)
    else:
        if any(p != 0 for p in np.atleast_1d(layer.padding)):
            raise HwBnnError("an AdaBin conv with zero padding needs per-border constants (seed_methods §5.6); "
                             "the hardware form maps unpadded convs: build the model with padding=0")
        new = QuantConv2d(layer.in_channels, layer.out_channels + 1, layer.kernel_size, stride=layer.stride,
                          bias=False, weight_quant=BipolarWeight)
    with torch.no_grad():
        new.weight.copy_(torch.cat([signs, ones]))
    return new


def _chain(channels: int, bn: nn.Module | None, maxout: Maxout | None, act: AdaBinActivation) -> ChannelChain:
    f64 = lambda t: t.detach().double().numpy()  # noqa: E731
    if bn is not None:
        scale = f64(bn.weight) / np.sqrt(f64(bn.running_var) + bn.eps)
        shift = f64(bn.bias) - f64(bn.running_mean) * scale
    else:
        scale, shift = np.ones(channels), np.zeros(channels)
    pos = f64(maxout.positive_slope) if maxout is not None else np.ones(channels)
    neg = f64(maxout.negative_slope) if maxout is not None else np.ones(channels)
    alpha, beta = float(act.alpha_a.detach()), float(act.beta_a.detach())
    if alpha == 0:
        raise HwBnnError("an AdaBin activation has alpha_a = 0: its two values coincide, so no bit can carry it")
    # bit 1 = the larger of the two values: x >= beta for alpha > 0, x > beta for alpha < 0
    return ChannelChain(scale, shift, pos, neg, np.full(channels, beta), np.full(channels, alpha < 0))


def binary_weight_set(layer: nn.Module) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(signs, alpha_w, beta_w) of an AdaBin layer: its binarised weight is alpha_w*signs + beta_w per
    output channel (float64 alpha_w, beta_w of shape (C,))."""
    transform = next(p for p in layer.parametrizations.weight if isinstance(p, AdaBinWeight))
    with torch.no_grad():
        signs, distance, centre = transform.binary_set(layer.parametrizations.weight.original)
    return signs.detach(), distance.flatten().double().numpy(), centre.flatten().double().numpy()


def _convert_layer(layer: nn.Module, input_set: InputSet, bn, maxout, act, name: str) -> tuple[list, InputSet]:
    signs, alpha_w, beta_w = binary_weight_set(layer)
    channels = signs.shape[0]
    fan_in = signs[0].numel()
    weight_sums = signs.flatten(1).sum(1).double().numpy()
    a = alpha_w * input_set.half_range
    b = beta_w * input_set.half_range
    c = input_set.centre * (alpha_w * weight_sums + beta_w * fan_in)
    modules: list[nn.Module] = [_counting_layer(layer, signs)]
    if act is None:
        modules.append(AdaBinOutputDeploy(np.stack([a, b, c])))
        return modules, input_set
    chain = _chain(channels, bn, maxout, act)
    if input_set.binary:
        # Fit on the popcounts P = (D + K)/2: a*D + b*S + c = 2a*Px + 2b*Pa + c - K(a + b).
        a, b, c = 2 * a, 2 * b, c - fan_in * (a + b)
        x_range = y_range = (0, fan_in)
    else:
        span = fan_in * max(abs(input_set.low), abs(input_set.high))
        x_range, y_range = (-span, span), (fan_in * input_set.low, fan_in * input_set.high)
    params = []
    for o in range(channels):
        try:
            params.append(fit_channel(a[o], b[o], c[o], chain, o, x_range, y_range))
        except HwBnnError as exc:
            raise HwBnnError(f"layer '{name}': {exc}") from None
    if input_set.binary:
        # The layer outputs D and S, not popcounts: 2*L_P = A*D + B*S + K(A + B).
        params = [[A, B, 2 * T0 - fan_in * (A + B), 2 * T1 - fan_in * (A + B), dec] for A, B, T0, T1, dec in params]
    modules.append(AdaBinThresholdDeploy(np.array(params, dtype=np.int64)))
    next_set = InputSet(binary=True, half_range=abs(float(act.alpha_a.detach())), centre=float(act.centre().detach()))
    return modules, next_set


def has_layers(model: nn.Module) -> bool:
    """True when ``model`` holds an AdaBin layer."""
    return any(is_adabin_layer(m) for m in model.modules())


def to_hardware_form(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Rewrite, in place, every Sequential run ``AdaBin layer [BatchNorm] [Maxout] AdaBinActivation``
    (or a final ``AdaBin layer``) of an eval-mode model into its hardware form (see module doc).

    The input of the first AdaBin layer is a ±1 sign when a bipolar QuantIdentity was met before it
    in module order (the MLP's input quantizer), else raw UINT8 pixels.
    """
    input_set: InputSet | None = None
    for module_name, module in list(model.named_modules()):
        if isinstance(module, QuantIdentity) and input_set is None:
            input_set = SIGN_INPUT
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        rebuilt: list[nn.Module] = []
        index = 0
        while index < len(children):
            name, child = children[index]
            if not is_adabin_layer(child):
                rebuilt.append(child)
                index += 1
                continue
            current = input_set or InputSet(binary=False, low=PIXEL_RANGE[0], high=PIXEL_RANGE[1])
            index += 1
            bn = maxout = act = None
            if index < len(children) and isinstance(children[index][1], (nn.BatchNorm1d, nn.BatchNorm2d)):
                bn = children[index][1]
                index += 1
            if index < len(children):
                block = children[index][1]
                parts = list(block.children()) if isinstance(block, nn.Sequential) else [block]
                if parts and isinstance(parts[-1], AdaBinActivation) and \
                        all(isinstance(p, Maxout) for p in parts[:-1]) and len(parts) <= 2:
                    act = parts[-1]
                    maxout = parts[0] if len(parts) == 2 else None
                    index += 1
            full_name = f"{module_name}.{name}" if module_name else name
            if act is None and index < len(children) and bn is not None:
                raise HwBnnError(f"layer '{full_name}': an AdaBin layer followed by BatchNorm but no AdaBin "
                                 f"activation has no hardware form; end the net with a bare AdaBin layer")
            replaced, input_set = _convert_layer(child, current, bn, maxout, act, full_name)
            rebuilt += replaced
        replace_children(module, rebuilt)
    return model
