"""Algorithm 2 and better: move points along a *learned* field between the plates, never dividing by a raw f_z.

Lines are integrated in the height z: dx/dz = f_x / max(f_z, f_min). Where the net's f_z drops to f_min or below
(a line that would turn back, or a net that is simply wrong there) the slope is guarded and the line is counted as
``turned_back``; it still ends on the far plate. If the net returns NaN or inf for a line, or a step overflows, the
line is frozen at its last finite point and counted as ``nonfinite``. Nothing ever comes back NaN.

Solvers: ``euler`` (the paper's Algorithm 2: ``steps`` network calls), ``heun`` (2 per step) and ``rk45``
(Dormand-Prince 5(4) with per-line step size control on the error in x per unit z; ``rtol``/``atol``; 6 calls per
attempted step after the first). Forward runs go from z = 0 to z = L, ``reverse`` runs from z = L to z = 0 (back
along the field, e.g. Q -> P for a translation). ``snapshots=K`` records every line at K evenly spaced heights
(linear interpolation between solver steps) for animations. ``nfe`` counts batched network calls.

The field is any callable ``field(x (B, *shape), z (B,)) -> (f_x (B, *shape), f_z (B,))``; ``learned_field`` turns
a trained net into one (for flow matching the velocity v = x1 - x0 becomes the field (v, L): dx/dz = v / L).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .lines import CASES, LOST
from .nets import FieldSpaceMLP
from .pfgm import pfgm_field, pfgm_prior, pfgmpp_prior, pfgmpp_sample
from .presets import ARC, SOLVERS, ExperimentConfig, make_source
from .two_sided import space_field, transport_two_sided

FieldFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]

# Dormand-Prince 5(4): nodes, stage coefficients, 5th-order weights and (5th - 4th)-order error weights
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


class TransportResult(NamedTuple):
    """Outcome of ``transport`` for B lines.

    x: (B, *shape) end points (finite); z: (B,) end heights (z_end, or where a non-finite line was frozen);
    nfe: batched field evaluations; turned_back: (B,) bool, the slope guard f_z <= f_min was used on the line;
    nonfinite: (B,) bool, the field gave NaN/inf and the line was frozen; levels: (K,) snapshot heights or None;
    path: (K, B, *shape) the lines at those heights or None; case: (B,) int64 index into ``lines.CASES`` for the
    two-sided solver ``arc`` (``efm_core.two_sided``), None for the solvers in z.
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
        bad = self.turned_back | self.nonfinite
        return bad if self.case is None else bad | (self.case == LOST)

    def stats(self) -> dict:
        """Counts for reports: lines, NFE, turned back, non-finite, bad share; two-sided: the share of each case."""
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
        for c, a in zip(_DP_C[1:], _DP_A[1:], strict=True):
            xi = x + hs * sum(ai * ki for ai, ki in zip(a, ks, strict=False) if ai != 0.0)
            k, ok_i = lines.slope(idx, xi, z + c * sign * step)
            ks.append(k)
            ok = ok & ok_i
        x5 = x + hs * sum(ai * ki for ai, ki in zip(_DP_A[6], ks, strict=False) if ai != 0.0)
        err = hs * sum(ei * ki for ei, ki in zip(_DP_E, ks, strict=True) if ei != 0.0)
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
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if not f_min > 0:
        raise ValueError(f"f_min must be > 0 (it guards the division by f_z); got {f_min!r}.")
    if not (isinstance(snapshots, int) and (snapshots == 0 or snapshots >= 2)):
        raise ValueError(f"snapshots must be 0 or an integer >= 2 (it includes both plates); got {snapshots!r}.")
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


def learned_field(net: nn.Module, objective: str, L: float) -> FieldFn:
    """The field of a trained net as ``field(x, z) -> (f_x, f_z)``, evaluated without gradients on the net's device
    and dtype, returned in the caller's dtype.

    EFM and PFGM nets regress a unit vector, so their output is normalised to unit length: then |dx/dz| <= 1 / f_min
    even where the net extrapolates wildly (off the training points an MLP's output grows with |x|, and a guarded
    but unnormalised slope can still grow exponentially along a line). For ``fm`` the net's velocity v (per unit
    t = z / L) becomes the field (v, L), i.e. dx/dz = v / L, unnormalised.
    """
    param = next(net.parameters())

    def field(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            f_x, f_z = net(x.to(param), z.to(param))
        if objective == "fm":
            return f_x.to(x), torch.full_like(f_z, float(L)).to(x)
        norm = torch.sqrt(f_x.flatten(1).square().sum(1) + f_z.square())
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))  # a zero output stays zero (and is guarded)
        return (f_x / norm.reshape(-1, *([1] * (f_x.ndim - 1)))).to(x), (f_z / norm).to(x)

    return field


