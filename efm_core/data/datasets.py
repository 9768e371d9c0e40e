"""Real image data sets read from local files: Fashion-MNIST (idx files) and CIFAR-10 (binary batches).

Nothing is downloaded. Fashion-MNIST is read from a folder holding the four standard idx files
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
each gzipped (``.gz``) or not). The folder is, in this order: the ``data_dir`` argument (the CLI's ``--data-dir``),
the environment variable ``EFM_DATA_DIR``, or Debian's package location /usr/share/datasets/fashion-mnist
(``apt-get install -y dataset-fashion-mnist``). CIFAR-10 is read from its binary version
(``cifar-10-batches-bin/data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``: raw bytes, no pickle), found
through the same ``data_dir`` / ``EFM_DATA_DIR``.

Images come back as float32 (n, C, H, W) in [-1, 1] (pixel / 127.5 - 1) with int64 labels (n,); the train/test
split is the published one (60,000 / 10,000 for Fashion-MNIST, 50,000 / 10,000 for CIFAR-10). A missing folder or
file, or a malformed one, raises ``DatasetError`` (a ValueError) whose message says how to get the data.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

ENV_VAR = "EFM_DATA_DIR"
FASHION_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_APT = "apt-get install -y dataset-fashion-mnist"
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_SIZES = {"train": 60000, "test": 10000}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR_FOLDER = "cifar-10-batches-bin"
CIFAR_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes (row-major 32x32)
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
_IDX_UBYTE = 0x08
_MAX_IDX_BYTES = 1 << 31  # refuse to read absurdly large files


class DatasetError(ValueError):
    """Local data missing or malformed; the message says how to get or fix it."""


class LabelledImages(NamedTuple):
    """``images`` float32 (n, C, H, W) in [-1, 1] and ``labels`` int64 (n,) in 0..9."""

    images: Tensor
    labels: Tensor


def data_dir(given: str | os.PathLike | None = None, default: str | None = FASHION_DEFAULT_DIR) -> Path | None:
    """The folder to read: ``given``, else $EFM_DATA_DIR, else ``default`` (None if none of them is set)."""
    for candidate in (given, os.environ.get(ENV_VAR) or None, default):
        if candidate is not None and str(candidate) != "":
            return Path(candidate)
    return None


def _fashion_help(folder: Path) -> str:
    return (f"Looked in {str(folder)!r}. Install the Debian package ({FASHION_APT}, into {FASHION_DEFAULT_DIR}) or "
            f"point --data-dir (or ${ENV_VAR}) at a folder with the four files "
            f"{', '.join(n for pair in FASHION_FILES.values() for n in pair)} (each may end in .gz).")


def parse_idx(raw: bytes, name: str = "idx file") -> np.ndarray:
    """The unsigned-byte array stored in idx bytes ``raw`` (magic 0 0 8 ndim, ndim big-endian int32 sizes, data).

    Raises DatasetError for a bad magic number, a type other than unsigned bytes, or a size that does not match.
    """
    if len(raw) < 4:
        raise DatasetError(f"{name}: too short for an idx header ({len(raw)} bytes).")
    zero, kind, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or kind != _IDX_UBYTE or not 1 <= ndim <= 4:
        raise DatasetError(f"{name}: not an unsigned-byte idx file (magic {raw[:4].hex()}, expected 000008 then 01..04).")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{name}: the header promises {ndim} sizes but the file ends after {len(raw)} bytes.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) != header + count:
        raise DatasetError(f"{name}: sizes {dims} need {header + count} bytes; the file has {len(raw)} (truncated or corrupt).")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=header).reshape(dims)


def _read(path: Path) -> bytes:
    """Bytes of ``path``, gunzipped when it ends in .gz (bounded in size)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read(_MAX_IDX_BYTES + 1)
        else:
            with path.open("rb") as fh:
                raw = fh.read(_MAX_IDX_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DatasetError(f"{path.name}: cannot be read ({err}); reinstall it ({FASHION_APT}) or replace the file.") from None
    if len(raw) > _MAX_IDX_BYTES:
        raise DatasetError(f"{path.name}: larger than {_MAX_IDX_BYTES} bytes; this is not a Fashion-MNIST file.")
    return raw


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"Fashion-MNIST file {stem}(.gz) not found. {_fashion_help(folder)}")


