"""The generated board wrapper ``hw_bnn_fpga`` (hw_bnn.board.boards.fpga_top_verilog) simulated from
configuration on: its power-on reset, its reset button (2-flop synchroniser) and the UART link behind
them (an echo accelerator: a FIFO, so every frame must come back as it went).

The harness (tb_board_reset.cpp) plays the host's UART and the button and records the wrapper's
internal ``rst_n`` (through tb_board_reset.v) and the error / frame LEDs at every clock edge.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.board.boards import FPGA_TOP, get_board, fpga_top_verilog
from hw_bnn.board.protocol import FrameFormat, encode_frame, pack
from hw_bnn.board.top import BOARD_TOP, board_top_verilog, copy_board_modules
from hw_bnn.rtl.verilator import cached_build, rtl_source, verilate

HERE = Path(__file__).resolve().parent
BENCH = HERE / "tb_board_reset.v"
LINT_CONFIG = HERE / "tb_board_reset.vlt"
HARNESS = HERE / "tb_board_reset.cpp"
CLKS_PER_BIT = 5
#: the power-on reset the bitstream stage generates (fpga_top_verilog's default)
POR_BITS = 10
FMT = FrameFormat(in_w=12, out_w=12, in_beats=5, out_beats=5)


@dataclass
class Trace:
    """What one harness run recorded (edge numbers: 0 = the first rising clock edge)."""

    changes: dict = field(default_factory=lambda: {"rst_n": [], "error": [], "in_frame": []})  # [(edge, value)]
    presses: list = field(default_factory=list)  # [(first edge that sees the press, edges)]
    glitches: list = field(default_factory=list)  # [edge after the glitch]
    received: bytearray = field(default_factory=bytearray)
    framing_errors: int = 0

    def value(self, name: str, edge: int) -> int:
        """The value of ``name`` after rising edge ``edge`` (-1: at configuration)."""
        return [v for e, v in self.changes[name] if e <= edge][-1]

    def low_spans(self, name: str) -> list[tuple[int, int]]:
        """(first edge after which ``name`` is 0, number of clock edges that see it 0) of every low
        stretch; a stretch at configuration starts at -1 (the first edge sees it)."""
        spans, start = [], None
        for edge, v in self.changes[name]:
            if v == 0 and start is None:
                start = edge
            elif v == 1 and start is not None:
                spans.append((start, edge - start))
                start = None
        assert start is None, f"{name} still low at the end of the run"
        return spans


def frame(seed: int) -> list[int]:
    """A frame of FMT's 12-bit beats (the first of each frame a beat that looks like the 'F' command)."""
    beats = [int(b) for b in np.random.default_rng(seed).integers(0, 1 << FMT.in_w, FMT.in_beats)]
    beats[0] = 0x46
    return beats


def echo(beats) -> bytes:
    """The reply of the echo board: every beat back, as bytes."""
    return pack(beats, FMT.out_w)


def send(data: bytes) -> list[tuple[str, int]]:
    return [("B", b) for b in data]


