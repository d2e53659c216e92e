"""hw_bnn.sweep on a real 2-worker Dask LocalCluster: every row lands in the CSV, a worker killed
mid-job loses nothing, a rerun resumes, and the errors a user can fix name what to fix."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest

from hw_bnn.errors import HwBnnError
from hw_bnn.sweep import run_sweep

COLUMNS = ["key", "n", "square", "half", "odd", "note"]


def square(job: dict) -> dict:
    """A job's row; records that the job ran by touching ``ran/KEY`` in the job's folder."""
    folder = Path(job["folder"])
    (folder / "ran").mkdir(exist_ok=True)
    (folder / "ran" / job["key"]).touch()
    n = job["n"]
    return {"n": n, "square": n * n, "half": n / 2, "odd": n % 2 == 1, "note": None}


def square_or_die(job: dict) -> dict:
    """Like ``square``, but the worker running job ``kill`` the first time dies (SIGKILL) mid-job."""
    marker = Path(job["folder"]) / "killed"
    if job["key"] == job["kill"] and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return square(job)


def square_or_fail(job: dict) -> dict:
    if job["key"] == job["fail"]:
        raise ValueError(f"no design fits for {job['key']}")
    return square(job)


def make_jobs(folder: Path, count: int, **extra) -> list[dict]:
    return [{"key": f"p{n}", "n": n, "folder": str(folder), **extra} for n in range(count)]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def expected(n: int) -> dict:
    return {"key": f"p{n}", "n": n, "square": n * n, "half": n / 2, "odd": n % 2 == 1, "note": None}


def test_every_row_is_returned_and_written(tmp_path):
    rows = run_sweep(make_jobs(tmp_path, 6), square, tmp_path / "points.csv", COLUMNS, workers=2)
    assert rows == [expected(n) for n in range(6)]
    written = read_csv(tmp_path / "points.csv")
    assert sorted(row["key"] for row in written) == [f"p{n}" for n in range(6)]
    assert {row["key"]: row["square"] for row in written} == {f"p{n}": str(n * n) for n in range(6)}
    assert all(row["note"] == "" for row in written)  # None is written empty


def test_a_worker_killed_mid_job_loses_nothing(tmp_path):
    jobs = make_jobs(tmp_path, 6, kill="p2")
    rows = run_sweep(jobs, square_or_die, tmp_path / "points.csv", COLUMNS, workers=2, desc="kill")
    assert (tmp_path / "killed").exists()  # the worker did die
    assert rows == [expected(n) for n in range(6)]
    assert len(read_csv(tmp_path / "points.csv")) == 6


def test_a_rerun_runs_only_the_new_jobs(tmp_path, capsys):
    path = tmp_path / "points.csv"
    first = tmp_path / "first"
    first.mkdir()
    run_sweep(make_jobs(first, 4), square, path, COLUMNS, workers=2)
    second = tmp_path / "second"
    second.mkdir()
    rows = run_sweep(make_jobs(second, 6), square, path, COLUMNS, workers=2)
    assert sorted(p.name for p in (second / "ran").iterdir()) == ["p4", "p5"]
    assert rows == [expected(n) for n in range(6)]  # the resumed ones read back as int, float, bool, None
    assert len(read_csv(path)) == 6
    assert "6 jobs, 4 already in points.csv, 2 to run on 2 local workers" in capsys.readouterr().out
    # all done: nothing runs and no cluster starts
    assert run_sweep(make_jobs(second, 6), square, path, COLUMNS) == rows
    assert capsys.readouterr().out == "sweep: 6 jobs, all already in points.csv\n"


def test_a_csv_of_another_sweep_is_refused(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("key,lut\np0,12\n")
    with pytest.raises(HwBnnError, match="points.csv.*delete it"):
        run_sweep(make_jobs(tmp_path, 2), square, path, COLUMNS)
    assert not (tmp_path / "ran").exists()


def test_a_failing_job_is_named_after_the_others_are_written(tmp_path):
    path = tmp_path / "points.csv"
    jobs = make_jobs(tmp_path, 5, fail="p3")
    with pytest.raises(HwBnnError, match=r"1 of 5 jobs failed: \['p3'\].*no design fits for p3"):
        run_sweep(jobs, square_or_fail, path, COLUMNS, workers=2, retries=1)
    assert sorted(row["key"] for row in read_csv(path)) == ["p0", "p1", "p2", "p4"]


@pytest.mark.parametrize("cluster", ["local", "node01:8786", "tcp://node01", "slurm"])
def test_a_bad_cluster_is_refused(tmp_path, cluster):
    with pytest.raises(HwBnnError, match="tcp://HOST:PORT"):
        run_sweep(make_jobs(tmp_path, 2), square, tmp_path / "points.csv", COLUMNS, cluster=cluster)
    assert not (tmp_path / "ran").exists()


def always_die(job: dict) -> dict:
    if job["key"] == job["kill"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return square(job)


def test_a_job_that_keeps_killing_its_worker_fails_alone(tmp_path):
    path = tmp_path / "points.csv"
    with pytest.raises(HwBnnError, match=r"1 of 4 jobs failed: \['p1'\].*KilledWorker"):
        run_sweep(make_jobs(tmp_path, 4, kill="p1"), always_die, path, COLUMNS, workers=2)
    assert sorted(row["key"] for row in read_csv(path)) == ["p0", "p2", "p3"]
