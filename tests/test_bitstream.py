"""Board bitstreams: the accelerator behind the UART link, placed and routed with the board's pins."""

import json

import pytest
from model_helpers import tiny_hw_build

from hw_bnn.board.boards import (BOARDS, FPGA_TOP, PLL_LIMITS, UART_CYCLES_AIM, fpga_top_verilog, get_board,
                                 plan_clocks, plan_pll)
from hw_bnn.cli import main
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An output folder holding the hw_graph.onnx of a tiny MLP (what 'hw-bnn build' leaves)."""
    folder = tmp_path_factory.mktemp("bitstream")
    tiny_hw_build(folder)
    return folder


def test_bitstream_for_ulx3s_12f(run_dir):
    from hw_bnn.flow import bitstream_stage

    config = load_config(None, ["bitstream.board=ulx3s-12f"])
    printed = []
    result = bitstream_stage(config, run_dir, progress=printed.append)
    bit = run_dir / "bitstream" / "ulx3s-12f.bit"
    assert bit.is_file() and bit.stat().st_size > 10_000
    assert result["clks_per_bit"] == 217 and result["device"] == "LFE5U-12F"
    assert result["fmax_mhz"] >= 25.0
    assert 0 < result["utilisation_pct"]["LUT"] < 100
    assert result["fps_at_fmax"] > 0  # from the estimate's cycles per frame (no rtl_sim here)
    synth = json.loads((run_dir / "report.json").read_text())["synth"]
    assert synth["bitstream"] == str(bit) and synth["fmax_mhz"] == result["fmax_mhz"]
    assert f"openFPGALoader -b ulx3s {bit}" in printed[-1]
    # the board's pins made it into the placed design
    config_text = (run_dir / "bitstream" / "ulx3s-12f.config").read_text()
    assert ".device LFE5U-12F" in config_text


def test_icebreaker_fit_check_refuses_an_oversized_design():
    from hw_bnn.synth import check_fit, get_family

    board = get_board("icebreaker")
    with pytest.raises(HwBnnError, match=r"does not fit iCE40UP5K: it needs 6000 LUT, 720 more than the 5280"):
        check_fit({"LUT": 6000, "FF": 100, "BRAM": 2, "DSP": 0}, get_family(board.family), board.device)
    with pytest.raises(HwBnnError, match=r"does not fit LFE5U-12F: it needs 40 BRAM, 8 more than the 32"):
        check_fit({"LUT": 100, "FF": 100, "BRAM": 40, "DSP": 0}, get_family("ecp5"), "LFE5U-12F")
    check_fit({"LUT": 5280, "FF": 5280, "BRAM": 30, "DSP": 8}, get_family("ice40"), "iCE40UP5K")


def test_unknown_board_lists_the_boards(tmp_path, capsys):
    with pytest.raises(HwBnnError, match=r"unknown board 'de10'.*icebreaker.*ulx3s-85f"):
        load_config(None, ["bitstream.board=de10"])
    with pytest.raises(HwBnnError, match="unknown board 'de10'"):
        get_board("de10")
    assert main(["bitstream", "training/recipes/demo.yaml", "--out", str(tmp_path), "--board", "de10"]) == 2
    assert "unknown board 'de10'" in capsys.readouterr().err


def test_baud_rate_sets_clocks_per_bit():
    assert plan_clocks(get_board("ulx3s-85f"), 115200).clks_per_bit == 217
    assert plan_clocks(get_board("icebreaker"), 115200).clks_per_bit == 104
    assert plan_clocks(get_board("icebreaker"), 9600).clks_per_bit == 1250
    assert plan_clocks(get_board("ulx3s-85f"), 115200).pll is None  # the oscillator makes it: no PLL
    # iCE40's PLL has one generated output: a rate the 12 MHz oscillator cannot make is refused
    with pytest.raises(HwBnnError, match=r"bitstream.baud=2500000 cannot be used on icebreaker.*4.80 cycles per bit"
                                         r".*no second output for the UART.*rates: 1500000, 3000000"):
        load_config(None, ["bitstream.board=icebreaker", "bitstream.baud=2500000"])
    assert load_config(None, ["bitstream.baud=9600"]).bitstream.baud == 9600
    # 3 Mbaud (the FTDI bridges' top rate): 4 cycles a bit at 12 MHz; 8.33 at 25 MHz, so a PLL output on the ULX3S
    assert plan_clocks(get_board("icebreaker"), 3_000_000).clks_per_bit == 4
    assert load_config(None, ["bitstream.baud=3000000"]).bitstream.baud == 3_000_000
    with pytest.raises(HwBnnError, match=r"bitstream.baud=4000000.*at most 3000000 baud.*rates: 1500000, 3000000"):
        load_config(None, ["bitstream.board=icebreaker", "bitstream.baud=4000000"])
    with pytest.raises(HwBnnError, match=r"bitstream.baud=3100000 cannot be used on ulx3s-85f.*8.06 cycles per bit, "
                                         r"and no second output \(CLKOS\) of its PLL beside "
                                         r"bitstream.accel_clock_mhz=100 makes it.*rates: 1500000, 3000000"):
        load_config(None, ["bitstream.baud=3100000", "bitstream.accel_clock_mhz=100"])
    assert load_config(None, ["bitstream.baud=1000000"]).bitstream.baud == 1000000


@pytest.mark.parametrize("accel_mhz", [None, 50.0, 62.5, 100.0, 133.3])
@pytest.mark.parametrize("baud", [2_000_000, 3_000_000])
def test_uart_pll_output_for_baud_rates_the_ulx3s_oscillator_cannot_make(baud, accel_mhz):
    """On the ULX3S, 3 and 2 Mbaud (8.33 and 12.5 cycles at 25 MHz) come from CLKOS of the EHXPLLL: legal dividers sharing CLKOP's VCO,
    the accelerator clock as asked (or on the oscillator), the rate within 2% at >= 4 cycles a bit."""
    board = get_board("ulx3s-85f")
    plan = plan_clocks(board, baud, accel_mhz)
    p, lim = plan.pll.params, PLL_LIMITS["ecp5"]
    pfd = board.clock_mhz / p["CLKI_DIV"]
    clkop = pfd * p["CLKFB_DIV"]
    vco = clkop * p["CLKOP_DIV"]
    uart = vco / p["CLKOS_DIV"]
    assert lim["pfd"][0] <= pfd <= lim["pfd"][1] and lim["vco"][0] <= vco <= lim["vco"][1]
    assert lim["out"][0] <= clkop <= lim["out"][1] and lim["out"][0] <= uart <= lim["out"][1]
    assert 1 <= p["CLKOS_DIV"] <= 128 and p["CLKOS_CPHASE"] == p["CLKOS_DIV"] - 1
    assert uart == pytest.approx(plan.uart_mhz) == pytest.approx(plan.pll.uart_mhz)
    assert plan.clks_per_bit >= 4 and abs(plan.clks_per_bit - uart * 1e6 / baud) / (uart * 1e6 / baud) <= 0.02
    if accel_mhz is None:
        assert plan.accel_mhz == board.clock_mhz and plan.pll.requested_mhz is None
    else:
        assert abs(plan.accel_mhz - accel_mhz) / accel_mhz <= 0.01 and plan.accel_mhz == pytest.approx(clkop)
    assert plan.accel_ratio == pytest.approx(plan.accel_mhz / plan.uart_mhz)


def test_uart_pll_prefers_an_exact_rate_near_16_cycles_a_bit():
    ulx = get_board("ulx3s-85f")
    alone = plan_clocks(ulx, 3_000_000)  # the accelerator on the oscillator: 48 MHz = 16 cycles exactly
    assert (alone.uart_mhz, alone.clks_per_bit, alone.accel_mhz) == (48.0, UART_CYCLES_AIM, 25.0)
    with_accel = plan_clocks(ulx, 3_000_000, 100.0)  # VCO 600 MHz = 100 x 6: 60 MHz (/10), 20 cycles exactly
    assert with_accel.pll.params == dict(CLKI_DIV=1, CLKFB_DIV=4, CLKOP_DIV=6, CLKOP_CPHASE=5, CLKOS_DIV=10,
                                         CLKOS_CPHASE=9)
    assert (with_accel.uart_mhz, with_accel.clks_per_bit) == (60.0, 20)
    text = fpga_top_verilog(ulx, pll=with_accel.pll)
    assert ".CLKOS_DIV(10), .CLKOS_CPHASE(9)" in text and ".CLKOP(accel_clk), .CLKOS(uart_clk)" in text
    assert ".clk(uart_clk), .accel_clk(accel_clk)" in text and "always @(posedge uart_clk)" in text
    assert "(~btn_rst || !pll_lock)" in text  # the reset holds until the PLL locks
    text = fpga_top_verilog(ulx, pll=alone.pll)
    assert "wire accel_clk = clk;" in text and ".CLKOP(pll_feedback), .CLKOS(uart_clk)" in text


@pytest.mark.parametrize("board_name", ["ulx3s-85f", "icebreaker"])
@pytest.mark.parametrize("mhz", [20.0, 30.0, 50.0, 62.5, 100.0, 133.3])
def test_pll_settings_are_legal_and_near(board_name, mhz):
    """The dividers satisfy the family's PLL equations and limits, and the output is within 1% of the request."""
    board = get_board(board_name)
    plan = plan_pll(board, mhz)
    p, lim = plan.params, PLL_LIMITS[board.family]
    if board.family == "ecp5":
        pfd = board.clock_mhz / p["CLKI_DIV"]
        out = pfd * p["CLKFB_DIV"]
        vco = out * p["CLKOP_DIV"]
        assert 1 <= p["CLKI_DIV"] <= 128 and 1 <= p["CLKFB_DIV"] <= 80 and 1 <= p["CLKOP_DIV"] <= 128
        assert p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1
    else:
        pfd = board.clock_mhz / (p["DIVR"] + 1)
        vco = pfd * (p["DIVF"] + 1)
        out = vco / 2 ** p["DIVQ"]
        assert 0 <= p["DIVR"] <= 15 and 0 <= p["DIVF"] <= 127 and 1 <= p["DIVQ"] <= 6 and 1 <= p["FILTER_RANGE"] <= 6
    assert lim["pfd"][0] <= pfd <= lim["pfd"][1] and lim["vco"][0] <= vco <= lim["vco"][1]
    assert out == pytest.approx(plan.achieved_mhz) and vco == pytest.approx(plan.vco_mhz)
    assert abs(plan.achieved_mhz - mhz) / mhz <= 0.01
    assert plan.ratio == pytest.approx(plan.achieved_mhz / board.clock_mhz)


