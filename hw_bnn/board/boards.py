"""The boards ``hw-bnn bitstream`` builds for: device, clock, pins, bitstream packer, load command.

Each board's pins are in ``constraints/`` (with the public file they come from). The
generated wrapper ``hw_bnn_fpga`` adapts ``hw_bnn_board`` to the board: it makes the
synchronous ``rst_n`` from a power-on reset and the board's reset button (synchronised,
at the button's active level), drives the LEDs at their active level, and makes the
accelerator's clock: the oscillator itself, or the output of the family's PLL
(:func:`plan_pll`). The PLL primitive appears only here: the common RTL and its
simulation never see it (the board simulation drives both clocks, hw_bnn.board.sim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from hw_bnn.board.top import BOARD_TOP
from hw_bnn.errors import HwBnnError

CONSTRAINTS_DIR = Path(__file__).resolve().parent / "constraints"
FPGA_TOP = "hw_bnn_fpga"
#: the UART receiver samples mid-bit with a whole-cycle counter: keep the rate error well inside its +-4%
MAX_BAUD_ERROR = 0.02
#: the receiver checks the start bit half a bit in and samples mid-bit: below 4 cycles a bit that is too coarse
MIN_CLKS_PER_BIT = 4
#: baud rates a USB-UART bridge makes exactly: the usual ones and the FTDI chips' 3 MHz / n
#: (the ULX3S's FT231X and the iCEBreaker's FT2232H), offered when a requested rate is refused
STANDARD_BAUDS = sorted({9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
                         *(3_000_000 // n for n in range(1, 13) if 3_000_000 % n == 0)})
#: the largest PLL output error accepted against bitstream.accel_clock_mhz
MAX_PLL_ERROR = 0.01


@dataclass(frozen=True)
class Board:
    name: str
    family: str  # key of hw_bnn.synth.FAMILIES
    device: str  # key of hw_bnn.synth.DEVICES
    nextpnr_args: tuple[str, ...]
    clock_mhz: float
    constraints: str  # file name in constraints/
    button_active_low: bool
    leds_active_low: bool
    load_command: str  # "{bitstream}" is replaced by the file's path
    max_baud: int  # the fastest rate of the board's USB-UART bridge

    @property
    def constraint_file(self) -> Path:
        return CONSTRAINTS_DIR / self.constraints

    @property
    def bitstream_ext(self) -> str:
        return "bit" if self.family == "ecp5" else "bin"


def _ulx3s(size: str) -> Board:
    return Board(f"ulx3s-{size}f", "ecp5", f"LFE5U-{size}F", (f"--{size}k", "--package", "CABGA381"), 25.0,
                 "ulx3s.lpf", button_active_low=True, leds_active_low=False,
                 load_command="openFPGALoader -b ulx3s {bitstream}", max_baud=3_000_000)


BOARDS: dict[str, Board] = {
    **{b.name: b for b in (_ulx3s("85"), _ulx3s("45"), _ulx3s("12"))},
    "icebreaker": Board("icebreaker", "ice40", "iCE40UP5K", ("--up5k", "--package", "sg48"), 12.0,
                        "icebreaker.pcf", button_active_low=True, leds_active_low=True,
                        load_command="iceprog {bitstream}  (or: openFPGALoader -b ice40_generic {bitstream})",
                        max_baud=3_000_000),
}


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise HwBnnError(f"unknown board {name!r}: choose one of {sorted(BOARDS)} (bitstream.board, --board)")
    return BOARDS[name]


def _baud_cycles(clock_mhz: float, baud: int) -> int | None:
    """Whole cycles of a ``clock_mhz`` clock per bit of ``baud``, or None where the link would not work."""
    exact = clock_mhz * 1e6 / baud
    cycles = round(exact)
    if cycles < MIN_CLKS_PER_BIT or abs(cycles - exact) / exact > MAX_BAUD_ERROR:
        return None
    return cycles


@dataclass(frozen=True)
class PllPlan:
    """PLL settings that make the accelerator clock (CLKOP), and on ECP5 possibly the UART clock (CLKOS),
    from a board's oscillator."""

    family: str
    input_mhz: float
    requested_mhz: float | None  # bitstream.accel_clock_mhz; None: the accelerator stays on the oscillator
    achieved_mhz: float  # CLKOP (the accelerator's clock, or only the PLL's feedback where requested_mhz is None)
    vco_mhz: float
    params: dict  # the primitive's divider parameters
    uart_mhz: float | None = None  # CLKOS, the UART's clock; None: the UART stays on the oscillator

    @property
    def ratio(self) -> float:
        """Accelerator clock over oscillator clock (what the board simulation drives)."""
        return self.achieved_mhz / self.input_mhz


