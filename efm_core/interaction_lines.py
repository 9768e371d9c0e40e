"""Exact field lines of the interaction field (``interaction.interaction_field``), drawn like ``lines.trace_lines``.

Every line runs forward in z inside the slab (dx/dz = v~ is finite for 0 < z < L), so it is integrated in z with the
solvers of ``solvers.transport``; the end caps, where v~ grows like 1 / z and 1 / (L - z), are handled by starting
``END_GAP`` d off z = 0 on the opened tube and closing the last ``END_GAP`` d with one straight step along the
slope, which points at the antiquark the line closes into.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import limits
from .interaction import check_pairs, check_tube, interaction_field, tube_width
from .lines import FRONT, LOST, LineTrace
from .plates import check_gap, check_points, check_positive_int, lift
from .solvers import transport

END_GAP = 1e-2  # exact lines run from z = END_GAP d to L - END_GAP d (d the cap), then step straight to the points


def tube_offsets(n: int, D: int, seed: int = 0) -> Tensor:
    """n offsets (n, D) in units of the tube's width, each standing for an equal share of its flux: D = 1 the normal
    quantiles at (j + 1/2) / n, D = 2 a sunflower (radius the chi-2 quantile, golden-angle turns), else N(0, I)
    draws with ``seed``. Inside one lone tube a line keeps its offset (x - mu) / sigma."""
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    if D == 1:
        return torch.special.ndtri(u)[:, None]
    if D == 2:
        r, angle = torch.sqrt(-2 * torch.log1p(-u)), torch.arange(n, dtype=torch.float64) * math.pi * (3 - math.sqrt(5))
        return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)
    return torch.randn(n, D, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)


def trace_interaction_lines(
    pos: object,
    neg: object,
    L: float,
    *,
    pairs: object | None = None,
    width: float = 1.0,
    cap: float | None = None,
    per_charge: int = 8,
    seed: int = 0,
    rtol: float = 1e-7,
    dtype: torch.dtype = torch.float64,
    return_paths: bool = False,
    max_path_points: int = 256,
) -> LineTrace:
    """Exact field lines of ``interaction_field``, ``per_charge`` from every quark, as a ``lines.LineTrace``.

    The lines run forward in z (dx/dz = v~, never singular inside the slab): each starts at z0 = ``END_GAP`` d at
    (x_q + sigma(z0) c, z0) with c from ``tube_offsets`` (equal flux shares), is integrated with the adaptive RK45
    of ``solvers.transport`` to L - z0, and ends one straight step further on z = L (the last slope points at the
    antiquark it closes into). Fields of the trace: ``start`` the quark (z = 0), ``end`` the point on z = L, ``case``
    FRONT (LOST if the solver gave a non-finite value), ``end_charge`` the nearest antiquark to the end,
    ``start_charge`` the quark, ``flux`` 1 / (N per_charge) each, ``crossing`` the end, ``side`` -1, ``length`` along
    the path, ``steps`` and ``evals`` the batched slope evaluations; ``paths`` (optional) quark, start, evenly spaced
    heights, end, at most ``max_path_points`` points.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}.")
    A = check_points("quarks", pos, like=torch.empty(0, dtype=dtype))
    Bn = check_points("antiquarks", neg, dim=A.shape[1], like=A)
    L = check_gap(L, dtype)
    S, d = check_tube(L, width, L / 10 if cap is None else cap)
    index = check_pairs(pairs, A.shape[0], Bn.shape[0], A.device)
    k = check_positive_int("per_charge", per_charge)
    limits.check_count("the number of lines", A.shape[0] * k, limits.MAX_LINES, why="lines in one trace")
    points = check_positive_int("max_path_points", max_path_points)
    if points < 4:
        raise ValueError(f"max_path_points must be at least 4 (quark, start, end and one height); got {points}.")
    z0 = END_GAP * d
    start_charge = torch.arange(A.shape[0]).repeat_interleave(k)
    offsets = tube_offsets(k, A.shape[1], seed).to(A).repeat(A.shape[0], 1)
    x0 = A[start_charge] + float(tube_width(torch.tensor([z0]), L, S, d).sigma) * offsets

    def field(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        u = interaction_field(lift(x, z), A, Bn, L, pairs=index, width=S, cap=d).direction
        return u[:, :-1] / u[:, -1:].clamp_min(torch.finfo(u.dtype).tiny), torch.ones_like(z)

    run = transport(field, x0, z0, L - z0, solver="rk45", rtol=rtol, atol=rtol * S, steps=64,
                    max_steps=limits.MAX_SOLVER_STEPS, snapshots=points - 2)
    slope, _ = field(run.x, run.z)
    end = lift(run.x + z0 * slope, torch.full_like(run.z, L))
    path = torch.cat([lift(A[start_charge], torch.zeros_like(run.z))[None],
                      torch.stack([lift(p, run.levels[i].expand(p.shape[0])) for i, p in enumerate(run.path)]),
                      end[None]]).transpose(0, 1)
    ok = torch.isfinite(end).all(1) & ~run.nonfinite
    n = start_charge.shape[0]
    evals = torch.full((n,), run.nfe + 1, dtype=torch.long)
    return LineTrace(
        start=path[:, 0], end=end, case=torch.where(ok, FRONT, LOST), end_charge=torch.cdist(end[:, :-1], Bn).argmin(1),
        start_charge=start_charge, flux=torch.full((n,), 1.0 / n, dtype=dtype), crossed=ok, crossing=end,
        side=torch.where(ok, -1, 0), length=torch.linalg.vector_norm(path.diff(dim=1), dim=2).sum(1), steps=evals,
        evals=evals, paths=list(path) if return_paths else None,
    )
