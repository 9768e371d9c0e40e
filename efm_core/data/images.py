"""Data beyond the toys: scikit-learn's 8x8 digits, coloured digits.

Nothing here downloads anything: the digits ship inside scikit-learn, everything else is the user's own file.

Conventions:

* images are float32 tensors of shape (n, C, H, W) with pixels in [-1, 1] (-1 = black background);
* the digits are ``X / 8 - 1`` of scikit-learn's 0..16 counts, shape (n, 1, 8, 8), labels int64 (n,);
* coloured digits are (n, 3, 8, 8): the stroke intensity ``s = X / 16`` in [0, 1] times the RGB of one hue at full
  saturation and value, mapped to [-1, 1]. Their grey image ``max over channels`` is exactly the original digit;
* hues are in degrees, [0, 360);
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor


class Digits(NamedTuple):
    """Images (n, C, 8, 8) float32 in [-1, 1] and their class labels (n,) int64."""

    images: Tensor
    labels: Tensor


class ColouredDigits(NamedTuple):
    """Coloured digits (n, 3, 8, 8) float32 in [-1, 1], labels (n,) int64 and stroke hues (n,) float32 in degrees."""

    images: Tensor
    labels: Tensor
    hues: Tensor


def _digits_counts() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as 0..16 counts (1797, 64) and labels (1797,): read straight from the CSV file that
    ships inside scikit-learn (importing scikit-learn itself takes seconds), else through its ``load_digits``."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",")
            return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    counts, labels = _digits_counts()
    images = (counts.astype(np.float32) / 8.0 - 1.0).reshape(-1, 1, 8, 8)
    return images, labels.astype(np.int64)


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
