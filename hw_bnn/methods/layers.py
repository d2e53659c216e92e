"""Generic pieces the BNN methods compose: a training-only sign, weight transforms, and shape helpers.

Two contracts matter for export:

- An activation block ends in ``EstimatedSign`` followed (in the model) by a Brevitas
  ``QuantIdentity`` with a bipolar quantizer. In training the estimator does the sign, so the
  method's surrogate gradient is used; in eval the block passes its (shifted) input through and
  the Brevitas sign alone produces the ±1 values, so export sees the usual Brevitas graph.
- A weight transform is a torch parametrization (``register_parametrization(layer, "weight",
  transform)``): ``layer.weight`` becomes ``transform(latent_weight)``, and the latent tensor
  stays at ``layer.parametrizations.weight.original``.
"""

from __future__ import annotations

import torch
from torch import nn


def global_average_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, *spatial) -> (N, C), the mean over the spatial dims; (N, C) comes back unchanged.

    A fully connected layer's activations have no spatial dims, so the "pool" over them is the
    tensor itself: each sample's own values.
    """
    return x.mean(dim=tuple(range(2, x.dim()))) if x.dim() > 2 else x


def expand_channels(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape per-channel (C,) or per-sample-per-channel (N, C) values to broadcast over ``like``
    (N, C, *spatial)."""
    leading = values if values.dim() == 2 else values.unsqueeze(0)
    return leading.reshape(*leading.shape, *([1] * (like.dim() - 2)))


def per_output_channel_dims(weight: torch.Tensor) -> tuple[int, ...]:
    """The dims a per-output-channel statistic reduces over: all but dim 0."""
    return tuple(range(1, weight.dim()))


class EstimatedSign(nn.Module):
    """The sign of an activation block: the estimator's sign in training, the identity in eval.

    Contract: a Brevitas ``QuantIdentity`` with a bipolar quantizer must follow this module.

    - Training: returns ``estimator(x)``, exactly ±1 with the estimator's surrogate gradient.
      Brevitas' sign of ±1 is the same ±1, and its clipped STE passes the gradient unchanged
      at |x| = 1, so the pair trains with this estimator's gradient.
    - Eval: returns x unchanged, and the Brevitas sign does the binarisation. Both signs map
      x >= 0 to +1, so the pair computes the same values in both modes, while the exported
      graph contains only the Brevitas quantizer FINN knows.
    """

    #: Exports as nothing (identity in eval): the exporter accepts it (see hw_bnn.export).
    maps_to_thresholds = True

    def __init__(self, estimator: nn.Module):
        super().__init__()
        self.estimator = estimator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.estimator(x) if self.training else x


class WeightTransform(nn.Module):
    """Base of weight parametrizations: forward(latent weight) -> the weight the layer uses.

    Register one with ``torch.nn.utils.parametrize.register_parametrization(layer, "weight",
    transform)``. The optimiser keeps updating the latent weight; the layer (and a Brevitas
    weight quantizer, if any) sees the transformed one. Statistics over "each output channel"
    are over all dims but dim 0, so the same transform serves Linear (out, in) and Conv
    (out, in, kh, kw) weights.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class BinaryWeight(WeightTransform):
    """w -> estimator(w) in {-1, +1}: binary weights trained with a non-default estimator.

    Brevitas' bipolar weight quantizer always uses the clipped STE; put this transform in front
    of it (or use no weight quantizer) when a method trains the weights with ApproxSign or EDE.
    A bipolar Brevitas quantizer after it is harmless: sign(±1) = ±1 and its STE passes the
    gradient at |w| = 1.
    """

    def __init__(self, estimator: nn.Module):
        super().__init__()
        self.estimator = estimator

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return self.estimator(weight)


def replace_children(sequential: nn.Sequential, rebuilt: list[nn.Module]) -> None:
    """Give ``sequential`` the children ``rebuilt`` (numbered from 0) when they differ from its own."""
    children = list(sequential.named_children())
    if len(rebuilt) == len(children) and all(r is c for r, (_, c) in zip(rebuilt, children)):
        return
    for key, _ in children:
        delattr(sequential, key)
    for position, child in enumerate(rebuilt):
        sequential.add_module(str(position), child)
