"""End-to-end: recipes through train, export, build and the equality checks, via the CLI."""

import json

import numpy as np
import pytest

from hw_bnn.cli import main

REPORT_KEYS = {"model", "method", "dataset", "n_test", "accuracy", "bit_exact", "estimate", "rtl_sim"}


def run_cli(*args):
    return main([str(a) for a in args])


def load_report(out):
    return json.loads((out / "report.json").read_text())


def test_demo_mlp_end_to_end_small(tmp_path, capsys):
    out = tmp_path / "demo"
    code = run_cli("run", "training/recipes/demo.yaml", "--out", out, "--set", "train.epochs=3",
                   "--set", "data.n_train=1000", "--set", "check.n_images=100", "--set", "model.options.hidden=[64,64,64]")
    assert code == 0
    report = load_report(out)
    assert REPORT_KEYS <= set(report)
    assert report["n_test"] == 100
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    acc = report["accuracy"]
    assert acc["pytorch"] == acc["qonnx"] == acc["finn"] == acc["rtl"] > 0.5
    sim = report["rtl_sim"]
    assert sim["images"] == 100 and sim["ii_over_estimate"] <= 1.05 and sim["latency_cycles"] > 0
    est = report["estimate"]
    assert est["cycles_per_frame"] == max(layer["cycles"] for layer in est["layers"])
    assert {"name", "op", "pe", "simd", "cycles", "lut", "bram18"} <= set(est["layers"][0])
    for name in ("export.onnx", "hw_graph.onnx", "test_inputs.npy", "test_labels.npy", "model.pt",
                 "config.yaml", "report.md", "estimate.png", "folding.json", "sim/outputs.npy", "sim/cycles.npy",
                 "rtl/hw_bnn_top.v"):
        assert (out / name).is_file(), name
    # the saved FINN outputs and inputs are what a third party would check against
    assert np.load(out / "test_inputs.npy").dtype == np.uint8
    assert np.array_equal(np.load(out / "finn_outputs.npy"), np.load(out / "pytorch_outputs.npy"))
    assert np.array_equal(np.load(out / "sim" / "outputs.npy"), np.load(out / "pytorch_outputs.npy"))
    printed = capsys.readouterr().out
    assert "bit-exact" in printed and "bottleneck" in printed
    assert "train:\n  epochs: 3" in (out / "config.yaml").read_text()

    # stages re-run alone from the folder, e.g. a new folding
    assert run_cli("build", "training/recipes/demo.yaml", "--out", out, "--set", "check.n_images=100",
                   "--set", "build.target_fps=null") == 0
    assert all(layer["pe"] == 1 for layer in load_report(out)["estimate"]["layers"])


def test_cnv_end_to_end_few_images(tmp_path):
    out = tmp_path / "cnv"
    code = run_cli("run", "training/recipes/cnv_demo.yaml", "--out", out, "--set", "train.epochs=1",
                   "--set", "data.n_train=300", "--set", "check.n_images=5")
    assert code == 0
    report = load_report(out)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["rtl_sim"]["ii_over_estimate"] <= 1.05
    assert [layer["op"] for layer in report["estimate"]["layers"]].count("Pool_hls") == 2


def test_bring_your_own_model_via_factory(tmp_path):
    out = tmp_path / "byo"
    code = run_cli("run", "training/recipes/demo.yaml", "--out", out, "--set", "model.factory=byo_models:tiny_user_net",
                   "--set", "model.options={width: 16}", "--set", "train.epochs=1", "--set", "data.n_train=500",
                   "--set", "check.n_images=30")
    assert code == 0
    report = load_report(out)
    assert report["model"] == "byo_models:tiny_user_net"
    assert report["bit_exact"]["finn"] is True


def test_bring_your_own_model_via_python_api(tmp_path):
    from byo_models import tiny_user_net
    from model_helpers import randomize_batchnorm

    from hw_bnn import flow
    from hw_bnn.config import load_config

    cfg = load_config(None, ["check.n_images=20"])
    model = randomize_batchnorm(tiny_user_net((1, 28, 28), 10, width=24))
    flow.export_stage(cfg, tmp_path, model=model)
    flow.build_stage(cfg, tmp_path)
    assert flow.read_report(tmp_path)["bit_exact"]["finn"] is True


