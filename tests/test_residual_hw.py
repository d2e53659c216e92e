"""Residual CIFAR architectures in hardware: the integer form, the FINN graph, the stitched RTL.

Reduced-width variants of ResNet-20 (option-A shortcuts), ResNet-18 (1×1 down-sampling convs),
VGG-small and the ReActNet-style net (average-pooled and repeated shortcuts) on 16×16 CIFAR-format
images, with BatchNorm statistics randomised (negative scales included) so that every threshold,
flip and clamp is exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from model_helpers import randomize_batchnorm, take_sgd_steps
from sim_checks import ESTIMATE_BOUNDS, STALLS, assert_cycles_match_estimate, assert_outputs_vary
from test_data import write_cifar_folder

import hw_bnn.finn_env  # noqa: F401
from finn.core.onnx_exec import execute_onnx
from hw_bnn import flow
from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig, load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.methods import get_method
from hw_bnn.export import deployable, export_model
from hw_bnn.features.dynamic_threshold.deploy import DynamicThresholdDeploy
from hw_bnn.models.cifar import BinaryConvUnit, BinaryReActNet, BinaryResNet18, BinaryResNet20, BinaryVGGSmall
from hw_bnn.features.residual.integer_form import IntegerConv, MultiThresholdUnit, fit_thresholds
from hw_bnn.features.residual.fifo_sizing import residual_fifo_depths
from hw_bnn.graph import hw_nodes
from hw_bnn.design.emitters import emit_nodes
from hw_bnn.rtl.finn_emit import MAX_WEIGHT_BITS
from hw_bnn.design.sim import simulate

SHAPE = (3, 16, 16)
ARCHITECTURES = {
    "resnet20": (BinaryResNet20, {"width": 0.5, "blocks_per_stage": 1}),
    "resnet18": (BinaryResNet18, {"width": 0.0625}),
    "resnet18_per_conv": (BinaryResNet18, {"width": 0.0625, "shortcuts": "per_conv"}),  # AdaBin's
    "vgg_small": (BinaryVGGSmall, {"width": 0.0625}),
    "reactnet": (BinaryReActNet, {"width": 0.125}),
}


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, *SHAPE)).astype(np.float32))


def trained_like(name: str, method: str = "baseline", **options) -> torch.nn.Module:
    """A small model whose weights moved off their init and whose BatchNorms are random."""
    cls, kwargs = ARCHITECTURES[name]
    torch.manual_seed(0)
    model = cls(input_shape=SHAPE, method=method, **kwargs, **options)
    return randomize_batchnorm(take_sgd_steps(model, (_images(16, step) for step in range(2))))


def assert_form_equals_model(form: torch.nn.Module, model: torch.nn.Module, n_images: int = 64) -> None:
    images = _images(n_images, 7)
    with torch.no_grad():
        want, got = model(images), form(images)
    assert want.std() > 0
    assert torch.equal(got, want)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_integer_form_equals_the_trained_model(name):
    model = trained_like(name)
    assert_form_equals_model(deployable(model, SHAPE), model)


def test_residual_bits_are_configurable():
    model = trained_like("resnet20", residual_bits=5, weight_bits=4)
    form = deployable(model, SHAPE)
    units = [m for m in form.modules() if isinstance(m, MultiThresholdUnit)]
    assert {u.out_dtype for u in units} == {"INT5", "BIPOLAR"}
    assert max(u.thresholds.shape[1] for u in units) == 31
    images = _images(32, 3)
    with torch.no_grad():
        assert torch.equal(form(images), model(images))


def test_sdbnn_static_binarizer_maps():
    model = trained_like("resnet20", method="sdbnn_static")
    images = _images(16, 5)
    with torch.no_grad():
        assert torch.equal(deployable(model, SHAPE)(images), model(images))


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_adabin_convs_map_to_integer_weight_units_exactly(name):
    """AdaBin's binarizer becomes 0/1 bits and its conv one integer-weight conv W = A*s + B whose thresholds
    give the stream codes; W stays within mvau.v's weight width."""
    model = trained_like(name, method="adabin")
    form = deployable(model, SHAPE)
    modules = list(form.modules())
    adabin_convs = [m for before, m in zip(modules, modules[1:]) if isinstance(m, IntegerConv)
                    and isinstance(before, MultiThresholdUnit) and before.out_dtype == "BINARY"]
    assert len(adabin_convs) == sum(isinstance(m, BinaryConvUnit) for m in model.modules())
    widest = max(int(m.weight.abs().max()) for m in adabin_convs)
    assert 1 < widest < 2 ** (MAX_WEIGHT_BITS - 1)
    assert_form_equals_model(form, model)


