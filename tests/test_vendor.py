"""The vendor path: FINN's own HLS/Vivado build of our folded graph, or a clear message without the tools."""

import importlib.util
import shutil

import pytest
import yaml
from model_helpers import tiny_hw_build

from hw_bnn.cli import main
from hw_bnn.vendor import FINN_STEPS, VENDOR_BOARDS, finn_build_config

VIVADO_MISSING = shutil.which("vivado") is None or shutil.which("vitis_hls") is None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An output folder as 'hw-bnn build' leaves it."""
    folder = tmp_path_factory.mktemp("vendor")
    tiny_hw_build(folder)
    return folder


@pytest.mark.parametrize("board", sorted(VENDOR_BOARDS))
def test_build_config_is_accepted_by_finn(board, tmp_path, run_dir):
    """FINN's own config parser accepts what we write, and reads back board, part, clock and steps."""
    import hw_bnn.finn_env  # noqa: F401  (FINN settings before importing its builder)
    from finn.builder.build_dataflow_config import DataflowBuildConfig, ShellFlowType

    path = tmp_path / "finn_build.yaml"
    path.write_text(yaml.safe_dump(finn_build_config(board, 125.0, tmp_path / "out", run_dir / "folding.json")))
    parsed = DataflowBuildConfig.construct_from(path)
    finn_board, part = VENDOR_BOARDS[board]
    assert parsed.board == finn_board and parsed.fpga_part == part
    assert parsed.synth_clk_period_ns == 8.0
    assert parsed.shell_flow_type is ShellFlowType.VIVADO_ZYNQ
    assert parsed.steps == list(FINN_STEPS)


def test_finn_defines_every_step_we_run():
    """The step names are FINN builder functions (its module cannot be imported without Vivado)."""
    source = open(importlib.util.find_spec("finn.builder.build_dataflow_steps").origin).read()
    missing = [step for step in FINN_STEPS if f"def {step}(" not in source]
    assert not missing


@pytest.mark.skipif(not VIVADO_MISSING, reason="vivado and vitis_hls are installed here")
def test_without_vivado_the_command_explains_and_writes_the_config(run_dir, capsys):
    code = main(["vendor", "training/recipes/demo.yaml", "--out", str(run_dir), "--board", "zcu104"])
    err = capsys.readouterr().err
    assert code == 2
    assert "the vendor path needs" in err and "on PATH (AMD Vivado and Vitis HLS" in err
    config_path = run_dir / "vendor" / "zcu104" / "finn_build.yaml"
    assert f"written to {config_path}" in err
    assert f"build {config_path} {run_dir / 'hw_graph.onnx'}" in err
    assert yaml.safe_load(config_path.read_text())["board"] == "ZCU104"


def test_vendor_needs_a_build_first(tmp_path, capsys):
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(tmp_path)]) == 2
    assert "hw_graph.onnx is missing; run 'hw-bnn build'" in capsys.readouterr().err


def test_unknown_vendor_board_lists_the_boards(tmp_path, capsys):
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(tmp_path), "--board", "vcu118"]) == 2
    assert "pynq-z1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(VIVADO_MISSING, reason="the vendor path needs vivado and vitis_hls on PATH")
def test_finn_builds_a_pynq_z2_bitfile(run_dir):
    from hw_bnn.config import load_config
    from hw_bnn.flow import vendor_stage

    result = vendor_stage(load_config(None, ["vendor.board=pynq-z2"]), run_dir)
    assert result["bitfile"] and (run_dir / result["bitfile"]).is_file()
