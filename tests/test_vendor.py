"""The vendor path: FINN's own HLS/Vivado build of our folded graph, or a clear message without the tools."""

import csv
import importlib.util
import json
import os
import shutil
import socket
import sys

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


FAKE_FINN = '''
"""Stands in for FINN's builder where Vivado is not installed: writes what a Zynq build leaves, from its config."""
import json, pathlib, sys, yaml
_, command, config_path, model_path, batch = sys.argv
config = yaml.safe_load(open(config_path))
assert command == "build" and batch == "--batch" and pathlib.Path(model_path).is_file(), sys.argv
out = pathlib.Path(config["output_dir"])
for folder in ("bitfile", "driver", "report", "intermediate_models"):
    (out / folder).mkdir(parents=True)
(out / "bitfile" / "finn-accel.bit").write_text(f"bitstream for {config['board']} at {config['synth_clk_period_ns']} ns")
(out / "driver" / "driver.py").write_text("# PYNQ driver")
(out / "intermediate_models" / "huge.onnx").write_bytes(b"0" * 100_000)
(out / "report" / "ooc_synth_and_timing.json").write_text(json.dumps(
    {"LUT": 1000 + len(config["board"]), "FF": 2000, "BRAM_36K": 4, "DSP": 0, "fmax_mhz": 151.2}))
with open(pathlib.Path(__file__).with_name("calls.txt"), "a") as calls:
    calls.write(config["board"] + "\\n")
'''


@pytest.fixture
def fake_vendor_tools(tmp_path, monkeypatch):
    """vivado and vitis_hls on PATH (they are only looked for: the stand-in builder calls neither) and a stand-in
    for FINN's builder; the local Dask workers inherit the environment."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("vivado", "vitis_hls"):
        (tools / tool).write_text("#!/bin/sh\nexit 0\n")
        (tools / tool).chmod(0o755)
    (tools / "fake_finn.py").write_text(FAKE_FINN)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XILINX_VIVADO", str(tools))
    return tools


def test_builds_for_several_boards_run_as_a_dask_sweep_and_resume(run_dir, fake_vendor_tools, capsys):
    """Two boards on two local Dask workers: each worker builds from the shipped graph and folding in a scratch
    folder and sends back its bitfile, driver and reports (not the intermediate models); builds.csv holds FINN's
    numbers; a rerun builds nothing."""
    finn = f"[{sys.executable}, {fake_vendor_tools / 'fake_finn.py'}]"
    argv = ["vendor", "training/recipes/demo.yaml", "--out", str(run_dir), "--set", "vendor.boards=[pynq-z1, zcu104]",
            "--set", "vendor.workers=2", "--set", f"vendor.finn_command={finn}"]
    assert main(argv) == 0, capsys.readouterr().err
    vendor = run_dir / "vendor"
    for board, (finn_board, part) in [("pynq-z1", VENDOR_BOARDS["pynq-z1"]), ("zcu104", VENDOR_BOARDS["zcu104"])]:
        output = vendor / board / "finn_output"
        assert (output / "bitfile" / "finn-accel.bit").read_text() == f"bitstream for {finn_board} at 10.0 ns"
        assert (output / "driver" / "driver.py").is_file() and not (output / "intermediate_models").exists()
        assert yaml.safe_load((vendor / board / "finn_build.yaml").read_text())["fpga_part"] == part
    with open(vendor / "builds.csv", newline="") as f:
        rows = {row["board"]: row for row in csv.DictReader(f)}
    assert set(rows) == {"pynq-z1", "zcu104"}
    assert rows["zcu104"]["LUT"] == "1006" and rows["zcu104"]["fmax_mhz"] == "151.2"
    assert rows["zcu104"]["bitfile"] == "zcu104/finn_output/bitfile/finn-accel.bit"
    assert rows["pynq-z1"]["part"] == "xc7z020clg400-1" and rows["pynq-z1"]["BRAM_18K"] == ""
    report = json.loads((run_dir / "report.json").read_text())["vendor"]
    assert [build["board"] for build in report["builds"]] == ["pynq-z1", "zcu104"]
    assert main(argv) == 0
    assert "all already in builds.csv" in capsys.readouterr().out
    assert sorted((fake_vendor_tools / "calls.txt").read_text().split()) == ["Pynq-Z1", "ZCU104"]


def test_a_cluster_worker_without_vivado_is_named_in_the_error(run_dir, capsys):
    """On a scheduler of one's own (here a local one), the tools are looked for on the workers, not here: a worker
    that lacks them fails its job with its host name and what to set up."""
    from distributed import LocalCluster

    if not VIVADO_MISSING:
        pytest.skip("vivado and vitis_hls are installed here, so the workers have them")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code = main(["vendor", "training/recipes/demo.yaml", "--out", str(run_dir), "--set",
                     f"vendor.cluster={cluster.scheduler_address}", "--set", "vendor.boards=[pynq-z2]"])
    err = capsys.readouterr().err
    assert code == 2
    assert "vendor: 1 of 1 jobs failed: ['pynq-z2']" in err
    assert f"worker {socket.gethostname()} has no vivado and vitis_hls on PATH" in err


def test_vendor_boards_are_checked_by_name(tmp_path, capsys):
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(tmp_path), "--set",
                 "vendor.boards=[pynq-z2, pynq-z2]"]) == 2
    assert "vendor.boards names a board twice" in capsys.readouterr().err
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(tmp_path), "--set",
                 "vendor.boards=[pynq-z2, kv260]"]) == 2
    assert "unknown vendor board 'kv260'" in capsys.readouterr().err


def test_vendor_cluster_and_finn_command_are_checked(run_dir, capsys):
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(run_dir), "--set", "vendor.finn_command=[]"]) == 2
    assert "vendor.finn_command is empty; give the command as a list" in capsys.readouterr().err
    assert main(["vendor", "training/recipes/demo.yaml", "--out", str(run_dir), "--set",
                 "vendor.cluster=node01:8786"]) == 2
    assert "vendor.cluster is 'node01:8786'; it must be empty (null)" in capsys.readouterr().err
