import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the slow end-to-end cases")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end case: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def random_images():
    def make(n, shape=(1, 28, 28), seed=0):
        return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return make
