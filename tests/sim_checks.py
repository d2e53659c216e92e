"""Checks the end-to-end RTL tests share: outputs that vary, cycle counts against FINN's estimate,
the stall pattern every design is run under, and real test images."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hw_bnn.design.sim import Backpressure, RtlRun

#: Random input-valid gaps and output-ready stalls every end-to-end design must stay exact under.
STALLS = Backpressure(p_valid=0.7, p_ready=0.6, seed=17)
#: Measured steady-state cycles per image over FINN's estimate, at full rate, unless a test states
#: (and explains) another bound: the lower bound fails a simulator that under-counts.
ESTIMATE_BOUNDS = (0.95, 1.05)


def assert_outputs_vary(outputs: np.ndarray) -> None:
    """The outputs differ across images: more than one score row and more than one top-1 class.

    An equality test against a model that gives every image the same output would also pass for a
    design stuck on that output.
    """
    rows = np.asarray(outputs).reshape(len(outputs), -1)
    assert len(np.unique(rows, axis=0)) > 1, f"all {len(rows)} images gave the same output row {rows[0]}"
    if rows.shape[1] > 1:
        classes = np.unique(rows.argmax(axis=1))
        assert len(classes) > 1, f"all {len(rows)} images gave class {classes[0]}"


def assert_cycles_match_estimate(run: RtlRun, hw_graph, bounds: tuple[float, float] = ESTIMATE_BOUNDS) -> float:
    """Steady-state cycles per image within ``bounds`` times FINN's estimate (both ways), and a latency that
    is positive and at least one initiation interval; returns the ratio."""
    from hw_bnn.estimate import estimate

    assert run.backpressure.full_rate, "cycles under back-pressure are the stalls' rate, not the design's"
    assert len(run.frame_cycles) >= 8, "the steady state needs several frames (ii_cycles uses the later half)"
    expected = estimate(hw_graph, "xc7z020clg400-1", 100.0)["cycles_per_frame"]
    ratio = run.ii_cycles / expected
    low, high = bounds
    assert low <= ratio <= high, f"{run.ii_cycles:.1f} cycles/image is {ratio:.3f} x the estimate {expected}"
    assert 0 < run.ii_cycles <= run.latency_cycles
    return ratio


@lru_cache(maxsize=1)
def _mnist_test_split() -> np.ndarray:
    from hw_bnn.data import load_dataset

    return load_dataset("mnist5k").test_x


def mnist_images(n: int) -> np.ndarray:
    """The first ``n`` real MNIST test images of the bundled MNIST-5k, (n, 1, 28, 28) uint8."""
    images = _mnist_test_split()
    assert len(images) >= n
    return images[:n]
