"""Atomic file writes (a reader never sees a half-written output) and the matching readers
(a missing, truncated or corrupt file raises HwBnnError naming the file and the fix)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
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


def write_csv(path: str | Path, columns: list[str], rows) -> None:
    """``rows`` (dicts) as CSV with ``columns``, written beside ``path`` and renamed: a missing value is
    written empty, keys beyond ``columns`` are left out."""
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _read(path: str | Path, fix: str, kind: str, parse: Callable[[Path], object]):
    path = Path(path)
    if not path.is_file():
        raise HwBnnError(f"{path} is missing; {fix}")
    try:
        return parse(path)
    except HwBnnError:
        raise
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


#: How to load a trusted file that holds pickled Python objects (``convert_checkpoint``).
CONVERT_HINT = ("if you trust the file (unpickling runs whatever code it names), convert it once to tensors only: "
                "'hw-bnn convert-checkpoint {path} NEW_FILE.pt', then use NEW_FILE.pt")


def load_torch_weights(path: str | Path):
    """``torch.load`` in weights-only mode (tensors and plain containers, never pickled objects, whose unpickling
    runs whatever code the file names). A file that needs more raises HwBnnError naming the object it holds
    and ``CONVERT_HINT``."""
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights-only mode names the global it refused; any other unpickling error is damaged data
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if not found:
            raise
        raise HwBnnError(f"{path} holds a pickled Python object ({found.group(1)}), which hw_bnn does not load: it "
                         f"reads PyTorch files weights-only; {CONVERT_HINT.format(path=path)}") from None


def read_torch(path: str | Path, fix: str, keys: tuple[str, ...] = ()) -> dict:
    """The dict ``torch.save`` wrote to ``path``, on the CPU, holding at least ``keys``; errors end with ``fix``.
    Loaded weights-only (``load_torch_weights``): hw_bnn saves tensors, numbers, strings and plain containers."""
    state = _read(path, fix, "PyTorch", load_torch_weights)
    if not isinstance(state, dict):
        raise HwBnnError(f"{path} holds a {type(state).__name__}, not the dict hw_bnn's training saves; {fix}")
    missing = [key for key in keys if key not in state]
    if missing:
        raise HwBnnError(f"{path} is not a file hw_bnn's training wrote (it has no {missing}); {fix}")
    return state


def state_dict_of(state, path: str | Path) -> dict:
    """The model weights in a loaded checkpoint: ``{"state_dict": ...}`` (BNN-PYNQ's), ``{"model": ...}``
    (hw_bnn's) or the plain dict, without DataParallel's ``module.`` prefix."""
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise HwBnnError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {str(k).removeprefix("module."): v for k, v in state.items()}


def convert_checkpoint(source: str | Path, target: str | Path) -> list[str]:
    """Rewrite a TRUSTED checkpoint as ``{"model": weights}`` of tensors only, loadable weights-only; return the
    entries left out. ``source`` is unpickled in full: only for files whose origin you trust."""
    import torch

    source, target = Path(source), Path(target)
    state = _read(source, "check the path", "PyTorch",
                  lambda p: torch.load(p, map_location="cpu", weights_only=False))
    weights = state_dict_of(state, source)
    tensors = {k: v for k, v in weights.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise HwBnnError(f"{source} holds no tensors under 'state_dict', 'model' or at its top level; nothing to keep")
    with atomic_path(target) as tmp:
        torch.save({"model": tensors}, tmp)
    load_torch_weights(target)  # what was written loads weights-only
    top = state if isinstance(state, dict) else {}
    under = next((key for key in ("state_dict", "model") if isinstance(top.get(key), dict)), None)
    left_out = [key for key in weights if key not in tensors]
    return left_out + ([str(key) for key in top if key != under] if under else [])
