"""The Training lab's live run: EFM (and flow matching at the same budget) trained on the scene's charges, and what
the page shows about it (the moved fresh points of P, W2 and energy distance to Q, the angle to the exact field on a
slice, the exact lines from the same starts, the sampler's points with their target arrows).

No drawing and no widgets here; Streamlit only for caching. A run (``LabRun``) belongs to one browser session and
lives in its session state; ``lab_view`` evaluates a copy of its current EMA weights.

One owner per run: a run trains on its own worker thread (``resume`` / ``pause``, idempotent under any click rate),
and every access to its trainers holds the run's lock, so a rerun of the page never trains or reads a model while
another thread is inside a training step. The live runs of all sessions take turns at ``TRAIN_SLOTS`` training slots
(first come, first served, ``TURN_SECONDS`` of training per turn), so that they share the cores fairly.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import copy
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch
from torch import nn

from app.compute import exact
from app.compute.learned import MODEL_NAMES, Moved, move, move_from_prior, move_two_sided
from efm_core import (
    CASES,
    Spread,
    Trainer,
    bootstrap,
    energy_distance,
    learned_field,
    plate_field_at,
    transport_trace,
    w2_exact,
)
from efm_core.config import ARC, ExperimentConfig
from efm_core.plates import systematic_indices
from efm_core.presets import one_plate

LAB_MIN_ROWS = 256  # charges per plate in a training batch (repeated by weight when a plate has fewer)
LAB_QUERIES = 256  # training points per step
LAB_DEPTH = 3  # residual blocks of the lab's MLP
LAB_TURN = 4  # steps each model takes before the other one's turn (keeps them in lockstep)
LAB_POINTS = 256  # fresh points of P moved along the learned fields for the metrics (the first LAB_DRAWN are drawn)
LAB_DRAWN = 48
LAB_ARC_STEPS = 1000  # RK4 steps per two-sided line in the lab (a trained field's lines need about 100-400; an
# untrained one's wander until this cap, so it bounds the cost of an early evaluation: they are counted as lost)
LAB_FIRST_VIEW = 0.05  # share of the run's steps trained before its pictures are first drawn (an untrained net
# shows nothing worth the compute it takes from the training)
TRAIN_SLOTS = max(1, (os.cpu_count() or 2) // 2)  # live runs of this process that train at the same moment
TURN_SECONDS = 0.1  # training per turn at a slot before the next waiting run's turn
ORPHAN_SECONDS = 30.0  # a run whose page has not looked at it for this long pauses (its browser tab was closed)
log = logging.getLogger(__name__)


class _Turns:
    """Training slots shared by every live run of the process, handed out in order of arrival (FIFO): a run that
    has just trained queues up behind the runs that were waiting, so N runs each get about 1/N of a slot."""

    def __init__(self, slots: int) -> None:
        self._cond = threading.Condition()
        self._waiting: collections.deque[object] = collections.deque()
        self._free = slots

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        me = object()
        with self._cond:
            self._waiting.append(me)
            while not (self._free > 0 and self._waiting[0] is me):
                self._cond.wait()
            self._waiting.popleft()
            self._free -= 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()


TURNS = _Turns(TRAIN_SLOTS)
_RUNS: weakref.WeakSet[LabRun] = weakref.WeakSet()


def charge_rows(x: np.ndarray, w: np.ndarray, min_rows: int = LAB_MIN_ROWS) -> np.ndarray:
    """A plate's charges (n, D) as >= ``min_rows`` rows in which charge i appears in proportion to its magnitude w_i.

    Equal magnitudes: every charge is repeated ceil(min_rows / n) times, so the field of the rows is exactly the plate's.
    Otherwise charge i appears round(w_i R) times (systematic sampling, R = max(min_rows, n)): its field then matches
    the plate's up to the rounding of the magnitudes.
    """
    n = len(x)
    if np.allclose(w, w[0]):
        return np.tile(x, (math.ceil(max(min_rows, n) / n), 1))
    return x[systematic_indices(w, max(min_rows, n)).numpy()]


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
    with_pfgmpp: bool = False


PFGMPP_NAME = "PFGM++"
PFGMPP_D_AUG = 4  # the toy presets' (pfgmpp-two_moons)
PFGMPP_STEPS = 18  # Heun steps in sigma (35 network calls), as the toy presets


def charges_spec(rows: np.ndarray, plate: str) -> dict:
    """The data spec that names a plate's charges (rows (n, D)), held in memory and handed to the ``Trainer``."""
    return {"kind": "memory", "shape": [int(rows.shape[1])], "clip": None, "name": f"Training lab: {plate}'s charges"}


