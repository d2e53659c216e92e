"""PyTorch files are read weights-only: a file holding pickled Python objects is refused before any of its code
runs, and ``hw-bnn convert-checkpoint`` turns a trusted one into weights alone."""

import argparse
from pathlib import Path

import pytest
import torch

from hw_bnn.cli import main
from hw_bnn.errors import HwBnnError
from hw_bnn.io import convert_checkpoint, load_torch_weights
from hw_bnn.train import read_saved


class TouchesAFile:
    """Unpickling this runs ``Path.touch(marker)``: what a hostile checkpoint could do with any other call."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_file_with_a_pickled_call_is_refused_before_the_call_runs(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": {"w": torch.ones(2)}, "history": TouchesAFile(marker)}, tmp_path / "model.pt")
    with pytest.raises(HwBnnError, match=r"model\.pt holds a pickled Python object \([\w.]+\).*"
                                         r"hw-bnn convert-checkpoint .*model\.pt NEW_FILE\.pt"):
        read_saved(tmp_path / "model.pt")
    assert not marker.exists()
    torch.load(tmp_path / "model.pt", weights_only=False)  # what the refusal prevented
    assert marker.exists()


def test_hw_bnn_own_files_load_weights_only(tmp_path):
    state = {"model": {"w": torch.ones(2)}, "config": "name: x\n", "history": [{"loss": 0.5, "epoch": 1}],
             "optimizer": torch.optim.Adam([torch.nn.Parameter(torch.ones(1))]).state_dict(), "epoch": 3}
    torch.save(state, tmp_path / "model.pt")
    assert read_saved(tmp_path / "model.pt")["history"] == state["history"]


def test_convert_checkpoint_keeps_the_weights_and_says_what_it_left_out(tmp_path, capsys):
    weights = {"module.fc.weight": torch.randn(3, 4), "module.fc.bias": torch.randn(3), "module.note": "x"}
    torch.save({"state_dict": weights, "args": argparse.Namespace(lr=0.1), "epoch": 7}, tmp_path / "trusted.tar")
    with pytest.raises(HwBnnError, match=r"argparse\.Namespace"):
        load_torch_weights(tmp_path / "trusted.tar")
    assert main(["convert-checkpoint", str(tmp_path / "trusted.tar"), str(tmp_path / "weights.pt")]) == 0
    assert "left out: note, args, epoch" in capsys.readouterr().out
    converted = load_torch_weights(tmp_path / "weights.pt")["model"]
    assert sorted(converted) == ["fc.bias", "fc.weight"]
    assert torch.equal(converted["fc.weight"], weights["module.fc.weight"])


def test_convert_checkpoint_of_a_file_without_tensors_is_refused(tmp_path):
    torch.save({"args": argparse.Namespace(lr=0.1)}, tmp_path / "no_weights.pt")
    with pytest.raises(HwBnnError, match="holds no tensors"):
        convert_checkpoint(tmp_path / "no_weights.pt", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_output_folders_carry_the_version_and_an_old_format_is_refused(tmp_path, capsys):
    import hashlib
    import json

    from hw_bnn import __version__
    from hw_bnn.flow import OUTPUT_FORMAT

    run = tmp_path / "run"
    overrides = ["--set", "train.epochs=1", "--set", "data.n_train=200", "--set", "model.options.hidden=[16]"]
    assert main(["train", "training/recipes/demo.yaml", "--out", str(run), *overrides]) == 0
    stamp = json.loads((run / "report.json").read_text())["hw_bnn"]
    assert stamp["version"] == __version__ and stamp["output_format"] == OUTPUT_FORMAT
    assert stamp["recipe_sha256"] == hashlib.sha256((run / "config.yaml").read_bytes()).hexdigest()
    old = tmp_path / "old"
    old.mkdir()
    (old / "report.json").write_text(json.dumps({"model": "mlp", "train": {}}))  # a folder from before the stamp
    capsys.readouterr()
    assert main(["export", "training/recipes/demo.yaml", "--out", str(old)]) == 2
    err = capsys.readouterr().err
    assert f"was written by an hw_bnn from before version stamps (output format 1); this is hw_bnn {__version__} " \
           f"(output format {OUTPUT_FORMAT})" in err and "Use a new --out" in err
