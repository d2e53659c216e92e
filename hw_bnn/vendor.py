"""The vendor path: FINN's own HLS synthesis, stitched IP and Zynq bitfile for the same folded graph.

Everything else in hw_bnn runs on open tools. Users with AMD/Xilinx tools can also hand the
folded HW graph (``hw_graph.onnx``, the graph our RTL was generated from and checked against)
to FINN's builder, which synthesises each node with Vitis HLS or FINN's RTL library, stitches
the IP in Vivado and, for a Zynq board, builds the bitfile and the PYNQ driver.

This module writes FINN's ``DataflowBuildConfig`` as a YAML file and runs ``finn build`` on it
when ``vivado`` and ``vitis_hls`` are on PATH. Without them it stops with a message saying what
is missing and which command to run on a machine that has them; the config is written either
way, so it can be copied to such a machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError
from hw_bnn.io import write_text

#: Board name in hw_bnn -> FINN's board name (``finn.util.basic.pynq_part_map``) and its part.
VENDOR_BOARDS: dict[str, tuple[str, str]] = {
    "pynq-z1": ("Pynq-Z1", "xc7z020clg400-1"),
    "pynq-z2": ("Pynq-Z2", "xc7z020clg400-1"),
    "zcu104": ("ZCU104", "xczu7ev-ffvc1156-2-e"),
}

#: Tools FINN's hardware steps call: Vitis HLS for the HLS nodes, Vivado for IP integration.
VENDOR_TOOLS = ("vivado", "vitis_hls")

#: FINN builder steps run on our folded graph, in FINN's order. The graph already went through
#: FINN's front end and folding in hw_bnn (step_qonnx_to_finn ... folding), so the FINN build
#: starts at the dataflow partition; folding is kept as set in the graph's node attributes.
FINN_STEPS = (
    "step_create_dataflow_partition",
    "step_specialize_layers",
    "step_minimize_bit_width",
    "step_generate_estimate_reports",
    "step_generate_hardware",
    "step_create_stitched_ip",
    "step_measure_rtlsim_performance",
    "step_out_of_context_synthesis",
    "step_prepare_synthesis",
    "step_synthesize_bitfile",
    "step_make_driver",
    "step_deployment_package",
)

#: FINN output types requested; BITFILE and the PYNQ driver need a Zynq board's shell.
FINN_OUTPUTS = ("estimate_reports", "stitched_ip", "rtlsim_performance", "out_of_context_synth", "bitfile",
                "pynq_driver", "deployment_package")


def missing_tools() -> list[str]:
    """The vendor tools that are not on PATH."""
    return [tool for tool in VENDOR_TOOLS if shutil.which(tool) is None]


def finn_build_config(board: str, clock_mhz: float, output_dir: Path, folding_file: Path) -> dict:
    """FINN ``DataflowBuildConfig`` fields for ``board`` at ``clock_mhz``, as plain YAML data.

    ``folding_file`` is hw_bnn's ``folding.json`` (FINN's folding-config format, keyed by node
    name): the graph carries the same PE/SIMD already, FINN requires the file to be named.
    """
    if board not in VENDOR_BOARDS:
        raise HwBnnError(f"vendor board {board!r} is not known; choose one of {sorted(VENDOR_BOARDS)}")
    finn_board, part = VENDOR_BOARDS[board]
    return {
        "output_dir": str(output_dir),
        "synth_clk_period_ns": round(1000.0 / clock_mhz, 6),
        "board": finn_board,
        "fpga_part": part,
        "shell_flow_type": "vivado_zynq",
        "folding_config_file": str(folding_file),
        "steps": list(FINN_STEPS),
        "generate_outputs": list(FINN_OUTPUTS),
        "save_intermediate_models": True,
    }


def finn_command(config_path: Path, model_path: Path) -> list[str]:
    """The ``finn build`` command line for the written config (finn-plus' console script)."""
    finn = Path(sys.executable).with_name("finn")
    return [str(finn), "build", str(config_path), str(model_path), "--batch"]


def vendor_build(hw_graph_path: Path, folding_file: Path, board: str, clock_mhz: float, out_dir: Path,
                 progress=print) -> dict:
    """Write FINN's build config for ``board`` into ``out_dir``; run ``finn build`` if the tools exist.

    Returns what was produced: the config path, the command, and (after a run) the bitfile.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "finn_build.yaml"
    finn_out = out_dir / "finn_output"
    write_text(config_path, yaml.safe_dump(finn_build_config(board, clock_mhz, finn_out, folding_file), sort_keys=False))
    command = finn_command(config_path, hw_graph_path)
    printable = " ".join(command)
    missing = missing_tools()
    if missing:
        raise HwBnnError(
            f"the vendor path needs {' and '.join(missing)} on PATH (AMD Vivado and Vitis HLS, e.g. "
            f"'source <Xilinx>/Vivado/<version>/settings64.sh'), and they are not installed here. "
            f"FINN's build config for {board} is written to {config_path}; on a machine with the tools run: "
            f"{printable}. Everything else in hw_bnn (simulation, synthesis, bitstreams for ECP5/iCE40 "
            f"boards) runs without them.")
    if "XILINX_VIVADO" not in os.environ:
        raise HwBnnError("vivado is on PATH but XILINX_VIVADO is not set, which FINN needs: source Vivado's "
                         "settings64.sh instead of adding vivado to PATH by hand")
    progress(f"vendor: {printable}")
    result = subprocess.run(command, cwd=out_dir)
    if result.returncode != 0:
        raise HwBnnError(f"FINN's build for {board} failed (exit {result.returncode}); its log is in "
                         f"{finn_out / 'build_dataflow.log'}")
    bitfiles = sorted(finn_out.glob("bitfile/*.bit"))
    return {"board": board, "config": str(config_path), "command": printable,
            "bitfile": str(bitfiles[0]) if bitfiles else None, "output_dir": str(finn_out)}
