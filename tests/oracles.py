"""Independent oracles for AdaBin and the per-sample threshold units, written from the formulas of
``shared/research/seed_methods.md`` in exact arithmetic.

The deployment form, the QONNX custom ops and the FINN execution of these methods all call one numpy
function (``hw_bnn.features.adabin.reference`` / ``frame_reference``), and the integer parameters they
run on come from one fit (``hw_bnn.features.adabin.deploy`` / ``frame_deploy``). Their agreement says
nothing about whether that function and that fit compute the method. The functions here do not use any
of that code: they read the trained model's parameters (latent weights, BatchNorm statistics, AdaBin's
alpha/beta, Maxout slopes, the hyper-function's weights and its quantizers' scales) and evaluate the
method's definition per image, with

- Python ints (numpy int64 for the ±1 dot products, which are exact integers),
- ``fractions.Fraction`` for every float32 parameter (each is exactly a rational),
- ``ExactReal``: rational + sum of rational * sqrt(rational), because a BatchNorm divides by
  sqrt(var + eps) and AdaBin's weight distance is a standard deviation; signs of such numbers are
  decided exactly by squaring (no tolerance),
- ``decimal`` at 80 digits for the only transcendental steps (the sigmoid/tanh of the hyper-function
  and the sigmoid gate of SD-BNN's weight shift); these never hit a boundary exactly except at 0, which
  is handled exactly, and a value closer than 1e-60 to a boundary raises ``OracleUndecided``.

Rounding rules, where the definition needs one, are PyTorch's, as the models are defined in PyTorch:
``torch.round`` (half to even) in every quantizer (Brevitas rounds with it) and in the quantised
sigmoid/tanh, and the sign maps 0 to +1 (Brevitas' ``binary_sign``, AdaBin's estimator; DESIGN.md
"Ties at the sign"). Everything else is real-valued arithmetic on the parameters' float32 values: the
oracle is the model as a mathematician reads it, not as float32 evaluates it, so it differs from the
float model only where float32 rounding decides a tie.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import torch
from torch import nn

#: Digits of the decimal evaluation of sigmoid/tanh, and the closest a value may come to a rounding
#: boundary before the oracle refuses to decide.
DECIMAL_DIGITS = 80
UNDECIDED_WITHIN = Decimal("1e-60")
#: AdaBinWeight's guard: the weight distance is sqrt(population variance + 1e-12).
ADABIN_VARIANCE_EPSILON = Fraction(1e-12)
#: SD-BNN's WSD step: w' = w + sigmoid(alpha_o) * 0.01 * mean_o(w) (seed_methods §2.1).
WSD_SHIFT_SCALE = Fraction(0.01)


class OracleUndecided(Exception):
    """A transcendental value lies too close to a rounding boundary to be decided at 80 digits."""


# --- exact reals --------------------------------------------------------------------------------------

def _sign(value: Fraction) -> int:
    return (value > 0) - (value < 0)


def _sign_one_root(rational: Fraction, coefficient: Fraction, radicand: Fraction) -> int:
    """sign(rational + coefficient * sqrt(radicand)), radicand >= 0, exactly."""
    s_rational = _sign(rational)
    s_root = _sign(coefficient) if radicand > 0 else 0
    if s_root == 0 or s_rational == s_root:
        return s_rational if s_rational else s_root
    if s_rational == 0:
        return s_root
    # opposite signs: the larger magnitude wins; compare squares
    difference = rational * rational - coefficient * coefficient * radicand
    return s_rational if difference > 0 else s_root if difference < 0 else 0


def _sign_two_roots(rational, c1, r1, c2, r2) -> int:
    """sign(rational + c1*sqrt(r1) + c2*sqrt(r2)), radicands > 0, exactly: X = c1*sqrt(r1) against
    Y = rational + c2*sqrt(r2); where their signs differ, X^2 - Y^2 has a single root left."""
    s_x = _sign(c1)
    s_y = _sign_one_root(rational, c2, r2)
    if s_y == 0 or s_x == s_y:
        return s_x if s_x else s_y
    if s_x == 0:
        return s_y
    difference = _sign_one_root(c1 * c1 * r1 - rational * rational - c2 * c2 * r2, -2 * rational * c2, r2)
    return s_x if difference > 0 else s_y if difference < 0 else 0


class ExactReal:
    """rational + sum_k coefficient_k * sqrt(radicand_k), all rational: exact +, -, * rational, * sqrt.

    ``sign()`` is exact for up to two distinct radicands, which is all these networks need (a
    BatchNorm's sqrt(var + eps) times AdaBin's weight distance).
    """

    __slots__ = ("rational", "roots")

    def __init__(self, rational=0, roots: dict | None = None):
        self.rational = Fraction(rational)
        self.roots: dict[Fraction, Fraction] = {}
        for radicand, coefficient in (roots or {}).items():
            self._add_root(Fraction(radicand), Fraction(coefficient))

    def _add_root(self, radicand: Fraction, coefficient: Fraction) -> None:
        if radicand < 0:
            raise ValueError("negative radicand")
        if radicand == 0 or coefficient == 0:
            return
        total = self.roots.get(radicand, Fraction(0)) + coefficient
        if total:
            self.roots[radicand] = total
        else:
            self.roots.pop(radicand, None)

    @staticmethod
    def of(value) -> "ExactReal":
        return value if isinstance(value, ExactReal) else ExactReal(value)

    def __add__(self, other) -> "ExactReal":
        other = ExactReal.of(other)
        result = ExactReal(self.rational + other.rational, self.roots)
        for radicand, coefficient in other.roots.items():
            result._add_root(radicand, coefficient)
        return result

    __radd__ = __add__

    def __neg__(self) -> "ExactReal":
        return self.times(-1)

    def __sub__(self, other) -> "ExactReal":
        return self + (-ExactReal.of(other))

    def __rsub__(self, other) -> "ExactReal":
        return ExactReal.of(other) - self

    def times(self, factor) -> "ExactReal":
        """self * factor, factor rational."""
        factor = Fraction(factor)
        return ExactReal(self.rational * factor, {r: c * factor for r, c in self.roots.items()})

    def times_sqrt(self, radicand) -> "ExactReal":
        """self * sqrt(radicand): a -> a*sqrt(r), c*sqrt(q) -> c*sqrt(q*r)."""
        radicand = Fraction(radicand)
        result = ExactReal(0, {radicand: self.rational})
        for q, c in self.roots.items():
            result._add_root(q * radicand, c)
        return result

    def sign(self) -> int:
        roots = list(self.roots.items())
        if not roots:
            return _sign(self.rational)
        if len(roots) == 1:
            return _sign_one_root(self.rational, roots[0][1], roots[0][0])
        if len(roots) == 2:
            (r1, c1), (r2, c2) = roots
            return _sign_two_roots(self.rational, c1, r1, c2, r2)
        raise NotImplementedError("sign of a sum of more than two square roots")

    def __float__(self) -> float:
        return float(self.rational) + sum(float(c) * math.sqrt(r) for r, c in self.roots.items())

    def floor(self) -> int:
        n = math.floor(float(self))
        while (self - n).sign() < 0:
            n -= 1
        while (self - (n + 1)).sign() >= 0:
            n += 1
        return n


def round_half_even(x: ExactReal | Fraction | int) -> int:
    """torch.round of an exact real: to the nearest integer, exact halves to the even one."""
    x = ExactReal.of(x)
    n = x.floor()
    above_half = (x - n - Fraction(1, 2)).sign()
    return n + 1 if above_half > 0 or (above_half == 0 and n % 2) else n


def _fractions(tensor: torch.Tensor) -> np.ndarray:
    """Every float32 value of ``tensor`` as an exact Fraction (an object array of its shape)."""
    array = tensor.detach().cpu().numpy().astype(np.float64)  # float32 -> float64 is exact
    return np.vectorize(Fraction, otypes=[object])(array)


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _rounded_level(unit_kind: str, z: Fraction, steps: int) -> int:
    """round_half_even(steps * unit(z)) for unit(z) = sigmoid(z) or (tanh(z) + 1) / 2.

    unit(0) = 1/2 exactly; for rational z != 0 both are transcendental, so no exact half is reached,
    and 80 digits decide the rounding unless the value lies within 1e-60 of a half (then it raises)."""
    if z == 0:
        return round_half_even(Fraction(steps, 2))
    with localcontext() as context:
        context.prec = DECIMAL_DIGITS
        zd = _decimal(z)
        if unit_kind == "sigmoid":
            unit = 1 / (1 + (-zd).exp())
        else:
            e2z = (2 * zd).exp()
            unit = ((e2z - 1) / (e2z + 1) + 1) / 2
        value = steps * unit
        whole = int(value.to_integral_value(rounding="ROUND_FLOOR"))
        distance = value - whole - Decimal("0.5")
        if abs(distance) < UNDECIDED_WITHIN:
            raise OracleUndecided(f"{unit_kind}({z}) * {steps} is within 1e-60 of a rounding boundary")
        return whole + (1 if distance > 0 else 0)


def _batchnorm(bn: nn.Module) -> list[tuple[Fraction, Fraction, Fraction, Fraction]]:
    """Per channel (mean, var + eps, gamma, beta), exact: x = gamma * (acc - mean) / sqrt(var + eps) + beta."""
    means, variances = _fractions(bn.running_mean), _fractions(bn.running_var)
    gammas, betas = _fractions(bn.weight), _fractions(bn.bias)
    eps = Fraction(bn.eps)
    return [(means[c], variances[c] + eps, gammas[c], betas[c]) for c in range(len(means))]


def batchnorm_value(acc: Fraction | int, channel_bn: tuple) -> ExactReal:
    """BatchNorm of a value (an integer accumulator, or a rational mean of them) in exact arithmetic:
    gamma * (acc - mean) / sqrt(var + eps) + beta = beta + (gamma * (acc - mean) / v) * sqrt(v)."""
    mean, v, gamma, beta = channel_bn
    return ExactReal(beta, {v: gamma * (Fraction(acc) - mean) / v})


# --- weights ------------------------------------------------------------------------------------------

def _latent_weight(layer: nn.Module) -> torch.Tensor:
    parametrized = hasattr(layer, "parametrizations") and "weight" in layer.parametrizations
    return layer.parametrizations.weight.original if parametrized else layer.weight


def wsd_weight_signs(layer: nn.Module) -> tuple[np.ndarray, float]:
    """SD-BNN's WSD (seed_methods §2.1): s = sign(w + sigmoid(alpha_o) * 0.01 * mean_o(w)), 0 -> +1, from
    the latent weights, with the smallest |w'| / (|w| + |shift|) as a float (how close a weight is to its
    threshold: below float32 rounding the trained model's own sign and the exact one may differ)."""
    latent = _latent_weight(layer).detach().double().numpy()
    flat = latent.reshape(latent.shape[0], -1)
    from hw_bnn.methods.sdbnn import WeightSelfDistribution

    transform = next(t for t in layer.parametrizations.weight if isinstance(t, WeightSelfDistribution))
    alphas = transform.alpha.detach().double().numpy()
    signs = np.empty(flat.shape, dtype=np.int64)
    margin = math.inf
    with localcontext() as context:
        context.prec = DECIMAL_DIGITS
        for o, row in enumerate(flat):
            mean = sum(Fraction(w) for w in row) / len(row)  # float64 of float32 values is exact
            gate = 1 / (1 + (-_decimal(Fraction(alphas[o]))).exp())
            shift = gate * _decimal(WSD_SHIFT_SCALE * mean)
            for i, w in enumerate(row):
                shifted = _decimal(Fraction(w)) + shift
                if abs(shifted) < UNDECIDED_WITHIN:
                    raise OracleUndecided(f"WSD weight {o},{i} is within 1e-60 of its threshold")
                signs[o, i] = 1 if shifted > 0 else -1
                margin = min(margin, float(abs(shifted)) / (abs(w) + float(abs(shift)) or 1.0))
    return signs.reshape(latent.shape), margin


