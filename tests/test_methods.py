"""The methods in the flow: chosen by name, trained, exported, and bit-exact in RTL where they fold."""

import shutil

import numpy as np
import pytest
import torch
from sim_checks import ESTIMATE_BOUNDS, STALLS, assert_outputs_vary

from hw_bnn import flow
from hw_bnn.cli import main
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.methods import METHODS, get_method
from hw_bnn.methods.estimators import EDE
from hw_bnn.models.mlp import BinaryMLP
from hw_bnn.report import summary_lines

RECIPE_METHODS = ["baseline", "irnet", "sdbnn_static", "sdbnn_se", "bdbnn", "adabin", "dybnn"]
#: Methods whose recipes run the hardware stages (all of them; sdbnn_se and dybnn with per-frame thresholds).
MAPPED = RECIPE_METHODS
TINY = ["data.n_train=600", "data.n_test=200", "check.n_images=50", "train.batch_size=50",
        "model.options.hidden=[32,32]", "model.options.dropout=0.0", "build.target_fps=null",
        "build.target_cycles_per_frame=400"]


def _tiny(method: str, *extra: str):
    return load_config("training/recipes/demo.yaml", [f"method={method}", *TINY, *extra])


def test_every_recipe_method_is_registered_with_recipes():
    from pathlib import Path

    for name in RECIPE_METHODS:
        assert name in METHODS
        for stem in (f"fmnist_{name}", f"fmnist_cnv_{name}"):
            config = load_config(Path("training/recipes") / f"{stem}.yaml")
            assert config.method == name and config.data.name == "fashion_mnist"
            hardware = {"export", "build", "sim"} & set(config.stages)
            assert bool(hardware) == (name in MAPPED), stem


def test_method_options_are_checked():
    with pytest.raises(HwBnnError, match=r"method 'sdbnn_static' has no option\(s\) \['reduction'\].*t_max"):
        load_config(None, ["method=sdbnn_static", "method_options={reduction: 4}"])
    with pytest.raises(HwBnnError, match="activation_form must be 'paper' or 'code'"):
        load_config(None, ["method=adabin", "method_options={activation_form: released}"])
    assert get_method("adabin", {"activation_form": "code"}).options["activation_form"] == "code"
    with pytest.raises(HwBnnError, match="dybnn: residual_shifts must be 'dynamic' or 'static', not 'both'"):
        load_config(None, ["method=dybnn", "method_options={residual_shifts: both}"])
    for option in ("estimator", "weight_estimator"):
        with pytest.raises(HwBnnError, match=r"unknown estimator 'ste': choose one of \['approx_sign'"):
            load_config(None, ["method=sdbnn_static", f"method_options={{{option}: ste}}"])


@pytest.mark.parametrize("method", RECIPE_METHODS)
def test_short_training_lowers_the_loss(method, tmp_path):
    teacher = ["method_options={teacher_epochs: 2}"] if method == "bdbnn" else []
    config = _tiny(method, "train.epochs=3", *teacher)
    flow.train_stage(config, tmp_path, progress=lambda _: None)
    losses = [epoch["loss"] for epoch in flow.read_report(tmp_path)["train"]["epochs"]]
    assert losses[-1] < losses[0]
    if method == "bdbnn":
        assert (tmp_path / "teacher" / "model.pt").is_file()
        assert flow.read_report(tmp_path)["teacher"]["test_acc"] > 0.3


def test_training_drives_the_ede_schedule(tmp_path):
    config = _tiny("sdbnn_static", "train.epochs=2")
    model = flow.train_stage(config, tmp_path, progress=lambda _: None)
    schedules = [m for m in model.modules() if isinstance(m, EDE)]
    assert schedules
    reference = EDE(t_min=1e-3, t_max=10.0)
    reference.set_epoch(1, 2)  # the last epoch trained
    assert all(m.t == pytest.approx(reference.t) and m.k == pytest.approx(reference.k) for m in schedules)


