"""A field to follow, as one protocol for every solver: a callable from points to field directions.

* ``FieldFn``: ``field(x (B, *shape), z (B,)) -> (f_x (B, *shape), f_z (B,))``, the slab between the plates, for the
  solvers in z (``solvers.transport``). ``learned_field`` turns a trained slab net (EFM, FM) into one;
  ``pfgm_field`` a PFGM net into its sampling ODE in t = log z (the same protocol, with t in place of z).
* ``SpaceField``: ``field(X (B, D+1), side (B, 2)) -> unit directions (B, D+1)``, the whole space, for the two-sided
  map in arc length (``theorem.transport_two_sided``); ``side`` is ``nets.side_flags`` of the points' heights.
  ``space_field`` turns a whole-space net (``FieldSpaceMLP``) into one, ``exact_space_field`` the exact field of
  given plates (for comparisons: the side flags do not matter to it).

Every adapter evaluates without gradients on the net's device and dtype and returns the caller's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .field import plate_field_at
from .pfgm import PFGMOptions, net_height
from .plates import Plates

FieldFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
SpaceField = Callable[[Tensor, Tensor], Tensor]  # (X (B, D+1), side flags (B, 2)) -> unit directions (B, D+1)


def learned_field(net: nn.Module, objective: str, L: float) -> FieldFn:
    """The field of a trained net as ``field(x, z) -> (f_x, f_z)``, evaluated without gradients on the net's device
    and dtype, returned in the caller's dtype.

    EFM nets regress a unit vector, so their output is normalised to unit length: then |dx/dz| <= 1 / f_min
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


def pfgm_field(net: nn.Module, options: PFGMOptions, L: float) -> FieldFn:
    """PFGM's sampling ODE as a field in t = log z for ``solvers.transport`` from log z_max (= ``L``) down to
    log z_min: ``field(x (B, *shape), t (B,)) -> (-z v_x, -v_z)``, so that the solver's dx/dt = f_x / f_z =
    z v_x / v_z, with (v_x, v_z) the net's prediction (``pfgm.net_height`` of z). Below z_exp the net's v_z is
    replaced by -sqrt(N) z / (sqrt(|d_x|^2 + z^2) + gamma) with |d_x| = gamma s / (1 - s), s = |v_x| / sqrt(N)
    (upstream). A v_z >= 0 (a line that would turn back) meets the solvers' slope guard."""
    param = next(net.parameters())

    def field(x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.exp(t.to(param))
        with torch.no_grad():
            v_x, v_z = net(x.to(param), net_height(z, options.z_min, L, L))
        sqrt_n = math.sqrt(math.prod(x.shape[1:]))
        s = (torch.linalg.vector_norm(v_x.flatten(1), dim=1) / sqrt_n).clamp(0.0, 1.0 - 1e-6)
        d_x = options.gamma * s / (1.0 - s)
        implied = -sqrt_n * z / (torch.sqrt(d_x.square() + z.square()) + options.gamma)
        v_z = torch.where(z < options.z_exp, implied, v_z)
        return (-z.reshape(-1, *([1] * (x.ndim - 1))) * v_x).to(x), (-v_z).to(x)

    return field


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


def exact_space_field(plates: Plates) -> SpaceField:
    """The exact field of ``plates`` as a ``SpaceField``: E / |E| at X (B, D+1) in the plates' dtype (side unused)."""

    def field(X: Tensor, side: Tensor) -> Tensor:
        return plate_field_at(X.to(plates.pos), plates).direction.to(X)

    return field