# sysCLOCK PLL limits in MHz: ECP5 (Lattice FPGA-TN-02200: CLKI / PFD / VCO / CLKOP) with CLKOP fed back;
# iCE40 (iCE40 sysCLOCK PLL design guide, SIMPLE feedback: REFERENCECLK / PFD / VCO / PLLOUT)
PLL_LIMITS = {
    "ecp5": dict(pfd=(3.125, 400.0), vco=(400.0, 800.0), out=(3.125, 400.0)),
    "ice40": dict(pfd=(10.0, 133.0), vco=(533.0, 1066.0), out=(16.0, 275.0)),
}


def _ecp5_outputs(fin: float):
    """(fout, [CLKOP_DIV, ...], CLKI_DIV, CLKFB_DIV) of every legal EHXPLLL setting with CLKOP as feedback:
    fout = fin / CLKI_DIV * CLKFB_DIV, fvco = fout * CLKOP_DIV for each CLKOP_DIV listed."""
    lim = PLL_LIMITS["ecp5"]
    for clki_div in range(1, 129):
        pfd = fin / clki_div
        if not lim["pfd"][0] <= pfd <= lim["pfd"][1]:
            continue
        for clkfb_div in range(1, 81):
            fout = pfd * clkfb_div
            if not lim["out"][0] <= fout <= lim["out"][1]:
                continue
            divs = [d for d in range(1, 129) if lim["vco"][0] <= fout * d <= lim["vco"][1]]
            if divs:
                yield fout, divs, clki_div, clkfb_div


def _ecp5_params(clki_div: int, clkfb_div: int, clkop_div: int) -> dict:
    return dict(CLKI_DIV=clki_div, CLKFB_DIV=clkfb_div, CLKOP_DIV=clkop_div, CLKOP_CPHASE=clkop_div - 1)


def _ecp5_candidates(fin: float):
    """(fout, fvco, params) of every legal EHXPLLL output frequency with CLKOP as feedback, with the output
    divider that puts the VCO nearest the middle of its range (any legal one would do)."""
    mid = sum(PLL_LIMITS["ecp5"]["vco"]) / 2
    for fout, divs, clki_div, clkfb_div in _ecp5_outputs(fin):
        d = min(divs, key=lambda d: abs(fout * d - mid))
        yield fout, fout * d, _ecp5_params(clki_div, clkfb_div, d)


def _ice40_filter_range(pfd: float) -> int:
    """FILTER_RANGE of the iCE40 PLL's loop filter for a PFD frequency (MHz), from the design guide's table."""
    return next(i for i, top in enumerate((17, 26, 44, 66, 101), start=1) if pfd < top) if pfd < 101 else 6


def _ice40_candidates(fin: float):
    """(fout, fvco, params) of every legal SB_PLL40 setting in SIMPLE feedback:
    fvco = fin / (DIVR + 1) * (DIVF + 1), fout = fvco / 2**DIVQ."""
    lim = PLL_LIMITS["ice40"]
    for divr in range(16):
        pfd = fin / (divr + 1)
        if not lim["pfd"][0] <= pfd <= lim["pfd"][1]:
            continue
        for divf in range(128):
            fvco = pfd * (divf + 1)
            if not lim["vco"][0] <= fvco <= lim["vco"][1]:
                continue
            for divq in range(1, 7):
                fout = fvco / 2 ** divq
                if lim["out"][0] <= fout <= lim["out"][1]:
                    yield fout, fvco, dict(DIVR=divr, DIVF=divf, DIVQ=divq, FILTER_RANGE=_ice40_filter_range(pfd))


def plan_pll(board: Board, mhz: float) -> PllPlan:
    """The PLL setting of ``board``'s family whose output is nearest ``mhz`` (bitstream.accel_clock_mhz).

    Refuses a frequency outside the PLL's output range, or one no setting makes within MAX_PLL_ERROR.
    Ties go to the first setting found (the smallest input divider: the highest PFD frequency, less jitter).
    """
    lim = PLL_LIMITS[board.family]["out"]
    if not lim[0] <= mhz <= lim[1]:
        raise HwBnnError(f"bitstream.accel_clock_mhz={mhz:g} is outside the {board.family} PLL's output range "
                         f"{lim[0]:g}..{lim[1]:g} MHz on {board.name}; choose a frequency in it, or null to run the "
                         f"accelerator on the {board.clock_mhz:g} MHz board clock")
    candidates = _ecp5_candidates if board.family == "ecp5" else _ice40_candidates
    fout, fvco, params = min(candidates(board.clock_mhz), key=lambda c: abs(c[0] - mhz))
    if abs(fout - mhz) / mhz > MAX_PLL_ERROR:
        raise HwBnnError(f"bitstream.accel_clock_mhz={mhz:g}: the nearest frequency the {board.family} PLL makes from "
                         f"{board.clock_mhz:g} MHz is {fout:.4g} MHz ({abs(fout - mhz) / mhz:.1%} off); use that")
    return PllPlan(board.family, board.clock_mhz, mhz, fout, fvco, params)


