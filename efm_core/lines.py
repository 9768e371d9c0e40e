"""Field lines of the exact two-plate field: a batched adaptive tracer in arc length, and Theorem 3.1's cases.

A field line solves dp/ds = E(p) / |E(p)| in arc length s (never dx/dz, which is singular where E_z changes sign).
All lines advance together with Dormand-Prince 5(4) (``solvers.dp_arc_step``: FSAL, 6 field evaluations per attempted
step), each with its own step size; the state of the running lines is compacted whenever some stop. This module holds
the rules (step cap, capture, the plate rule, loss) and the cases; ``trace_robust`` traces in float32 and again in
float64 the lines float32 lost. The field comes from one ``FieldEvaluator``
per trace (the plates prepared once; at D <= 3 power weights without log/exp), whose last evaluation of a step also
gives the distances to the nearest charges.

Numerics (all scale-free, in units of the charges' geometry):

* ``spacing``: median nearest-neighbour distance of a plate's charges (0 when a plate has no two distinct charges),
  ``rho`` = 1e-3 x min(spacing, L) per plate (1e-3 x L when the spacing is 0), but at least 64 float epsilons of the
  largest coordinate (binding in float32 when charges are dense, e.g. 512 a plate at D = 1: below it a line cannot
  resolve its approach, and every line was lost): lines start ``rho`` off a positive charge and are captured within
  ``rho`` of a negative one;
* step cap h <= 0.5 x (distance to the nearest charge of either sign): a step never jumps over a charge, and a line
  converges geometrically into a negative charge; the local error tolerance is ``tol`` x (that same distance). A line
  never returns to the positive charge it leaves, so that charge does not cap its steps: the cap uses a lower bound
  on the distance to the *other* positive charges, max(d+, s0 - r) (r = distance to its own charge, s0 = that charge's
  distance to its nearest other positive charge; triangle inequality). Only the step cap changes, not the tolerance,
  and it saves 8-17% of the steps (D = 1, 2, tol 1e-4 and 1e-3) with as many end charges as before agreeing with
  tol 1e-6 (512 lines each, see docs/performance_tracer.md);
* lost: farther than R = 50 x max(L, extent of the charges) from their centre, longer than 20 R, no field (a zero of
  E), a step below float resolution, or ``max_steps`` attempted steps. So no input makes the tracer run unbounded.

Stopping rules. ``trace_lines`` (default) ends a line only on a negative charge. With ``plate_delta`` set it also
applies Theorem 3.1's plate rule: an upward crossing of z = L at y stops there if E_z(y, L + delta) <= 0 (the field
just behind the plate points back into it), else the line goes on; a downward crossing stops if E_z(y, L - delta) >= 0.

Cases (``CASES``), in this order of precedence: **lost**; **backward** (went below z = -t_back: left P backwards and
looped round); **behind** (went above z = L + t_behind: crossed the Q plate and came back from behind); **front**
(ended at its first crossing of z = L). With the plate rule the thresholds are 0 (the events are exact); with charge
capture only they are min(spacing, L) of the plate concerned, so lines that weave between neighbouring charges of a
plate are not counted as crossing it (0 for a plate whose charges all coincide). ``LineTrace.side`` is the local
fact of which side of z = L the line's last step came from, so a front line may reach its charge from just above.

Cost: 6 field evaluations of the active lines per step, 40-100 steps per line. At tol >= 1e-4 most steps are set
by the step cap, not by the error control (D = 2, 512 charges a plate): a tol above 1e-3 saves little, and 1e-6
costs about twice the steps. 64 lines between 512 + 512 charges at D = 2 take ~0.09 s in float32 on one core
(docs/performance_tracer.md), about 60% of it in the field. The tensors are small: on a busy CPU one torch thread is
much faster than several (``torch.set_num_threads(1)``; measured 5x on a shared 2-core machine).
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import NamedTuple

import torch
from torch import Tensor

from . import limits
from .field import FieldEvaluator, nearest
from .paths import BACKWARD, BEHIND, FRONT, LOST
from .paths import CASES as CASES  # the cases live in paths (below solvers); re-exported here
from .plates import Plates, check_points, check_positive_int, is_number, plate_stops, systematic_indices
from .solvers import dp_arc_step, dp_tables

RHO_FRACTION = 1e-3  # start / capture radius in units of min(spacing, L) ...
RHO_RESOLUTION = 64.0  # ... but at least this many float epsilons of the largest coordinate (float32 at D = 1)
STEP_CAP = 0.5  # h <= STEP_CAP x distance to the nearest charge
RADIUS_FACTOR = 50.0  # lost beyond RADIUS_FACTOR x max(L, extent) from the centre of the charges
LENGTH_FACTOR = 20.0  # lost when longer than LENGTH_FACTOR x that radius
SPACING_SAMPLE = 1024  # rows used to estimate a plate's median nearest-neighbour spacing
_IN_PARTS = "lines in one trace: trace more in several calls"
CROSSING_BISECTIONS = 40  # bisection steps to locate a crossing of z = L on a step's Hermite cubic (at most)

class LineTrace(NamedTuple):
    """K traced field lines in R^{D+1} (z last). Every tensor is finite (no NaN, ever).

    start: (K, D+1) start points. end: (K, D+1) end points: the negative charge's position when captured, the
        crossing point (z = L) when stopped by the plate rule, the last point reached when lost.
    case: (K,) int64 index into ``CASES``. end_charge: (K,) int64 index of the capturing negative charge, -1 if none.
    start_charge: (K,) int64 index of the positive charge the line leaves, -1 for a start at a given point.
    flux: (K,) share of the positive plate's flux the line stands for (sums to 1 over lines started at charges;
        1/K each for given start points).
    crossed: (K,) bool, the line reached z = L at least once. crossing: (K, D+1) its first point on z = L (the end
        point where it never crossed). side: (K,) int64, the side of z = L the line arrived from at its end:
        -1 front (z < L), +1 behind (z > L), 0 lost.
    length: (K,) arc length. steps: (K,) attempted steps (accepted + rejected). evals: (K,) field evaluations.
    paths: None, or K tensors (n_k, D+1) from start to end, thinned to at most ``max_path_points`` points.
    """

    start: Tensor
    end: Tensor
    case: Tensor
    end_charge: Tensor
    start_charge: Tensor
    flux: Tensor
    crossed: Tensor
    crossing: Tensor
    side: Tensor
    length: Tensor
    steps: Tensor
    evals: Tensor
    paths: list[Tensor] | None


class Geometry(NamedTuple):
    """What the integrator needs to know about the plates, in the working dtype and device."""

    plates: Plates
    field: FieldEvaluator  # the exact field of ``plates``, prepared once for the whole trace
    pos: Tensor  # (N, D+1) lifted positive charges
    neg: Tensor  # (M, D+1) lifted negative charges
    spacing_pos: float  # median nearest-neighbour spacing, 0 if no two charges differ
    spacing_neg: float
    rho_pos: float
    rho_neg: float
    centre: Tensor  # (D+1,)
    radius: float


def median_spacing(points: Tensor) -> float:
    """Median distance from a point of ``points`` (n, d) to its nearest distinct neighbour (0 if there is none).

    Uses at most ``SPACING_SAMPLE`` evenly spaced rows against all points, so the cost is O(SPACING_SAMPLE x n).
    """
    n = points.shape[0]
    if n < 2:
        return 0.0
    rows = points[torch.linspace(0, n - 1, min(n, SPACING_SAMPLE)).round().long()]
    dist = nearest(rows, points, distinct=True)[0]
    dist = dist[torch.isfinite(dist) & (dist > 0)]
    return float(dist.median()) if dist.numel() else 0.0


def geometry(plates: Plates, dtype: torch.dtype) -> Geometry:
    """Spacings, capture radii, the loss radius and the field evaluator of ``plates`` (moved to ``dtype``)."""
    field = FieldEvaluator(plates, dtype=dtype)
    plates = field.plates
    pos, neg = plates.lifted_pos(), plates.lifted_neg()
    s_pos, s_neg = median_spacing(plates.pos), median_spacing(plates.neg)
    centre = 0.5 * (pos.mean(0) + neg.mean(0))
    extent = float(torch.linalg.vector_norm(torch.cat([pos, neg]) - centre, dim=1).max())
    floor = RHO_RESOLUTION * torch.finfo(dtype).eps * float(torch.cat([pos, neg]).abs().max())
    return Geometry(
        plates,
        field,
        pos,
        neg,
        s_pos,
        s_neg,
        max(RHO_FRACTION * min(s_pos or plates.L, plates.L), floor),
        max(RHO_FRACTION * min(s_neg or plates.L, plates.L), floor),
        centre,
        RADIUS_FACTOR * max(plates.L, extent),
    )


def _hermite(p0: Tensor, k0: Tensor, p1: Tensor, k1: Tensor, h: Tensor, t: Tensor) -> Tensor:
    """Cubic Hermite point at fraction t (B,) of a step of length h (B,) from p0 (slope k0) to p1 (slope k1)."""
    t = t[:, None]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * p0
        + (t3 - 2 * t2 + t) * h[:, None] * k0
        + (-2 * t3 + 3 * t2) * p1
        + (t3 - t2) * h[:, None] * k1
    )


def _crossing_point(p0: Tensor, k0: Tensor, p1: Tensor, k1: Tensor, h: Tensor, L: float) -> Tensor:
    """Where the step's Hermite cubic meets z = L (z0 - L and z1 - L of opposite signs); z set to L exactly.

    Bisection on the cubic's z - L = ((a t + b) t + c) t + d alone; the whole point only at the end.
    """
    z0, z1, hk0, hk1 = p0[:, -1], p1[:, -1], h * k0[:, -1], h * k1[:, -1]
    a = 2 * (z0 - z1) + hk0 + hk1
    b = 3 * (z1 - z0) - 2 * hk0 - hk1
    d = z0 - L
    lo = torch.zeros_like(h)
    hi = torch.ones_like(h)
    below0 = d < 0
    for _ in range(min(CROSSING_BISECTIONS, 2 - round(math.log2(torch.finfo(h.dtype).eps)))):  # t's resolution
        mid = 0.5 * (lo + hi)
        same = ((a * mid + b).mul_(mid).add_(hk0).mul_(mid).add_(d) < 0) == below0
        lo = torch.where(same, mid, lo)
        hi = torch.where(same, hi, mid)
    y = _hermite(p0, k0, p1, k1, h, 0.5 * (lo + hi))
    y[:, -1] = L
    return y


def _thin(path: Tensor, max_points: int) -> Tensor:
    n = path.shape[0]
    if n <= max_points:
        return path
    return path[torch.linspace(0, n - 1, max_points).round().long()]


def _source_gap(geo: Geometry, source: Tensor | None, start: Tensor) -> tuple[Tensor, Tensor]:
    """(K, D+1) the positive charge each line leaves (its start point if none) and (K,) that charge's distance to the
    nearest other distinct positive charge (inf if there is none; 0 for lines that leave no charge: no relaxation)."""
    if source is None:
        return start, start.new_zeros(start.shape[0])
    uniq, inverse = torch.unique(source, return_inverse=True)
    gap = nearest(geo.pos[uniq.clamp(min=0)], geo.pos, distinct=True)[0][inverse]
    has = source >= 0
    return torch.where(has[:, None], geo.pos[source.clamp(min=0)], start), torch.where(has, gap, 0.0)


class _Outputs:
    """The (K,) per-line results of ``integrate``, written once when a line stops (and the paths' pieces so far)."""

    def __init__(self, start: Tensor) -> None:
        K, dev = start.shape[0], start.device
        self.end = start.clone()
        self.end_charge = torch.full((K,), -1, dtype=torch.long, device=dev)
        self.side = torch.zeros(K, dtype=torch.long, device=dev)
        self.lost = torch.zeros(K, dtype=torch.bool, device=dev)
        self.crossed = torch.zeros(K, dtype=torch.bool, device=dev)
        self.crossing = start.clone()
        self.length = torch.zeros(K, dtype=start.dtype, device=dev)
        self.steps = torch.zeros(K, dtype=torch.long, device=dev)
        self.probes = torch.zeros(K, dtype=torch.long, device=dev)
        self.zmin = start[:, -1].clone()
        self.zmax = start[:, -1].clone()
        self.path_idx: list[Tensor] = [torch.arange(K, device=dev)]
        self.path_pts: list[Tensor] = [start.clone()]


class _Running:
    """The state of the running lines, row i for line ``idx[i]``: point, slope, next step, distances to the nearest
    charge of either sign, the positive charge left and its gap, arc length, attempted steps, z range."""

    FIELDS = ("idx", "p", "k", "h", "d_pos", "d_neg", "src", "src_gap", "length", "steps", "zmin", "zmax")

    def __init__(self, **values: Tensor) -> None:
        for name in self.FIELDS:
            setattr(self, name, values[name])

    def compact(self, rows: Tensor) -> None:
        """Keep only ``rows`` (the lines still running)."""
        for name in self.FIELDS:
            setattr(self, name, getattr(self, name)[rows])


def _start_lines(geo: Geometry, start: Tensor, out: _Outputs, source: Tensor | None, return_paths: bool) -> _Running:
    """Capture the lines that start on a negative charge, mark those without field lost; the others run."""
    L, rho_min = geo.plates.L, min(geo.rho_pos, geo.rho_neg)
    k0, near = geo.field.direction_and_nearest(start)
    captured = near.neg < geo.rho_neg
    if captured.any():
        ci = captured.nonzero().squeeze(1)
        j = nearest(start[ci], geo.neg)[1]
        out.end_charge[ci], out.end[ci] = j, geo.neg[j]
        out.side[ci] = torch.where(start[ci, -1] > L, 1, -1)
    out.lost |= ~captured & (torch.linalg.vector_norm(k0, dim=1) == 0)
    if return_paths:
        out.path_idx.append(captured.nonzero().squeeze(1))
        out.path_pts.append(out.end[captured])
    idx = (~(captured | out.lost)).nonzero().squeeze(1)
    p = start[idx]
    d_pos, d_neg = near.pos[idx], near.neg[idx]
    src, src_gap = (t[idx] for t in _source_gap(geo, source, start))
    n, dt = idx.shape[0], start.dtype
    return _Running(
        idx=idx, p=p, k=k0[idx], h=STEP_CAP * torch.minimum(d_pos, d_neg).clamp(min=rho_min), d_pos=d_pos,
        d_neg=d_neg, src=src, src_gap=src_gap, length=torch.zeros(n, dtype=dt, device=start.device),
        steps=torch.zeros(n, dtype=torch.long, device=start.device), zmin=p[:, -1].clone(), zmax=p[:, -1].clone(),
    )


def _dp_step(geo: Geometry, run: _Running, tol: float, tables: tuple[list[Tensor], Tensor, Tensor]):
    """One attempted Dormand-Prince step (``solvers.dp_arc_step``) of every running line, capped by the distances to
    the charges, with the error allowed in units of the distance to the nearest charge; updates the next step size.
    Returns (accept (b,), step taken ha (b,), new point (b, D+1), its slope, nearest charges there)."""
    rho_min = min(geo.rho_pos, geo.rho_neg)
    p, k = run.p, run.k
    da = torch.minimum(run.d_pos, run.d_neg).clamp(min=rho_min)
    d_other = torch.maximum(run.d_pos, run.src_gap - torch.linalg.vector_norm(p - run.src, dim=1))
    ha = torch.minimum(run.h, STEP_CAP * torch.minimum(d_other, run.d_neg).clamp(min=rho_min))
    accept, p_new, k_new, near, run.h = dp_arc_step(
        geo.field.direction, geo.field.direction_and_nearest, p, k, ha, tol * da, tables
    )
    run.steps += 1
    return accept, ha, p_new, k_new, near


def _plate_events(geo: Geometry, run: _Running, out: _Outputs, step: tuple, keep: Tensor,
                  plate_delta: float | None) -> Tensor:
    """Crossings of z = L in this step: record each line's first crossing point; with ``plate_delta`` apply the plate
    rule (``plates.plate_stops``) and end the stopping lines on the plate (in ``keep``). Returns (b,) bool, stopped."""
    accept, ha, p_old, k_old, p_new, k_new = step
    L = geo.plates.L
    stop_plate = torch.zeros(accept.shape[0], dtype=torch.bool, device=accept.device)
    z0, z1 = p_old[:, -1], p_new[:, -1]
    up, down = accept & (z0 < L) & (z1 >= L), accept & (z0 > L) & (z1 <= L)
    cross = up | down
    if not cross.any():
        return stop_plate
    ci = cross.nonzero().squeeze(1)
    y = _crossing_point(p_old[ci], k_old[ci], p_new[ci], k_new[ci], ha[ci], L)
    gi = run.idx[ci]
    first = ~out.crossed[gi]
    out.crossing[gi[first]] = y[first]
    out.crossed[gi] = True
    if plate_delta is None:
        return stop_plate
    probe = y.clone()
    probe[:, -1] = torch.where(up[ci], y.new_tensor(L + plate_delta), y.new_tensor(L - plate_delta))
    ez = geo.field.direction(probe)[:, -1]
    out.probes[gi] += 1
    stop = plate_stops(up[ci], ez)
    stop_plate[ci[stop]] = True
    keep[ci[stop]] = y[stop]
    out.side[gi[stop]] = torch.where(up[ci[stop]], -1, 1)
    return stop_plate


def _captures(geo: Geometry, run: _Running, out: _Outputs, accept: Tensor, near, stop_plate: Tensor,
              keep: Tensor) -> Tensor:
    """Lines that came within ``rho`` of a negative charge: end them on it (in ``keep``). Returns (b,) bool."""
    cap = accept & ~stop_plate & (near.neg < geo.rho_neg)
    if cap.any():
        ci = cap.nonzero().squeeze(1)
        j = nearest(run.p[ci], geo.neg)[1]
        out.end_charge[run.idx[ci]] = j
        out.side[run.idx[ci]] = torch.where(run.p[ci, -1] > geo.plates.L, 1, -1)
        keep[ci] = geo.neg[j]
    return cap


def _finish(run: _Running, out: _Outputs, done: Tensor, lost: Tensor, keep: Tensor) -> None:
    """Write the results of the lines that stopped (``done``, of which ``lost`` are lost) and drop them."""
    di = done.nonzero().squeeze(1)
    gi = run.idx[di]
    out.end[gi] = keep[di]
    out.lost[gi] = lost[di]
    out.length[gi], out.steps[gi] = run.length[di], run.steps[di]
    out.zmin[gi], out.zmax[gi] = run.zmin[di], run.zmax[di]
    run.compact((~done).nonzero().squeeze(1))


def _advance(geo: Geometry, run: _Running, out: _Outputs, step: tuple, near, plate_delta: float | None,
             max_length: float, return_paths: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Move the lines whose step was accepted and apply the stopping rules. Returns (b,) bool ended (on the plate or
    a charge), (b,) bool gone (lost: far, too long, no field) and (b, D+1) the point each line retains."""
    accept, ha, p_old, k_old, p_new, k_new = step
    acol = accept[:, None]
    run.p = torch.where(acol, p_new, run.p)
    run.k = torch.where(acol, k_new, run.k)
    run.d_pos, run.d_neg = torch.where(accept, near.pos, run.d_pos), torch.where(accept, near.neg, run.d_neg)
    run.length += torch.where(accept, ha, 0.0)
    keep = run.p.clone()  # the point each moved line's path retains after this step (its end if it stops here)
    stop_plate = _plate_events(geo, run, out, step, keep, plate_delta)
    run.zmin = torch.where(accept, torch.minimum(run.zmin, keep[:, -1]), run.zmin)
    run.zmax = torch.where(accept, torch.maximum(run.zmax, keep[:, -1]), run.zmax)
    cap = _captures(geo, run, out, accept, near, stop_plate, keep)
    far = torch.linalg.vector_norm(run.p - geo.centre, dim=1) > geo.radius
    no_field = torch.linalg.vector_norm(run.k, dim=1) == 0
    gone = accept & ~stop_plate & ~cap & (far | (run.length > max_length) | no_field)
    if return_paths:
        out.path_idx.append(run.idx[accept])
        out.path_pts.append(keep[accept])
    return stop_plate | cap, gone, keep


def _classify(geo: Geometry, out: _Outputs, plate_delta: float | None) -> Tensor:
    """(K,) case of every line (``CASES``, in their order of precedence); lost lines get side 0."""
    L = geo.plates.L
    if plate_delta is None:
        t_back, t_behind = min(geo.spacing_pos, L), min(geo.spacing_neg, L)
    else:
        t_back = t_behind = 0.0
    case = torch.full(out.lost.shape, FRONT, dtype=torch.long, device=out.lost.device)
    case[out.zmax > L + t_behind] = BEHIND
    case[out.zmin < -t_back] = BACKWARD
    case[out.lost] = LOST
    out.side[out.lost] = 0
    return case


def _gather_paths(out: _Outputs, K: int, max_path_points: int) -> list[Tensor]:
    """Every line's path (start, accepted steps, end) from the pieces recorded per step, thinned."""
    idx_all = torch.cat(out.path_idx)
    order = torch.sort(idx_all, stable=True).indices
    pts = torch.cat(out.path_pts)[order]
    counts = torch.bincount(idx_all, minlength=K).tolist()
    return [_thin(part, max_path_points) for part in torch.split(pts, counts)]


def integrate(
    geo: Geometry,
    start: Tensor,
    *,
    tol: float,
    max_steps: int,
    plate_delta: float | None = None,
    return_paths: bool = False,
    max_path_points: int = 256,
    source: Tensor | None = None,
) -> dict[str, Tensor | list[Tensor] | None]:
    """Trace lines from ``start`` (K, D+1) to their ends; returns the per-line fields of ``LineTrace`` (no start
    charge / flux). ``source``: (K,) int64 index of the positive charge each line leaves (-1: none), which then does
    not cap the line's steps. See the module docstring for the rules.

    The state of the running lines (``_Running``) is kept in arrays of the running lines only, compacted when lines
    stop; a stopped line's results are written to the (K,) outputs (``_Outputs``) once.
    """
    dt, dev = start.dtype, start.device
    eps = torch.finfo(dt).eps
    tol = max(float(tol), 64 * eps)
    plate_delta = None if plate_delta is None else float(plate_delta)
    max_steps = int(max_steps)
    rho_min = min(geo.rho_pos, geo.rho_neg)
    max_length = LENGTH_FACTOR * geo.radius
    tables = dp_tables(dt, dev)
    out = _Outputs(start)
    run = _start_lines(geo, start, out, source, return_paths)
    while run.idx.numel():
        p_old, k_old = run.p, run.k
        accept, ha, p_new, k_new, near = _dp_step(geo, run, tol, tables)
        step = (accept, ha, p_old, k_old, p_new, k_new)
        ended, gone, keep = _advance(geo, run, out, step, near, plate_delta, max_length, return_paths)
        ended = ended | gone
        # bounded work: out of steps, or a step below float resolution at this point
        tiny = run.h < 8 * eps * torch.linalg.vector_norm(run.p, dim=1).clamp(min=rho_min)
        stuck = ~ended & ((run.steps >= max_steps) | tiny)
        done = ended | stuck
        if done.any():
            _finish(run, out, done, gone | stuck, keep)
    case = _classify(geo, out, plate_delta)
    return {
        "end": out.end,
        "case": case,
        "end_charge": out.end_charge,
        "crossed": out.crossed,
        "crossing": torch.where(out.crossed[:, None], out.crossing, out.end),
        "side": out.side,
        "length": out.length,
        "steps": out.steps,
        "evals": 1 + 6 * out.steps + out.probes,
        "paths": _gather_paths(out, start.shape[0], max_path_points) if return_paths else None,
    }


def check_tracer_options(tol: object, dtype: object, max_steps: object, max_path_points: object, seed: object) -> None:
    """Raise ValueError unless the tracer options are usable."""
    if not (is_number(tol) and 0 < tol < 1):
        raise ValueError(f"tol must be a number in (0, 1) (relative local error per step); got {tol!r}.")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}.")
    limits.check_count("max_steps", max_steps, limits.MAX_TRACER_STEPS, why="attempted steps per line")
    if check_positive_int("max_path_points", max_path_points) < 2:
        raise ValueError("max_path_points must be at least 2 (a path keeps its start and its end).")
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ValueError(f"seed must be an integer; got {seed!r}.")


def _check_directions(directions: object, K: int, d1: int, like: Tensor) -> Tensor:
    u = check_points("directions", directions, dim=d1, like=like)
    if u.shape[0] != K:
        raise ValueError(
            f"directions has {u.shape[0]} rows but {K} lines start at charges; give one direction per line."
        )
    norm = torch.linalg.vector_norm(u, dim=1, keepdim=True)
    if (norm == 0).any():
        raise ValueError("directions contains a zero vector; every start direction needs a length > 0.")
    return u / norm


def _one_source(**sources: object) -> None:
    given = [name for name, v in sources.items() if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of n_lines, per_charge, charges or starts; got {given or 'none'}.")


def _start_charges(geo: Geometry, n_lines: object, per_charge: object, charges: object,
                   gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """(K,) int64 positive charges the lines leave and (K,) the flux each line carries, for ``trace_lines``."""
    N, dtype, dev = geo.pos.shape[0], geo.pos.dtype, geo.pos.device
    weights = geo.plates.pos_weights
    if n_lines is not None:
        n = limits.check_count("n_lines", n_lines, limits.MAX_LINES, why=_IN_PARTS)
        offset = float(torch.rand((), generator=gen, dtype=torch.float64))
        return systematic_indices(weights, n, offset).to(dev), torch.full((n,), 1.0 / n, dtype=dtype, device=dev)
    if per_charge is not None:
        m = check_positive_int("per_charge", per_charge)
        limits.check_count("per_charge x positive charges", m * N, limits.MAX_LINES, why=_IN_PARTS)
        start_charge = torch.arange(N, device=dev).repeat_interleave(m)
        return start_charge, weights[start_charge] / m
    idx = torch.as_tensor(charges).reshape(-1)
    if idx.numel() == 0 or idx.is_floating_point() or idx.dtype == torch.bool:
        raise ValueError("charges must be a non-empty array of integer indices of positive charges.")
    if (idx < 0).any() or (idx >= N).any():
        raise ValueError(
            f"charges must index the {N} positive charges (0..{N - 1}); found {int(idx.min())}..{int(idx.max())}."
        )
    limits.check_count("the number of charges", idx.numel(), limits.MAX_LINES, why=_IN_PARTS)
    start_charge = idx.long().to(dev)
    counts = torch.bincount(start_charge, minlength=N)
    return start_charge, weights[start_charge] / counts[start_charge]


def trace_lines(
    plates: Plates,
    *,
    n_lines: int | None = None,
    per_charge: int | None = None,
    charges: object | None = None,
    starts: object | None = None,
    directions: object | None = None,
    seed: int = 0,
    tol: float = 1e-6,
    dtype: torch.dtype = torch.float64,
    plate_delta: float | None = None,
    return_paths: bool = False,
    max_path_points: int = 256,
    max_steps: int = 2000,
) -> LineTrace:
    """Trace field lines of the exact field of ``plates`` from the positive plate (or from given points).

    Give exactly one source of lines:

    * ``n_lines``: that many lines, spread over the positive charges in proportion to their weights (systematic
      sampling: charge i gets n_lines x w_i lines up to rounding), each carrying flux 1/n_lines;
    * ``per_charge``: that many lines from every positive charge (line flux w_i / per_charge);
    * ``charges``: (K,) indices of positive charges, one line each (repeats allowed);
    * ``starts``: (K, D+1) points in R^{D+1} (z last) to start from, used as they are.

    Lines from charges start ``rho`` off the charge along ``directions`` ((K, D+1), normalised; default: uniform on
    S^D, which carries uniform flux, drawn with ``seed``).

    Args:
        plates: validated plates (``make_plates``); moved to ``dtype`` (float64 or float32) on their device.
        tol: relative local error per step (in units of the distance to the nearest charge); at least 64 x machine
            epsilon. 1e-4 gives the same end charge as 1e-6 in the measured cases at ~40% fewer field evaluations.
        plate_delta: None: lines end only on negative charges. A number delta > 0: also apply the plate rule of
            Theorem 3.1 at z = L (see module docstring), probing E_z at L +- delta.
        return_paths: also return every line's path (start, accepted steps, end), thinned to ``max_path_points``.
        max_steps: attempted steps per line before it is declared lost (bounds the work for any input).

    Returns:
        ``LineTrace`` (all tensors in ``dtype`` on the plates' device).
    """
    if not isinstance(plates, Plates):
        raise ValueError(
            f"plates must be a Plates (build one with make_plates(pos, neg, L)); got {type(plates).__name__}."
        )
    check_tracer_options(tol, dtype, max_steps, max_path_points, seed)
    if plate_delta is not None and not (is_number(plate_delta) and 0 < plate_delta < math.inf):
        raise ValueError(f"plate_delta must be None or a finite number > 0; got {plate_delta!r}.")
    _one_source(n_lines=n_lines, per_charge=per_charge, charges=charges, starts=starts)
    geo = geometry(plates, dtype)
    d1 = geo.pos.shape[1]
    gen = torch.Generator().manual_seed(int(seed))
    if starts is not None:
        if directions is not None:
            raise ValueError("directions only apply to lines started at charges; drop them when giving starts.")
        p0 = check_points("starts", starts, dim=d1, like=geo.pos)
        limits.check_count("the number of starts", p0.shape[0], limits.MAX_LINES, why=_IN_PARTS)
        start_charge = torch.full((p0.shape[0],), -1, dtype=torch.long, device=p0.device)
        flux = torch.full((p0.shape[0],), 1.0 / p0.shape[0], dtype=dtype, device=p0.device)
    else:
        start_charge, flux = _start_charges(geo, n_lines, per_charge, charges, gen)
        u_dir = None if directions is None else _check_directions(directions, start_charge.shape[0], d1, geo.pos)
        if u_dir is None:
            u_dir = torch.randn(start_charge.shape[0], d1, generator=gen, dtype=torch.float64).to(geo.pos)
            u_dir = u_dir / torch.linalg.vector_norm(u_dir, dim=1, keepdim=True)
        p0 = geo.pos[start_charge] + geo.rho_pos * u_dir
    out = integrate(
        geo,
        p0,
        tol=tol,
        max_steps=max_steps,
        plate_delta=plate_delta,
        return_paths=return_paths,
        max_path_points=max_path_points,
        source=start_charge,
    )
    scale = float(torch.cat([geo.pos, geo.neg]).abs().max())
    limits.warn_lost_lines(out["case"], LOST, geo.plates.L, scale, dtype)
    return LineTrace(start=p0, start_charge=start_charge, flux=flux, **out)


def trace_robust(plates: Plates, *, tol: float = 1e-6, **kw: object) -> LineTrace:
    """``trace_lines`` in float32, then every line it reports lost traced again in float64 from the same start.

    In float32 the tracer can give up on a line next to a charge (its step falls below float resolution there; at
    D = 1, where charges sit close together, it loses most lines, so D = 1 is traced in float64 directly). Lines lost
    in float64 too are really lost. Give ``starts``, or ``charges`` with ``directions`` (so that a line can start
    again where it did); the other options as ``trace_lines`` (no dtype). Returns a ``LineTrace`` in float32 whose
    lost lines hold their float64 results (their paths stay float64).
    """
    if "dtype" in kw or not ("starts" in kw or ("charges" in kw and "directions" in kw)):
        raise ValueError("trace_robust takes starts, or charges with directions, and no dtype (float32, then 64).")
    if plates.D == 1:  # charges on a line sit so close that float32 loses most lines there: no point trying
        return trace_lines(plates, dtype=torch.float64, tol=tol, **kw)
    first = trace_lines(plates, dtype=torch.float32, tol=tol, **kw)
    lost = torch.nonzero(first.case == LOST).squeeze(1)
    if lost.numel() == 0:
        return first
    rows = lost.cpu()
    redo = {**kw, **{k: torch.as_tensor(kw[k])[rows] for k in ("starts", "charges", "directions") if k in kw}}
    again = trace_lines(plates, dtype=torch.float64, tol=tol, **redo)
    fields = {"start_charge": first.start_charge, "paths": first.paths}  # the same charges
    if first.paths is not None:
        fields["paths"] = list(first.paths)
        for j, i in enumerate(lost.tolist()):
            fields["paths"][i] = again.paths[j]
    for name in LineTrace._fields:
        if name not in fields:
            merged = getattr(first, name).clone()
            merged[lost] = getattr(again, name).to(merged.dtype)
            fields[name] = merged
    return LineTrace(**fields)
