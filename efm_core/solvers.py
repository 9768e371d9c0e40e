"""ODE solvers: Algorithm 2 and better in the height z, and the Runge-Kutta steps in arc length.

One Dormand-Prince 5(4) tableau (``DP_C``, ``DP_A``, ``DP_B``, ``DP_E``) serves both adaptive solvers: ``transport``'s
``rk45`` in z here and the exact tracer in arc length (``lines``). ``rk4_step`` is the classic RK4 step of the
two-sided map along a learned field (``theorem.transport_two_sided``).

Solvers in z: lines are integrated in the height z: dx/dz = f_x / max(f_z, f_min), never dividing by a raw f_z.
Where the net's f_z drops to f_min or below (a line that would turn back, or a net that is simply wrong there) the
slope is guarded and the line is counted as ``turned_back``; it still ends on the far plate. If the net returns NaN
or inf for a line, or a step overflows, the line is frozen at its last finite point and counted as ``nonfinite``.
Nothing ever comes back NaN.

``euler`` (the paper's Algorithm 2: ``steps`` network calls), ``heun`` (2 per step) and ``rk45`` (Dormand-Prince
5(4) with per-line step size control on the error in x per unit z; ``rtol``/``atol``; 6 calls per attempted step
after the first). Forward runs go from z = 0 to z = L, ``reverse`` runs from z = L to z = 0 (back along the field,
e.g. Q -> P for a translation). ``snapshots=K`` records every line at K evenly spaced heights (linear interpolation
between solver steps) for animations. ``nfe`` counts batched network calls.

The field is any callable ``field(x (B, *shape), z (B,)) -> (f_x (B, *shape), f_z (B,))`` (``fields.FieldFn``);
``fields.learned_field`` turns a trained net into one, ``fields.pfgm_field`` a PFGM net into its field in log z.

``edm_sample`` is EDM's deterministic sampler in the noise level sigma (Karras et al. 2022, Algorithm 1 without
churn), PFGM++'s sampler: Heun (or Euler) steps of dx/dsigma = (x - D(x, sigma)) / sigma on ``edm_levels``, the last
step to sigma = 0 an Euler step; a line whose denoiser goes non-finite is frozen and counted as for ``transport``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import NamedTuple

import torch
from torch import Tensor

from . import limits
from .config import SOLVERS
from .fields import FieldFn

# Dormand-Prince 5(4): nodes, stage coefficients of stages 2..6, 5th-order weights (b7 = 0), and the error weights
# b - b* of the 7 stages (the 7th stage is the slope at the new point: FSAL)
DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
DP_A = (
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def rk4_step(f: Callable[[Tensor], Tensor], y: Tensor, h: Tensor) -> Tensor:
    """One classic RK4 step of dy/ds = f(y) from ``y`` (B, d) with step ``h`` (B, 1) (4 evaluations of f)."""
    k1 = f(y)
    k2 = f(y + 0.5 * h * k1)
    k3 = f(y + 0.5 * h * k2)
    k4 = f(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


class TransportResult(NamedTuple):
    """Outcome of ``transport`` for B lines.

    x: (B, *shape) end points (finite); z: (B,) end heights (z_end, or where a non-finite line was frozen);
    nfe: batched field evaluations; turned_back: (B,) bool, the slope guard f_z <= f_min was used on the line;
    nonfinite: (B,) bool, the field gave NaN/inf and the line was frozen; levels: (K,) snapshot heights or None;
    path: (K, B, *shape) the lines at those heights or None; case: (B,) int64 index into ``lines.CASES`` for the
    two-sided solver ``arc`` (``theorem.transport_two_sided``), None for the solvers in z.
    """

    x: Tensor
    z: Tensor
    nfe: int
    turned_back: Tensor
    nonfinite: Tensor
    levels: Tensor | None
    path: Tensor | None
    case: Tensor | None = None

    @property
    def bad(self) -> Tensor:
        """(B,) bool: lines that turned back, went non-finite, or (two-sided) were lost."""
        from .lines import LOST  # the tracer's case names; lines imports this module's tableau

        bad = self.turned_back | self.nonfinite
        return bad if self.case is None else bad | (self.case == LOST)

    def stats(self) -> dict:
        """Counts for reports: lines, NFE, turned back, non-finite, bad share; two-sided: the share of each case."""
        from .lines import CASES

        n = int(self.x.shape[0])
        out = {
            "lines": n,
            "nfe": self.nfe,
            "turned_back": int(self.turned_back.sum()),
            "nonfinite": int(self.nonfinite.sum()),
            "bad_share": float(self.bad.double().mean()) if n else 0.0,
        }
        if self.case is not None and n:
            out.update({f"{name}_share": float((self.case == i).double().mean()) for i, name in enumerate(CASES)})
        return out


class _Lines:
    """Mutable integration state shared by the solvers: positions, heights, flags, snapshots, NFE."""

    def __init__(self, field: FieldFn, x0: Tensor, z_start: float, z_end: float, f_min: float, snapshots: int) -> None:
        self.field, self.f_min, self.z_end = field, f_min, z_end
        self.x = x0.clone()
        B = x0.shape[0]
        self.z = torch.full((B,), float(z_start), dtype=x0.dtype, device=x0.device)
        self.turned_back = torch.zeros(B, dtype=torch.bool, device=x0.device)
        self.nonfinite = torch.zeros_like(self.turned_back)
        self.nfe = 0
        self.levels = torch.linspace(z_start, z_end, snapshots, dtype=x0.dtype, device=x0.device) if snapshots else None
        self.path = x0[None].repeat(snapshots, *([1] * x0.ndim)) if snapshots else None
        self.sign = 1.0 if z_end >= z_start else -1.0

    def slope(self, idx: Tensor, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Guarded dx/dz at lines ``idx``; returns (slope with non-finite rows zeroed, finite mask per line)."""
        self.nfe += 1
        f_x, f_z = self.field(x, z)
        f_z = f_z.to(x.dtype).reshape(-1)
        self.turned_back[idx] |= ~(f_z > self.f_min)
        s = f_x.to(x.dtype) / torch.clamp(f_z, min=self.f_min).reshape(-1, *([1] * (x.ndim - 1)))
        ok = torch.isfinite(s.flatten(1)).all(dim=1)
        return torch.where(ok.reshape(-1, *([1] * (x.ndim - 1))), s, torch.zeros_like(s)), ok

    def advance(self, idx: Tensor, x_new: Tensor, z_new: Tensor, ok: Tensor) -> None:
        """Move lines ``idx`` to (x_new, z_new) where ``ok`` and the result is finite; freeze the others."""
        ok = ok & torch.isfinite(x_new.flatten(1)).all(dim=1)
        self.nonfinite[idx[~ok]] = True
        idx_ok = idx[ok]
        x_old, z_old = self.x[idx_ok], self.z[idx_ok]
        self.x[idx_ok] = x_new[ok]
        self.z[idx_ok] = z_new[ok]
        if self.levels is not None and idx_ok.numel():
            self._record(idx_ok, x_old, z_old, x_new[ok], z_new[ok])

    def _record(self, idx: Tensor, x_old: Tensor, z_old: Tensor, x_new: Tensor, z_new: Tensor) -> None:
        lv = self.levels[:, None] * self.sign
        lo, hi = z_old[None, :] * self.sign, z_new[None, :] * self.sign
        cross = (lv > lo) & (lv <= hi)  # (K, b)
        if not cross.any():
            return
        k, j = torch.nonzero(cross, as_tuple=True)
        span = (z_new - z_old)[j]
        w = torch.where(span != 0, (self.levels[k] - z_old[j]) / torch.where(span != 0, span, torch.ones_like(span)), torch.ones_like(span))
        w = w.reshape(-1, *([1] * (x_new.ndim - 1)))
        self.path[k, idx[j]] = x_old[j] + w * (x_new[j] - x_old[j])

    def active(self) -> Tensor:
        return torch.nonzero(~self.nonfinite & ((self.z_end - self.z) * self.sign > 0), as_tuple=True)[0]

    def result(self) -> TransportResult:
        if self.path is not None:  # frozen lines keep their last point in the remaining snapshots
            reached = (self.levels[:, None] * self.sign) <= (self.z[None, :] * self.sign)
            self.path = torch.where(reached.reshape(*reached.shape, *([1] * (self.x.ndim - 1))), self.path, self.x[None])
        return TransportResult(self.x, self.z, self.nfe, self.turned_back, self.nonfinite, self.levels, self.path)