def test_an_adabin_binarizer_with_alpha_zero_is_refused_with_its_name():
    model = trained_like("resnet20", method="adabin")
    with torch.no_grad():
        model.features[1].unit.binarize.alpha_a.zero_()
    with pytest.raises(HwBnnError, match=r"features\.1\.binarize: alpha_a = 0"):
        deployable(model, SHAPE)


def test_a_non_monotone_maxout_after_an_adabin_conv_is_refused_with_its_name():
    model = trained_like("resnet18", method="adabin")
    with torch.no_grad():
        model.features[1].act1.negative_slope[2] = -0.5
    with pytest.raises(HwBnnError, match=r"features\.1\.unit1: channel 2 is not monotone in the conv output"):
        deployable(model, SHAPE)


@pytest.mark.parametrize("method", ["dybnn", "sdbnn_se"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_per_sample_binarizers_map_to_frame_thresholds_exactly(name, method):
    """DyBNN's and SD-BNN's per-sample binarizers on the residual stream become DynamicThreshold units on
    the padded codes; the pooled means hit rounding ties there (codes times 2^-7), which must round as
    PyTorch does."""
    # DyBNN with ReActNet's static RPReLU after the sums (its per-sample one: the test below); at these widths
    # reduction 16 leaves one hidden unit, which two steps can kill
    options = {"residual_shifts": "static", "reduction": 2} if method == "dybnn" else {}
    model = trained_like(name, method=get_method(method, options))
    form = deployable(model, SHAPE)
    units = [m for m in form.modules() if isinstance(m, DynamicThresholdDeploy)]
    assert len(units) == sum(isinstance(m, BinaryConvUnit) for m in model.modules())
    assert_form_equals_model(form, model)


def test_dybnn_per_sample_residual_rprelu_maps_to_multi_level_frame_thresholds_exactly():
    """DyBNN's RPReLU after each residual sum, its shifts per sample: a multi-level DynamicThreshold on the
    integer sum, one row of stream thresholds per pair of shift levels, chosen per frame. Its outputs
    depend on the frame (a unit with the shifts at 0 differs), and the form equals the model."""
    model = trained_like("reactnet", method=get_method("dybnn", {"reduction": 2}), residual_bits=4)
    form = deployable(model, SHAPE)
    joins = [m for m in form.modules() if isinstance(m, DynamicThresholdDeploy) and m.table.dim() == 3]
    assert len(joins) == 2 * len(BinaryReActNet.PLAN)
    levels = 3  # the hyper-function's 2-bit outputs: three levels per shift
    assert all(j.table.shape[1:] == (levels * levels, 15) and j.out_dtype == "INT4" and j.out_bias == -8
               for j in joins)
    # the rows differ with the shift levels: a table that ignored them would not be per sample
    assert any(not torch.equal(j.table[:, 0], j.table[:, -1]) for j in joins)
    assert_form_equals_model(form, model)


def test_a_layer_without_an_integer_form_is_refused_with_its_name():
    model = trained_like("resnet20")
    model.features[1] = torch.nn.ReLU()
    with pytest.raises(HwBnnError, match=r"layer 'features\.1' \(ReLU\) has no integer form yet"):
        deployable(model, SHAPE)


def test_a_non_monotone_channel_map_is_refused_with_its_name():
    def wave(v):  # up, then down: no threshold unit computes it
        return torch.where(v.abs() < 3, 1, 0)

    with pytest.raises(HwBnnError, match="layer9: channel 0 is not monotone"):
        fit_thresholds("layer9", wave, 1, -8, 8, (0, 1))


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def built(request, tmp_path_factory):
    """(name, trained model, FINN HW graph) for each architecture."""
    model = trained_like(request.param)
    folder = tmp_path_factory.mktemp(request.param)
    graph = compile_model(export_model(model, SHAPE, folder / "export.onnx"), BuildConfig())
    return request.param, model, graph


def test_the_hw_graph_has_the_multi_bit_nodes_and_equals_pytorch(built):
    name, model, graph = built
    ops = [n.op_type for n in graph.graph.node]
    assert {"MVAU", "Thresholding", "FMPadding", "ConvolutionInputGenerator"} <= set(ops)
    if name != "vgg_small":
        assert {"DuplicateStreams", "ElementwiseAdd", "GlobalAccPool"} <= set(ops)
        assert ops.count("DuplicateStreams") == ops.count("ElementwiseAdd")
    else:
        assert {"Pool", "ElementwiseMul"} <= set(ops)
    multi_bit = [n for n in graph.graph.node if n.op_type == "MVAU"
                 and graph.get_tensor_datatype(n.input[1]).name.startswith("INT")]
    assert multi_bit, "the stem and the classifier are multi-bit matrix units"
    images = _images(2, 11)
    with torch.no_grad():
        want = model.eval()(images).numpy()
    for image, expected in zip(images.numpy(), want):
        out = execute_onnx(graph, {graph.graph.input[0].name: image[None]})[graph.graph.output[0].name]
        assert np.array_equal(out.reshape(-1), expected)


def test_adabin_behind_a_max_pool_equals_pytorch_in_the_hw_graph(tmp_path):
    """VGG-small's AdaBin convs feed a max-pool: the integer weights rise with the conv output, and channels
    whose codes fall with it get a channel-wise sign after the pool."""
    model = trained_like("vgg_small", method="adabin")
    graph = compile_model(export_model(model, SHAPE, tmp_path / "export.onnx"), BuildConfig())
    ops = [n.op_type for n in graph.graph.node]
    assert {"Pool", "ElementwiseMul"} <= set(ops)
    images = _images(2, 11)
    with torch.no_grad():
        want = model.eval()(images).numpy()
    for image, expected in zip(images.numpy(), want):
        out = execute_onnx(graph, {graph.graph.input[0].name: image[None]})[graph.graph.output[0].name]
        assert np.array_equal(out.reshape(-1), expected)


#: A reduced-width variant of each architecture, with a method that maps to the residual hardware.
#: (architecture, method, model options, FIFO sizing): ResNet-20 sizes its FIFOs by simulation, as the
#: build does by default; the larger nets keep fixed depths here, as sizing them builds Verilator models of
#: 1,024- to 4,096-beat FIFOs for minutes (``benchmarks/residual_nets.py --fifo-sizing simulate`` measures it).
FLOW_CASES = {
    "resnet20": ("resnet20", "adabin", {"width": 0.25, "blocks_per_stage": 1}, "simulate"),
    "resnet18": ("resnet18", "bdbnn", {"width": 0.0625}, "fixed"),
    "resnet18_per_conv": ("resnet18", "adabin", {"width": 0.0625, "shortcuts": "per_conv"}, "fixed"),  # AdaBin's
    "vgg_small": ("vgg_small", "sdbnn_static", {"width": 0.03125}, "fixed"),
    "reactnet": ("reactnet", "dybnn", {"width": 0.125}, "fixed"),
}
#: DyBNN with its per-sample RPReLU after the sums (the default); reduction 2 keeps more than one hidden unit in its
#: hyper-functions at these widths (one epoch on a few images can kill a single one).
METHOD_OPTIONS = {"bdbnn": {"teacher_epochs": 1}, "dybnn": {"reduction": 2}}
#: The ResNet-18s (BD-BNN's, and AdaBin's with a shortcut per conv) run through RTL under --runslow: their integer
#: forms and HW graphs are checked by default, and ResNet-20, VGG-small and ReActNet take the same units through RTL.
SLOW_FLOW_CASES = {"resnet18", "resnet18_per_conv"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_FLOW_CASES else [])
                                  for name in FLOW_CASES])
