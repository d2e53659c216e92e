"""The board top (uart_rx + uart_bridge + accelerator + uart_tx) simulated in Verilator, driven
through the host protocol code (hw_bnn.board.protocol) over a simulated serial line."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import randomize_batchnorm
from sim_checks import assert_outputs_vary, mnist_images

from hw_bnn.board.host import HostModel
from hw_bnn.board.protocol import Client, FrameFormat, decode_reply, encode_frame, pack, unpack
from hw_bnn.board.sim import BoardSim, SimSerial
from hw_bnn.board.top import board_top_verilog, copy_board_modules, generate_board
from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig
from hw_bnn.errors import HwBnnError
from hw_bnn.export import export_model
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.design.stitch import generate_design
from hw_bnn.rtl.verilator import rtl_source
from hw_bnn.train import predict

CLKS_PER_BIT = 5


def test_pack_unpack():
    fmt = FrameFormat(in_w=12, out_w=6, in_beats=2, out_beats=3)
    assert pack([0xABC, 0x001], 12) == bytes([0xBC, 0x0A, 0x01, 0x00])
    assert encode_frame([0xABC, 0x001], fmt) == b"F\xbc\x0a\x01\x00"
    assert decode_reply(bytes([0x3F, 0x00, 0x21]), fmt) == [0x3F, 0, 0x21]
    assert unpack(pack([5, 1 << 39], 40), 40) == [5, 1 << 39]
    with pytest.raises(HwBnnError, match="does not fit"):
        pack([1 << 12], 12)
    with pytest.raises(HwBnnError, match="a reply has 3 bytes, got 2"):
        decode_reply(b"\x00\x00", fmt)


@pytest.fixture(scope="module")
def echo_board(tmp_path_factory):
    """A board whose 'accelerator' is a FIFO of 12-bit beats: every frame comes back as it went."""
    folder = tmp_path_factory.mktemp("echo")
    fmt = FrameFormat(in_w=12, out_w=12, in_beats=5, out_beats=5)
    (folder / "stream_fifo.v").write_bytes(rtl_source("stream_fifo").read_bytes())
    extra = [",", "        /* verilator lint_off PINCONNECTEMPTY */", "        .count()",
             "        /* verilator lint_on PINCONNECTEMPTY */"]
    top = folder / "hw_bnn_board.v"
    top.write_text(board_top_verilog(fmt, CLKS_PER_BIT, accel="stream_fifo", accel_params=dict(WIDTH=12, DEPTH=4),
                                     extra_ports=extra))
    return BoardSim([folder / "stream_fifo.v", *copy_board_modules(folder), top]), fmt


@pytest.mark.parametrize("baud_error", [0.0, 0.03, -0.03])
def test_echo_frames_through_the_protocol(echo_board, baud_error):
    sim, fmt = echo_board
    port = SimSerial(sim, CLKS_PER_BIT, baud_error=baud_error)
    port.write(b"\x00\x13")  # bytes other than a command between frames are ignored
    client = Client(port)  # asks the board for its format
    assert client.fmt == fmt
    frames = [[int(b) for b in np.random.default_rng(i).integers(0, 1 << 12, 5)] for i in range(3)]
    frames[0] = [0xFFF, 0, 0x800, 0x001, 0x46]  # extremes, and a beat that looks like a command
    assert client.classify_many(frames) == frames
    assert not port.last.board_error and port.last.framing_errors == 0
    assert port.read(1) == b""  # nothing extra came back


def test_a_short_frame_times_out_with_a_clear_error(echo_board):
    sim, fmt = echo_board
    port = SimSerial(sim, CLKS_PER_BIT, idle_limit=2000)
    client = Client(port, fmt)
    port.write(encode_frame([1] * 5, fmt)[:-1])  # one byte short: the last beat never completes
    # the FIFO echoes the 4 complete beats, then the board waits for the missing byte
    with pytest.raises(HwBnnError, match="a reply has 10 bytes, got 8"):
        decode_reply(port.read(fmt.reply_bytes), client.fmt)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlp")
    model = randomize_batchnorm(BinaryMLP(hidden=(32, 16)), seed=4)
    hw = compile_model(export_model(model, (1, 28, 28), folder / "export.onnx"),
                       BuildConfig(target_cycles_per_frame=300))
    return model, hw, folder


def test_mlp_board_classifies_like_pytorch(mlp):
    model, hw, folder = mlp
    design = generate_design(hw, folder / "rtl")
    port = SimSerial(BoardSim(generate_board(design, CLKS_PER_BIT)), CLKS_PER_BIT, cwd=design.folder)
    client = Client(port)
    assert client.fmt == FrameFormat.of_design(design)
    host = HostModel(hw, design)
    images = mnist_images(100)
    expected = predict(model, images)
    # three images stop-and-wait, as Client.classify_many does on a board
    assert np.array_equal(host.classify(client, images[:3]), expected[:3])
    # then the rest written in one go and the replies read back in one go: SimSerial re-runs the whole
    # script from reset whenever a read needs more bytes, so stop-and-wait costs one run per image, each
    # longer than the last (quadratic in the images), a batch one run; the UART is far slower than the
    # accelerator, so the board takes every byte as it comes
    rest = images[3:]
    port.write(b"".join(encode_frame(host.frame_beats(image), client.fmt) for image in rest))
    size = client.fmt.reply_bytes
    replies = port.read(len(rest) * size)
    assert len(replies) == len(rest) * size
    outputs = np.stack([host.outputs(decode_reply(replies[i * size:(i + 1) * size], client.fmt))
                        for i in range(len(rest))])
    assert np.array_equal(outputs, expected[3:])
    assert_outputs_vary(outputs)
    assert not port.last.board_error and port.last.framing_errors == 0
    assert port.read(1) == b""  # nothing more came back
