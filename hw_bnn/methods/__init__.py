"""BNN training methods, chosen by name (and options) in a recipe.

A method is a small bundle of named pieces, composed like Larq's quantizers:

- how a binary layer's weights are binarised: a Brevitas weight quantizer, optionally behind a
  weight transform (a torch parametrization such as SD-BNN's WSD or AdaBin's weight sets);
- what sits between a layer's BatchNorm and the next binary layer: the activation block
  (SD-BNN's shift + sign, AdaBin's Maxout + adaptive binary set, DyBNN's RPReLU + RSign, ...);
- extra loss terms (BD-BNN's kurtosis, weight-distribution mimicking, distillation);
- whether a full-precision teacher is needed, and why hardware cannot take the method yet.

Models never branch on a method's name; they ask the method for layers and blocks.
``METHODS`` (``hw_bnn.methods.catalog``) maps a name to a factory taking the recipe's
``method_options``.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from torch import nn
from torch.nn.utils import parametrize

from hw_bnn.errors import HwBnnError
from hw_bnn.methods.losses import LossContext, LossTerm
from hw_bnn.quant import BipolarAct, BipolarWeight

BlockFactory = Callable[[int], nn.Module]
WeightTransformFactory = Callable[[int], nn.Module]


def brevitas_sign(channels: int) -> nn.Module:
    """The baseline activation: Brevitas' bipolar sign with its clipped straight-through estimator."""
    return QuantIdentity(act_quant=BipolarAct)


@dataclass(frozen=True)
class Method:
    """The pieces one BNN method contributes to a model and its training."""

    name: str
    #: Brevitas quantizer of binary layers' weights; None leaves them float (the transform binarises).
    weight_quant: type | None = BipolarWeight
    #: Parametrization factory (out_channels -> module) applied to each binary layer's weight.
    weight_transform: WeightTransformFactory | None = None
    #: Factory (channels -> module) for what follows a BatchNorm: ends in the binary activation.
    activation: BlockFactory = brevitas_sign
    #: In residual nets (hw_bnn.models.cifar): the block at a binary conv's input (None: ``activation``)...
    binarizer_block: BlockFactory | None = None
    #: ... and the nonlinearity after each residual sum (the papers' hardtanh; AdaBin's Maxout).
    residual_activation: BlockFactory = lambda channels: nn.Hardtanh()
    #: In the ImageNet nets: the nonlinearity after the stem's BatchNorm (None: none, as Bi-Real and ReActNet;
    #: AdaBin's Maxout). The CIFAR nets put ``residual_activation`` there for every method, as their code.
    stem_activation: BlockFactory | None = None
    #: Extra training losses (added to the task loss).
    loss_terms: tuple[LossTerm, ...] = ()
    #: True when the loss terms need a full-precision teacher of the same architecture.
    needs_teacher: bool = False
    #: Why this method cannot be mapped to hardware yet (None: it folds into XNOR + thresholds).
    hardware_blocker: str | None = None
    #: The options the method was made with, for reports.
    options: dict[str, Any] = field(default_factory=dict)

    def _binary(self, layer: nn.Module) -> nn.Module:
        if self.weight_transform is not None:
            parametrize.register_parametrization(layer, "weight", self.weight_transform(layer.weight.shape[0]))
        return layer

    def linear(self, in_features: int, out_features: int) -> QuantLinear:
        """A binary fully connected layer (no bias: the BatchNorm after it holds the offset)."""
        return self._binary(QuantLinear(in_features, out_features, bias=False, weight_quant=self.weight_quant))

    def conv2d(self, in_channels: int, out_channels: int, kernel_size: int, **kwargs) -> QuantConv2d:
        """A binary convolution (no bias)."""
        return self._binary(QuantConv2d(in_channels, out_channels, kernel_size, bias=False,
                                        weight_quant=self.weight_quant, **kwargs))

    def with_float_weights(self) -> "Method":
        """This method with real-valued weights in its binary layers (its activations unchanged): step 1 of
        two-step training, which has no hardware form."""
        return dataclasses.replace(self, weight_quant=None, weight_transform=None, hardware_blocker=(
            "real-valued weights (train.float_weights, step 1 of two-step training); train step 2 from this "
            "model.pt (train.init_from) with train.float_weights: false"))

    def binarizer(self, channels: int) -> nn.Module:
        """The binarising block at a binary conv's input in a residual net."""
        return (self.binarizer_block or self.activation)(channels)

    def extra_loss(self, context: LossContext) -> torch.Tensor | None:
        """Sum of this method's loss terms, or None when it has none."""
        if not self.loss_terms:
            return None
        return sum(term(context) for term in self.loss_terms)


def get_method(identifier: str | Method, options: dict[str, Any] | None = None) -> Method:
    """Resolve a method name with its options (or pass a Method through)."""
    if isinstance(identifier, Method):
        return identifier
    if identifier not in METHODS:
        raise HwBnnError(
            f"unknown method {identifier!r}: choose one of {sorted(METHODS)} in the recipe's 'method' field"
        )
    factory = METHODS[identifier]
    options = dict(options or {})
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise HwBnnError(f"method {identifier!r} has no option(s) {unknown}; its options are "
                         f"{sorted(accepted)} (recipe field 'method_options')")
    return factory(**options)


# The catalog builds Methods from the method modules; it needs Method defined first.
from hw_bnn.methods.catalog import METHODS  # noqa: E402
