"""What makes a large plate distance L hard, measured: the exact field's lines against where a network is taught.

``l_row`` measures one L on a scene: the share of P's flux that leaves backwards (fresh points of P, Theorem 3.1's
flux-weighted side choice), the landing energy distance of two-sided and forward-only starts at P's charges (the
V-statistic, >= 0, beside its floor: the same statistic for as many points drawn from Q's charges themselves), the
lateral bulge of the forward lines halfway between the plates, and the share of forward lines that leave the tent
sampler's training region (``tent_region``). ``checkpoint_lines`` moves fresh points of P with a shipped toy
checkpoint (a slab net with Heun in z, or a whole-space net with Theorem 3.1's two-sided map).

No drawing and no widgets; Streamlit only for caching. ``l_row`` is a plain function (it runs in a background
thread on the Theorem 3.1 page).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from app.compute import exact
from app.compute.learned import Moved, move, move_two_sided
from efm_core import Spread, bootstrap, energy_distance, sample_toy
from efm_core.checkpoints import Checkpoint
from efm_core.lines import CASES
from efm_core.theorem import transport_trace

REGION_SHARE = 0.99  # the training region holds this share of the sampler's points at every height
REGION_SIGMA = 2.0  # the tent noise of the slab checkpoints (toy-gauss-2gauss-L*-slab): mid-gap std in data units
REGION_BINS = 16  # height bins of the region between the plates
REGION_POINTS = 8000  # sampler points that define the region
FLOOR_DRAWS = 16  # draws of the floor statistic


class Region(NamedTuple):
    """The tent sampler's training region between the plates: height bin edges (B + 1,), the centre line's data
    coordinates at the bin centres (B, D) and the radius (B,) round it that holds ``REGION_SHARE`` of its points."""

    edges: np.ndarray
    centre: np.ndarray
    radius: np.ndarray

    def outside(self, path: np.ndarray) -> bool:
        """Whether a path (T, D + 1), z last, has a point strictly between the plates outside the region."""
        z = path[:, -1]
        k = np.searchsorted(self.edges, z, side="right") - 1
        inside = (k >= 0) & (k < len(self.radius))
        if not inside.any():
            return False
        kk = k[inside]
        return bool(np.any(np.linalg.norm(path[inside, :-1] - self.centre[kk], axis=1) > self.radius[kk]))


@st.cache_data(max_entries=32, show_spinner=False)
def tent_region(scene: exact.Scene, L: float, sigma: float = REGION_SIGMA, seed: int = 0) -> Region:
    """Where the tent sampler (mid-gap noise ``sigma``) puts ``REGION_SHARE`` of its points: per height bin, a ball
    round the line from P's mean to Q's mean (a round envelope: it holds the two-lobed cloud and more)."""
    pts = exact.training_cloud(scene, L, sigma, REGION_POINTS, seed)
    edges = np.linspace(0.0, L, REGION_BINS + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    mean_p, mean_q = scene.pos_w @ scene.pos, scene.neg_w @ scene.neg
    centre = mean_p + (mid / L)[:, None] * (mean_q - mean_p)
    k = np.clip(np.searchsorted(edges, pts[:, -1], side="right") - 1, 0, REGION_BINS - 1)
    dist = np.linalg.norm(pts[:, :-1] - centre[k], axis=1)
    radius = np.array([np.quantile(dist[k == b], REGION_SHARE) if np.any(k == b) else 0.0 for b in range(REGION_BINS)])
    return Region(edges, centre, radius)


def _half_way(path: np.ndarray, L: float) -> np.ndarray | None:
    """The data coordinates (D,) where a path first crosses z = L / 2, None if it never does."""
    z = path[:, -1] - 0.5 * L
    hit = np.flatnonzero((z[:-1] < 0) & (z[1:] >= 0))
    if hit.size == 0:
        return None
    i = int(hit[0])
    w = -z[i] / (z[i + 1] - z[i])
    return (1 - w) * path[i, :-1] + w * path[i + 1, :-1]


class LRow(NamedTuple):
    """One L of the measurement (see the module docstring), K = ``lines`` lines of each kind. Energy distances (data
    units) and shares with their noise (``Spread``: std over bootstrap resamples of the K lines); floor: mean and 95th percentile of the statistic for K points drawn from Q's charges by magnitude; bulge:
    the largest distance from the centre line at z = L / 2 over the forward lines, and the region's radius there;
    case_shares: the share of each Theorem 3.1 case among the two-sided lines from P's charges."""

    L: float
    backward_share: Spread
    ed_two_sided: Spread
    ed_forward: Spread
    floor_mean: float
    floor_hi: float
    bulge: float
    region_radius: float
    outside_share: Spread
    lines: int
    case_shares: dict[str, float]


def landing_floor(scene: exact.Scene, K: int, seed: int) -> tuple[float, float]:
    """Mean and 95th percentile of the energy distance (V-statistic) of K points drawn from Q's charges by magnitude."""
    rng = np.random.default_rng(seed + 11)
    values = [
        energy_distance(scene.neg[rng.choice(len(scene.neg), size=K, p=scene.neg_w)], scene.neg, weights_b=scene.neg_w)
        for _ in range(FLOOR_DRAWS)
    ]
    return float(np.mean(values)), float(np.quantile(values, 0.95))


def sample_floor(scene: exact.Scene, q_toy: str, K: int, seed: int) -> tuple[float, float]:
    """Mean and 95th percentile of the energy distance (V-statistic) of K fresh samples of the toy ``q_toy`` (not
    the charges) to Q's charges: the floor for points that land anywhere on Q, as a learned field's do."""
    values = [
        energy_distance(sample_toy(q_toy, K, D=scene.D, seed=seed + 101 + i).numpy(), scene.neg, weights_b=scene.neg_w)
        for i in range(FLOOR_DRAWS)
    ]
    return float(np.mean(values)), float(np.quantile(values, 0.95))


