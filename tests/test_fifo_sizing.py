"""FIFO sizing by simulation: each FIFO's peak occupancy from Verilator, depths that keep the design's
cycles per frame (checked by simulating them), and too-small FIFOs caught by that check."""

import numpy as np
import pytest
from model_helpers import randomize_batchnorm

from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig
from hw_bnn.design import fifo_sizing
from hw_bnn.design.sim import Backpressure, run_design, simulate
from hw_bnn.design.stitch import generate_design
from hw_bnn.execute import run_host_graph
from hw_bnn.export import export_model
from hw_bnn.graph import split_at_partition
from hw_bnn.models.cnv import BinaryCNV


@pytest.fixture(scope="module")
def cnv(tmp_path_factory):
    """A small CNV folded so that its layers take about the same time: FIFOs of 4 beats slow it down
    (2,084 against 1,764 cycles/frame measured), FIFOs of 32 do not."""
    model = randomize_batchnorm(BinaryCNV(input_shape=(3, 16, 16), channels=(16, 16, 32, 32), fc=(32,)))
    folder = tmp_path_factory.mktemp("fifo_sizing")
    hw = compile_model(export_model(model, (3, 16, 16), folder / "export.onnx"), BuildConfig(target_cycles_per_frame=2000))
    images = np.random.default_rng(0).integers(0, 256, size=(8, 3, 16, 16)).astype(np.float32)
    return hw, images, run_host_graph(split_at_partition(hw)[0], images), folder


def test_the_simulation_reports_each_fifos_peak_occupancy(cnv):
    hw, images, _, folder = cnv
    run = simulate(hw, images, folder / "fixed32", fifo_depth=32).run
    links = list(simulate(hw, images[:1], folder / "one").design.fifos)
    assert sorted(run.fifo_peaks) == sorted(links)
    assert all(0 <= peak <= 32 for peak in run.fifo_peaks.values()) and max(run.fifo_peaks.values()) >= 2


def test_sized_fifos_keep_the_rate_and_hold_fewer_beats(cnv):
    hw, images, tensors, folder = cnv
    fixed = simulate(hw, images, folder / "fixed", fifo_depth=32)
    sizing = fifo_sizing.size_fifos(hw, tensors, folder / "sizing", fixed_depth=32, progress=lambda m: None)
    assert sizing.sized_ii_cycles == sizing.probe_ii_cycles == fixed.run.ii_cycles
    assert all(depth >= fifo_sizing.MIN_DEPTH for depth in sizing.depths.values())
    assert sum(sizing.depths.values()) < sum(sizing.fixed_depths.values())
    sized = simulate(hw, images, folder / "sized", fifo_depths=sizing.depths)
    assert np.array_equal(sized.outputs, fixed.outputs) and sized.run.ii_cycles == fixed.run.ii_cycles
    memory = sizing.report(sized.design)["memory"]
    assert memory["sized"]["bits"] < memory["fixed"]["bits"]


def test_sizing_grows_only_the_fifos_that_ran_full_and_stays_below_the_peaks(cnv):
    """Started at 4 beats (no deeper than fixed), the two FIFOs before the slow convs run full and slow the
    design; they double until the rate is back, and end shallower than their paced peaks (a burst fills a
    FIFO when nothing stops it, which the rate does not need); the others keep their start."""
    hw, _, tensors, folder = cnv
    sizing = fifo_sizing.size_fifos(hw, tensors, folder / "from4", fixed_depth=4, progress=lambda m: None)
    assert sizing.sized_ii_cycles == sizing.probe_ii_cycles
    from_peaks = {link: max(fifo_sizing.MIN_DEPTH, peak + fifo_sizing.MARGIN) for link, peak in sizing.peaks.items()}
    grown = {link for link, depth in sizing.depths.items() if depth > 4}
    assert grown and all(sizing.depths[link] < from_peaks[link] for link in grown)
    assert all(sizing.depths[link] == min(from_peaks[link], 4) for link in sizing.depths if link not in grown)


def test_fifos_sized_below_their_need_are_caught_and_grown(cnv, monkeypatch):
    """With the margin taken away below the measured peaks every FIFO gets 3 beats, which slows the design:
    the check simulates that, finds it slower than the probe, and doubles the depths until it is not."""
    hw, _, tensors, folder = cnv
    monkeypatch.setattr(fifo_sizing, "MARGIN", -10_000)
    messages = []
    sizing = fifo_sizing.size_fifos(hw, tensors, folder / "too_small", fixed_depth=32, progress=messages.append)
    checks = [m for m in messages if "checking the sized depths" in m]
    assert len(checks) >= 2, messages  # the first, all-minimal depths were too slow
    assert sizing.sized_ii_cycles <= sizing.probe_ii_cycles * (1 + fifo_sizing.TOLERANCE)


