"""The papers' CIFAR-10 architectures with every method, and their recipes, on CIFAR-format files."""

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


@pytest.mark.parametrize("architecture,method", CASES)
def test_architecture_trains_with_every_method(architecture, method):
    torch.manual_seed(0)
    model = architecture(input_shape=(3, 16, 16), method=method, **SMALL[architecture])
    images, labels = torch.rand(8, 3, 16, 16) * 255, torch.arange(8) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
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
