"""Mapping is decided on the exported graph: each kind of module a user's Brevitas model may hold is
compiled and compared with PyTorch on real outputs where the maths allows, and refused where it does not,
with the ONNX node and the PyTorch module named."""

import numpy as np
import pytest
import torch
from brevitas.core.scaling import ScalingImplType
from brevitas.core.stats import StatsOp
from brevitas.nn import QuantConv2d, QuantHardTanh, QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
from model_helpers import randomize_batchnorm
from torch import nn

from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig
from hw_bnn.errors import HwBnnError
from hw_bnn.execute import run_graph
from hw_bnn.export import export_model
from hw_bnn.flow import host_tail_slopes, rounded_tail
from hw_bnn.quant import BipolarAct, BipolarWeight
from hw_bnn.train import predict


class ActParameterScale(SignedBinaryActPerTensorConst):
    """A binary activation with a learned scale (not 1): sign(x) * s."""

    scaling_impl_type = ScalingImplType.PARAMETER
    scaling_init = 0.6


class WeightMeanAbsolute(SignedBinaryWeightPerTensorConst):
    """XNOR-Net's weight scale: the mean |w| of each output channel, from the weights."""

    scaling_impl_type = ScalingImplType.PARAMETER_FROM_STATS
    scaling_stats_op = StatsOp.AVE
    scaling_per_output_channel = True


class Centre(nn.Module):
    """A user's own module: the 8-bit pixels centred on 0 (x - 127.5)."""

    def forward(self, x):
        return x - 127.5


class Shift(nn.Module):
    """A user's own module: the 8-bit pixels scaled to [0, 1] and centred (x/255 - 0.5)."""

    def forward(self, x):
        return x / 255 - 0.5


class ChannelAffine(nn.Module):
    """A per-channel affine with learned parameters (TensorNorm-like), the user's own."""

    def __init__(self, channels: int):
        super().__init__()
        self.gain = nn.Parameter(torch.linspace(-1.5, 2.0, channels))
        self.offset = nn.Parameter(torch.linspace(-2.0, 1.0, channels))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.gain.view(shape) + self.offset.view(shape)


class Normalize(nn.Module):
    """Mean/std normalisation of the RGB pixels before the first quantizer."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([125.0, 122.0, 113.0]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([63.0, 62.0, 66.0]).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def mlp(pre=(Centre(),), middle=(QuantIdentity(act_quant=BipolarAct),), bias=False, first_weights=BipolarWeight,
        last_weights=BipolarWeight):
    return nn.Sequential(nn.Flatten(), *pre, QuantIdentity(act_quant=BipolarAct),
                         QuantLinear(16, 8, bias=bias, weight_quant=first_weights), nn.BatchNorm1d(8), *middle,
                         QuantLinear(8, 4, bias=False, weight_quant=last_weights))


class Wrapped(nn.Module):
    """A custom forward around the layers: reshapes, a nested Sequential, a scale on the output."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Normalize(), QuantIdentity(act_quant=Int8ActPerTensorFloat),
                                      QuantConv2d(3, 8, 3, padding=1, bias=False, weight_quant=BipolarWeight),
                                      nn.BatchNorm2d(8))
        self.binarize = QuantIdentity(act_quant=BipolarAct)
        self.classifier = nn.Sequential(QuantConv2d(8, 8, 3, bias=False, weight_quant=BipolarWeight),
                                        nn.BatchNorm2d(8), QuantIdentity(act_quant=BipolarAct))
        self.head = QuantLinear(8 * 3 * 3, 4, bias=False, weight_quant=BipolarWeight)

    def forward(self, x):
        x = nn.functional.max_pool2d(self.binarize(self.features(x)), 2)
        return self.head(self.classifier(x).reshape(x.shape[0], -1)) * 0.5


def cnv(pool=nn.MaxPool2d(2), padding=0, between=()):
    """Convs on a 10x10 RGB image: an 8-bit input quantizer after the normalisation, a binary conv."""
    return nn.Sequential(Normalize(), QuantIdentity(act_quant=Int8ActPerTensorFloat),
                         QuantConv2d(3, 8, 3, bias=False, weight_quant=BipolarWeight), nn.BatchNorm2d(8),
                         QuantIdentity(act_quant=BipolarAct), *between, pool,
                         QuantConv2d(8, 8, 3, padding=padding, bias=False, weight_quant=BipolarWeight),
                         nn.BatchNorm2d(8), QuantIdentity(act_quant=BipolarAct), nn.Flatten(),
                         QuantLinear(8 * (2 + 2 * padding) ** 2, 4, bias=False, weight_quant=BipolarWeight))


