"""Theorem 3.1 in one place: the map T of a plate's points to the other plate along field lines, exact and learned.

The plate rule itself (``plates.plate_stops``) is shared with the exact tracer (``lines``), which sits below this
module. Here: the flux share that picks a line's side (``forward_probability`` from the exact field's magnitudes,
``forward_share`` from a learned field's directions alone), the probe distance off the plates (``default_delta``,
``delta_from_spacing``, ``check_delta``), T along exact lines (``transport_exact``, ``transport_trace``) and T along a
learned whole-space field (``transport_two_sided``).

Exact lines
-----------
The map T of Theorem 3.1 along exact field lines: fresh points of P to points of Q.

A point x on the P plate (z = 0) emits flux into both half-spaces. T(x) picks a side with probability proportional
to the normal flux there, forward (z = +delta) with probability

    max(E_z(x, +delta), 0) / (max(E_z(x, +delta), 0) + max(-E_z(x, -delta), 0))

(forward when both are 0), follows the exact field line from (x, +-delta) with ``trace_lines``' integrator and the plate
rule at z = L (an upward crossing stops if E_z(y, L + delta) <= 0, a downward one if E_z(y, L - delta) >= 0; capture on
a negative charge also stops), and returns the data coordinates of the end point. With discrete charges most lines
end by capture, so T maps P onto the empirical Q (the charges), not onto Q beyond them.

``sides="forward"`` starts every line at +delta: the upstream code's choice, which misses the backward flux and so
does not transport P to Q (the endpoints crowd towards the middle).

Cases (``CASES``): front (ended at its first crossing of z = L), behind (passed through the plate and came back from
behind), backward (started on the back side, or went below z = 0), lost (see ``efm_core.lines``; its end point is the
last point reached).

Learned lines
-------------
Theorem 3.1's map along a *learned* field: two-sided starts, lines in arc length through the whole space.

A point x on the start plate emits flux to both sides. ``transport_two_sided`` picks the side towards the other
plate ("front") with the probability ``forward_share`` estimates from the learned field, follows the line in arc
length (dX/ds = F / |F|, F = +E from P to Q or -E from Q back to P) wherever it goes, round the outside of both
plates if it left backwards, and ends it on the end plate by the plate rule of ``plates.plate_stops``: a
crossing from the front stops if the field just behind the plate points back into it, a crossing from behind stops if
the field just in front points into it; otherwise the line passes through and goes on. Lines that start backwards
are what a forward-only solver (``solvers.transport``) misses: 40-50 % of P's flux in the Gaussian -> two Gaussians
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

import torch
from torch import Tensor

from . import limits
from .field import plate_field_at
from .fields import Field
from .lines import LineTrace, check_tracer_options, geometry, integrate, median_spacing
from .nets import side_flags
from .paths import BACKWARD, BEHIND, FRONT, LOST, Trajectory
from .plates import Plates, check_points, is_number, lift, make_plates, plate_stops
from .sampler import SHELL_RADII
from .solvers import rk4_arc

SIDES = ("both", "forward")
DELTA_SPACINGS = 2.0  # default delta: this many median nearest-neighbour spacings (of the sparser plate) ...
DELTA_MAX_FRACTION = 0.25  # ... but at most this fraction of L
REACH = SHELL_RADII[1]  # beyond this many L from the centre learned lines follow the dipole term, not the net
START_OFFSET = 1e-4  # learned lines start this many L off the start plate, on the chosen side


def forward_probability(plates: Plates, x: Tensor, delta: float) -> Tensor:
    """(K,) probability that the line from data point x (K, D) on the P plate leaves forwards (flux share at +delta).

    Computed from log-magnitudes, so it is exact for any D; 1 where no flux leaves on either side.
    """
    field = plate_field_at(torch.cat([lift(x, delta), lift(x, -delta)]), plates)
    K = x.shape[0]
    log_norm = field.log_norm.reshape(2, K)
    ez = field.direction[:, -1].reshape(2, K)
    top = log_norm.max(dim=0).values
    shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    scale = torch.exp(log_norm - shift)
    up = (scale[0] * ez[0]).clamp(min=0)
    down = (-scale[1] * ez[1]).clamp(min=0)
    total = up + down
    return torch.where(total > 0, up / torch.where(total > 0, total, torch.ones_like(total)), torch.ones_like(total))


def delta_from_spacing(spacing: float, L: float) -> float:
    """The default probe distance off the plates: DELTA_SPACINGS x ``spacing`` (the larger median nearest-neighbour
    spacing of the two plates), at most DELTA_MAX_FRACTION x L, and that bound when the spacing is 0 (all of a plate's
    charges coincide). Below about a spacing the nearest single charge, not the plate, decides the flux split."""
    return min(DELTA_SPACINGS * spacing, DELTA_MAX_FRACTION * L) if spacing > 0 else DELTA_MAX_FRACTION * L


def default_delta(plates: Plates) -> float:
    """``transport_exact``'s default delta for these plates (see ``delta_from_spacing``)."""
    return delta_from_spacing(max(median_spacing(plates.pos), median_spacing(plates.neg)), plates.L)


