"""A field to follow, as one protocol for every solver: a callable from points to field directions.

``Field``: ``field(x (B, *shape), z (B,), side (B, 2) | None = None) -> (f_x (B, *shape), f_z (B,))``. The solvers
in z (``solvers.transport``) call it as ``field(x, z)`` between the plates; the two-sided map in arc length
(``theorem.transport_two_sided``) through the whole space, with ``side`` the flags ``nets.side_flags`` of the
heights a step starts from (so no step mixes the two one-sided limits of the field at a plate; None: the points'
own). A field between the plates ignores ``side``.

* ``learned_field`` turns a trained slab net into one, by its objective's rule in ``FIELD_RULES``: a unit field
  (EFM, and any objective not listed there, e.g. a new one that regresses unit directions) or a velocity (``fm``);
* ``pfgm_field`` a PFGM net into its sampling ODE in t = log z (the same protocol, with t in place of z);
* ``space_field`` a whole-space net (``FieldSpaceMLP``) into its unit field, ``exact_space_field`` the exact unit
  field of given plates (for comparisons: the side flags do not matter to it).

Every adapter evaluates without gradients on the net's device and dtype and returns the caller's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import torch
from torch import Tensor, nn

from .field import plate_field_at
from .pfgm import PFGMOptions, net_height
from .plates import Plates


class Field(Protocol):
    """A field to follow: points x (B, *shape) at heights z (B,) [with side flags (B, 2)] -> (f_x, f_z)."""

    def __call__(self, x: Tensor, z: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]: ...


FieldFn = Field  # older names of the one protocol
SpaceField = Field
Rule = Callable[[Tensor, Tensor, float], tuple[Tensor, Tensor]]  # (net's f_x, f_z, L) -> the field to follow


def unit_rule(f_x: Tensor, f_z: Tensor, L: float) -> tuple[Tensor, Tensor]:
    """A net that regresses unit directions (EFM): its output normalised to unit length (a zero output stays zero).

    Then |dx/dz| <= 1 / f_min even where the net extrapolates wildly (off the training points an MLP's output grows
    with |x|, and a guarded but unnormalised slope can still grow exponentially along a line)."""
    norm = torch.sqrt(f_x.flatten(1).square().sum(1) + f_z.square())
    norm = torch.where(norm > 0, norm, torch.ones_like(norm))
    return f_x / norm.reshape(-1, *([1] * (f_x.ndim - 1))), f_z / norm


def velocity_rule(f_x: Tensor, f_z: Tensor, L: float) -> tuple[Tensor, Tensor]:
    """A net that regresses a velocity v per unit t = z / L (flow matching): the field (v, L), i.e. dx/dz = v / L."""
    return f_x, torch.full_like(f_z, float(L))


FIELD_RULES: dict[str, Rule] = {"fm": velocity_rule}  # objective -> rule; every other objective: ``unit_rule``


def learned_field(net: nn.Module, objective: str, L: float) -> Field:
    """The field of a trained slab net as a ``Field``, evaluated without gradients on the net's device and dtype,
    returned in the caller's dtype: the net's output (f_x, f_z) by ``FIELD_RULES[objective]`` (``unit_rule`` for an
    objective not listed, such as EFM)."""
    param = next(net.parameters())
    rule = FIELD_RULES.get(objective, unit_rule)

    def field(x: Tensor, z: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            f_x, f_z = net(x.to(param), z.to(param))
        f_x, f_z = rule(f_x, f_z, L)
        return f_x.to(x), f_z.to(x)

    return field


def pfgm_field(net: nn.Module, options: PFGMOptions, L: float) -> Field:
    """PFGM's sampling ODE as a field in t = log z for ``solvers.transport`` from log z_max (= ``L``) down to
    log z_min: ``field(x (B, *shape), t (B,)) -> (-z v_x, -v_z)``, so that the solver's dx/dt = f_x / f_z =
    z v_x / v_z, with (v_x, v_z) the net's prediction (``pfgm.net_height`` of z). Below z_exp the net's v_z is
    replaced by -sqrt(N) z / (sqrt(|d_x|^2 + z^2) + gamma) with |d_x| = gamma s / (1 - s), s = |v_x| / sqrt(N)
    (upstream). A v_z >= 0 (a line that would turn back) meets the solvers' slope guard."""
    param = next(net.parameters())

    def field(x: Tensor, t: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
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


def _split(f: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """(B, D+1) directions as (f_x shaped like x, f_z (B,))."""
    return f[:, :-1].reshape(x.shape), f[:, -1]


def space_field(net: nn.Module) -> Field:
    """The unit direction field of a whole-space net (``FieldSpaceMLP``) as a ``Field``, evaluated without gradients
    on the net's device and dtype, returned in x's dtype; a zero output stays zero. ``side`` None: the points' own."""
    param = next(net.parameters())
    shape = net.data_shape

    def field(x: Tensor, z: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            flags = None if side is None else side.to(param)
            f_x, f_z = net(x.reshape(-1, *shape).to(param), z.to(param), flags)
        f = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1).to(x)
        norm = torch.linalg.vector_norm(f, dim=1, keepdim=True)
        return _split(f / torch.where(norm > 0, norm, torch.ones_like(norm)), x)

    return field


def exact_space_field(plates: Plates) -> Field:
    """The exact field of ``plates`` as a ``Field``: E / |E| at (x (B, D), z (B,)) in the plates' dtype, returned
    in x's dtype (side unused)."""

    def field(x: Tensor, z: Tensor, side: Tensor | None = None) -> tuple[Tensor, Tensor]:
        X = torch.cat([x.flatten(1), z.to(x)[:, None]], dim=1)
        return _split(plate_field_at(X.to(plates.pos), plates).direction.to(x), x)

    return field
