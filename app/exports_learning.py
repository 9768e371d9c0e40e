"""Downloads of the learned-field pages: arrays as .npy, image grids as .png, loss logs as CSV (pure, no Streamlit)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a .npy file (float32 for floats; read back with ``numpy.load``)."""
    a = np.asarray(array)
    buf = io.BytesIO()
    np.save(buf, a.astype(np.float32) if a.dtype.kind == "f" else a, allow_pickle=False)
    return buf.getvalue()


def png_bytes(rgb: np.ndarray, scale: int = 8) -> bytes:
    """A uint8 RGB picture (h, w, 3) (e.g. ``figures_learning.image_grid``) enlarged ``scale`` times with crisp
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
