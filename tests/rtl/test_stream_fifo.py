"""stream_fifo.v: order preserved under random gaps/stalls, full throughput for DEPTH >= 3."""

from __future__ import annotations

import numpy as np
import pytest

from hw_bnn.rtl.verilator import Sim


@pytest.mark.parametrize("width,depth", [(1, 1), (5, 3), (37, 7), (70, 16)])
def test_stream_fifo(width, depth):
    sim = Sim("stream_fifo", dict(WIDTH=width, DEPTH=depth))
    rng = np.random.default_rng(width * 31 + depth)
    data = [int(v) for v in rng.integers(0, 1 << min(width, 62), size=300)]
    if width > 62:
        data = [d | (int(rng.integers(0, 1 << 8)) << (width - 8)) for d in data]
    for run_i, (pv, pr) in enumerate([(1.0, 1.0), (0.5, 0.9), (0.9, 0.3), (0.2, 0.2)]):
        res = sim.run(data, n_out=len(data), seed=run_i, p_valid=pv, p_ready=pr)
        assert res.out == data, run_i
        if run_i == 0 and depth >= 3:
            assert res.out_cycles[-1] - res.in_cycles[0] == len(data) + 1  # latency 2, II 1
