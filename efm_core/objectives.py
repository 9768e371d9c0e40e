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

Each loss holds only its hyperparameters (as EDM's losses do) and is registered under its config name
(``register_objective``): ``OBJECTIVES`` maps the name to the class, whose ``from_config(config)`` reads those
hyperparameters from an ``ExperimentConfig``; ``make_objective(config)`` picks the loss of a config, and the
config's allowed objectives are the registry's names. A new loss is one class with ``from_config`` and one
``@register_objective("name")`` line (its class may live in its own module, registered here). This module reads
configs by duck typing (``ObjectiveConfig``), so that ``config`` can import the registry without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import torch
from torch import Tensor, nn

from .interaction import IFMObjective
from .pfgm import PFGMOptions, PFGMppOptions, net_height, pfgm_perturb, pfgm_target, pfgmpp_denoise, pfgmpp_perturbation
from .sampler import SamplerConfig, field_target, first_pairs, ot_pairing, sample_points

Objective = Callable[[nn.Module, Tensor, Tensor | None, torch.Generator], Tensor]


class ObjectiveConfig(Protocol):
    """What a loss reads of an ``ExperimentConfig`` (see there)."""

    objective: str
    L: float
    n_queries: int
    target: str

    @property
    def sampler_config(self) -> SamplerConfig: ...

    @property
    def method_options(self) -> PFGMOptions | PFGMppOptions | None: ...


class ObjectiveClass(Protocol):
    """A registered loss: built from a config, then called as ``objective(net, p, q, generator) -> loss``."""

    @classmethod
    def from_config(cls, config: ObjectiveConfig) -> Objective: ...


OBJECTIVES: dict[str, ObjectiveClass] = {}  # config name -> loss class, in registration order


def register_objective(name: str) -> Callable[[type], type]:
    """Class decorator: register a loss class (with ``from_config``) under the config name ``name``."""

    def register(cls: type) -> type:
        if name in OBJECTIVES:
            raise ValueError(f"objective {name!r} is already registered (by {OBJECTIVES[name].__name__}).")
        OBJECTIVES[name] = cls
        return cls

    return register


def make_objective(config: ObjectiveConfig) -> Objective:
    """The loss of ``config.objective``, built by its registered class (``OBJECTIVES``)."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {config.objective!r}.")
    return OBJECTIVES[config.objective].from_config(config)


@register_objective("efm")
class EFMObjective:
    """Loss of Algorithm 1: the mean over training points of |f(x~) - target(x~)|^2 over all D+1 components.

    Training points: ``sampler.sample_points`` on the first ``n_queries`` items of the P and Q batches; target:
    ``sampler.field_target`` of all charges in the batches.
    """

    def __init__(self, L: float, sampler: SamplerConfig, n_queries: int, target: str = "exact") -> None:
        self.L, self.sampler, self.n_queries, self.target = float(L), sampler, int(n_queries), target

    @classmethod
    def from_config(cls, config: ObjectiveConfig) -> EFMObjective:
        return cls(config.L, config.sampler_config, config.n_queries, config.target)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        points = sample_points(*first_pairs(p, q, self.n_queries), self.L, self.sampler, generator)
        charges_q = None if q is None else q.flatten(1).float()
        target = field_target(points.lifted().float(), p.flatten(1).float(), charges_q, self.L, self.target)
        f_x, f_z = net(points.x, points.z)
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()


@register_objective("fm")
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

    @classmethod
    def from_config(cls, config: ObjectiveConfig) -> FlowMatchingObjective:
        return cls(config.L, config.sampler_config, config.n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        if q is None:
            raise ValueError("flow matching needs samples on both plates.")
        p, q = first_pairs(p, q, self.n_queries)
        if self.pairing == "ot":
            q = ot_pairing(p, q)
        points = sample_points(p, q, self.L, self.sampler, generator)
        f_x, _ = net(points.x, points.z)
        return (f_x - (q - p)).flatten(1).square().sum(1).mean()


register_objective("ifm")(IFMObjective)  # IFM's loss lives beside its field (efm_core.interaction)


@register_objective("pfgm")
class PFGMObjective:
    """PFGM's loss: |f(x~) - target(x~)|^2 summed over the N+1 components, mean over the first ``n_queries`` data
    of the batch (perturbed by ``pfgm_perturb``); the target uses the whole batch. The net sees ``net_height(z)``."""

    def __init__(self, options: PFGMOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    @classmethod
    def from_config(cls, config: ObjectiveConfig) -> PFGMObjective:
        return cls(config.method_options, config.L, config.n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        x, z = pfgm_perturb(p[: self.n_queries], self.options, generator)
        target = pfgm_target(x.float(), z.float(), p.float(), self.options.gamma)
        f_x, f_z = net(x, net_height(z, self.options.z_min, self.L, self.L))
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()


@register_objective("pfgmpp")
class PFGMppObjective:
    """PFGM++'s loss: EDM's weighted denoiser loss lambda(sigma) |D(y + n, sigma) - y|^2, sigma ~ exp(N(P_mean,
    P_std^2)), n from PFGM++'s kernel at sigma, lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2; mean over
    the first ``n_queries`` data of the batch."""

    def __init__(self, options: PFGMppOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    @classmethod
    def from_config(cls, config: ObjectiveConfig) -> PFGMppObjective:
        return cls(config.method_options, config.L, config.n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        y, o = p[: self.n_queries], self.options
        normal = torch.randn(y.shape[0], generator=generator, device=y.device, dtype=y.dtype)
        sigma = torch.exp(normal * o.P_std + o.P_mean)
        x = y + pfgmpp_perturbation(y.shape[0], tuple(y.shape[1:]), sigma, o.d_aug, generator)
        weight = (sigma**2 + o.sigma_data**2) / (sigma * o.sigma_data) ** 2
        err = (pfgmpp_denoise(net, x, sigma, o, self.L) - y).flatten(1).square().sum(1)
        return (weight * err).mean()