def read_fashion_split(folder: str | os.PathLike, split: str) -> LabelledImages:
    """One split ('train' or 'test') of Fashion-MNIST from ``folder``: images (n, 1, 28, 28) in [-1, 1], labels (n,)."""
    if split not in SPLITS:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test'; got {split!r}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"Fashion-MNIST folder not found. {_fashion_help(folder)}")
    image_path, label_path = (_find(folder, stem) for stem in FASHION_FILES[split])
    images = parse_idx(_read(image_path), image_path.name)
    labels = parse_idx(_read(label_path), label_path.name)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{image_path.name}: expected images of shape (n, 28, 28); got {images.shape}. {_fashion_help(folder)}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{label_path.name}: expected {images.shape[0]} labels (one per image); got shape {labels.shape}.")
    if labels.size and int(labels.max()) > 9:
        raise DatasetError(f"{label_path.name}: labels must be 0..9; found {int(labels.max())}.")
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]
    return LabelledImages(x.contiguous(), torch.from_numpy(labels.astype(np.int64)))


@lru_cache(maxsize=4)
def _fashion_cached(folder: str, split: str) -> LabelledImages:
    return read_fashion_split(folder, split)


def load_fashion_mnist(split: str = "train", folder: str | os.PathLike | None = None) -> LabelledImages:
    """Fashion-MNIST ``split`` from ``folder`` (default: $EFM_DATA_DIR, else the Debian location); cached per process.

    Returns images float32 (n, 1, 28, 28) in [-1, 1] (n = 60000 train, 10000 test) and labels int64 (n,)
    (``FASHION_CLASSES``). DatasetError with the install command if the files are missing or malformed.
    """
    return _fashion_cached(str(data_dir(folder)), split)


def fashion_available(folder: str | os.PathLike | None = None) -> bool:
    """True if the four Fashion-MNIST files exist in the folder ``load_fashion_mnist`` would read (not parsed)."""
    root = data_dir(folder)
    stems = [stem for pair in FASHION_FILES.values() for stem in pair]
    return all((root / stem).is_file() or (root / f"{stem}.gz").is_file() for stem in stems)


# --- CIFAR-10 ------------------------------------------------------------------------------------------------------


def _cifar_help(folder: Path | None) -> str:
    where = f"looked in {str(folder)!r}" if folder is not None else f"no folder given (--data-dir or ${ENV_VAR})"
    return (f"{where[0].upper()}{where[1:]}. CIFAR-10 is read from its binary version: point --data-dir (or ${ENV_VAR}) at "
            f"the folder that holds {CIFAR_FOLDER}/ (or at {CIFAR_FOLDER}/ itself) with data_batch_1.bin ... "
            "data_batch_5.bin and test_batch.bin (the 'CIFAR-10 binary version' archive, unpacked).")


def parse_cifar_batch(raw: bytes, name: str = "CIFAR-10 batch") -> LabelledImages:
    """Records of 3073 bytes (label, then 32x32 red, green, blue planes) -> images (n, 3, 32, 32) in [-1, 1], labels."""
    if len(raw) == 0 or len(raw) % CIFAR_RECORD:
        raise DatasetError(f"{name}: {len(raw)} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records (truncated or not a binary batch).")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) > 9:
        raise DatasetError(f"{name}: labels must be 0..9; found {int(labels.max())} (is this CIFAR-100?).")
    images = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 127.5 - 1.0
    return LabelledImages(torch.from_numpy(images), torch.from_numpy(labels))


@lru_cache(maxsize=2)
def _cifar_cached(folder: str, split: str) -> LabelledImages:
    root = Path(folder)
    if (root / CIFAR_FOLDER).is_dir():
        root = root / CIFAR_FOLDER
    parts = []
    for file in CIFAR_FILES[split]:
        path = root / file
        if not path.is_file():
            raise DatasetError(f"CIFAR-10 file {file} not found. {_cifar_help(Path(folder))}")
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DatasetError(f"{file}: cannot be read ({err}). {_cifar_help(Path(folder))}") from None
        parts.append(parse_cifar_batch(raw, file))
    return LabelledImages(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


def load_cifar10(split: str = "train", folder: str | os.PathLike | None = None) -> LabelledImages:
    """CIFAR-10 ``split`` from its binary batches under ``folder`` (or $EFM_DATA_DIR): images float32 (n, 3, 32, 32)
    in [-1, 1] (n = 50000 train, 10000 test), labels int64 (n,) (``CIFAR_CLASSES``); cached per process."""
    if split not in SPLITS:
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test'; got {split!r}.")
    root = data_dir(folder, default=None)
    if root is None or not root.is_dir():
        raise DatasetError(f"CIFAR-10 folder not found. {_cifar_help(root)}")
    return _cifar_cached(str(root), split)
