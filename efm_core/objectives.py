"""The training losses side by side, one small callable each: ``objective(net, p, q, generator) -> loss``.

* ``EFMObjective`` (Algorithm 1 of the paper): |f(x~) - target(x~)|^2 at the training points of
  ``sampler.sample_points``, the target E/|E| of all the step's charges (``sampler.field_target``, float32, no grad).
* ``FlowMatchingObjective``, conditional flow matching (Lipman et al. 2023; Tong et al. 2024 for the minibatch-OT
  pairing): t ~ U(0, 1), x_t = (1 - t) x_P + t x_Q (+ N(0, sigma^2) with the ``constant`` sampler), regress the net's
  f_x at (x_t, z = t L) onto the velocity v = x_Q - x_P. Sampling uses the same solvers with the field (v, L), i.e.
  dx/dz = v / L (``fields.learned_field``).
* ``PFGMObjective`` (Xu et al. 2022): the data of P alone on z = 0, PFGM's perturbation kernel with ``restrict_M``
  (``pfgm.pfgm_perturb``), the target sqrt(N) d / (|d| + gamma) of the step's large batch (``pfgm.pfgm_target``).
* ``PFGMppObjective`` (Xu et al. 2023): EDM's weighted denoiser loss with PFGM++'s kernel of D_aug augmented
  dimensions (``pfgm.pfgmpp_perturbation``) and EDM's preconditioning (``pfgm.pfgmpp_denoise``).

``make_objective(config)`` picks the loss of an ``ExperimentConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn

from .config import ExperimentConfig
from .pfgm import PFGMOptions, PFGMppOptions, net_height, pfgm_perturb, pfgm_target, pfgmpp_denoise, pfgmpp_perturbation
from .sampler import SamplerConfig, field_target, first_pairs, ot_pairing, sample_points

Objective = Callable[[nn.Module, Tensor, Tensor | None, torch.Generator], Tensor]


class EFMObjective:
    """Loss of Algorithm 1: the mean over training points of |f(x~) - target(x~)|^2 over all D+1 components.

    Training points: ``sampler.sample_points`` on the first ``n_queries`` items of the P and Q batches; target:
    ``sampler.field_target`` of all charges in the batches.
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
    """The loss of ``config.objective``: ``EFMObjective``, ``FlowMatchingObjective``, ``PFGMObjective`` or
    ``PFGMppObjective``."""
    sampler = config.sampler_config
    if config.objective == "fm":
        return FlowMatchingObjective(config.L, sampler, config.n_queries)
    if config.objective == "pfgm":
        return PFGMObjective(config.method_options, config.L, config.n_queries)
    if config.objective == "pfgmpp":
        return PFGMppObjective(config.method_options, config.L, config.n_queries)
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


class PFGMObjective:
    """PFGM's loss: |f(x~) - target(x~)|^2 summed over the N+1 components, mean over the first ``n_queries`` data
    of the batch (perturbed by ``pfgm_perturb``); the target uses the whole batch. The net sees ``net_height(z)``."""

    def __init__(self, options: PFGMOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        x, z = pfgm_perturb(p[: self.n_queries], self.options, generator)
        target = pfgm_target(x.float(), z.float(), p.float(), self.options.gamma)
        f_x, f_z = net(x, net_height(z, self.options.z_min, self.L, self.L))
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()


class PFGMppObjective:
    """PFGM++'s loss: EDM's weighted denoiser loss lambda(sigma) |D(y + n, sigma) - y|^2, sigma ~ exp(N(P_mean,
    P_std^2)), n from PFGM++'s kernel at sigma, lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2; mean over
    the first ``n_queries`` data of the batch."""

    def __init__(self, options: PFGMppOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        y, o = p[: self.n_queries], self.options
        sigma = torch.exp(torch.randn(y.shape[0], generator=generator, device=y.device, dtype=y.dtype) * o.P_std + o.P_mean)
        x = y + pfgmpp_perturbation(y.shape[0], tuple(y.shape[1:]), sigma, o.d_aug, generator)
        weight = (sigma**2 + o.sigma_data**2) / (sigma * o.sigma_data) ** 2
        err = (pfgmpp_denoise(net, x, sigma, o, self.L) - y).flatten(1).square().sum(1)
        return (weight * err).mean()
