"""End-to-end: recipes through train, export, build and the equality checks, via the CLI."""

import json

import numpy as np
import pytest

from hw_bnn.cli import main


def run_cli(*args):
    return main([str(a) for a in args])


def load_report(out):
    return json.loads((out / "report.json").read_text())


def test_cnv_end_to_end_on_100_real_images(tmp_path):
    """The conv demo (trained briefly) through RTL on 100 MNIST test images: exact, at FINN's rate."""
    out = tmp_path / "cnv"
    code = run_cli("run", "training/recipes/cnv_demo.yaml", "--out", out, "--set", "train.epochs=1",
                   "--set", "data.n_train=300", "--set", "check.n_images=100")
    assert code == 0
    report = load_report(out)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["rtl_sim"]["images"] == 100
    # the sliding windows stream a little ahead of FINN's per-layer count (docs/rtl.md: 6084 against 6143)
    assert 0.95 <= report["rtl_sim"]["ii_over_estimate"] <= 1.05
    assert report["rtl_sim"]["latency_cycles"] > report["rtl_sim"]["ii_cycles"]
    assert [layer["op"] for layer in report["estimate"]["layers"]].count("Pool_hls") == 2
    outputs = np.load(out / "sim" / "outputs.npy")
    assert len(np.unique(outputs, axis=0)) > 50 and len(set(outputs.argmax(1))) >= 3


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
    assert "export.onnx is missing; run 'hw-bnn export' with the same --out first" in capsys.readouterr().err
    assert run_cli("export", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn train'" in capsys.readouterr().err
    assert run_cli("sim", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn build'" in capsys.readouterr().err
    assert run_cli("synth", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn build'" in capsys.readouterr().err
    assert run_cli("explore", "training/recipes/demo.yaml", "--out", tmp_path) == 2
    assert "run 'hw-bnn build'" in capsys.readouterr().err


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
    assert run_cli("run", "training/recipes/sfc.yaml", "--out", out, "--set", "train.epochs=2",
                   "--set", "data.n_train=500", "--set", "check.n_images=40", "--set", "model.options.hidden=[32,32]",
                   "--set", "build.argmax=true") == 0
    report = load_report(out)
    assert report["bit_exact"] == {"qonnx": True, "finn": True, "rtl": True}
    assert report["estimate"]["layers"][-1]["op"].startswith("LabelSelect")
    indices = np.load(out / "sim" / "outputs.npy")
    assert indices.shape == (40, 1)
    assert np.array_equal(indices[:, 0], np.load(out / "pytorch_outputs.npy").argmax(1))
    assert report["accuracy"]["rtl"] == report["accuracy"]["pytorch"]


def test_argmax_refuses_adabins_float_class_scores(tmp_path, capsys):
    """AdaBin's class scores are a float combine of two accumulators per class on the host: no integer stream
    orders the classes, so a hardware top-1 stage is refused with the node named (FINN's LabelSelect
    conversion stopped on an internal error before)."""
    assert run_cli("run", "training/recipes/demo.yaml", "--out", tmp_path / "run", "--set", "method=adabin",
                   "--set", "train.epochs=1", "--set", "data.n_train=200", "--set", "check.n_images=10",
                   "--set", "model.options.hidden=[16]", "--set", "build.argmax=true") == 2
    err = capsys.readouterr().err
    assert "build.argmax: the class scores come from AdaBinOutput_0 (AdaBinOutput)" in err
    assert "leave build.argmax off" in err