def test_bdbnn_teacher_path_must_exist(tmp_path):
    config = _tiny("bdbnn", f"method_options={{teacher: {tmp_path / 'nowhere.pt'}}}")
    with pytest.raises(HwBnnError, match="no trained teacher at .*nowhere.pt; train one with 'hw-bnn teacher"):
        flow.train_stage(config, tmp_path, progress=lambda _: None)


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_build_names_what_is_not_mappable(method, tmp_path, capsys):
    """The float hyper-function (hyper_bits: null) trains, but has no exact hardware form."""
    code = main(["build", "training/recipes/demo.yaml", "--out", str(tmp_path), "--set", f"method={method}",
                 "--set", "method_options={hyper_bits: null}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"method {method} cannot be mapped to hardware yet" in err and "set method_options.hyper_bits" in err


@pytest.mark.parametrize("method", ["sdbnn_se", "dybnn"])
def test_export_names_the_unmappable_layer(method):
    from hw_bnn.export import check_supported

    with pytest.raises(HwBnnError, match=r"layer 'features\.[\d.]+' \(\w+\) is not mappable to hardware yet: float"):
        check_supported(BinaryMLP(hidden=(8,), method=get_method(method, {"hyper_bits": None})))


def test_export_does_not_touch_the_trained_model():
    from hw_bnn.export import deployable

    model = BinaryMLP(hidden=(8,), method="sdbnn_static")
    copy = deployable(model)
    assert torch.nn.utils.parametrize.is_parametrized(model.features[0])
    assert not torch.nn.utils.parametrize.is_parametrized(copy.features[0])
    assert set(copy.features[0].weight.detach().unique().tolist()) <= {-1.0, 1.0}


def assert_rtl_report_meets_the_estimate(report: dict, out_dir) -> None:
    """The sim stage's cycles per image within ESTIMATE_BOUNDS of FINN's estimate (both ways), a latency of
    at least one initiation interval, and RTL outputs that vary across the test images."""
    sim = report["rtl_sim"]
    low, high = ESTIMATE_BOUNDS
    assert low <= sim["ii_over_estimate"] <= high, sim
    assert 0 < sim["ii_cycles"] <= sim["latency_cycles"]
    assert_outputs_vary(np.load(out_dir / "sim" / "outputs.npy"))


@pytest.fixture(scope="module", params=MAPPED)
def mapped_run(request, tmp_path_factory):
    """(method, run folder, report) of a tiny MLP of each mapped method trained, built and simulated."""
    method = request.param
    extra = ["train.epochs=2", "stages=[train,export,build,sim]"]
    if method == "bdbnn":
        extra.append("method_options={teacher_epochs: 1}")
    folder = tmp_path_factory.mktemp(method)
    return method, folder, flow.run(_tiny(method, *extra), folder, progress=lambda _: None)


def test_mapped_methods_are_bit_exact_in_rtl(mapped_run):
    _, folder, report = mapped_run
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["accuracy"]["rtl"] == report["accuracy"]["pytorch"] > 0.3
    assert_rtl_report_meets_the_estimate(report, folder)


def test_mapped_methods_stay_exact_under_backpressure_set_in_the_recipe(mapped_run, tmp_path):
    """The recipe's sim.backpressure stalls the design's stream ends (per-sample threshold designs, with
    their frame buffers, included); report.json records the pattern and does not compare the stalled
    cycle count with the estimate."""
    method, folder, _ = mapped_run
    shutil.copytree(folder, tmp_path / "run")
    stalls = [f"sim.backpressure.input_valid_probability={STALLS.p_valid}",
              f"sim.backpressure.output_ready_probability={STALLS.p_ready}",
              f"sim.backpressure.stall_seed={STALLS.seed}"]
    sim = flow.sim_stage(_tiny(method, *stalls), tmp_path / "run", progress=lambda _: None)
    report = flow.read_report(tmp_path / "run")
    assert report["bit_exact"]["rtl"] is True and report["rtl_sim"] == sim
    assert {k: sim["backpressure"][k] for k in ("input_valid_probability", "output_ready_probability", "stall_seed")} \
        == {"input_valid_probability": 0.7, "output_ready_probability": 0.6, "stall_seed": 17}
    assert sim["ii_over_estimate"] is None and "not the design's" in sim["backpressure"]["note"]
    assert sim["images"] == 50 and sim["ii_cycles"] > 0
    # the stalls did hold the stream up: the last image came out later than at full rate
    assert np.load(tmp_path / "run" / "sim" / "cycles.npy")[-1] > np.load(folder / "sim" / "cycles.npy")[-1]
    # the summary says whose rate it is, and synthesis and the board take the estimate's cycles instead
    assert "cycles/image under back-pressure (input valid 0.7, output ready 0.6, seed 17: the stalls' rate)" \
        in "\n".join(summary_lines(report))
    assert flow.design_rate_sim(report) == {} and flow.design_rate_sim(flow.read_report(folder))["ii_cycles"] > 0


@pytest.mark.parametrize("method", ["sdbnn_static", "adabin", "sdbnn_se", "dybnn"])
def test_conv_net_is_bit_exact_in_rtl(method, tmp_path):
    config = load_config("training/recipes/cnv_demo.yaml", [
        f"method={method}", "data.n_train=300", "data.n_test=100", "check.n_images=20", "train.epochs=1",
        "model.options.channels=[8,8,16,16]", "model.options.fc=[32]"])
    report = flow.run(config, tmp_path, progress=lambda _: None)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert_rtl_report_meets_the_estimate(report, tmp_path)


def test_the_trained_model_still_runs_after_export_copies():
    from hw_bnn.export import deployable

    model = BinaryMLP(hidden=(8,), method="sdbnn_static").eval()
    x = torch.rand(3, 1, 28, 28) * 255
    before = model(x)
    deployed = deployable(model)
    assert torch.equal(model(x), before) and torch.equal(deployed(x), before)
