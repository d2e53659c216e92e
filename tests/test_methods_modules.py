"""The pure-PyTorch building blocks of the seed BNN methods, against hand-computed values.

Each block also gets a tiny model that must lower a loss in 20 optimiser steps: proof that
gradients reach every parameter through the surrogate signs.
"""

import math

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from hw_bnn.errors import HwBnnError
from hw_bnn.methods.adabin import AdaBinActivation, AdaBinWeight, Maxout
from hw_bnn.methods.bdbnn import (KurtosisRegulariser, distillation_loss, kurtosis, released_weight_loss,
                                  weight_mimicking_loss)
from hw_bnn.methods.dybnn import DynamicActivation
from hw_bnn.methods.hyper import HyperFunction, SigmoidOutput, TanhOutput, power_of_two_exponent
from hw_bnn.methods.estimators import (EDE, ESTIMATORS, ApproxSign, ClippedIdentity, binary_sign,
                                       make_estimator)
from hw_bnn.methods.layers import BinaryWeight, EstimatedSign
from hw_bnn.methods.sdbnn import SqueezeExcitationShift, StaticActivationShift, WeightSelfDistribution


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def value_and_grad(module, points):
    x = torch.tensor(points, requires_grad=True)
    y = module(x)
    y.sum().backward()
    return y.detach(), x.grad


