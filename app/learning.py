"""Learned fields in the app: live training runs (Training lab), pretrained and uploaded checkpoints (Translation,
Generation), and the numbers the pages show about them.

No drawing and no widgets here; Streamlit only for caching. Models are loaded once per process with
``st.cache_resource`` (pretrained: keyed by file path and modification time, so a replaced checkpoint is reloaded;
uploaded: keyed by the SHA-256 of the uploaded bytes); arrays derived from the exact field are cached with
``st.cache_data``. A training run (``LabRun``) belongs to one browser session and lives in its session state.

Where the pages move points, they call ``move``: ``efm_core.transport.transport`` along ``learned_field`` with the
solver the user picked, snapshots for the trajectory strips, and images clipped to their data range as displayed.
A two-sided lab model (``LabSettings.two_sided``) moves its points with ``move_two_sided`` instead
(``efm_core.two_sided``: both sides of P, lines through the whole space).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch
from torch import Tensor, nn

from app import compute
from efm_core import (
    classifier_outputs,
    colourise,
    digits_split,
    energy_distance,
    plate_field_at,
    select_classes,
    w2_exact,
)
from efm_core.checkpoints import Checkpoint, CheckpointError, checkpoint_paths, load_checkpoint
from efm_core.exact_transport import transport_trace
from efm_core.lines import CASES, LOST
from efm_core.presets import ARC, SOLVERS, ExperimentConfig, GaussianSource, make_source
from efm_core.train import Trainer
from efm_core.transport import generate, learned_field, transport
from efm_core.two_sided import space_field, transport_two_sided

PRETRAINED_ENV = "EFM_PRETRAINED_DIR"  # overrides the folder of the shipped checkpoints (tests, your own runs)
SOLVER_LABELS = {"euler": "Euler (the paper)", "heun": "Heun", "rk45": "Adaptive (RK45)"}
assert set(SOLVER_LABELS) == set(SOLVERS), "every solver of efm_core needs a label here"
MODEL_NAMES = ("EFM", "flow matching")


# ------------------------------------------------------------------------------------------------ moving along a field
class Moved(NamedTuple):
    """Items carried along a learned field.

    x: (n, *shape) end points (images clipped to the data range, as shown); levels: (K,) snapshot heights z;
    path: (K, n, *shape) the items at those heights (clipped like x); nfe: batched network calls; bad: lines whose
    slope was guarded (f_z <= f_min, the line would have turned back) or that went non-finite; seconds: wall time.
    Two-sided moves (``move_two_sided``) have no heights: levels is empty, path holds the lines after every solver
    step (S + 1, n, D + 1) with z last, ``lines`` the same as n polylines without their standing tails, ``cases``
    their Theorem 3.1 cases, and bad counts the lost lines.
    """

    x: np.ndarray
    levels: np.ndarray
    path: np.ndarray
    nfe: int
    bad: int
    seconds: float
    lines: list[np.ndarray] | None = None
    cases: list[str] | None = None


def move(
    net: nn.Module, objective: str, L: float, x0: Tensor, *, reverse: bool = False, solver: str = "heun", steps: int = 50,
    f_min: float = 0.05, snapshots: int = 8, clip: tuple[float, float] | None = None,
) -> Moved:
    """Carry ``x0`` (n, *shape) from the plate z = 0 to z = L along the learned field of ``net`` (or back, ``reverse``).

    ``solver`` is one of ``SOLVERS`` with ``steps`` (the initial step count for rk45); ``snapshots`` >= 2 heights are
    recorded for the trajectory strips. Raises ValueError for bad solver options.
    """
    field = learned_field(net, objective, L)
    start, end = (L, 0.0) if reverse else (0.0, L)
    t0 = time.perf_counter()
    r = transport(field, x0.float(), start, end, solver=solver, steps=int(steps), f_min=f_min, snapshots=snapshots)
    seconds = time.perf_counter() - t0
    x, path = r.x, r.path
    if clip is not None:
        x, path = x.clamp(*clip), path.clamp(*clip)
    return Moved(x.numpy(), r.levels.numpy(), path.numpy(), r.nfe, int(r.bad.sum()), seconds)


def move_two_sided(net: nn.Module, L: float, x0: Tensor, seed: int) -> Moved:
    """Carry points ``x0`` (n, D) of P to Q by Theorem 3.1's map along the whole-space field of ``net`` (side chosen
    by the flux share, seeded by ``seed``; ``efm_core.two_sided.transport_two_sided``)."""
    t0 = time.perf_counter()
    r = transport_two_sided(space_field(net), x0.float(), 0.0, L, L, seed=seed, return_path=True)
    seconds = time.perf_counter() - t0
    path = r.path.numpy()
    moving = np.any(np.diff(path, axis=0) != 0, axis=2)  # (S, n): the line moved in that step
    last = [int(np.nonzero(moving[:, i])[0].max()) + 2 if moving[:, i].any() else 1 for i in range(path.shape[1])]
    lines = [path[: last[i], i].astype(np.float64) for i in range(path.shape[1])]
    end = r.end[:, :-1].numpy()
    return Moved(end, np.zeros(0), path, r.nfe, int((r.case == LOST).sum()), seconds, lines, [CASES[c] for c in r.case.tolist()])


@st.cache_data(max_entries=32, show_spinner=False)
def generate_items(key: str, _ckpt: Checkpoint, n: int, seed: int, solver: str, steps: int, snapshots: int = 8) -> Moved:
    """``n`` samples of the checkpoint (``key`` identifies it for the cache): starts from ``start_points`` carried to
    the data plate, with ``snapshots`` heights recorded."""
    config = _ckpt.config
    if config.one_plate:
        return _generate_one_plate(_ckpt, n, seed)
    x0, far = start_points(config, n, seed)
    return move(
        _ckpt.net, config.objective, config.L, x0, reverse=far, solver=solver, steps=steps, f_min=config.solver.get("f_min", 0.05),
        snapshots=snapshots, clip=data_clip(config, far),
    )


def _generate_one_plate(ckpt: Checkpoint, n: int, seed: int) -> Moved:
    """PFGM / PFGM++ samples by their own samplers (``efm_core.transport.generate``): only the start and the end."""
    t0 = time.perf_counter()
    r = generate(ckpt.net, ckpt.config, n, seed)
    x = r.x.clamp(*data_clip(ckpt.config)) if data_clip(ckpt.config) else r.x
    path = torch.stack([torch.zeros_like(x), x])
    return Moved(x.numpy(), np.array([ckpt.config.L, 0.0]), path.numpy(), r.nfe, int(r.bad.sum()), time.perf_counter() - t0)


@st.cache_data(max_entries=32, show_spinner=False)
def translate_items(key: str, _ckpt: Checkpoint, items: np.ndarray, reverse: bool, solver: str, steps: int, snapshots: int = 8) -> Moved:
    """``items`` (n, *shape) of P carried to Q by the checkpoint (``key`` identifies it), or of Q back to P (``reverse``)."""
    config = _ckpt.config
    return move(
        _ckpt.net, config.objective, config.L, torch.from_numpy(np.ascontiguousarray(items)), reverse=reverse, solver=solver, steps=steps,
        f_min=config.solver.get("f_min", 0.05), snapshots=snapshots, clip=data_clip(config, reverse),
    )


def _sample_seed(seed: int, i: int) -> int:
    return (int(seed) * 1_000_003 + i) % (2**63 - 1)


def start_points(config: ExperimentConfig, n: int, seed: int) -> tuple[Tensor, bool]:
    """``n`` start items for a noise -> data run of ``config`` and whether they start on the far plate (EFM models; PFGM
    and PFGM++ sample with ``efm_core.transport.generate``, see ``generate_items``).

    Noise (a Gaussian P, or PFGM's prior) is drawn one item at a time from its own generator (seed, i), as EDM does,
    so the first k samples stay the same when n changes; other sources (a translation model's P) draw n at once.
    """
    source = make_source(config.p)
    if not isinstance(source, GaussianSource):
        return source.sample(n, torch.Generator().manual_seed(int(seed))), False
    draw: Callable[[torch.Generator], Tensor] = lambda g: source.sample(1, g)[0]  # noqa: E731
    return torch.stack([draw(torch.Generator().manual_seed(_sample_seed(seed, i))) for i in range(n)]), False


def data_clip(config: ExperimentConfig, reverse: bool = False) -> tuple[float, float] | None:
    """The value range of the data at the end of a run ((-1, 1) for images, None for points)."""
    end = config.p if (reverse or config.one_plate) else config.q
    return make_source(end).clip


# ---------------------------------------------------------------------------------------------------- checkpoints
def pretrained_dir() -> Path:
    """The folder of the shipped checkpoints: ``$EFM_PRETRAINED_DIR`` if set, else ``pretrained/`` of this repository."""
    env = os.environ.get(PRETRAINED_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "pretrained"


def pretrained_path(name: str) -> Path | None:
    """``pretrained_dir() / name`` if both its files (NAME.safetensors and NAME.json) are there, else None."""
    base = pretrained_dir() / name
    return base if all(p.is_file() for p in checkpoint_paths(base)) else None


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_file(path: str, stamp: tuple[float, int]) -> Checkpoint:
    """A checkpoint loaded once per process and (path, modification time and size of its tensor file)."""
    return load_checkpoint(path)


def load_pretrained(name: str) -> Checkpoint | None:
    """The shipped checkpoint ``name``, None if it is not there. Raises ``CheckpointError`` if it is there but broken."""
    base = pretrained_path(name)
    if base is None:
        return None
    info = checkpoint_paths(base)[0].stat()
    return _load_file(str(base), (info.st_mtime, info.st_size))


def pretrained_key(name: str) -> str:
    """A cache key for the shipped checkpoint ``name`` that changes when its file is replaced ('' if missing)."""
    base = pretrained_path(name)
    if base is None:
        return ""
    info = checkpoint_paths(base)[0].stat()
    return f"{name}@{info.st_mtime_ns}:{info.st_size}"


def missing_message(name: str) -> str:
    """What to do when the checkpoint ``name`` is not in the pretrained folder."""
    return (
        f"The checkpoint **{name}** is not in `{pretrained_dir().name}/`. Train it with "
        f"`python -m efm_core train --preset {name} --out pretrained`, or upload one on the Generation page."
    )


MAX_UPLOAD_BYTES = 64 * 1024 * 1024
UPLOAD_SOURCES = ("toy", "gaussian", "digits", "coloured_digits")  # data the app can rebuild without reading files
MAX_ITEM_SIZE = 3 * 64 * 64  # numbers per data item
NET_LIMITS = {"width": 4096, "depth": 32, "channels": 512, "blocks": 8, "emb_features": 1024}


def _check_upload_config(config: ExperimentConfig, name: str) -> None:
    """Refuse configs the app should not build: data read from files on this server, or nets too big to allocate."""
    for side in ("p", "q"):
        spec = getattr(config, side)
        if spec is not None and spec.get("kind") not in UPLOAD_SOURCES:
            raise CheckpointError(
                f"{name}: its data ({side} = {spec.get('kind')!r}) is read from files, which the app does not open for an "
                f"uploaded checkpoint. Use the CLI for it; here, data must be one of {', '.join(UPLOAD_SOURCES)}."
            )
    size = math.prod(make_source(config.p).shape)
    if size > MAX_ITEM_SIZE:
        raise CheckpointError(f"{name}: its data items have {size} numbers; the app handles at most {MAX_ITEM_SIZE}.")
    for key, limit in NET_LIMITS.items():
        value = config.net.get(key)
        if isinstance(value, int | float) and value > limit:
            raise CheckpointError(f"{name}: net {key} = {value} is larger than the app allows ({limit}).")
    mults = config.net.get("mults")
    if isinstance(mults, list) and (len(mults) > 5 or any(not isinstance(m, int) or m > 16 for m in mults)):
        raise CheckpointError(f"{name}: net mults {mults} are outside what the app allows (at most 5 levels, each <= 16).")


def read_upload(files: Sequence[tuple[str, bytes]]) -> tuple[str, str, bytes, bytes]:
    """Check an upload of (file name, bytes) pairs: exactly one .safetensors and one .json, within the size limit.

    Returns (digest, base name, tensor bytes, card bytes); the digest keys the loaded model. Raises ValueError with a
    message for the user.
    """
    by_suffix: dict[str, list[tuple[str, bytes]]] = {".safetensors": [], ".json": []}
    for fname, data in files:
        suffix = Path(fname).suffix.lower()
        if suffix not in by_suffix:
            raise ValueError(f"{fname!r} is neither a .safetensors nor a .json file; a checkpoint is NAME.safetensors + NAME.json.")
        by_suffix[suffix].append((fname, data))
    for suffix, found in by_suffix.items():
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise ValueError(
                f"{what} {suffix} file{'s' if len(found) != 1 else ''} in the upload; upload exactly one NAME.safetensors "
                "and its NAME.json model card together (as written by `python -m efm_core train`)."
            )
    (_, st_bytes), (js_name, js_bytes) = by_suffix[".safetensors"][0], by_suffix[".json"][0]
    total = len(st_bytes) + len(js_bytes)
    if total > MAX_UPLOAD_BYTES:
        raise ValueError(f"the upload is {total / 2**20:.0f} MB; the app takes checkpoints up to {MAX_UPLOAD_BYTES // 2**20} MB.")
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(js_name).stem)[:64] or "upload"
    digest = hashlib.sha256(st_bytes + b"\0" + js_bytes).hexdigest()
    return digest, base, st_bytes, js_bytes


@st.cache_resource(max_entries=4, show_spinner=False)
def load_uploaded(digest: str, base: str, _st_bytes: bytes, _js_bytes: bytes) -> Checkpoint:
    """An uploaded checkpoint (see ``read_upload``), verified like any other (``load_checkpoint``) after its config
    passed the app's own checks. Raises ``CheckpointError`` (a ValueError) saying what is wrong."""
    try:
        card = json.loads(_js_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{base}.json is not a valid JSON model card: {err}.") from None
    if not isinstance(card, dict) or not isinstance(card.get("config"), dict):
        raise CheckpointError(f"{base}.json is not a Field Matching Lab model card (it has no 'config').")
    try:
        config = ExperimentConfig.from_dict(card["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{base}.json: its config is not valid: {err}") from None
    _check_upload_config(config, f"{base}.json")
    with tempfile.TemporaryDirectory() as folder:
        st_path, js_path = checkpoint_paths(Path(folder) / base)
        st_path.write_bytes(_st_bytes)
        js_path.write_bytes(_js_bytes)
        return load_checkpoint(Path(folder) / base)


def describe(ckpt: Checkpoint) -> str:
    """One line about a checkpoint: objective, data, L, steps, training time."""
    c = ckpt.config
    what = {"efm": "EFM", "fm": "flow matching", "pfgm": "PFGM", "pfgmpp": "PFGM++"}[c.objective]
    minutes = ckpt.card.get("cpu_minutes") or (ckpt.card.get("train_seconds") or 0) / 60
    q = "—" if c.q is None else c.q.get("kind")
    return f"{what}, {c.p.get('kind')} → {q}, L = {c.L:g}, {ckpt.card.get('steps')} steps, {minutes:.1f} min of training"


# ------------------------------------------------------------------------------------------------- digits helpers
@st.cache_data(max_entries=8, show_spinner=False)
def gallery(digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out coloured digits of one class (never seen in training): images (n, 3, 8, 8) in [-1, 1] and their hues
    (n,) in degrees, drawn uniformly with ``seed``."""
    _, test = digits_split()
    grey = select_classes(test, [int(digit)]).images
    hues = 360.0 * torch.rand(grey.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    return colourise(grey, hues).numpy(), hues.numpy()


def readings(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The project's digit classifier on images (n, C, 8, 8) (grey = max over channels): (digit (n,), probability (n,))."""
    probs, _ = classifier_outputs(torch.from_numpy(np.ascontiguousarray(images)))
    top = probs.max(dim=1)
    return top.indices.numpy(), top.values.numpy()


def nearest_items(samples: np.ndarray, items: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """For each sample (n, ...) the index (n,) of its nearest training item (m, ...) and the L2 distance (n,) (flat)."""
    a = torch.from_numpy(np.ascontiguousarray(samples)).flatten(1).double()
    b = items.flatten(1).double()
    d = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    best = d.min(dim=1)
    return best.indices.numpy(), best.values.numpy()


def translation_models(source: int, target: int, prefix: str = "") -> tuple[str, bool] | None:
    """(checkpoint name, reverse) that translates coloured ``source`` digits to ``target``: ``cdigits-AtoB`` forwards,
    or ``cdigits-BtoA`` run backwards along the same field; None if neither is there. ``prefix`` 'fm-' for FM."""
    forward, backward = f"{prefix}cdigits-{source}to{target}", f"{prefix}cdigits-{target}to{source}"
    if pretrained_path(forward) is not None:
        return forward, False
    if pretrained_path(backward) is not None:
        return backward, True
    return None


# ---------------------------------------------------------------------------------------------------- training lab
LAB_MIN_ROWS = 256  # charges per plate in a training batch (repeated by weight when a plate has fewer)
LAB_QUERIES = 256  # training points per step
LAB_DEPTH = 3  # residual blocks of the lab's MLP
LAB_TURN = 4  # steps each model takes before the other one's turn (keeps them in lockstep)
LAB_POINTS = 256  # fresh points of P moved along the learned fields for the metrics (the first LAB_DRAWN are drawn)
LAB_DRAWN = 48


def charge_rows(x: np.ndarray, w: np.ndarray, min_rows: int = LAB_MIN_ROWS) -> np.ndarray:
    """A plate's charges (n, D) as >= ``min_rows`` rows in which charge i appears in proportion to its magnitude w_i.

    Equal magnitudes: every charge is repeated ceil(min_rows / n) times, so the field of the rows is exactly the plate's.
    Otherwise charge i appears round(w_i R) times (systematic sampling, R = max(min_rows, n)): its field then matches
    the plate's up to the rounding of the magnitudes.
    """
    n = len(x)
    if np.allclose(w, w[0]):
        return np.tile(x, (math.ceil(max(min_rows, n) / n), 1))
    rows = max(min_rows, n)
    cum = np.cumsum(w) / np.sum(w)
    idx = np.minimum(np.searchsorted(cum, (np.arange(rows) + 0.5) / rows), n - 1)
    return x[idx]


@dataclass(frozen=True)
class LabSettings:
    """What a training run depends on: the scene (its fingerprint), L, the sampler's noise, the net, the schedule."""

    scene_key: str
    L: float
    sigma: float
    width: int
    steps: int
    lr: float
    seed: int
    with_fm: bool
    two_sided: bool = False


def lab_config(objective: str, s: LabSettings, p_path: str, q_path: str, n_charges: int) -> ExperimentConfig:
    """The experiment of one lab model: the scene's charges as point files, an MLP of width ``s.width``, Adam, EMA.

    EFM uses the tent sampler with mid-gap noise ``s.sigma``; flow matching the straight segments between the same
    kind of pairs (its own objective), with the same net, steps, learning rate and seed: the same budget. A two-sided
    EFM model (``s.two_sided``) has a whole-space net of the same width, the ``whole_space`` sampler and the arc solver.
    """
    two_sided = objective == "efm" and s.two_sided
    sampler = {"kind": "whole_space" if two_sided else "tent", "sigma": float(s.sigma)} if objective == "efm" else {"kind": "none"}
    net = {"kind": "space_mlp" if two_sided else "mlp", "width": int(s.width), "depth": LAB_DEPTH}
    extra = {"solver": {"kind": ARC, "sides": "both"}} if two_sided else {}
    return ExperimentConfig(
        name=f"lab-{objective}", objective=objective, p={"kind": "points_file", "path": p_path}, q={"kind": "points_file", "path": q_path},
        L=float(s.L), net=net, sampler=sampler, n_charges=int(n_charges),
        n_queries=LAB_QUERIES, steps=int(s.steps), lr=float(s.lr), warmup=min(100, int(s.steps) // 10), ema=0.995, seed=int(s.seed),
        description="Training lab run on the charges of the Field lines page.", **extra,
    )


class LabRun:
    """One live training session: EFM, and flow matching at the same budget if asked, on the scene's charges.

    The target of every EFM step is the exact field of all the scene's charges (``charge_rows``), so the learned field
    can be compared with the exact field the other pages draw. ``advance`` trains in time-boxed chunks, both models in
    lockstep. ``p_toy``: P's toy distribution (None for hand-built charges), for fresh points of P. Attributes:
    ``scene``, ``settings``, ``starts`` (``LAB_POINTS`` fresh points of P that the models move, (K, D)), ``trainers``
    (model name -> ``efm_core.train.Trainer``), ``running``, ``error`` (message of a failed step, or None).
    """

    def __init__(self, scene: compute.Scene, settings: LabSettings, p_toy: str | None = None) -> None:
        self.scene, self.settings = scene, settings
        self.starts = lab_starts(scene, p_toy, settings.seed)
        rows_p, rows_q = charge_rows(scene.pos, scene.pos_w), charge_rows(scene.neg, scene.neg_w)
        n_charges = max(len(rows_p), len(rows_q))
        self.trainers: dict[str, Trainer] = {}
        with tempfile.TemporaryDirectory() as folder:  # the sources read the files while the trainers are built
            p_path, q_path = os.path.join(folder, "p.npy"), os.path.join(folder, "q.npy")
            np.save(p_path, rows_p)
            np.save(q_path, rows_q)
            for name, objective in zip(MODEL_NAMES, ("efm", "fm"), strict=True):
                if objective == "efm" or settings.with_fm:
                    self.trainers[name] = Trainer(lab_config(objective, settings, p_path, q_path, n_charges), device="cpu")
        self.running = False
        self.error: str | None = None

    @property
    def step_count(self) -> int:
        return min(t.step_count for t in self.trainers.values())

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers.values())

    def advance(self, budget: float) -> int:
        """Train every model ``LAB_TURN`` steps at a time until ``budget`` seconds passed (at least one turn) or the
        run is done; returns the steps each model took. A non-finite loss stops the run and sets ``error``."""
        t0, taken = time.perf_counter(), 0
        try:
            while not self.done:
                for trainer in self.trainers.values():
                    trainer.step(LAB_TURN)
                taken += LAB_TURN
                if time.perf_counter() - t0 >= budget:
                    break
        except FloatingPointError as err:
            self.error = f"{err} Training stopped."
            self.running = False
        return taken

    def steps_per_second(self) -> float:
        """Training steps per second of the EFM model (its own compute time only)."""
        t = self.trainers[MODEL_NAMES[0]]
        return t.step_count / t.seconds if t.seconds > 0 else 0.0

    def losses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Model name -> (steps (k,), losses (k,))."""
        return {
            name: (np.array([r["step"] for r in t.history], dtype=float), np.array([r["loss"] for r in t.history], dtype=float))
            for name, t in self.trainers.items()
        }


class ErrorMap(NamedTuple):
    """Angle in degrees (nx, nz) between a learned field and the exact field E on a grid of the slice x2 = y."""

    z: np.ndarray
    x: np.ndarray
    angle: np.ndarray

    @property
    def median(self) -> float:
        return float(np.median(self.angle))


def _slice_points(D: int, y: float, L: float, x_range: tuple[float, float], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres strictly between the plates: z (n,), x1 (n,), and the points (n * n, D + 1) row-major in x1."""
    z = (np.arange(n) + 0.5) / n * L
    x = np.linspace(*x_range, n)
    zz, xx = np.meshgrid(z, x)
    cols = [xx.ravel()] + ([np.full(zz.size, y)] if D == 2 else []) + [zz.ravel()]
    return z, x, np.stack(cols, axis=1)


@st.cache_data(max_entries=16, show_spinner=False)
def exact_directions(scene: compute.Scene, L: float, y: float, x_range: tuple[float, float], n: int) -> np.ndarray:
    """Unit direction of the exact E (n * n, D + 1) on the slice grid of ``_slice_points``."""
    _, _, pts = _slice_points(scene.D, y, L, x_range, n)
    return plate_field_at(torch.from_numpy(pts), scene.plates(L)).direction.numpy()


def direction_error(net: nn.Module, objective: str, scene: compute.Scene, L: float, y: float, x_range: tuple[float, float], n: int = 41) -> ErrorMap:
    """arccos(f . E / (|f| |E|)) in degrees between the learned field f (for flow matching (v, L)) and the exact E on
    an n x n grid of the slice x2 = y (D = 2) or the (z, x1) plane (D = 1), z strictly between the plates."""
    z, x, pts = _slice_points(scene.D, y, L, x_range, n)
    exact = exact_directions(scene, L, y, x_range, n)
    field = learned_field(net, objective, L)
    f_x, f_z = field(torch.from_numpy(pts[:, :-1]).float(), torch.from_numpy(pts[:, -1]).float())
    f = torch.cat([f_x, f_z[:, None]], dim=1).double().numpy()
    cos = np.sum(f * exact, axis=1) / np.maximum(np.linalg.norm(f, axis=1) * np.linalg.norm(exact, axis=1), 1e-300)
    return ErrorMap(z, x, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).reshape(n, n))


@st.cache_data(max_entries=16, show_spinner=False)
def lab_starts(scene: compute.Scene, p_toy: str | None, seed: int) -> np.ndarray:
    """``LAB_POINTS`` fresh points of P (not its charges) that the pages move along the learned fields: (K, D)."""
    return compute.fresh_p(scene, p_toy, LAB_POINTS, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def exact_lines(scene: compute.Scene, L: float, starts: np.ndarray, sides: str = "forward", seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """The exact field lines from ``starts`` (K, D) on P: every one leaving towards Q (``sides="forward"``, as a
    learned field moves them in z) or on the side the flux share picks (``"both"``, seeded): paths (T_k, D + 1) and
    Theorem 3.1 cases."""
    trace = transport_trace(
        scene.plates(L), torch.from_numpy(starts), sides=sides, seed=seed, tol=compute.TRACE_TOL, dtype=compute.TRACE_DTYPE,
        return_paths=True, max_path_points=compute.MAX_PATH_POINTS,
    )
    return [p.double().numpy() for p in trace.paths], [CASES[c] for c in trace.case.tolist()]


def q_reference(scene: compute.Scene, k: int, seed: int) -> np.ndarray:
    """k points of Q for the W2 distance: Q's charges drawn by magnitude (seeded), (k, D)."""
    rng = np.random.default_rng(seed + 7)
    return scene.neg[rng.choice(len(scene.neg), size=k, p=scene.neg_w)]


def point_metrics(ends: np.ndarray, scene: compute.Scene, seed: int) -> dict[str, float]:
    """W2 (exact matching against as many of Q's charges drawn by magnitude) and energy distance (unbiased, against
    all of Q's charges) of end points (K, D)."""
    w2 = w2_exact(torch.from_numpy(ends), torch.from_numpy(q_reference(scene, len(ends), seed)))
    ed = float(energy_distance(torch.from_numpy(ends), torch.from_numpy(scene.neg), unbiased=True))
    return {"w2": float(w2), "energy": ed}


@st.cache_data(max_entries=16, show_spinner=False)
def sampler_arrows(scene: compute.Scene, L: float, sigma: float, n: int, seed: int, kind: str = "tent") -> tuple[np.ndarray, np.ndarray]:
    """Training points of Algorithm 1 (``compute.training_cloud`` of sampler ``kind``, (n, D + 1)) and the exact unit
    field E/|E| at each, the target the network is taught there (n, D + 1)."""
    pts = compute.training_cloud(scene, L, sigma, n, seed, kind)
    return pts, plate_field_at(torch.from_numpy(pts), scene.plates(L)).direction.numpy()


class LabView(NamedTuple):
    """A trained state of a lab run, evaluated: the step it shows, per model the moved fresh points of P (``Moved``),
    their metrics (w2, energy, nfe, bad, angle = median angle to E in degrees) and the direction-error map."""

    step: int
    moved: dict[str, Moved]
    metrics: dict[str, dict[str, float]]
    errors: dict[str, ErrorMap]


def lab_view(run: LabRun, solver: str, steps: int, y: float, x_range: tuple[float, float]) -> LabView:
    """Evaluate every model of ``run`` (its EMA weights): move ``run.starts`` from P along its field to Q with the
    chosen solver (24 snapshots; a two-sided model with ``move_two_sided``), the metrics of the end points against Q, and the angle to E on the slice x2 = y."""
    scene, s = run.scene, run.settings
    moved, metrics, errors = {}, {}, {}
    for name, trainer in run.trainers.items():
        objective = trainer.config.objective
        starts = torch.from_numpy(run.starts).float()
        if trainer.config.solver.get("kind") == ARC:
            m = move_two_sided(trainer.ema, s.L, starts, s.seed)
        else:
            m = move(trainer.ema, objective, s.L, starts, solver=solver, steps=steps, snapshots=24)
        errors[name] = direction_error(trainer.ema, objective, scene, s.L, y, x_range)
        moved[name] = m
        metrics[name] = {**point_metrics(m.x.astype(np.float64), scene, s.seed), "nfe": float(m.nfe), "bad": float(m.bad), "angle": errors[name].median}
    return LabView(run.step_count, moved, metrics, errors)
