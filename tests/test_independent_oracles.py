"""Checks of AdaBin and the per-sample threshold units (SD-BNN squeeze-excitation, DyBNN) that share no
code with the integer form they check.

The deployment form, the QONNX custom ops and the FINN execution of these methods call one numpy function
on parameters from one fit, so their agreement proves little. Here:

1. The deployment form is compared with the *trained* model on the real test split (MNIST-5k): equal
   outputs for the quantisation-aware per-sample models; for AdaBin, whose trained model computes in
   float32, equal decisions on every image whose every binarisation lies farther than float32 rounding
   from its boundary, and every difference explained by such a tie.
2. The RTL simulation is compared with ``oracles``, a plain-Python exact model written from the formulas
   of seed_methods.md (see its docstring), on real test images, element by element.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.export import deployable
from oracles import ExactReal, adabin_mlp_oracle, per_sample_oracle, round_half_even

SHAPE = (1, 28, 28)
#: Test images for the comparison with the trained model (the export stage's check split).
N_TEST = 300
#: Test images simulated in RTL and evaluated by the oracle.
N_RTL = 60
#: A binarisation (or the top-2 gap of the scores) closer than this to its boundary, relative to the
#: magnitude of the dot product's terms, is within reach of float32 rounding: a 784-term float32 dot
#: product is off by at most about 784 * 6e-8 = 4.7e-5 of that magnitude.
TIE_MARGIN = 1e-4
#: A latent weight this close (relative) to its sign threshold could be signed differently by float32
#: than by the exact oracle; the checks below need the trained weights away from that.
WEIGHT_TIE_MARGIN = 1e-6

MLP_OVERRIDES = ["data.n_train=2000", f"data.n_test={N_TEST}", f"check.n_images={N_TEST}", "train.batch_size=50",
                 "train.epochs=2", "model.options.hidden=[32,32]", "model.options.dropout=0.0",
                 "build.target_fps=null", "build.target_cycles_per_frame=400"]
#: AdaBin's learned sets train faster with a larger step (2 epochs: 60 % test accuracy at 0.05, 40 % at 0.02).
METHOD_OVERRIDES = {"adabin": ["train.lr=0.05"]}


@dataclass
class TrainedRun:
    config: object
    out: Path
    model: torch.nn.Module
    report: dict
    images: np.ndarray
    labels: np.ndarray


def _train_and_export(config, out: Path) -> TrainedRun:
    model = flow.train_stage(config, out, progress=lambda _: None)
    flow.export_stage(config, out, model=model, progress=lambda _: None)
    return TrainedRun(config, out, model.eval(), flow.read_report(out), np.load(out / "test_inputs.npy"),
                      np.load(out / "test_labels.npy"))


@pytest.fixture(scope="module")
def trained_mlp(tmp_path_factory):
    """method -> a small MLP of that method trained 2 epochs on MNIST-5k and exported (shared by the tests)."""
    runs: dict[str, TrainedRun] = {}

    def get(method: str) -> TrainedRun:
        if method not in runs:
            config = load_config("training/recipes/demo.yaml",
                                 [f"method={method}", *MLP_OVERRIDES, *METHOD_OVERRIDES.get(method, [])])
            runs[method] = _train_and_export(config, tmp_path_factory.mktemp(f"oracle_{method}"))
        return runs[method]
    return get


def _simulate(run: TrainedRun, n_images: int):
    from hw_bnn.compiler import compile_model
    from hw_bnn.export import load_qonnx
    from hw_bnn.design.sim import simulate

    hw = compile_model(load_qonnx(run.out / "export.onnx"), run.config.build)
    return simulate(hw, run.images[:n_images], run.out / "oracle_sim")


# --- the oracle's own arithmetic ----------------------------------------------------------------------

def test_exact_reals_decide_signs_exactly():
    """Signs of a + b sqrt(u) + c sqrt(v): exact zeros, and differences far below float64's resolution."""
    assert ExactReal(0, {Fraction(2): 1, Fraction(8): Fraction(-1, 2)}).sign() == 0  # sqrt2 - sqrt8 / 2
    assert ExactReal(-5, {Fraction(2): 1, Fraction(3): 2}).sign() == -1  # 1.414 + 3.464 - 5
    assert ExactReal(-4, {Fraction(2): 1, Fraction(3): 2}).sign() == 1
    # sqrt(1e20 + 1) - 1e10 = 5e-11 - ..., which float64 evaluates to 0
    big = Fraction(10 ** 20 + 1)
    assert ExactReal(-10 ** 10, {big: 1}).sign() == 1
    assert ExactReal(-10 ** 10 - Fraction(1, 2 * 10 ** 10), {big: 1}).sign() == -1
    assert (ExactReal(-10 ** 10, {big: 1}) + ExactReal(0, {Fraction(2): Fraction(-1, 10 ** 12)})).sign() == 1
    assert ExactReal(-10 ** 10, {big: 1}).times_sqrt(2).sign() == 1
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b, c = (Fraction(int(v), 7) for v in rng.integers(-40, 40, 3))
        u, v = (Fraction(int(w), 3) for w in rng.integers(1, 30, 2))
        value = ExactReal(a, {u: b}) + ExactReal(0, {v: c})
        approximate = float(a) + float(b) * np.sqrt(float(u)) + float(c) * np.sqrt(float(v))
        if abs(approximate) > 1e-9:
            assert value.sign() == np.sign(approximate)


