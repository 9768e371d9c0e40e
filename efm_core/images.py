"""Data beyond the toys: scikit-learn's 8x8 digits, coloured digits, user point clouds and user image folders.

Nothing here downloads anything: the digits ship inside scikit-learn, everything else is the user's own file.

Conventions:

* images are float32 tensors of shape (n, C, H, W) with pixels in [-1, 1] (-1 = black background);
* the digits are ``X / 8 - 1`` of scikit-learn's 0..16 counts, shape (n, 1, 8, 8), labels int64 (n,);
* coloured digits are (n, 3, 8, 8): the stroke intensity ``s = X / 16`` in [0, 1] times the RGB of one hue at full
  saturation and value, mapped to [-1, 1]. Their grey image ``max over channels`` is exactly the original digit;
* hues are in degrees, [0, 360);
* point clouds are float64 tensors (n, D), like ``efm_core.data.sample_toy``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import limits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class Digits(NamedTuple):
    """Images (n, C, 8, 8) float32 in [-1, 1] and their class labels (n,) int64."""

    images: Tensor
    labels: Tensor


class ColouredDigits(NamedTuple):
    """Coloured digits (n, 3, 8, 8) float32 in [-1, 1], labels (n,) int64 and stroke hues (n,) float32 in degrees."""

    images: Tensor
    labels: Tensor
    hues: Tensor


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images.astype(np.float32) / 8.0 - 1.0)[:, None]
    return images, bunch.target.astype(np.int64)


def load_digits(classes: Iterable[int] | None = None) -> Digits:
    """All 1797 of scikit-learn's digits (or those of ``classes``) as (n, 1, 8, 8) float32 in [-1, 1] and labels."""
    images, labels = _sklearn_digits()
    digits = Digits(torch.from_numpy(images.copy()), torch.from_numpy(labels.copy()))
    return digits if classes is None else select_classes(digits, classes)


