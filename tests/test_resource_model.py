"""hw_bnn's resource model: the committed model is the fit of the committed calibration data, its
errors on the held-out designs stay within bounds, and its memory placement and estimates behave."""

import json
from pathlib import Path

import pytest
from test_data import raises

from hw_bnn import resource_model as rm

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "resource_calibration.json"


@pytest.fixture(scope="module")
def data():
    return json.loads(DATA.read_text())


def test_the_committed_model_is_the_fit_of_the_committed_data(data):
    """Anyone can rebuild hw_bnn/resource_model.json from the data (benchmarks/estimate_calibration.py fit)."""
    refit = json.loads(json.dumps(rm.fit(data, sorted(rm.load_model()))))
    assert refit == rm.load_model()


def test_calibration_and_held_out_designs_are_apart_and_cover_the_modules(data):
    splits = {name: design["split"] for name, design in data.items()}
    assert set(splits.values()) == {"calibration", "held_out"}
    modules = {split: {row["module"] for design in data.values() if design["split"] == split
                       for row in design["families"]["xc7"]["instances"]} for split in ("calibration", "held_out")}
    assert {"mvau", "thresholding", "stream_fifo", "width_converter", "sliding_window", "adabin_threshold"} <= modules["held_out"]
    assert modules["held_out"] <= modules["calibration"] | {"label_select"}


def test_block_ram_tiling_takes_the_best_shapes():
    assert rm.block_rams(rm.Memory(512, 36, "weights"), "xc7") == 1
    assert rm.block_rams(rm.Memory(1024, 36, "weights"), "xc7") == 2
    assert rm.block_rams(rm.Memory(896, 224, "weights"), "xc7") == 13  # what Yosys used for the demo's MVAU_0
    assert rm.block_rams(rm.Memory(1536, 18, "weights"), "ecp5") == 2  # 1024 x 18 + 512 x 36: mixed shapes
    assert rm.block_rams(rm.Memory(256, 16, "ram"), "ice40") == 1
    assert rm.block_rams(rm.Memory(4096, 16, "ram"), "ice40") == 16
    # the read multiplexer: none when every bit fits one block's depth, one word per further slice
    assert rm.block_ram_slices(rm.Memory(16384, 4, "weights"), "xc7") == 1
    assert rm.block_ram_slices(rm.Memory(3584, 56, "weights"), "xc7") == 3  # 2048 x 9, 1024 x 18, 512 x 36


def test_thresholds_shared_by_every_channel_are_a_table_of_outputs_not_of_thresholds():
    """thresholding.v's SHARED_THR with LOOKUP: a table of the 2^IN_W inputs' outputs per lane, no threshold
    table and no compares, the same whatever the channel count, and a small part of the per-channel unit's
    cost (a residual stream's 255 thresholds on 9 bits: 9 LUTs against 2,465 in Yosys on xc7)."""
    unit = dict(C=256, PE=1, IN_W=9, IN_SIGNED=1, N_THR=255, THR_W=10, ACT_BIAS=-128, OUT_W=8)
    lookup = {**unit, "SHARED_THR": 1, "LOOKUP": 1}
    assert not rm.memories("thresholding", {**unit, "SHARED_THR": 1})
    assert rm.memories("thresholding", {**lookup, "PE": 2}) == [rm.Memory(512, 8, "outputs")] * 2
    assert "compare_multi" not in rm.features("thresholding", lookup, "xc7", rm.MemoryRule())[0]
    for family in rm.load_model():
        per_channel = rm.estimate_instance("thresholding", unit, family)
        table = rm.estimate_instance("thresholding", lookup, family)
        assert table == rm.estimate_instance("thresholding", {**lookup, "C": 1024}, family), family
        assert table["LUT"] * 10 < per_channel["LUT"] and table[rm.BRAM_NAME[family]] <= 1, family


def test_ram_style_decides_before_the_size_rule():
    rule = rm.MemoryRule(weights_min_ratio=144, honours_distributed=True)
    deep = rm.Memory(1024, 64, "weights")  # 1,024 LUT6 cells against 4 block RAMs
    wide = rm.Memory(128, 512, "weights")  # 1,024 cells against 15 blocks: Yosys keeps it in LUTs
    assert rule.in_block_ram(deep, "xc7") and not rule.in_block_ram(wide, "xc7")
    assert not rule.in_block_ram(rm.Memory(1024, 64, "weights", "distributed"), "xc7")
    not_honoured = rm.MemoryRule(weights_min_ratio=144, honours_distributed=False)
    assert not_honoured.in_block_ram(rm.Memory(1024, 64, "weights", "distributed"), "ecp5")
    assert rule.in_block_ram(rm.Memory(4, 4, "weights", "block"), "xc7")


