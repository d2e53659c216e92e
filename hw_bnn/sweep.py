"""Run a long sweep of independent jobs (synthesis, place-and-route of many designs) on Dask.

Each job is a picklable dict with a unique string ``"key"``; a module-level function
``work(job) -> dict`` turns it into one row of results. :func:`run_sweep` runs the jobs on Dask
workers and rewrites the CSV file after every finished job, so a sweep that is interrupted
(Ctrl-C, a lost machine, the end of a batch allocation) keeps its finished rows, and running the
same sweep again runs only the jobs whose keys are not in the CSV yet::

    rows = run_sweep(jobs, synth_point, out / "points.csv", ["key", "lut", "ff", "fmax"])

Where the jobs run:

* by default, on a ``distributed.LocalCluster`` of worker processes on this machine, one per core
  (or ``workers``), started and closed by :func:`run_sweep`;
* on an existing Dask scheduler, given as ``cluster="tcp://HOST:8786"`` (``explore.cluster`` in
  the config file). Start one by hand with ``dask scheduler`` on one machine and
  ``dask worker tcp://HOST:8786 --nthreads 1`` on the others, or on a Slurm or PBS batch system
  with dask-jobqueue::

      from dask_jobqueue import SLURMCluster   # or PBSCluster
      cluster = SLURMCluster(cores=1, memory="4GB")
      cluster.scale(jobs=8)
      print(cluster.scheduler_address)         # pass this address as explore.cluster

  Keep that Python session open while the sweep runs: the cluster lives as long as it does.
  The scheduler and the workers must run the same Python environment, with hw_bnn installed:
  both unpickle the jobs, which name ``work`` by its module and name. ``workers`` does not
  apply there; the cluster has the workers it has.

The local cluster's workers are new Python processes (spawned), so a script that calls
:func:`run_sweep` must do so under ``if __name__ == "__main__":``.

A worker process that dies mid-job (killed for memory, a crashed tool) does not lose the job: its
nanny restarts it and the scheduler runs the job again elsewhere, up to
``distributed.scheduler.allowed-failures`` times (3 here; set it on a scheduler of your own).
No more jobs are handed to the cluster than it has threads, so a job that keeps killing its
workers fails alone, not with the jobs that would have waited behind it on the same worker. A job whose ``work`` raises is retried
``retries`` times; a job that still fails is reported, by key, after all other jobs have finished
and been written, so a rerun retries only the failed ones.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tarfile
import uuid
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from hw_bnn.errors import HwBnnError
from hw_bnn.io import remove_stale_temps, write_csv

#: Times a job may be running on a worker that dies before the local scheduler gives up on it.
ALLOWED_FAILURES = 3
#: Seconds between checks for workers that joined the cluster (a batch system starts them late).
POLL_S = 2

_ADDRESS = re.compile(r"tcp://(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d+")


def run_sweep(jobs: list[dict], work: Callable[[dict], dict], csv_path: Path, columns: list[str], *,
              cluster: str | None = None, workers: int | None = None, retries: int = 2,
              desc: str = "sweep", keep: Callable[[dict], dict] | None = None,
              setting: str = "explore.cluster") -> list[dict]:
    """Run ``work(job)`` for each job not already in ``csv_path``; return the rows of all ``jobs``, in their order.

    ``columns`` are the CSV's columns ("key" is put first if missing); values a row lacks are left
    empty and keys it has beyond ``columns`` are returned but not written. Rows read back from the
    CSV hold ints, floats, bools and None where the text looks like one. Rows in the CSV whose keys
    are not in ``jobs`` are kept in it, but not returned. ``keep(row)``, when given, runs here (not on
    the worker) on each finished row before it is written, and returns the row to write: it stores what
    a job sent back beyond numbers (files as bytes) and puts their paths in the row, so that what a row
    in the CSV names is on disk. ``setting`` names the cluster's config field in error messages.
    """
    csv_path = Path(csv_path)
    columns = columns if "key" in columns else ["key", *columns]
    keys = [_key_of(job) for job in jobs]
    if len(set(keys)) != len(keys):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise HwBnnError(f"sweep jobs must have unique keys; repeated: {repeated}")
    address = _check_cluster(cluster, setting)
    done = _read_rows(csv_path, columns)
    remove_stale_temps(csv_path)  # left by a sweep killed while it wrote
    pending = [job for job in jobs if job["key"] not in done]
    resumed = len(jobs) - len(pending)
    if not pending:
        print(f"{desc}: {len(jobs)} jobs, all already in {csv_path.name}", flush=True)
        return [done[key] for key in keys]
    failures = _run(pending, work, csv_path, columns, done, address, workers, retries, desc, resumed, len(jobs),
                    keep, setting)
    if failures:
        first_key, first_error = failures[0]
        raise HwBnnError(
            f"{desc}: {len(failures)} of {len(pending)} jobs failed: {[key for key, _ in failures]}; the first "
            f"({first_key}) with {first_error}. The {len(done)} finished rows are in {csv_path}: run the sweep "
            f"again to retry only the failed jobs")
    return [done[key] for key in keys]


def pack_files(entries: dict[str, Path]) -> bytes:
    """Files and folders (name in the archive -> path) as a gzipped tar: what a job ships to its worker, or
    sends back, when the worker shares no file system with this machine."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, path in entries.items():
            archive.add(path, arcname=name)
    return buffer.getvalue()


