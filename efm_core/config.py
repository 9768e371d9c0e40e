"""What an experiment is: the JSON-able ``ExperimentConfig`` and the data sources it names (presets: ``presets``).

Plate convention (as the paper): P on z = 0 (positive charges), Q on z = L (negative charges); generation puts noise
on P and data on Q and moves forward along the field; translation moves P's data to Q's (``reverse`` goes back).
PFGM and PFGM++ (``efm_core.pfgm``) are the exception: their data sit alone on z = 0 (``p``) and their lines start
on a prior (PFGM: on the plane z = L; PFGM++: its kernel at sigma_max = L) and end on the data.

Data source specs (dicts, stored in checkpoints):

* ``{"kind": "toy", "name": "two_moons", "D": 2}``: fresh samples of ``efm_core.data.TOYS[name]`` every draw;
* ``{"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0}``: N(0, std^2 I) noise of any shape;
* ``{"kind": "digits", "classes": null, "split": "train"}``: scikit-learn's 8x8 digits (n, 1, 8, 8) in [-1, 1]
  (``split`` all | train | test of ``data.images.digits_split``; ``classes`` a list of digits or null for all);
* ``{"kind": "coloured_digits", "classes": [2], "split": "train"}``: the same strokes in one random hue per image,
  redrawn at every draw (hue augmentation), (n, 3, 8, 8);
* ``{"kind": "points_file", "path": "cloud.csv"}``: a user's point cloud (CSV or NPY, ``data.files.load_point_cloud``);
* ``{"kind": "image_folder", "path": "dir", "size": 8, "channels": 1}``: a user's images (``data.files.load_image_folder``);
* ``{"kind": "fashion_mnist", "split": "train", "classes": null}``: Fashion-MNIST (n, 1, 28, 28) in [-1, 1] from the
  local idx files (``data.datasets.load_fashion_mnist``: --data-dir / $EFM_DATA_DIR / the Debian package's folder);
  the train split holds out the published test split for evaluation;
* ``{"kind": "cifar10", "split": "train", "classes": null}``: CIFAR-10 (n, 3, 32, 32) in [-1, 1] from its binary
  batches (``data.datasets.load_cifar10``, --data-dir or $EFM_DATA_DIR).

A draw of n items from a finite set (digits, files) is a random subset without replacement, or the whole set in
random order when n exceeds its size.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from . import limits
from .data import TOYS, datasets, files, images
from .nets import NET_KINDS
from .paths import ARC, EDM_SOLVERS, SAMPLING_SOLVERS
from .paths import SOLVERS as SOLVERS  # the solvers' names live in paths; re-exported here for older imports
from .pfgm import OBJECTIVES as ONE_PLATE_OBJECTIVES
from .pfgm import PFGMOptions, PFGMppOptions, method_options
from .plates import check_gap, check_positive_int
from .sampler import TARGETS, SamplerConfig

OBJECTIVES = ("efm", "fm", *ONE_PLATE_OBJECTIVES)
LR_SCHEDULES = ("cosine", "constant")
SOLVER_OPTIONS = {"kind", "steps", "f_min", "rtol", "atol", "max_steps", "sides", "r_min", "delta"}
SOURCE_KINDS = ("toy", "gaussian", "digits", "coloured_digits", "points_file", "image_folder", "fashion_mnist", "cifar10")
IMAGE_SETS = {"fashion_mnist": datasets.load_fashion_mnist, "cifar10": datasets.load_cifar10}  # local labelled sets


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
    if kind in IMAGE_SETS:
        return _image_set(spec)
    if kind == "points_file":
        return FiniteSource(spec, files.load_point_cloud(_path(spec)), None)
    return FiniteSource(spec, files.load_image_folder(_path(spec), spec.get("size", 8), spec.get("channels", 1)), (-1.0, 1.0))


def _image_set(spec: dict) -> FiniteSource:
    """A Fashion-MNIST or CIFAR-10 source: the split's images (optionally some classes), the test split held out."""
    split, classes = spec.get("split", "train"), spec.get("classes")
    if split not in datasets.SPLITS:
        raise ValueError(f"{spec['kind']} split must be 'train' or 'test'; got {split!r}.")
    if classes is not None and not (isinstance(classes, list) and classes and all(isinstance(c, int) and 0 <= c <= 9 for c in classes)):
        raise ValueError(f"{spec['kind']} classes must be null or a list of class numbers 0..9; got {classes!r}.")
    load = IMAGE_SETS[spec["kind"]]

    def pick(data: datasets.LabelledImages) -> datasets.LabelledImages:
        if classes is None:
            return data
        keep = torch.isin(data.labels, torch.tensor(classes))
        return datasets.LabelledImages(data.images[keep], data.labels[keep])

    data = pick(load(split))
    held = pick(load("test")).images if split == "train" else None
    return FiniteSource(spec, data.images, (-1.0, 1.0), data.labels, held)


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
        ``efm_core.pfgm``: ``q`` must be None, ``sampler`` {}; ``L`` is PFGM's z_max or PFGM++'s sigma_max).
    p, q: data source specs of the plates z = 0 and z = L.
    L: plate distance (data units). net: ``nets.build_net`` spec. sampler: ``sampler.SamplerConfig`` dict.
    target: 'exact' (E/|E|). gamma: unused since the 'upstream' target (the only one it softened) was removed; kept
        so that every saved checkpoint card still reads.
    method: PFGM's or PFGM++'s options (``pfgm.PFGMOptions`` / ``PFGMppOptions`` fields; {} for efm and fm, and
        then left out of ``to_dict``, so that their cards are unchanged).
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
        self.L = check_gap(self.L, torch.float32)  # the nets run in float32
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
            check_positive_int(f"config {key}", getattr(self, key))
        check_config_sizes(self)
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
        if self.objective == "pfgmpp" and (self.solver.get("kind", "heun") not in EDM_SOLVERS or set(self.solver) - {"kind", "steps"}):
            raise ValueError(f"PFGM++ samples with EDM's sampler: solver {{'kind': 'heun' or 'euler', 'steps': levels}}; got {self.solver!r}.")

    @property
    def one_plate(self) -> bool:
        """True for PFGM and PFGM++: data on z = 0 only, lines from a prior (``efm_core.pfgm``)."""
        return self.objective in ONE_PLATE_OBJECTIVES

    @property
    def method_options(self) -> PFGMOptions | PFGMppOptions | None:
        """The validated ``method`` options (None for efm and fm)."""
        return method_options(self.objective, self.method)

    @property
    def sampler_config(self) -> SamplerConfig:
        return SamplerConfig.from_dict(self.sampler)

    def to_dict(self) -> dict:
        """JSON-able dict; ``method`` only when it holds options."""
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
        return cls.from_dict(limits.read_json(p, "config"))

    def replace(self, **changes: object) -> ExperimentConfig:
        """A validated copy with some fields changed."""
        return ExperimentConfig.from_dict({**self.to_dict(), **changes})


def check_config_sizes(config: ExperimentConfig) -> None:
    """ValueError if a config's batch sizes, steps, seed or solver steps are above the stated limits (``limits``)."""
    for key in ("n_charges", "n_queries"):
        limits.check_count(f"config {key}", getattr(config, key), limits.MAX_BATCH, why="points per training step")
    limits.check_count("config steps", config.steps, limits.MAX_TRAIN_STEPS, why="training steps of one run")
    limits.check_seed("config seed", config.seed)
    for key in ("steps", "max_steps"):
        if isinstance(config.solver, dict) and key in config.solver:
            limits.check_count(f"config solver {key}", config.solver[key], limits.MAX_SOLVER_STEPS, why="solver steps per line")