def assert_training_lowers_loss(model, loss_fn, steps=20, lr=0.05):
    """Adam for ``steps`` steps; the last loss must be clearly below the first."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def regression_task(features=8, samples=128):
    x = torch.randn(samples, features)
    return x, x @ torch.randn(features, 1)


# --- estimators -------------------------------------------------------------------------------

POINTS = [-2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5]


def test_binary_sign_maps_zero_to_plus_one():
    assert binary_sign(torch.tensor(POINTS)).tolist() == [-1, -1, -1, -1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_estimator_forward_is_binary_sign(name):
    y, _ = value_and_grad(make_estimator(name), POINTS)
    assert y.tolist() == [-1, -1, -1, -1, 1, 1, 1, 1, 1]


def test_clipped_identity_gradient():
    _, grad = value_and_grad(ClippedIdentity(), POINTS)
    assert grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0]


def test_approx_sign_gradient():
    _, grad = value_and_grad(ApproxSign(), POINTS)
    # 2 + 2x on [-1, 0), 2 - 2x on [0, 1), 0 elsewhere
    assert grad.tolist() == [0, 0, 1.0, 1.5, 2.0, 1.5, 1.0, 0, 0]


@pytest.mark.parametrize("epoch, t, k", [(0, 1e-3, 1000.0), (2, 0.1, 10.0), (3, 1.0, 1.0), (4, 10.0, 1.0)])
def test_ede_schedule_and_gradient(epoch, t, k):
    # epochs = 4 spans log10 t from -3 to 1 in steps of 1
    ede = EDE(t_min=1e-3, t_max=10.0)
    ede.set_epoch(epoch, 4)
    assert ede.t == pytest.approx(t) and ede.k == pytest.approx(k)
    _, grad = value_and_grad(ede, POINTS)
    expected = [k * t * (1 - math.tanh(t * x) ** 2) for x in POINTS]
    assert grad.tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)  # float32 1 - tanh^2 cancels


def test_ede_starts_at_epoch_zero_as_an_identity_ste():
    ede = EDE()
    assert (ede.t, ede.k) == (pytest.approx(1e-3), pytest.approx(1000.0))
    _, grad = value_and_grad(ede, POINTS)
    assert grad.tolist() == pytest.approx([1.0] * len(POINTS), abs=1e-5)


def test_ede_gradient_uses_the_schedule_of_its_forward():
    ede = EDE()
    x = torch.tensor([0.5], requires_grad=True)
    y = ede(x)
    ede.set_epoch(4, 4)
    y.backward()
    assert x.grad.item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("epoch, epochs", [(-1, 4), (5, 4), (0, 0)])
def test_ede_rejects_bad_epochs(epoch, epochs):
    with pytest.raises(HwBnnError, match="epoch"):
        EDE().set_epoch(epoch, epochs)


def test_make_estimator_passes_options_and_names_the_choices():
    ede = make_estimator("ede", t_min=0.1)
    assert ede.t == pytest.approx(0.1)
    with pytest.raises(HwBnnError, match="approx_sign.*clipped_identity.*ede"):
        make_estimator("tanh")
    with pytest.raises(HwBnnError, match="t_max"):
        make_estimator("ede", clip=1.0)
    with pytest.raises(HwBnnError, match=r"options \[\]"):
        make_estimator("approx_sign", clip=1.0)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_trains_a_tiny_model(name):
    x, target = regression_task()
    model = nn.Sequential(nn.Linear(8, 32), make_estimator(name), nn.Linear(32, 1))
    assert_training_lowers_loss(model, lambda: ((model(x) - target) ** 2).mean())


# --- generic layers ---------------------------------------------------------------------------

def test_estimated_sign_signs_in_training_and_passes_through_in_eval():
    sign = EstimatedSign(ApproxSign())
    y, grad = value_and_grad(sign, [-0.5, 0.0, 0.5])
    assert y.tolist() == [-1, 1, 1] and grad.tolist() == [1.0, 2.0, 1.0]
    sign.eval()
    x = torch.tensor([-0.5, 0.0, 0.5])
    assert torch.equal(sign(x), x)


def test_binary_weight_parametrization_gives_signs_and_trains():
    layer = nn.Linear(8, 1, bias=False)
    parametrize.register_parametrization(layer, "weight", BinaryWeight(ApproxSign()))
    latent = layer.parametrizations.weight.original
    assert torch.equal(layer.weight, binary_sign(latent))
    x, _ = regression_task()
    target = x @ -layer.weight.detach().T  # every sign must flip
    assert_training_lowers_loss(layer, lambda: ((layer(x) - target) ** 2).mean())


# --- SD-BNN -----------------------------------------------------------------------------------

def test_wsd_output_is_plus_minus_one():
    wsd = WeightSelfDistribution(4, ClippedIdentity())
    out = wsd(torch.randn(4, 3, 3, 3))
    assert set(out.unique().tolist()) <= {-1.0, 1.0}


def test_wsd_shift_moves_a_weight_near_the_threshold():
    # filter mean = 2.999 / 4; shift = sigmoid(alpha) * 0.01 * mean: 0.00375 at alpha = 0,
    # which lifts -0.001 above 0; at alpha = -10 the shift is 3.4e-7 and -0.001 stays negative
    weight = torch.tensor([[-0.001, 1.0, 1.0, 1.0]])
    wsd = WeightSelfDistribution(1, ClippedIdentity())
    assert wsd(weight).tolist() == [[1, 1, 1, 1]]
    with torch.no_grad():
        wsd.alpha.fill_(-10.0)
    assert wsd(weight).tolist() == [[-1, 1, 1, 1]]
    assert 0.5 * 0.01 * 2.999 / 4 > 0.001 > torch.sigmoid(torch.tensor(-10.0)).item() * 0.01 * 2.999 / 4


def test_wsd_alpha_gets_gradient_and_weights_do_not_through_the_mean():
    wsd = WeightSelfDistribution(2, ClippedIdentity())
    weight = torch.tensor([[0.2, 0.4], [-0.3, -0.1]], requires_grad=True)
    wsd(weight).sum().backward()
    # d/d alpha_o = sum_i 1 * sigmoid'(0) * 0.01 * mean_o = 2 * 0.25 * 0.01 * mean_o
    assert wsd.alpha.grad.tolist() == pytest.approx([2 * 0.25 * 0.01 * 0.3, 2 * 0.25 * 0.01 * -0.2])
    assert weight.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_wsd_trains_a_tiny_model():
    layer = nn.Linear(8, 1, bias=False)
    parametrize.register_parametrization(layer, "weight", WeightSelfDistribution(1, ClippedIdentity()))
    x, _ = regression_task()
    target = x @ -layer.weight.detach().T  # every sign must flip
    assert_training_lowers_loss(layer, lambda: ((layer(x) - target) ** 2).mean())


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 4)])
def test_static_shift_starts_at_one_half(shape):
    x = torch.randn(shape)
    assert torch.allclose(StaticActivationShift(3)(x) - x, torch.full(shape, 0.5))


@pytest.mark.parametrize("bits", [None, 4])
@pytest.mark.parametrize("shape", [(5, 32), (5, 32, 4, 4)])
def test_squeeze_excitation_shift_shape_and_range(shape, bits):
    x = torch.randn(shape)
    shift = SqueezeExcitationShift(32, bits=bits)(x) - x
    assert shift.shape == x.shape
    assert bool(((shift >= 0) & (shift <= 1)).all())
    if len(shape) == 4:  # one shift per sample and channel, constant over the map
        assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift))
    if bits is not None:  # quantised: on the 16 levels k/15 of the 4-bit sigmoid
        assert torch.allclose(shift * 15, torch.round(shift * 15), atol=1e-5)


def test_squeeze_excitation_hidden_width_is_at_least_one_and_only_float_is_blocked():
    assert SqueezeExcitationShift(8, reduction=16).excitation.squeeze.out_features == 1
    assert isinstance(SqueezeExcitationShift(8).hardware_blocker, str)
    assert SqueezeExcitationShift(8, bits=4).hardware_blocker is None


@pytest.mark.parametrize("shift_class", [StaticActivationShift, SqueezeExcitationShift,
                                         partial(SqueezeExcitationShift, bits=4)])
def test_activation_shift_trains_a_tiny_model(shift_class):
    x = torch.randn(32, 8, 2, 2)
    target = torch.randn(32, 1)
    model = nn.Sequential(nn.Conv2d(8, 8, 1), shift_class(8), EstimatedSign(ApproxSign()), nn.Flatten(),
                          nn.Linear(8 * 4, 1))
    assert_training_lowers_loss(model, lambda: ((model(x) - target) ** 2).mean())


# --- AdaBin -----------------------------------------------------------------------------------

def test_adabin_weight_takes_mean_plus_minus_std_per_filter():
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    out = AdaBinWeight(EDE())(weight)
    mean = weight.detach().mean(dim=(1, 2, 3))
    std = weight.detach().std(dim=(1, 2, 3), unbiased=False)
    for o in range(4):
        values = out[o].detach().unique()
        assert values.tolist() == pytest.approx([(mean[o] - std[o]).item(), (mean[o] + std[o]).item()], abs=1e-6)
    out.backward(torch.randn_like(out))
    assert weight.grad is not None and bool((weight.grad != 0).any())


def test_adabin_weight_of_a_constant_filter_is_finite():
    weight = torch.full((2, 4), 0.3, requires_grad=True)
    out = AdaBinWeight(ClippedIdentity())(weight)
    out.sum().backward()
    assert torch.allclose(out, torch.full((2, 4), 0.3), atol=1e-5)
    assert bool(torch.isfinite(weight.grad).all())


def test_adabin_weight_trains_a_tiny_model():
    x, target = regression_task()
    layer = nn.Linear(8, 1, bias=False)
    parametrize.register_parametrization(layer, "weight", AdaBinWeight(EDE()))
    assert_training_lowers_loss(layer, lambda: ((layer(x) - target) ** 2).mean())


@pytest.mark.parametrize("form, low, high", [("paper", 2 * -1 + 0.5, 2 * 1 + 0.5),
                                             ("code", 2 * (-1 + 0.5), 2 * (1 + 0.5))])
def test_adabin_activation_forms_and_threshold_at_beta(form, low, high):
    activation = AdaBinActivation(ApproxSign(), form=form)
    with torch.no_grad():
        activation.alpha_a.fill_(2.0)
        activation.beta_a.fill_(0.5)
    x = torch.tensor([-3.0, 0.5 - 1e-4, 0.5, 3.0])
    assert activation(x).tolist() == pytest.approx([low, low, high, high])
    activation.eval()
    assert activation(x).tolist() == pytest.approx([low, low, high, high])


@pytest.mark.parametrize("form", ["paper", "code"])
def test_adabin_activation_parameter_gradients(form):
    # x_hat = (1.0 - 0.5) / 2 = 0.25, ApproxSign'(0.25) = 1.5, s = +1 (seed_methods §5.1)
    activation = AdaBinActivation(ApproxSign(), form=form)
    with torch.no_grad():
        activation.alpha_a.fill_(2.0)
        activation.beta_a.fill_(0.5)
    x = torch.tensor(1.0, requires_grad=True)
    activation(x).backward()
    x_hat, derivative, s, alpha, beta = 0.25, 1.5, 1.0, 2.0, 0.5
    if form == "code":
        expected_alpha, expected_beta = s + beta - x_hat * derivative, alpha - derivative
    else:
        expected_alpha, expected_beta = s - x_hat * derivative, 1 - derivative
    assert activation.alpha_a.grad.item() == pytest.approx(expected_alpha)
    assert activation.beta_a.grad.item() == pytest.approx(expected_beta)
    assert x.grad.item() == pytest.approx(derivative)


def test_adabin_activation_rejects_unknown_form():
    with pytest.raises(HwBnnError, match="'paper', 'code'"):
        AdaBinActivation(ApproxSign(), form="fixed")


def test_adabin_activation_trains_a_tiny_model():
    x, target = regression_task()
    model = nn.Sequential(nn.Linear(8, 32), AdaBinActivation(ApproxSign()), nn.Linear(32, 1))
    assert_training_lowers_loss(model, lambda: ((model(x) - target) ** 2).mean())


def test_maxout_values_per_channel():
    maxout = Maxout(2)
    with torch.no_grad():
        maxout.positive_slope.copy_(torch.tensor([1.0, 2.0]))
    z = torch.tensor([[-2.0, -2.0], [3.0, 3.0]])
    assert maxout(z).tolist() == [[-0.5, -0.5], [3.0, 6.0]]
    z4 = z.reshape(2, 2, 1, 1).expand(2, 2, 2, 2)
    assert torch.equal(maxout(z4), maxout(z).reshape(2, 2, 1, 1).expand(2, 2, 2, 2))


def test_maxout_reports_non_monotone_channels():
    maxout = Maxout(4)
    assert maxout.is_monotone().tolist() == [True] * 4 and maxout.non_monotone_channels() == []
    with torch.no_grad():
        maxout.negative_slope[2] = -0.1
        maxout.positive_slope[3] = 0.0
    assert maxout.is_monotone().tolist() == [True, True, False, False]
    assert maxout.non_monotone_channels() == [2, 3]


def test_maxout_trains_a_tiny_model():
    x = torch.randn(128, 4)
    target = torch.where(x > 0, 0.5 * x, 2.0 * x)
    maxout = Maxout(4)
    assert_training_lowers_loss(maxout, lambda: ((maxout(x) - target) ** 2).mean())


# --- DyBNN ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 32), (3, 32, 4, 4)])
def test_hyper_function_shape_starts_at_zero_and_is_bounded(shape):
    hyper = HyperFunction(32, 64, TanhOutput(0.75), zero_expand=True)
    x = torch.randn(shape)
    out = hyper(x)
    assert out.shape == (3, 64) and bool((out == 0).all())
    with torch.no_grad():
        hyper.expand.weight.normal_(0, 100.0)
    out = hyper(x)
    assert bool((out.abs() <= 0.75).all()) and out.abs().max() > 0.7


@pytest.mark.parametrize("output", [SigmoidOutput(1), SigmoidOutput(3), TanhOutput(0.5, 2)])
def test_bounded_output_levels_and_boundaries_agree(output):
    """Level k of the quantised output is reached from z > boundary k (float64 boundaries), and at z equal
    to it when round half to even takes that tie up; only z = 0 (the sigmoid's 1/2) is met exactly."""
    boundaries, tie_reaches = output.level_boundaries()
    z = torch.tensor(np.concatenate([boundaries - 1e-6, boundaries + 1e-6]), dtype=torch.float64)
    values = output(z).numpy()
    expected = output.level_values()[(z.numpy()[:, None] >= boundaries[None, :]).sum(1)]
    assert np.allclose(values, expected)
    at_zero = boundaries == 0
    assert at_zero.any() == isinstance(output, SigmoidOutput)
    reached = (boundaries < 0).sum() + (tie_reaches & at_zero).sum()
    assert output(torch.zeros(1, dtype=torch.float64)).item() == output.level_values()[reached]


def test_quantised_hyper_function_is_fixed_point():
    """Every tensor inside the quantised hyper-function is an integer times a power of two."""
    hyper = HyperFunction(16, 8, SigmoidOutput(4), reduction=4, bits=4)
    x = torch.randn(6, 16, 3, 3)
    hyper.train()
    hyper(x)
    hyper.eval()
    for scale in (hyper.pool_quant.act_quant.scale(), hyper.hidden_act.act_quant.scale(),
                  hyper.squeeze.quant_weight().scale, hyper.expand.quant_weight().scale):
        assert float(torch.log2(scale)) == round(float(torch.log2(scale)))


def test_a_quantizer_that_saw_only_zeros_is_named_with_the_cause():
    """A dead hidden ReLU while the statistics are collected leaves Brevitas' floor as its scale."""
    hyper = HyperFunction(16, 8, SigmoidOutput(4), reduction=4, bits=4)
    hyper.train()
    hyper(torch.zeros(6, 16, 3, 3))
    hyper.eval()
    with pytest.raises(HwBnnError, match="layer 'x' hidden ReLU.*saw only zeros.*dead hidden ReLU"):
        power_of_two_exponent(hyper.hidden_act.act_quant.scale(), "layer 'x' hidden ReLU")
    with pytest.raises(HwBnnError, match="not a power of two; the hyper-function needs fixed-point"):
        power_of_two_exponent(0.3, "y")
    assert power_of_two_exponent(0.25, "z") == -2


@pytest.mark.parametrize("shape", [(3, 32), (3, 32, 4, 4)])
def test_dynamic_activation_starts_as_static_rprelu_then_rsign(shape):
    block = DynamicActivation(32, ApproxSign())
    with torch.no_grad():
        for p in (block.rprelu.input_shift, block.rprelu.output_shift, block.static_threshold):
            p.normal_()
    x = torch.randn(shape)
    view = (1, 32, *([1] * (len(shape) - 2)))
    gamma, zeta, alpha = (p.reshape(view) for p in (block.rprelu.input_shift, block.rprelu.output_shift,
                                                    block.static_threshold))
    pre_sign = nn.functional.prelu(x - gamma, torch.full((32,), 0.25)) + zeta - alpha
    assert torch.equal(block(x), binary_sign(pre_sign))
    block.eval()
    assert torch.allclose(block(x), pre_sign)
    assert isinstance(block.hardware_blocker, str)
    assert DynamicActivation(32, ApproxSign(), bits=4).hardware_blocker is None


@pytest.mark.parametrize("bits", [None, 4])
def test_dynamic_activation_trains_a_tiny_model_and_its_hyper_function_learns(bits):
    x = torch.randn(32, 8, 2, 2)
    target = torch.randn(32, 1)
    block = DynamicActivation(8, ApproxSign(), reduction=4, bits=bits)
    before = block.dynamic.expand.weight.detach().clone()
    model = nn.Sequential(nn.Conv2d(8, 8, 1), block, nn.Flatten(), nn.Linear(8 * 4, 1))
    assert_training_lowers_loss(model, lambda: ((model(x) - target) ** 2).mean())
    assert not torch.equal(block.dynamic.expand.weight, before)


# --- BD-BNN -----------------------------------------------------------------------------------

SAMPLES = 1_000_000


@pytest.mark.parametrize("distribution, expected, tolerance", [
    # standard errors of the sample kurtosis at 1e6 samples: ~0.005 (normal), ~0.001 (uniform)
    ("uniform", 1.8, 0.01),
    ("normal", 3.0, 0.03),
    ("two_point", 1.0, 1e-3),
])
def test_kurtosis_of_known_distributions(distribution, expected, tolerance):
    generator = torch.Generator().manual_seed(1)
    samples = {
        "uniform": lambda: torch.rand(SAMPLES, generator=generator, dtype=torch.float64),
        "normal": lambda: torch.randn(SAMPLES, generator=generator, dtype=torch.float64),
        "two_point": lambda: binary_sign(torch.randn(SAMPLES, generator=generator, dtype=torch.float64)),
    }[distribution]()
    assert kurtosis(samples).item() == pytest.approx(expected, abs=tolerance)


def two_layers():
    uniform = torch.rand(1000, dtype=torch.float64)
    normal = torch.randn(1000, dtype=torch.float64)
    return [uniform, normal], [(kurtosis(uniform) - 1.8) ** 2, (kurtosis(normal) - 1.8) ** 2]


@pytest.mark.parametrize("mode, reduce", [("avg", lambda e: sum(e) / len(e)), ("sum", sum), ("max", max)])
def test_kurtosis_regulariser_modes(mode, reduce):
    layers, errors = two_layers()
    loss = KurtosisRegulariser(mode=mode, weight=0.5)(layers, epoch=0)
    assert loss.item() == pytest.approx(0.5 * reduce(errors).item())


def test_kurtosis_regulariser_start_epoch_and_per_layer_targets():
    layers, _ = two_layers()
    late = KurtosisRegulariser(start_epoch=3)
    assert late(layers, epoch=2).item() == 0 and late(layers, epoch=3).item() > 0
    targets = [kurtosis(w).item() for w in layers]
    assert KurtosisRegulariser(per_layer_targets=targets)(layers, epoch=0).item() == pytest.approx(0, abs=1e-12)
    with pytest.raises(HwBnnError, match="3 values but the model has 2"):
        KurtosisRegulariser(per_layer_targets=[1.8, 1.8, 1.8])(layers, epoch=0)
    with pytest.raises(HwBnnError, match="'avg', 'sum', 'max'"):
        KurtosisRegulariser(mode="mean")


def test_kurtosis_regulariser_trains_weights_towards_the_target():
    weight = nn.Parameter(torch.randn(64, 32))
    regulariser = KurtosisRegulariser(target=1.8)
    assert_training_lowers_loss(nn.ParameterList([weight]), lambda: regulariser([weight], epoch=0))


def test_weight_mimicking_is_zero_for_identical_weights_and_positive_otherwise():
    teacher = [torch.randn(8, 4, 3, 3), torch.randn(10, 8)]
    same = [w.clone().requires_grad_() for w in teacher]
    assert weight_mimicking_loss(same, teacher).item() == pytest.approx(0, abs=1e-6)
    student = [torch.randn_like(w).requires_grad_() for w in teacher]
    loss = weight_mimicking_loss(student, teacher)
    loss.backward()
    assert loss.item() > 0 and all(bool((w.grad != 0).any()) for w in student)


def test_weight_mimicking_matches_the_kl_formula():
    student, teacher, T = torch.randn(3, 5, 2, 2), torch.randn(3, 5, 2, 2), 6.0
    p_teacher = torch.softmax(teacher / T, dim=1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(student / T, dim=1))).sum(dim=1).mean()
    assert weight_mimicking_loss([student], [teacher]).item() == pytest.approx(T * T * kl.item(), rel=1e-5)