def digits_split(test_fraction: float = 0.2, seed: int = 0) -> tuple[Digits, Digits]:
    """The fixed (train, test) split of scikit-learn's digits, stratified by class.

    Each class is shuffled with ``seed`` and its last ``round(test_fraction * count)`` images go to the test set; the
    default (0.2, 0) gives 1438 train / 359 test images and is the split the project's classifier was trained on.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive); got {test_fraction}.")
    digits = load_digits()
    g = torch.Generator().manual_seed(int(seed))
    train_idx, test_idx = [], []
    for c in range(10):
        idx = torch.nonzero(digits.labels == c).flatten()
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_test = int(round(test_fraction * idx.numel()))
        train_idx.append(idx[: idx.numel() - n_test])
        test_idx.append(idx[idx.numel() - n_test :])
    tr, te = torch.cat(train_idx).sort().values, torch.cat(test_idx).sort().values
    return Digits(digits.images[tr], digits.labels[tr]), Digits(digits.images[te], digits.labels[te])


def select_classes(digits: Digits | ColouredDigits, classes: Iterable[int]) -> Digits | ColouredDigits:
    """Keep only the items whose label is in ``classes`` (e.g. ``[2]`` for the 2s of a 2 -> 3 translation)."""
    wanted = sorted({int(c) for c in classes})
    if not wanted or any(c < 0 or c > 9 for c in wanted):
        raise ValueError(f"classes must be a non-empty list of digits 0..9; got {wanted}.")
    keep = torch.isin(digits.labels, torch.tensor(wanted))
    return type(digits)(*(field[keep] for field in digits))


def hue_to_rgb(hues: Tensor) -> Tensor:
    """RGB in [0, 1] of hues (n,) in degrees at full saturation and value: (n, 3)."""
    h = torch.as_tensor(hues, dtype=torch.float32).reshape(-1, 1) / 60.0
    k = torch.remainder(torch.tensor([5.0, 3.0, 1.0]) + h, 6.0)
    return 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)


def colourise(grey: Tensor, hues: Tensor) -> Tensor:
    """Colour grey images (n, 1, H, W) in [-1, 1] with one hue each (n,) degrees: (n, 3, H, W) in [-1, 1].

    Stroke intensity ``(grey + 1) / 2`` times the hue's RGB, mapped back to [-1, 1]; black stays -1 in every channel.
    """
    if grey.ndim != 4 or grey.shape[1] != 1:
        raise ValueError(f"grey images must have shape (n, 1, H, W); got {tuple(grey.shape)}.")
    rgb = hue_to_rgb(hues).to(grey.dtype)
    if rgb.shape[0] != grey.shape[0]:
        raise ValueError(f"need one hue per image: {grey.shape[0]} images but {rgb.shape[0]} hues.")
    intensity = (grey + 1.0) / 2.0
    return intensity * rgb[:, :, None, None] * 2.0 - 1.0


def load_coloured_digits(
    classes: Iterable[int] | None = None, seed: int = 0, digits: Digits | None = None
) -> ColouredDigits:
    """Coloured digits with one uniformly random hue per image (seeded): images (n, 3, 8, 8), labels, hues.

    ``digits`` (e.g. one half of ``digits_split()``) defaults to all of scikit-learn's digits; ``classes`` then keeps
    only those classes. Calling again with another ``seed`` recolours the same strokes (hue augmentation).
    """
    base = load_digits() if digits is None else digits
    if classes is not None:
        base = select_classes(base, classes)
    g = torch.Generator().manual_seed(int(seed))
    hues = 360.0 * torch.rand(base.images.shape[0], generator=g)
    return ColouredDigits(colourise(base.images, hues), base.labels, hues)


def grey(images: Tensor) -> Tensor:
    """Grey version (n, 1, H, W) of images (n, C, H, W): the maximum over channels (undoes ``colourise`` exactly)."""
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W); got {tuple(images.shape)}.")
    return images.amax(dim=1, keepdim=True)


def image_hues(images: Tensor, min_chroma: float = 0.05) -> Tensor:
    """Stroke hue in degrees (n,) of RGB images (n, 3, H, W) in [-1, 1]; NaN where the strokes have no colour.

    The colour of an image is its pixels' RGB in [0, 1] averaged with weights = each pixel's max channel (so the
    black background does not count); the hue is that of the mean colour, NaN if its chroma (max - min channel,
    relative to its max) is below ``min_chroma`` or the image is all black.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"hues need RGB images of shape (n, 3, H, W); got {tuple(images.shape)}.")
    rgb = ((torch.as_tensor(images, dtype=torch.float64) + 1.0) / 2.0).clamp(0.0, 1.0).flatten(2)
    weight = rgb.amax(dim=1, keepdim=True)
    mean = (rgb * weight).sum(-1) / weight.sum(-1).clamp_min(1e-12)
    r, g, b = mean.unbind(1)
    top, bottom = mean.amax(1), mean.amin(1)
    chroma = top - bottom
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    h = torch.where(top == r, torch.remainder((g - b) / safe, 6.0), torch.where(top == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = 60.0 * h
    colourless = (top <= 1e-6) | (chroma < min_chroma * top)
    return torch.where(colourless, torch.full_like(hue, float("nan")), hue).to(torch.float32)


def shift_images(images: Tensor, generator: torch.Generator, max_shift: int = 1) -> Tensor:
    """Shift every image (n, C, H, W) by its own random (dy, dx) in [-max_shift, max_shift], filling with -1.

    Optional augmentation. The project's training notes found one-pixel shifts harmful for digits: shifted real
    digits fall off the real digits' k-NN manifold (pixel-space precision 0.18), so a model trained on them
    generates shifted digits. Prefer hue augmentation for coloured digits.
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W); got {tuple(images.shape)}.")
    n, _, h, w = images.shape
    pad = int(max_shift)
    if pad < 0 or pad >= min(h, w):
        raise ValueError(f"max_shift must be between 0 and {min(h, w) - 1}; got {max_shift}.")
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), value=-1.0)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, images.shape[1], h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, images.shape[1], h, w)
    return out.gather(3, cols)


# --- user point clouds ---------------------------------------------------------------------------------------------

Source = str | os.PathLike | bytes | BinaryIO


def _read_bytes(source: Source) -> tuple[bytes, str]:
    """The raw bytes of ``source`` and a name for messages and suffix detection."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "the uploaded data"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"point cloud file {str(path)!r} does not exist (or is not a file).")
        if path.stat().st_size > limits.MAX_ARRAY_BYTES:
            raise ValueError(f"point cloud file {path.name!r} has more than {limits.MAX_ARRAY_BYTES} bytes; subsample it first.")
        return path.read_bytes(), path.name
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode()
        return bytes(data), str(getattr(source, "name", "the uploaded file"))
    raise ValueError(f"give a path, bytes or a file-like object; got {type(source).__name__}.")


def read_npy(raw: bytes, name: str, max_rows: int | None = None) -> np.ndarray:
    """A plain numeric array (bool, integers or floats, any shape) from the bytes of a .npy file.

    The header is checked before any data are read: a .npz (zip) archive, a pickle or object array, a complex,
    text or structured dtype, more than ``max_rows`` rows (first axis), more than ``limits.MAX_ARRAY_BYTES`` of data
    or fewer bytes than the header promises raise ValueError naming ``name`` (never quoting the file's content).
    """
    if raw.startswith(b"PK\x03\x04"):
        raise ValueError(f"{name}: a .npz (zip) archive, not a plain .npy array. Save one array with numpy.save(path, array).")
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise ValueError("unsupported .npy format version")
        shape, _, dtype = readers[version](stream)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        raise ValueError(f"{name}: not a plain .npy array (its header is unreadable). Save it with numpy.save(path, array).") from None
    if dtype.hasobject:
        raise ValueError(f"{name}: not a plain .npy array (it holds Python objects, which would need unpickling).")
    if dtype.kind == "c":
        raise ValueError(f"{name}: complex numbers are not points; save the real coordinates only.")
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise ValueError(f"{name}: the .npy array must hold numbers; got dtype {dtype}.")
    if max_rows is not None and shape and shape[0] > max_rows:
        raise ValueError(f"{name} has {shape[0]} rows; at most {max_rows} are allowed here. Subsample it first.")
    size = math.prod(shape) * dtype.itemsize
    if size > limits.MAX_ARRAY_BYTES:
        raise ValueError(f"{name}: an array of {size} bytes; at most {limits.MAX_ARRAY_BYTES} are read.")
    if size > len(raw) - stream.tell():
        raise ValueError(f"{name}: the .npy file is shorter than its header says (truncated).")
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{name}: not a readable .npy file ({type(err).__name__}).") from None


def _parse_npy(raw: bytes, name: str, max_rows: int | None = None) -> np.ndarray:
    return read_npy(raw, name, max_rows).astype(np.float64)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _parse_csv(raw: bytes, name: str, max_rows: int | None = None) -> np.ndarray:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not a text CSV file (it is not UTF-8). Give a CSV of numbers or a .npy array.") from None
    rows: list[list[float]] = []
    first = True
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if max_rows is not None and len(rows) >= max_rows and line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{name} has more than {max_rows} rows; at most {max_rows} are allowed here. Subsample it first.")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = next((s for s in (",", ";", "\t") if s in line), None)
        cells = [c.strip() for c in (line.split(sep) if sep else line.split())]
        values = [_number(c) for c in cells]
        if None in values:
            if first and all(v is None for v in values):  # a header line such as "x,y"
                first = False
                continue
            bad = next(k for k, v in enumerate(values, start=1) if v is None)
            raise ValueError(f"{name}, line {number}: field {bad} is not a number (a row is numbers separated by commas, semicolons, tabs or spaces).")
        first = False
        if rows and len(values) != len(rows[0]):
            raise ValueError(f"{name}, line {number}: {len(values)} columns, but the first row has {len(rows[0])}.")
        rows.append(values)
    if not rows:
        raise ValueError(f"{name}: no rows of numbers found; a CSV needs one point per line, e.g. '0.5,-1.2'.")
    return np.asarray(rows, dtype=np.float64)


def load_point_cloud(source: Source, dims: Sequence[int] | None = None, max_points: int | None = None) -> Tensor:
    """Read a user's point cloud from CSV or NPY: float64 tensor (n, D), one point per row.

    ``source`` is a path, bytes or a binary file-like object (e.g. a Streamlit upload). A file starting with the NPY
    magic is read as NPY (never unpickling), anything else as CSV text (comma, semicolon, tab or space separated; an
    optional header line and ``#`` comments are skipped). A 1-D array is one column. ``dims`` lists the accepted
    numbers of columns (the app passes (1, 2)); ``max_points`` caps the number of rows. Any problem raises ValueError
    saying what is wrong with the file.
    """
    raw, name = _read_bytes(source)
    if not raw:
        raise ValueError(f"{name} is empty.")
    if max_points is not None:
        limits.check_count("max_points", max_points, limits.MAX_POINTS)
    rows = limits.MAX_POINTS if max_points is None else max_points
    parse = _parse_npy if raw.startswith((b"\x93NUMPY", b"PK\x03\x04")) else _parse_csv
    array = parse(raw, name, rows)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name}: points must form a 2-D table (n points x D coordinates); got shape {array.shape}.")
    n, d = array.shape
    if n == 0 or d == 0:
        raise ValueError(f"{name} holds no points (shape {array.shape}).")
    if dims is not None and d not in dims:
        wanted = " or ".join(str(x) for x in dims)
        raise ValueError(f"{name} has {d} columns; this needs {wanted} (one column per coordinate, one row per point).")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        raise ValueError(f"{name}: {int(bad.sum())} row(s) contain NaN or infinite values, first at row {int(np.argmax(bad))}.")
    if max_points is not None and n > max_points:
        raise ValueError(f"{name} has {n} points; at most {max_points} are allowed here. Subsample it first.")
    return torch.from_numpy(array)


# --- user image folders --------------------------------------------------------------------------------------------


def load_image_folder(
    folder: str | os.PathLike, size: int | tuple[int, int] = 8, channels: int = 1, limit: int | None = None
) -> Tensor:
    """Every image under ``folder`` (recursively, sorted by path) resized to ``size``: (n, channels, H, W) in [-1, 1].

    ``size`` is H = W or (H, W); ``channels`` 1 converts to grey (Pillow's "L"), 3 to RGB. Images are resized with
    Pillow's area-averaging (BOX) filter, so 28x28 MNIST PNGs become 8x8 digits. One folder is one distribution: for
    a translation task point P and Q at two folders (e.g. MNIST's ``2/`` and ``3/`` exported to PNG). ``limit`` keeps
    the first ``limit`` files. Note MNIST and scikit-learn digits differ in stroke width and framing.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist (or is not a folder).")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB); got {channels}.")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    for side in (h, w):
        limits.check_count("image size", side, limits.MAX_IMAGE_SIDE, why="pixels per side")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None:
        files = files[: int(limit)]
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(root)!r}.")
    arrays = []
    for path in files:
        try:
            with Image.open(path) as img:
                img = img.convert("L" if channels == 1 else "RGB").resize((w, h), Image.Resampling.BOX)
                arrays.append(np.asarray(img, dtype=np.float32).reshape(h, w, channels))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read image {path.name!r} in {str(root)!r}: {err}.") from None
    batch = np.stack(arrays).transpose(0, 3, 1, 2) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