def q_distance(scene: exact.Scene, ends: np.ndarray, seed: int = 0) -> Spread:
    """Energy distance (V-statistic, >= 0) of end points (K, D) to Q's charges, with its bootstrap noise over the
    K points (NaN below 2 points)."""
    return bootstrap(lambda e: energy_distance(e, scene.neg, weights_b=scene.neg_w), ends, seed=seed)


def share(flags: object, seed: int = 0) -> Spread:
    """The share of true ``flags`` (K,) with its bootstrap noise (about sqrt(p (1 - p) / K))."""
    return bootstrap(np.mean, np.asarray(flags, dtype=float), seed=seed)


def landing_distances(scene: exact.Scene, land: exact.Landings) -> dict[str, Spread]:
    """``q_distance`` of each kind of start's end points."""
    return {name: q_distance(scene, e) for name, e in land.ends.items()}


def l_row(scene: exact.Scene, L: float, K: int, seed: int, p_toy: str | None) -> LRow:
    """Measure one L with K lines of each kind (see ``LRow``)."""
    land = exact.landings(scene, L, K, seed)
    ed = landing_distances(scene, land)
    floor = landing_floor(scene, K, seed)
    plates = scene.plates(L)
    starts = torch.from_numpy(exact.fresh_p(scene, p_toy, K, seed))
    both = transport_trace(plates, starts, sides="both", seed=seed, tol=exact.TRACE_TOL, dtype=exact.TRACE_DTYPE)
    backward = share((both.start[:, -1] < 0).numpy())
    fwd = transport_trace(plates, starts, sides="forward", seed=seed, tol=exact.TRACE_TOL, dtype=exact.TRACE_DTYPE,
                          return_paths=True, max_path_points=exact.MAX_PATH_POINTS)
    paths = [p.double().numpy() for p in fwd.paths]
    region = tent_region(scene, L)
    b = REGION_BINS // 2
    mids = [h for h in (_half_way(p, L) for p in paths) if h is not None]
    bulge = max((float(np.linalg.norm(h - region.centre[b])) for h in mids), default=np.nan)
    outside = share([region.outside(p) for p in paths])
    shares = {c: float(np.mean([k == c for k in land.cases["two-sided"]])) for c in CASES}
    return LRow(float(L), backward, ed["two-sided"], ed["forward-only"], *floor, bulge, float(region.radius[b]), outside, K, shares)


def card_ratio(metrics: dict) -> Spread:
    """A toy checkpoint card's W2 / floor with its noise: the floor's std over its repeats (``w2_floor_std``) taken as
    the noise of both W2 and the floor (the same statistic of as many points), combined as relative errors."""
    w2, floor, noise = metrics["w2"], metrics["w2_floor"], metrics["w2_floor_std"]
    ratio = w2 / floor
    return Spread(ratio, ratio * float(np.hypot(noise / w2, noise / floor)))


@st.cache_data(max_entries=8, show_spinner=False)
def forward_lines(scene: exact.Scene, L: float, n: int, seed: int, p_toy: str | None) -> tuple[list[np.ndarray], list[str]]:
    """n exact forward lines from fresh points of P: paths (T_k, D + 1) and their Theorem 3.1 cases."""
    starts = torch.from_numpy(exact.fresh_p(scene, p_toy, n, seed))
    fwd = transport_trace(scene.plates(L), starts, sides="forward", seed=seed, tol=exact.TRACE_TOL, dtype=exact.TRACE_DTYPE,
                          return_paths=True, max_path_points=exact.MAX_PATH_POINTS)
    return [p.double().numpy() for p in fwd.paths], [CASES[c] for c in fwd.case.tolist()]


class CheckpointRun(NamedTuple):
    """A shipped toy checkpoint's lines from n fresh points of P: the moved points, the drawn lines (n polylines,
    z last), the energy distance (V-statistic) of the end points to Q's charges, the share of its lines that leave
    the tent region, and the share of bad lines (slab: f_z <= f_min somewhere; two-sided: lost), each with its
    bootstrap noise over the n lines."""

    moved: Moved
    lines: list[np.ndarray]
    energy: Spread
    outside_share: Spread
    bad_share: Spread


@st.cache_data(max_entries=8, show_spinner=False)
def checkpoint_lines(key: str, _ckpt: Checkpoint, scene: exact.Scene, n: int, seed: int) -> CheckpointRun:
    """Move n fresh points of the checkpoint's P (``scene``: its charges, P a Gaussian) by its own solver: Heun in z
    for a slab net, Theorem 3.1's two-sided map for a whole-space net (``key`` identifies the checkpoint)."""
    cfg = _ckpt.config
    x0 = torch.from_numpy(exact.fresh_p(scene, cfg.p.get("name"), n, seed)).float()
    if cfg.solver.get("kind") == "arc":
        m = move_two_sided(_ckpt.net, cfg, x0, seed)
        lines = m.lines
    else:
        m = move(_ckpt.net, cfg, x0, snapshots=26)  # the checkpoint's own solver
        lines = [np.concatenate([m.path[:, i, :], m.levels[:, None]], axis=1).astype(np.float64) for i in range(n)]
    region = tent_region(scene, cfg.L)
    ends = m.x.astype(np.float64)
    return CheckpointRun(m, lines, q_distance(scene, ends), share([region.outside(p) for p in lines]), share(np.arange(n) < m.bad))
