"""Theorem 3.1's map along a *learned* field: two-sided starts, lines in arc length through the whole space.

A point x on the start plate emits flux to both sides. ``transport_two_sided`` picks the side towards the other
plate ("front") with the probability ``forward_share`` estimates from the learned field, follows the line in arc
length (dX/ds = F / |F|, F = +E from P to Q or -E from Q back to P) wherever it goes, round the outside of both
plates if it left backwards, and ends it on the end plate by the plate rule of ``efm_core.exact_transport``: a
crossing from the front stops if the field just behind the plate points back into it, a crossing from behind stops if
the field just in front points into it; otherwise the line passes through and goes on. Lines that start backwards
are what a forward-only solver (``efm_core.transport``) misses: 40-50 % of P's flux in the Gaussian -> two Gaussians
toy at L = 6.

The field must be known outside the slab: ``nets.FieldSpaceMLP`` trained with the ``whole_space`` sampler. It sees
which side of each plate a point lies on; an RK4 step evaluates all four stages with the side flags of the point it
starts from, so no step mixes the two one-sided limits of the field at a plate (RK4 across the jump of E_z at a
charged plate has a spurious fixed point on the plate: lines there never cross).

Flux share from directions alone. The net gives unit vectors u, not |E|. Across a charged plate only E_z jumps; the
tangential part E_t is continuous. So E_z / |E_t| = u_z / |u_t| on each side, and the share of the flux leaving
towards the front, max(E_z^front, 0) / (max(E_z^front, 0) + max(-E_z^back, 0)) (signs along the direction of
travel), follows from the two unit vectors at distance ``delta`` on either side. On the exact field of 1024 charges
a plate it matches the split from the magnitudes to 1e-4 on average (tests/test_two_sided.py). On the Gaussian -> two
Gaussians toy at L = 6 a learned field's estimate differed from the exact share by 0.04 on average over 1000 points,
and learned and exact lines leave backwards equally often to within 0.06 (tests/test_pretrained.py).

Far field. Beyond ``REACH`` x L from the centre c = (0, L/2) (the sampler's outermost shell; the net was never trained
farther out) the line follows the leading term of the multipole expansion instead of the net: the field of the
dipole p = -L z-hat (unit charge at z = 0, minus unit charge at z = L, data centred at x = 0), whose lines
r = C sin^2(theta) come back at the mirror angle. Lines leaving P almost straight backwards make loops of any size
(1.4 % of the learned lines of the Gaussian -> two Gaussians toy at L = 6 went past 100 L), so without this term they
would be lost.

Step size: h = max(|X - c|, r_min) / steps: a line far out, where the field looks the same at every scale, takes
about 2 pi x steps steps per loop whatever its size. Lines still running after ``max_steps`` steps are **lost**: they
keep their last point and are counted, never NaN. NFE counts batched network calls (4 per RK4 step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import limits
from .exact_transport import check_delta
from .lines import BACKWARD, BEHIND, FRONT, LOST
from .nets import side_flags
from .sampler import SHELL_RADII

SpaceField = Callable[[Tensor, Tensor], Tensor]  # (X (B, D+1), side flags (B, 2)) -> unit directions (B, D+1)
SIDES = ("both", "forward")
REACH = SHELL_RADII[1]  # beyond this many L from the centre lines follow the dipole term, not the net
START_OFFSET = 1e-4  # lines start this many L off the start plate, on the chosen side


def space_field(net: nn.Module) -> SpaceField:
    """The unit direction field of a whole-space net (``FieldSpaceMLP``) as ``field(X, side) -> u``, evaluated
    without gradients on the net's device and dtype, returned in X's dtype; a zero output stays zero."""
    param = next(net.parameters())
    shape = net.data_shape

    def field(X: Tensor, side: Tensor) -> Tensor:
        with torch.no_grad():
            f_x, f_z = net(X[:, :-1].reshape(-1, *shape).to(param), X[:, -1].to(param), side.to(param))
        f = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1).to(X)
        norm = torch.linalg.vector_norm(f, dim=1, keepdim=True)
        return f / torch.where(norm > 0, norm, torch.ones_like(norm))

    return field


def dipole_direction(d: Tensor) -> Tensor:
    """(B, D+1) unit direction of the field of the dipole p = -z-hat (the plates seen from far away) at offsets ``d``
    (B, D+1) from the centre: 3 (p . r) r - p with r = d / |d|."""
    r = d / torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)
    p = torch.zeros_like(r)
    p[:, -1] = -1.0
    e = 3.0 * (r * p).sum(1, keepdim=True) * r - p
    return e / torch.linalg.vector_norm(e, dim=1, keepdim=True)


def _far_or_net(field: SpaceField, X: Tensor, side: Tensor, centre: Tensor, reach: float) -> Tensor:
    """The net's direction where |X - centre| <= reach, the dipole's beyond."""
    d = X - centre
    far = torch.linalg.vector_norm(d, dim=1) > reach
    if not far.any():
        return field(X, side)
    u = dipole_direction(d)
    near = ~far
    if near.any():
        u[near] = field(X[near], side[near])
    return u


def _at(x: Tensor, z: float) -> Tensor:
    return torch.cat([x, torch.full_like(x[:, :1], z)], dim=1)


def forward_share(field: SpaceField, x: Tensor, z_start: float, z_end: float, L: float, delta: float) -> Tensor:
    """(K,) estimated share of the flux of the line through x (K, D) on the plane ``z_start`` that leaves towards
    ``z_end`` (see the module notes); 1 where no flux leaves on either side."""
    s = 1.0 if z_end > z_start else -1.0
    front = _at(x, z_start + s * delta)
    back = _at(x, z_start - s * delta)
    u_front, u_back = field(front, side_flags(front[:, -1], L)), field(back, side_flags(back[:, -1], L))
    tiny = torch.finfo(x.dtype).tiny

    def normal_over_tangential(u: Tensor, sign: float) -> Tensor:
        return (sign * u[:, -1]).clamp(min=0) / torch.linalg.vector_norm(u[:, :-1], dim=1).clamp_min(tiny)

    # outflow F . n on the front side and F . (-n) on the back, with F = s E and n = s z-hat: E_z and -E_z for either s
    out_front = normal_over_tangential(u_front, 1.0)
    out_back = normal_over_tangential(u_back, -1.0)
    total = out_front + out_back
    return torch.where(total > 0, out_front / torch.where(total > 0, total, torch.ones_like(total)), torch.ones_like(total))


class TwoSidedLines(NamedTuple):
    """Outcome of ``transport_two_sided`` for B lines in R^{D+1} (z last); every tensor is finite.

    end: (B, D+1) end points (on the end plate, or the last point of a lost or frozen line); case: (B,) int64 index
    into ``lines.CASES``; finite: (B,) bool, False where the net gave NaN/inf and the line was frozen; nfe: batched
    network calls; path: (S+1, B, D+1) every line after each of the S steps taken (a finished line stays at its end
    point), or None unless requested.
    """

    end: Tensor
    case: Tensor
    finite: Tensor
    nfe: int
    path: Tensor | None


def _check(steps: int, max_steps: int, r_min: float, delta: float, sides: str, L: float) -> float:
    if sides not in SIDES:
        raise ValueError(f"sides must be one of {', '.join(SIDES)}; got {sides!r}.")
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        limits.check_count(name, value, limits.MAX_SOLVER_STEPS, why="solver steps per line")
    if not (isinstance(r_min, int | float) and r_min > 0):
        raise ValueError(f"r_min must be a number > 0 (the smallest step scale, data units); got {r_min!r}.")
    return check_delta(delta, L)


@torch.no_grad()
def transport_two_sided(
    field: SpaceField,
    x0: Tensor,
    z_start: float,
    z_end: float,
    L: float,
    *,
    sides: str = "both",
    seed: int = 0,
    steps: int = 25,
    r_min: float = 1.0,
    delta: float = 0.05,
    max_steps: int = 3000,
    return_path: bool = False,
) -> TwoSidedLines:
    """Carry ``x0`` (B, D) on the plate ``z_start`` (0 or L) along ``field`` to the plate ``z_end`` (L or 0).

    ``sides``: "both" (flux-weighted side choice, seeded by ``seed``) or "forward" (every line starts towards
    ``z_end``). Cases as ``lines.CASES``: backward (started behind the start plate, or went there), behind (crossed
    the end plate and came back), front (ended at its first crossing), lost (``max_steps`` or non-finite). ``steps``: RK4 steps per unit of max(|X - c|, r_min) of arc length (``r_min`` in data units);
    ``delta``: probe distance off the plates for the side choice and the plate rule; ``max_steps``: cap per line;
    ``return_path``: keep every line's position after every step (for pictures: (S+1) x B x (D+1) numbers).
    """
    delta = _check(steps, max_steps, r_min, delta, sides, L)
    B, D = x0.shape
    s = 1.0 if z_end > z_start else -1.0
    if sides == "both":
        draw = torch.rand(B, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64).to(x0.device)
        front = draw < forward_share(field, x0, z_start, z_end, L, delta).double()
        nfe = 2
    else:
        front = torch.ones(B, dtype=torch.bool, device=x0.device)
        nfe = 0
    offset = START_OFFSET * L * s * torch.where(front, 1.0, -1.0).to(x0)
    X = torch.cat([x0, (z_start + offset)[:, None]], dim=1)
    centre = X.new_zeros(D + 1)
    centre[-1] = L / 2
    case = torch.where(front, FRONT, BACKWARD).to(device=x0.device)
    running = torch.ones(B, dtype=torch.bool, device=x0.device)
    finite = torch.ones_like(running)
    path = [X.clone()] if return_path else None
    for _ in range(max_steps):
        idx = torch.nonzero(running, as_tuple=True)[0]
        if idx.numel() == 0:
            break
        Y = X[idx]
        side = side_flags(Y[:, -1], L)
        h = (torch.linalg.vector_norm(Y - centre, dim=1).clamp_min(r_min) / steps)[:, None] * s
        k1 = _far_or_net(field, Y, side, centre, REACH * L)
        k2 = _far_or_net(field, Y + 0.5 * h * k1, side, centre, REACH * L)
        k3 = _far_or_net(field, Y + 0.5 * h * k2, side, centre, REACH * L)
        k4 = _far_or_net(field, Y + h * k3, side, centre, REACH * L)
        nfe += 4
        Yn = Y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        ok = torch.isfinite(Yn).all(dim=1)
        finite[idx[~ok]] = False
        running[idx[~ok]] = False
        case[idx[~ok]] = LOST
        Yn = torch.where(ok[:, None], Yn, Y)
        before, after = (Y[:, -1] - z_end) * s, (Yn[:, -1] - z_end) * s
        from_front = ok & (before < 0) & (after >= 0)
        from_behind = ok & (before > 0) & (after <= 0)
        crossing = from_front | from_behind
        stop = torch.zeros_like(crossing)
        if crossing.any():
            c = torch.nonzero(crossing, as_tuple=True)[0]
            w = (before[c] / (before[c] - after[c]))[:, None]
            y = Y[c] + w * (Yn[c] - Y[c])
            y[:, -1] = z_end
            probe = y.clone()
            probe[:, -1] = z_end + torch.where(from_front[c], s * delta, -s * delta)
            u_z = field(probe, side_flags(probe[:, -1], L))[:, -1]
            nfe += 1
            ends = torch.where(from_front[c], u_z <= 0, u_z >= 0)
            stop[c] = ends
            Yn[c[ends]] = y[ends]
            passed = c[~ends]
            case[idx[passed]] = torch.where(case[idx[passed]] == FRONT, BEHIND, case[idx[passed]])
        went_behind = ok & ~stop & ((Yn[:, -1] - z_start) * s < 0)  # behind the start plate: a backward line (CASES)
        case[idx[went_behind]] = BACKWARD
        X[idx] = Yn
        running[idx[stop]] = False
        if path is not None:
            path.append(X.clone())
    case[running] = LOST
    return TwoSidedLines(X, case, finite, nfe, None if path is None else torch.stack(path))