def bipolar_weight_signs(layer: nn.Module) -> np.ndarray:
    """Brevitas' bipolar weight quantizer: sign(w), 0 -> +1 (``binary_sign``)."""
    return np.where(layer.weight.detach().numpy() >= 0, 1, -1).astype(np.int64)


def adabin_weight_set(layer: nn.Module) -> tuple[np.ndarray, list[Fraction], list[Fraction], float]:
    """AdaBin's weight equalisation (seed_methods §5.1): per output channel o, beta_w = mean(w_o),
    alpha_w = sqrt(mean((w_o - beta_w)^2) + 1e-12), binarised weight alpha_w * sign(w - beta_w) + beta_w
    (sign of (w - beta)/alpha = sign of w - beta since alpha > 0; 0 -> +1).

    Returns (signs (C, K), the radicands alpha_w^2, beta_w, and the smallest |w - beta_w| / max|w_o|)."""
    latent = _latent_weight(layer).detach().double().numpy()
    flat = latent.reshape(latent.shape[0], -1)
    signs = np.empty(flat.shape, dtype=np.int64)
    variances, centres = [], []
    margin = math.inf
    for o, row in enumerate(flat):
        values = [Fraction(w) for w in row]
        centre = sum(values) / len(values)
        deviations = [w - centre for w in values]
        variances.append(sum(d * d for d in deviations) / len(values) + ADABIN_VARIANCE_EPSILON)
        centres.append(centre)
        signs[o] = [1 if d >= 0 else -1 for d in deviations]
        margin = min(margin, min(abs(float(d)) for d in deviations) / float(np.abs(row).max()))
    return signs, variances, centres, margin


