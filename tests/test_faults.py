"""Faults: a process killed while writing a checkpoint, concurrent simulations of one Verilator
build, and a Verilator build killed midway."""

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from hw_bnn.cli import main
from hw_bnn.io import read_torch
from hw_bnn.rtl import verilator
from hw_bnn.rtl.verilator import BUILT_MARKER, Sim
from hw_bnn.train import CHECKPOINT, CHECKPOINT_KEYS, FINAL_MODEL

REPO = Path(__file__).resolve().parents[1]
RECIPE = str(REPO / "training" / "recipes" / "demo.yaml")
EPOCHS = 3
# one thread: the killed and resumed runs must compute exactly what an uninterrupted one does
TRAIN = ("--set", "data.name=digits", "--set", f"train.epochs={EPOCHS}", "--set", "data.n_train=300",
         "--set", "model.options.hidden=[16,16]", "--set", "train.threads=1")

# Dies in its seeded choice of torch.save call (a checkpoint from epoch 2 on, or the final model.pt):
# after writing part of the bytes, or all of them but before the rename.
KILLED_TRAINING = r"""
import io, os, random, signal, sys
import torch

seed, epochs = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
kill_at, mode, fraction = rng.randint(2, epochs + 1), rng.choice(["partial", "before_rename"]), rng.random()
print(kill_at, mode, flush=True)
real_save, calls = torch.save, 0

def save_then_die(obj, f, *args, **kwargs):
    global calls
    calls += 1
    if calls < kill_at:
        return real_save(obj, f, *args, **kwargs)
    if mode == "partial":
        buffer = io.BytesIO()
        real_save(obj, buffer)
        with open(f, "wb") as handle:
            handle.write(buffer.getvalue()[:int(len(buffer.getvalue()) * fraction)])
    else:
        real_save(obj, f, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

torch.save = save_then_die
from hw_bnn.cli import main
main(sys.argv[3:])
"""


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert main(["train", RECIPE, "--out", str(out), *TRAIN]) == 0
    return torch.load(out / FINAL_MODEL, weights_only=False)["model"]


# seeds whose kills cover: a checkpoint cut short (epochs 2 and 3), one whole but not renamed, model.pt not renamed
@pytest.mark.parametrize("seed", [0, 1, 5, 7])
def test_training_killed_while_saving_keeps_the_previous_checkpoint(uninterrupted, tmp_path, seed):
    out = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", KILLED_TRAINING, str(seed), str(EPOCHS),
                            "train", RECIPE, "--out", str(out), *TRAIN], capture_output=True, text=True, cwd=REPO)
    assert child.returncode == -signal.SIGKILL, child.stdout[-2000:] + child.stderr[-2000:]
    kill_at, mode = child.stdout.split()[:2]
    kill_at = int(kill_at)
    # the file under the checkpoint's name is the previous epoch's, whole
    kept = min(kill_at - 1, EPOCHS)
    state = read_torch(out / CHECKPOINT, "", keys=CHECKPOINT_KEYS)
    assert state["epoch"] == kept - 1 and [h["epoch"] for h in state["history"]] == list(range(1, kept + 1))
    assert not (out / FINAL_MODEL).exists()
    dying = CHECKPOINT if kill_at <= EPOCHS else FINAL_MODEL
    assert list(out.glob(f".{dying}.*.pt")), f"the kill ({mode}) left no temporary file"

    assert main(["train", RECIPE, "--out", str(out), *TRAIN, "--resume"]) == 0
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # the killed run's temporary file is gone
    resumed = torch.load(out / FINAL_MODEL, weights_only=False)
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, EPOCHS + 1))
    for name, tensor in uninterrupted.items():
        assert torch.equal(resumed["model"][name], tensor), name


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty Verilator build cache, but for the compiled Verilator runtime (it is the same for all builds)."""
    cache = tmp_path / "rtl_cache"
    cache.mkdir()
    for runtime in verilator.cache_root().glob("verilated_runtime_*"):
        if runtime.is_dir():
            shutil.copytree(runtime, cache / runtime.name)
    monkeypatch.setenv("HW_BNN_RTL_CACHE", str(cache))
    return cache


# Builds (or finds) one thresholding unit, then, REPEATS times: writes its own thresholds, waits until
# the other process has written its own too, simulates, checks, and waits until both have simulated.
# Memory files shared between the processes would give one of them the other's thresholds.
CONCURRENT_SIM = r"""
import sys, time
from pathlib import Path
import numpy as np
from hw_bnn.rtl.memfiles import write_thresholds
from hw_bnn.rtl.packing import pack_beats, unpack_beats
from hw_bnn.rtl.verilator import Sim

worker, n_workers, repeats, sync = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])