def test_round_half_even_follows_torch_round():
    halves = [Fraction(k, 2) for k in range(-9, 10)]
    assert [round_half_even(h) for h in halves] == torch.round(torch.tensor([float(h) for h in halves])).int().tolist()
    # an irrational just above a half: sqrt(6.25 + 1e-20) - 2 rounds up, not to even
    assert round_half_even(ExactReal(-2, {Fraction(625, 100) + Fraction(1, 10 ** 20): 1})) == 1


# --- 1. the deployment form against the trained model ------------------------------------------------------

@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_per_sample_deployment_form_equals_the_trained_model_on_the_test_split(method, trained_mlp):
    """The quantisation-aware model and its integer deployment form give identical scores on real images."""
    run = trained_mlp(method)
    x = torch.from_numpy(run.images.astype(np.float32))
    with torch.no_grad():
        trained, deployed = run.model(x), deployable(run.model, SHAPE)(x)
    assert torch.equal(trained, deployed)
    assert run.report["deployed_top1_agreement"] == 1.0
    assert len(np.unique(trained.argmax(1).numpy())) >= 5, "the trained model predicts almost one class"


@torch.no_grad()
def _adabin_float_trace(model, x: torch.Tensor) -> dict:
    """The trained float model on ``x``, with per hidden binarisation its signs and each sign's margin
    recomputed in float64 from the float model's own layer input and binarised weights:

        margin = |pre-sign value| / (|d pre-sign / d y| * sum_i |a_i w_i|)

    the distance of the dot product y from the decision boundary in units of the magnitude of its terms
    (float32 rounding moves y by at most ~K * 6e-8 of that). The scores' top-2 gap is measured the same way."""
    from hw_bnn.methods.adabin import AdaBinActivation
    from hw_bnn.features.adabin.deploy import is_adabin_layer

    layers = [m for m in model.features if is_adabin_layer(m)]
    children = list(model.features)
    layer_inputs: list[torch.Tensor] = []
    handles = [layer.register_forward_pre_hook(lambda _, args: layer_inputs.append(args[0])) for layer in layers]
    try:
        scores = model(x)
    finally:
        for handle in handles:
            handle.remove()
    signs, margins = [], []
    for index, layer in enumerate(layers[:-1]):
        position = children.index(layer)
        bn, block = children[position + 1], children[position + 2]
        maxout, act = block[0], block[1]
        assert isinstance(act, AdaBinActivation)
        a, w = layer_inputs[index].double(), layer.weight.detach().double()
        y, magnitude = a @ w.T, a.abs() @ w.abs().T
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        u = (y - bn.running_mean.double()) * scale + bn.bias.double()
        slope = torch.where(u >= 0, maxout.positive_slope.double(), maxout.negative_slope.double())
        alpha, beta = act.alpha_a.double(), act.beta_a.double()
        pre_sign = (u * slope - beta) / alpha
        gradient = (scale * slope / alpha).abs()
        margins.append((pre_sign.abs() / (gradient * magnitude)).numpy())
        # the float model's own signs, as its forward takes them (float32)
        signs.append(_float_signs(layer_inputs[index + 1], act))
    a, w = layer_inputs[-1].double(), layers[-1].weight.detach().double()
    magnitude = a.abs() @ w.abs().T
    top2 = scores.double().topk(2, dim=1)
    gap = (top2.values[:, 0] - top2.values[:, 1]) / magnitude.gather(1, top2.indices).sum(1)
    return {"scores": scores, "signs": signs, "margins": margins, "top2_gap": gap.numpy()}


def _float_signs(values: torch.Tensor, act) -> np.ndarray:
    """s of an AdaBin activation's output values: +1 where the value is the one its forward gives s = +1."""
    plus = act.alpha_a * 1 + act.beta_a if act.form == "paper" else act.alpha_a * (1 + act.beta_a)
    return torch.where(values == plus, 1, -1).numpy()