def _fixed_steps(lines: _Lines, z_start: float, z_end: float, steps: int, heun: bool) -> None:
    h = (z_end - z_start) / steps
    for i in range(steps):
        idx = lines.active()
        if idx.numel() == 0:
            return
        x = lines.x[idx]
        z = torch.full((idx.numel(),), z_start + i * h, dtype=x.dtype, device=x.device)
        z_next = torch.full_like(z, z_end if i == steps - 1 else z_start + (i + 1) * h)
        k1, ok = lines.slope(idx, x, z)
        x_new = x + h * k1
        if heun:
            k2, ok2 = lines.slope(idx, x_new, z_next)
            x_new = x + 0.5 * h * (k1 + k2)
            ok = ok & ok2
        lines.advance(idx, x_new, z_next, ok)


def _rk45(lines: _Lines, z_start: float, z_end: float, steps: int, rtol: float, atol: float, max_steps: int) -> None:
    span = z_end - z_start
    sign = 1.0 if span >= 0 else -1.0
    h_min = abs(span) / max_steps
    B = lines.x.shape[0]
    h = torch.full((B,), abs(span) / max(steps, 1), dtype=lines.x.dtype, device=lines.x.device)
    k_first = torch.zeros_like(lines.x)  # FSAL: the slope at every line's current point, once known
    have_first = torch.zeros(B, dtype=torch.bool, device=lines.x.device)
    while True:
        idx = lines.active()
        if idx.numel() == 0:
            return
        x, z = lines.x[idx], lines.z[idx]
        need = ~have_first[idx]
        if need.any():
            k, ok = lines.slope(idx[need], x[need], z[need])
            k_first[idx[need]] = k
            have_first[idx[need]] = True
            lines.nonfinite[idx[need][~ok]] = True
            keep = ~lines.nonfinite[idx]
            idx, x, z = idx[keep], x[keep], z[keep]
            if idx.numel() == 0:
                continue
        step = torch.minimum(h[idx], (z_end - z) * sign).clamp_min(0.0)
        hs = (sign * step).reshape(-1, *([1] * (x.ndim - 1)))
        ks = [k_first[idx]]
        ok = torch.ones(idx.numel(), dtype=torch.bool, device=x.device)
        for c, a in zip(DP_C[1:], (*DP_A, DP_B), strict=True):
            xi = x + hs * sum(ai * ki for ai, ki in zip(a, ks, strict=False) if ai != 0.0)
            k, ok_i = lines.slope(idx, xi, z + c * sign * step)
            ks.append(k)
            ok = ok & ok_i
        x5 = x + hs * sum(ai * ki for ai, ki in zip(DP_B, ks, strict=False) if ai != 0.0)
        err = hs * sum(ei * ki for ei, ki in zip(DP_E, ks, strict=True) if ei != 0.0)
        scale = atol + rtol * torch.maximum(x.abs(), x5.abs())
        e = torch.sqrt(torch.mean((err / scale).flatten(1) ** 2, dim=1))
        e = torch.where(torch.isfinite(e), e, torch.full_like(e, float("inf")))
        last = step >= (z_end - z) * sign  # this step lands on the plate
        accept = (e <= 1.0) | (step <= h_min) | ~ok
        z_new = torch.where(last, torch.full_like(z, z_end), z + sign * step)
        acc = torch.nonzero(accept, as_tuple=True)[0]
        lines.advance(idx[acc], x5[acc], z_new[acc], ok[acc])
        k_first[idx[acc]] = ks[6][acc]
        factor = torch.clamp(0.9 * e.clamp_min(1e-10) ** -0.2, 0.2, 5.0)
        factor = torch.where(accept, factor, factor.clamp(max=1.0))
        h[idx] = torch.maximum(step * factor, torch.full_like(step, h_min))


