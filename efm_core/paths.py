"""What a path of points is: the result type of every solver, the cases of a line, the solvers' names.

This module sits below ``solvers`` and ``lines`` (it imports neither), so both can name the cases and the result.

``Trajectory`` is the one result of carrying a batch of points along a field (``solvers.transport``,
``solvers.edm_sample``, ``theorem.transport_two_sided``, and so ``sampling.generate`` / ``translate``);
``TransportResult`` is the same type under its older name. The exact tracer's ``lines.LineTrace`` stays its own
record: it is per line (start and end charges, flux share, first crossing of z = L, arc length, steps, ragged paths
of n_k points each), where a ``Trajectory`` is per batch (one NFE count, intermediates at common heights or steps).

Cases (``CASES``), in this order of precedence: lost, backward, behind, front (see ``lines`` and ``theorem``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

CASES = ("front", "behind", "backward", "lost")
FRONT, BEHIND, BACKWARD, LOST = range(4)

SOLVERS = ("euler", "heun", "rk45")  # solvers in z between the plates (solvers.transport)
ARC = "arc"  # the two-sided solver in arc length through the whole space (theorem.transport_two_sided)
SAMPLING_SOLVERS = (*SOLVERS, ARC)
EDM_SOLVERS = ("heun", "euler")  # PFGM++'s sampler (solvers.edm_sample): its options are kind and steps only


class Trajectory(NamedTuple):
    """B lines carried along a field; every tensor is finite (a line that went non-finite is frozen, never NaN).

    x: (B, *shape) end points in data coordinates. z: (B,) end heights (z_end, the last noise level of
    ``edm_sample``, or where a line was frozen or lost). nfe: batched field evaluations (network calls).
    turned_back: (B,) bool, the slope guard f_z <= f_min was used on the line (solvers in z; all False otherwise).
    nonfinite: (B,) bool, the field gave NaN/inf and the line was frozen at its last finite point.
    levels: (K,) heights of the intermediates, or None. path: the intermediates or None: (K, B, *shape) the lines at
    ``levels`` (solvers in z), or, with levels None, (S + 1, B, D + 1) every line after each of the S steps taken
    with z last (the arc solver; a finished line stays at its end point).
    case: (B,) int64 index into ``CASES`` (the arc solver), None for the solvers in z and EDM's.
    """

    x: Tensor
    z: Tensor
    nfe: int
    turned_back: Tensor
    nonfinite: Tensor
    levels: Tensor | None = None
    path: Tensor | None = None
    case: Tensor | None = None

    @property
    def end(self) -> Tensor:
        """(B, D + 1) the end points in R^{D+1}: x flattened, z last."""
        return torch.cat([self.x.flatten(1), self.z.to(self.x.dtype)[:, None]], dim=1)

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


TransportResult = Trajectory  # the older name, kept for users (efm_core.TransportResult)