# --- AdaBin ---------------------------------------------------------------------------------------------

def _adabin_parts(model: nn.Module) -> list[dict]:
    """The MLP's AdaBin layers with what follows each: BatchNorm, Maxout, activation (None for the last)."""
    from hw_bnn.methods.adabin import AdaBinActivation, Maxout

    children = list(model.features.children())
    layers = []
    for index, child in enumerate(children):
        if isinstance(child, (nn.Linear,)) and hasattr(child, "parametrizations"):
            part = {"layer": child, "bn": None, "maxout": None, "act": None}
            for following in children[index + 1:index + 3]:
                if isinstance(following, nn.BatchNorm1d):
                    part["bn"] = following
                elif isinstance(following, nn.Sequential):
                    for module in following:
                        if isinstance(module, Maxout):
                            part["maxout"] = module
                        elif isinstance(module, AdaBinActivation):
                            part["act"] = module
            layers.append(part)
    return layers


def adabin_mlp_oracle(model: nn.Module, images: np.ndarray) -> dict:
    """AdaBin BinaryMLP, image by image, straight from seed_methods §5.1 (code/paper forms) and §5.6.

    Per layer: the input takes two values (±1 after the MLP's input sign(pixel - threshold); an AdaBin
    activation's {alpha_a s + c_a} after), the weights alpha_w s_w + beta_w (``adabin_weight_set``), and

        y_o = sum_i a_i (alpha_w,o s_w,o,i + beta_w,o) = alpha_w,o * sum_i a_i s_w,o,i + beta_w,o * sum_i a_i

    exactly (the dot product itself, not the XNOR identity the hardware uses), then BatchNorm
    (``batchnorm_value``), Maxout f(u) = p u (u >= 0) or n u (u < 0), and the next sign
    s = sign((f - beta_a) / alpha_a), 0 -> +1; the activation value is alpha_a s + beta_a (paper form) or
    alpha_a (s + beta_a) (code form). The last layer's y_o are the scores.

    Returns a dict:
      ``hidden_signs``: per hidden layer, (N, C) int array of s;
      ``last_counts``: (N, C_out + 1) the accelerator's last-layer accumulators: per output channel the
        XNOR popcount of input bits with weight bits, then the input popcount P^a (seed_methods §5.6 point 3),
        in the hardware's bit convention: input bit 1 = the larger of the two activation values, weight
        bit 1 = s_w = +1;
      ``scores``: per image the exact ExactReal scores; ``scores_float``: (N, C_out) float64 of them;
      ``top1``: exact argmax (first index among equal maxima);
      ``weight_margin``: the smallest |w - beta_w| / max|w| over all layers (see ``adabin_weight_set``).
    """
    parts = _adabin_parts(model)
    prepared = []
    weight_margin = math.inf
    for part in parts:
        signs, radicands, centres, margin = adabin_weight_set(part["layer"])
        weight_margin = min(weight_margin, margin)
        entry = {"signs": signs, "radicands": radicands, "centres": centres}
        if part["act"] is not None:
            channels = signs.shape[0]
            entry["bn"] = _batchnorm(part["bn"]) if part["bn"] is not None else None
            maxout = part["maxout"]
            entry["slopes"] = ((_fractions(maxout.positive_slope), _fractions(maxout.negative_slope))
                               if maxout is not None else ([Fraction(1)] * channels, [Fraction(1)] * channels))
            act = part["act"]
            alpha, beta = Fraction(float(act.alpha_a)), Fraction(float(act.beta_a))
            values = {s: alpha * s + beta if act.form == "paper" else alpha * (s + beta) for s in (-1, 1)}
            entry.update(alpha_a=alpha, beta_a=beta, values=values)
        prepared.append(entry)

    threshold = Fraction(float(model.input_threshold))
    flat = images.reshape(len(images), -1)
    hidden_signs = [np.empty((len(images), p["signs"].shape[0]), dtype=np.int64) for p in prepared[:-1]]
    last = prepared[-1]
    last_counts = np.empty((len(images), last["signs"].shape[0] + 1), dtype=np.int64)
    scores, top1 = [], []
    for n, pixels in enumerate(flat):
        # the MLP's input quantizer: sign(pixel - threshold), 0 -> +1; values -1, +1
        signs_in = np.where(np.array([Fraction(int(p)) - threshold >= 0 for p in pixels]), 1, -1)
        values = {-1: Fraction(-1), 1: Fraction(1)}
        for index, layer in enumerate(prepared):
            low, high = sorted(values.values())
            is_high = np.array([values[int(s)] == high for s in signs_in])
            if layer is last:
                # the accelerator's accumulators: input bits (1 = the larger value) against weight bits
                weight_bits = layer["signs"] > 0
                last_counts[n, :-1] = (weight_bits == is_high[None, :]).sum(axis=1)
                last_counts[n, -1] = int(is_high.sum())
            # sum_i a_i s_i and sum_i a_i, with a_i in {low, high}: grouped integer sums, exact
            high_dot = (layer["signs"] * is_high[None, :]).sum(axis=1)
            low_dot = (layer["signs"] * ~is_high[None, :]).sum(axis=1)
            value_sum = high * int(is_high.sum()) + low * int((~is_high).sum())
            outputs = []
            for o in range(layer["signs"].shape[0]):
                dot = high * int(high_dot[o]) + low * int(low_dot[o])
                y = ExactReal(layer["centres"][o] * value_sum, {layer["radicands"][o]: dot})
                outputs.append(y)
            if layer is last:
                break
            new_signs = np.empty(len(outputs), dtype=np.int64)
            for o, y in enumerate(outputs):
                if layer["bn"] is not None:
                    mean, v, gamma, beta = layer["bn"][o]
                    u = (y - mean).times(gamma / v).times_sqrt(v) + beta
                else:
                    u = y
                positive, negative = layer["slopes"][0][o], layer["slopes"][1][o]
                f = u.times(positive if u.sign() >= 0 else negative)
                pre_sign = (f - layer["beta_a"]).sign() * _sign(layer["alpha_a"])
                new_signs[o] = 1 if pre_sign >= 0 else -1
            hidden_signs[index][n] = new_signs
            signs_in, values = new_signs, layer["values"]
        scores.append(outputs)
        best = 0
        for o in range(1, len(outputs)):
            if (outputs[o] - outputs[best]).sign() > 0:
                best = o
        top1.append(best)
    return {"hidden_signs": hidden_signs, "last_counts": last_counts, "scores": scores,
            "scores_float": np.array([[float(y) for y in row] for row in scores]), "top1": np.array(top1),
            "weight_margin": weight_margin}


