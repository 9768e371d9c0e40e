"""Seedable toy distributions in D = 1 and D = 2 (the paper's toys and classic 2-D benchmarks).

Every sampler takes ``(n, D, generator)`` and returns an (n, D) float64 tensor; ``sample_toy(name, n, D, seed)`` is
the entry point. D = 1 versions are the natural 1-D analogues (the first coordinate of the 2-D shape where that makes
sense). Units are arbitrary data units; the toys are scaled like the paper's (Gaussian of variance 1, mixture modes
at +-8).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import torch
from torch import Tensor

Sampler = Callable[[int, int, torch.Generator], Tensor]


def _normal(n: int, D: int, g: torch.Generator) -> Tensor:
    return torch.randn(n, D, generator=g, dtype=torch.float64)


def gaussian(n: int, D: int, g: torch.Generator) -> Tensor:
    """Standard normal N(0, I)."""
    return _normal(n, D, g)


def two_gaussians(n: int, D: int, g: torch.Generator) -> Tensor:
    """The paper's mixture 1/2 N((-8, 0), I) + 1/2 N((8, 0), I)."""
    sign = torch.randint(0, 2, (n,), generator=g).double() * 2 - 1
    x = _normal(n, D, g)
    x[:, 0] += 8.0 * sign
    return x


def _swiss_roll_2d(n: int, g: torch.Generator) -> Tensor:
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g, dtype=torch.float64))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1)
    return (x + 0.8 * torch.randn(n, 2, generator=g, dtype=torch.float64)) / 5.0


def swiss_roll(n: int, D: int, g: torch.Generator) -> Tensor:
    """The authors' Swiss roll: scikit-learn's ``make_swiss_roll(noise=0.8)`` in its two rolled coordinates, / 5
    (std about 1.33 and 1.40, range about [-3, 3])."""
    return _first(_swiss_roll_2d(n, g), D)


def two_moons(n: int, D: int, g: torch.Generator) -> Tensor:
    """Two interleaving half circles, noise 0.1, scaled by 3 and centred."""
    k = torch.randint(0, 2, (n,), generator=g)
    t = math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(k[:, None] == 0, upper, lower) + 0.1 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return _first((x - torch.tensor([0.5, 0.25], dtype=torch.float64)) * 3.0, D)


def eight_gaussians(n: int, D: int, g: torch.Generator) -> Tensor:
    """Eight Gaussians (std 0.5) on a circle of radius 5."""
    k = torch.randint(0, 8, (n,), generator=g).double()
    centres = 5.0 * torch.stack([torch.cos(k * math.pi / 4), torch.sin(k * math.pi / 4)], 1)
    return _first(centres + 0.5 * torch.randn(n, 2, generator=g, dtype=torch.float64), D)


def rings(n: int, D: int, g: torch.Generator) -> Tensor:
    """Three concentric rings of radii 2, 4, 6 (noise 0.15)."""
    r = 2.0 * (1 + torch.randint(0, 3, (n,), generator=g).double())
    t = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    x = r[:, None] * torch.stack([torch.cos(t), torch.sin(t)], 1)
    return _first(x + 0.15 * torch.randn(n, 2, generator=g, dtype=torch.float64), D)


def checkerboard(n: int, D: int, g: torch.Generator) -> Tensor:
    """A 4 x 4 checkerboard on [-4, 4]^2: uniform on the eight squares whose column + row index is even."""
    x1 = 8 * torch.rand(n, generator=g, dtype=torch.float64) - 4
    col = torch.floor((x1 + 4) / 2).clamp(max=3)
    row = 2 * torch.randint(0, 2, (n,), generator=g).double() + col.remainder(2)
    x2 = -4 + 2 * row + 2 * torch.rand(n, generator=g, dtype=torch.float64)
    return _first(torch.stack([x1, x2], 1), D)


def uniform_disc(n: int, D: int, g: torch.Generator) -> Tensor:
    """Uniform on the disc (D = 2) or interval (D = 1) of radius 3."""
    if D == 1:
        return 6 * torch.rand(n, 1, generator=g, dtype=torch.float64) - 3
    r = 3 * torch.sqrt(torch.rand(n, generator=g, dtype=torch.float64))
    t = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1)


def single_point(n: int, D: int, g: torch.Generator) -> Tensor:
    """All mass at the origin (n copies of 0): a point charge."""
    return torch.zeros(n, D, dtype=torch.float64)


def _first(x2d: Tensor, D: int) -> Tensor:
    return x2d[:, :1].contiguous() if D == 1 else x2d


TOYS: dict[str, Sampler] = {
    "gaussian": gaussian,
    "two_gaussians": two_gaussians,
    "swiss_roll": swiss_roll,
    "two_moons": two_moons,
    "eight_gaussians": eight_gaussians,
    "rings": rings,
    "checkerboard": checkerboard,
    "uniform_disc": uniform_disc,
    "single_point": single_point,
}


def _integer(value: object) -> int | None:
    """``value`` as a Python int if it is an integer (int or numpy integer, not bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def sample_toy(name: str, n: int, D: int = 2, seed: int | None = 0) -> Tensor:
    """Draw ``n`` samples of the toy ``name`` in dimension ``D`` (1 or 2): float64 tensor (n, D)."""
    if not isinstance(name, str) or name not in TOYS:
        raise ValueError(f"unknown toy {name!r}; choose one of: {', '.join(TOYS)}.")
    if _integer(D) not in (1, 2):
        raise ValueError(f"toys exist for D = 1 and D = 2; got D = {D!r}.")
    if _integer(n) is None or _integer(n) < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    if seed is not None and _integer(seed) is None:
        raise ValueError(f"seed must be an integer or None; got {seed!r}.")
    g = torch.Generator().manual_seed(_integer(seed) if seed is not None else torch.seed())
    return TOYS[name](_integer(n), _integer(D), g)
