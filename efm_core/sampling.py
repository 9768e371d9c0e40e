"""Sampling a trained model: ``generate`` (noise -> data), ``translate`` (data -> data) and ``evaluate`` (metrics).

Seeds are per item, as EDM's ``StackedRandomGenerator``: item i of seed s is drawn from its own generator seeded
with ``item_seed(s, i)``, so it is the same item whatever n is and wherever it is drawn (the CLI, the app). This
holds for every endless source (Gaussian noise, a toy) and the priors of PFGM and PFGM++; a finite set (digits, a
user's file: a translation model's P) draws n items at once from one generator of seed s (a subset without
replacement cannot be drawn item by item).

PFGM and PFGM++ (``efm_core.pfgm``) generate from their prior: PFGM by ``solvers.transport`` of ``fields.pfgm_field``
in t = log z from log z_max down to log z_min (the config's solver, RK45 in the presets), PFGM++ by
``solvers.edm_sample`` from sigma_max = L down to 0 (solver heun or euler, ``steps`` levels).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from . import limits
from .config import ExperimentConfig
from .data.sources import FiniteSource, Source, data_info, make_source
from .fields import learned_field, pfgm_field, space_field
from .nets import FieldSpaceMLP
from .paths import ARC, EDM_SOLVERS, Trajectory
from .pfgm import pfgm_prior, pfgmpp_denoise, pfgmpp_prior
from .solvers import edm_levels, edm_sample, transport
from .theorem import transport_two_sided


def item_seed(seed: int, i: int) -> int:
    """The seed of item ``i`` of a run seeded with ``seed`` (one generator per item)."""
    return (int(seed) * 1_000_003 + i) % (2**63 - 1)


def data_shape(net: nn.Module, config: ExperimentConfig) -> tuple[int, ...]:
    """The shape of one item of ``net`` (its ``data_shape``, as every net of ``nets`` has), else what ``config``'s P
    spec states (``data.sources.data_info``)."""
    shape = getattr(net, "data_shape", None)
    return tuple(shape) if shape is not None else data_info(config.p).shape


def _p_source(config: ExperimentConfig) -> Source:
    """P's source, to draw start items from; a ValueError saying what to do if its data cannot be read."""
    try:
        return make_source(config.p)
    except ValueError as err:
        raise ValueError(
            f"this model starts from samples of its P data ({config.p.get('kind')}), which cannot be read: {err} "
            "Put the data back to sample, or move items of your own with translate (python -m efm_core transport "
            "--input IN.npy)."
        ) from None


def start_points(config: ExperimentConfig, n: int, seed: int, shape: tuple[int, ...] | None = None
                 ) -> tuple[Tensor, bool]:
    """``n`` start items (n, *shape) on the CPU for a noise -> data run of ``config`` and whether they start on a
    prior (PFGM, PFGM++). An endless source (Gaussian noise, a toy) or a prior is drawn one item at a time from its
    own generator (``item_seed``), so the first k items stay the same when n changes; a finite set draws n at once.
    A prior needs only the items' ``shape`` (default: what the P spec states), no data; other starts are P's
    samples (``_p_source``: a P file must be there)."""
    o = config.method_options
    draw: Callable[[torch.Generator], Tensor]
    if config.one_plate:
        shape = data_info(config.p).shape if shape is None else tuple(shape)
    if config.objective == "pfgm":
        draw = lambda g: pfgm_prior(1, shape, config.L, o.radius, g)[0]  # noqa: E731
    elif config.objective == "pfgmpp":
        draw = lambda g: pfgmpp_prior(1, shape, config.L, o.d_aug, g)[0]  # noqa: E731
    else:
        source = _p_source(config)
        if isinstance(source, FiniteSource):
            return source.sample(n, torch.Generator().manual_seed(int(seed))), False
        draw = lambda g: source.sample(1, g)[0]  # noqa: E731
    items = [draw(torch.Generator().manual_seed(item_seed(seed, i))) for i in range(n)]
    return torch.stack(items), config.one_plate


def _solver_options(config: ExperimentConfig, overrides: dict) -> dict:
    """The config's solver options updated by ``overrides``; a different solver kind starts from its own defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    own = config.solver.get("kind", "heun")
    options = {**(config.solver if given.get("kind", own) == own else {}), **given}
    kind = options.pop("kind", "heun")
    return {"solver": kind, **options}


def _two_sided(net: nn.Module, config: ExperimentConfig, x0: Tensor, z_start: float, z_end: float, seed: int,
               options: dict) -> Trajectory:
    """The ``arc`` solver: ``theorem.transport_two_sided`` with the net's field, x shaped like ``x0``."""
    options = dict(options)
    options.pop("solver")
    not_here = sorted(set(options) & {"f_min", "rtol", "atol", "snapshots"})
    if not_here:
        raise ValueError(
            f"the arc solver has no option(s) {not_here} (it needs no slope guard and records no heights)."
        )
    if not isinstance(net, FieldSpaceMLP):
        raise ValueError("the arc solver needs a field learned in the whole space (net kind 'space_mlp').")
    r = transport_two_sided(space_field(net), x0.flatten(1), z_start, z_end, config.L, seed=seed, **options)
    return r._replace(x=r.x.reshape(x0.shape))


