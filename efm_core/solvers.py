"""Every ODE loop of the package: Algorithm 2 and better in the height z, the steps in arc length, EDM's sampler.

One Dormand-Prince 5(4) tableau (``DP_C``, ``DP_A``, ``DP_B``, ``DP_E``) serves both adaptive solvers: ``transport``'s
``rk45`` in z and ``dp_arc_step``, the step in arc length of the exact tracer (``lines.integrate``, which keeps its
stopping rules and cases). ``rk4_arc`` is the classic RK4 loop in arc length of the two-sided map along a learned
field (``theorem.transport_two_sided`` gives it the plate rule and the cases). Results are ``paths.Trajectory``.

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

The field is any ``fields.Field``: ``field(x (B, *shape), z (B,)) -> (f_x (B, *shape), f_z (B,))``;
``fields.learned_field`` turns a trained net into one, ``fields.pfgm_field`` a PFGM net into its field in log z.

``edm_sample`` is EDM's deterministic sampler in the noise level sigma (Karras et al. 2022, Algorithm 1 without
churn), PFGM++'s sampler: Heun (or Euler) steps of dx/dsigma = (x - D(x, sigma)) / sigma on ``edm_levels``, the last
step to sigma = 0 an Euler step; a line whose denoiser goes non-finite is frozen and counted as for ``transport``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import torch
from torch import Tensor

from . import limits
from .fields import Field
from .paths import SOLVERS, Trajectory
from .paths import TransportResult as TransportResult  # the older name of Trajectory, re-exported

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


def dp_tables(dtype: torch.dtype, device: torch.device) -> tuple[list[Tensor], Tensor, Tensor]:
    """The Dormand-Prince stage rows, 5th-order weights and error weights as tensors, for ``dp_arc_step``."""
    return (
        [torch.tensor(row, dtype=dtype, device=device) for row in DP_A],
        torch.tensor(DP_B, dtype=dtype, device=device),
        torch.tensor(DP_E, dtype=dtype, device=device),
    )


def _combine(coeff: Tensor, stages: Tensor) -> Tensor:
    """sum_j coeff_j stages_j for stages (J, b, d) and coeff (j <= J,): one matrix-vector product."""
    j, b, d1 = coeff.shape[0], stages.shape[1], stages.shape[2]
    return (coeff @ stages[:j].reshape(j, b * d1)).view(b, d1)


def dp_arc_step(direction: Callable[[Tensor], Tensor], direction_last: Callable[[Tensor], tuple[Tensor, object]],
                p: Tensor, k: Tensor, h: Tensor, tol_len: Tensor,
                tables: tuple[list[Tensor], Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor, object, Tensor]:
    """One attempted Dormand-Prince 5(4) step of dp/ds = u(p) in arc length for b lines (FSAL: 6 evaluations).

    p: (b, d) points, k: (b, d) the slope u(p) there, h: (b,) the step to try, tol_len: (b,) the local error allowed
    per step (length units). ``direction(X (b, d)) -> u``; ``direction_last`` gives the slope at the new point and
    anything else the caller wants there (the tracer: the nearest charges). Returns (accept (b,) bool, new point
    (b, d), its slope, that extra, next step size (b,): grown by at most 5, shrunk by at most 5, never grown after a
    rejection)."""
    coeff, b5, e7 = tables
    hcol = h[:, None]
    stages = p.new_empty(7, p.shape[0], p.shape[1])
    stages[0] = k
    for i, row in enumerate(coeff):
        stages[i + 1] = direction(torch.addcmul(p, hcol, _combine(row, stages)))
    p_new = torch.addcmul(p, hcol, _combine(b5, stages))
    stages[6], extra = direction_last(p_new)
    ratio = torch.linalg.vector_norm(_combine(e7, stages), dim=1).mul_(h / tol_len)
    accept = ratio <= 1.0
    grow = (0.9 * ratio.clamp(min=1e-10) ** -0.2).clamp(0.2, 5.0)
    return accept, p_new, stages[6], extra, h * torch.where(accept, grow, grow.clamp(max=1.0))


def rk4_step(f: Callable[[Tensor], Tensor], y: Tensor, h: Tensor) -> Tensor:
    """One classic RK4 step of dy/ds = f(y) from ``y`` (B, d) with step ``h`` (B, 1) (4 evaluations of f)."""
    k1 = f(y)
    k2 = f(y + 0.5 * h * k1)
    k3 = f(y + 0.5 * h * k2)
    k4 = f(y + h * k3)
    return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


Events = Callable[[Tensor, Tensor, Tensor, Tensor], tuple[Tensor, int]]  # (idx, Y, Yn, ok) -> (stop (b,), evals)


def rk4_arc(slope_at: Callable[[Tensor], Callable[[Tensor], Tensor]], X: Tensor, step: Callable[[Tensor], Tensor],
            events: Events, max_steps: int,
            return_path: bool = False) -> tuple[Tensor, Tensor, Tensor, int, Tensor | None]:
    """Carry B points ``X`` (B, d) (moved in place) by RK4 steps until ``events`` stops them or ``max_steps`` pass.

    Per step of the running lines Y (b, d): ``slope_at(Y)`` is the slope function of that step (the caller may freeze
    anything at Y in it), ``step(Y)`` (b, 1) the signed step. A line whose step is not finite stays at Y and stops
    (non-finite). ``events(idx, Y, Yn, ok)`` sees the step from Y to Yn of lines ``idx`` (ok: finite), may move Yn
    in place (onto a plate) and returns which lines stop and how many extra batched evaluations it made.
    Returns (X (B, d), running (B,) bool: still running after max_steps, finite (B,) bool, nfe (4 a step and the
    events'), path (S + 1, B, d) after every step or None).
    """
    running = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
    finite = torch.ones_like(running)
    path = [X.clone()] if return_path else None
    nfe = 0
    for _ in range(max_steps):
        idx = torch.nonzero(running, as_tuple=True)[0]
        if idx.numel() == 0:
            break
        Y = X[idx]
        Yn = rk4_step(slope_at(Y), Y, step(Y))
        nfe += 4
        ok = torch.isfinite(Yn).all(dim=1)
        finite[idx[~ok]] = False
        running[idx[~ok]] = False
        Yn = torch.where(ok[:, None], Yn, Y)
        stop, evals = events(idx, Y, Yn, ok)
        nfe += evals
        X[idx] = Yn
        running[idx[stop]] = False
        if path is not None:
            path.append(X.clone())
    return X, running, finite, nfe, None if path is None else torch.stack(path)


class _Lines:
    """Mutable integration state shared by the solvers: positions, heights, flags, snapshots, NFE."""

    def __init__(self, field: Field, x0: Tensor, z_start: float, z_end: float, f_min: float, snapshots: int) -> None:
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
        safe = torch.where(span != 0, span, torch.ones_like(span))
        w = torch.where(span != 0, (self.levels[k] - z_old[j]) / safe, torch.ones_like(span))
        w = w.reshape(-1, *([1] * (x_new.ndim - 1)))
        self.path[k, idx[j]] = x_old[j] + w * (x_new[j] - x_old[j])

    def active(self) -> Tensor:
        return torch.nonzero(~self.nonfinite & ((self.z_end - self.z) * self.sign > 0), as_tuple=True)[0]

    def result(self) -> Trajectory:
        if self.path is not None:  # frozen lines keep their last point in the remaining snapshots
            reached = (self.levels[:, None] * self.sign) <= (self.z[None, :] * self.sign)
            reached = reached.reshape(*reached.shape, *([1] * (self.x.ndim - 1)))
            self.path = torch.where(reached, self.path, self.x[None])
        return Trajectory(x=self.x, z=self.z, nfe=self.nfe, turned_back=self.turned_back, nonfinite=self.nonfinite,
                          levels=self.levels, path=self.path)


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
        raise ValueError(
            f"the EDM sampler needs steps from 2 to {limits.MAX_SOLVER_STEPS} (levels from sigma_max to sigma_min); "
            f"got {steps!r}."
        )
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + i / (steps - 1) * (b - a)) ** rho for i in range(steps)] + [0.0]


Denoiser = Callable[[Tensor, Tensor], Tensor]  # (x (B, *shape), sigma (B,)) -> denoised x (B, *shape)


@torch.no_grad()
def edm_sample(denoise: Denoiser, x0: Tensor, levels: list[float], heun: bool = True) -> Trajectory:
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
    return Trajectory(x=x, z=z, nfe=nfe, turned_back=torch.zeros_like(ok), nonfinite=~ok)


@torch.no_grad()
def transport(
    field: Field,
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
) -> Trajectory:
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
        raise ValueError(
            f"snapshots must be 0 or an integer from 2 (both plates) to {limits.MAX_SOLVER_STEPS + 1}; "
            f"got {snapshots!r}."
        )
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
