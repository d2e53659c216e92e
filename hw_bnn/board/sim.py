"""The board top simulated in Verilator behind a serial-port-like transport.

:class:`BoardSim` builds a top with the ports ``clk, accel_clk, rst_n, uart_rx, uart_tx, error``
(``hw_bnn_board``) with ``uart_harness.cpp``, which plays the host's UART: it sends the
host's bytes bit by bit on ``uart_rx`` and decodes ``uart_tx`` mid-bit. It also plays the
board's PLL: it drives ``accel_clk`` at a given ratio to ``clk`` (the PLL primitive itself is
only in the FPGA wrapper, :func:`hw_bnn.board.boards.fpga_top_verilog`). :class:`SimSerial`
gives it the ``write``/``read`` interface of a pyserial port, so
:class:`hw_bnn.board.protocol.Client` talks to the simulation exactly as to a board.

The harness runs a whole script from reset: ``SimSerial`` records what the host wrote
and, before each write, how many bytes it had read (the simulated host waits for those
bytes before sending), and re-runs the script when a read needs bytes it has not seen.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hw_bnn.errors import HwBnnError
from hw_bnn.rtl.verilator import cached_build, verilate

HARNESS = Path(__file__).resolve().parent / "uart_harness.cpp"


@dataclass
class SimLine:
    """What one harness run gave."""

    received: bytes  # bytes the host decoded from uart_tx
    cycles: list[int]  # cycle of each received byte
    framing_errors: int  # bytes from uart_tx with a bad start/stop bit
    board_error: bool  # the board's sticky error output (a byte it received was bad or dropped)


class BoardSim:
    """A Verilator build of a board top (cached by a hash of its sources and the harness; see
    :func:`hw_bnn.rtl.verilator.cached_build`)."""

    def __init__(self, sources, top: str = "hw_bnn_board"):
        self.sources = [Path(s) for s in sources]
        self.top = top
        h = hashlib.sha256()
        for path in self.sources + [HARNESS]:
            h.update(path.name.encode() + path.read_bytes())
        h.update(top.encode())
        self.build_dir = cached_build(f"{top}_uart_{h.hexdigest()[:16]}",
                                      lambda folder: verilate(self.top, self.sources, HARNESS, folder))
        self.binary = self.build_dir / "obj" / "sim"

    def run(self, script: list[tuple[str, int]], n_out: int, host_period: float, max_cycles: int,
            idle_limit: int, cwd: Path | None = None, accel_ratio: float = 1.0) -> tuple[SimLine, bool]:
        """Run ``script`` (items ("B", byte), ("W", n), ("G", cycles)); (what came back, whether n_out came).

        ``accel_ratio``: the accelerator clock's frequency over the UART clock's (the PLL's ratio).

        ``cwd``: where the design's relative memory-file paths are read from. The script and line
        files live in a folder of this run, so runs may go on in parallel with one build.
        """
        with tempfile.TemporaryDirectory(prefix=f"hw_bnn_{self.top}_run_") as io_dir:
            fin, fout = Path(io_dir) / "script.txt", Path(io_dir) / "line.txt"
            fin.write_text("".join(f"{kind} {value:x}\n" if kind == "B" else f"{kind} {value}\n"
                                   for kind, value in script))
            cmd = [str(self.binary), str(fin), str(fout), str(n_out), repr(float(host_period)), str(max_cycles),
                   str(idle_limit), repr(float(accel_ratio))]
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd or io_dir)
            if res.returncode not in (0, 3):
                raise HwBnnError(f"simulation of {self.top} failed (rc {res.returncode}):\n"
                                 f"{res.stdout[-2000:]}{res.stderr[-2000:]}")
            line_text = fout.read_text()
        received, cycles, framing, error = bytearray(), [], 0, False
        for line in line_text.splitlines():
            f = line.split()
            if f[0] == "R":
                cycles.append(int(f[1]))
                received.append(int(f[2], 16))
            elif f[0] == "F":
                framing += 1
            elif f[0] == "X":
                error = f[1] != "0"
        return SimLine(bytes(received), cycles, framing, error), res.returncode == 0


@dataclass
class SimSerial:
    """A serial port whose far end is a simulated board: ``write(bytes)``, ``read(n) -> bytes``.

    Like a pyserial port with a timeout, ``read`` returns fewer bytes when the board sends
    no more (within ``idle_limit`` cycles of silence on both lines).
    ``clks_per_bit`` is the board's bit period; ``baud_error`` makes the host's period off
    by that fraction (e.g. 0.02 for a 2% faster board clock). ``accel_ratio`` is the
    accelerator clock over the UART clock (:attr:`hw_bnn.board.boards.PllPlan.ratio` on a board).
    """

    sim: BoardSim
    clks_per_bit: int
    baud_error: float = 0.0
    accel_ratio: float = 1.0
    idle_limit: int = 20_000
    max_cycles: int = 50_000_000
    cwd: Path | None = None
    script: list = field(default_factory=list)
    consumed: int = 0
    last: SimLine | None = None
    _ran: tuple = (-1, -1)  # (script length, bytes wanted) of the last run

    def write(self, data: bytes) -> int:
        if data:
            self.script.append(("W", self.consumed))
            self.script += [("B", b) for b in bytes(data)]
        return len(data)

    def read(self, size: int = 1) -> bytes:
        want = self.consumed + size
        stale = len(self.script) != self._ran[0] or want > self._ran[1]
        if self.last is None or (len(self.last.received) < want and stale):
            self.last, _ = self.sim.run(self.script, want, self.clks_per_bit * (1 + self.baud_error),
                                        self.max_cycles, self.idle_limit, self.cwd, self.accel_ratio)
            self._ran = (len(self.script), want)
        data = self.last.received[self.consumed:want]
        self.consumed += len(data)
        return data