def unpack_files(data: bytes, folder: Path) -> None:
    """The files of a :func:`pack_files` archive, into ``folder`` (nothing outside it: tarfile's data filter)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        archive.extractall(folder, filter="data")


def _key_of(job: dict) -> str:
    key = job.get("key") if isinstance(job, dict) else None
    if not isinstance(key, str) or not key:
        raise HwBnnError(f"a sweep job must be a dict with a non-empty string 'key', got {job!r:.200}")
    return key


def _check_cluster(cluster: str | None, setting: str) -> str | None:
    if cluster is None or _ADDRESS.fullmatch(cluster):
        return cluster
    raise HwBnnError(f"{setting} is {cluster!r}; it must be empty (null) to run on this machine's cores, "
                     f"or the address of a running Dask scheduler, tcp://HOST:PORT (e.g. tcp://node01:8786)")


def _run(pending: list[dict], work: Callable[[dict], dict], csv_path: Path, columns: list[str],
         done: dict[str, dict], address: str | None, workers: int | None, retries: int, desc: str,
         resumed: int, total: int, keep: Callable[[dict], dict] | None, setting: str) -> list[tuple[str, str]]:
    """Run ``pending`` on the cluster, adding each finished row to ``done`` and the CSV; return the failures."""
    import dask
    from distributed import KilledWorker, LocalCluster, wait

    where = f"the scheduler at {address}"
    local = None
    if address is None:
        workers = workers or min(len(pending), os.cpu_count() or 1)
        where = f"{workers} local worker{'s' * (workers != 1)}"
    print(f"{desc}: {total} jobs, {resumed} already in {csv_path.name}, {len(pending)} to run on {where}", flush=True)
    failures = []
    try:
        if address is None:
            # The scheduler runs in this process, so the setting applies; a remote one keeps its own.
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                # memory_limit=0: Dask's default limit (the machine's memory split evenly between workers)
                # only serves to spill data, which these jobs do not hold, and its nanny kills a worker
                # that goes over it: a synthesis run needing more than its share would never finish.
                local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                                     dashboard_address=None, silence_logs=logging.ERROR)
        with _connect(local or address, setting) as client, tqdm(total=len(pending), desc=desc, disable=None) as bar:
            todo = pending[::-1]
            running = {}
            while todo or running:
                # No more jobs in flight than the cluster has threads: the scheduler blames every job
                # it had sent to a worker that dies, running or queued there, so a job that kills its
                # workers would fail the jobs queued behind it as well. Asked again each round, as
                # workers come and go (a batch system starts them late).
                free = max(sum(client.nthreads().values()), 1) - len(running)
                for job in [todo.pop() for _ in range(min(free, len(todo)))]:
                    future = client.submit(work, job, key=f"{desc}-{job['key']}-{uuid.uuid4().hex}", pure=False,
                                           retries=retries)
                    running[future] = job["key"]
                try:
                    finished = wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    continue
                for future in finished:
                    key = running.pop(future)
                    try:
                        row = future.result()
                        if not isinstance(row, dict):
                            raise TypeError(f"work returned a {type(row).__name__}, not a dict")
                        if keep is not None:
                            row = keep(row)
                    except KilledWorker:
                        failures.append((key, "KilledWorker: every worker process that ran it died (out of memory? "
                                              "a tool that crashed the process?)"))
                    except Exception as exc:
                        failures.append((key, f"{type(exc).__name__}: {str(exc)[:300]}"))
                    else:
                        done[key] = {"key": key, **{name: value for name, value in row.items() if name != "key"}}
                        write_csv(csv_path, columns, done.values())
                    future.release()  # frees the result on the worker
                    bar.update()
    finally:
        if local is not None:
            local.close()
    return failures


def _connect(cluster, setting: str):
    """A client of ``cluster``, a LocalCluster or a scheduler's address."""
    from distributed import Client

    try:
        return Client(cluster)
    except OSError as exc:  # distributed raises OSError (TimeoutError) when no scheduler answers
        raise HwBnnError(f"cannot reach the Dask scheduler at {cluster} ({exc}); check that it is running "
                         f"(dask scheduler) and reachable from here, or set {setting} empty to run "
                         f"on this machine") from exc


def _read_rows(path: Path, columns: list[str]) -> dict[str, dict]:
    """The rows of an earlier run of this sweep in ``path``, by key; none when it does not exist."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if header != columns:
            raise HwBnnError(f"{path} has the columns {header}, not this sweep's {columns}: it holds another "
                             f"sweep's results; delete it or write the sweep to another folder")
        return {row["key"]: {name: row["key"] if name == "key" else _value(text) for name, text in row.items()}
                for row in reader}


def _value(text: str | None):
    """``text`` as the int, float, bool or None it was written from, else as it is."""
    if not text:
        return None
    if text in ("True", "False"):
        return text == "True"
    if "_" not in text and text == text.strip():  # int() and float() accept "1_000" and " 1"
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text