#: the UART clock a PLL makes aims at this many cycles a bit: the receiver's whole-cycle mid-bit sample is
#: then within 1/32 bit of the middle, and the clock stays low (48 MHz for 3 Mbaud) for easy timing
UART_CYCLES_AIM = 16


def _plan_uart_pll(board: Board, baud: int, accel_mhz: float | None) -> PllPlan | None:
    """An EHXPLLL setting whose CLKOS makes ``baud`` (and whose CLKOP is ``accel_mhz`` within MAX_PLL_ERROR,
    where given), or None. CLKOS shares CLKOP's VCO: fuart = fvco / CLKOS_DIV. Preferred, in order: the
    accelerator clock nearest the request, the smallest baud error, cycles a bit nearest UART_CYCLES_AIM,
    the VCO nearest the middle of its range."""
    if board.family != "ecp5":
        return None
    lim = PLL_LIMITS["ecp5"]
    mid = sum(lim["vco"]) / 2
    best, best_key = None, None
    seen = set()
    for fout, divs, clki_div, clkfb_div in _ecp5_outputs(board.clock_mhz):
        accel_error = 0.0 if accel_mhz is None else abs(fout - accel_mhz) / accel_mhz
        if accel_error > MAX_PLL_ERROR:
            continue
        for op_div in divs:
            fvco = fout * op_div
            # without an accelerator request only the VCO matters: skip VCOs already tried
            if accel_mhz is None and round(fvco, 6) in seen:
                continue
            seen.add(round(fvco, 6))
            for os_div in range(1, 129):
                fuart = fvco / os_div
                cycles = _baud_cycles(fuart, baud) if lim["out"][0] <= fuart <= lim["out"][1] else None
                if cycles is None:
                    continue
                exact = fuart * 1e6 / baud
                key = (round(accel_error, 9), round(abs(cycles - exact) / exact, 9), abs(cycles - UART_CYCLES_AIM),
                       abs(fvco - mid))
                if best_key is None or key < best_key:
                    params = dict(_ecp5_params(clki_div, clkfb_div, op_div), CLKOS_DIV=os_div, CLKOS_CPHASE=os_div - 1)
                    best, best_key = PllPlan("ecp5", board.clock_mhz, accel_mhz, fout, fvco, params, fuart), key
    return best


@dataclass(frozen=True)
class ClockPlan:
    """The board's two clock domains: the UART's and the accelerator's, and the PLL that makes them."""

    uart_mhz: float
    accel_mhz: float
    clks_per_bit: int
    pll: PllPlan | None

    @property
    def accel_ratio(self) -> float:
        """Accelerator clock over UART clock (what the board simulation drives)."""
        return self.accel_mhz / self.uart_mhz


def _try_plan_clocks(board: Board, baud: int, accel_mhz: float | None, accel_pll: PllPlan | None) -> ClockPlan | None:
    """The clocks for ``baud``, or None; ``accel_pll`` is ``plan_pll(board, accel_mhz)`` (None without
    ``accel_mhz``), computed once by the caller."""
    if baud > board.max_baud:
        return None
    cycles = _baud_cycles(board.clock_mhz, baud)
    if cycles is not None:  # the oscillator makes the rate: the UART needs no PLL
        return ClockPlan(board.clock_mhz, accel_pll.achieved_mhz if accel_pll else board.clock_mhz, cycles, accel_pll)
    pll = _plan_uart_pll(board, baud, accel_mhz)
    if pll is None:
        return None
    return ClockPlan(pll.uart_mhz, pll.achieved_mhz if accel_mhz is not None else board.clock_mhz,
                     _baud_cycles(pll.uart_mhz, baud), pll)


