"""The board top (uart_rx + uart_bridge + async_fifo + accelerator + async_fifo + uart_tx) simulated in
Verilator, driven through the host protocol code (hw_bnn.board.protocol) over a simulated serial line,
with the accelerator's clock at a ratio to the UART's (the harness plays the board's PLL)."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import randomize_batchnorm
from sim_checks import assert_outputs_vary, mnist_images

from hw_bnn.board.boards import get_board, plan_clocks, plan_pll
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


@pytest.mark.parametrize("accel_ratio", [0.4, 2.5, 7.3])
def test_echo_frames_cross_the_clock_domains(echo_board, accel_ratio):
    """The accelerator (here a FIFO) slower and faster than the UART: frames come back unchanged."""
    sim, fmt = echo_board
    port = SimSerial(sim, CLKS_PER_BIT, accel_ratio=accel_ratio)
    client = Client(port)
    assert client.fmt == fmt
    frames = [[int(b) for b in np.random.default_rng(10 + i).integers(0, 1 << 12, 5)] for i in range(3)]
    port.write(b"".join(encode_frame(frame, fmt) for frame in frames))  # back to back, no waiting
    replies = port.read(3 * fmt.reply_bytes)
    assert [decode_reply(replies[i * fmt.reply_bytes:(i + 1) * fmt.reply_bytes], fmt) for i in range(3)] == frames
    assert not port.last.board_error and port.last.framing_errors == 0


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


#: the ULX3S's PLL at 62.5 MHz from its 25 MHz oscillator: the accelerator runs 2.5 times the UART's clock
PLL = plan_pll(get_board("ulx3s-85f"), 62.5)


def test_mlp_board_classifies_like_pytorch(mlp):
    model, hw, folder = mlp
    design = generate_design(hw, folder / "rtl")
    assert PLL.ratio == 2.5
    port = SimSerial(BoardSim(generate_board(design, CLKS_PER_BIT)), CLKS_PER_BIT, cwd=design.folder,
                     accel_ratio=PLL.ratio)
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


def test_mlp_board_at_3_mbaud_on_the_ulx3s_pll_clocks(mlp):
    """3 Mbaud on the ULX3S: the UART on a second PLL output (60 MHz, 20 cycles a bit), the accelerator on
    CLKOP at 100 MHz; the harness drives the two at their ratio (5/3) and the classes are PyTorch's."""
    model, hw, folder = mlp
    plan = plan_clocks(get_board("ulx3s-85f"), 3_000_000, 100.0)
    assert (plan.uart_mhz, plan.clks_per_bit, plan.accel_mhz) == (60.0, 20, 100.0)
    design = generate_design(hw, folder / "rtl_3mbaud")
    port = SimSerial(BoardSim(generate_board(design, plan.clks_per_bit)), plan.clks_per_bit, cwd=design.folder,
                     accel_ratio=plan.accel_ratio)
    client, host = Client(port), HostModel(hw, design)
    images = mnist_images(4)
    assert np.array_equal(host.classify(client, images), predict(model, images))
    assert not port.last.board_error and port.last.framing_errors == 0


def board_outputs(model_input_shape, model, tmp_path, images: np.ndarray, target_cycles: int) -> np.ndarray:
    """Compile ``model``, generate its design and board top, send ``images`` through the simulated board
    in one batch (the PLL's ratio, CLKS_PER_BIT) and return the host's output rows."""
    hw = compile_model(export_model(model, model_input_shape, tmp_path / "export.onnx"),
                       BuildConfig(target_cycles_per_frame=target_cycles))
    design = generate_design(hw, tmp_path / "rtl")
    port = SimSerial(BoardSim(generate_board(design, CLKS_PER_BIT)), CLKS_PER_BIT, cwd=design.folder,
                     accel_ratio=PLL.ratio)
    client, host = Client(port), HostModel(hw, design)
    assert client.fmt == FrameFormat.of_design(design)
    port.write(b"".join(encode_frame(host.frame_beats(image), client.fmt) for image in images))
    size = client.fmt.reply_bytes
    replies = port.read(len(images) * size)
    assert len(replies) == len(images) * size
    assert not port.last.board_error and port.last.framing_errors == 0
    return np.stack([host.outputs(decode_reply(replies[i * size:(i + 1) * size], client.fmt))
                     for i in range(len(images))])


def test_adabin_board_decodes_the_count_lane(tmp_path):
    """An AdaBin MLP ends in a counting MVAU: its output beats carry the count of each vector in an
    extra lane (Stream.count_lane_channels), which HostModel unpacks before the host's AdaBinOutput.
    Through the board top at the PLL's ratio, the classes are PyTorch's (deployment form)."""
    import torch

    from hw_bnn.export import deployable
    from hw_bnn.methods import get_method

    torch.manual_seed(0)
    model = randomize_batchnorm(BinaryMLP(hidden=(32, 32), method=get_method("adabin", {"activation_form": "code"})),
                                seed=0)
    images = mnist_images(12)
    outputs = board_outputs((1, 28, 28), model, tmp_path, images, 300)
    expected = deployable(model)(torch.from_numpy(images).float()).detach().numpy()
    assert np.array_equal(outputs, expected)
    assert np.array_equal(outputs.argmax(1), predict(model, images).argmax(1))
    assert_outputs_vary(outputs)


def test_dybnn_board_classifies_like_pytorch(tmp_path):
    """A DyBNN MLP (per-sample thresholds: FrameBuffer + FrameHyperFunction nodes, which hold a whole
    frame before they emit) through the board top at the PLL's ratio, on real MNIST images."""
    import torch
    from test_frame_hw import random_dynamic_model

    from hw_bnn.export import deployable

    model = random_dynamic_model("mlp", "dybnn", seed=2)
    images = mnist_images(6)
    outputs = board_outputs((1, 28, 28), model, tmp_path, images, 2000)
    expected = deployable(model, (1, 28, 28))(torch.from_numpy(images).float()).detach().numpy()
    assert np.array_equal(outputs, expected)
    assert_outputs_vary(outputs)


def test_residual_board_classifies_like_pytorch(tmp_path):
    """A reduced ResNet-20 (option-A shortcuts: forks, joins and shortcut FIFOs in the design) through the
    board top at the PLL's ratio, on random 16x16 CIFAR-format images (BatchNorm seed 5: varied classes)."""
    import torch
    from test_residual_hw import SHAPE, _images, trained_like

    model = randomize_batchnorm(trained_like("resnet20"), seed=5).eval()
    candidates = _images(24, 11)
    with torch.no_grad():
        classes = model(candidates).argmax(1).numpy()
    # most random images score one class: take the first image of each class seen, so the replies must differ
    picks = [int(np.flatnonzero(classes == c)[0]) for c in np.unique(classes)][:4]
    images = candidates[picks].numpy().astype(np.uint8)
    outputs = board_outputs(SHAPE, model, tmp_path, images, 2000)
    with torch.no_grad():
        expected = model(torch.from_numpy(images).float()).numpy()
    assert np.array_equal(outputs, expected)
    assert_outputs_vary(outputs)