# --- per-sample thresholds (SD-BNN squeeze-excitation, DyBNN) --------------------------------------------

def _integer_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


def _act_quantizer(module: nn.Module) -> tuple[Fraction, int, int]:
    """(scale, lowest code, highest code) of a Brevitas activation quantizer (QuantIdentity/QuantReLU)."""
    proxy = module.act_quant
    low, high = _integer_range(int(proxy.bit_width()), bool(proxy.is_signed), bool(proxy.is_narrow_range))
    return Fraction(float(proxy.scale())), low, high


def _weight_codes(linear: nn.Module) -> tuple[list[list[int]], Fraction]:
    """Integer codes clamp(round_half_even(w / scale)) of a fixed-point QuantLinear, and its scale (read
    from the quantizer: a power of two)."""
    quantized = linear.quant_weight()
    scale = Fraction(float(quantized.scale))
    low, high = _integer_range(int(quantized.bit_width), bool(quantized.signed),
                               bool(linear.weight_quant.is_narrow_range))
    weights = _fractions(linear.weight)
    codes = [[min(high, max(low, round_half_even(w / scale))) for w in row] for row in weights]
    return codes, scale


class HyperOracle:
    """The quantisation-aware hyper-function (SD-BNN's squeeze-excitation, seed_methods §2.1/§2.7; DyBNN's
    reconstruction, §3.3/§3.5), read from a ``HyperFunction`` and evaluated exactly:

        p_c  = clamp(round_half_even(GAP(x)_c / s_p))                 (signed fixed point)
        a1_j = sum_c W1_j,c p_c * s_w1 s_p                            (W1: clamp(round_half_even(w / s_w1)))
        h_j  = clamp(round_half_even(ReLU(a1_j) / s_h))               (unsigned fixed point)
        z_i  = sum_j W2_i,j h_j * s_w2 s_h
        k_i  = round_half_even(M * unit(z_i)),  value_i = low + span * k_i / M

    unit = sigmoid (M = 2^bits - 1 levels k/M, SD-BNN) or (tanh + 1)/2 (M = 2^bits - 2, symmetric
    narrow range, DyBNN). GAP(x) is an ExactReal per channel.
    """

    def __init__(self, hyper: nn.Module):
        from hw_bnn.methods.hyper import SigmoidOutput

        self.pool_scale, self.pool_low, self.pool_high = _act_quantizer(hyper.pool_quant)
        self.hidden_scale, self.hidden_low, self.hidden_high = _act_quantizer(hyper.hidden_act)
        self.w1, self.w1_scale = _weight_codes(hyper.squeeze)
        self.w2, self.w2_scale = _weight_codes(hyper.expand)
        output = hyper.output
        self.unit = "sigmoid" if isinstance(output, SigmoidOutput) else "tanh"
        self.steps = (1 << output.bits) - (1 if self.unit == "sigmoid" else 2)
        self.low, self.span = Fraction(output.low), Fraction(output.span)

    def codes(self, pooled: list[ExactReal]) -> dict:
        """The integer codes of every stage and the output values, for one sample's pooled inputs."""
        p = [min(self.pool_high, max(self.pool_low, round_half_even(x.times(1 / self.pool_scale)))) for x in pooled]
        a1 = [sum(w * code for w, code in zip(row, p)) for row in self.w1]
        hidden_unit = self.w1_scale * self.pool_scale / self.hidden_scale
        h = [min(self.hidden_high, max(self.hidden_low, round_half_even(max(0, a) * hidden_unit))) for a in a1]
        a2 = [sum(w * code for w, code in zip(row, h)) for row in self.w2]
        z = [a * self.w2_scale * self.hidden_scale for a in a2]
        levels = [_rounded_level(self.unit, value, self.steps) for value in z]
        return {"pooled": p, "hidden": h, "levels": levels,
                "values": [self.low + self.span * Fraction(k, self.steps) for k in levels]}


