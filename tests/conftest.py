import numpy as np
import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the slow end-to-end cases")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end case: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every BatchNorm non-trivial statistics, including negative scales (flipped channels)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = module.num_features
            module.running_mean.data = torch.randn(n, generator=generator) * 3
            module.running_var.data = torch.rand(n, generator=generator) * 5 + 0.5
            module.weight.data = torch.randn(n, generator=generator)  # about half negative
            module.bias.data = torch.randn(n, generator=generator)
    return model.eval()


@pytest.fixture
def random_images():
    def make(n, shape=(1, 28, 28), seed=0):
        return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return make
