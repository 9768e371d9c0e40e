"""What an experiment is: the JSON-able ``ExperimentConfig``, the data sources it names, and the named presets.

Plate convention (as the paper): P on z = 0 (positive charges), Q on z = L (negative charges); generation puts noise
on P and data on Q and moves forward along the field; translation moves P's data to Q's (``reverse`` goes back).
PFGM and PFGM++ (``efm_core.pfgm``) are the exception: their data sit alone on z = 0 (``p``) and their lines start on
a prior (PFGM: on the plane z = L; PFGM++: the kernel at sigma_max = L) and end on the data.

Data source specs (dicts, stored in checkpoints):

* ``{"kind": "toy", "name": "two_moons", "D": 2}``: fresh samples of ``efm_core.data.TOYS[name]`` every draw;
* ``{"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0}``: N(0, std^2 I) noise of any shape;
* ``{"kind": "digits", "classes": null, "split": "train"}``: scikit-learn's 8x8 digits (n, 1, 8, 8) in [-1, 1]
  (``split`` all | train | test of ``images.digits_split``; ``classes`` a list of digits or null for all);
* ``{"kind": "coloured_digits", "classes": [2], "split": "train"}``: the same strokes in one random hue per image,
  redrawn at every draw (hue augmentation), (n, 3, 8, 8);
* ``{"kind": "points_file", "path": "cloud.csv"}``: a user's point cloud (CSV or NPY, ``images.load_point_cloud``);
* ``{"kind": "image_folder", "path": "dir", "size": 8, "channels": 1}``: a user's images (``images.load_image_folder``).

A draw of n items from a finite set (digits, files) is a random subset without replacement, or the whole set in
random order when n exceeds its size.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from . import images
from .data import TOYS
from .nets import NET_KINDS
from .pfgm import OBJECTIVES as ONE_PLATE_OBJECTIVES
from .pfgm import PFGMOptions, PFGMppOptions, method_options, options_dict
from .plates import check_gap
from .sampler import TARGETS, SamplerConfig

OBJECTIVES = ("efm", "fm", *ONE_PLATE_OBJECTIVES)
LR_SCHEDULES = ("cosine", "constant")
SOLVERS = ("euler", "heun", "rk45")  # solvers in z between the plates (transport.transport)
ARC = "arc"  # the two-sided solver in arc length through the whole space (two_sided.transport_two_sided)
SAMPLING_SOLVERS = (*SOLVERS, ARC)
SOLVER_OPTIONS = {"kind", "steps", "f_min", "rtol", "atol", "max_steps", "sides", "r_min", "delta"}
SOURCE_KINDS = ("toy", "gaussian", "digits", "coloured_digits", "points_file", "image_folder")


# --- data sources ----------------------------------------------------------------------------------------------------


class Source:
    """A distribution to draw from: ``sample(n, generator)`` -> float32 (n, *shape) on the CPU.

    ``clip`` is the valid range of the data ((-1, 1) for images, None for points), ``labels`` of a finite set
    (or None), ``reference(n, seed)`` held-out or fresh items for evaluation.
    """

    def __init__(self, spec: dict, shape: tuple[int, ...], clip: tuple[float, float] | None) -> None:
        self.spec = spec
        self.shape = shape
        self.clip = clip

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """n fresh items (seeded) to evaluate against."""
        return self.sample(n, torch.Generator().manual_seed(int(seed)))


class ToySource(Source):
    def __init__(self, spec: dict) -> None:
        name, D = spec.get("name"), spec.get("D", 2)
        if name not in TOYS:
            raise ValueError(f"unknown toy {name!r} in a data spec; choose one of: {', '.join(TOYS)}.")
        if D not in (1, 2):
            raise ValueError(f"toys exist for D = 1 and D = 2; got D = {D!r}.")
        super().__init__(spec, (int(D),), None)
        self.sampler = TOYS[name]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.sampler(n, self.shape[0], generator).float()


class GaussianSource(Source):
    def __init__(self, spec: dict) -> None:
        shape = spec.get("shape")
        std = spec.get("std", 1.0)
        if not (isinstance(shape, list | tuple) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
            raise ValueError(f"a gaussian data spec needs 'shape', a list of positive integers such as [2] or [1, 8, 8]; got {shape!r}.")
        if not (isinstance(std, int | float) and std > 0):
            raise ValueError(f"a gaussian data spec needs std > 0; got {std!r}.")
        super().__init__(spec, tuple(shape), None)
        self.std = float(std)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.std * torch.randn((n, *self.shape), generator=generator)


class FiniteSource(Source):
    """A finite set of items (n, *shape); draws are random subsets."""

    def __init__(self, spec: dict, items: Tensor, clip: tuple[float, float] | None, labels: Tensor | None = None,
                 held_out: Tensor | None = None) -> None:
        super().__init__(spec, tuple(items.shape[1:]), clip)
        self.items = items.float()
        self.labels = labels
        self.held_out = held_out

    def indices(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randperm(self.items.shape[0], generator=generator)[:n]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.items[self.indices(n, generator)]

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """The held-out items if the spec names a train split (all of them, up to n), else a seeded subset."""
        if self.held_out is not None:
            return self.held_out[:n]
        return super().reference(n, seed)


class ColouredDigitsSource(FiniteSource):
    """Grey digit strokes coloured with a fresh uniformly random hue at every draw. A draw of more items than the set
    holds repeats strokes (with replacement), each copy in its own hue, so that P and Q batches have n items each."""

    def __init__(self, spec: dict, items: Tensor, clip: tuple[float, float] | None, labels: Tensor | None = None,
                 held_out: Tensor | None = None) -> None:
        super().__init__(spec, items, clip, labels, held_out)
        self.shape = (3, *self.shape[1:])  # the grey strokes (1, H, W) are drawn as RGB (3, H, W)

    def indices(self, n: int, generator: torch.Generator) -> Tensor:
        size = self.items.shape[0]
        return super().indices(n, generator) if n <= size else torch.randint(size, (n,), generator=generator)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        idx = self.indices(n, generator)
        hues = 360.0 * torch.rand(idx.shape[0], generator=generator)
        return images.colourise(self.items[idx], hues)

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """n held-out strokes (cycled if there are fewer) in fresh random hues."""
        g = torch.Generator().manual_seed(int(seed))
        base = self.held_out if self.held_out is not None else self.items
        order = torch.randperm(base.shape[0], generator=g)
        base = base[order[torch.arange(n) % base.shape[0]]]
        return images.colourise(base, 360.0 * torch.rand(n, generator=g))


@lru_cache(maxsize=8)
def _digits(split: str, classes: tuple[int, ...] | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """(items, labels, held-out items) of one split of the digits, grey (n, 1, 8, 8)."""
    if split not in ("all", "train", "test"):
        raise ValueError(f"digits split must be 'all', 'train' or 'test'; got {split!r}.")
    if split == "all":
        data, other = images.load_digits(), None
    else:
        train, test = images.digits_split()
        data, other = (train, test) if split == "train" else (test, None)
    if classes is not None:
        data = images.select_classes(data, classes)
        other = images.select_classes(other, classes) if other is not None else None
    return data.images, data.labels, other.images if other is not None else None


def make_source(spec: dict) -> Source:
    """The data source of a spec (see the module docstring); ValueError for unknown kinds or bad options."""
    if not isinstance(spec, dict) or spec.get("kind") not in SOURCE_KINDS:
        raise ValueError(f"a data spec is a dict whose 'kind' is one of {', '.join(SOURCE_KINDS)}; got {spec!r}.")
    kind = spec["kind"]
    if kind == "toy":
        return ToySource(spec)
    if kind == "gaussian":
        return GaussianSource(spec)
    if kind in ("digits", "coloured_digits"):
        classes = spec.get("classes")
        items, labels, held = _digits(spec.get("split", "all"), tuple(int(c) for c in classes) if classes is not None else None)
        cls = FiniteSource if kind == "digits" else ColouredDigitsSource
        return cls(spec, items, (-1.0, 1.0), labels, held)
    if kind == "points_file":
        return FiniteSource(spec, images.load_point_cloud(_path(spec)), None)
    return FiniteSource(spec, images.load_image_folder(_path(spec), spec.get("size", 8), spec.get("channels", 1)), (-1.0, 1.0))


def _path(spec: dict) -> str:
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"a {spec['kind']} data spec needs 'path', the file or folder to read; got {path!r}.")
    return path


# --- experiment config -----------------------------------------------------------------------------------------------


@dataclass
class ExperimentConfig:
    """Everything needed to train (and later rebuild) one model; JSON round trip with ``to_dict``/``from_dict``.

    objective: 'efm' (the paper), 'fm' (conditional flow matching baseline), 'pfgm' or 'pfgmpp' (PFGM and PFGM++,
        ``efm_core.pfgm``: ``q`` must be None; ``L`` is PFGM's z_max or PFGM++'s sigma_max).
    p, q: data source specs of the plates z = 0 and z = L.
    L: plate distance (data units). net: ``nets.build_net`` spec. sampler: ``sampler.SamplerConfig`` dict.
    target: 'exact' (E/|E|) or 'upstream' (per-plate surrogate, softened by ``gamma``).
    method: the pfgm / pfgmpp options (``pfgm.PFGMOptions`` / ``PFGMppOptions`` fields; {} for efm and fm).
    n_charges: charges per plate per step (the target's large batch); n_queries: training points per step.
    steps, lr, warmup (linear warm-up steps), lr_schedule ('cosine' decays to ``min_lr_ratio`` * lr at ``steps``,
        'constant'), grad_clip (max grad norm, 0 = off), ema (decay of the weights used for sampling), seed.
    solver: defaults for sampling: {"kind": euler | heun | rk45, "steps": int, "f_min": float, "rtol": float}, or
        {"kind": "arc", "sides": "both", "steps": int, ...} (two-sided, needs net kind 'space_mlp').
    """

    name: str
    objective: str
    p: dict
    q: dict | None
    L: float
    net: dict
    sampler: dict = field(default_factory=dict)
    target: str = "exact"
    gamma: float = 1e-7
    n_charges: int = 1024
    n_queries: int = 256
    steps: int = 2000
    lr: float = 1e-3
    warmup: int = 200
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    ema: float = 0.999
    seed: int = 0
    solver: dict = field(default_factory=lambda: {"kind": "heun", "steps": 50, "f_min": 0.05})
    description: str = ""
    method: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError (what is wrong, how to fix it) unless every field makes sense."""
        if not isinstance(self.name, str) or not self.name or any(c in self.name for c in "/\\"):
            raise ValueError(f"config name must be a non-empty file-name-safe string; got {self.name!r}.")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}.")
        self.L = check_gap(self.L)
        for key in ("p", "q"):
            spec = getattr(self, key)
            if spec is None and not (key == "q" and self.one_plate):
                raise ValueError(f"config {key!r} (the data on plate {'z = 0' if key == 'p' else 'z = L'}) is missing.")
            if spec is not None and (not isinstance(spec, dict) or spec.get("kind") not in SOURCE_KINDS):
                raise ValueError(f"config {key!r} must be a data spec with 'kind' in {', '.join(SOURCE_KINDS)}; got {spec!r}.")
        if self.one_plate and self.q is not None:
            raise ValueError(f"the {self.objective} objective has data on one plate only: set q to null.")
        method_options(self.objective, self.method)
        if self.one_plate and self.sampler:
            raise ValueError(f"{self.objective} draws its own training points: set sampler to {{}} (its options go in method).")
        if not isinstance(self.net, dict) or self.net.get("kind") not in NET_KINDS:
            raise ValueError(f"config net must be a dict with 'kind' in {', '.join(NET_KINDS)}; got {self.net!r}.")
        SamplerConfig.from_dict(self.sampler)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}.")
        for key in ("n_charges", "n_queries", "steps"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"config {key} must be a positive integer; got {value!r}.")
        if self.n_queries > self.n_charges:
            raise ValueError(f"n_queries ({self.n_queries}) cannot exceed n_charges ({self.n_charges}): queries are built from the charges.")
        for key in ("lr", "gamma", "grad_clip", "min_lr_ratio"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"config {key} must be a finite number >= 0; got {value!r}.")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"config warmup must be an integer >= 0; got {self.warmup!r}.")
        if not (isinstance(self.ema, int | float) and 0 <= self.ema < 1):
            raise ValueError(f"config ema must be a decay in [0, 1); got {self.ema!r}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {self.lr_schedule!r}.")
        if not isinstance(self.seed, int):
            raise ValueError(f"config seed must be an integer; got {self.seed!r}.")
        if not isinstance(self.solver, dict) or self.solver.get("kind", "heun") not in SAMPLING_SOLVERS:
            raise ValueError(f"config solver must be a dict with 'kind' in {', '.join(SAMPLING_SOLVERS)}; got {self.solver!r}.")
        if self.solver.get("kind") == ARC and (self.objective != "efm" or self.net.get("kind") != "space_mlp"):
            raise ValueError("the arc solver follows an EFM field through the whole space: it needs objective 'efm' and net kind 'space_mlp'.")
        unknown = sorted(set(self.solver) - SOLVER_OPTIONS)
        if unknown:
            raise ValueError(f"unknown solver option(s) {unknown}; known: {sorted(SOLVER_OPTIONS)}.")

    @property
    def one_plate(self) -> bool:
        """True for PFGM and PFGM++: data on z = 0 only, lines from a prior (``efm_core.pfgm``)."""
        return self.objective in ONE_PLATE_OBJECTIVES

    @property
    def method_options(self) -> PFGMOptions | PFGMppOptions | None:
        return method_options(self.objective, self.method)

    @property
    def sampler_config(self) -> SamplerConfig:
        return SamplerConfig.from_dict(self.sampler)

    def to_dict(self) -> dict:
        """JSON-able dict; ``method`` only when it holds options (so the cards of EFM and flow matching are unchanged)."""
        out = asdict(self)
        if not out["method"]:
            del out["method"]
        return out

    @classmethod
    def from_dict(cls, spec: object) -> ExperimentConfig:
        """Build and validate from a dict (e.g. parsed JSON); unknown or missing keys raise ValueError."""
        if not isinstance(spec, dict):
            raise ValueError(f"a config is a JSON object; got {type(spec).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}.")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [k for k in required if k not in spec]
        if missing:
            raise ValueError(f"config is missing required key(s) {missing}.")
        return cls(**spec)

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentConfig:
        """Read a JSON config file; ValueError if it is missing or not valid JSON."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"config file {str(p)!r} does not exist.")
        try:
            spec = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"config file {str(p)!r} is not valid JSON: {err}.") from None
        return cls.from_dict(spec)

    def replace(self, **changes: object) -> ExperimentConfig:
        """A validated copy with some fields changed."""
        return ExperimentConfig.from_dict({**self.to_dict(), **changes})


# --- presets ---------------------------------------------------------------------------------------------------------

_TOY_NET = {"kind": "mlp", "width": 256, "depth": 3}
_TOY_TARGETS = ("two_gaussians", "swiss_roll", "two_moons")
_DIGITS_NET = {"kind": "mlp", "width": 512, "depth": 3}
_TOY_RMS = {"two_gaussians": 5.7, "swiss_roll": 1.37, "two_moons": 1.4}  # RMS per coordinate of each toy (PFGM++'s sigma_data)


def _toy(name: str, target: str, L: float, objective: str = "efm") -> ExperimentConfig:
    # tent noise of std 4 mid-gap covers where the curved lines go. Gaussian -> two Gaussians, L = 6, 1200 steps,
    # 1000 lines: std 0.5 left 9% of the lines turned back (W2 16), std 2 2.6% (W2 7.4), std 4 none (W2 4.3, floor 1.3);
    # constant noise of std 1: 21% (W2 4.4). Swiss roll: W2 0.79 (std 2) -> 0.70 (std 4), floor 0.53.
    sampler = {"kind": "tent", "sigma": 4.0} if objective == "efm" else {"kind": "none"}
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": target, "D": 2}, L=L, net=dict(_TOY_NET), sampler=sampler,
        n_charges=1024, n_queries=256, steps=3000, lr=1e-3, warmup=200, ema=0.995,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"Gaussian -> {target} in 2-D at L = {L:g} ({objective}).",
    )


def _toy_two_sided(name: str, target: str, L: float) -> ExperimentConfig:
    # Theorem 3.1's map with a learned field: the net learns the field in the whole space (the whole_space sampler)
    # and the arc solver follows lines out of both sides of P. Gaussian -> two Gaussians, L = 6: forward-only EFM
    # reached W2 3.3x the floor (43 % of P's flux leaves backwards); two-sided 0.75-0.93x (three draws of 1000).
    return ExperimentConfig(
        name=name, objective="efm", p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": target, "D": 2}, L=L, net={"kind": "space_mlp", "width": 256, "depth": 4},
        sampler={"kind": "whole_space", "sigma": 2.0}, n_charges=1024, n_queries=512, steps=3000, lr=1e-3, warmup=200,
        ema=0.995, solver={"kind": "arc", "sides": "both", "steps": 25},
        description=f"Gaussian -> {target} in 2-D at L = {L:g} (efm, two-sided: field learned in the whole space).",
    )


def _one_plate(name: str, objective: str, data: dict, net: dict, steps: int, n_charges: int, scale: float, D_aug: float) -> ExperimentConfig:
    """PFGM (z_max = 40, upstream's CIFAR-10 options) or PFGM++ (EDM's options with sigma_data = ``scale``, the data's
    RMS per coordinate, and P_mean shifted by log(scale / 0.5) so that training levels follow the data's scale)."""
    if objective == "pfgm":
        L, method = 40.0, options_dict(PFGMOptions())
        solver = {"kind": "rk45", "steps": 20, "rtol": 1e-4, "atol": 1e-4, "f_min": 1e-4, "max_steps": 2000}
    else:
        L = 80.0
        method = options_dict(PFGMppOptions(D_aug=D_aug, sigma_data=scale, P_mean=round(-1.2 + math.log(scale / 0.5), 3)))
        solver = {"kind": "heun", "steps": 18}
    what = "PFGM" if objective == "pfgm" else f"PFGM++ (D_aug = {D_aug:g})"
    return ExperimentConfig(
        name=name, objective=objective, p=data, q=None, L=L, net=dict(net), sampler={}, n_charges=n_charges,
        n_queries=256, steps=steps, lr=1e-3, warmup=200, ema=0.995 if data["kind"] == "toy" else 0.999, solver=solver,
        description=f"{what}: {data.get('name', data['kind'])} alone on z = 0.", method=method,
    )


def _digits_gen(name: str, objective: str) -> ExperimentConfig:
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0},
        q={"kind": "digits", "classes": None, "split": "train"}, L=5.0, net=dict(_DIGITS_NET),
        sampler={"kind": "tent", "sigma": 0.05} if objective == "efm" else {"kind": "none"},
        n_charges=2048, n_queries=256, steps=6000, lr=1e-3, warmup=200, ema=0.999,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"N(0, I) noise -> scikit-learn digits (train split), 8x8 ({objective}).",
    )