def _frame_decisions(block: nn.Module, hyper: HyperOracle, bn: list, acc: np.ndarray) -> tuple[np.ndarray, dict]:
    """Signs (C, P) of one frame's binary-layer output ``acc`` (C, P) through BatchNorm and the per-sample
    block, and the hyper-function's codes."""
    from hw_bnn.methods.sdbnn import SqueezeExcitationShift

    channels, pixels = acc.shape
    # GAP of the BatchNorm output: BatchNorm is affine, so the mean is BatchNorm of the mean accumulator
    pooled = [batchnorm_value(Fraction(int(acc[c].sum()), pixels), bn[c]) for c in range(channels)]
    codes = hyper.codes(pooled)
    values = codes["values"]
    if isinstance(block, SqueezeExcitationShift):
        # x' = x + g, sign(x'), 0 -> +1 (seed_methods §2.1 ASD)
        def decide(c: int, value: int) -> int:
            return 1 if (batchnorm_value(value, bn[c]) + values[c]).sign() >= 0 else -1
    else:
        # DyBNN (seed_methods §3.3 reconstruction, hw_bnn.methods.dybnn): one hyper output per (head, channel),
        # heads (input shift gamma, output shift zeta, threshold alpha), each static + dynamic:
        # out = sign(PReLU_c(x - gamma) + zeta - alpha), the PReLU slope clamped at 0 (choice 9).
        statics = [_fractions(p) for p in
                   (block.rprelu.input_shift, block.rprelu.output_shift, block.static_threshold)]
        gamma, zeta, alpha = ([statics[head][c] + values[head * channels + c] for c in range(channels)]
                              for head in range(3))
        slopes = [max(Fraction(0), s) for s in _fractions(block.rprelu.prelu.weight)]

        def decide(c: int, value: int) -> int:
            u = batchnorm_value(value, bn[c]) - gamma[c]
            activated = u if u.sign() >= 0 else u.times(slopes[c])
            return 1 if (activated + zeta[c] - alpha[c]).sign() >= 0 else -1
    signs = np.empty(acc.shape, dtype=np.int64)
    for c in range(channels):
        # the decision is a function of the pixel's accumulator alone: evaluate each distinct value once
        distinct, where = np.unique(acc[c], return_inverse=True)
        signs[c] = np.array([decide(c, int(value)) for value in distinct])[where]
    return signs, codes


