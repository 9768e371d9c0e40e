"""Baselines trained with the same loop, data and nets as EFM.

* Conditional flow matching (Lipman et al. 2023; Tong et al. 2024 for the minibatch-OT pairing): t ~ U(0, 1),
  x_t = (1 - t) x_P + t x_Q (+ N(0, sigma^2) with the ``constant`` sampler), regress the net's f_x at (x_t, z = t L)
  onto the velocity v = x_Q - x_P. Sampling uses the same solvers with the field (v, L), i.e. dx/dz = v / L.
* PFGM and PFGM++ (the Poisson-flow peers) live in ``efm_core.pfgm``.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from .sampler import SamplerConfig, first_pairs, ot_pairing, sample_points


class FlowMatchingObjective:
    """Loss of conditional flow matching on the first ``n_queries`` pairs of the P and Q batches.

    The training points come from ``sampler.sample_points`` with kind ``none`` (straight lines, the default) or
    ``constant`` (a tube of std ``sigma``); its pairing ('independent' or 'ot') applies. The net sees z = t L.
    """

    def __init__(self, L: float, sampler: SamplerConfig, n_queries: int) -> None:
        if sampler.kind not in ("none", "constant"):
            raise ValueError(
                f"flow matching regresses the straight-line velocity, which is only right for sampler kinds 'none' "
                f"and 'constant'; got {sampler.kind!r}."
            )
        self.L, self.pairing, self.n_queries = float(L), sampler.pairing, int(n_queries)
        self.sampler = replace(sampler, pairing="independent")  # pairs are formed here, where v needs them

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        if q is None:
            raise ValueError("flow matching needs samples on both plates.")
        p, q = first_pairs(p, q, self.n_queries)
        if self.pairing == "ot":
            q = ot_pairing(p, q)
        points = sample_points(p, q, self.L, self.sampler, generator)
        f_x, _ = net(points.x, points.z)
        return (f_x - (q - p)).flatten(1).square().sum(1).mean()

