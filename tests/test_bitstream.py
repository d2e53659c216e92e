"""Board bitstreams: the accelerator behind the UART link, placed and routed with the board's pins."""

import json

import pytest
from model_helpers import tiny_hw_build

from hw_bnn.board.boards import BOARDS, FPGA_TOP, clks_per_bit, fpga_top_verilog, get_board
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
    assert clks_per_bit(get_board("ulx3s-85f"), 115200) == 217
    assert clks_per_bit(get_board("icebreaker"), 115200) == 104
    assert clks_per_bit(get_board("icebreaker"), 9600) == 1250
    with pytest.raises(HwBnnError, match="bitstream.baud=2500000"):
        load_config(None, ["bitstream.board=icebreaker", "bitstream.baud=2500000"])
    assert load_config(None, ["bitstream.baud=9600"]).bitstream.baud == 9600


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
