"""async_fifo: words cross between two free-running clocks in order and unchanged, at clock ratios with
the reader faster and slower than the writer, under random valid/ready (its lint and synthesis are in
test_lint_synth.py with every other module)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from hw_bnn.rtl.verilator import cached_build, rtl_source, verilate

HARNESS = Path(__file__).resolve().parent / "tb_async_fifo.cpp"


def _build(width: int, addr_w: int) -> Path:
    source = rtl_source("async_fifo")
    key = hashlib.sha256(source.read_bytes() + HARNESS.read_bytes()).hexdigest()[:16]
    folder = cached_build(f"async_fifo_{width}_{addr_w}_{key}",
                          lambda d: verilate("async_fifo", [source], HARNESS, d, dict(WIDTH=width, ADDR_W=addr_w)))
    return folder / "obj" / "sim"


@pytest.mark.parametrize("width,addr_w", [(1, 2), (37, 3)])
@pytest.mark.parametrize("s_period,m_period", [(1.0, 1.0), (1.0, 2.5), (2.5, 1.0), (1.0, 7.3), (7.3, 1.0)],
                         ids=["same", "reader-2.5x-slower", "reader-2.5x-faster", "reader-7.3x-slower",
                              "reader-7.3x-faster"])
def test_words_cross_in_order(width, addr_w, s_period, m_period):
    binary = _build(width, addr_w)
    for p_valid, p_ready in ((1.0, 1.0), (0.5, 0.3), (0.2, 0.9)):
        cmd = [str(binary), str(width), "2000", repr(s_period), repr(m_period), repr(p_valid), repr(p_ready),
               str(int(10 * s_period + m_period))]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.startswith("OK"), res.stdout + res.stderr


def test_full_rate_when_deep_enough():
    """With 8 words and both sides always willing, one word per cycle of the slower clock gets through."""
    binary = _build(8, 3)
    for s_period, m_period in ((1.0, 2.5), (2.5, 1.0)):
        res = subprocess.run([str(binary), "8", "4000", repr(s_period), repr(m_period), "1", "1", "1"],
                             capture_output=True, text=True)
        _, s_cycles, m_cycles = res.stdout.split()
        slow_cycles = int(m_cycles) if m_period > s_period else int(s_cycles)
        assert res.returncode == 0 and slow_cycles < 4000 * 1.01 + 20, res.stdout
