"""The papers' ImageNet architectures (hw_bnn.models.imagenet): their shapes at 224×224, and their integer form
(the residual hardware's model) equal to the trained model, bit for bit, at reduced width and resolution."""

import numpy as np
import pytest
import torch
from model_helpers import take_sgd_steps

from hw_bnn.errors import HwBnnError
from hw_bnn.export import deployable
from hw_bnn.methods import get_method
from hw_bnn.methods.losses import latent_weights
from hw_bnn.models import MODELS
from hw_bnn.models.cifar import BiRealConv, DownsampleShortcut, ReActBlock

NAMES = ["imagenet_resnet18", "imagenet_resnet34", "reactnet_a"]
SMALL_SHAPE = (3, 64, 64)


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_backward_on_two_images_at_224(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    images = torch.rand(2, 3, 224, 224) * 255
    out = model(images)
    assert out.shape == (2, 1000)
    out.sum().backward()
    assert all(weight.grad is not None and weight.grad.abs().sum() > 0 for _, weight in latent_weights(model))


def test_the_papers_layer_structure():
    """ResNet-18 / -34: 16 / 32 binary convs, a shortcut around each, three average-pooled 1×1 down-sampling
    shortcuts, and torchvision ResNet-18's 11.69 M parameters (the same convs; the down-sampling 1×1 convs
    average-pool first); ReActNet-A: 13 blocks of two binary convs, 29.3 M parameters as its paper."""
    resnet18, resnet34, reactnet = (MODELS[name](method="baseline") for name in NAMES)
    for model, convs in ((resnet18, 16), (resnet34, 32)):
        assert sum(isinstance(m, BiRealConv) for m in model.modules()) == convs == len(latent_weights(model))
        shortcuts = [m for m in model.modules() if isinstance(m, DownsampleShortcut)]
        assert len(shortcuts) == 3 and all(isinstance(s.pool, torch.nn.AvgPool2d) for s in shortcuts)
    assert round(sum(p.numel() for p in resnet18.parameters()) / 1e6, 2) == 11.69
    assert sum(isinstance(m, ReActBlock) for m in reactnet.modules()) == 13
    assert round(sum(p.numel() for p in reactnet.parameters()) / 1e6, 1) == 29.3
    with pytest.raises(HwBnnError, match="imagenet_resnet18 is an ImageNet architecture for 3-channel images"):
        MODELS["imagenet_resnet18"](input_shape=(1, 28, 28))


def _trained_like(name: str, method) -> torch.nn.Module:
    torch.manual_seed(0)
    model = take_sgd_steps(MODELS[name](input_shape=SMALL_SHAPE, num_classes=10, method=method, width=0.125),
                           (_images(16, step) for step in range(2)))
    # random BatchNorm affines (negative scales included), statistics measured on images: random statistics
    # saturate these deep nets into outputs that no longer depend on the image
    generator = torch.Generator().manual_seed(5)
    norms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration batches
        norm.weight.data = torch.randn(norm.num_features, generator=generator)
        norm.bias.data = torch.randn(norm.num_features, generator=generator) * 0.3
    with torch.no_grad():
        for batch in range(4):
            model(_images(16, 100 + batch))
    return model.eval()


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, *SMALL_SHAPE)).astype(np.float32))


#: AdaBin is left out here: its float conv (real weights alpha_w*s + beta_w on real inputs) rounds the same
#: integers (X, N) differently at different pixels, so on these nets its float model meets rounding ties that the
#: integer form (the flow's reference for AdaBin) decides one way; its mapping is the CIFAR nets' (test_residual_hw).
#: ResNet-34 (more of ResNet-18's blocks) and ReActNet-A with sign binarizers run under --runslow.
@pytest.mark.parametrize("name, method, options", [
    ("imagenet_resnet18", "baseline", {}),
    pytest.param("imagenet_resnet34", "baseline", {}, marks=pytest.mark.slow),
    pytest.param("reactnet_a", "baseline", {}, marks=pytest.mark.slow),
    ("reactnet_a", "dybnn", {"residual_shifts": "static", "reduction": 2}),
])
def test_integer_form_equals_the_trained_model(name, method, options):
    """The stride-2 7×7 stem and its max-pool, the average-pooled 1×1 down-sampling shortcuts (one 2×2 stride-2
    conv with repeated weights whose thresholds absorb the division) and ReActNet-A's blocks map exactly."""
    model = _trained_like(name, get_method(method, options))
    images = _images(64, 7)
    with torch.no_grad():
        want, got = model(images), deployable(model, SMALL_SHAPE)(images)
    assert len(torch.unique(want, dim=0)) > 32  # the outputs depend on the image
    assert torch.equal(got, want)