MAPPED = {
    "bias before a sign": lambda: mlp(bias=True),
    "x/255 before the first quantizer": lambda: mlp(pre=(Shift(),)),
    "per-channel affine before a sign": lambda: mlp(middle=(ChannelAffine(8), QuantIdentity(act_quant=BipolarAct))),
    "QuantHardTanh, binary, constant scale": lambda: mlp(middle=(QuantHardTanh(act_quant=SignedBinaryActPerTensorConst),)),
    "QuantIdentity, binary, learned scale": lambda: mlp(middle=(QuantIdentity(act_quant=ActParameterScale),)),
    "BNN-PYNQ CommonActQuant/CommonWeightQuant": lambda: mlp(
        middle=(QuantIdentity(act_quant=CommonActQuant, bit_width=1),),
        first_weights=CommonWeightQuant.let(bit_width=1), last_weights=CommonWeightQuant.let(bit_width=1)),
    "per-channel weight scales from statistics": lambda: mlp(first_weights=WeightMeanAbsolute,
                                                             last_weights=WeightMeanAbsolute),
    "mean/std normalisation, 8-bit input, padded": lambda: cnv(),
    "custom forward wrapper": Wrapped,
}


@pytest.mark.parametrize("case", MAPPED)
def test_what_the_maths_allows_is_mapped_and_equals_pytorch(case, tmp_path):
    model = randomize_batchnorm(MAPPED[case](), seed=1)
    convolutional = any(isinstance(m, QuantConv2d) for m in model.modules())
    shape = (3, 10, 10) if convolutional else (1, 4, 4)
    images = np.random.default_rng(0).integers(0, 256, size=(40, *shape)).astype(np.float32)
    hw = compile_model(export_model(model, shape, tmp_path / "export.onnx"), BuildConfig())
    outputs, reference = run_graph(hw, images, show_progress=False), predict(model, images)
    assert len(np.unique(reference, axis=0)) > 1, "a constant network would prove nothing"
    if not np.array_equal(outputs, reference):  # a float scale after the last layer: its rounding only
        tail = rounded_tail(outputs, reference, host_tail_slopes(hw))
        assert tail is not None and tail["max_abs_diff"] < 1e-5, np.abs(outputs - reference).max()


class _ConstantScale(nn.Module):
    def forward(self, x):
        return x * 0.5


REFUSED = {
    "a 2-bit activation inside": (lambda: mlp(middle=(QuantIdentity(bit_width=2),)),
                                  r"node 'Gemm_1' \(Gemm, PyTorch module '5' \(QuantIdentity\)\) reads 2-bit"),
    "8-bit weights": (lambda: mlp(last_weights=Int8WeightPerTensorFloat),
                      r"node 'Gemm_1' \(Gemm, PyTorch module '6' \(QuantLinear\)\) has 8-bit weights"),
    "a multi-bit QuantReLU inside": (lambda: mlp(middle=(QuantReLU(bit_width=4),)),
                                     r"node 'Relu_0' \(Relu, PyTorch module '5' \(QuantReLU\)\) is a float "
                                     r"nonlinearity"),
    "a scale between a sign and the next layer": (
        lambda: mlp(middle=(QuantIdentity(act_quant=BipolarAct), ChannelAffine(8))),
        r"node 'MatMul_0' \(MatMul, after PyTorch module '6' \(ChannelAffine\)\) could not be mapped .* move it "
        r"before the binarizer"),
    "an average pool of bits": (lambda: cnv(pool=nn.AvgPool2d(2)),
                                r"node 'AveragePool_0' \(AveragePool, PyTorch module '5' \(AvgPool2d\)\) .* use a "
                                r"max-pool"),
    "zero padding of +-1 activations": (lambda: cnv(padding=1),
                                        r"node 'Conv_1' \(Conv, PyTorch module '6' \(QuantConv2d\)\) zero-pads"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_no_hw_node_computes_is_refused_naming_node_and_module(case, tmp_path):
    build, message = REFUSED[case]
    model = randomize_batchnorm(build(), seed=1)
    convolutional = any(isinstance(m, QuantConv2d) for m in model.modules())
    graph = export_model(model, (3, 10, 10) if convolutional else (1, 4, 4), tmp_path / "export.onnx")
    with pytest.raises(HwBnnError, match=message):
        compile_model(graph, BuildConfig())


@pytest.mark.parametrize("quantizer, levels", [
    (lambda: QuantHardTanh(bit_width=1, min_val=-1.0, max_val=1.0, scaling_impl_type=ScalingImplType.CONST),
     r"\{-s, 0\}"),
    (lambda: QuantReLU(bit_width=1, max_val=1.0), r"\{0, s\}"),
])
def test_a_one_bit_quantizer_that_does_not_binarise_is_refused_before_export(quantizer, levels, tmp_path):
    """Brevitas' 1-bit integer quantizers have a level at 0, yet it exports the signed one as a
    BipolarQuant: the graph would not be the model, so the module itself is named."""
    with pytest.raises(HwBnnError, match=rf"layer '5' \((QuantHardTanh|QuantReLU)\) has a 1-bit integer activation "
                                         rf"quantizer: its two levels are {levels}"):
        export_model(mlp(middle=(quantizer(),)), (1, 4, 4), tmp_path / "export.onnx")
    assert not (tmp_path / "export.onnx").exists()
