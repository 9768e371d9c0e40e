"""Algorithm 1's training points between the plates, and the regression targets at them.

Training points (model- and solver-agnostic, pure functions of tensors and a ``torch.Generator``):

* ``tent`` (default), ``constant``, ``none``: the paper's scheme. A height z ~ U(eps, L - eps), the point on the
  segment from a P sample (at z = 0) to a Q sample (at z = L) at that height, plus the noise of eq. (21),
  eps~ = |eps| m / |m| with m ~ N(0, I_D) and eps ~ N(0, s(t)^2 I_D), t = z / L, added to the data coordinates only
  (z is not perturbed). Its distribution is N(0, s(t)^2 I_D). ``tent`` uses s(t) = sigma * 2 min(t, 1 - t): no
  noise at the plates, ``sigma`` mid-gap (the project's training notes found constant noise near the plates makes
  the target in-plane there and causes flipped lines; upstream's ``gaussian_tube`` has the same shape);
  ``constant`` uses s = sigma, ``none`` s = 0.
* ``whole_space``: points in all of R^{D+1}, for a net that must know the field outside the slab too (two-sided
  transport, ``efm_core.theorem``: lines that leave P backwards loop round the outside). Half of the points are
  ``tent`` points between the plates; a fifth lie behind a plate (a P or Q sample plus noise up to ``sigma``, at
  depth |N(0, (L/4)^2)| below z = 0 or above z = L); the rest lie on shells round the centre (0, L/2) in random
  directions, with log-uniform radii from L/10 to 100 L, where the exterior lines go (the exact lines of the
  Gaussian -> two Gaussians toy at L = 6 reach 50 L in 1 % of cases). Heights are not limited to [0, L] here.

Pairing of the P and Q samples that span the segments: ``independent`` (as drawn) or ``ot`` (a minibatch optimal
transport plan on squared distances, as OT-CFM; the training notes suggest it keeps the colour of coloured digits).

Target at the points x~ = (x, z) in R^{D+1}, computed without gradients, in the points' dtype (float32 is enough):
``exact``, E / |E| of the exact two-plate field of all charges (``field.plate_field_at``), as the paper. PFGM's and
PFGM++'s training points and targets are their own (``efm_core.pfgm``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .field import plate_field_at
from .plates import check_gap, lift, make_plates

SCHEDULES = ("tent", "constant", "none", "whole_space")
WHOLE_SPACE_SHARES = (0.5, 0.2)  # whole_space: shares of tent points and of points behind a plate (the rest: shells)
BEHIND_DEPTH = 0.25  # whole_space: std of the depth behind a plate, in units of L
SHELL_RADII = (0.1, 100.0)  # whole_space: radii of the shells round the centre, in units of L
PAIRINGS = ("independent", "ot")
TARGETS = ("exact",)


@dataclass(frozen=True)
class SamplerConfig:
    """How training points are drawn. ``sigma``: noise scale in data units (tent: the mid-gap std); ``eps``:
    margin, heights lie in [eps, L - eps]; ``pairing``: 'independent' or 'ot'."""

    kind: str = "tent"
    sigma: float = 0.05
    eps: float = 0.0
    pairing: str = "independent"

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"sampler kind must be one of {', '.join(SCHEDULES)}; got {self.kind!r}.")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"sampler pairing must be one of {', '.join(PAIRINGS)}; got {self.pairing!r}.")
        for name in ("sigma", "eps"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0):
                raise ValueError(f"sampler {name} must be a finite number >= 0; got {value!r}.")

    @classmethod
    def from_dict(cls, spec: dict) -> SamplerConfig:
        """Build from a JSON dict; unknown keys are an error (a typo would otherwise be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown sampler option(s) {unknown}; known: {sorted(known)}.")
        return cls(**spec)

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingPoints(NamedTuple):
    """Training points: data coordinates ``x`` (B, *shape), heights ``z`` (B,) in [0, L] (any height for the
    ``whole_space`` kind), ``t = z / L`` (B,)."""

    x: Tensor
    z: Tensor
    t: Tensor

    def lifted(self) -> Tensor:
        """(B, D+1) points in R^{D+1}, flattened data coordinates with z last."""
        return lift(self.x.flatten(1), self.z)


def ot_pairing(p: Tensor, q: Tensor) -> Tensor:
    """Reorder ``q`` (B, ...) so that row i is paired with row i of ``p`` (B, ...) by the exact assignment that
    minimises the summed squared distance (a minibatch OT plan). Returns the reordered q."""
    if p.shape[0] != q.shape[0]:
        raise ValueError(f"OT pairing needs as many P as Q samples; got {p.shape[0]} and {q.shape[0]}.")
    cost = torch.cdist(p.flatten(1).double(), q.flatten(1).double()).square().cpu().numpy()
    from scipy.optimize import linear_sum_assignment  # here, not at the top: importing scipy.optimize takes seconds

    rows, cols = linear_sum_assignment(cost)
    order = np.empty_like(cols)
    order[rows] = cols
    return q[torch.from_numpy(order).to(q.device)]


def _uniform(n: int, g: torch.Generator, like: Tensor) -> Tensor:
    return torch.rand(n, generator=g, device=like.device, dtype=like.dtype)


def _gaussian_like(x: Tensor, g: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)


def eq21_noise(shape: tuple[int, ...], scale: Tensor, g: torch.Generator, like: Tensor) -> Tensor:
    """eps~ = |eps| m / |m| of eq. (21) with eps ~ N(0, scale^2 I_D), m ~ N(0, I_D), per row: (B, *shape).

    ``scale`` (B,) is the per-point standard deviation. In distribution this equals N(0, scale^2 I_D)."""
    B = shape[0]
    eps = torch.randn(shape, generator=g, device=like.device, dtype=like.dtype).flatten(1)
    m = torch.randn(shape, generator=g, device=like.device, dtype=like.dtype).flatten(1)
    m_norm = torch.linalg.vector_norm(m, dim=1, keepdim=True).clamp_min(torch.finfo(like.dtype).tiny)
    radius = torch.linalg.vector_norm(eps, dim=1, keepdim=True) * scale.reshape(B, 1)
    return (radius * m / m_norm).reshape(shape)


def noise_scale(t: Tensor, config: SamplerConfig) -> Tensor:
    """Standard deviation s(t) (B,) of the eq. (21) noise at relative heights t = z / L (paper kinds only)."""
    if config.kind == "tent":
        return config.sigma * 2.0 * torch.minimum(t, 1.0 - t)
    if config.kind == "constant":
        return torch.full_like(t, config.sigma)
    return torch.zeros_like(t)


def first_pairs(p: Tensor, q: Tensor | None, n: int) -> tuple[Tensor, Tensor | None]:
    """The first n (or fewer, when a finite data set is smaller) items of each plate's batch, equally many of each."""
    k = min(n, p.shape[0], p.shape[0] if q is None else q.shape[0])
    return p[:k], None if q is None else q[:k]


def sample_points(p: Tensor, q: Tensor | None, L: float, config: SamplerConfig, generator: torch.Generator) -> TrainingPoints:
    """Training points for B pairs: ``p`` (B, *shape) samples of P (z = 0), ``q`` (B, *shape) samples of Q (z = L).

    Everything is drawn with ``generator`` on the device and in the dtype of ``p``. Heights lie in [eps, L - eps]
    (``whole_space``: anywhere).
    """
    L = check_gap(L)
    if config.eps * 2 >= L:
        raise ValueError(f"sampler eps = {config.eps} leaves no room between the plates (L = {L}); use eps < L / 2.")
    if q is None:
        raise ValueError(f"the {config.kind!r} sampler interpolates between P and Q samples; give Q samples.")
    if q.shape != p.shape:
        raise ValueError(f"P and Q batches must have the same shape; got {tuple(p.shape)} and {tuple(q.shape)}.")
    if config.pairing == "ot":
        q = ot_pairing(p, q)
    B = p.shape[0]
    lo, hi = config.eps, L - config.eps
    if config.kind == "whole_space":
        return _whole_space_points(p, q, L, config, generator)
    z = lo + (hi - lo) * _uniform(B, generator, p)
    t = z / L
    tb = t.reshape(B, *([1] * (p.ndim - 1)))
    x = (1.0 - tb) * p + tb * q
    if config.kind in ("tent", "constant"):
        x = x + eq21_noise(tuple(p.shape), noise_scale(t, config), generator, p)
    return TrainingPoints(x, z, t)


def _whole_space_points(p: Tensor, q: Tensor, L: float, config: SamplerConfig, g: torch.Generator) -> TrainingPoints:
    """The ``whole_space`` kind (see the module notes): tent points, points behind a plate, points on far shells."""
    B = p.shape[0]
    n_tent = round(WHOLE_SPACE_SHARES[0] * B)
    n_behind = round(WHOLE_SPACE_SHARES[1] * B)
    n_shell = B - n_tent - n_behind
    tent = sample_points(p[:n_tent], q[:n_tent], L, SamplerConfig(kind="tent", sigma=config.sigma, eps=config.eps), g)
    sl = slice(n_tent, n_tent + n_behind)
    on_q = _uniform(n_behind, g, p) < 0.5
    base = torch.where(on_q.reshape(-1, *([1] * (p.ndim - 1))), q[sl], p[sl])
    x_behind = base + eq21_noise(tuple(base.shape), config.sigma * _uniform(n_behind, g, p), g, p)
    depth = torch.randn(n_behind, generator=g, device=p.device, dtype=p.dtype).abs() * BEHIND_DEPTH * L
    z_behind = torch.where(on_q, L + depth, -depth)
    D = math.prod(p.shape[1:])
    direction = torch.randn(n_shell, D + 1, generator=g, device=p.device, dtype=p.dtype)
    direction = direction / torch.linalg.vector_norm(direction, dim=1, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
    lo, hi = (math.log(f * L) for f in SHELL_RADII)
    radius = torch.exp(lo + (hi - lo) * _uniform(n_shell, g, p))[:, None]
    shell = direction * radius
    x = torch.cat([tent.x, x_behind, shell[:, :-1].reshape(n_shell, *p.shape[1:])])
    z = torch.cat([tent.z, z_behind, L / 2 + shell[:, -1]])
    return TrainingPoints(x, z, z / L)


@torch.no_grad()
def field_target(
    points: Tensor, p: Tensor, q: Tensor | None, L: float, kind: str = "exact", chunk_elements: int = 1 << 22
) -> Tensor:
    """Regression target (B, D+1) at ``points`` (B, D+1, z last) for charges ``p`` (N, D) on z = 0 and ``q`` (M, D)
    on z = L (flattened data coordinates), computed in the dtype and on the device of ``points``.

    The target is a unit vector.
    """
    if kind not in TARGETS:
        raise ValueError(f"target kind must be one of {', '.join(TARGETS)}; got {kind!r}.")
    p = p.to(points)
    if q is None:
        raise ValueError(f"the {kind!r} target needs charges on both plates.")
    q = q.to(points)
    return plate_field_at(points, make_plates(p, q, L), chunk_elements=chunk_elements).direction