def test_sizing_under_back_pressure_keeps_the_stalled_rate(cnv):
    """With ``sim.backpressure``'s stalls the sized design must also keep the deep probe's cycles per frame
    under the same seeded stalls; depths too small for that are caught there and grown."""
    hw, images, tensors, folder = cnv
    stalls = Backpressure(p_valid=0.7, p_ready=0.5, seed=3)
    sizing = fifo_sizing.size_fifos(hw, tensors, folder / "stalled", fixed_depth=32, progress=lambda m: None,
                                    backpressure=stalls)
    assert sizing.backpressure["pattern"] == stalls.describe()
    assert sizing.backpressure["sized_ii_cycles"] <= sizing.backpressure["probe_ii_cycles"] * (1 + fifo_sizing.TOLERANCE)
    sized = simulate(hw, images, folder / "stalled_sized", fifo_depths=sizing.depths, backpressure=stalls)
    assert sized.run.ii_cycles == sizing.backpressure["sized_ii_cycles"]

    probe = generate_design(hw, folder / "stalled_probe", fifo_depth=1024)
    reference = run_design(probe, tensors, backpressure=stalls)
    messages = []
    minimal = {link: fifo_sizing.MIN_DEPTH for link in sizing.depths}
    grown, ii = fifo_sizing._grow_until_rate_kept(hw, tensors, folder / "stalled_grow", 32, minimal, sizing.depths,
                                                  {link: 1024 for link in minimal}, reference, messages.append)
    assert len(messages) >= 2 and all("under back-pressure" in m for m in messages), messages
    assert sum(grown.values()) > sum(minimal.values()) and ii <= reference.ii_cycles * (1 + fifo_sizing.TOLERANCE)


def test_sizing_needs_a_steady_state(cnv):
    hw, _, tensors, folder = cnv
    with pytest.raises(Exception, match="at least 4 frames"):
        fifo_sizing.size_fifos(hw, tensors[:3], folder / "few", fixed_depth=32)


def test_build_sizes_the_fifos_and_sim_runs_the_sized_design(tmp_path, capsys):
    """``build.fifo_sizing: simulate`` (the default) through the CLI: the RTL that build leaves has the sized
    depths, the RTL simulation runs it bit-exact, and the summary says what sizing saved."""
    import json

    from hw_bnn.cli import main
    from hw_bnn.flow import read_report

    out = tmp_path / "run"
    assert main(["run", "training/recipes/demo.yaml", "--out", str(out), "--set", "train.epochs=1",
                 "--set", "data.n_train=200", "--set", "check.n_images=10", "--set", "model.options.hidden=[16]",
                 "--set", "sim.backpressure.output_ready_probability=0.5"]) == 0
    report = read_report(out)
    sizing = report["fifo_sizing"]
    assert report["bit_exact"]["rtl"] is True and report["rtl_sim"]["fifo_sizing"] == "simulate"
    assert sizing["sized_ii_cycles"] == sizing["probe_ii_cycles"]
    # the recipe's stalls reach the sizing, and the simulation under them runs at the rate sizing kept
    assert "output ready with p=0.5" in sizing["backpressure"]["pattern"]
    assert sizing["backpressure"]["sized_ii_cycles"] == report["rtl_sim"]["ii_cycles"]
    built = {inst["name"].removeprefix("u_fifo_"): inst["params"]["DEPTH"]
             for inst in json.loads((out / "rtl" / "design.json").read_text())["instances"]
             if inst["module"] == "stream_fifo"}
    assert built == sizing["depths"]
    summary = capsys.readouterr().out
    assert "FIFOs sized by simulation on 10 images" in summary and "under back-pressure" in summary
    # the recipe changed after the build: sim refuses the RTL it did not ask for
    assert main(["sim", "training/recipes/demo.yaml", "--out", str(out), "--set", "model.options.hidden=[16]",
                 "--set", "check.n_images=10", "--set", "build.fifo_sizing=fixed"]) == 2
    assert "built with build.fifo_sizing=simulate, the recipe now says fixed" in capsys.readouterr().err


def test_sizing_streams_few_test_images_again_for_a_steady_state(tmp_path):
    """With fewer test images than a steady state needs, the build's sizing streams them again (the timing does
    not depend on the pixels) instead of failing."""
    from hw_bnn.cli import main
    from hw_bnn.flow import read_report

    out = tmp_path / "run"
    assert main(["run", "training/recipes/demo.yaml", "--out", str(out), "--set", "train.epochs=1",
                 "--set", "data.n_train=200", "--set", "check.n_images=2", "--set", "model.options.hidden=[16]",
                 "--set", "stages=[train, export, build, sim]"]) == 0
    report = read_report(out)
    assert report["fifo_sizing"]["images"] == fifo_sizing.MIN_FRAMES and report["bit_exact"]["rtl"] is True
