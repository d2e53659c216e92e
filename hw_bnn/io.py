"""Atomic file writes (a reader never sees a half-written output) and the matching readers
(a missing, truncated or corrupt file raises HwBnnError naming the file and the fix)."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from hw_bnn.errors import HwBnnError


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


@contextmanager
def atomic_path(path: str | Path, durable: bool = False):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A process killed at any point leaves either the old ``path`` or the new one, never a part:
    the data goes to the temporary file and one ``os.replace`` swaps it in. ``durable`` also
    flushes the file and the folder to disk (fsync), so that the new file survives an operating
    system crash or power loss too; worth it for the files that cost hours to remake (training's).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
    try:
        yield Path(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)  # the rename itself is an entry in the folder
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left beside ``path`` when a process writing
    ``path`` was killed mid-write; return them. Only for a file that one process writes at a time."""
    path = Path(path)
    stale = list(path.parent.glob(f"{_temp_prefix(path)}*{path.suffix}")) if path.parent.is_dir() else []
    for temp in stale:
        temp.unlink(missing_ok=True)
    return stale


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _read(path: str | Path, fix: str, kind: str, parse: Callable[[Path], object]):
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"{path} is missing; {fix}")
    try:
        return parse(path)
    except Exception as exc:  # truncated or foreign data fails in many ways (EOFError, ValueError, ...)
        raise HwBnnError(f"{path} is not a readable {kind} file, it is truncated or corrupt "
                         f"({type(exc).__name__}: {str(exc)[:200]}); {fix}") from exc


def read_json(path: str | Path, fix: str):
    """The JSON document in ``path``; ``fix`` (what the user should do) ends the error when it is
    missing or unreadable."""
    return _read(path, fix, "JSON", lambda p: json.loads(p.read_text()))


def read_npy(path: str | Path, fix: str):
    """The array in the ``.npy`` file ``path`` (no pickled objects); errors end with ``fix``."""
    import numpy as np

    return _read(path, fix, ".npy", lambda p: np.load(p, allow_pickle=False))


def read_torch(path: str | Path, fix: str, keys: tuple[str, ...] = ()) -> dict:
    """The dict ``torch.save`` wrote to ``path``, on the CPU, holding at least ``keys``; errors end with ``fix``.

    The file is unpickled in full (``weights_only=False``): read only files you trust.
    """
    import torch

    state = _read(path, fix, "PyTorch",
                  lambda p: torch.load(p, map_location="cpu", weights_only=False))
    if not isinstance(state, dict):
        raise HwBnnError(f"{path} holds a {type(state).__name__}, not the dict hw_bnn's training saves; {fix}")
    missing = [key for key in keys if key not in state]
    if missing:
        raise HwBnnError(f"{path} is not a file hw_bnn's training wrote (it has no {missing}); {fix}")
    return state
