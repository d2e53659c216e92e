"""FINN's own BNN-PYNQ models, untouched, through the flow: trained by it or loaded from a checkpoint."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from hw_bnn.cli import main
from hw_bnn.data import CIFAR10_TEST_BATCH
from hw_bnn.errors import HwBnnError
from hw_bnn.flow import read_report, rounded_tail
from test_data import cifar_batch, write_cifar_folder

RECIPES = Path(__file__).resolve().parents[1] / "training" / "recipes"
RECIPE = str(RECIPES / "bnn_pynq_tfc_1w1a.yaml")
SMALL = ("--set", "train.epochs=1", "--set", "data.n_train=500", "--set", "check.n_images=30")


@pytest.fixture(scope="module")
def tfc_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("byom") / "tfc"
    assert main(["run", RECIPE, "--out", str(out), *SMALL]) == 0
    return out


def test_tfc_1w1a_is_exact_in_its_integers_and_runs_at_the_estimate(tfc_run):
    report = read_report(tfc_run)
    assert report["bit_exact"]["qonnx"] is True  # the exported graph computes PyTorch's own float ops
    # the accelerator's integers equal PyTorch's; the host's float TensorNorm differs by its rounding only
    for stage in ("finn", "rtl"):
        tail = report["host_tail"][stage]
        assert tail["integer_outputs_exact"] and tail["top1_exact"] and 0 < tail["max_abs_diff"] < 1e-5
    assert report["accuracy"]["rtl"] == report["accuracy"]["pytorch"]
    assert 0.95 <= report["rtl_sim"]["ii_over_estimate"] <= 1.05
    outputs = np.load(tfc_run / "sim" / "outputs.npy")
    assert len(np.unique(outputs.argmax(1))) > 1  # not a constant network


def test_a_bnn_pynq_checkpoint_builds_without_training(tfc_run, tmp_path):
    """A state dict in BNN-PYNQ's layout ({"state_dict": ...}, DataParallel prefixes) is the model."""
    trained = torch.load(tfc_run / "model.pt", weights_only=False)["model"]
    inner = {f"module.{k.removeprefix('model.')}": v for k, v in trained.items()}  # inside ScaledInput
    torch.save({"state_dict": inner, "epoch": 1}, tmp_path / "tfc.tar")
    out = tmp_path / "loaded"
    assert main(["run", RECIPE, "--out", str(out), *SMALL, "--set", f"model.checkpoint={tmp_path / 'tfc.tar'}",
                 "--set", "stages=[export,build,sim]"]) == 0
    assert not (out / "model.pt").exists()
    assert np.array_equal(np.load(out / "sim" / "outputs.npy"), np.load(tfc_run / "sim" / "outputs.npy"))


def test_a_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    torch.save({"state_dict": {"features.0.weight": torch.zeros(3)}}, tmp_path / "other.tar")
    assert main(["export", RECIPE, "--out", str(tmp_path / "run"), *SMALL,
                 "--set", f"model.checkpoint={tmp_path / 'other.tar'}"]) == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_a_rounded_tail_is_told_from_a_wrong_integer():
    reference = np.array([[0.5, -1.25, 3.0]], dtype=np.float32)
    slopes = np.array([0.75, 0.75, 0.75])
    rounded = reference + np.float32(2e-7)
    assert rounded_tail(rounded, reference, slopes)["max_abs_diff"] < 1e-6
    one_integer_off = reference.copy()
    one_integer_off[0, 0] += 0.75  # the accelerator's integer one higher: a whole step of the tail
    assert rounded_tail(one_integer_off, reference, slopes) is None
    assert rounded_tail(rounded, reference, None) is None  # no affine tail: only exact equality counts


def test_an_input_range_must_increase():
    from hw_bnn.config import load_config

    with pytest.raises(HwBnnError, match="black < white"):
        load_config(RECIPE, ["model.input_range=[1, 0]"])