def edm_levels(steps: int, sigma_min: float, sigma_max: float, rho: float) -> list[float]:
    """EDM's sampling levels: ``steps`` values from sigma_max down to sigma_min, evenly spaced in sigma^(1/rho),
    then 0 (``steps`` + 1 values)."""
    if not (isinstance(steps, int) and 2 <= steps <= limits.MAX_SOLVER_STEPS):
        raise ValueError(f"the EDM sampler needs steps from 2 to {limits.MAX_SOLVER_STEPS} (levels from sigma_max to sigma_min); got {steps!r}.")
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + i / (steps - 1) * (b - a)) ** rho for i in range(steps)] + [0.0]


Denoiser = Callable[[Tensor, Tensor], Tensor]  # (x (B, *shape), sigma (B,)) -> denoised x (B, *shape)


@torch.no_grad()
def edm_sample(denoise: Denoiser, x0: Tensor, levels: list[float], heun: bool = True) -> TransportResult:
    """Carry ``x0`` (B, *shape) at sigma = levels[0] down the ``levels`` (decreasing, the last 0) with EDM's
    deterministic Heun steps (``heun=False``: Euler): 2 len(levels) - 3 denoiser calls for Heun. The result's z holds
    each line's last level (0, or where a non-finite line was frozen); levels and path are None."""
    x = x0.clone()
    B = x.shape[0]
    ok = torch.ones(B, dtype=torch.bool, device=x.device)
    z = torch.full((B,), float(levels[0]), dtype=x.dtype, device=x.device)
    nfe = 0

    def slope(x: Tensor, s: float) -> Tensor:
        return (x - denoise(x, torch.full((B,), s, dtype=x.dtype, device=x.device)).to(x)) / s

    for s, s_next in zip(levels[:-1], levels[1:], strict=True):
        d = slope(x, s)  # Euler step from s to s_next
        x_next = x + (s_next - s) * d
        nfe += 1
        if heun and s_next > 0:  # second-order correction (not on the last step to 0)
            x_next = x + (s_next - s) * 0.5 * (d + slope(x_next, s_next))
            nfe += 1
        ok = ok & torch.isfinite(x_next.flatten(1)).all(dim=1)
        x = torch.where(ok.reshape(-1, *([1] * (x.ndim - 1))), x_next, x)
        z = torch.where(ok, torch.full_like(z, s_next), z)
    none = torch.zeros_like(ok)
    return TransportResult(x, z, nfe, none, ~ok, None, None)


