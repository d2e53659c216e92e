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


def latent_weight(module: nn.Module) -> torch.Tensor:
    """A layer's latent weight: a parametrized layer's original tensor, not the transformed (binarised) one."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def latent_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The latent (pre-binarisation) weight of every binary layer (``is_binary_layer``), in model order.

    Plain ``nn.Linear`` inside method blocks (squeeze-excitation, hyper-functions) and the multi-bit
    stem, shortcut and classifier layers of the residual architectures are not binary layers and are
    not listed.
    """
    return [(name, latent_weight(module)) for name, module in model.named_modules() if is_binary_layer(module)]


def _regularised_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, (QuantLinear, QuantConv2d))]
    return [(name, module) for name, module in layers[1:] if isinstance(module, QuantConv2d) or is_binary_layer(module)]


def regularised_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """BD-BNN's kurtosis layer set, in model order: every conv of the network but its first layer (the
    stem), the multi-bit 1x1 down-sampling convs included, as BD-code ``--weight-name all`` collects every
    conv but the first (19 in ResNet-18: 16 binary 3x3 + 3 down-sampling); and the binary fully connected
    layers (of the MLP and CNV nets, which the released ResNets do not have), but not a multi-bit
    classifier (full precision in the released nets, and not a conv)."""
    return [(name, latent_weight(module)) for name, module in _regularised_layers(model)]


def mimicking_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """BD-BNN's weight-mimicking layer set: the kurtosis set without the (multi-bit) down-sampling convs, as
    the released ``DistributionLoss_layer`` skips ``conv1`` and every module named ``downsample``."""
    return [(name, latent_weight(module)) for name, module in _regularised_layers(model) if is_binary_layer(module)]


class KurtosisTerm:
    """BD-BNN's kurtosis regulariser over ``regularised_weights`` (seed_methods §4.2)."""

    def __init__(self, regulariser):
        self.regulariser = regulariser

    def __call__(self, context: LossContext) -> torch.Tensor:
        return self.regulariser([w for _, w in regularised_weights(context.model)], context.epoch)


class WeightMimickingTerm:
    """BD-BNN's weight-distribution mimicking: student latent weights against the teacher's, layer by
    layer over ``mimicking_weights`` (seed_methods §4.3)."""

    def __init__(self, loss, weight: float):
        self.loss, self.weight = loss, weight

    def __call__(self, context: LossContext) -> torch.Tensor:
        student = [w for _, w in mimicking_weights(context.model)]
        teacher = [w.detach() for _, w in mimicking_weights(context.teacher)]
        return self.weight * self.loss(student, teacher)


class DistillationTerm:
    """Logit distillation from the teacher (ReActNet's distributional loss, seed_methods §4.3)."""

    def __init__(self, loss, weight: float):
        self.loss, self.weight = loss, weight

    def __call__(self, context: LossContext) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = context.teacher(context.images)
        return self.weight * self.loss(context.logits, teacher_logits)