def test_weight_mimicking_rejects_mismatched_layers():
    with pytest.raises(HwBnnError, match="2 student layers and 1 teacher"):
        weight_mimicking_loss([torch.randn(2, 2)] * 2, [torch.randn(2, 2)])
    with pytest.raises(HwBnnError, match="layer 0"):
        weight_mimicking_loss([torch.randn(2, 3)], [torch.randn(3, 2)])


def test_weight_mimicking_trains_the_student_towards_the_teacher():
    teacher = [torch.randn(8, 16)]
    student = nn.Parameter(torch.randn(8, 16))
    assert_training_lowers_loss(nn.ParameterList([student]), lambda: weight_mimicking_loss([student], teacher),
                                lr=0.5)


def test_released_weight_loss_is_linear_in_the_student():
    teacher = torch.randn(4, 6)
    gradients = []
    for _ in range(2):
        student = torch.randn(4, 6, requires_grad=True)
        loss = released_weight_loss([student], [teacher])
        assert loss.item() == pytest.approx((teacher.exp() * (teacher - student)).mean().item(), rel=1e-5)
        loss.backward()
        gradients.append(student.grad)
    assert torch.allclose(gradients[0], gradients[1])
    assert torch.allclose(gradients[0], -teacher.exp() / teacher.numel())