def test_estimates_grow_with_parallelism_and_unknown_modules_fall_back():
    small = dict(MW=256, MH=256, SIMD=8, PE=2, XNOR=1, IN_W=1, IN_SIGNED=0, NO_ACT=0, N_THR=1, THR_W=10, OUT_W=1)
    large = {**small, "SIMD": 64, "PE": 16}
    for family in rm.load_model():
        assert rm.estimate_instance("mvau", large, family)["LUT"] > 2 * rm.estimate_instance("mvau", small, family)["LUT"]
        assert rm.estimate_instance("some_future_module", {}, family)["LUT"] >= 0
    with raises("no resource model for family 'stratix'"):
        rm.estimate_instance("mvau", small, "stratix")


def test_a_family_without_calibration_is_refused_by_name_and_left_out_of_the_build_report():
    """A family the model holds no coefficients for is refused, naming the calibrated ones; a build report
    lists the estimate of the families it has instead of failing."""
    from types import SimpleNamespace

    model = {family: coefficients for family, coefficients in rm.load_model().items() if family != "ice40"}
    with raises(r"no resource model for family 'ice40': it is calibrated for \['ecp5', 'xc7'\]"):
        rm.estimate_instance("mvau", {}, "ice40", model)
    design = SimpleNamespace(nodes=[SimpleNamespace(name="Thresholding_0")], described_instances=[
        {"name": "u_Thresholding_0", "module": "thresholding",
         "params": dict(C=16, PE=1, IN_W=8, IN_SIGNED=0, N_THR=1, THR_W=9, ACT_BIAS=0, OUT_W=1)}])
    report = rm.estimate_built_design(design, ["xc7", "gowin"])
    assert list(report) == ["xc7"] and report["xc7"]["layers"]["Thresholding_0"]["LUT"] >= 0


def test_held_out_errors_stay_within_bounds(data):
    """The estimate on designs it was not fitted on, against Yosys. Per design within 10 % on the nine
    held-out designs (DyBNN's MLP and conv net at other foldings, the reduced ResNet-20 at another folding and a
    ResNet-20 twice as wide with 6-bit streams among them: DyBNN +6.8 / -1.0 / +5.7 % and -3.0 / -3.3 / -7.2 %,
    ResNet-20s +2.4 / +1.8 / +2.3 % and +1.6 / +4.4 / -1.5 % on xc7 / ECP5 / iCE40 today), but TFC on iCE40
    (-12.5 %), within 15 % there. Per layer (>= 100 LUT) a median within 12 % (6.1, 8.6 and 7.4 % today) and
    three quarters of the layers within 15 % (84, 76 and 80 % today); FINN's own estimate is far off on the
    same designs."""
    model = rm.load_model()
    assert sorted(model) == ["ecp5", "ice40", "xc7"]
    outliers = {"xc7": set(), "ecp5": set(), "ice40": {"tfc_512_deep_fifos"}}
    for family in ("xc7", "ecp5", "ice40"):
        result = rm.errors(data, family, model)
        designs = {row["design"]: abs(row["ours_error"]) for row in result["designs"]}
        assert len(designs) == 9 and {"resnet20_reduced_10000", "resnet20_half_r6_20000", "mlp_dybnn_4000",
                                      "cnv_dybnn_8000"} <= set(designs)
        assert {name for name, error in designs.items() if error > 0.10} == outliers[family], (family, designs)
        assert all(designs[name] <= 0.15 for name in outliers[family]), (family, designs)
        layers = sorted(abs(row["ours_error"]) for row in result["layers"])
        assert layers[len(layers) // 2] <= 0.12, family
        assert sum(error <= 0.15 for error in layers) >= 0.75 * len(layers), family
        if family == "xc7":  # FINN's estimate of the same layers, for scale
            finn = sorted(abs(row["finn_error"]) for row in result["layers"])
            assert finn[len(finn) // 2] > 2 * layers[len(layers) // 2]


@pytest.mark.slow
def test_a_held_out_design_synthesised_now_agrees_with_the_estimate(tmp_path):
    """The committed data could go stale against the RTL: build and synthesise a held-out design now (the
    small TFC, for xc7, ECP5 and iCE40, about 2 minutes) and hold the committed model to the same bounds per
    design (10 %; 15 % on iCE40, where it is at -12.5 %)."""
    from test_benchmarks import benchmark_module

    calibration = benchmark_module("estimate_calibration")
    families = ["xc7", "ecp5", "ice40"]
    row = calibration.collect_design("tfc_512_deep_fifos", tmp_path, families)
    result = {family: rm.errors({row["name"]: row}, family, rm.load_model()) for family in families}
    for family, errors in result.items():
        (design,) = errors["designs"]
        assert abs(design["ours_error"]) <= (0.15 if family == "ice40" else 0.10), (family, design)
        # block RAMs within one, or 10 % of iCE40's many small (4 Kbit) ones
        assert abs(design["bram_ours"] - design["bram_yosys"]) <= max(1, 0.1 * design["bram_yosys"]), (family, design)