@pytest.mark.parametrize("args, fragment", [
    (["--set", "model.name=transformer"], "unknown model"),
    (["--set", "method=xnor_magic"], "unknown method"),
    (["--set", "data.name=mnist"], "set data.path to a folder"),
    (["--set", "model.factory=no_such_module:f"], "cannot import module"),
    (["--set", "model.options={depth: 3}"], "no option(s) ['depth']"),
])
def test_bad_input_gives_one_clear_error(tmp_path, capsys, args, fragment):
    assert run_cli("train", "training/recipes/demo.yaml", "--out", tmp_path, *args) == 2
    assert fragment in capsys.readouterr().err


def test_stage_out_of_order_says_what_to_run(tmp_path, capsys):
    assert run_cli("build", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn export' first" in capsys.readouterr().err
    assert run_cli("export", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn train'" in capsys.readouterr().err
    assert run_cli("sim", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn build'" in capsys.readouterr().err
    assert run_cli("synth", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn build'" in capsys.readouterr().err
    assert run_cli("explore", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn export'" in capsys.readouterr().err


@pytest.mark.slow
def test_full_demo_recipe(tmp_path):
    """The README's main job as is: 1000 test images, bit-exact at every stage."""
    out = tmp_path / "demo"
    assert run_cli("run", "training/recipes/demo.yaml", "--out", out) == 0
    report = load_report(out)
    assert report["n_test"] == 1000 and report["accuracy"]["finn"] > 0.85
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["rtl_sim"]["images"] == 1000 and report["rtl_sim"]["ii_over_estimate"] <= 1.05


def test_a_wrong_threshold_fails_the_build_and_names_the_step(tmp_path, monkeypatch):
    """Exactness is checked, not assumed: corrupt one absorbed threshold and the build must stop."""
    from byo_models import tiny_user_net
    from model_helpers import randomize_batchnorm
    from qonnx.custom_op.registry import getCustomOp

    from hw_bnn import compiler, flow
    from hw_bnn.config import load_config
    from hw_bnn.errors import HwBnnError

    def convert_then_corrupt(model, cfg):
        model = compiler.step_convert_to_hw(model, cfg)
        mvau = next(n for n in model.graph.node if n.op_type == "MVAU" and not getCustomOp(n).get_nodeattr("noActivation"))
        thresholds = model.get_initializer(mvau.input[2])
        model.set_initializer(mvau.input[2], thresholds + 3)  # every channel fires 3 popcounts later
        return model

    steps = [(name, convert_then_corrupt if step is compiler.step_convert_to_hw else step)
             for name, step in compiler.BUILD_STEPS]
    monkeypatch.setattr(compiler, "BUILD_STEPS", steps)
    cfg = load_config(None, ["check.n_images=30"])
    flow.export_stage(cfg, tmp_path, model=randomize_batchnorm(tiny_user_net((1, 28, 28), 10, width=24)))
    with pytest.raises(HwBnnError, match="FINN HW graph differs from PyTorch.*convert_then_corrupt"):
        flow.build_stage(cfg, tmp_path)
    assert flow.read_report(tmp_path)["bit_exact"]["finn"] is False


def test_argmax_output_stage_end_to_end(tmp_path):
    """build.argmax ends the accelerator in FINN's LabelSelect: it outputs PyTorch's top-1 index."""
    out = tmp_path / "argmax"
    assert run_cli("run", "training/recipes/demo.yaml", "--out", out, "--set", "train.epochs=2",
                   "--set", "data.n_train=500", "--set", "check.n_images=40", "--set", "model.options.hidden=[32,32]",
                   "--set", "build.argmax=true") == 0
    report = load_report(out)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["estimate"]["layers"][-1]["op"].startswith("LabelSelect")
    indices = np.load(out / "sim" / "outputs.npy")
    assert indices.shape == (40, 1)
    assert np.array_equal(indices[:, 0], np.load(out / "pytorch_outputs.npy").argmax(1))
    assert report["accuracy"]["rtl"] == report["accuracy"]["pytorch"]