def _cdigits(name: str, objective: str) -> ExperimentConfig:
    return ExperimentConfig(
        name=name, objective=objective, p={"kind": "coloured_digits", "classes": [2], "split": "train"},
        q={"kind": "coloured_digits", "classes": [3], "split": "train"}, L=2.0, net=dict(_DIGITS_NET),
        sampler={"kind": "tent", "sigma": 0.05, "pairing": "ot"} if objective == "efm" else {"kind": "none", "pairing": "ot"},
        n_charges=1024, n_queries=256, steps=3000, lr=1e-3, warmup=200, ema=0.999,
        solver={"kind": "heun", "steps": 50, "f_min": 0.05},
        description=f"Coloured digits 2 -> 3 (random hues, minibatch-OT pairs), 8x8x3 ({objective}).",
    )


def _tiny() -> ExperimentConfig:
    return ExperimentConfig(
        name="tiny", objective="efm", p={"kind": "toy", "name": "gaussian", "D": 2},
        q={"kind": "toy", "name": "two_moons", "D": 2}, L=2.0, net={"kind": "mlp", "width": 32, "depth": 1},
        sampler={"kind": "tent", "sigma": 0.3}, n_charges=128, n_queries=64, steps=30, warmup=5, ema=0.9,
        solver={"kind": "heun", "steps": 10, "f_min": 0.05}, description="A seconds-long run for tests.",
    )


