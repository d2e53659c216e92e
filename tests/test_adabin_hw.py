"""AdaBin in hardware: the integer fit, the deployment form, export, compile and RTL, bit for bit."""

import numpy as np
import pytest
import torch

from hw_bnn.compiler import compile_model, legal_values
from hw_bnn.config import BuildConfig
from hw_bnn.features.adabin.reference import adabin_threshold_reference
from hw_bnn.errors import HwBnnError
from hw_bnn.execute import run_graph
from hw_bnn.export import deployable, export_model
from hw_bnn.methods import get_method
from hw_bnn.features.adabin.deploy import ChannelChain, fit_channel, fit_combination
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.graph import has_count_row
from model_helpers import randomize_batchnorm
from sim_checks import STALLS, assert_cycles_match_estimate, assert_outputs_vary, mnist_images


def _random_chain(rng, channels: int) -> ChannelChain:
    return ChannelChain(
        bn_scale=rng.normal(size=channels) * np.where(rng.random(channels) < 0.1, 0, 1),
        bn_shift=rng.normal(size=channels) * 3,
        slope_pos=rng.uniform(-0.5, 1.5, channels),
        slope_neg=rng.uniform(-0.5, 0.5, channels),
        theta=rng.normal(size=channels),
        strict=rng.random(channels) < 0.5,
    )


@pytest.mark.parametrize("seed", range(4))
def test_fitted_integers_reproduce_the_real_valued_decisions_on_every_input(seed):
    """For every reachable (P^x, P^a), the combine unit's integer decision equals the float64 chain
    BatchNorm -> Maxout (any slopes, also non-monotone) -> AdaBin sign of a*P^x + b*P^a + c."""
    rng = np.random.default_rng(seed)
    fan_in, channels = 24, 40
    chain = _random_chain(rng, channels)
    a, b, c = rng.normal(size=channels), rng.normal(size=channels), rng.normal(size=channels) * 5
    a[:3] = 0  # channels whose bit depends on the count alone
    x, y = np.meshgrid(np.arange(fan_in + 1), np.arange(fan_in + 1), indexing="ij")
    two_thresholds = 0
    for o in range(channels):
        params = np.array([fit_channel(a[o], b[o], c[o], chain, o, (0, fan_in), (0, fan_in))])
        got = adabin_threshold_reference(x[..., None], y[..., None], params)[..., 0]
        want = chain.bit(o, a[o] * x + b[o] * y + c[o])
        assert np.array_equal(got, want.astype(np.int64)), o
        unreachable = params[0, 0] * fan_in * (params[0, 0] > 0) + abs(params[0, 1]) * fan_in + 1
        two_thresholds += params[0, 3] < unreachable and params[0, 4] in (0b101, 0b010)
    assert two_thresholds > 0  # some non-monotone Maxout mapped exactly with two thresholds


def _adabin(model_class, form: str, seed: int = 0, **options):
    torch.manual_seed(seed)
    model = model_class(method=get_method("adabin", {"activation_form": form}), **options)
    randomize_batchnorm(model, seed=seed)
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "alpha_a"):  # one negative distance: the bit order flips
                module.alpha_a.fill_(-0.6 if module is next(m for m in model.modules() if hasattr(m, "alpha_a"))
                                     else 0.8)
                module.beta_a.uniform_(-0.5, 0.5)
            if hasattr(module, "negative_slope"):  # some channels non-monotone
                module.negative_slope.uniform_(-0.4, 0.6)
    return model.eval()


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 1, 28, 28)).astype(np.uint8)


@pytest.mark.parametrize("form", ["paper", "code"])
def test_deployment_form_equals_the_float_model_and_exports_exactly(form, tmp_path):
    model = _adabin(BinaryMLP, form, hidden=(32, 24))
    images = _images(40)
    x = torch.from_numpy(images).float()
    with torch.no_grad():
        float_out, deployed_out = model(x), deployable(model)(x)
    # same decisions everywhere: the outputs differ only by float32 rounding of the matmul
    assert torch.equal(float_out.argmax(1), deployed_out.argmax(1))
    assert (float_out - deployed_out).abs().max() < 1e-4
    graph = export_model(model, (1, 28, 28), tmp_path / "export.onnx")
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("AdaBinThreshold") == 2 and ops[-1] == "AdaBinOutput"
    assert np.array_equal(run_graph(graph, images, show_progress=False), deployed_out.numpy())


@pytest.fixture(scope="module")
def adabin_mlp(tmp_path_factory):
    """An AdaBin MLP (32-32: at 16-16 every MNIST image gives the same scores) and its HW graph."""
    model = _adabin(BinaryMLP, "code", hidden=(32, 32))
    hw = compile_model(export_model(model, (1, 28, 28), tmp_path_factory.mktemp("adabin") / "export.onnx"),
                       BuildConfig(target_cycles_per_frame=300))
    return model, hw


def _deployed(model, images: np.ndarray) -> np.ndarray:
    return deployable(model)(torch.from_numpy(images).float()).detach().numpy()