def generate(net: nn.Module, config: ExperimentConfig, n: int, seed: int = 0, **solver: object) -> Trajectory:
    """Draw ``n`` samples of P (seeded) and carry them to Q: result with x of shape (n, *shape) on the net's device.

    The start items are ``start_points(config, n, seed)`` (per-item seeds for noise: item i is the same for any n).
    PFGM and PFGM++ start on their prior and run to the data (``_from_prior``).
    ``solver`` overrides the config's solver options (solver kind as ``kind``, steps, f_min, rtol, snapshots...).
    """
    limits.check_count("n", n, limits.MAX_ITEMS, why="items in one call: generate in several calls")
    options = _solver_options(config, solver)
    device = next(net.parameters()).device
    x0, from_prior = start_points(config, n, seed, data_shape(net, config))
    if from_prior:
        return _from_prior(net, config, x0.to(device), options)
    field = learned_field(net, config.objective, config.L)
    if options["solver"] == ARC:
        return _two_sided(net, config, x0.to(device), 0.0, config.L, seed, options)
    return transport(field, x0.to(device), 0.0, config.L, **options)


def _from_prior(net: nn.Module, config: ExperimentConfig, x0: Tensor, options: dict) -> Trajectory:
    """Carry prior points ``x0`` (n, *shape) to the data. PFGM: ``transport`` in t = log z from log L to log z_min
    (the result's z, levels back in z). PFGM++: ``edm_sample`` on ``edm_levels(steps)`` (heun or euler, no other
    option; z = 0 at the end)."""
    o = config.method_options
    if config.objective == "pfgm":
        r = transport(pfgm_field(net, o, config.L), x0, math.log(config.L), math.log(o.z_min), **options)
        return r._replace(z=r.z.exp(), levels=None if r.levels is None else r.levels.exp())
    kind, steps = options.pop("solver"), options.pop("steps", 18)
    if kind not in EDM_SOLVERS or options:
        raise ValueError(f"PFGM++ samples with EDM's sampler: solver 'heun' or 'euler' and steps only; got {kind!r} with {sorted(options)}.")
    param = next(net.parameters())
    denoise = lambda x, s: pfgmpp_denoise(net, x.to(param), s.to(param), o, config.L)  # noqa: E731
    return edm_sample(denoise, x0.to(param), edm_levels(int(steps), o.sigma_min, config.L, o.rho), heun=kind == "heun")


def translate(net: nn.Module, config: ExperimentConfig, x: Tensor, reverse: bool = False, seed: int = 0,
              **solver: object) -> Trajectory:
    """Carry data ``x`` (n, *shape) from P (z = 0) to Q (z = L), or from Q back to P if ``reverse``; ``seed``
    seeds the arc solver's side choice (the other solvers draw nothing)."""
    if config.one_plate:
        raise ValueError(f"{config.objective} has data on one plate only; it generates but does not translate.")
    shape = data_shape(net, config)
    if not isinstance(x, Tensor) or tuple(x.shape[1:]) != tuple(shape) or x.shape[0] < 1:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"inputs must have shape (n, {', '.join(map(str, shape))}) for this model; got {got}.")
    field = learned_field(net, config.objective, config.L)
    start, end = (config.L, 0.0) if reverse else (0.0, config.L)
    x0 = x.float().to(next(net.parameters()).device)
    options = _solver_options(config, solver)
    if options["solver"] == ARC:
        return _two_sided(net, config, x0, start, end, seed, options)
    return transport(field, x0, start, end, **options)


def evaluate(net: nn.Module, config: ExperimentConfig, n: int = 1000, seed: int = 0, **solver: object) -> dict:
    """Metrics of a trained net (``efm_core.metrics``) plus transport statistics (NFE, turned back, bad share).

    Generation of points (toys, point files): ``pointcloud_report`` (W2 vs its two-sample floor, energy distance).
    Generation of digits from noise: ``digits_report`` (classifier confidence and class shares, FD, k-NN precision /
    recall, memorisation against the training items); of Fashion-MNIST: ``fashion_report`` (the same in the
    Fashion-MNIST classifier's feature space, against held-out test images). Translation between digit classes (P and Q both digits of
    one class each): ``translation_report`` (read as the target class, hue kept) of n inputs from P.
    """
    from . import metrics

    limits.check_count("n", n, limits.MAX_EVAL_ITEMS, why="exact W2 costs O(n^3) time and O(n^2) memory")

    target_spec = config.p if config.one_plate else config.q
    target, source = _eval_source(target_spec, "target"), _eval_source(config.p, "P")
    translating = not config.one_plate and config.p["kind"] in ("digits", "coloured_digits")
    if translating:
        inputs = source.reference(n, seed)
        result = translate(net, config, inputs, **solver)
    else:
        result = generate(net, config, n, seed, **solver)
    out = result.x if target.clip is None else result.x.clamp(*target.clip)
    if translating and len(target_spec.get("classes") or []) == 1 and target_spec["kind"] in ("digits", "coloured_digits"):
        report = metrics.translation_report(inputs, out, int(target_spec["classes"][0]))
    elif target_spec["kind"] in ("digits", "coloured_digits"):
        report = metrics.digits_report(out, train=target.items)
    elif target_spec["kind"] == "fashion_mnist":
        report = metrics.fashion_report(out, target.reference(n, seed + 1), train=target.items)
    elif target.clip is None:
        sampler = (lambda m, s: target.reference(m, 7919 + s)) if target_spec["kind"] == "toy" else None
        report = metrics.pointcloud_report(out, target.reference(n, seed + 1), target_sampler=sampler)
    else:
        report = {}
    report.update({f"transport_{k}": v for k, v in result.stats().items()})
    return report


def _eval_source(spec: dict, what: str) -> Source:
    """The source ``evaluate`` compares against; a ValueError saying what it needs if its data cannot be read."""
    try:
        return make_source(spec)
    except ValueError as err:
        raise ValueError(f"evaluate compares samples with the model's data and needs its {what} data "
                         f"({spec.get('kind')}), which cannot be read: {err}") from None
