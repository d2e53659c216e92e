"""Data-parallel training under torchrun: two CPU processes (gloo), the same recipe as one process.

Every 2-process run below also checks, inside ``train``, that both processes end with the same
weights and buffers (it raises otherwise, and the run exits non-zero).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from torch import nn

import hw_bnn.train as training
from hw_bnn import cli, flow
from hw_bnn.config import load_config
from hw_bnn.errors import HwBnnError
from hw_bnn.train import CHECKPOINT, FINAL_MODEL, read_saved, train

TESTS = Path(__file__).resolve().parent
DEMO = TESTS.parent / "training" / "recipes" / "demo.yaml"
DIGITS = {"name": "digits", "n_train": 400, "n_test": 100}

# hw-bnn train that dies right after writing its first checkpoint, as a killed job does (no cleanup).
CRASH_AFTER_FIRST_CHECKPOINT = """
import os
import sys

import hw_bnn.train as training
from hw_bnn.cli import main

real_save = training._save


def save_then_die(path, state):
    real_save(path, state)
    os._exit(1)


training._save = save_then_die
sys.exit(main())
"""


class FloatMLP(nn.Module):
    """No BatchNorm and no dropout: one step on two half batches, gradients averaged, is one step on
    the whole batch."""

    def __init__(self, in_features: int, num_classes: int, width: int):
        super().__init__()
        self.hidden, self.out = nn.Linear(in_features, width), nn.Linear(width, num_classes)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x.flatten(1) / 255)))


def float_mlp(input_shape, num_classes, width=32):
    c, h, w = input_shape
    return FloatMLP(c * h * w, num_classes, width)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: A torchrun job still running after this long is stuck, not slow (they take 10-60 s; once, on 2 busy cores, one
#: was found with both ranks asleep 45 minutes later).
HANG_SECONDS = 300


def torchrun(tmp_path, recipe: dict, out: Path, *args, script: Path | None = None) -> subprocess.CompletedProcess:
    """``hw-bnn train`` (or ``script``) on ``recipe`` in two processes."""
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    entry = [str(script)] if script else ["-m", "hw_bnn.cli"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               *entry, "train", str(path), "--out", str(out), *args]
    # tests/ on the path: the processes import this module's model factory
    path_entries = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path_entries)}
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = job.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        # a hang is reported with every rank's stacks and leaves no rank behind (torchrun starts its
        # workers in sessions of their own, so they are found as its descendants, not by process group)
        ranks = psutil.Process(job.pid).children(recursive=True)
        _send(signal.SIGUSR1, ranks)  # hw-bnn prints where every thread is, and goes on
        time.sleep(5)
        _send(signal.SIGKILL, [*ranks, job])
        stdout, stderr = job.communicate()
        raise AssertionError(f"torchrun still running after {HANG_SECONDS} s; the ranks' stacks:\n{stderr[-6000:]}")
    return subprocess.CompletedProcess(command, job.returncode, stdout, stderr)


def _send(signal_number: int, processes) -> None:
    """``signal_number`` to each of ``processes`` (psutil or subprocess handles) still running."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            process.send_signal(signal_number)


