"""The stitched RTL of whole HW graphs, simulated in Verilator, against PyTorch and FINN."""

import json
import re

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper
from model_helpers import randomize_batchnorm
from sim_checks import STALLS, assert_cycles_match_estimate, assert_outputs_vary, mnist_images

from hw_bnn.compiler import compile_model
from hw_bnn.config import BuildConfig, load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.export import export_model
from hw_bnn.models.cnv import BinaryCNV
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.design import sim as rtl_sim
from hw_bnn.design.stitch import STITCHED_GRAPH_FILE, generate_design, load_design
from hw_bnn.train import predict


def compiled(model, shape, tmp_path, **build):
    graph = export_model(model, shape, tmp_path / "export.onnx")
    return compile_model(graph, BuildConfig(**build))


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    model = randomize_batchnorm(BinaryMLP(hidden=(64, 32, 32)), seed=4)
    return model, compiled(model, (1, 28, 28), tmp_path_factory.mktemp("mlp"), target_cycles_per_frame=300)


def test_mlp_rtl_equals_pytorch_and_meets_the_estimate(mlp, tmp_path):
    model, hw = mlp
    images = mnist_images(100)
    result = rtl_sim.simulate(hw, images, tmp_path)
    assert np.array_equal(result.outputs, predict(model, images))
    assert_outputs_vary(result.outputs)
    assert_cycles_match_estimate(result.run, hw)
    files = {p.name for p in (tmp_path / "rtl").iterdir()}
    assert {"hw_bnn_top.v", "mvau.v", "thresholding.v", "stream_fifo.v", "design.json"} <= files
    assert any(name.endswith("_weights.mem") for name in files)


def test_mlp_under_backpressure_is_exact_and_the_stalls_are_seeded(mlp, tmp_path):
    model, hw = mlp
    images = mnist_images(100)
    full = rtl_sim.simulate(hw, images, tmp_path / "full")
    stalled = rtl_sim.simulate(hw, images, tmp_path / "stalled", backpressure=STALLS)
    assert np.array_equal(stalled.outputs, predict(model, images))
    assert stalled.run.backpressure == STALLS and len(stalled.run.frame_cycles) == len(images)
    assert stalled.run.cycles > full.run.cycles  # the stalls did slow the stream down
    first, again = (rtl_sim.simulate(hw, images[:10], tmp_path / name, backpressure=STALLS) for name in "ab")
    reseeded = rtl_sim.simulate(hw, images[:10], tmp_path / "c",
                                backpressure=rtl_sim.Backpressure(STALLS.p_valid, STALLS.p_ready, STALLS.seed + 1))
    assert np.array_equal(again.run.frame_cycles, first.run.frame_cycles)
    assert not np.array_equal(reseeded.run.frame_cycles, first.run.frame_cycles)


def test_packed_weight_memories_stay_exact_on_real_digits(mlp, tmp_path, monkeypatch):
    """Weight memories stored several beats to a word (packed_param_rom.v, chosen for memories deeper than
    one block RAM) give PyTorch's outputs at the estimated rate, also under stalls: the thresholds lowered
    so that this small MLP's memories pack."""
    import hw_bnn.rtl.memfiles as memfiles

    monkeypatch.setattr(memfiles, "UNPACKED_ROM_WORDS", 16)
    monkeypatch.setattr(memfiles, "PACKED_ROM_WORDS", 8)
    model, hw = mlp
    images = mnist_images(30)
    full = rtl_sim.simulate(hw, images, tmp_path / "full")
    stalled = rtl_sim.simulate(hw, images, tmp_path / "stalled", backpressure=STALLS)
    for result in (full, stalled):
        assert np.array_equal(result.outputs, predict(model, images))
    assert_cycles_match_estimate(full.run, hw)
    packed = [inst for inst in load_design(tmp_path / "full" / "rtl").instances if inst.params.get("WEIGHT_PACK", 1) > 1]
    assert len(packed) >= 2, "the lowered thresholds must pack some weight memories"


@pytest.mark.parametrize("depth", [2, 3])
def test_shallow_fifos_stay_exact(mlp, random_images, tmp_path, depth):
    model, hw = mlp
    images = random_images(6, seed=depth)
    for backpressure in (rtl_sim.FULL_RATE, STALLS):
        result = rtl_sim.simulate(hw, images, tmp_path, fifo_depth=depth, backpressure=backpressure)
        assert np.array_equal(result.outputs, predict(model, images))


