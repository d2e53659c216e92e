"""Per-sample thresholds (SD-BNN squeeze-excitation, DyBNN) in hardware: the deployment form equals the
quantisation-aware model, and QONNX, FINN and RTL equal the deployment form bit for bit."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from qonnx.custom_op.registry import getCustomOp

from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig
from hw_bnn.errors import HwBnnError
from hw_bnn.estimate import estimate
from hw_bnn.execute import run_graph
from hw_bnn.export import deployable, export_model
from hw_bnn.methods import get_method
from hw_bnn.features.dynamic_threshold.deploy import _hidden_thresholds, _pool_thresholds, threshold_on_acc
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP
from model_helpers import randomize_batchnorm

SHAPE = (1, 28, 28)
ARCHS = {
    "mlp": lambda method: BinaryMLP(hidden=(32, 32), method=method),
    "cnv": lambda method: BinaryCNV(channels=(8, 8, 16, 16), fc=(32,), method=method),
}


def _images(n: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *SHAPE), generator=torch.Generator().manual_seed(seed)).float()


def random_dynamic_model(arch: str, method: str, seed: int = 0) -> torch.nn.Module:
    """A model with calibrated quantizers, random BatchNorm (negative scales included), random hyper
    weights, and for DyBNN random static shifts and positive PReLU slopes."""
    torch.manual_seed(seed)
    model = ARCHS[arch](get_method(method))
    model.train()
    model(_images(32, seed))  # the quantizers' scales come from the first batches' statistics
    randomize_batchnorm(model, seed)
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if "dynamic.expand" in name:
            param.data = torch.randn(param.shape, generator=generator)
        elif "static_" in name:
            param.data = torch.randn(param.shape, generator=generator) * 0.5
        elif "prelu" in name:
            param.data = torch.rand(param.shape, generator=generator) + 0.05
    return model.eval()


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
@pytest.mark.parametrize("arch", ["mlp", "cnv"])
def test_deployment_form_equals_the_quantised_model(arch, method):
    model = random_dynamic_model(arch, method)
    x = _images(64, seed=1)
    with torch.no_grad():
        assert torch.equal(model(x), deployable(model, SHAPE)(x))


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
@pytest.mark.parametrize("arch", ["mlp", "cnv"])
def test_qonnx_and_finn_graphs_are_bit_exact(arch, method, tmp_path):
    model = random_dynamic_model(arch, method, seed=2)
    x = _images(16, seed=3)
    expected = deployable(model, SHAPE)(x).detach().numpy()
    graph = export_model(model, SHAPE, tmp_path / "export.onnx")
    assert any(n.op_type == "DynamicThreshold" for n in graph.graph.node)
    pixels = x.numpy().astype(np.uint8)
    assert np.array_equal(run_graph(graph, pixels, show_progress=False), expected)
    hw = compile_model(graph, BuildConfig(target_cycles_per_frame=2000))
    ops = [n.op_type for n in hw.graph.node]
    assert ops.count("FrameHyperFunction") == ops.count("FrameBuffer") == (2 if arch == "mlp" else 5)
    assert np.array_equal(run_graph(hw, pixels, show_progress=False), expected)
    dynamic = estimate(hw, "xc7z020clg400-1", 100.0)["per_frame_thresholds"]
    assert dynamic["layers"] == ops.count("FrameBuffer")
    # two frames of the acc map per layer, at the acc width
    buffers = [getCustomOp(n) for n in hw.graph.node if n.op_type == "FrameBuffer"]
    assert dynamic["frame_buffer_bits"] == sum(2 * b.pixels * b.channels * int(b.get_nodeattr("accDataType")[3:]) +
                                               2 * b.channels * b.stream_bits() for b in buffers)
    assert dynamic["added_latency_cycles"] > 0


def test_threshold_on_acc_matches_the_real_decision_everywhere():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(size=20), [0.0, 0.0]])
    b = rng.normal(size=22) * 5
    theta = rng.normal(size=(22, 7)) * 5
    sign, thresholds = threshold_on_acc(a[:, None], b[:, None], theta, reach=40)
    acc = np.arange(-40, 41)
    real = a[:, None, None] * acc[None, None, :] + b[:, None, None] >= theta[:, :, None]
    hardware = sign[:, :, None] * acc[None, None, :] >= thresholds[:, :, None]
    assert np.array_equal(real, hardware)


@pytest.mark.parametrize("exponent", [-3, 0, 1, 4])
def test_hidden_thresholds_round_half_to_even_like_torch(exponent):
    levels = 16
    thresholds = np.array(_hidden_thresholds(exponent, levels))
    a1 = np.arange(-300, 300)
    expected = torch.clamp(torch.round(torch.tensor(a1, dtype=torch.float64) * 2.0 ** -exponent), 0, levels - 1)
    assert np.array_equal((a1[:, None] >= thresholds[None, :]).sum(1), expected.numpy())
    assert all(Fraction(t) == t for t in thresholds)


@pytest.mark.parametrize("pixels", [16, 100])
def test_pool_thresholds_round_ties_to_even_like_torch(pixels):
    """A binarizer on a residual stream sees code * 2^-7: its pooled mean hits exact halves of the pooled
    quantiser's step (reachable ties), which PyTorch rounds to even; BatchNorm-like scales are checked too."""
    reach = pixels * 128
    sums = np.arange(-reach, reach + 1)
    a = np.array([2.0 ** -7, -(2.0 ** -7), 0.0, 0.37, -1.3e-3])
    b = np.array([0.0, 0.0, 0.0625, 0.11, -0.02])
    levels = range(-7, 8)
    sign, thresholds = _pool_thresholds(a, b, pixels, -3, levels, reach)
    mean = (torch.tensor(a, dtype=torch.float64)[:, None] * torch.tensor(sums, dtype=torch.float64) / pixels
            + torch.tensor(b, dtype=torch.float64)[:, None])
    want = torch.clamp(torch.round(mean * 8), -8, 7).numpy()
    got = -8 + ((sign[:, None, None] * sums[None, None, :]) >= thresholds[:, :, None]).sum(1)
    assert (np.abs(mean.numpy()[0] * 8 % 1 - 0.5) < 1e-12).sum() > 10, "ties are reached"
    assert np.array_equal(got, want)