class ResetBoard:
    """A Verilator build of tb_board_reset: the wrapper of ``board`` around an echo board."""

    def __init__(self, board_name: str, folder: Path):
        board = get_board(board_name)
        (folder / "stream_fifo.v").write_bytes(rtl_source("stream_fifo").read_bytes())
        extra = [",", "        /* verilator lint_off PINCONNECTEMPTY */", "        .count()",
                 "        /* verilator lint_on PINCONNECTEMPTY */"]
        (folder / f"{BOARD_TOP}.v").write_text(board_top_verilog(
            FMT, CLKS_PER_BIT, accel="stream_fifo", accel_params=dict(WIDTH=FMT.in_w, DEPTH=4), extra_ports=extra))
        (folder / f"{FPGA_TOP}.v").write_text(fpga_top_verilog(board))
        sources = [LINT_CONFIG, BENCH, folder / f"{FPGA_TOP}.v", folder / f"{BOARD_TOP}.v", folder / "stream_fifo.v",
                   *copy_board_modules(folder)]
        params = dict(BUTTON_ACTIVE_LOW=int(board.button_active_low), LEDS_ACTIVE_LOW=int(board.leds_active_low))
        h = hashlib.sha256(repr(sorted(params.items())).encode())
        for path in sources + [HARNESS]:
            h.update(path.name.encode() + path.read_bytes())
        build = cached_build(f"tb_board_reset_{h.hexdigest()[:16]}",
                             lambda out: verilate("tb_board_reset", sources, HARNESS, out, params))
        self.binary = build / "obj" / "sim"

    def run(self, script: list[tuple[str, int]], n_out: int, folder: Path, tail: int = 200) -> Trace:
        """Run ``script`` from configuration on (see tb_board_reset.cpp) until ``n_out`` bytes came back."""
        script_file, out_file = folder / "script.txt", folder / "trace.txt"
        script_file.write_text("".join(f"{kind} {value:x}\n" if kind in "BE" else f"{kind} {value}\n"
                                       for kind, value in script))
        res = subprocess.run([str(self.binary), str(script_file), str(out_file), str(n_out), str(CLKS_PER_BIT),
                              "2000000", str(tail)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        trace = Trace()
        for line in out_file.read_text().splitlines():
            f = line.split()
            if f[0] == "S":
                trace.changes[f[2]].append((int(f[1]), int(f[3])))
            elif f[0] == "P":
                trace.presses.append((int(f[1]), int(f[2])))
            elif f[0] == "Q":
                trace.glitches.append(int(f[1]))
            elif f[0] == "R":
                trace.received.append(int(f[2], 16))
            elif f[0] == "F":
                trace.framing_errors += 1
        return trace


# the boards' two wrappers: icebreaker (button and LEDs active low), ULX3S (button active low, LEDs
# active high; a second build, so only with --runslow)
@pytest.fixture(scope="module", params=["icebreaker", pytest.param("ulx3s-85f", marks=pytest.mark.slow)])
def reset_board(request, tmp_path_factory):
    return ResetBoard(request.param, tmp_path_factory.mktemp(f"reset_{request.param}"))


def test_power_on_reset_then_a_frame_is_answered(reset_board, tmp_path):
    """From configuration rst_n is low for exactly 2**por_bits + 1 clock edges, then high for good;
    the LEDs are dark after the reset, and a frame sent after the release comes back whole."""
    beats = frame(1)
    trace = reset_board.run([("R", 0), ("G", 3 * CLKS_PER_BIT), *send(encode_frame(beats, FMT))],
                            FMT.reply_bytes, tmp_path)
    assert trace.low_spans("rst_n") == [(-1, 2**POR_BITS + 1)]
    release = trace.changes["rst_n"][-1][0]
    assert trace.value("error", release) == 0 and trace.value("in_frame", release) == 0
    assert bytes(trace.received) == echo(beats) and trace.framing_errors == 0
    assert trace.value("error", 10**9) == 0
    # in_frame lit while the frame's bytes came in, and only then
    assert [v for edge, v in trace.changes["in_frame"] if edge > release] == [1, 0]


def test_button_mid_frame_drops_the_frame_and_clears_the_error(reset_board, tmp_path):
    """A press in the middle of a frame, after a byte with a bad stop bit lit the error LED: rst_n goes
    low 3 edges after the first edge that sees the press, for (edges pressed) + 2**por_bits edges; the
    error LED and in_frame go dark, the rest of the old frame is forgotten (the next 'F' starts a new
    frame, not the old frame's next beat), and the next frame comes back whole."""
    old, new = frame(2), frame(3)
    old_request = encode_frame(old, FMT)
    pressed_edges = 50
    script = [("R", 0), ("E", 0x55), ("G", 20 * CLKS_PER_BIT),
              *send(old_request[:4]),  # 'F', beat 0 and half of beat 1
              ("W", 2),  # beat 0 came back: the link is mid-frame, with nothing on its way back
              ("P", pressed_edges), ("G", 2), ("R", 0), *send(encode_frame(new, FMT))]
    trace = reset_board.run(script, 2 + FMT.reply_bytes, tmp_path)
    (press, edges), = trace.presses
    assert edges == pressed_edges
    assert trace.value("error", press) == 1 and trace.value("in_frame", press) == 1
    spans = trace.low_spans("rst_n")
    assert spans == [(-1, 2**POR_BITS + 1), (press + 2, pressed_edges + 2**POR_BITS)]
    reset_edge = press + 2
    assert trace.value("error", reset_edge + 1) == 0 and trace.value("in_frame", reset_edge + 1) == 0
    assert all(v == 0 for e, v in trace.changes["error"] if e > reset_edge)
    assert bytes(trace.received) == echo(old[:1]) + echo(new) and trace.framing_errors == 0


@pytest.mark.parametrize("mid_frame", [False, True])
def test_glitches(reset_board, tmp_path, mid_frame):
    """The synchroniser does not filter: a press seen by one clock edge only (shorter than the 2-flop
    synchroniser) resets the whole link for 1 + 2**por_bits edges. A glitch that comes and goes between
    two clock edges is never seen: rst_n stays high, and a frame it falls into is answered whole."""
    beats = frame(4)
    request = encode_frame(beats, FMT)
    if mid_frame:
        script = [("R", 0), *send(request[:4]), ("Q", 0), *send(request[4:])]
    else:
        # rst_n falls 2 edges after the press: wait for that before waiting for its release
        script = [("R", 0), ("G", 10), ("P", 1), ("G", 2), ("R", 0), *send(request)]
    trace = reset_board.run(script, FMT.reply_bytes, tmp_path)
    spans = trace.low_spans("rst_n")
    if mid_frame:
        assert len(trace.glitches) == 1 and spans == [(-1, 2**POR_BITS + 1)]
    else:
        (press, _), = trace.presses
        assert spans == [(-1, 2**POR_BITS + 1), (press + 2, 1 + 2**POR_BITS)]
    assert bytes(trace.received) == echo(beats) and trace.framing_errors == 0