def test_distillation_loss_matches_the_hand_formula():
    student, teacher = torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([[0.0, 1.0, 3.0]])
    p = [math.exp(v) / sum(math.exp(u) for u in teacher[0].tolist()) for v in teacher[0].tolist()]
    log_q = [v - math.log(sum(math.exp(u) for u in student[0].tolist())) for v in student[0].tolist()]
    expected = -sum(pi * lqi for pi, lqi in zip(p, log_q))
    assert distillation_loss(student, teacher).item() == pytest.approx(expected, rel=1e-6)
    batch_s, batch_t = torch.randn(5, 4), torch.randn(5, 4)
    per_sample = [distillation_loss(batch_s[i:i + 1], batch_t[i:i + 1]) for i in range(5)]
    assert distillation_loss(batch_s, batch_t).item() == pytest.approx(torch.stack(per_sample).mean().item())


def test_distillation_trains_a_student():
    x = torch.randn(64, 8)
    teacher_logits = x @ torch.randn(8, 4)
    student = nn.Linear(8, 4)
    entropy = -(torch.softmax(teacher_logits, 1) * torch.log_softmax(teacher_logits, 1)).sum(1).mean()
    # the loss is bounded below by the teacher's entropy: compare the part above it
    assert_training_lowers_loss(student, lambda: distillation_loss(student(x), teacher_logits) - entropy)


