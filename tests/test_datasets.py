"""Local image data sets (efm_core.data.datasets): the idx and CIFAR-10 parsers on tiny files written here, the clear
errors for missing or malformed data, and the real Fashion-MNIST files (Debian's dataset-fashion-mnist, which CI
installs; those tests are skipped where the package is missing)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from efm_core.cli import main
from efm_core.data import datasets
from efm_core.data.datasets import DatasetError, load_cifar10, parse_cifar_batch, parse_idx, read_fashion_split
from efm_core.data.sources import make_source
from efm_core.presets import get_preset

HAVE_FASHION = datasets.fashion_available(datasets.FASHION_DEFAULT_DIR)
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason=f"Fashion-MNIST not installed ({datasets.FASHION_APT})")


def _idx(array: np.ndarray, magic: bytes | None = None) -> bytes:
    head = magic if magic is not None else bytes([0, 0, 8, array.ndim])
    return head + b"".join(struct.pack(">i", s) for s in array.shape) + array.astype(np.uint8).tobytes()


def _write_fashion(folder, n=3, gz=True, images=None, labels=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28)) if images is None else images
    labels = np.arange(n) % 10 if labels is None else labels
    for split in ("train", "test"):
        for stem, array in zip(datasets.FASHION_FILES[split], (images, labels), strict=True):
            raw = _idx(np.asarray(array))
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / stem).write_bytes(raw)
    return images, labels


def test_parse_idx_round_trip():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(_idx(a)), a)


@pytest.mark.parametrize("raw,match", [
    (b"\x00\x00", "too short"),
    (b"\x08\x03\x00\x00" + b"\x00" * 20, "not an unsigned-byte idx"),  # bytes swapped: a wrong magic
    (bytes([0, 0, 0x0D, 1]) + struct.pack(">i", 1) + b"\x00" * 4, "not an unsigned-byte idx"),  # float type
    (bytes([0, 0, 8, 3]) + struct.pack(">i", 2), "ends after"),  # header cut short
    (bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"\x00" * 9, "truncated"),  # one byte missing
    (bytes([0, 0, 8, 1]) + struct.pack(">i", 2) + b"\x00" * 3, "truncated"),  # trailing garbage
])
def test_parse_idx_refuses_malformed_bytes(raw, match):
    with pytest.raises(DatasetError, match=match):
        parse_idx(raw, "x")


@pytest.mark.parametrize("gz", [True, False])
def test_read_fashion_split_values_shape_and_labels(tmp_path, gz):
    images, labels = _write_fashion(tmp_path, gz=gz)
    data = read_fashion_split(tmp_path, "train")
    assert data.images.shape == (3, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    torch.testing.assert_close(data.images[:, 0], torch.from_numpy(images.astype(np.float32) / 127.5 - 1))
    assert data.labels.tolist() == labels.tolist()


def test_read_fashion_refuses_wrong_dims_and_labels(tmp_path):
    _write_fashion(tmp_path, images=np.zeros((2, 8, 8)), labels=np.zeros(2))
    with pytest.raises(DatasetError, match=r"\(n, 28, 28\)"):
        read_fashion_split(tmp_path, "train")
    _write_fashion(tmp_path, images=np.zeros((2, 28, 28)), labels=np.zeros(3))
    with pytest.raises(DatasetError, match="one per image"):
        read_fashion_split(tmp_path, "test")
    _write_fashion(tmp_path, images=np.zeros((2, 28, 28)), labels=np.array([0, 12]))
    with pytest.raises(DatasetError, match="0..9"):
        read_fashion_split(tmp_path, "train")


def test_missing_folder_or_file_says_how_to_get_the_data(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install -y dataset-fashion-mnist"):
        read_fashion_split(tmp_path / "nowhere", "train")
    _write_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.*--data-dir"):
        read_fashion_split(tmp_path, "test")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="cannot be read"):
        read_fashion_split(tmp_path, "train")


def test_data_dir_argument_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    assert str(datasets.data_dir()) == datasets.FASHION_DEFAULT_DIR
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert datasets.data_dir() == tmp_path
    assert datasets.data_dir("given") == datasets.data_dir("given") and str(datasets.data_dir("given")) == "given"


def test_source_and_cli_read_the_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    _write_fashion(tmp_path, n=12)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    source = make_source({"kind": "fashion_mnist", "split": "train", "classes": [1, 2]})
    assert source.shape == (1, 28, 28) and source.items.shape[0] == 3 and source.held_out.shape[0] == 3  # labels 1, 2, 1
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path / "empty"))
    code = main(["train", "--preset", "fashion-gen", "--steps", "1", "--out", str(tmp_path / "runs"),
                 "--data-dir", str(tmp_path / "missing"), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "apt-get install -y dataset-fashion-mnist" in err and "missing" in err


def _cifar_bytes(labels, rng):
    records = [bytes([lab]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for lab in labels]
    return b"".join(records)


def test_cifar_binary_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    folder = tmp_path / datasets.CIFAR_FOLDER
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(_cifar_bytes([i, 0], rng))
    raw = _cifar_bytes([9], rng)
    (folder / "test_batch.bin").write_bytes(raw)
    train = load_cifar10("train", tmp_path)
    assert train.images.shape == (10, 3, 32, 32) and train.labels.tolist() == [1, 0, 2, 0, 3, 0, 4, 0, 5, 0]
    test = load_cifar10("test", folder)  # the batches' own folder works too
    red = np.frombuffer(raw[1:1025], dtype=np.uint8).reshape(32, 32).astype(np.float32) / 127.5 - 1
    torch.testing.assert_close(test.images[0, 0], torch.from_numpy(red))  # channel-major planes, row-major pixels
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    assert make_source(get_preset("cifar10-gen").q).items.shape == (10, 3, 32, 32)


def test_cifar_errors(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    with pytest.raises(DatasetError, match="--data-dir"):
        load_cifar10("train")
    with pytest.raises(DatasetError, match="data_batch_1.bin not found"):
        load_cifar10("train", tmp_path)
    with pytest.raises(DatasetError, match="whole number"):
        parse_cifar_batch(b"\x00" * 3000)
    with pytest.raises(DatasetError, match="CIFAR-100"):
        parse_cifar_batch(bytes([42]) + b"\x00" * 3072)


@needs_fashion
def test_real_fashion_mnist_published_split():
    train, test = (read_fashion_split(datasets.FASHION_DEFAULT_DIR, s) for s in ("train", "test"))
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert float(train.images.min()) == -1.0 and float(train.images.max()) == 1.0
    assert torch.bincount(train.labels).tolist() == [6000] * 10 and torch.bincount(test.labels).tolist() == [1000] * 10
    # the published first training label (an ankle boot, class 9) and the mean pixel (72.9 of 255 -> -0.428)
    assert int(train.labels[0]) == 9 and abs(float(train.images.mean()) + 0.4283) < 1e-3
