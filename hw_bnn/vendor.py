"""The vendor path: FINN's own HLS synthesis, stitched IP and Zynq bitfile for the same folded graph.

Everything else in hw_bnn runs on open tools. Users with AMD/Xilinx tools can also hand the
folded HW graph (``hw_graph.onnx``, the graph our RTL was generated from and checked against)
to FINN's builder, which synthesises each node with Vitis HLS or FINN's RTL library, stitches
the IP in Vivado and, for a Zynq board, builds the bitfile and the PYNQ driver.

This module writes FINN's ``DataflowBuildConfig`` as a YAML file and runs ``finn build`` on it
when ``vivado`` and ``vitis_hls`` are on PATH. Without them it stops with a message saying what
is missing and which command to run on a machine that has them; the config is written either
way, so it can be copied to such a machine.

Builds for several boards (hours each) run as jobs of a Dask sweep (:func:`vendor_sweep`, with
``hw_bnn.sweep.run_sweep``): each job ships the graph and the folding to a worker, which runs FINN in
a scratch folder and sends back FINN's numbers and its bitfile, driver and reports; a rerun builds
only the boards not yet in ``vendor/builds.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from hw_bnn.errors import HwBnnError
from hw_bnn.io import write_text
from hw_bnn.sweep import pack_files, run_sweep, unpack_files

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


#: FINN output folders a distributed build sends back (the Vivado projects and intermediate models stay on the
#: worker, in a scratch folder deleted after the build).
RETURNED_OUTPUTS = ("bitfile", "driver", "report")

#: Numbers of FINN's out-of-context synthesis report (``report/ooc_synth_and_timing.json``) kept per build.
OOC_FIELDS = ("LUT", "FF", "BRAM_18K", "BRAM_36K", "DSP", "fmax_mhz", "estimated_throughput_fps")

#: Columns of ``vendor/builds.csv``, one row per board.
BUILD_COLUMNS = ["key", "board", "part", "clock_mhz", "host", "seconds", "bitfile", *OOC_FIELDS]


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


def finn_command(config_path: Path, model_path: Path, finn: list[str] | None = None) -> list[str]:
    """The ``finn build`` command line for the written config: ``finn`` (``vendor.finn_command``) or finn-plus'
    console script, then ``build CONFIG MODEL --batch``."""
    finn = finn or [str(Path(sys.executable).with_name("finn"))]
    return [*finn, "build", str(config_path), str(model_path), "--batch"]


def vendor_build(hw_graph_path: Path, folding_file: Path, board: str, clock_mhz: float, out_dir: Path,
                 progress=print, finn: list[str] | None = None) -> dict:
    """Write FINN's build config for ``board`` into ``out_dir``; run ``finn build`` (or ``finn``, see
    :func:`finn_command`) if the tools exist.

    Returns what was produced: the config path, the command, and (after a run) the bitfile.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "finn_build.yaml"
    finn_out = out_dir / "finn_output"
    write_text(config_path, yaml.safe_dump(finn_build_config(board, clock_mhz, finn_out, folding_file), sort_keys=False))
    command = finn_command(config_path, hw_graph_path, finn)
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


def ooc_numbers(finn_out: Path) -> dict:
    """:data:`OOC_FIELDS` from FINN's out-of-context synthesis report, None where the build has no such report."""
    path = finn_out / "report" / "ooc_synth_and_timing.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    return {name: report.get(name) for name in OOC_FIELDS}


def vendor_job(job: dict) -> dict:
    """Worker side of :func:`vendor_sweep`: one board's FINN build of the shipped graph and folding in a scratch
    folder. Returns the build's row, with FINN's bitfile, driver and reports (and the config it ran) as a gzipped
    tar in ``outputs``."""
    host = socket.gethostname()
    missing = missing_tools()
    if missing:
        raise HwBnnError(f"worker {host} has no {' and '.join(missing)} on PATH: start the Dask workers where AMD "
                         f"Vivado and Vitis HLS are set up (source <Xilinx>/Vivado/<version>/settings64.sh before "
                         f"'dask worker')")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"hw_bnn_vendor_{job['board']}_") as scratch:
        work = Path(scratch)
        (work / "hw_graph.onnx").write_bytes(job["graph"])
        (work / "folding.json").write_bytes(job["folding"])
        result = vendor_build(work / "hw_graph.onnx", work / "folding.json", job["board"], job["clock_mhz"],
                              work / "build", progress=lambda message: None, finn=job["finn"])
        finn_out = Path(result["output_dir"])
        outputs = pack_files({"finn_build.yaml": Path(result["config"]),
                              **{f"finn_output/{name}": finn_out / name for name in RETURNED_OUTPUTS
                                 if (finn_out / name).is_dir()}})
        bitfile = Path(result["bitfile"]).relative_to(work / "build") if result["bitfile"] else None
        numbers = ooc_numbers(finn_out)
    return {"key": job["key"], "board": job["board"], "part": VENDOR_BOARDS[job["board"]][1],
            "clock_mhz": job["clock_mhz"], "host": host, "seconds": round(time.perf_counter() - start, 1),
            "bitfile": str(bitfile) if bitfile else None, **numbers, "outputs": outputs}


def _unpack_outputs(row: dict, out_dir: Path) -> dict:
    """Master side: a finished build's outputs into ``out_dir/<board>/`` (replacing an older build's at once), its
    bitfile path made relative to ``out_dir``; the row without the bytes."""
    board_dir = out_dir / row["board"]
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{row['board']}.", dir=out_dir))
    try:
        unpack_files(row["outputs"], staging)
        old = board_dir.with_name(f".{row['board']}.old")
        shutil.rmtree(old, ignore_errors=True)
        if board_dir.exists():
            board_dir.rename(old)
        staging.rename(board_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kept = {name: value for name, value in row.items() if name != "outputs"}
    if kept["bitfile"]:
        kept["bitfile"] = str(Path(row["board"]) / kept["bitfile"])
    return kept


def vendor_sweep(hw_graph_path: Path, folding_file: Path, boards: list[str], clock_mhz: float, out_dir: Path, *,
                 cluster: str | None = None, workers: int = 1, finn: list[str] | None = None) -> list[dict]:
    """FINN's build for each of ``boards`` as a job of a Dask sweep (``hw_bnn.sweep.run_sweep``): on a local
    cluster of ``workers`` processes, or on the workers of the scheduler at ``cluster``. Each board's bitfile,
    driver and reports land in ``out_dir/<board>/finn_output/`` as its build finishes, its row (FINN's
    out-of-context numbers) in ``out_dir/builds.csv``; a rerun builds only the boards not in it yet. Returns
    the rows, in the order of ``boards``."""
    missing = missing_tools() if cluster is None else []
    if missing:
        raise HwBnnError(f"the vendor path needs {' and '.join(missing)} on PATH (AMD Vivado and Vitis "
                         f"HLS), and they are not installed here: build on a Dask cluster whose workers have them "
                         f"(--set vendor.cluster=tcp://HOST:8786), or on a machine that has them")
    graph, folding = Path(hw_graph_path).read_bytes(), Path(folding_file).read_bytes()
    jobs = [{"key": board, "board": board, "clock_mhz": clock_mhz, "graph": graph, "folding": folding, "finn": finn}
            for board in boards]
    return run_sweep(jobs, vendor_job, out_dir / "builds.csv", BUILD_COLUMNS, cluster=cluster, workers=workers,
                     retries=0, desc="vendor", keep=lambda row: _unpack_outputs(row, out_dir),
                     setting="vendor.cluster")
