"""What an experiment is: the JSON-able ``ExperimentConfig`` (presets: ``presets``).

Plate convention (as the paper): P on z = 0 (positive charges), Q on z = L (negative charges); generation puts noise
on P and data on Q and moves forward along the field; translation moves P's data to Q's (``reverse`` goes back).
PFGM and PFGM++ (``efm_core.pfgm``) are the exception: their data sit alone on z = 0 (``p``) and their lines start
on a prior (PFGM: on the plane z = L; PFGM++: its kernel at sigma_max = L) and end on the data.

A config only names its data: ``p`` and ``q`` are data specs (dicts, stored in checkpoints; their kinds and options in
``efm_core.data.sources``), checked here by kind only; ``data.sources.make_source`` makes them.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch

from . import limits
from .data.sources import check_spec
from .interaction import IFMOptions
from .nets import NET_KINDS
from .objectives import OBJECTIVES as OBJECTIVE_REGISTRY
from .paths import ARC, EDM_SOLVERS, SAMPLING_SOLVERS
from .paths import SOLVERS as SOLVERS  # the solvers' names live in paths; re-exported here for older imports
from .pfgm import OBJECTIVES as ONE_PLATE_OBJECTIVES
from .pfgm import PFGMOptions, PFGMppOptions, method_options
from .plates import check_gap, check_positive_int
from .sampler import TARGETS, SamplerConfig

OBJECTIVES = tuple(OBJECTIVE_REGISTRY)  # the registered losses (objectives.register_objective)
LR_SCHEDULES = ("cosine", "constant")
SOLVER_OPTIONS = {"kind", "steps", "f_min", "rtol", "atol", "max_steps", "sides", "r_min", "delta"}


# --- experiment config -----------------------------------------------------------------------------------------------


@dataclass
class ExperimentConfig:
    """Everything needed to train (and later rebuild) one model; JSON round trip with ``to_dict``/``from_dict``.

    objective: 'efm' (the paper), 'fm' (conditional flow matching baseline), 'ifm' (Interaction Field Matching,
        ``efm_core.interaction``: ``sampler`` {}, its options in ``method``), 'pfgm' or 'pfgmpp' (PFGM and PFGM++,
        ``efm_core.pfgm``: ``q`` must be None, ``sampler`` {}; ``L`` is PFGM's z_max or PFGM++'s sigma_max).
    p, q: data source specs of the plates z = 0 and z = L.
    L: plate distance (data units). net: ``nets.build_net`` spec. sampler: ``sampler.SamplerConfig`` dict.
    target: 'exact' (E/|E|). gamma: unused since the 'upstream' target (the only one it softened) was removed; kept
        so that every saved checkpoint card still reads.
    method: PFGM's, PFGM++'s or IFM's options (``pfgm.PFGMOptions`` / ``PFGMppOptions`` / ``interaction.IFMOptions``
        fields; {} for efm and fm, and then left out of ``to_dict``, so that their cards are unchanged).
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
        if self.objective not in OBJECTIVE_REGISTRY:  # the live registry: a loss registered later counts too
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVE_REGISTRY)}; got {self.objective!r}.")
        self.L = check_gap(self.L, torch.float32)  # the nets run in float32
        for key in ("p", "q"):
            spec = getattr(self, key)
            if spec is None and not (key == "q" and self.one_plate):
                raise ValueError(f"config {key!r} (the data on plate {'z = 0' if key == 'p' else 'z = L'}) is missing.")
            if spec is not None:
                check_spec(spec, f"config {key!r}")
        if self.one_plate and self.q is not None:
            raise ValueError(f"the {self.objective} objective has data on one plate only: set q to null.")
        self.method_options  # noqa: B018 (validates ``method``)
        if (self.one_plate or getattr(OBJECTIVE_REGISTRY[self.objective], "own_points", False)) and self.sampler:
            raise ValueError(f"{self.objective} draws its own training points: set sampler to {{}} "
                             "(its options go in method).")
        if not isinstance(self.net, dict) or self.net.get("kind") not in NET_KINDS:
            raise ValueError(f"config net must be a dict with 'kind' in {', '.join(NET_KINDS)}; got {self.net!r}.")
        SamplerConfig.from_dict(self.sampler)
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}.")
        for key in ("n_charges", "n_queries", "steps"):
            check_positive_int(f"config {key}", getattr(self, key))
        check_config_sizes(self)
        if self.n_queries > self.n_charges:
            raise ValueError(f"n_queries ({self.n_queries}) cannot exceed n_charges ({self.n_charges}): "
                             "queries are built from the charges.")
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
    def method_options(self) -> PFGMOptions | PFGMppOptions | IFMOptions | None:
        """The validated ``method`` options (None for efm and fm): the registered loss's ``parse_options(method, L)``
        where it has one (IFM), else PFGM's and PFGM++'s ``pfgm.method_options``."""
        parse = getattr(OBJECTIVE_REGISTRY[self.objective], "parse_options", None)
        return parse(self.method, self.L) if parse is not None else method_options(self.objective, self.method)

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
