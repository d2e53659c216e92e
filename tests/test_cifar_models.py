"""The papers' CIFAR-10 architectures with every method, and their recipes, on CIFAR-format files."""

import math
from functools import partial
from pathlib import Path

import pytest
import torch
from test_data import write_cifar_folder

from hw_bnn import flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.methods import METHODS
from hw_bnn.methods.adabin import AdaBinActivation, Maxout
from hw_bnn.models.cifar import BinaryReActNet, BinaryResNet18, BinaryResNet20, BinaryVGGSmall
from hw_bnn.methods.losses import latent_weights
from hw_bnn.models.cnv import BinaryCNV

SMALL = {BinaryVGGSmall: {"width": 0.0625}, BinaryResNet20: {"width": 0.5, "blocks_per_stage": 1},
         BinaryResNet18: {"width": 0.0625}, BinaryReActNet: {"width": 0.125}}


#: The two large architectures run every method under --runslow; by default each runs the method its
#: paper trains it with (the small ones run every method, so each method is trained on a residual net).
DEFAULT_METHOD = {BinaryResNet18: "baseline", BinaryReActNet: "dybnn"}
CASES = [pytest.param(arch, method, id=f"{arch.__name__}-{method}",
                      marks=[pytest.mark.slow] if DEFAULT_METHOD.get(arch, method) != method else [])
         for arch in SMALL for method in sorted(METHODS)]


#: The papers' optimisers: SGD for the CIFAR ResNets and VGG, Adam at ReActNet's lr for ReActNet, whose RPReLU
#: shifts on the residual stream SGD at lr 0.02 (momentum 0.9) throws about on 8 images.
SGD = partial(torch.optim.SGD, lr=0.02, momentum=0.9)
OPTIMISER = {BinaryReActNet: partial(torch.optim.Adam, lr=5e-4)}


@pytest.mark.parametrize("architecture,method", CASES)
def test_architecture_trains_with_every_method(architecture, method):
    torch.manual_seed(0)
    model = architecture(input_shape=(3, 16, 16), method=method, **SMALL[architecture])
    images, labels = torch.rand(8, 3, 16, 16) * 255, torch.arange(8) % 10
    optimizer = OPTIMISER.get(architecture, SGD)(model.parameters())
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # 8 images in train-mode BatchNorm make single steps noisy: compare the first and last five
    assert sum(losses[-5:]) < sum(losses[:5])