def check_delta(delta: object, L: float) -> float:
    """``delta`` as a float if it is a probe distance off the plates in (0, L); else ValueError."""
    if not (is_number(delta) and 0 < delta < L):
        raise ValueError(f"delta must be a number in (0, L = {L}) (the probe distance off the plates); got {delta!r}.")
    return float(delta)


def transport_trace(
    plates: Plates,
    starts: object,
    *,
    sides: str = "both",
    seed: int = 0,
    delta: float | None = None,
    tol: float = 1e-4,
    dtype: torch.dtype = torch.float64,
    return_paths: bool = False,
    max_path_points: int = 256,
    max_steps: int = 2000,
) -> LineTrace:
    """Theorem 3.1's map for ``starts`` (K, D) on the P plate, with everything ``LineTrace`` holds (paths on request).

    Args:
        plates: validated plates (``make_plates``), moved to ``dtype`` on their device.
        starts: (K, D) data coordinates of fresh points on the plate z = 0 (samples of P, not its charges).
        sides: "both" (flux-weighted side choice, the theorem) or "forward" (every line starts at z = +delta).
        seed: seeds the side choice; the same seed gives the same lines.
        delta: probe distance off the plates for the side choice and the plate rule; default
            ``DELTA_SPACINGS`` x the larger median nearest-neighbour spacing of the two plates, at most L / 4 (L / 4
            when all charges of each plate coincide).
        tol, max_steps, return_paths, max_path_points: as for ``trace_lines``.

    Returns:
        ``LineTrace``: ``end[:, :D]`` is T(starts); ``start`` holds (x, +-delta); ``flux`` is 1/K per line.
    """
    if not isinstance(plates, Plates):
        raise ValueError(
            f"plates must be a Plates (build one with make_plates(pos, neg, L)); got {type(plates).__name__}."
        )
    if sides not in SIDES:
        raise ValueError(f"sides must be one of {SIDES}; got {sides!r}.")
    check_tracer_options(tol, dtype, max_steps, max_path_points, seed)
    geo = geometry(plates, dtype)
    x = check_points("starts (points on the P plate, data coordinates)", starts, dim=geo.plates.D, like=geo.pos)
    if delta is None:
        delta = delta_from_spacing(max(geo.spacing_pos, geo.spacing_neg), geo.plates.L)
    delta = check_delta(delta, geo.plates.L)
    K = x.shape[0]
    if sides == "both":
        gen = torch.Generator().manual_seed(int(seed))
        draw = torch.rand(K, generator=gen, dtype=torch.float64).to(x.device)
        forward = draw < forward_probability(geo.plates, x, delta).double()
    else:
        forward = torch.ones(K, dtype=torch.bool, device=x.device)
    start = lift(x, torch.where(forward, x.new_tensor(delta), x.new_tensor(-delta)))
    out = integrate(
        geo,
        start,
        tol=tol,
        max_steps=max_steps,
        plate_delta=delta,
        return_paths=return_paths,
        max_path_points=max_path_points,
    )
    start_charge = torch.full((K,), -1, dtype=torch.long, device=x.device)
    flux = torch.full((K,), 1.0 / K, dtype=dtype, device=x.device)
    return LineTrace(start=start, start_charge=start_charge, flux=flux, **out)