def pfgmpp_config(s: LabSettings, q_rows: np.ndarray) -> ExperimentConfig:
    """PFGM++ on Q's charges alone (its data plate; it has no P: it starts on its own prior), as the presets build it
    (``presets.one_plate``, with ``sigma_data`` the charges' standard deviation), with the lab's net, steps, learning
    rate and seed: the same budget as EFM."""
    sigma_data = round(float(np.std(q_rows)) or 1.0, 3)
    net = {"kind": "mlp", "width": int(s.width), "depth": LAB_DEPTH}
    config = one_plate("lab-pfgmpp", "pfgmpp", charges_spec(q_rows, "Q"), net, int(s.steps), len(q_rows), sigma_data,
                       PFGMPP_D_AUG)
    return config.replace(
        n_queries=LAB_QUERIES, lr=float(s.lr), warmup=min(100, int(s.steps) // 10), ema=0.995, seed=int(s.seed),
        solver={"kind": "heun", "steps": PFGMPP_STEPS}, description="Training lab run: PFGM++ on Q's charges.",
    )


def lab_config(objective: str, s: LabSettings, p_rows: np.ndarray, q_rows: np.ndarray, n_charges: int
               ) -> ExperimentConfig:
    """The experiment of one lab model: the scene's charges (rows (n, D) held in memory, ``charges_spec``), an MLP of
    width ``s.width``, Adam, EMA.

    EFM uses the tent sampler with mid-gap noise ``s.sigma``; flow matching the straight segments between the same
    kind of pairs (its own objective), with the same net, steps, learning rate and seed: the same budget. A two-sided
    EFM model (``s.two_sided``) has a whole-space net of the same width, the ``whole_space`` sampler and the arc
    solver.
    """
    two_sided = objective == "efm" and s.two_sided
    kind = "whole_space" if two_sided else "tent"
    sampler = {"kind": kind, "sigma": float(s.sigma)} if objective == "efm" else {"kind": "none"}
    net = {"kind": "space_mlp" if two_sided else "mlp", "width": int(s.width), "depth": LAB_DEPTH}
    extra = {"solver": {"kind": ARC, "sides": "both"}} if two_sided else {}
    return ExperimentConfig(
        name=f"lab-{objective}", objective=objective, p=charges_spec(p_rows, "P"), q=charges_spec(q_rows, "Q"),
        L=float(s.L), net=net, sampler=sampler, n_charges=int(n_charges), n_queries=LAB_QUERIES, steps=int(s.steps),
        lr=float(s.lr), warmup=min(100, int(s.steps) // 10), ema=0.995, seed=int(s.seed),
        description="Training lab run on the charges of the Field lines page.", **extra,
    )


class LabRun:
    """One live training session: EFM, and flow matching at the same budget if asked, on the scene's charges.

    The target of every EFM step is the exact field of all the scene's charges (``charge_rows``), so the learned field
    can be compared with the exact field the other pages draw. ``resume`` trains on the run's own worker thread
    until ``pause``, the last step or an error; ``advance`` trains a time-boxed chunk on the caller's thread; both
    models in lockstep, and only one thread at a time inside a step (the run's lock). ``p_toy``: P's toy distribution
    (None for hand-built charges), for fresh points of P. Attributes: ``scene``, ``settings``, ``starts``
    (``LAB_POINTS`` fresh points of P that the models move, (K, D)), ``trainers`` (model name ->
    ``efm_core.train.Trainer``), ``running`` (asked to train), ``error`` (message of a failed step, or None).
    """

    def __init__(self, scene: exact.Scene, settings: LabSettings, p_toy: str | None = None) -> None:
        self.scene, self.settings = scene, settings
        self.starts = lab_starts(scene, p_toy, settings.seed)
        rows_p, rows_q = charge_rows(scene.pos, scene.pos_w), charge_rows(scene.neg, scene.neg_w)
        n_charges = max(len(rows_p), len(rows_q))
        self.trainers: dict[str, Trainer] = {}
        data_p, data_q = torch.from_numpy(rows_p).float(), torch.from_numpy(rows_q).float()  # in memory, no files
        for name, objective in zip(MODEL_NAMES, ("efm", "fm"), strict=True):
            if objective == "efm" or settings.with_fm:
                config = lab_config(objective, settings, rows_p, rows_q, n_charges)
                self.trainers[name] = Trainer(config, p_data=data_p, q_data=data_q, device="cpu")
        if settings.with_pfgmpp:
            self.trainers[PFGMPP_NAME] = Trainer(pfgmpp_config(settings, rows_q), p_data=data_q, device="cpu")
        self.running = False
        self.error: str | None = None
        self._lock = threading.Lock()  # held by whoever is inside a training step or copies the weights
        self._state = threading.Lock()  # guards running, the worker and the wall clock
        self._worker: threading.Thread | None = None
        self._wall, self._since, self._seen = 0.0, 0.0, time.monotonic()
        _RUNS.add(self)

    def resume(self) -> None:
        """Train on the run's worker thread (started if none is); a no-op when done, failed or already training."""
        with self._state:
            self._seen = time.monotonic()
            if self.done or self.error is not None:
                return
            self.running = True
            if self._worker is None:
                self._since = time.perf_counter()
                self._worker = threading.Thread(target=self._work, name="efm-lab-run", daemon=True)
                self._worker.start()

    def pause(self) -> None:
        """Stop training after the current turn (at most ``TURN_SECONDS``); a no-op when not training."""
        with self._state:
            self.running = False

    def touch(self) -> None:
        """The page is looking at this run: it keeps training (see ``ORPHAN_SECONDS``)."""
        self._seen = time.monotonic()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the worker thread (if any) has stopped."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def _work(self) -> None:
        while True:
            with self._state:
                orphan = time.monotonic() - self._seen > ORPHAN_SECONDS
                if not self.running or self.done or self.error is not None or orphan:
                    self.running = False
                    self._wall += time.perf_counter() - self._since
                    self._worker = None
                    return
            with TURNS.turn():
                self._train(TURN_SECONDS)

    @property
    def wall_seconds(self) -> float:
        """Wall-clock seconds the run has spent training (waiting for its turns included)."""
        with self._state:
            return self._wall + (time.perf_counter() - self._since if self._worker is not None else 0.0)

    @property
    def step_count(self) -> int:
        return min(t.step_count for t in self.trainers.values())

    @property
    def done(self) -> bool:
        return all(t.done for t in self.trainers.values())

    def advance(self, budget: float) -> int:
        """Train on the caller's thread for ``budget`` seconds (see ``_train``), its wall time counted in the rate
        unless the worker is training too; returns the steps each model took."""
        t0 = time.perf_counter()
        taken = self._train(budget)
        with self._state:
            if self._worker is None:
                self._wall += time.perf_counter() - t0
        return taken

    def _train(self, budget: float) -> int:
        """Train every model ``LAB_TURN`` steps at a time until ``budget`` seconds passed (at least one turn) or the
        run is done, holding the run's lock; returns the steps each model took. A failed step stops the run and sets
        ``error``."""
        taken = 0
        with self._lock:
            t0 = time.perf_counter()
            try:
                while not self.done and self.error is None:
                    for trainer in self.trainers.values():
                        trainer.step(LAB_TURN)
                    taken += LAB_TURN
                    if time.perf_counter() - t0 >= budget:
                        break
            except FloatingPointError as err:
                self.error = f"{err} Training stopped."
                self.running = False
            except Exception as err:  # never a traceback in the page: the message, and the log keeps the rest
                log.exception("lab training step failed")
                self.error = f"Training stopped: {type(err).__name__}: {err}"
                self.running = False
        return taken

    def snapshot(self) -> tuple[int, dict[str, tuple[nn.Module, ExperimentConfig]]]:
        """(step, model name -> (a copy of its EMA net, its config)), taken between two training steps."""
        with self._lock:
            return self.step_count, {name: (copy.deepcopy(t.ema), t.config) for name, t in self.trainers.items()}

    def steps_per_second(self) -> float:
        """Training steps (of each model) per wall-clock second spent training."""
        wall = self.wall_seconds
        return self.step_count / wall if wall > 0 else 0.0

    def losses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Model name -> (steps (k,), losses (k,)), every model up to the same step (the worker trains them in
        turns, so one can be a turn ahead of the other while we read)."""
        common = self.step_count
        out = {}
        for name, t in self.trainers.items():
            history = [r for r in t.history[:] if r["step"] <= common]  # the worker appends while we read
            out[name] = (np.array([r["step"] for r in history], dtype=float), np.array([r["loss"] for r in history], dtype=float))
        return out


@atexit.register
def stop_all(timeout: float = 30.0) -> None:
    """Pause every live run of the process and wait for their workers (tests, shutdown: a thread killed inside a
    torch step aborts the process)."""
    runs = list(_RUNS)
    for run in runs:
        run.pause()
    for run in runs:
        run.join(timeout)


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
    return z, x, exact.slice_points(D, y, z, x)


@st.cache_data(max_entries=16, show_spinner=False)
def exact_directions(scene: exact.Scene, L: float, y: float, x_range: tuple[float, float], n: int) -> np.ndarray:
    """Unit direction of the exact E (n * n, D + 1) on the slice grid of ``_slice_points``."""
    _, _, pts = _slice_points(scene.D, y, L, x_range, n)
    return plate_field_at(torch.from_numpy(pts), scene.plates(L)).direction.numpy()


def direction_error(net: nn.Module, objective: str, scene: exact.Scene, L: float, y: float, x_range: tuple[float, float], n: int = 41) -> ErrorMap:
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
def lab_starts(scene: exact.Scene, p_toy: str | None, seed: int) -> np.ndarray:
    """``LAB_POINTS`` fresh points of P (not its charges) that the pages move along the learned fields: (K, D)."""
    return exact.fresh_p(scene, p_toy, LAB_POINTS, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def exact_lines(scene: exact.Scene, L: float, starts: np.ndarray, sides: str = "forward", seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """The exact field lines from ``starts`` (K, D) on P: every one leaving towards Q (``sides="forward"``, as a
    learned field moves them in z) or on the side the flux share picks (``"both"``, seeded): paths (T_k, D + 1) and
    Theorem 3.1 cases."""
    trace = transport_trace(
        scene.plates(L), torch.from_numpy(starts), sides=sides, seed=seed, tol=exact.TRACE_TOL, dtype=exact.TRACE_DTYPE,
        return_paths=True, max_path_points=exact.MAX_PATH_POINTS,
    )
    return [p.double().numpy() for p in trace.paths], [CASES[c] for c in trace.case.tolist()]


def q_reference(scene: exact.Scene, k: int, seed: int) -> np.ndarray:
    """k points of Q for the W2 distance: Q's charges drawn by magnitude (seeded), (k, D)."""
    rng = np.random.default_rng(seed + 7)
    return scene.neg[rng.choice(len(scene.neg), size=k, p=scene.neg_w)]


def point_metrics(ends: np.ndarray, scene: exact.Scene, seed: int) -> dict[str, Spread]:
    """W2 (exact matching against as many of Q's charges drawn by magnitude) and energy distance (unbiased, against
    all of Q's charges) of end points (K, D), each with its noise over bootstrap resamples of the K end points."""
    q = q_reference(scene, len(ends), seed)
    return {
        "w2": bootstrap(lambda e: w2_exact(e, q), ends, seed=seed),
        "energy": bootstrap(lambda e: energy_distance(e, scene.neg, unbiased=True), ends, seed=seed),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def sampler_arrows(scene: exact.Scene, L: float, sigma: float, n: int, seed: int, kind: str = "tent") -> tuple[np.ndarray, np.ndarray]:
    """Training points of Algorithm 1 (``exact.training_cloud`` of sampler ``kind``, (n, D + 1)) and the exact unit
    field E/|E| at each, the target the network is taught there (n, D + 1)."""
    pts = exact.training_cloud(scene, L, sigma, n, seed, kind)
    return pts, plate_field_at(torch.from_numpy(pts), scene.plates(L)).direction.numpy()


class LabView(NamedTuple):
    """A trained state of a lab run, evaluated: the step it shows, per model the moved fresh points of P (``Moved``),
    their metrics (w2 and energy as ``Spread``s, nfe, bad, angle = median angle to E in degrees) and the direction-error map."""

    step: int
    moved: dict[str, Moved]
    metrics: dict[str, dict[str, float | Spread]]
    errors: dict[str, ErrorMap]


def lab_view(run: LabRun, solver: str, steps: int, y: float, x_range: tuple[float, float]) -> LabView:
    """Evaluate every model of ``run`` (its EMA weights): move ``run.starts`` from P along its field to Q with the
    chosen solver (24 snapshots; a two-sided model with ``move_two_sided``), the metrics of the end points against Q, and the angle to E on the slice x2 = y."""
    scene, s = run.scene, run.settings
    moved, metrics, errors = {}, {}, {}
    step, nets = run.snapshot()  # copies: the run may go on training meanwhile
    for name, (ema, config) in nets.items():
        starts = torch.from_numpy(run.starts).float()
        if config.objective == "pfgmpp":  # no P: fresh samples of its prior, carried to Q; its field is not E's
            moved[name] = m = move_from_prior(ema, config, len(run.starts), s.seed)
            metrics[name] = {**point_metrics(m.x.astype(np.float64), scene, s.seed), "nfe": float(m.nfe), "bad": float(m.bad), "angle": math.nan}
            continue
        if config.solver.get("kind") == ARC:
            m = move_two_sided(ema, config, starts, s.seed, LAB_ARC_STEPS)
        else:
            m = move(ema, config, starts, solver=solver, steps=steps, snapshots=24)
        errors[name] = direction_error(ema, config.objective, scene, s.L, y, x_range)
        moved[name] = m
        metrics[name] = {**point_metrics(m.x.astype(np.float64), scene, s.seed), "nfe": float(m.nfe), "bad": float(m.bad), "angle": errors[name].median}
    return LabView(step, moved, metrics, errors)