def _deployed_trace(deployed, model, x: torch.Tensor) -> dict:
    """The deployment form on ``x``: scores and per hidden layer the signs s its bits stand for (bit 1 =
    the larger value alpha_a * sign(alpha_a) + centre, so s = bit * sign(alpha_a))."""
    from hw_bnn.methods.adabin import AdaBinActivation
    from hw_bnn.features.adabin.deploy import AdaBinThresholdDeploy

    units = [m for m in deployed.modules() if isinstance(m, AdaBinThresholdDeploy)]
    alphas = [float(m.alpha_a) for m in model.modules() if isinstance(m, AdaBinActivation)]
    bits: list[torch.Tensor] = []
    handles = [unit.register_forward_hook(lambda _, __, out: bits.append(out)) for unit in units]
    try:
        with torch.no_grad():
            scores = deployed(x)
    finally:
        for handle in handles:
            handle.remove()
    return {"scores": scores, "signs": [(b * np.sign(alpha)).int().numpy() for b, alpha in zip(bits, alphas)]}


def _compare_adabin_forms(model, images: np.ndarray) -> dict:
    """The trained AdaBin model against its deployment form on ``images``: top-1 of both, the images where
    any decision differs sorted into ``explained`` (the first differing binarisation, or with equal hidden
    signs the top-2 scores, within TIE_MARGIN of a tie: the first differing layer had the same input in
    both, so float32 rounding is the only reason left) and ``unexplained``, and the mask of images whose
    every margin exceeds TIE_MARGIN (``away``)."""
    x = torch.from_numpy(images.astype(np.float32))
    trained = _adabin_float_trace(model, x)
    deployed = _deployed_trace(deployable(model), model, x)
    top1_trained, top1_deployed = trained["scores"].argmax(1).numpy(), deployed["scores"].argmax(1).numpy()
    unexplained, explained = [], []
    for n in range(len(x)):
        differing_layer = next((i for i, (s_t, s_d) in enumerate(zip(trained["signs"], deployed["signs"]))
                                if not np.array_equal(s_t[n], s_d[n])), None)
        if differing_layer is not None:
            channels = np.flatnonzero(trained["signs"][differing_layer][n] != deployed["signs"][differing_layer][n])
            margins = trained["margins"][differing_layer][n, channels]
            (explained if (margins < TIE_MARGIN).all() else unexplained).append(
                (n, differing_layer, f"channels {channels.tolist()} margins {margins.tolist()}"))
        elif top1_trained[n] != top1_deployed[n]:
            gap = trained["top2_gap"][n]
            (explained if gap < TIE_MARGIN else unexplained).append((n, None, f"equal hidden signs, top-2 gap {gap}"))
    away = np.ones(len(x), dtype=bool)
    for margins in trained["margins"]:
        away &= margins.min(axis=1) > TIE_MARGIN
    away &= trained["top2_gap"] > TIE_MARGIN
    hidden_equal = np.mean([(s_t == s_d).mean() for s_t, s_d in zip(trained["signs"], deployed["signs"])])
    return {"top1_trained": top1_trained, "top1_deployed": top1_deployed, "explained": explained,
            "unexplained": unexplained, "away": away, "signs": (trained["signs"], deployed["signs"]),
            "hidden_sign_agreement": float(hidden_equal), "margins": trained["margins"]}


def test_adabin_deployment_form_agrees_with_the_trained_model_except_at_float32_ties(trained_mlp):
    """Every hidden sign and every top-1 decision of the integer deployment form equals the float model's
    on each test image away from float32 ties; each image where they differ has its first differing
    binarisation (or, with equal hidden signs, its top-2 scores) within float32 rounding of a tie."""
    run = trained_mlp("adabin")
    compared = _compare_adabin_forms(run.model, run.images)
    top1_trained, top1_deployed, away = compared["top1_trained"], compared["top1_deployed"], compared["away"]
    agreement = float((top1_trained == top1_deployed).mean())
    assert run.report["deployed_top1_agreement"] == agreement
    assert len(np.unique(top1_trained)) >= 5, "the trained model predicts almost one class"
    assert not compared["unexplained"], f"differences not explained by a float32 tie: {compared['unexplained']}"
    assert away.mean() > 0.9, f"only {away.mean():.0%} of the test images lie away from float32 ties"
    for s_t, s_d in zip(*compared["signs"]):
        assert np.array_equal(s_t[away], s_d[away])
    assert np.array_equal(top1_trained[away], top1_deployed[away])
    smallest = min(float(m.min()) for m in compared["margins"])
    print(f"\nAdaBin float vs deployed on {len(away)} test images: top-1 agreement {agreement:.4f}, hidden signs "
          f"{compared['hidden_sign_agreement']:.6f}; {away.sum()} images away from ties (smallest margin "
          f"{smallest:.2e}); differences explained by ties: {compared['explained']}")


