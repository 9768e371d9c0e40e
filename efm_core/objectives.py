"""The training losses side by side, one small callable each: ``objective(net, p, q, generator) -> loss``.

* ``EFMObjective`` (Algorithm 1 of the paper): |f(x~) - target(x~)|^2 at the training points of
  ``sampler.sample_points``, the target E/|E| of all the step's charges (``sampler.field_target``, float32, no grad).
* ``FlowMatchingObjective``, conditional flow matching (Lipman et al. 2023; Tong et al. 2024 for the minibatch-OT
  pairing): t ~ U(0, 1), x_t = (1 - t) x_P + t x_Q (+ N(0, sigma^2) with the ``constant`` sampler), regress the net's
  f_x at (x_t, z = t L) onto the velocity v = x_Q - x_P. Sampling uses the same solvers with the field (v, L), i.e.
  dx/dz = v / L (``fields.learned_field``).
* PFGM-style single-plate field (Xu et al. 2022): the data alone on z = 0, the target E+/|E+| of that plate
  (``sampler.field_target(kind="single_plate")``), training points from PFGM's perturbation (sampler ``pfgm``). It is
  an ``EFMObjective`` with those options (``make_objective``); its prior is ``pfgm_prior``: where the field lines of
  the plate cross the far plane z = z_max when the data look like a point charge.

``make_objective(config)`` picks the loss of an ``ExperimentConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn

from .config import ExperimentConfig
from .sampler import SamplerConfig, field_target, first_pairs, ot_pairing, sample_points

Objective = Callable[[nn.Module, Tensor, Tensor | None, torch.Generator], Tensor]


class EFMObjective:
    """Loss of Algorithm 1: the mean over training points of |f(x~) - target(x~)|^2 over all D+1 components.

    Training points: ``sampler.sample_points`` on the first ``n_queries`` items of the P and Q batches; target:
    ``sampler.field_target`` of all charges in the batches (``kind`` exact or single_plate).
    """

    def __init__(self, L: float, sampler: SamplerConfig, n_queries: int, target: str = "exact") -> None:
        self.L, self.sampler, self.n_queries, self.target = float(L), sampler, int(n_queries), target

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        points = sample_points(*first_pairs(p, q, self.n_queries), self.L, self.sampler, generator)
        target = field_target(
            points.lifted().float(), p.flatten(1).float(), None if q is None else q.flatten(1).float(), self.L, self.target
        )
        f_x, f_z = net(points.x, points.z)
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()


def make_objective(config: ExperimentConfig) -> Objective:
    """The loss of ``config.objective`` (efm and pfgm: ``EFMObjective``; fm: ``FlowMatchingObjective``)."""
    sampler = config.sampler_config
    if config.objective == "fm":
        return FlowMatchingObjective(config.L, sampler, config.n_queries)
    if config.objective == "pfgm" and (config.target != "single_plate" or sampler.kind != "pfgm"):
        raise ValueError("the pfgm objective needs target 'single_plate' and sampler kind 'pfgm'.")
    return EFMObjective(config.L, sampler, config.n_queries, config.target)


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


def pfgm_prior(n: int, shape: tuple[int, ...], z_max: float, generator: torch.Generator) -> Tensor:
    """n points (n, *shape) float32 of PFGM's prior on the plane z = z_max: where the field lines of a unit point
    charge at the origin of R^{D+1} cross that plane, flux-weighted.

    That density is proportional to z_max / (|x|^2 + z_max^2)^{(D+1)/2}, a multivariate Cauchy distribution of scale
    z_max, drawn exactly as z_max * g / |h| with g ~ N(0, I_D), h ~ N(0, 1) (PFGM draws the same radius through a
    Beta(D/2, 1/2) variable).
    """
    g = torch.randn((n, *shape), generator=generator)
    h = torch.randn((n,) + (1,) * len(shape), generator=generator).abs().clamp_min(1e-12)
    return float(z_max) * g / h
