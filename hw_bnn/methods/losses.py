"""Training-loss terms a method adds to the task loss, and what they are computed from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn
from torch.nn.utils import parametrize


@dataclass
class LossContext:
    """One training step as the loss terms see it."""

    model: nn.Module
    images: torch.Tensor
    #: The model's outputs times the task loss's learnable temperature: the logits its softmax sees.
    logits: torch.Tensor
    epoch: int
    epochs: int
    #: The frozen full-precision teacher (outputs scaled by its own temperature), for methods with
    #: ``needs_teacher``.
    teacher: nn.Module | None = None


class LossTerm(Protocol):
    def __call__(self, context: LossContext) -> torch.Tensor: ...


def is_binary_layer(module: nn.Module) -> bool:
    """A Brevitas QuantLinear/QuantConv2d made by a method (``Method.linear``/``conv2d``): binarised by a
    1-bit quantizer or a weight transform, or left float by the full-precision teacher; not one of the
    residual architectures' multi-bit layers."""
    if not isinstance(module, (QuantLinear, QuantConv2d)):
        return False
    if parametrize.is_parametrized(module, "weight") or not module.weight_quant.is_quant_enabled:
        return True
    return int(module.weight_quant.bit_width()) == 1


def latent_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The latent (pre-binarisation) weight of every Brevitas QuantLinear/QuantConv2d, in model order.

    A parametrized layer's latent weight is the parametrization's original tensor, not the
    transformed (binarised) one. Plain ``nn.Linear`` inside method blocks (squeeze-excitation,
    hyper-functions) and the multi-bit stem, shortcut and classifier layers of the residual
    architectures are not binary layers and are not listed.
    """
    found = []
    for name, module in model.named_modules():
        if is_binary_layer(module):
            if parametrize.is_parametrized(module, "weight"):
                found.append((name, module.parametrizations.weight.original))
            else:
                found.append((name, module.weight))
    return found


class KurtosisTerm:
    """BD-BNN's kurtosis regulariser over the latent weights of all binary layers but the first
    (BD-code ``--weight-name all`` skips the first conv; seed_methods §4.2)."""

    def __init__(self, regulariser):
        self.regulariser = regulariser

    def __call__(self, context: LossContext) -> torch.Tensor:
        weights = [w for _, w in latent_weights(context.model)[1:]]
        return self.regulariser(weights, context.epoch)


class WeightMimickingTerm:
    """BD-BNN's weight-distribution mimicking: student latent weights against the teacher's,
    layer by layer, skipping the first layer as the released loss does (seed_methods §4.3)."""

    def __init__(self, loss, weight: float):
        self.loss, self.weight = loss, weight

    def __call__(self, context: LossContext) -> torch.Tensor:
        student = [w for _, w in latent_weights(context.model)[1:]]
        teacher = [w.detach() for _, w in latent_weights(context.teacher)[1:]]
        return self.weight * self.loss(student, teacher)


class DistillationTerm:
    """Logit distillation from the teacher (ReActNet's distributional loss, seed_methods §4.3)."""

    def __init__(self, loss, weight: float):
        self.loss, self.weight = loss, weight

    def __call__(self, context: LossContext) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = context.teacher(context.images)
        return self.weight * self.loss(context.logits, teacher_logits)