def test_unfolded_and_width_converted_chains(random_images, tmp_path):
    """PE/SIMD chosen so neighbouring widths differ and neither divides the other (LCM converters)."""
    model = randomize_batchnorm(BinaryMLP(hidden=(48, 36)), seed=6)
    folding = {"Thresholding_0": {"PE": 8}, "MVAU_0": {"PE": 6, "SIMD": 16},
               "MVAU_1": {"PE": 4, "SIMD": 16}, "MVAU_2": {"PE": 2, "SIMD": 9}}
    path = tmp_path / "folding.json"
    path.write_text(json.dumps(folding))
    hw = compiled(model, (1, 28, 28), tmp_path, folding_file=str(path))
    images = random_images(5, seed=11)
    result = rtl_sim.simulate(hw, images, tmp_path)
    assert np.array_equal(result.outputs, predict(model, images))
    modules = [inst.module for inst in result.design.instances]
    assert modules.count("width_converter") >= 4  # 6 -> 16 and 4 -> 9 need two each (via the LCM)

    # the saved graph view shows each of them, and each FIFO, on its link in graph order
    view = ModelWrapper(str(tmp_path / "rtl" / STITCHED_GRAPH_FILE))
    ops = [node.op_type for node in view.graph.node if node.domain == "finn.custom_op.fpgadataflow"]
    assert ops.count("StreamingDataWidthConverter") == modules.count("width_converter")
    assert ops.count("StreamingFIFO") == modules.count("stream_fifo")
    converters = {n.name: n for n in view.graph.node if n.op_type == "StreamingDataWidthConverter"}
    first = converters["dwc_MVAU_0_to_MVAU_1_up"]
    assert [a.i for a in first.attribute if a.name in ("inWidth", "outWidth")] == [6, 48]
    assert view.find_consumer(first.output[0]).name == "dwc_MVAU_0_to_MVAU_1_down"
    fifo = view.find_producer(next(n for n in view.graph.node if n.name == "MVAU_1").input[0])
    assert (fifo.op_type, fifo.name) == ("StreamingFIFO", "fifo_MVAU_0_to_MVAU_1")


def test_a_saved_design_reloads_as_generated(mlp, tmp_path):
    """sim, synth and bitstream reuse the RTL that build wrote: the reloaded design is the generated one."""
    _, hw = mlp
    design = generate_design(hw, tmp_path / "rtl", fifo_depth=8)
    again = load_design(tmp_path / "rtl")
    assert (again.instances, again.widths, again.output_stream, again.node_outputs, again.fifo_depth,
            again.link_instances) == (design.instances, design.widths, design.output_stream, design.node_outputs,
                                      8, design.link_instances)
    assert [(n.name, n.module, n.inp, n.out, n.cycles_per_frame) for n in again.nodes] == \
        [(n.name, n.module, n.inp, n.out, n.cycles_per_frame) for n in design.nodes]
    assert again.sources == design.sources and again.digest() == design.digest()


@pytest.fixture(scope="module")
def cnv(tmp_path_factory):
    model = randomize_batchnorm(BinaryCNV(channels=(8, 8, 16, 16), fc=(32,)), seed=7)
    return model, compiled(model, (1, 28, 28), tmp_path_factory.mktemp("cnv"), target_cycles_per_frame=3000)


def test_cnv_rtl_equals_pytorch_and_meets_the_estimate(cnv, tmp_path):
    model, hw = cnv
    images = mnist_images(100)
    result = rtl_sim.simulate(hw, images, tmp_path)
    assert np.array_equal(result.outputs, predict(model, images))
    assert_outputs_vary(result.outputs)
    assert_cycles_match_estimate(result.run, hw)
    assert {"sliding_window", "pool_max", "mvau"} <= {inst.module for inst in result.design.instances}


def test_cnv_under_backpressure_is_exact(cnv, tmp_path):
    model, hw = cnv
    images = mnist_images(100)
    result = rtl_sim.simulate(hw, images, tmp_path, backpressure=STALLS)
    assert np.array_equal(result.outputs, predict(model, images))
    assert len(result.run.frame_cycles) == len(images)


def test_rare_beats_do_not_trip_the_stall_watchdog(mlp, tmp_path):
    """An input beat offered in one cycle of 100 and the output ready in one of 3000: quiet stretches longer
    than any at full rate that are no stall. The watchdog's limit grows with the longest stretch of stalls
    the seeded pattern can draw (without that it trips here)."""
    model, hw = mlp
    images = mnist_images(2)
    result = rtl_sim.simulate(hw, images, tmp_path, backpressure=rtl_sim.Backpressure(0.01, 1 / 3000, 3))
    assert np.array_equal(result.outputs, predict(model, images))