def plan_clocks(board: Board, baud: int, accel_mhz: float | None = None) -> ClockPlan:
    """The UART's and the accelerator's clocks on ``board`` for bitstream.baud and bitstream.accel_clock_mhz.

    The UART runs on the oscillator where it makes ``baud`` (at least MIN_CLKS_PER_BIT cycles a bit, within
    MAX_BAUD_ERROR of a whole number); otherwise, on ECP5, on a second output (CLKOS) of the PLL that makes
    the accelerator's clock (or of a PLL of its own where the accelerator stays on the oscillator). Refuses
    rates above the board's USB-UART bridge and rates neither the oscillator nor the PLL makes (iCE40's
    SB_PLL40_2_PAD has one generated output: its UART stays on the oscillator), naming the nearest legal
    standard rates; refuses an accelerator clock the PLL does not make (:func:`plan_pll`).
    """
    # refuses an accelerator clock the PLL cannot make, whatever the baud rate
    accel_pll = plan_pll(board, accel_mhz) if accel_mhz is not None else None
    plan = _try_plan_clocks(board, baud, accel_mhz, accel_pll)
    if plan is None:
        exact = board.clock_mhz * 1e6 / baud
        legal = [b for b in STANDARD_BAUDS if _try_plan_clocks(board, b, accel_mhz, accel_pll) is not None]
        near = sorted(legal, key=lambda b: abs(math.log(b / baud)))[:2]
        pll = (", and no second output (CLKOS) of its PLL"
               + ("" if accel_mhz is None else f" beside bitstream.accel_clock_mhz={accel_mhz:g}") + " makes it"
               if board.family == "ecp5" else ", and its PLL (SB_PLL40_2_PAD) has no second output for the UART")
        raise HwBnnError(f"bitstream.baud={baud} cannot be used on {board.name}: its USB-UART takes at most "
                         f"{board.max_baud} baud, and a UART bit needs >= {MIN_CLKS_PER_BIT} cycles within "
                         f"{MAX_BAUD_ERROR:.0%} of a whole number: the {board.clock_mhz:g} MHz clock gives "
                         f"{exact:.2f} cycles per bit{pll}; nearest legal standard rates: "
                         f"{', '.join(map(str, sorted(near)))}")
    return plan


def _pll_verilog(plan: PllPlan) -> list[str]:
    """An instance of the family's PLL: ``clk`` (the oscillator pin) in; out ``accel_clk`` (where
    plan.requested_mhz is set), ``uart_clk`` (where plan.uart_mhz is set) and ``pll_lock``."""
    p = plan.params
    head = (f"// PLL: {plan.input_mhz:g} MHz -> CLKOP {plan.achieved_mhz:.4f} MHz"
            + (f", CLKOS {plan.uart_mhz:.4f} MHz (UART)" if plan.uart_mhz else "") + f" (VCO {plan.vco_mhz:.2f} MHz)")
    if plan.family == "ecp5":
        # CLKOP is the feedback; it clocks the accelerator only where an accelerator clock was asked for
        clkop = "accel_clk" if plan.requested_mhz is not None else "pll_feedback"
        uart = ([f'    .OUTDIVIDER_MUXB("DIVB"), .CLKOS_ENABLE("ENABLED"), .CLKOS_DIV({p["CLKOS_DIV"]}), '
                 f'.CLKOS_CPHASE({p["CLKOS_CPHASE"]}), .CLKOS_FPHASE(0),'] if plan.uart_mhz else [])
        return [head,
                f"wire {clkop}, pll_lock;" + (" wire uart_clk;" if plan.uart_mhz else ""),
                *([] if plan.requested_mhz is not None else ["wire accel_clk = clk;  // the accelerator on the oscillator"]),
                "/* verilator lint_off PINCONNECTEMPTY */",
                "EHXPLLL #(",
                '    .PLLRST_ENA("DISABLED"), .INTFB_WAKE("DISABLED"), .STDBY_ENABLE("DISABLED"),',
                '    .DPHASE_SOURCE("DISABLED"), .OUTDIVIDER_MUXA("DIVA"), .FEEDBK_PATH("CLKOP"),',
                *uart,
                f'    .CLKI_DIV({p["CLKI_DIV"]}), .CLKFB_DIV({p["CLKFB_DIV"]}), .CLKOP_ENABLE("ENABLED"),',
                f'    .CLKOP_DIV({p["CLKOP_DIV"]}), .CLKOP_CPHASE({p["CLKOP_CPHASE"]}), .CLKOP_FPHASE(0)',
                ") u_pll (",
                f"    .CLKI(clk), .CLKFB({clkop}), .CLKOP({clkop}),"
                + (" .CLKOS(uart_clk), .ENCLKOS(1'b0)," if plan.uart_mhz else "") + " .RST(1'b0), .STDBY(1'b0),",
                "    .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0), .PHASESTEP(1'b0), .PHASELOADREG(1'b0),",
                "    .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(pll_lock)",
                ");", "/* verilator lint_on PINCONNECTEMPTY */"]
    # iCE40: the oscillator's pin is the PLL's pad; PLLOUTGLOBALA passes the oscillator on to the fabric
    return [head,
            "wire clk_osc, accel_clk, pll_lock;", "/* verilator lint_off PINCONNECTEMPTY */",
            "SB_PLL40_2_PAD #(",
            '    .FEEDBACK_PATH("SIMPLE"), .PLLOUT_SELECT_PORTB("GENCLK"),',
            f"    .DIVR(4'd{p['DIVR']}), .DIVF(7'd{p['DIVF']}), .DIVQ(3'd{p['DIVQ']}), .FILTER_RANGE(3'd{p['FILTER_RANGE']})",
            ") u_pll (",
            "    .PACKAGEPIN(clk), .PLLOUTGLOBALA(clk_osc), .PLLOUTGLOBALB(accel_clk), .RESETB(1'b1), .BYPASS(1'b0),",
            "    .LOCK(pll_lock)",
            ");", "/* verilator lint_on PINCONNECTEMPTY */"]


