"""A user's own data: point clouds (CSV or NPY) and image folders. Nothing here can run code from a file.

One parser, ``parse_point_cloud(raw, name)``, reads the bytes of a point cloud for the command line, the configs
(``load_point_cloud``) and the app's upload alike. Point clouds are float64 tensors (n, D), like
``efm_core.data.sample_toy``; images are float32 (n, C, H, W) with pixels in [-1, 1].
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from .. import limits

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


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
        raise ValueError(f"{name}: not a valid .npy file (its header is unreadable). Save it with numpy.save(path, array).") from None
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


def _parse_csv(raw: bytes, name: str, max_rows: int | None = None, max_line: int | None = None) -> np.ndarray:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not a text file (it is not UTF-8, as a CSV must be). Give a CSV of numbers or a .npy array.") from None
    rows: list[list[float]] = []
    first = True
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if max_rows is not None and len(rows) >= max_rows and line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{name} has more than {max_rows} rows; at most {max_rows} are allowed here. Subsample it first.")
        if max_line is not None and len(line) > max_line:
            raise ValueError(f"{name}, line {number}: over {max_line} characters; not a CSV table of points (one point per line).")
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
            raise ValueError(f"{name}, line {number}: rows have different numbers of columns: {len(values)} columns here, {len(rows[0])} in the first row.")
        rows.append(values)
    if not rows:
        raise ValueError(f"{name}: no rows of numbers found; a CSV needs one point per line, e.g. '0.5,-1.2'.")
    return np.asarray(rows, dtype=np.float64)


def parse_point_cloud(
    raw: bytes,
    name: str,
    dims: Sequence[int] | None = None,
    max_points: int | None = None,
    max_bytes: int | None = None,
    fmt: str | None = None,
    max_line: int | None = None,
) -> Tensor:
    """Parse the bytes of a point cloud (CSV or NPY) into a float64 tensor (n, D), one point per row.

    ``name`` (a file name) appears in the messages. Bytes starting with the NPY magic are read as NPY (never
    unpickling), anything else as CSV text (comma, semicolon, tab or space separated; an optional header line and
    ``#`` comments are skipped); ``fmt`` ("csv" or "npy") forces one reader, e.g. by a file's suffix. A 1-D array
    is one column. ``dims`` lists the accepted numbers of columns (e.g. the
    app's (D, D + 1): coordinates and an optional magnitude); ``max_points`` caps the number of rows, ``max_bytes``
    the size of ``raw``, ``max_line`` the characters of one CSV line. Any problem raises ValueError saying what is
    wrong with the file.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise ValueError(f"{name}: the file is {len(raw) / 2**20:.1f} MB; the limit is {max_bytes // 2**20} MB.")
    if not raw:
        raise ValueError(f"{name} is empty.")
    if max_points is not None:
        limits.check_count("max_points", max_points, limits.MAX_POINTS)
    rows = limits.MAX_POINTS if max_points is None else max_points
    if fmt not in (None, "csv", "npy"):
        raise ValueError(f"fmt must be 'csv', 'npy' or None; got {fmt!r}.")
    is_npy = raw.startswith((b"\x93NUMPY", b"PK\x03\x04")) if fmt is None else fmt == "npy"
    array = _parse_npy(raw, name, rows) if is_npy else _parse_csv(raw, name, rows, max_line)
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


def load_point_cloud(source: Source, dims: Sequence[int] | None = None, max_points: int | None = None) -> Tensor:
    """Read a user's point cloud from CSV or NPY: float64 tensor (n, D), one point per row (``parse_point_cloud``).

    ``source`` is a path, bytes or a binary file-like object (e.g. a Streamlit upload); ``dims`` and ``max_points``
    as for ``parse_point_cloud``. Any problem raises ValueError saying what is wrong with the file.
    """
    raw, name = _read_bytes(source)
    return parse_point_cloud(raw, name, dims, max_points)


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
