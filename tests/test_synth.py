"""Yosys synthesis of stitched designs: per-layer resources that add up to the total."""

import pytest
from model_helpers import tiny_hw_build

from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.design.stitch import generate_design
from hw_bnn.synth import synthesize


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    return generate_design(tiny_hw_build(folder), folder / "rtl"), folder


@pytest.mark.parametrize("family", ["xc7", pytest.param("ecp5", marks=pytest.mark.slow),
                                    pytest.param("ice40", marks=pytest.mark.slow)])
def test_synthesis_counts_every_layer(design, family):
    rtl, folder = design
    result = synthesize(rtl, family, folder)
    assert [layer["name"] for layer in result["layers"]] == [node.name for node in rtl.nodes]
    for key, total in result["resources"].items():
        assert total == sum(layer["resources"][key] for layer in result["layers"]) + result["interconnect"][key]
    assert all(layer["resources"]["LUT"] > 0 for layer in result["layers"] if layer["module"] == "mvau")
    assert result["resources"]["FF"] > 0
    assert (folder / "synth" / f"{family}_yosys.log").is_file()


def test_unknown_family_is_named():
    with pytest.raises(HwBnnError, match="unknown synthesis family 'stratix'"):
        load_config(None, ["synth.family=stratix"])


def test_place_and_route_gives_fmax(design):
    from hw_bnn.synth import get_family, place_and_route

    rtl, folder = design
    synthesize(rtl, "ecp5", folder)
    result = place_and_route(get_family("ecp5"), folder, clock_mhz=50.0)
    assert 10.0 < result["fmax_mhz"] < 1000.0
    assert result["utilisation"]["TRELLIS_FF"]["used"] > 0
    assert (folder / "synth" / "ecp5.config").is_file()


def test_fit_check_names_the_resource_and_overflow():
    from hw_bnn.synth import check_fit, get_family

    with pytest.raises(HwBnnError, match="needs 40 BRAM, 10 more than the 30"):
        check_fit({"LUT": 100, "FF": 100, "BRAM": 40, "DSP": 0}, get_family("ice40"))
    check_fit({"LUT": 100, "FF": 100, "BRAM": 30, "DSP": 0}, get_family("ice40"))
