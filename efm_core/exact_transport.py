"""The map T of Theorem 3.1 along exact field lines: fresh points of P to points of Q.

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
"""

from __future__ import annotations

import torch
from torch import Tensor

from .field import plate_field_at
from .lines import LineTrace, check_tracer_options, geometry, integrate, is_number, median_spacing
from .plates import Plates, check_points, lift, make_plates

SIDES = ("both", "forward")
DELTA_SPACINGS = 2.0  # default delta: this many median nearest-neighbour spacings (of the sparser plate) ...
DELTA_MAX_FRACTION = 0.25  # ... but at most this fraction of L


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
