"""Sign with a surrogate gradient: the straight-through estimators the seed methods train with.

Every estimator has the same forward, ``binary_sign``: x >= 0 -> +1, x < 0 -> -1. That is
the FINN/Brevitas convention (bit 1 for x >= 0), not ``torch.sign`` (which maps 0 to 0 and
so produces a third value the hardware cannot store). The estimators differ only in the
gradient they pretend the sign has, so swapping one for another never changes the exported
graph.

Each estimator is an ``nn.Module`` so that it can hold schedule state (EDE's t and k) and be
found with ``model.modules()``; the gradient rule itself is a pure function of x, next to
the class that uses it (the Larq pattern, STYLE.md §1).
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable

import torch
from torch import nn

from hw_bnn.errors import HwBnnError

SurrogateDerivative = Callable[[torch.Tensor], torch.Tensor]


def binary_sign(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0, -1 where x < 0 (forward only; no gradient rule attached)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class _SignWithSurrogateGradient(torch.autograd.Function):
    """binary_sign forward; backward multiplies the incoming gradient by a surrogate derivative.

    The derivative function is captured at forward time, so a schedule step (EDE's set_epoch)
    between a forward and its backward cannot change the gradient of that step.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate_derivative: SurrogateDerivative) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate_derivative = surrogate_derivative
        return binary_sign(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate_derivative(x), None


def clipped_identity_derivative(x: torch.Tensor) -> torch.Tensor:
    """1 where |x| <= 1, else 0: the derivative of clamp(x, -1, 1)."""
    return (x.abs() <= 1).to(x.dtype)


def approx_sign_derivative(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real's triangle: 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere, i.e. max(0, 2 - 2|x|)."""
    return (2 - 2 * x.abs()).clamp_min(0)


def ede_derivative(x: torch.Tensor, k: float, t: float) -> torch.Tensor:
    """IR-Net's EDE: k * t * (1 - tanh^2(t x)), the derivative of k * tanh(t x)."""
    return k * t * (1 - torch.tanh(t * x) ** 2)


class SignEstimator(nn.Module):
    """Base of the estimators: forward(x) = binary_sign(x) with ``surrogate_derivative()`` as gradient."""

    def __init__(self):
        # An explicit empty signature, so make_estimator can check the options of option-less estimators.
        super().__init__()

    def surrogate_derivative(self) -> SurrogateDerivative:
        """The gradient rule to use for the next forward pass."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SignWithSurrogateGradient.apply(x, self.surrogate_derivative())


class ClippedIdentity(SignEstimator):
    r"""Sign with the clipped straight-through estimator (BinaryNet; Brevitas' default).

    .. math:: \partial y/\partial x = 1 \text{ if } |x| \le 1 \text{ else } 0

    Used for the weights of SD-BNN's and ReActNet's ImageNet models (seed_methods §2.1, §3.2).
    """

    def surrogate_derivative(self) -> SurrogateDerivative:
        return clipped_identity_derivative


class ApproxSign(SignEstimator):
    r"""Sign with Bi-Real's ApproxSign gradient (derivative of a piecewise quadratic).

    .. math:: \partial y/\partial x = 2 + 2x \text{ on } [-1, 0),\ 2 - 2x \text{ on } [0, 1),\ 0 \text{ elsewhere}

    Used for activations by SD-BNN (ImageNet), ReActNet/DyBNN and AdaBin (seed_methods §2.1, §3.2,
    §5.1). Compared with the clipped identity it gives more gradient near the threshold.
    """

    def surrogate_derivative(self) -> SurrogateDerivative:
        return approx_sign_derivative


class EDE(SignEstimator):
    r"""Sign with IR-Net's Error Decay Estimator: a tanh surrogate that sharpens during training.

    .. math:: \partial y/\partial x = k\,t\,(1 - \tanh^2(t x))

    with the schedule (seed_methods §2.1, SD-code ``binaryfunction.py``; AdaBin uses it too, §5.1)

    .. math:: t = 10^{\log_{10} t_{min} + (\log_{10} t_{max} - \log_{10} t_{min})\,e/E}, \quad k = \max(1/t, 1)

    for epoch e of E. Early (t small, k = 1/t) the gradient is ~1 everywhere, like an identity
    STE, so all latent values keep learning; late (t = t_max, k = 1) it is a spike of height
    t_max around 0, close to the true sign's derivative.

    t and k are plain floats, not buffers: the trainer calls ``set_epoch`` every epoch, so they
    need no checkpointing, and inference uses only the forward (the sign).

    Args:
        t_min: t at epoch 0 (1e-3 for ResNet-18/20, 1e-1 for VGG-small in SD-BNN; 1e-2 in BD-BNN).
        t_max: t at epoch == epochs (10 in all the seed code).
    """

    def __init__(self, t_min: float = 1e-3, t_max: float = 10.0):
        super().__init__()
        if not 0 < t_min <= t_max:
            raise HwBnnError(f"EDE needs 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.set_epoch(0, 1)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Move t and k to the values of ``epoch`` (0-based) of ``epochs``."""
        if epochs < 1 or not 0 <= epoch <= epochs:
            raise HwBnnError(f"EDE.set_epoch needs 0 <= epoch <= epochs and epochs >= 1, "
                             f"got epoch={epoch}, epochs={epochs}")
        log_t_min, log_t_max = math.log10(self.t_min), math.log10(self.t_max)
        self.t = 10 ** (log_t_min + (log_t_max - log_t_min) * epoch / epochs)
        self.k = max(1 / self.t, 1.0)

    def surrogate_derivative(self) -> SurrogateDerivative:
        return functools.partial(ede_derivative, k=self.k, t=self.t)

    def extra_repr(self) -> str:
        return f"t_min={self.t_min}, t_max={self.t_max}, t={self.t:.4g}, k={self.k:.4g}"


ESTIMATORS: dict[str, type[SignEstimator]] = {
    "clipped_identity": ClippedIdentity,
    "approx_sign": ApproxSign,
    "ede": EDE,
}


def check_estimator(name: str) -> None:
    """Refuse a name no estimator is registered as (before a method builds its first layer)."""
    if name not in ESTIMATORS:
        raise HwBnnError(f"unknown estimator {name!r}: choose one of {sorted(ESTIMATORS)}")


def make_estimator(name: str, **options) -> SignEstimator:
    """Build the estimator registered as ``name`` with its constructor ``options``."""
    check_estimator(name)
    estimator_class = ESTIMATORS[name]
    try:
        inspect.signature(estimator_class).bind(**options)
    except TypeError:
        accepted = sorted(inspect.signature(estimator_class).parameters)
        raise HwBnnError(f"estimator {name!r} takes the options {accepted}, got {sorted(options)}") from None
    return estimator_class(**options)