def transport_exact(
    starts: object,
    pos: object,
    neg: object,
    L: object,
    sides: str = "both",
    seed: int = 0,
    delta: float | None = None,
    *,
    pos_weights: object | None = None,
    neg_weights: object | None = None,
    tol: float = 1e-4,
    dtype: torch.dtype = torch.float64,
    max_steps: int = 2000,
) -> tuple[Tensor, Tensor]:
    """T(starts) of Theorem 3.1 along exact field lines: (end_points (K, D), cases (K,) int64 index into CASES).

    ``starts`` (K, D) are fresh points on the P plate; ``pos`` (N, D), ``neg`` (M, D), ``L``, and the optional
    weights define the plates as in ``make_plates``. See ``transport_trace`` for the other arguments, and use it for
    paths and per-line diagnostics. Results are in ``dtype``; bad input raises ValueError.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}.")
    plates = make_plates(pos, neg, L, pos_weights, neg_weights)
    trace = transport_trace(
        plates, starts, sides=sides, seed=seed, delta=delta, tol=tol, dtype=dtype, max_steps=max_steps
    )
    return trace.end[:, : plates.D], trace.case


# --- along a learned field ---------------------------------------------------------------------------------------


def dipole_direction(d: Tensor) -> Tensor:
    """(B, D+1) unit direction of the field of the dipole p = -z-hat (the plates seen from far away) at offsets ``d``
    (B, D+1) from the centre: 3 (p . r) r - p with r = d / |d|."""
    r = d / torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)
    p = torch.zeros_like(r)
    p[:, -1] = -1.0
    e = 3.0 * (r * p).sum(1, keepdim=True) * r - p
    return e / torch.linalg.vector_norm(e, dim=1, keepdim=True)


def _direction(field: Field, X: Tensor, side: Tensor) -> Tensor:
    """(B, D+1) the field's direction at X (B, D+1) (z last) with side flags ``side`` (B, 2)."""
    f_x, f_z = field(X[:, :-1], X[:, -1], side)
    return torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)


def _far_or_net(field: Field, X: Tensor, side: Tensor, centre: Tensor, reach: float) -> Tensor:
    """The net's direction where |X - centre| <= reach, the dipole's beyond."""
    d = X - centre
    far = torch.linalg.vector_norm(d, dim=1) > reach
    if not far.any():
        return _direction(field, X, side)
    u = dipole_direction(d)
    near = ~far
    if near.any():
        u[near] = _direction(field, X[near], side[near])
    return u


def _at(x: Tensor, z: float) -> Tensor:
    return torch.cat([x, torch.full_like(x[:, :1], z)], dim=1)


def forward_share(field: Field, x: Tensor, z_start: float, z_end: float, L: float, delta: float) -> Tensor:
    """(K,) estimated share of the flux of the line through x (K, D) on the plane ``z_start`` that leaves towards
    ``z_end`` (see the module notes); 1 where no flux leaves on either side."""
    s = 1.0 if z_end > z_start else -1.0
    front = _at(x, z_start + s * delta)
    back = _at(x, z_start - s * delta)
    u_front = _direction(field, front, side_flags(front[:, -1], L))
    u_back = _direction(field, back, side_flags(back[:, -1], L))
    tiny = torch.finfo(x.dtype).tiny

    def normal_over_tangential(u: Tensor, sign: float) -> Tensor:
        return (sign * u[:, -1]).clamp(min=0) / torch.linalg.vector_norm(u[:, :-1], dim=1).clamp_min(tiny)

    # outflow F . n on the front side and F . (-n) on the back, with F = s E and n = s z-hat: E_z and -E_z for either s
    out_front = normal_over_tangential(u_front, 1.0)
    out_back = normal_over_tangential(u_back, -1.0)
    total = out_front + out_back
    safe = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, out_front / safe, torch.ones_like(total))


def _check(steps: int, max_steps: int, r_min: float, delta: float, sides: str, L: float) -> float:
    if sides not in SIDES:
        raise ValueError(f"sides must be one of {', '.join(SIDES)}; got {sides!r}.")
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        limits.check_count(name, value, limits.MAX_SOLVER_STEPS, why="solver steps per line")
    if not (isinstance(r_min, int | float) and r_min > 0):
        raise ValueError(f"r_min must be a number > 0 (the smallest step scale, data units); got {r_min!r}.")
    return check_delta(delta, L)