def test_irnet_balanced_weights_are_the_sign_of_the_centred_weight_with_gradient_through_the_statistics():
    """Libra-PB: sign((w - mean_o) / std_o); the forward is sign(w - mean_o) per output channel, which
    differs from sign(w), and the gradient flows through mean_o and std_o, as the released code's autograd."""
    from hw_bnn.methods.irnet import BalancedWeight

    torch.manual_seed(0)
    latent = (torch.randn(4, 3, 3, 3) * 0.1 + 0.05).requires_grad_()
    transform = BalancedWeight(EDE(t_min=1e-3, t_max=10.0))
    binary = transform(latent)
    centred = latent.detach() - latent.detach().mean(dim=(1, 2, 3), keepdim=True)
    assert torch.equal(binary, binary_sign(centred))
    assert not torch.equal(binary, binary_sign(latent.detach()))
    (binary * torch.arange(binary.numel()).reshape(binary.shape)).sum().backward()
    through_statistics = latent.grad.clone()
    latent.grad = None
    standardised = centred / centred.std(dim=(1, 2, 3), keepdim=True)
    standardised.requires_grad_()
    (transform.estimator(standardised) * torch.arange(binary.numel()).reshape(binary.shape)).sum().backward()
    assert not torch.allclose(through_statistics, standardised.grad)  # not a straight pass to w_std


def test_sdbnn_takes_a_weight_estimator_of_its_own_as_its_imagenet_code():
    """SD-BNN's ImageNet setting: ApproxSign on activations, a clipped STE on weights; the CIFAR default
    (EDE) keeps one estimator for both."""
    from hw_bnn.methods import get_method

    imagenet = get_method("sdbnn_se", {"estimator": "approx_sign", "weight_estimator": "clipped_identity"})
    assert isinstance(imagenet.weight_transform(4).estimator, ClippedIdentity)
    activation = imagenet.activation(4)
    assert any(isinstance(m, EstimatedSign) and isinstance(m.estimator, ApproxSign) for m in activation.modules())
    cifar = get_method("sdbnn_static")
    assert isinstance(cifar.weight_transform(4).estimator, EDE) and cifar.options["weight_estimator"] == "ede"