def _solver_options(config: ExperimentConfig, overrides: dict) -> dict:
    """The config's solver options updated by ``overrides``; a different solver kind starts from its own defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    own = config.solver.get("kind", "heun")
    options = {**(config.solver if given.get("kind", own) == own else {}), **given}
    kind = options.pop("kind", "heun")
    return {"solver": kind, **options}


def _two_sided(net: nn.Module, config: ExperimentConfig, x0: Tensor, z_start: float, z_end: float, seed: int,
               options: dict) -> TransportResult:
    """The ``arc`` solver: ``two_sided.transport_two_sided`` with the net's field, as a ``TransportResult``."""
    options = dict(options)
    options.pop("solver")
    not_here = sorted(set(options) & {"f_min", "rtol", "atol", "snapshots"})
    if not_here:
        raise ValueError(f"the arc solver has no option(s) {not_here} (it needs no slope guard and records no heights).")
    if not isinstance(net, FieldSpaceMLP):
        raise ValueError("the arc solver needs a field learned in the whole space (net kind 'space_mlp').")
    flat = x0.flatten(1)
    lines = transport_two_sided(space_field(net), flat, z_start, z_end, config.L, seed=seed, **options)
    none = torch.zeros(flat.shape[0], dtype=torch.bool, device=flat.device)
    end = lines.end
    return TransportResult(end[:, :-1].reshape(x0.shape), end[:, -1], lines.nfe, none, ~lines.finite, None, None, lines.case)


def generate(net: nn.Module, config: ExperimentConfig, n: int, seed: int = 0, **solver: object) -> TransportResult:
    """Draw ``n`` samples of P (seeded) and carry them to Q: result with x of shape (n, *shape) on the net's device.

    PFGM and PFGM++ start on their prior and run back to the data on z = 0 (``one_plate_generate``).
    ``solver`` overrides the config's solver options (solver kind as ``kind``, steps, f_min, rtol, snapshots...).
    """
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be a positive integer; got {n!r}.")
    g = torch.Generator().manual_seed(int(seed))
    field = learned_field(net, config.objective, config.L)
    options = _solver_options(config, solver)
    device = next(net.parameters()).device
    if config.one_plate:
        return one_plate_generate(net, config, n, g, options)
    x0 = make_source(config.p).sample(n, g)
    if options["solver"] == ARC:
        return _two_sided(net, config, x0.to(device), 0.0, config.L, seed, options)
    return transport(field, x0.to(device), 0.0, config.L, **options)


def translate(net: nn.Module, config: ExperimentConfig, x: Tensor, reverse: bool = False, **solver: object) -> TransportResult:
    """Carry data ``x`` (n, *shape) from P (z = 0) to Q (z = L), or from Q back to P if ``reverse``."""
    if config.one_plate:
        raise ValueError(f"{config.objective} has data on one plate only; it generates but does not translate.")
    shape = make_source(config.p).shape
    if not isinstance(x, Tensor) or tuple(x.shape[1:]) != tuple(shape) or x.shape[0] < 1:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"inputs must have shape (n, {', '.join(map(str, shape))}) for this model; got {got}.")
    field = learned_field(net, config.objective, config.L)
    start, end = (config.L, 0.0) if reverse else (0.0, config.L)
    x0 = x.float().to(next(net.parameters()).device)
    options = _solver_options(config, solver)
    if options["solver"] == ARC:
        return _two_sided(net, config, x0, start, end, 0, options)
    return transport(field, x0, start, end, **options)


def one_plate_generate(net: nn.Module, config: ExperimentConfig, n: int, g: torch.Generator, options: dict) -> TransportResult:
    """PFGM: its prior on z = L carried along ``pfgm.pfgm_field`` in t = log z down to z_min (``transport``, the
    config's solver, RK45 for the presets); the result's z is the end height z_min. PFGM++: its prior at
    sigma_max = L carried by EDM's sampler (solver ``heun`` or ``euler`` with ``steps`` levels); z = 0."""
    o = config.method_options
    shape, device = make_source(config.p).shape, next(net.parameters()).device
    if config.objective == "pfgm":
        x0 = pfgm_prior(n, shape, config.L, o.radius, g).to(device)
        result = transport(pfgm_field(net, o, config.L), x0, math.log(config.L), math.log(o.z_min), **options)
        return result._replace(z=result.z.exp())
    unknown = sorted(set(options) - {"solver", "steps"})
    if options["solver"] not in ("heun", "euler") or unknown:
        raise ValueError(f"the PFGM++ sampler is EDM's: solver 'heun' or 'euler' with 'steps' only; got {options}.")
    x0 = pfgmpp_prior(n, shape, config.L, o.d_aug, g).to(device)
    x, nfe = pfgmpp_sample(net, x0, o, config.L, int(options.get("steps", 18)), heun=options["solver"] == "heun")
    ok = torch.isfinite(x.flatten(1)).all(1)
    x = torch.where(ok.reshape(-1, *([1] * (x.ndim - 1))), x, torch.zeros_like(x))
    none = torch.zeros_like(ok)
    return TransportResult(x, torch.zeros(n, device=x.device), nfe, none, ~ok, None, None)