def test_pll_exact_settings_and_refusals():
    ecp5 = plan_pll(get_board("ulx3s-85f"), 62.5)
    assert ecp5.achieved_mhz == 62.5 and ecp5.ratio == 2.5
    assert plan_pll(get_board("icebreaker"), 30).params == dict(DIVR=0, DIVF=79, DIVQ=5, FILTER_RANGE=1)
    assert plan_pll(get_board("icebreaker"), 30).vco_mhz == 960
    with pytest.raises(HwBnnError, match=r"bitstream.accel_clock_mhz=500 is outside the ecp5 PLL's output range "
                                         r"3.125..400 MHz on ulx3s-85f"):
        load_config(None, ["bitstream.accel_clock_mhz=500"])
    with pytest.raises(HwBnnError, match=r"bitstream.accel_clock_mhz=10 is outside the ice40 PLL's output range "
                                         r"16..275 MHz on icebreaker"):
        load_config(None, ["bitstream.board=icebreaker", "bitstream.accel_clock_mhz=10"])
    # in range, but with CLKOP as feedback and a PFD of at least 3.125 MHz, 25 MHz makes 15.625 or 16.67, not 16
    with pytest.raises(HwBnnError, match=r"bitstream.accel_clock_mhz=16: the nearest frequency the ecp5 PLL makes "
                                         r"from 25 MHz is 15.62 MHz \(2.3% off\); use that"):
        load_config(None, ["bitstream.accel_clock_mhz=16"])
    assert load_config(None, ["bitstream.accel_clock_mhz=62.5"]).bitstream.accel_clock_mhz == 62.5