def _build_presets() -> dict[str, ExperimentConfig]:
    presets = {"tiny": _tiny()}
    for target in _TOY_TARGETS:
        for L in (6, 30):
            name = f"{target}-L{L}"
            presets[name] = _toy(name, target, float(L))
            presets[f"fm-{name}"] = _toy(f"fm-{name}", target, float(L), "fm")
            presets[f"{name}-two-sided"] = _toy_two_sided(f"{name}-two-sided", target, float(L))
        toy = {"kind": "toy", "name": target, "D": 2}
        # D_aug = 2N for PFGM++ (N / D_aug = 1/2 on the toys and on the digits)
        presets[f"pfgm-{target}"] = _one_plate(f"pfgm-{target}", "pfgm", toy, _TOY_NET, 1500, 1024, 1.0, 1.0)
        presets[f"pfgmpp-{target}"] = _one_plate(f"pfgmpp-{target}", "pfgmpp", toy, _TOY_NET, 1500, 1024, _TOY_RMS[target], 4.0)
    presets["digits-gen"] = _digits_gen("digits-gen", "efm")
    presets["fm-digits-gen"] = _digits_gen("fm-digits-gen", "fm")
    digits = {"kind": "digits", "classes": None, "split": "train"}
    presets["pfgm-digits"] = _one_plate("pfgm-digits", "pfgm", digits, _DIGITS_NET, 2000, 2048, 1.0, 1.0)
    presets["pfgmpp-digits"] = _one_plate("pfgmpp-digits", "pfgmpp", digits, _DIGITS_NET, 2000, 2048, 0.5, 128.0)
    presets["cdigits-2to3"] = _cdigits("cdigits-2to3", "efm")
    presets["fm-cdigits-2to3"] = _cdigits("fm-cdigits-2to3", "fm")
    return presets


PRESETS: dict[str, ExperimentConfig] = _build_presets()


def get_preset(name: str) -> ExperimentConfig:
    """A fresh copy of a named preset; ValueError listing the names if unknown."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return ExperimentConfig.from_dict(PRESETS[name].to_dict())
