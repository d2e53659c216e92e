"""uart_rx / uart_tx: a serial loopback at several baud divisors (their lint and synthesis
are in test_lint_synth.py with every other module)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.rtl.verilator import Sim, rtl_source, verilator_bin

TB = Path(__file__).resolve().parent / "tb_uart_loop.v"


@pytest.mark.parametrize("clks_per_bit", [4, 7, 16])
def test_loopback_random_bytes(clks_per_bit):
    """Random bytes through uart_tx -> line -> uart_rx, with source gaps and short sink stalls."""
    sim = Sim("tb_uart_loop", dict(CLKS_PER_BIT=clks_per_bit), sources=(TB, "uart_tx.v", "uart_rx.v"))
    data = [int(b) for b in np.random.default_rng(clks_per_bit).integers(0, 256, 300)]
    data[:4] = [0x00, 0xFF, 0x55, 0xAA]
    max_cycles = len(data) * 40 * clks_per_bit
    for p_valid, p_ready in ((1.0, 1.0), (0.3, 0.5)):
        result = sim.run(data, len(data), seed=clks_per_bit, p_valid=p_valid, p_ready=p_ready,
                         max_cycles=max_cycles)
        assert result.out == data
    # back to back: one byte per 10 bit periods
    result = sim.run(data, len(data), max_cycles=max_cycles)
    assert np.all(np.diff(result.out_cycles) == 10 * clks_per_bit)


def test_lint_loopback_bench():
    cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", "tb_uart_loop", str(TB),
           str(rtl_source("uart_tx")), str(rtl_source("uart_rx"))]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0 and "%Warning" not in res.stderr, res.stderr