def test_adabin_ties_put_on_the_boundary_are_found_and_explained(trained_mlp):
    """The explanation is not vacuous: move the first layer's BatchNorm shifts so that channel k's boundary
    passes (up to float32 storage of the shift) through test image k's own dot product. The float model and
    the float64-fitted deployment form then split some of these ties, and each split is explained by its
    tiny margin at layer 0; the images away from ties still agree."""
    import copy

    from hw_bnn.features.adabin.deploy import is_adabin_layer

    run = trained_mlp("adabin")
    model = copy.deepcopy(run.model)
    children = list(model.features)
    first = next(m for m in children if is_adabin_layer(m))
    bn, block = children[children.index(first) + 1], children[children.index(first) + 2]
    maxout, act = block[0], block[1]
    channels = bn.num_features
    with torch.no_grad():
        signs_in = model.input_quant(torch.from_numpy(run.images[:channels].astype(np.float32)).flatten(1)
                                     - model.input_threshold).double()
        y = (signs_in @ first.weight.double().T).diagonal()  # image k's dot product at channel k
        beta_a = float(act.beta_a)
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        for k in range(channels):
            slope = float(maxout.positive_slope[k] if beta_a >= 0 else maxout.negative_slope[k])
            if slope <= 0:
                continue
            boundary = beta_a / slope  # Maxout(u) = beta_a there
            bn.bias[k] = boundary - (y[k] - bn.running_mean[k].double()) * scale[k]
    compared = _compare_adabin_forms(model, run.images)
    assert not compared["unexplained"], compared["unexplained"]
    # split ties: at the moved channels only (other images whose dot product equals image k's sit there too)
    assert [layer for _, layer, _ in compared["explained"]] == [0] * len(compared["explained"])
    assert len(set(n for n, _, _ in compared["explained"]) & set(range(channels))) >= 3
    assert np.array_equal(compared["top1_trained"][compared["away"]], compared["top1_deployed"][compared["away"]])


# --- 2. the RTL against the exact oracle -------------------------------------------------------------------

def test_adabin_rtl_equals_the_exact_oracle(trained_mlp):
    """The accelerator's last-layer accumulators (XNOR popcount per class and the input popcount, the
    partition's raw output) equal the oracle's on every element; the host's float scores give the
    oracle's exact top-1 on every image."""
    run = trained_mlp("adabin")
    oracle = adabin_mlp_oracle(run.model, run.images[:N_RTL])
    assert oracle["weight_margin"] > WEIGHT_TIE_MARGIN, "a latent weight sits at float32 rounding of its sign"
    report = _simulate(run, N_RTL)
    assert np.array_equal(report.run.raw, oracle["last_counts"])
    assert np.array_equal(report.outputs.argmax(1), oracle["top1"])
    assert len(np.unique(oracle["top1"])) >= 5 and len(np.unique(oracle["last_counts"], axis=0)) > N_RTL * 3 // 4


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_per_sample_rtl_equals_the_exact_oracle(method, trained_mlp):
    """The accelerator's integer scores equal the oracle's on every element."""
    run = trained_mlp(method)
    oracle = per_sample_oracle(run.model, run.images[:N_RTL])
    assert oracle["weight_margin"] > WEIGHT_TIE_MARGIN, "a latent weight sits at float32 rounding of its sign"
    report = _simulate(run, N_RTL)
    assert np.array_equal(report.outputs, oracle["scores"])
    assert len(np.unique(oracle["scores"].argmax(1))) >= 5
    # the per-sample part is alive: the first hyper-function's output levels differ across images
    levels = {tuple(codes[0]["levels"]) for codes in oracle["codes"]}
    assert len(levels) >= N_RTL // 6


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_per_sample_conv_net_rtl_equals_the_exact_oracle(method, tmp_path):
    """A CNV: the global pool runs over whole feature maps (26x26 down to 8x8 pixels), the first conv
    takes integer pixels."""
    config = load_config("training/recipes/cnv_demo.yaml", [
        f"method={method}", "data.n_train=1500", "data.n_test=100", "check.n_images=100", "train.epochs=2",
        "model.options.channels=[8,8,16,16]", "model.options.fc=[32]"])
    run = _train_and_export(config, tmp_path)
    oracle = per_sample_oracle(run.model, run.images[:N_RTL])
    assert oracle["weight_margin"] > WEIGHT_TIE_MARGIN
    report = _simulate(run, N_RTL)
    assert np.array_equal(report.outputs, oracle["scores"])
    assert len(np.unique(oracle["scores"].argmax(1))) >= 3
