"""A user's own Brevitas model, built outside hw_bnn, for the bring-your-own-model tests."""

from brevitas.nn import QuantIdentity, QuantLinear
from torch import nn

from hw_bnn.quant import BipolarAct, BipolarWeight


class TinyUserNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int, width: int):
        super().__init__()
        self.binarize_input = QuantIdentity(act_quant=BipolarAct)
        self.fc1 = QuantLinear(in_features, width, bias=False, weight_quant=BipolarWeight)
        self.bn1 = nn.BatchNorm1d(width)
        self.act1 = QuantIdentity(act_quant=BipolarAct)
        self.fc2 = QuantLinear(width, num_classes, bias=False, weight_quant=BipolarWeight)

    def forward(self, x):
        x = self.binarize_input(x.flatten(1) - 100.0)
        return self.fc2(self.act1(self.bn1(self.fc1(x))))


def tiny_user_net(input_shape, num_classes, width=32):
    """Factory in the form a recipe's ``model.factory`` names."""
    c, h, w = input_shape
    return TinyUserNet(c * h * w, num_classes, width)