def fpga_top_verilog(board: Board, por_bits: int = 10, pll: PllPlan | None = None) -> str:
    """Verilog of ``hw_bnn_fpga``: ``hw_bnn_board`` with the board's reset button, LEDs and clocks.

    ``pll``: the accelerator's clock, the UART's or both come from the family's PLL with these settings
    (:func:`plan_clocks`); without it both run on the oscillator (``accel_clk`` = ``clk``). With a PLL the
    reset is held until the PLL locks (as if the button were pressed): before that its outputs are not
    yet at their frequency.

    ``rst_n`` (the synchronous reset of ``hw_bnn_board``) is low at the first 2**por_bits + 1
    rising clock edges after configuration (the flip-flops start at 0), then high. A press of the
    button that N rising edges see pulls it low from the third edge after the first of them, for
    N + 2**por_bits edges. The 2-flop synchroniser does not filter glitches: a press that a single
    edge sees resets as long as any other; one that comes and goes between two edges is not seen.
    (Simulated in tests/test_board_reset.py.)
    """
    pressed = "~btn_rst" if board.button_active_low else "btn_rst"
    led = "~" if board.leds_active_low else ""
    if pll is None:
        uart, clocks = "clk", ["wire accel_clk = clk;  // no PLL: the accelerator runs on the oscillator"]
    else:
        uart, clocks = ("uart_clk" if pll.uart_mhz else "clk" if pll.family == "ecp5" else "clk_osc"), _pll_verilog(pll)
        pressed = f"({pressed} || !pll_lock)"
    return "\n".join([
        f"// Generated by hw_bnn (hw_bnn.board.boards) for {board.name} ({board.device}, {board.clock_mhz:g} MHz clock);",
        f"// pins in hw_bnn/board/constraints/{board.constraints}.",
        "`resetall", "`timescale 1ns / 1ps", "`default_nettype none", "",
        f"module {FPGA_TOP} (",
        "    input  wire clk,",
        f"    input  wire btn_rst,    // reset button, active {'low' if board.button_active_low else 'high'}",
        "    input  wire uart_rx,",
        "    output wire uart_tx,",
        f"    output wire led_error,  // active {'low' if board.leds_active_low else 'high'}",
        "    output wire led_frame",
        ");", "",
        *clocks, "",
        "// The button (and the PLL's lock) passes a 2-flop synchroniser; power-on reset from flip-flops that start at 0.",
        "reg [1:0] pressed_sync = 2'b00;",
        f"reg [{por_bits}:0] por_count = {por_bits + 1}'d0;",
        "reg rst_n = 1'b0;",
        f"always @(posedge {uart}) begin",
        f"    pressed_sync <= {{pressed_sync[0], {pressed}}};",
        "    if (pressed_sync[1]) por_count <= 0;",
        f"    else if (!por_count[{por_bits}]) por_count <= por_count + 1'b1;",
        f"    rst_n <= por_count[{por_bits}] && !pressed_sync[1];",
        "end", "",
        "wire error, in_frame;",
        f"{BOARD_TOP} u_board (",
        f"    .clk({uart}), .accel_clk(accel_clk), .rst_n(rst_n), .uart_rx(uart_rx), .uart_tx(uart_tx),",
        "    .error(error), .in_frame(in_frame)",
        ");",
        f"assign led_error = {led}error;",
        f"assign led_frame = {led}in_frame;", "",
        "endmodule", "", "`resetall", "",
    ])