def test_flow_on_cifar_format_files_is_bit_exact_in_rtl(name, tmp_path):
    """train -> export -> build -> RTL simulation of 32×32 CIFAR-10-format images (synthetic files)."""
    architecture, method, options, fifo_sizing = FLOW_CASES[name]
    write_cifar_folder(tmp_path / "cifar")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": f"tiny_{name}", "method": method,
        "method_options": METHOD_OPTIONS.get(method, {}),
        "model": {"name": architecture, "options": options},
        "data": {"name": "cifar10", "path": str(tmp_path / "cifar")},
        "train": {"epochs": 1, "batch_size": 4, "lr": 0.01},
        "build": {"target_cycles_per_frame": 40000, "fifo_sizing": fifo_sizing},
        "check": {"n_images": 3},
        "stages": ["train", "export", "build", "sim"],
    }))
    report = flow.run(load_config(recipe), tmp_path / "run", progress=lambda _: None)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    sim = report["rtl_sim"]
    assert sim["images"] == 3
    # three images (these designs simulate at tens of thousands of cycles a second): II from their two gaps
    assert ESTIMATE_BOUNDS[0] <= sim["ii_over_estimate"] <= ESTIMATE_BOUNDS[1], sim
    assert 0 < sim["ii_cycles"] <= sim["latency_cycles"]


