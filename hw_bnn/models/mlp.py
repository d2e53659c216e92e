"""BNN-PYNQ-style binary MLP (TFC/SFC/LFC family)."""

from __future__ import annotations

import math

from brevitas.nn import QuantIdentity
from torch import nn

from hw_bnn.methods import Method, get_method
from hw_bnn.methods.losses import latent_weights
from hw_bnn.quant import BipolarAct


class BinaryMLP(nn.Module):
    """Binarised input, hidden layers of QuantLinear -> BatchNorm1d -> sign, integer output.

    The input is raw 8-bit pixels (0..255 as floats). It is binarised as
    sign(x - input_threshold), which FINN turns into one integer threshold per pixel.
    The last layer has bipolar weights and no bias or norm, so its outputs are the exact
    integer dot products 2*popcount - K that the hardware produces; the temperature the
    loss needs lives in the loss (see ``hw_bnn.train``), not in the model.

    Args:
        input_shape: (C, H, W) of the images.
        num_classes: number of outputs.
        hidden: width of each hidden layer.
        method: BNN method name or object providing the quantizers.
        input_threshold: pixel level that separates -1 from +1 (127.5 = mid-grey).
        dropout: dropout probability after each binarisation (training only; BNN-PYNQ uses 0.2).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        hidden: tuple[int, ...] = (64, 64, 64),
        method: str | Method = "baseline",
        input_threshold: float = 127.5,
        dropout: float = 0.0,
    ):
        super().__init__()
        method = get_method(method)
        self.input_threshold = float(input_threshold)
        self.input_quant = QuantIdentity(act_quant=BipolarAct, return_quant_tensor=False)
        layers: list[nn.Module] = []
        width = math.prod(input_shape)
        for out_features in hidden:
            layers += [
                method.linear(width, out_features),
                nn.BatchNorm1d(out_features),
                method.activation(out_features),
                nn.Dropout(dropout),
            ]
            width = out_features
        layers.append(method.linear(width, num_classes))
        self.features = nn.Sequential(*layers)
        for _, weight in latent_weights(self):
            nn.init.uniform_(weight, -1.0, 1.0)

    def forward(self, x):
        x = x.flatten(1)
        x = self.input_quant(x - self.input_threshold)
        return self.features(x)