def _ok(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_two_processes_equal_one_process_with_the_global_batch(tmp_path):
    """2 processes x batch 50 at lr 0.1 with linear scaling = 1 process x batch 100 at lr 0.2.

    SGD: Adam's update is close to the gradient's sign, so float rounding (the all-reduce sums in
    another order) of a near-zero gradient would flip it."""
    recipe = {"model": {"factory": "test_ddp:float_mlp"}, "data": DIGITS,
              "train": {"epochs": 2, "batch_size": 50, "optimizer": "sgd", "lr": 0.1, "lr_scaling": "linear"}}
    run = torchrun(tmp_path, recipe, tmp_path / "ddp")
    _ok(run)
    assert run.stdout.count("epoch 2/2:") == 1  # rank 0 alone prints
    saved = read_saved(tmp_path / "ddp" / FINAL_MODEL)
    assert not [key for key in saved["model"] if key.startswith("module.")]  # the unwrapped model's names

    assert_equals_one_process(saved, ["model.factory=test_ddp:float_mlp", "data.name=digits", "data.n_train=400",
                                      "data.n_test=100", "train.epochs=2", "train.batch_size=100",
                                      "train.optimizer=sgd", "train.lr=0.2"], tmp_path / "single")


def assert_equals_one_process(saved: dict, settings: list[str], out: Path) -> None:
    """A 2-process run's saved model and history (``saved``) equal one process trained with ``settings``:
    the weights, and each epoch's loss and accuracies over both shards."""
    model = flow.train_stage(load_config(None, settings), out, progress=lambda message: None)
    for key, value in model.state_dict().items():
        assert torch.allclose(saved["model"][key], value, atol=1e-6), key
    reference = read_saved(out / FINAL_MODEL)["history"]
    for ddp_epoch, single_epoch in zip(untimed(saved["history"]), untimed(reference), strict=True):
        assert ddp_epoch == pytest.approx(single_epoch, rel=1e-5)


def test_two_processes_on_streamed_image_folder_data_equal_one_process(tmp_path):
    """ImageFolder data streamed from disk by loader workers shards over the processes like the in-memory
    data: 2 processes x batch 6 = 1 process x batch 12, the same augmented crops in the same order (each
    drawn from seed, epoch and index only)."""
    from test_imagefolder import write_image_folder

    tree = write_image_folder(tmp_path / "tree", train_per_class=8, val_per_class=2)
    data = {"name": "imagenet", "path": str(tree), "image_size": 16, "workers": 1}
    recipe = {"model": {"factory": "test_ddp:float_mlp"}, "data": data,
              "train": {"epochs": 2, "batch_size": 6, "optimizer": "sgd", "lr": 0.05, "lr_scaling": "linear"}}
    run = torchrun(tmp_path, recipe, tmp_path / "ddp")
    _ok(run)
    assert_equals_one_process(read_saved(tmp_path / "ddp" / FINAL_MODEL),
                              ["model.factory=test_ddp:float_mlp", "data.name=imagenet", f"data.path={tree}",
                               "data.image_size=16", "data.workers=1", "train.epochs=2", "train.batch_size=12",
                               "train.optimizer=sgd", "train.lr=0.1"], tmp_path / "single")


def each_rank(tmp_path, recipe: dict, out: Path) -> list[subprocess.CompletedProcess]:
    """``hw-bnn train`` on ``recipe`` as ranks 0 and 1 of a 2-process job, started directly with the
    environment torchrun gives its workers, so that each process's own error message is there to read:
    torchrun stops the other workers as soon as one fails, maybe before they print. As torchrun does,
    a process still running 30 s after the other one failed is stopped (returncode -9)."""
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    path_entries = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    common = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path_entries),
              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2",
              "LOCAL_WORLD_SIZE": "2"}
    # output to files: a full pipe must not stall a process while the other one is read
    logs = [(tmp_path / f"{out.name}.rank{rank}.out", tmp_path / f"{out.name}.rank{rank}.err") for rank in range(2)]
    ranks = []
    try:
        for rank, (stdout, stderr) in enumerate(logs):
            with open(stdout, "w") as out_file, open(stderr, "w") as err_file:
                ranks.append(subprocess.Popen(
                    [sys.executable, "-m", "hw_bnn.cli", "train", str(path), "--out", str(out)],
                    env={**common, "RANK": str(rank), "LOCAL_RANK": str(rank)}, stdout=out_file, stderr=err_file))
        deadline = time.monotonic() + 180
        while any(process.poll() is None for process in ranks) and time.monotonic() < deadline:
            if any(process.poll() not in (None, 0) for process in ranks):
                deadline = min(deadline, time.monotonic() + 30)
            time.sleep(0.2)
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [subprocess.CompletedProcess(process.args, process.returncode, stdout.read_text(), stderr.read_text())
            for process, (stdout, stderr) in zip(ranks, logs)]


def test_processes_that_drift_apart_fail_the_run(tmp_path):
    """A model that changes a parameter and a buffer differently in each process, outside forward/backward
    (tests/ddp_models.py): the end-of-training check stops both processes with an error naming the tensors
    that differ, and no model.pt is written (rank 0's model is not the one the other process trained)."""
    recipe = {"model": {"factory": "ddp_models:drifting_mlp"}, "data": {"name": "digits", "n_train": 100, "n_test": 20},
              "train": {"epochs": 1, "batch_size": 50, "optimizer": "sgd", "lr": 0.1}}
    rank0, rank1 = each_rank(tmp_path, recipe, tmp_path / "drift")
    # rank 0's tensors are the reference; every rank's message names what differs on rank 1
    differ = ("error: the DDP processes ended with different models: 2 tensors differ from rank 0's "
              "(rank 1: ['model.eval_probe', 'model.out.bias'])")
    assert rank0.returncode == 2 and f"hw-bnn: {differ}" in rank0.stderr, rank0.stderr[-3000:]
    assert rank1.returncode == 2 and f"hw-bnn (rank 1): {differ}" in rank1.stderr, rank1.stderr[-3000:]
    assert not (tmp_path / "drift" / FINAL_MODEL).exists()


