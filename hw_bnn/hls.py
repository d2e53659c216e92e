"""Compile the HLS C++ kernels in hls/cpp with plain g++, for C simulation without Vitis.

The kernels use Xilinx's arbitrary-precision types (ap_int.h) and hls::stream (hls_stream.h).
Their open-source C-simulation headers ship inside the hls4ml wheel, which .ci/setup installs
with --no-deps only for these headers; hls4ml itself is never imported (importing it would
pull in its heavy optional stack).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

from hw_bnn.errors import HwBnnError

REPO = Path(__file__).resolve().parents[1]
#: Folder of the HLS kernels (headers) and their test benches.
HLS_CPP_DIR = REPO / "hls" / "cpp"

_AP_TYPES_SUBDIR = Path("templates") / "vivado" / "ap_types"
_FIX = "run 'bash .ci/setup' (or: .venv/bin/python -m pip install hls4ml==1.3.0 --no-deps)"


def ap_types_include_dir() -> Path:
    """Folder holding ap_int.h and hls_stream.h (from the hls4ml package, found without importing it)."""
    spec = importlib.util.find_spec("hls4ml")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        folder = Path(loc) / _AP_TYPES_SUBDIR
        if (folder / "ap_int.h").is_file() and (folder / "hls_stream.h").is_file():
            return folder
    where = f"not under {', '.join(map(str, locations))}" if locations else "hls4ml is not installed"
    raise HwBnnError(f"Xilinx ap_types headers (ap_int.h, hls_stream.h) not found ({where}); {_FIX}")


def gxx_command(sources, out_path, defines=None) -> list[str]:
    """The g++ command line that builds ``sources`` into ``out_path`` (see compile_kernel_test)."""
    cmd = ["g++", "-std=c++14", "-O2", "-w",
           "-I", str(ap_types_include_dir()), "-I", str(HLS_CPP_DIR)]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    return cmd + [str(s) for s in sources] + ["-o", str(out_path)]


def compile_kernel_test(sources, out_path, defines=None) -> Path:
    """Build a C-simulation executable of an hls/cpp kernel test bench with g++.

    ``defines`` (name -> value) become ``-D`` flags, which is how a test bench receives the kernel's
    template parameters.  -std=c++14 is what the ap_types headers are written for; -w silences
    their many warnings (the output on failure still holds the errors).  Raises HwBnnError with
    the compiler's output when g++ is missing or fails.
    """
    if shutil.which("g++") is None:
        raise HwBnnError("g++ not found on PATH; install it (apt-get install g++) to compile hls/cpp kernels")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = gxx_command(sources, out_path, defines)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise HwBnnError(f"g++ failed ({' '.join(cmd)}):\n{(res.stdout + res.stderr)[-6000:]}")
    return out_path
