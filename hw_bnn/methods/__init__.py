"""BNN training methods, chosen by name in a recipe.

A method is a small bundle of named pieces: the Brevitas weight and activation quantizers
the models are built with, and an optional regulariser added to the loss. Models never
branch on the method's name; they ask the method for its pieces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from hw_bnn.errors import HwBnnError
from hw_bnn.quant import BipolarAct, BipolarWeight

Regulariser = Callable[[torch.nn.Module, int], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """The pieces one BNN method contributes to a model and its training."""

    name: str
    weight_quant: type = BipolarWeight
    act_quant: type = BipolarAct
    regularisers: tuple[Regulariser, ...] = field(default_factory=tuple)

    def regulariser_loss(self, model: torch.nn.Module, epoch: int) -> torch.Tensor | None:
        """Sum of this method's regularisers, or None when it has none."""
        if not self.regularisers:
            return None
        return sum(reg(model, epoch) for reg in self.regularisers)


METHODS: dict[str, Method] = {
    # BNN-PYNQ / BinaryNet: sign with a clipped straight-through estimator, no extras.
    "baseline": Method("baseline"),
}


def get_method(identifier: str | Method) -> Method:
    """Resolve a method name (or pass a Method through)."""
    if isinstance(identifier, Method):
        return identifier
    if identifier in METHODS:
        return METHODS[identifier]
    raise HwBnnError(
        f"unknown method {identifier!r}: choose one of {sorted(METHODS)} in the recipe's 'method' field"
    )