def test_paper_layer_counts():
    """ResNet-20: 18 binary convs; ResNet-18: 16 (+3 multi-bit 1x1 shortcuts); VGG-small: 5."""
    assert len(latent_weights(BinaryResNet20())) == 18
    assert len(latent_weights(BinaryResNet18())) == 16
    assert len(latent_weights(BinaryVGGSmall())) == 5
    shortcuts = [m for m in BinaryResNet18().modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(shortcuts) == 3


def test_bdbnn_regularises_every_conv_but_the_stem_and_mimics_the_binary_ones():
    """The released BD-BNN code collects every conv but the first: in ResNet-18 that is 19 layers, the
    three 1x1 down-sampling convs included, and its per-layer target lists have 19 entries; the mimicking
    loss skips the down-sampling convs. (Dropping the first *binary* layer, as before, left 15 and 15.)"""
    from hw_bnn.methods.losses import KurtosisTerm, LossContext, mimicking_weights, regularised_weights
    from hw_bnn.methods.bdbnn import KurtosisRegulariser

    model = BinaryResNet18(method="bdbnn")
    regularised = [name for name, _ in regularised_weights(model)]
    assert len(regularised) == 19 and sum("shortcut" in name for name in regularised) == 3
    binary = [name for name, _ in latent_weights(model)]
    assert regularised[0] == binary[0]  # the first binary conv is regularised; only the stem is left out
    assert [name for name, _ in mimicking_weights(model)] == binary
    cifar_targets = [1.4] * 14 + [1.8] * 4 + [2.2]  # BD-code --diffkurt, CIFAR
    term = KurtosisTerm(KurtosisRegulariser(per_layer_targets=cifar_targets))
    assert term(LossContext(model, torch.zeros(1), torch.zeros(1), 0, 1)).item() > 0
    # the nets whose first layer is binary (CNV, MLP) leave that one out and keep their binary FC layers
    cnv_layers = latent_weights(BinaryCNV())
    assert [name for name, _ in regularised_weights(BinaryCNV())] == [name for name, _ in cnv_layers[1:]]


def test_adabin_puts_maxout_after_the_residual_sum():
    block = BinaryResNet20(method="adabin").features[1]
    assert isinstance(block.unit.binarize, AdaBinActivation) and isinstance(block.nonlinearity, Maxout)


def test_reactnet_blocks_double_channels_with_a_wide_pointwise_conv_and_pool_the_shortcut():
    model = BinaryReActNet(method="dybnn", width=0.25)
    blocks = list(model.features)[1:-1]
    # ReActNet's two 1×1 convs on the same bits, concatenated: one conv C -> 2C, the shortcut repeated
    assert [b.pointwise.conv.out_channels // b.pointwise.conv.in_channels for b in blocks] == [2, 2, 1, 2, 1, 2]
    assert [isinstance(b.spatial_shortcut, torch.nn.Sequential) for b in blocks] == [False, True, False, True,
                                                                                        False, True]
    assert model(torch.rand(2, 3, 32, 32) * 255).shape == (2, 10)


def test_dybnn_reactnet_has_rsign_at_the_convs_and_rprelu_after_every_sum():
    """ReActNet's (and so DyBNN's) layout: RSign alone at each binary conv's input, one dynamic threshold per
    channel; RPReLU after each residual sum, on the stream the next shortcut adds, its shifts per sample."""
    from hw_bnn.methods import get_method
    from hw_bnn.methods.dybnn import DynamicActivation, ResidualRPReLU

    torch.manual_seed(0)
    model = BinaryReActNet(method="dybnn", width=0.25)
    block = model.features[1]
    rsign = block.spatial.binarize[0]
    assert isinstance(rsign, DynamicActivation) and rsign.rprelu is None
    assert rsign.dynamic.expand.out_features == block.spatial.conv.in_channels
    acts = [m for m in model.modules() if isinstance(m, ResidualRPReLU)]
    assert len(acts) == 2 * len(BinaryReActNet.PLAN)
    assert all(a.dynamic.expand.out_features == 2 * a.rprelu.prelu.num_parameters for a in acts)
    # per sample: the same value in two frames whose means differ is shifted differently
    act = acts[0]
    with torch.no_grad():
        act.dynamic.expand.weight.normal_()
    act.eval()
    frames = torch.zeros(2, act.rprelu.prelu.num_parameters, 4, 4)
    frames[1, :, 1:] = 0.9  # pixel (0, 0) is 0 in both frames
    out = act(frames)
    assert not torch.equal(out[0, :, 0, 0], out[1, :, 0, 0])
    # ReActNet's static RPReLU (residual_shifts: static): one fixed map of the value
    static = BinaryReActNet(method=get_method("dybnn", {"residual_shifts": "static"}), width=0.25)
    assert all(m.dynamic is None and m.hardware_blocker is None
               for m in static.modules() if isinstance(m, ResidualRPReLU))
    # both map to hardware (the per-sample one as a per-frame multi-level threshold unit), unless float
    assert acts[0].hardware_blocker is None
    float_hyper = BinaryReActNet(method=get_method("dybnn", {"hyper_bits": None}), width=0.25)
    assert all("hyper_bits" in m.hardware_blocker for m in float_hyper.modules() if isinstance(m, ResidualRPReLU))


def test_a_hardware_run_of_an_unmappable_model_stops_before_training(tmp_path):
    write_cifar_folder(tmp_path / "cifar")
    config = load_config(Path("training/recipes/cifar10_reactnet_dybnn.yaml"),
                         [f"data.path={tmp_path / 'cifar'}", "model.options={width: 0.125}",
                          "method_options={hyper_bits: null}", "stages=[train,export,build]"])
    with pytest.raises(HwBnnError, match=r"method dybnn cannot be mapped to hardware yet: float hyper-function.*"
                                         r"hyper_bits"):
        flow.run(config, tmp_path / "run", progress=lambda _: None)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_grey_images_are_refused_with_the_fix():
    with pytest.raises(HwBnnError, match="3-channel images.*use data.name: cifar10"):
        BinaryResNet20(input_shape=(1, 28, 28))


@pytest.mark.parametrize("recipe", sorted(Path("training/recipes").glob("cifar10_*.yaml")), ids=lambda p: p.stem)
def test_cifar_recipe_trains_on_cifar_format_files(recipe, tmp_path):
    write_cifar_folder(tmp_path / "cifar")
    config = load_config(recipe, [f"data.path={tmp_path / 'cifar'}", "train.epochs=1", "train.batch_size=4",
                                  "model.options={width: 0.0625}" if "resnet20" not in recipe.stem
                                  else "model.options={width: 0.25, blocks_per_stage: 1}",
                                  "method_options.teacher_epochs=1" if "bdbnn" in recipe.stem else "name=tiny"])
    # the papers' CIFAR code trains with SGD; the ReActNet recipe follows ReActNet's Adam
    assert config.train.optimizer == ("adam" if "reactnet" in recipe.stem else "sgd") and config.train.augment
    flow.run(config, tmp_path / "run", progress=lambda _: None)
    assert (tmp_path / "run" / "model.pt").is_file()


def test_official_initialisation_per_architecture():
    """The official code's init on the latent weights (fidelity notes): ResNets kaiming_normal_ on every conv;
    VGG-small convs N(0, sqrt(2/(9 C_out))) and its SE FCs N(0, 0.01); ReActNet's binary convs U[0, 0.001).
    ``init: pytorch`` keeps PyTorch's kaiming_uniform(a=sqrt(5)), whose std is 1/sqrt(3 fan_in)."""
    torch.manual_seed(0)
    resnet = BinaryResNet18(width=0.5)
    conv = dict(latent_weights(resnet))["features.2.unit1.conv"]
    fan_in = conv[0].numel()
    assert conv.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    pytorch = dict(latent_weights(BinaryResNet18(width=0.5, init="pytorch")))["features.2.unit1.conv"]
    assert pytorch.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.05)

    vgg = BinaryVGGSmall(method="sdbnn_se", width=0.5)
    weights = dict(latent_weights(vgg))
    last = weights[list(weights)[-1]]
    assert last.std().item() == pytest.approx(math.sqrt(2 / (9 * last.shape[0])), rel=0.05)
    se = [p for name, p in vgg.named_parameters() if "excitation" in name and p.dim() == 2]
    assert se and torch.cat([p.flatten() for p in se]).std().item() == pytest.approx(0.01, rel=0.1)

    reactnet = BinaryReActNet(width=0.25)
    binary = [w for _, w in latent_weights(reactnet)]
    assert all(0 <= w.min().item() and w.max().item() < 0.001 for w in binary)
    stem = reactnet.features[0].conv.weight
    assert stem.abs().max().item() > 0.001  # the stem keeps PyTorch's init
    with pytest.raises(HwBnnError, match="model.options.init 'xavier' is not one of"):
        BinaryResNet20(init="xavier")


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_the_hyper_function_pools_the_unpadded_map(method):
    """A binary conv unit pads its input before the per-sample binarizer; the hyper-function's pool must be
    the unpadded map's mean, as the official squeeze-excitation's (the padded map's is HW/((H+2)(W+2)) of it)."""
    from hw_bnn.methods import get_method
    from hw_bnn.methods.hyper import HyperFunction
    from hw_bnn.models.cifar import BinaryConvUnit

    unit = BinaryConvUnit(get_method(method), 8, 8).eval()
    hyper = next(m for m in unit.modules() if isinstance(m, HyperFunction))
    seen = []
    hyper.pool_quant.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x = torch.rand(2, 8, 4, 4) + 0.5
    unit(x)
    assert torch.allclose(seen[0], x.mean(dim=(2, 3)))
    assert not torch.allclose(seen[0], torch.nn.functional.pad(x, (1, 1, 1, 1)).mean(dim=(2, 3)))


def test_adabin_resnet18_has_a_shortcut_around_every_binary_conv_and_maxout_after_the_stem():
    """AdaBin's released CIFAR ResNet-18 is Bi-Real style: 16 shortcuts (one per binary conv, the first of each
    down-sampling block through a 1x1 conv + BN), Maxout after the stem; IR-Net's has 8 basic blocks."""
    from hw_bnn.models.cifar import BasicBlock, BiRealConv, DownsampleShortcut

    adabin = BinaryResNet18(method="adabin", width=0.0625, shortcuts="per_conv")
    assert sum(isinstance(m, BiRealConv) for m in adabin.modules()) == 16
    assert not any(isinstance(m, BasicBlock) for m in adabin.modules())
    assert sum(isinstance(m, DownsampleShortcut) for m in adabin.modules()) == 3
    assert isinstance(adabin.features[0].act, Maxout)
    irnet = BinaryResNet18(width=0.0625)
    assert sum(isinstance(m, BasicBlock) for m in irnet.modules()) == 8
    with pytest.raises(HwBnnError, match="shortcuts 'bireal' is not one of"):
        BinaryResNet18(shortcuts="bireal")
