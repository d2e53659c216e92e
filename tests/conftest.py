import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis comes with the dev extras; without it the property tests skip
    settings = None

if settings is not None:
    # Property tests (tests/rtl/test_properties.py): every example may cost a Verilator build, so
    # the default run draws few, the same ones on every run (derandomize: CI is reproducible and
    # no example database is written); --runslow draws many more. --hypothesis-profile NAME
    # overrides the choice.
    settings.register_profile(
        "hw_bnn", max_examples=6, deadline=None, derandomize=True, database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.register_profile("hw_bnn-slow", settings.get_profile("hw_bnn"), max_examples=30)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run the slow end-to-end cases")


def pytest_configure(config):
    if settings is not None and not config.getoption("--hypothesis-profile", None):
        settings.load_profile("hw_bnn-slow" if config.getoption("--runslow") else "hw_bnn")


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