def _check_integers_exact_at_the_estimate(out: Path, bound: float = 1.05) -> dict:
    report = read_report(out)
    for stage in ("qonnx", "finn", "rtl"):
        assert report["bit_exact"][stage] or report["host_tail"][stage]["integer_outputs_exact"], stage
    assert 0.95 <= report["rtl_sim"]["ii_over_estimate"] <= bound
    return report


@pytest.mark.parametrize("factory", [
    "sfc_1w1a",
    pytest.param("lfc_1w1a", marks=pytest.mark.slow),  # 1024-wide layers: a long Verilator build
])
def test_the_other_bnn_pynq_mlps_run_as_they_are(factory, tmp_path):
    out = tmp_path / factory
    assert main(["run", RECIPE, "--out", str(out), *SMALL, "--set", "check.n_images=10",
                 "--set", f"model.factory=brevitas_examples.bnn_pynq.models:{factory}"]) == 0
    _check_integers_exact_at_the_estimate(out)


@pytest.mark.parametrize("images, bound", [
    (3, 1.08),  # the generated test batch; the sliding windows fill in the first frames: within 8 %
    pytest.param(16, 1.05, marks=pytest.mark.slow),  # the steady state over more frames
])
def test_cnv_1w1a_runs_on_cifar_format_files(images, bound, tmp_path):
    """CNV-1w1a's 8-bit input quantizer becomes thresholds on the 8-bit pixels."""
    write_cifar_folder(tmp_path / "cifar")
    (tmp_path / "cifar" / CIFAR10_TEST_BATCH).write_bytes(pickle.dumps(cifar_batch(images)))
    out = tmp_path / "cnv"
    assert main(["run", str(RECIPES / "bnn_pynq_cnv_1w1a.yaml"), "--out", str(out), "--set", "train.epochs=1",
                 "--set", f"data.path={tmp_path / 'cifar'}", "--set", f"check.n_images={images}"]) == 0
    _check_integers_exact_at_the_estimate(out, bound=bound)
    assert read_report(out)["rtl_sim"]["images"] == images


def test_the_python_api_is_one_call(tmp_path):
    """A model object and a NumPy array of 8-bit images in, the report out (the BNN-PYNQ example of docs/byom.md)."""
    from brevitas_examples.bnn_pynq.models import tfc_1w1a
    from model_helpers import randomize_batchnorm
    from sim_checks import mnist_images

    from hw_bnn.flow import run_model

    model = randomize_batchnorm(tfc_1w1a(pretrained=False), seed=3)
    images = mnist_images(12).astype(np.uint8)
    report = run_model(model, images, tmp_path / "tfc", input_range=(0, 1),
                       overrides=["build.target_cycles_per_frame=2000"])
    assert report["dataset"] == "images" and report["n_test"] == 12
    assert report["accuracy"]["pytorch"] == 1.0  # without labels: agreement with PyTorch's own top-1
    for stage in ("finn", "rtl"):
        assert report["bit_exact"][stage] or report["host_tail"][stage]["integer_outputs_exact"]
    assert report["rtl_sim"]["images"] == 12 and report["estimate"]["cycles_per_frame"] <= 2000
    with pytest.raises(HwBnnError, match="8-bit images of shape"):
        run_model(model, images.astype(np.float32), tmp_path / "bad")


def test_a_stage_that_becomes_exact_drops_its_stale_host_tail(tmp_path):
    """Rebuilt after a change, a stage that is now bit-exact must not keep the rounded-tail note of the
    run before it."""
    from hw_bnn.config import load_config
    from hw_bnn.flow import update_report

    config = load_config(RECIPE)
    tail = {"integer_outputs_exact": True, "top1_exact": True, "max_abs_diff": 4e-7}
    update_report(tmp_path, config, bit_exact={"finn": False, "rtl": False}, host_tail={"finn": tail, "rtl": tail})
    update_report(tmp_path, config, bit_exact={"finn": True}, host_tail={"finn": None})
    report = read_report(tmp_path)
    assert report["host_tail"] == {"rtl": tail} and report["bit_exact"] == {"finn": True, "rtl": False}