def barrier(phase):
    (sync / f"{phase}.{worker}").touch()
    deadline = time.time() + 300
    while len(list(sync.glob(f"{phase}.*"))) < n_workers:
        if (sync / "failed").exists():
            sys.exit("stopped: the other worker failed")
        assert time.time() < deadline, f"the other worker never reached {phase}"
        time.sleep(0.01)

def check():
    barrier("start")
    sim = Sim("thresholding", dict(C=4, PE=2, IN_W=8, IN_SIGNED=0, N_THR=1, THR_W=10, ACT_BIAS=0, OUT_W=1),
              mem_params=("THRESH_FILE",))
    x = np.random.default_rng(worker).integers(0, 256, size=(50, 4))
    for repeat in range(repeats):
        thresholds = np.full((4, 1), 64 + 128 * ((worker + repeat) % 2))  # the workers' thresholds always differ
        write_thresholds(sim.mem_path("THRESH_FILE"), thresholds, 2, 10)
        barrier(f"written{repeat}")
        out = sim.run(pack_beats(x.reshape(-1, 2), 8), n_out=100, seed=repeat, p_valid=0.8, p_ready=0.8).out
        got = np.array(unpack_beats(out, 2, 1)).reshape(50, 4)
        assert np.array_equal(got, (x >= thresholds[:, 0]).astype(int)), f"worker {worker}, repeat {repeat}: wrong outputs"
        barrier(f"ran{repeat}")
    print("ok", sim.build_dir)

try:
    check()
except BaseException:
    (sync / "failed").touch()
    raise
"""


def test_concurrent_simulations_keep_their_own_memory_files(fresh_cache, tmp_path):
    """Two processes simulate one parameterisation with other thresholds at once, from a first-time build."""
    sync = tmp_path / "sync"
    sync.mkdir()
    copied_runtimes = {p.name for p in fresh_cache.iterdir()}
    workers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_SIM, str(i), "2", "3", str(sync)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
               for i in range(2)]
    results = [worker.communicate(timeout=600) for worker in workers]
    failures = [f"worker {i}: {stderr[-2500:]}" for i, (worker, (_, stderr)) in enumerate(zip(workers, results))
                if worker.returncode]
    assert not failures, "\n".join(failures)
    # both used the one build they made between them, and no other folder is left in the cache
    builds = {stdout.split()[1] for stdout, _ in results}
    assert len(builds) == 1 and (Path(builds.pop()) / BUILT_MARKER).is_file()
    # new folders: the one build, and the Verilator runtime for its flags unless the fixture copied it
    made = sorted(p.name.split("_")[0] for p in fresh_cache.iterdir()
                  if not p.name.startswith(".") and p.name not in copied_runtimes)
    assert made in (["thresholding"], ["thresholding", "verilated"]), made
    assert not [p.name for p in fresh_cache.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


def test_killed_build_is_rebuilt_not_reused(fresh_cache):
    params = dict(WIDTH=9, DEPTH=3)
    data = list(range(0, 500, 3))
    build = subprocess.Popen([sys.executable, "-c", f"from hw_bnn.rtl.verilator import Sim; Sim('stream_fifo', {params})"],
                             cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # kill the build (Python, make and the compiler) once Verilator has made the C++ and make started on it
    deadline = time.time() + 300
    while not list(fresh_cache.glob(".stream_fifo_*.build-*/obj/Vtop.mk")):
        assert build.poll() is None, build.stdout.read()
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    assert not list(fresh_cache.glob("stream_fifo_*"))  # nothing was published
    assert list(fresh_cache.glob(".stream_fifo_*.build-*"))  # the killed build's working folder

    sim = Sim("stream_fifo", params)
    assert not list(fresh_cache.glob(".stream_fifo_*.build-*"))  # removed by the next build
    assert sim.run(data, len(data), p_valid=0.7, p_ready=0.6).out == data

    # a build folder without the marker (an older version's, or one cut short) is not a build
    (sim.build_dir / BUILT_MARKER).unlink()
    sim.binary.write_text("#!/bin/sh\nexit 1\n")
    rebuilt = Sim("stream_fifo", params)
    assert (rebuilt.build_dir / BUILT_MARKER).is_file()
    assert rebuilt.run(data, len(data), p_valid=0.7, p_ready=0.6).out == data


def test_runs_in_threads_keep_their_own_files():
    """Runs of one Sim object in parallel threads: each gets the outputs of its own inputs."""
    sim = Sim("stream_fifo", dict(WIDTH=37, DEPTH=7))  # tests/rtl/test_stream_fifo.py's build
    streams = [[(k * 1000 + i) & 0xFFFF for i in range(400)] for k in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        outs = list(pool.map(lambda k: sim.run(streams[k], len(streams[k]), seed=k, p_valid=0.5).out, range(6)))
    assert outs == streams