def test_an_extra_output_frame_is_named_under_backpressure(mlp, tmp_path, monkeypatch):
    _, hw = mlp
    design = generate_design(hw, tmp_path / "rtl")
    real_encode = rtl_sim.encode_words
    # one frame more goes in than run_design counts, so one frame of output beats too many comes out
    monkeypatch.setattr(rtl_sim, "encode_words",
                        lambda tensors, stream: real_encode(np.concatenate([tensors, tensors[:1]]), stream))
    images = mnist_images(3).reshape(3, -1).astype(np.float32)
    beats = design.nodes[-1].out.beats
    with pytest.raises(HwBnnError, match=rf"under back-pressure .*: the output stream of design hw_bnn_top in "
                                         rf".* carried more than the {3 * beats} beats of 3 frames \({beats} a "
                                         rf"frame\): harness: \d+ unexpected extra output beats"):
        rtl_sim.run_design(design, images, backpressure=STALLS)


def test_input_beats_left_over_are_named_under_backpressure(mlp, tmp_path, monkeypatch):
    """A design that emits every output beat without taking its last input beat is an error (a streaming
    design takes in any part of a frame, so extra input cannot provoke it: the harness's record of the
    taken beats loses its last one instead)."""
    _, hw = mlp
    design = generate_design(hw, tmp_path / "rtl")
    real_simulator = rtl_sim._simulator

    def simulator_missing_the_last_input_beat(design, waveform, frames):
        sim = real_simulator(design, waveform, frames)
        real_run = sim.run

        def run(*args, **kwargs):
            result = real_run(*args, **kwargs)
            result.in_count -= 1
            return result
        sim.run = run
        return sim

    monkeypatch.setattr(rtl_sim, "_simulator", simulator_missing_the_last_input_beat)
    images = mnist_images(2).reshape(2, -1).astype(np.float32)
    n = len(rtl_sim.encode(images, design.nodes[0].inp))
    with pytest.raises(HwBnnError, match=rf"under back-pressure .*: design hw_bnn_top in .* emitted all \d+ output "
                                         rf"beats of 2 frames but took only {n - 1} of their {n} input beats"):
        rtl_sim.run_design(design, images, backpressure=STALLS)


def test_a_lost_beat_is_a_named_stall_under_backpressure(mlp, tmp_path, monkeypatch):
    _, hw = mlp
    design = generate_design(hw, tmp_path / "rtl")
    real_encode = rtl_sim.encode_words
    monkeypatch.setattr(rtl_sim, "encode_words", lambda tensors, stream: real_encode(tensors, stream)[:-1])
    images = mnist_images(3).reshape(3, -1).astype(np.float32)
    with pytest.raises(HwBnnError, match=r"stalled under back-pressure \(input valid with p=0.7, output ready with "
                                         r"p=0.6, seed 17\): stream 'input' stopped after \d+ of \d+ beats"):
        rtl_sim.run_design(design, images, backpressure=STALLS)


def test_an_image_of_the_wrong_shape_is_refused_with_the_shape_it_needs(mlp, tmp_path):
    _, hw = mlp
    name = hw.graph.input[0].name
    for images in (mnist_images(3)[:, 0], mnist_images(3).reshape(3, -1), mnist_images(1)[0], mnist_images(0)):
        shape = re.escape(str(images.shape))
        with pytest.raises(HwBnnError, match=rf"images have shape {shape}, but the graph's input '{name}' takes "
                                             rf"images of shape \(1, 28, 28\): pass a batch of shape "
                                             rf"\(n, 1, 28, 28\)"):
            rtl_sim.simulate(hw, images, tmp_path)
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("field", ["input_valid_probability", "output_ready_probability"])
@pytest.mark.parametrize("value", [0, -0.5, 1.5])
def test_a_stall_probability_outside_0_1_is_refused(field, value):
    with pytest.raises(HwBnnError, match=rf"sim\.backpressure\.{field}: .*{value:g}.* is not a probability in "
                                         rf"\(0, 1\]"):
        load_config(None, [f"sim.backpressure.{field}={value}"])
    with pytest.raises(HwBnnError, match=r"Backpressure\.p_\w+=.* is not a probability in \(0, 1\]"):
        rtl_sim.Backpressure(**{"p_valid" if field.startswith("input") else "p_ready": value})
    section = load_config(None, [f"sim.backpressure.{field}=0.25"]).sim.backpressure
    assert rtl_sim.Backpressure.from_recipe(section) == rtl_sim.Backpressure(
        **{"p_valid" if field.startswith("input") else "p_ready": 0.25})