@torch.no_grad()
def transport(
    field: FieldFn,
    x0: Tensor,
    z_start: float,
    z_end: float,
    *,
    solver: str = "heun",
    steps: int = 50,
    f_min: float = 0.05,
    rtol: float = 1e-3,
    atol: float = 1e-3,
    max_steps: int = 1000,
    snapshots: int = 0,
) -> TransportResult:
    """Carry points ``x0`` (B, *shape) at height ``z_start`` along ``field`` to the plane ``z_end``.

    ``steps``: fixed steps (euler, heun) or the initial step count (rk45, which then adapts with ``rtol``/``atol``
    and never takes more than ``max_steps`` steps' worth of the span per line). ``f_min`` > 0: the slope guard.
    ``snapshots``: number of evenly spaced heights (from z_start to z_end inclusive) to record, 0 for none.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}.")
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        limits.check_count(name, value, limits.MAX_SOLVER_STEPS, why="solver steps per line")
    if not (isinstance(f_min, Real) and not isinstance(f_min, bool) and 0 < f_min < math.inf):
        raise ValueError(f"f_min must be a finite number > 0 (it guards the division by f_z); got {f_min!r}.")
    if not (isinstance(snapshots, int) and (snapshots == 0 or 2 <= snapshots <= limits.MAX_SOLVER_STEPS + 1)):
        raise ValueError(f"snapshots must be 0 or an integer from 2 (both plates) to {limits.MAX_SOLVER_STEPS + 1}; got {snapshots!r}.")
    if x0.ndim < 2 or not x0.is_floating_point():
        raise ValueError(f"x0 must be a float tensor (B, *shape); got {tuple(x0.shape)} {x0.dtype}.")
    if not torch.isfinite(x0).all():
        raise ValueError("x0 contains NaN or infinite values; give finite start points.")
    lines = _Lines(field, x0, float(z_start), float(z_end), float(f_min), snapshots)
    if z_end != z_start:
        if solver == "rk45":
            _rk45(lines, float(z_start), float(z_end), steps, rtol, atol, max_steps)
        else:
            _fixed_steps(lines, float(z_start), float(z_end), steps, heun=solver == "heun")
    return lines.result()