@pytest.fixture(scope="module")
def folded_resnet20(tmp_path_factory):
    """(model, HW graph) of ResNet-20 folded to about 2,000 cycles per image (fully folded, an image takes
    147,456 cycles: too slow to simulate tens of images in the default run). BatchNorm seed 5: with most
    seeds (0-4, 6-8 under the official init) every random image scores one class highest, and outputs that
    never change prove little."""
    model = randomize_batchnorm(trained_like("resnet20"), seed=5)
    folder = tmp_path_factory.mktemp("resnet20")
    graph = compile_model(export_model(model, SHAPE, folder / "export.onnx"), BuildConfig(target_cycles_per_frame=2000))
    return model, graph


def _expected(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images)).numpy()


def test_residual_net_in_rtl_meets_the_estimate_on_varied_images(folded_resnet20, tmp_path):
    model, graph = folded_resnet20
    images = _images(24, 11).numpy()
    result = simulate(graph, images, tmp_path)
    assert np.array_equal(result.outputs, _expected(model, images))
    assert_outputs_vary(result.outputs)
    assert_cycles_match_estimate(result.run, graph)


def test_the_residual_stream_quantisers_are_tables_of_outputs(folded_resnet20):
    """The residual stream's quantiser is per tensor: each of its threshold units holds one row of 255
    thresholds on a 9-bit sum, which the RTL reads as a table of the 512 inputs' outputs (thresholding.v
    SHARED_THR, LOOKUP; the run above is exact with them). The last unit's thresholds are per channel."""
    _, graph = folded_resnet20
    units = [n for n in emit_nodes(graph, hw_nodes(graph)) if n.module == "thresholding" and n.params["N_THR"] > 1]
    assert [n.params.get("LOOKUP", 0) for n in units] == [1] * (len(units) - 1) + [0], [n.params for n in units]
    assert all(n.params["SHARED_THR"] == 1 and n.params["IN_W"] == 9 for n in units[:-1])