def test_wrong_weights_are_caught_and_their_layer_named(mlp, random_images, tmp_path, monkeypatch):
    model, hw = mlp
    import hw_bnn.rtl.finn_emit as finn_emit

    real = finn_emit.write_mvau_weights

    def flip_one_weight_column_of_mvau_1(path, W, pe, simd, weight_width=1, pack=1):
        # every weight of output channel 0: its popcount becomes MW - P, so its bit flips on almost
        # every image (a single weight moves the popcount by one and may cross no threshold)
        if path.name.startswith("MVAU_1"):
            W = W.copy()
            W[:, 0] = 1 - W[:, 0] if W.min() >= 0 else -W[:, 0]
        real(path, W, pe, simd, weight_width, pack)

    monkeypatch.setattr(finn_emit, "write_mvau_weights", flip_one_weight_column_of_mvau_1)
    images = random_images(20, seed=13)
    result = rtl_sim.simulate(hw, images, tmp_path)
    differs = np.flatnonzero((result.outputs != predict(model, images)).any(axis=1))
    assert differs.size, "flipped weights must change some output"
    message = rtl_sim.locate_mismatch(hw, images[differs[0]], tmp_path / "locate")
    assert "'MVAU_1'" in message


def test_stall_watchdog_names_the_stream(mlp, random_images, tmp_path, monkeypatch):
    _, hw = mlp
    design = generate_design(hw, tmp_path / "rtl")
    real_encode = rtl_sim.encode_words
    monkeypatch.setattr(rtl_sim, "encode_words", lambda tensors, stream: real_encode(tensors, stream)[:-1])
    images = random_images(2, seed=1).reshape(2, -1).astype(np.float32)
    with pytest.raises(HwBnnError, match=r"stalled: stream 'input' stopped after \d+ of \d+ beats"):
        rtl_sim.run_design(design, images)


def test_waveform_of_the_first_image(mlp, random_images, tmp_path):
    _, hw = mlp
    rtl_sim.simulate(hw, random_images(2), tmp_path, waveform_images=1)
    fst = tmp_path / "sim" / "waveform.fst"
    assert fst.is_file() and fst.stat().st_size > 1000


def test_unsupported_node_is_named(mlp, tmp_path):
    _, hw = mlp
    from qonnx.core.modelwrapper import ModelWrapper
    broken = ModelWrapper(hw.model.__deepcopy__())
    next(n for n in broken.graph.node if n.op_type == "MVAU").op_type = "VVAU"
    with pytest.raises(HwBnnError, match="'MVAU_0' \\(VVAU\\) has no RTL module"):
        generate_design(broken, tmp_path / "rtl")


def test_sharded_simulation_equals_one_process_bit_for_bit_cycles_included(tmp_path):
    """The images split over three Verilator processes: the same outputs in the same order, the same
    steady-state cycles per frame and latency as one process simulating them all."""
    from model_helpers import tiny_hw_build

    hw = tiny_hw_build(tmp_path)
    images = np.random.default_rng(5).integers(0, 256, size=(30, 1, 28, 28)).astype(np.float32)
    whole = rtl_sim.simulate(hw, images, tmp_path / "one")
    sharded = rtl_sim.simulate(hw, images, tmp_path / "three", shards=3)
    assert len(sharded.run.shards) == 3 and [len(part.raw) for part in sharded.run.shards] == [10, 10, 10]
    assert np.array_equal(sharded.outputs, whole.outputs)
    assert sharded.run.ii_cycles == whole.run.ii_cycles and sharded.run.latency_cycles == whole.run.latency_cycles
    assert sharded.run.cycles > whole.run.cycles  # each part fills its own pipeline
    assert len(rtl_sim.simulate(hw, images[:12], tmp_path / "few", shards=3).run.shards) == 0  # < 8 frames a part


def test_a_long_run_compiles_for_speed_and_gives_the_short_builds_outputs_and_cycles(tmp_path, monkeypatch):
    """A run of OPTIMIZE_FROM_FRAMES frames gets the -O2 model (a short one, or one with a waveform, the -O1
    model); both models give the same outputs and cycle stamps on the same frames."""
    from model_helpers import tiny_hw_build

    from hw_bnn.design.stitch import generate_design

    hw = tiny_hw_build(tmp_path)
    design = generate_design(hw, tmp_path / "rtl")
    frames = rtl_sim.OPTIMIZE_FROM_FRAMES
    assert rtl_sim._simulator(design, False, frames).optimize
    assert not rtl_sim._simulator(design, False, 8).optimize
    assert not rtl_sim._simulator(design, True, frames).optimize
    images = np.random.default_rng(6).integers(0, 256, size=(frames, 1, 28, 28)).astype(np.float32)
    fast = rtl_sim.simulate(hw, images, tmp_path / "fast", design=design)
    monkeypatch.setattr(rtl_sim, "OPTIMIZE_FROM_FRAMES", frames + 1)
    monkeypatch.setattr(rtl_sim, "OPTIMIZE_FROM_CYCLES", 10 ** 12)
    assert not rtl_sim._simulator(design, False, frames).optimize
    plain = rtl_sim.simulate(hw, images, tmp_path / "plain", design=design)
    assert np.array_equal(fast.outputs, plain.outputs)
    assert np.array_equal(fast.run.frame_cycles, plain.run.frame_cycles)
