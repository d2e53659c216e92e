"""Host side of the UART link to a board running a hw_bnn accelerator (``hls/rtl/board/uart_bridge.v``).

Protocol (8N1 UART; multi-byte fields little-endian):

* host -> board: ``b"F"`` (0x46), then one frame: ``in_beats`` beats, each beat as
  ``ceil(in_w / 8)`` bytes, little-endian (bits above ``in_w`` in the last byte are zero);
* board -> host: the frame's ``out_beats`` output beats, each as ``ceil(out_w / 8)`` bytes,
  little-endian, zero-extended (a signed output element is sign-extended by the decoder of
  the stream, e.g. :func:`hw_bnn.design.sim.decode`, not here);
* host -> board: ``b"I"`` (0x49); board -> host: 14 bytes ``b"HB"``, ``in_w`` (u16),
  ``out_w`` (u16), ``in_beats`` (u32), ``out_beats`` (u32): the design's frame format.

Other bytes between frames are ignored. The link has no flow control: the host sends a
frame and reads its reply before sending the next one (stop-and-wait), and does not send
``I`` while a frame is running. A byte lost inside a frame leaves the board mid-frame:
reset the board to resynchronise.

Beats are integers with element 0 in the least significant bits (FINN's packing), as
:func:`hw_bnn.design.sim.encode` makes them from the accelerator's input tensor.

Any object with ``write(bytes)`` and ``read(n) -> bytes`` is a port: a pyserial port works
(pyserial is not a dependency of hw_bnn)::

    import serial                                     # pip install pyserial
    from hw_bnn.board.protocol import Client
    with serial.Serial("/dev/ttyUSB0", 115200, timeout=2) as port:
        client = Client(port)                         # asks the board for its frame format
        out_beats = client.classify(in_beats)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from hw_bnn.errors import HwBnnError

CMD_FRAME = b"F"
CMD_INFO = b"I"
INFO_MAGIC = b"HB"
INFO_FORMAT = "<2sHHII"
INFO_BYTES = struct.calcsize(INFO_FORMAT)  # 14


def beat_bytes(width: int) -> int:
    """Bytes per beat of ``width`` bits on the link."""
    return (width + 7) // 8


@dataclass(frozen=True)
class FrameFormat:
    """The accelerator's stream format: beat widths in bits and beats per frame."""

    in_w: int
    out_w: int
    in_beats: int
    out_beats: int

    @property
    def request_bytes(self) -> int:
        """Bytes the host sends per frame, command byte included."""
        return 1 + self.in_beats * beat_bytes(self.in_w)

    @property
    def reply_bytes(self) -> int:
        return self.out_beats * beat_bytes(self.out_w)

    @classmethod
    def of_design(cls, design) -> FrameFormat:
        """The format of a :class:`hw_bnn.design.stitch.Design` (its first and last node)."""
        first, last = design.nodes[0], design.nodes[-1]
        return cls(first.inp.width, last.out.width, first.inp.beats, last.out.beats)


def pack(beats, width: int) -> bytes:
    """Beat integers -> bytes: each beat as ``ceil(width/8)`` bytes, little-endian."""
    n = beat_bytes(width)
    out = bytearray()
    for beat in beats:
        beat = int(beat)
        if beat < 0 or beat >> width:
            raise HwBnnError(f"beat {beat:#x} does not fit in {width} bits")
        out += beat.to_bytes(n, "little")
    return bytes(out)


def unpack(data: bytes, width: int) -> list[int]:
    """Bytes -> beat integers (inverse of :func:`pack`)."""
    n = beat_bytes(width)
    if len(data) % n:
        raise HwBnnError(f"{len(data)} bytes are not a whole number of {n}-byte beats")
    mask = (1 << width) - 1
    return [int.from_bytes(data[i:i + n], "little") & mask for i in range(0, len(data), n)]


def encode_frame(beats, fmt: FrameFormat) -> bytes:
    """One frame of input beats -> the bytes the host sends (command byte + beats)."""
    beats = list(beats)
    if len(beats) != fmt.in_beats:
        raise HwBnnError(f"a frame has {fmt.in_beats} input beats, got {len(beats)}")
    return CMD_FRAME + pack(beats, fmt.in_w)


def decode_reply(data: bytes, fmt: FrameFormat) -> list[int]:
    """The bytes of one frame's reply -> its output beats."""
    if len(data) != fmt.reply_bytes:
        raise HwBnnError(f"a reply has {fmt.reply_bytes} bytes, got {len(data)} "
                         f"(timeout, or the board is not in step with the host: reset it)")
    return unpack(data, fmt.out_w)


def decode_info(data: bytes) -> FrameFormat:
    """The reply to ``I`` -> the board's frame format."""
    if len(data) != INFO_BYTES or data[:2] != INFO_MAGIC:
        raise HwBnnError(f"no valid design information from the board (got {data!r}); "
                         f"check the port, the baud rate, and reset the board")
    _, in_w, out_w, in_beats, out_beats = struct.unpack(INFO_FORMAT, data)
    return FrameFormat(in_w, out_w, in_beats, out_beats)


class Port(Protocol):
    """What :class:`Client` needs of a serial port (``serial.Serial`` has both)."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int) -> bytes: ...


def _read_exactly(port: Port, n: int) -> bytes:
    """Read ``n`` bytes; a port with a timeout may return fewer, so keep reading until it returns none."""
    data = b""
    while len(data) < n:
        chunk = port.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


class Client:
    """Classify frames on a board (or a simulation of one) over a byte port.

    ``fmt`` is the frame format; without it the board is asked for it (command ``I``).
    """

    def __init__(self, port: Port, fmt: FrameFormat | None = None):
        self.port = port
        self.fmt = fmt if fmt is not None else self.info()

    def info(self) -> FrameFormat:
        """Ask the board for its frame format."""
        self.port.write(CMD_INFO)
        return decode_info(_read_exactly(self.port, INFO_BYTES))

    def classify(self, beats) -> list[int]:
        """Send one frame of input beats, return its output beats."""
        self.port.write(encode_frame(beats, self.fmt))
        return decode_reply(_read_exactly(self.port, self.fmt.reply_bytes), self.fmt)

    def classify_many(self, frames) -> list[list[int]]:
        """Output beats of each frame, one frame at a time (stop-and-wait)."""
        return [self.classify(beats) for beats in frames]