def _end_plate(field: Field, Y: Tensor, Yn: Tensor, ok: Tensor, z_end: float, s: float, L: float,
               delta: float) -> tuple[Tensor, Tensor | None]:
    """Crossings of the end plate in a step from Y to Yn (b, D+1), travel direction ``s`` along z: the plate rule
    (``plates.plate_stops``, probing the field ``delta`` beyond the plate) ends the stopping lines on the plate (Yn
    set there in place). Returns (b,) bool stop, and the rows that passed through (None when nothing crossed: no
    field evaluation)."""
    before, after = (Y[:, -1] - z_end) * s, (Yn[:, -1] - z_end) * s
    from_front = ok & (before < 0) & (after >= 0)
    crossing = from_front | (ok & (before > 0) & (after <= 0))
    stop = torch.zeros_like(crossing)
    if not crossing.any():
        return stop, None
    c = torch.nonzero(crossing, as_tuple=True)[0]
    w = (before[c] / (before[c] - after[c]))[:, None]
    y = Y[c] + w * (Yn[c] - Y[c])
    y[:, -1] = z_end
    probe = y.clone()
    probe[:, -1] = z_end + torch.where(from_front[c], s * delta, -s * delta)
    u_z = _direction(field, probe, side_flags(probe[:, -1], L))[:, -1]
    ends = plate_stops(from_front[c], u_z)
    stop[c] = ends
    Yn[c[ends]] = y[ends]
    return stop, c[~ends]


@torch.no_grad()
def transport_two_sided(
    field: Field,
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
) -> Trajectory:
    """Carry ``x0`` (B, D) on the plate ``z_start`` (0 or L) along ``field`` to the plate ``z_end`` (L or 0).

    ``sides``: "both" (flux-weighted side choice, seeded by ``seed``) or "forward" (every line starts towards
    ``z_end``). Cases as ``lines.CASES``: backward (started behind the start plate, or went there), behind (crossed
    the end plate and came back), front (ended at its first crossing), lost (``max_steps`` or non-finite).
    ``steps``: RK4 steps per unit of max(|X - c|, r_min) of arc length (``r_min`` in data units);
    ``delta``: probe distance off the plates for the side choice and the plate rule; ``max_steps``: cap per line;
    ``return_path``: keep every line's position after every step (for pictures: (S+1) x B x (D+1) numbers).

    Returns a ``paths.Trajectory``: x (B, D) and z (B,) the end points (on the end plate, or the last point of a lost
    or frozen line), case (B,) int64 into ``CASES``, nonfinite (B,) bool (the net gave NaN/inf and the line was
    frozen), nfe (batched network calls), path (S+1, B, D+1) with z last or None; turned_back all False.
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

    def slope_at(Y: Tensor) -> Callable[[Tensor], Tensor]:  # the side flags of a step's start hold for all 4 stages
        side = side_flags(Y[:, -1], L)
        return lambda y: _far_or_net(field, y, side, centre, REACH * L)

    def events(idx: Tensor, Y: Tensor, Yn: Tensor, ok: Tensor) -> tuple[Tensor, int]:
        stop, passed = _end_plate(field, Y, Yn, ok, z_end, s, L, delta)
        if passed is not None:  # one batched probe of the field beyond the plate
            case[idx[passed]] = torch.where(case[idx[passed]] == FRONT, BEHIND, case[idx[passed]])
        went_behind = ok & ~stop & ((Yn[:, -1] - z_start) * s < 0)  # behind the start plate: a backward line (CASES)
        case[idx[went_behind]] = BACKWARD
        return stop, int(passed is not None)

    def step(Y: Tensor) -> Tensor:
        return (torch.linalg.vector_norm(Y - centre, dim=1).clamp_min(r_min) / steps)[:, None] * s

    X, running, finite, evals, path = rk4_arc(slope_at, X, step, events, max_steps, return_path)
    case[~finite | running] = LOST
    return Trajectory(x=X[:, :-1], z=X[:, -1], nfe=nfe + evals, turned_back=torch.zeros_like(finite),
                      nonfinite=~finite, path=path, case=case)