def test_shortcut_fifo_depths_hold_the_rate_and_half_of_them_deadlock(folded_resnet20, tmp_path):
    """The computed shortcut FIFO depths run the design at the frame rate it has with FIFOs four times
    as deep; at half the depth the fork stops the branch that the join waits for."""
    model, graph = folded_resnet20
    depths = residual_fifo_depths(graph, emit_nodes(graph, hw_nodes(graph)))
    joins = [n for n in graph.graph.node if n.op_type == "ElementwiseAdd"]
    assert len(depths) == len(joins)
    images = _images(6, 11).numpy()
    want = _expected(model, images)
    computed = simulate(graph, images, tmp_path / "computed")
    deep = simulate(graph, images, tmp_path / "deep", fifo_depths={k: 4 * v for k, v in depths.items()})
    assert np.array_equal(computed.outputs, want) and np.array_equal(deep.outputs, want)
    assert computed.run.ii_cycles == deep.run.ii_cycles
    with pytest.raises(HwBnnError, match="stalled: .*shortcut FIFO"):
        simulate(graph, images, tmp_path / "half", fifo_depths={k: v // 2 for k, v in depths.items()})


def test_residual_net_under_backpressure_is_exact_and_half_depth_fifos_stall_by_name(folded_resnet20, tmp_path):
    """Random input gaps and output stalls change no output of the fork/join design, and do not hide the
    deadlock of shortcut FIFOs at half the computed depth (it is named, not a silent hang or a pass)."""
    model, graph = folded_resnet20
    images = _images(24, 12).numpy()
    result = simulate(graph, images, tmp_path / "computed", backpressure=STALLS)
    assert np.array_equal(result.outputs, _expected(model, images))
    assert len(result.run.frame_cycles) == len(images)
    half = {k: v // 2 for k, v in residual_fifo_depths(graph, emit_nodes(graph, hw_nodes(graph))).items()}
    with pytest.raises(HwBnnError, match=r"stalled under back-pressure \(.*seed 17\): stream '.*' stopped after "
                                         r"\d+ of \d+ beats; .*shortcut FIFO"):
        simulate(graph, images[:3], tmp_path / "half", fifo_depths=half, backpressure=STALLS)


def assert_exact_at_the_estimate_and_under_backpressure(model: torch.nn.Module, tmp_path, n_images: int = 24) -> None:
    """``model`` folded to about 2,000 cycles per image, in RTL: PyTorch's outputs at the estimated rate, and
    the same outputs under random input gaps and output stalls."""
    graph = compile_model(export_model(model, SHAPE, tmp_path / "export.onnx"),
                          BuildConfig(target_cycles_per_frame=2000))
    images = _images(n_images, 13).numpy()
    full = simulate(graph, images, tmp_path / "full")
    assert np.array_equal(full.outputs, _expected(model, images))
    assert_cycles_match_estimate(full.run, graph)
    stalled = simulate(graph, images, tmp_path / "stalled", backpressure=STALLS)
    assert np.array_equal(stalled.outputs, full.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_residual_architecture_in_rtl_meets_the_estimate_and_stays_exact_under_backpressure(name, tmp_path):
    assert_exact_at_the_estimate_and_under_backpressure(trained_like(name), tmp_path)


@pytest.mark.slow
def test_dybnn_per_sample_rprelu_in_rtl_meets_the_estimate_and_stays_exact_under_backpressure(tmp_path):
    """The multi-level frame threshold units after every sum of the reduced ReActNet (4-bit stream), whose
    frame buffers and hyper-functions hold each sum's frame, under stalls."""
    model = trained_like("reactnet", method=get_method("dybnn", {"reduction": 2}), residual_bits=4)
    assert_exact_at_the_estimate_and_under_backpressure(model, tmp_path, n_images=8)