def test_mlp_compiles_to_counting_mvaus_and_is_bit_exact_in_rtl(adabin_mlp, tmp_path):
    from hw_bnn.design.sim import simulate

    model, hw = adabin_mlp
    images = mnist_images(100)
    expected = _deployed(model, images)
    mvaus = [n for n in hw.graph.node if n.op_type == "MVAU"]
    assert [has_count_row(hw, n) for n in mvaus] == [True, True, True]
    assert [n.op_type for n in hw.graph.node].count("AdaBinThreshold") == 2
    assert np.array_equal(run_graph(hw, images[:12], show_progress=False), expected[:12])
    report = simulate(hw, images, tmp_path)
    assert np.array_equal(report.outputs, expected)
    assert_outputs_vary(report.outputs)
    assert_cycles_match_estimate(report.run, hw)


def test_mlp_is_bit_exact_in_rtl_under_backpressure(adabin_mlp, tmp_path):
    from hw_bnn.design.sim import simulate

    model, hw = adabin_mlp
    images = mnist_images(100)
    report = simulate(hw, images, tmp_path, backpressure=STALLS)
    assert np.array_equal(report.outputs, _deployed(model, images))


def test_counting_mvau_folds_its_real_rows_and_the_combine_unit_follows(tmp_path):
    from hw_bnn.compiler import apply_folding
    from qonnx.custom_op.registry import getCustomOp

    model = _adabin(BinaryMLP, "paper", hidden=(12, 16))
    hw = compile_model(export_model(model, (1, 28, 28), tmp_path / "export.onnx"), BuildConfig())
    first = next(n for n in hw.graph.node if n.op_type == "MVAU")
    assert legal_values(hw, first, "PE") == [1, 2, 3, 4, 6, 12]  # MH = 13 with the count row
    folded = apply_folding(hw, {first.name: {"PE": 4}}, "test")
    combine = next(n for n in folded.graph.node if n.op_type == "AdaBinThreshold")
    assert getCustomOp(combine).get_nodeattr("PE") == 4
    with pytest.raises(HwBnnError, match="PE=13 is illegal"):
        apply_folding(hw, {first.name: {"PE": 13}}, "test")


def test_estimate_lists_the_combine_unit(tmp_path):
    from hw_bnn.estimate import estimate

    model = _adabin(BinaryMLP, "paper", hidden=(16, 16))
    hw = compile_model(export_model(model, (1, 28, 28), tmp_path / "export.onnx"),
                       BuildConfig(target_cycles_per_frame=300))
    est = estimate(hw, "xc7z020clg400-1", 100)
    combine = [layer for layer in est["layers"] if layer["op"] == "AdaBinThreshold"]
    assert len(combine) == 2 and all(layer["lut"] > 0 and layer["cycles"] > 0 for layer in combine)
    assert sum(bool(layer.get("count_lane")) for layer in est["layers"]) == 3


def test_conv_net_with_integer_first_layer_is_exact_through_finn(tmp_path):
    model = _adabin(BinaryCNV, "paper", channels=(8, 8, 16, 16), fc=(16,))
    images = _images(4, seed=2)
    expected = deployable(model)(torch.from_numpy(images).float()).detach().numpy()
    hw = compile_model(export_model(model, (1, 28, 28), tmp_path / "export.onnx"), BuildConfig())
    assert [n.op_type for n in hw.graph.node].count("AdaBinThreshold") == 5
    assert np.array_equal(run_graph(hw, images, show_progress=False), expected)


def test_padded_adabin_conv_is_refused_with_the_fix():
    from hw_bnn.features.adabin.deploy import to_hardware_form

    method = get_method("adabin")
    net = torch.nn.Sequential(method.conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), method.activation(4),
                              method.conv2d(4, 4, 3)).eval()
    with pytest.raises(HwBnnError, match="zero padding .* padding=0"):
        to_hardware_form(net)


def test_fit_combination_takes_the_narrowest_exact_coefficients():
    """A*X + B*Y >= T makes every real decision a*X + b*Y + c >= p on the grid, and no smaller |A| can."""
    rng = np.random.default_rng(3)
    x, y = np.meshgrid(np.arange(-12, 13), np.arange(0, 13), indexing="ij")
    for _ in range(20):
        a = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 2.0)
        b, c = rng.normal(), rng.normal()
        points = np.sort(rng.uniform(-15, 15, 5))
        coef_a, coef_b, thresholds = fit_combination(a, b, c, points, np.zeros(5, bool), (-12, 12), (0, 12), "t")
        real = (a * x + b * y + c)[None] >= points[:, None, None]
        assert np.array_equal(real, (coef_a * x + coef_b * y)[None] >= thresholds[:, None, None])
        for den in range(1, abs(coef_a)):
            nums = np.arange(-60 * den, 60 * den + 1)
            combined = np.sign(a) * den * x.ravel()[None] + nums[:, None] * y.ravel()[None]  # (nums, grid)
            separable = np.ones(len(nums), bool)
            for decision in real.reshape(len(points), -1):
                below = np.where(decision[None], -np.inf, combined).max(1)
                above = np.where(decision[None], combined, np.inf).min(1)
                separable &= below < above
            assert not separable.any(), f"|A| = {den} with B = {nums[separable][0]} would do, not {coef_a}"