def per_sample_oracle(model: nn.Module, images: np.ndarray) -> dict:
    """A BinaryMLP or BinaryCNV with SD-BNN squeeze-excitation or DyBNN blocks, image by image.

    Binary layers: ±1 weights (``wsd_weight_signs`` for SD-BNN, ``bipolar_weight_signs`` otherwise) times
    the ±1 input signs (or the raw integer pixels of a CNV's first conv), as int64 dot products; unpadded
    3x3 convs with stride 1; a 2x2 max-pool of signs is their maximum. A binary layer followed by
    BatchNorm and a per-sample block is thresholded by ``_frame_decisions`` (the global pool over the
    whole frame, the hyper-function ``HyperOracle``, the per-channel shifted sign). The last layer's
    integer dot products are the scores.

    Returns ``scores`` (N, classes) int64, ``codes``: per image, per dynamic layer, the hyper-function's
    codes, and ``weight_margin`` (the smallest relative distance of a WSD weight to its threshold).
    """
    from hw_bnn.methods.dybnn import DynamicActivation
    from hw_bnn.methods.sdbnn import SqueezeExcitationShift, WeightSelfDistribution

    children = list(model.features.children())
    steps = []
    weight_margin = math.inf
    index = 0
    while index < len(children):
        child = children[index]
        index += 1
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            if isinstance(child, nn.Conv2d) and (tuple(child.padding) != (0, 0) or tuple(child.stride) != (1, 1)):
                raise NotImplementedError("the oracle evaluates unpadded stride-1 convs")
            transforms = list(child.parametrizations.weight) if hasattr(child, "parametrizations") else []
            if any(isinstance(t, WeightSelfDistribution) for t in transforms):
                signs, margin = wsd_weight_signs(child)
                weight_margin = min(weight_margin, margin)
            else:
                signs = bipolar_weight_signs(child)
            steps.append(("conv" if isinstance(child, nn.Conv2d) else "linear", signs))
            if index + 1 < len(children) and isinstance(children[index], (nn.BatchNorm1d, nn.BatchNorm2d)):
                parts = list(children[index + 1].children())
                block = next(p for p in parts if isinstance(p, (SqueezeExcitationShift, DynamicActivation)))
                hyper = block.excitation if isinstance(block, SqueezeExcitationShift) else block.dynamic
                steps.append(("dynamic", (block, HyperOracle(hyper), _batchnorm(children[index]))))
                index += 2
        elif isinstance(child, nn.MaxPool2d):
            steps.append(("maxpool", int(child.kernel_size)))
        elif isinstance(child, nn.Flatten):
            steps.append(("flatten", None))
        elif isinstance(child, nn.Dropout):
            continue
        else:
            raise NotImplementedError(f"the oracle has no rule for {type(child).__name__}")

    is_mlp = hasattr(model, "input_threshold")
    scores, all_codes = [], []
    for image in images:
        if is_mlp:  # the MLP's input quantizer: sign(pixel - threshold), 0 -> +1
            threshold = Fraction(float(model.input_threshold))
            x = np.array([1 if Fraction(int(p)) - threshold >= 0 else -1 for p in image.reshape(-1)], dtype=np.int64)
        else:  # the CNV's first conv takes the integer pixels
            x = image.astype(np.int64)
        codes = []
        for kind, payload in steps:
            if kind == "linear":
                x = payload @ x.reshape(-1)
            elif kind == "conv":
                k = payload.shape[-1]
                windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (C, H', W', k, k)
                x = np.einsum("chwij,ocij->ohw", windows, payload)
            elif kind == "dynamic":
                block, hyper, bn = payload
                shape = x.shape
                signs, frame_codes = _frame_decisions(block, hyper, bn, x.reshape(shape[0], -1))
                x = signs.reshape(shape)
                codes.append(frame_codes)
            elif kind == "maxpool":
                c, h, w = x.shape
                x = x[:, :h - h % payload, :w - w % payload].reshape(c, h // payload, payload, w // payload, payload)
                x = x.max(axis=(2, 4))
            elif kind == "flatten":
                x = x.reshape(-1)
        scores.append(x)
        all_codes.append(codes)
    return {"scores": np.array(scores, dtype=np.int64), "codes": all_codes, "weight_margin": weight_margin}
