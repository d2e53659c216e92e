"""A damaged output folder stops the stage that reads it with HwBnnError naming the file and the fix.

One tiny run folder (train, export, build, sim) is made per module; each case copies it, damages
one file (truncated to half, overwritten with bytes of no format, or a readable file of the wrong
kind) and runs the stage that reads the file through the CLI: exit code 2 and the message, never a
traceback.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hw_bnn import flow
from hw_bnn.cli import main
from hw_bnn.errors import HwBnnError

RECIPE = str(Path(__file__).resolve().parents[1] / "training" / "recipes" / "demo.yaml")
TINY = ("--set", "data.name=digits", "--set", "train.epochs=1", "--set", "data.n_train=300", "--set", "check.n_images=20",
        "--set", "model.options.hidden=[16,16]")
GARBAGE = bytes(range(256)) * 4  # no file format's header, not UTF-8


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("broken_runs") / "run"
    assert main(["run", RECIPE, "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture
def copy_run(run_folder, tmp_path):
    def copy():
        out = tmp_path / "run"
        shutil.copytree(run_folder, out)
        return out
    return copy


def _foreign(path: Path) -> None:
    """Replace ``path`` by a well-formed file of its format that is not what hw_bnn wrote there."""
    if path.suffix == ".pt":
        torch.save({"weights": torch.zeros(3)}, path)
    elif path.suffix == ".json":
        path.write_text("[1, 2, 3]\n")
    elif path.suffix == ".npy":
        np.save(path, np.zeros(7, dtype=np.int64))  # another number of images than its siblings


DAMAGE = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:path.stat().st_size // 2]),
    "garbage": lambda path: path.write_bytes(GARBAGE),
    "foreign": _foreign,
}

# file -> (the command that reads it, the fix its message must name)
READERS = {
    "model.pt": (["export"], "delete it and run 'hw-bnn train' with the same --out again"),
    "checkpoint.pt": (["train", "--resume"], "delete it and train again without --resume"),
    "report.json": (["build"], "delete it and re-run the stages"),
    "test_inputs.npy": (["build"], "re-run 'hw-bnn export' with the same --out"),
    "test_labels.npy": (["sim"], "re-run 'hw-bnn export' with the same --out"),
    "pytorch_outputs.npy": (["build"], "re-run 'hw-bnn export' with the same --out"),
    "export.onnx": (["build"], "re-run 'hw-bnn export' with the same --out"),
    "hw_graph.onnx": (["sim"], "re-run 'hw-bnn build' with the same --out"),
    "rtl/design.json": (["sim"], "run 'hw-bnn build' again"),
}
CASES = [(name, how) for name in READERS for how in DAMAGE if how != "foreign" or name[-4:] != "onnx"]


@pytest.mark.parametrize("name,how", CASES)
def test_damaged_file_stops_the_stage_that_reads_it(copy_run, capsys, name, how):
    out = copy_run()
    DAMAGE[how](out / name)
    command, fix = READERS[name]
    capsys.readouterr()
    assert main([command[0], RECIPE, "--out", str(out), *TINY, *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hw-bnn: error: ") and "Traceback" not in err
    if how == "foreign" and name.endswith(".npy"):  # readable, but disagrees with its siblings
        assert f"the test data in {out} disagree on the number of images" in err and f"{name}: 7" in err, err
    else:
        assert str(out / name) in err, err
    assert fix in err, err


@pytest.mark.parametrize("name", ["finn_outputs.npy", "sim/outputs.npy", "sim/cycles.npy"])
@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_damaged_saved_outputs_name_the_stage_that_remakes_them(copy_run, name, how):
    """No stage reads these back; flow.read_output is the reader for users and notebooks."""
    out = copy_run()
    stage = {"finn_outputs.npy": "build"}.get(name, "sim")
    assert len(flow.read_output(out, name)) == 20  # intact: the 20 test images' outputs
    DAMAGE[how](out / name)
    with pytest.raises(HwBnnError) as error:
        flow.read_output(out, name)
    assert str(out / name) in str(error.value)
    assert "truncated or corrupt" in str(error.value)
    assert f"re-run 'hw-bnn {stage}' with the same --out" in str(error.value)


def test_resume_from_a_checkpoint_of_another_architecture(copy_run, capsys):
    out = copy_run()
    capsys.readouterr()
    assert main(["train", RECIPE, "--out", str(out), *TINY, "--set", "model.options.hidden=[32,16]", "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"--resume: {out / 'checkpoint.pt'} was saved for a different architecture or config" in err, err
    assert "size mismatch" in err  # torch's own words on what differs
    assert "resume with the recipe and --set options it was trained with, or start anew without --resume" in err


def test_resume_with_another_optimizer(copy_run, capsys):
    out = copy_run()
    capsys.readouterr()
    assert main(["train", RECIPE, "--out", str(out), *TINY, "--set", "train.optimizer=sgd", "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"--resume: the optimizer state in {out / 'checkpoint.pt'} was saved for another optimizer" in err, err
    assert "'momentum'" in err and "'betas'" in err  # the settings only SGD / only Adam have
    assert "resume with the recipe and --set options it was trained with" in err
    # the same model and optimizer resume (a run's last epoch done: nothing left to train)
    assert main(["train", RECIPE, "--out", str(out), *TINY, "--resume"]) == 0
    assert json.loads((out / "report.json").read_text())["train"]["epochs"][0]["epoch"] == 1


def test_sim_and_synth_use_the_rtl_build_wrote(copy_run, capsys):
    """The RTL is generated once, by build: sim leaves it as it is, and a recipe whose FIFO depth differs
    from the built one is told to build again instead of simulating other RTL than it reports."""
    out = copy_run()
    top = out / "rtl" / "hw_bnn_top.v"
    top.write_text(top.read_text() + "// the design build wrote\n")
    assert main(["sim", RECIPE, "--out", str(out), *TINY]) == 0
    assert top.read_text().endswith("// the design build wrote\n")
    capsys.readouterr()
    assert main(["sim", RECIPE, "--out", str(out), *TINY, "--set", "sim.fifo_depth=4"]) == 2
    err = capsys.readouterr().err
    assert "built with sim.fifo_depth=32, the recipe now says 4; run 'hw-bnn build' again" in err, err
    (out / "rtl" / "design.json").unlink()
    assert main(["synth", RECIPE, "--out", str(out), *TINY]) == 2
    assert f"{out / 'rtl' / 'design.json'} is missing; run 'hw-bnn build'" in capsys.readouterr().err