def test_negative_prelu_slopes_are_clamped_in_model_and_hardware_alike():
    model = random_dynamic_model("mlp", "dybnn")
    block = model.features[2][0]
    block.rprelu.prelu.weight.data[:8] = -0.5
    x = _images(64, seed=4)
    with torch.no_grad():
        assert torch.equal(model(x), deployable(model, SHAPE)(x))
        assert bool((block.rprelu.slope() >= 0).all())


def test_deployable_needs_the_input_shape_for_dynamic_layers():
    with pytest.raises(HwBnnError, match="needs the input_shape"):
        deployable(random_dynamic_model("mlp", "sdbnn_se"))


def test_one_bit_sigmoid_rounds_its_tie_at_zero_down_like_torch():
    """With 1 output bit the sigmoid's one level boundary is z = 0, where sigmoid is exactly 1/2 and
    torch.round keeps level 0 (half to even): a hyper-function whose output is 0 must not shift."""
    torch.manual_seed(0)
    model = BinaryMLP(hidden=(32,), method=get_method("sdbnn_se", {"hyper_output_bits": 1}))
    x = _images(64, seed=5)
    model.train()
    model(x)  # calibrates the quantizers
    model.eval()
    excitation = model.features[2][0].excitation
    excitation.expand.weight.data[:8] = 0.0  # channels 0..7: z = 0 on every image
    with torch.no_grad():
        assert torch.equal(model(x), deployable(model, SHAPE)(x))


def _multi_level_graph(sign: np.ndarray):
    """One multi-level DynamicThreshold (4 channels, a 3-entry table of 3 thresholds) on a 2x2 INT4 map,
    channels last, as the residual integer form exports it after the layout passes."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper

    from hw_bnn.features.dynamic_threshold.reference import HYPER_PARAMS
    from hw_bnn.graph import DOMAIN

    c = 4
    params = {"pool_sign": np.ones(c), "pool_thresholds": np.zeros((c, 1)), "w1": np.ones((1, c)),
              "hidden_thresholds": np.zeros((1, 1)), "w2": np.ones((c, 1)), "output_thresholds": np.ones((c, 2)),
              "table": np.tile(np.array([-2.0, 0.0, 2.0]), (c, 3, 1)), "sign": sign}
    names = [*HYPER_PARAMS, "sign"]
    node = helper.make_node("DynamicThreshold", ["acc", *names], ["codes"], name="join_act", domain=DOMAIN,
                            data_layout="NHWC", pool_offset=0, out_dtype="INT3", out_bias=-2.0)
    graph = helper.make_graph([node], "multi", [helper.make_tensor_value_info("acc", TensorProto.FLOAT, [1, 2, 2, c])],
                              [helper.make_tensor_value_info("codes", TensorProto.FLOAT, [1, 2, 2, c])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_tensor_datatype("acc", DataType["INT4"])
    for name in names:
        model.set_initializer(name, np.asarray(params[name], dtype=np.float32))
    return model


def test_a_multi_level_frame_threshold_on_a_falling_channel_is_refused_by_node():
    """The multi-level unit compares x >= T only (its channels rise with the sum); a graph whose sign falls
    somewhere is refused naming the node and the channels, and the same graph rising expands to the chain."""
    from hw_bnn.features.dynamic_threshold.passes import InferDynamicThresholdLayer

    ops = [n.op_type for n in _multi_level_graph(np.ones(4)).transform(InferDynamicThresholdLayer()).graph.node]
    assert ops == ["GlobalPoolAccumulator", "FrameHyperFunction", "FrameBuffer", "FrameMultiThreshold"]
    with pytest.raises(HwBnnError, match=r"DynamicThreshold 'join_act': a multi-level .* channels \[1, 3\] fall"):
        _multi_level_graph(np.array([1, -1, 1, -1])).transform(InferDynamicThresholdLayer())
