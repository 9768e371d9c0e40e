"""Downloads: field lines, their end points and point sets as CSV, arrays as .npy, image grids as .png, loss logs as
CSV (pure functions, no Streamlit)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image


def _fmt(values: Sequence[float]) -> str:
    return ",".join(f"{v:.6g}" for v in values)


def _coords(D: int) -> list[str]:
    return [f"x{i + 1}" for i in range(D)] + ["z"]


def lines_csv(paths: Sequence[np.ndarray], cases: Sequence[str]) -> str:
    """Every line as a polyline: ``line,case,point,x1..xD,z`` (one row per point, z last)."""
    D = paths[0].shape[1] - 1 if len(paths) else 1
    out = [",".join(["line", "case", "point"] + _coords(D))]
    for i, (path, case) in enumerate(zip(paths, cases, strict=True)):
        out.extend(f"{i},{case},{j},{_fmt(pt)}" for j, pt in enumerate(path))
    return "\n".join(out) + "\n"


def endpoints_csv(paths: Sequence[np.ndarray], cases: Sequence[str]) -> str:
    """Start and end of every line: ``line,case,start_x1..start_z,end_x1..end_z``."""
    D = paths[0].shape[1] - 1 if len(paths) else 1
    names = _coords(D)
    out = [",".join(["line", "case"] + [f"start_{c}" for c in names] + [f"end_{c}" for c in names])]
    out.extend(f"{i},{case},{_fmt(p[0])},{_fmt(p[-1])}" for i, (p, case) in enumerate(zip(paths, cases, strict=True)))
    return "\n".join(out) + "\n"


def points_csv(sets: dict[str, np.ndarray]) -> str:
    """Points of several named sets: ``set,x1..xD`` (one row per point)."""
    D = next((p.shape[1] for p in sets.values() if p.ndim == 2), 1)
    out = [",".join(["set"] + [f"x{i + 1}" for i in range(D)])]
    for name, pts in sets.items():
        out.extend(f"{name},{_fmt(p)}" for p in pts)
    return "\n".join(out) + "\n"


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a .npy file (float32 for floats; read back with ``numpy.load``)."""
    a = np.asarray(array)
    buf = io.BytesIO()
    np.save(buf, a.astype(np.float32) if a.dtype.kind == "f" else a, allow_pickle=False)
    return buf.getvalue()


def png_bytes(rgb: np.ndarray, scale: int = 8) -> bytes:
    """A uint8 RGB picture (h, w, 3) (e.g. ``app.figures.learned.image_grid``) enlarged ``scale`` times with crisp
    (nearest-neighbour) pixels, as PNG bytes."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB array (h, w, 3); got {rgb.dtype} {rgb.shape}.")
    img = Image.fromarray(rgb)
    img = img.resize((rgb.shape[1] * scale, rgb.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def loss_csv(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Loss logs ``model,step,loss`` (one row per model and step)."""
    out = ["model,step,loss"]
    for name, (steps, loss) in curves.items():
        out.extend(f"{name},{int(s)},{v:.6g}" for s, v in zip(steps, loss, strict=True))
    return "\n".join(out) + "\n"
