"""Models for the data-parallel tests (tests/test_ddp.py), imported by the torchrun'd processes as a
recipe's ``model.factory``."""

import torch
from torch import nn


class DriftingMLP(nn.Module):
    """A float MLP whose processes drift apart outside forward/backward, where DDP does not look.

    Each process's random generator is seeded by its rank (hw_bnn.train), so the two changes below
    differ between processes:
    - ``set_epoch`` (called at the start of every epoch) adds noise to the output bias in place.
      DDP averages gradients, not weights: the processes go on with different biases.
    - every eval-mode forward (the test pass after each epoch, after the buffers were made equal)
      writes a random probe into the ``eval_probe`` buffer.
    """

    def __init__(self, in_features: int, num_classes: int, width: int):
        super().__init__()
        self.register_buffer("eval_probe", torch.zeros(1))
        self.hidden, self.out = nn.Linear(in_features, width), nn.Linear(width, num_classes)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        with torch.no_grad():
            self.out.bias.add_(1e-3 * torch.randn_like(self.out.bias))

    def forward(self, x):
        if not self.training:
            self.eval_probe.copy_(torch.rand(1))
        return self.out(torch.tanh(self.hidden(x.flatten(1) / 255)))


def drifting_mlp(input_shape, num_classes, width=16):
    """Factory in the form a recipe's ``model.factory`` names."""
    c, h, w = input_shape
    return DriftingMLP(c * h * w, num_classes, width)