def untimed(history: list[dict]) -> list[dict]:
    """A training history without its wall-clock seconds per epoch."""
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]


def test_resume_under_torchrun_equals_an_uninterrupted_run(tmp_path):
    """The binary MLP with BatchNorm and dropout: per-process random streams, checkpointed by rank."""
    recipe = {"data": DIGITS, "model": {"options": {"hidden": [32], "dropout": 0.2}},
              "train": {"epochs": 2, "batch_size": 50, "lr": 0.02}}
    # --auto-resume starts where there is no checkpoint and resumes where there is one: the command a
    # restarting torchrun (--max-restarts) repeats
    _ok(torchrun(tmp_path, recipe, tmp_path / "straight", "--auto-resume"))
    crash = tmp_path / "crash.py"
    crash.write_text(CRASH_AFTER_FIRST_CHECKPOINT)
    killed = torchrun(tmp_path, recipe, tmp_path / "resumed", script=crash)
    assert killed.returncode != 0
    assert read_saved(tmp_path / "resumed" / CHECKPOINT)["epoch"] == 0
    assert not (tmp_path / "resumed" / FINAL_MODEL).exists()
    _ok(torchrun(tmp_path, recipe, tmp_path / "resumed", "--auto-resume"))

    straight = read_saved(tmp_path / "straight" / FINAL_MODEL)
    resumed = read_saved(tmp_path / "resumed" / FINAL_MODEL)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert untimed(resumed["history"]) == untimed(straight["history"])
    assert all(h["seconds"] > 0 for h in resumed["history"])
    for key, value in straight["model"].items():
        assert torch.equal(resumed["model"][key], value), key

    # The 2-process checkpoint resumes in one process (the model loads; training goes on).
    config = load_config(None, ["data.name=digits", "data.n_train=400", "data.n_test=100", "train.epochs=3",
                                "train.batch_size=50", "model.options.hidden=[32]", "model.options.dropout=0.2"])
    dataset = flow.load_data(config)
    history = train(flow.new_model(config, dataset), dataset, config, tmp_path / "straight", resume=True,
                    show_progress=False)
    assert [h["epoch"] for h in history["epochs"]] == [1, 2, 3]


def test_lr_scaling_must_be_known():
    with pytest.raises(HwBnnError, match=r"train.lr_scaling: .*unknown rule 'sqrt': choose none .* or linear"):
        load_config(None, ["train.lr_scaling=sqrt"])
    assert load_config(None, []).train.lr_scaling == "none"


def test_sync_batchnorm_on_cpu_processes_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "rank_and_world", lambda: (0, 2))
    config = load_config(None, ["data.name=digits", "data.n_train=100", "train.sync_batchnorm=true"])
    dataset = flow.load_data(config)
    with pytest.raises(HwBnnError, match="sync_batchnorm needs one CUDA GPU per process.*sync_batchnorm=false"):
        train(flow.new_model(config, dataset), dataset, config, tmp_path, show_progress=False)


def test_only_train_runs_under_torchrun(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli.main(["export", str(DEMO), "--out", str(tmp_path)]) == 2
    assert "start only 'hw-bnn train' with torchrun" in capsys.readouterr().err


def test_more_processes_than_gpus_names_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(HwBnnError, match=r"process 1 .* no GPU .*--nproc_per_node=1"):
        training.training_device()


def test_sigusr1_prints_where_a_running_command_is_and_it_goes_on():
    """What the hang guard above relies on, and what a user sends a stuck data-parallel rank."""
    script = ("from hw_bnn.cli import _stacks_on_sigusr1\n_stacks_on_sigusr1()\nimport time\n"
              "def waiting_for_a_peer():\n    print('ready', flush=True)\n    time.sleep(60)\nwaiting_for_a_peer()\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGUSR1)
        time.sleep(1)
        assert process.poll() is None
    finally:
        process.kill()
    _, stderr = process.communicate()
    assert "waiting_for_a_peer" in stderr, stderr