def test_wrapper_instantiates_the_pll_only_when_asked():
    ulx = get_board("ulx3s-85f")
    plain = fpga_top_verilog(ulx)
    assert "EHXPLLL" not in plain and "wire accel_clk = clk;" in plain
    ecp5 = fpga_top_verilog(ulx, pll=plan_pll(ulx, 62.5))
    assert ".CLKI_DIV(2), .CLKFB_DIV(5)" in ecp5 and ".CLKOP_DIV(10), .CLKOP_CPHASE(9)" in ecp5
    assert ".clk(clk), .accel_clk(accel_clk)" in ecp5
    ice = fpga_top_verilog(get_board("icebreaker"), pll=plan_pll(get_board("icebreaker"), 30))
    assert "SB_PLL40_2_PAD" in ice and "DIVF(7'd79)" in ice and ".clk(clk_osc), .accel_clk(accel_clk)" in ice


def test_wrapper_inverts_at_the_boards_levels():
    ice = fpga_top_verilog(get_board("icebreaker"))
    assert "~btn_rst" in ice and "assign led_error = ~error;" in ice
    ulx = fpga_top_verilog(get_board("ulx3s-85f"))
    assert "~btn_rst" in ulx and "assign led_error = error;" in ulx
    for board in BOARDS.values():
        text = board.constraint_file.read_text()
        for port in ("clk", "uart_rx", "uart_tx", "btn_rst", "led_error"):
            assert f'"{port}"' in text or f" {port} " in text, (board.name, port)
    assert f"module {FPGA_TOP}" in ulx
