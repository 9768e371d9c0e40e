"""Exact-field work for the pages: small hashable arguments in, numpy arrays out. No drawing, no widgets.

The scene's charges, field lines (``efm_core.lines.trace_robust``: float32 first, lost ones again in float64), the
training cloud, the probe, the slice grid, Theorem 3.1's single lines and case examples, and the landing check with its
weighted energy distance. The functions the pages call while drawing are thin adapters (build the plates, call the core,
convert to numpy) wrapped in ``st.cache_data``, so a rerun only recomputes what changed; outside a Streamlit run
(benchmarks, tests) the caches still work, in memory. ``landings`` is a plain function: it runs in a background thread
(``app.background`` keeps its results).
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from efm_core import energy_distance, make_plates, plate_field_at, sample_toy
from efm_core.lines import CASES, median_spacing, trace_lines, trace_robust
from efm_core.plates import Plates, systematic_indices
from efm_core.sampler import SamplerConfig, sample_points
from efm_core.theorem import delta_from_spacing, forward_probability

TRACE_DTYPE = torch.float32  # the drawn lines: float32 first (~1.4x faster); lines it loses are traced again in float64
TRACE_TOL = 1e-3  # relative local error per step of the tracer (same end charges as 1e-6 in the measured cases)
THEOREM_DTYPE = torch.float64  # single lines whose E_z is read along the way: full precision
MAX_PATH_POINTS = 160
SWEEP_LS = (1.0, 2.0, 4.0, 6.0, 10.0, 20.0, 30.0, 50.0)
LANDING_SEED_OFFSET = 1000  # fresh P points use seed + this, so they differ from the charges


class Scene(NamedTuple):
    """Charges of both plates in data coordinates (float64): pos (N, D), neg (M, D), magnitudes (N,), (M,) summing to 1."""

    pos: np.ndarray
    neg: np.ndarray
    pos_w: np.ndarray
    neg_w: np.ndarray

    @property
    def D(self) -> int:
        return int(self.pos.shape[1])

    @property
    def key(self) -> str:
        """A short fingerprint of the charges (for background-job keys)."""
        h = hashlib.md5()
        for a in self:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def plates(self, L: float) -> Plates:
        return make_plates(torch.from_numpy(self.pos), torch.from_numpy(self.neg), L, torch.from_numpy(self.pos_w), torch.from_numpy(self.neg_w))


def _merge_duplicates(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charges at the same place become one charge carrying their summed magnitude (a line cannot leave a point twice)."""
    uniq, inverse = np.unique(x, axis=0, return_inverse=True)
    if len(uniq) == len(x):
        return x, w
    return uniq, np.bincount(inverse.reshape(-1), weights=w, minlength=len(uniq))


@st.cache_data(max_entries=32, show_spinner=False)
def scene_charges(D: int, p_toy: str, q_toy: str, n: int, seed: int, custom_pos: np.ndarray | None, custom_neg: np.ndarray | None) -> Scene:
    """The scene's charges: toy samples (P with ``seed``, Q with ``seed + 1``) or hand-built rows (x..., q).

    Raises ValueError for an unknown toy or bad rows (message meant for the user).
    """
    parts = []
    for toy, custom, s in ((p_toy, custom_pos, seed), (q_toy, custom_neg, seed + 1)):
        if custom is not None:
            x, w = custom[:, :-1].astype(np.float64), custom[:, -1].astype(np.float64)
        else:
            x = sample_toy(toy, int(n), D=int(D), seed=int(s)).numpy()
            w = np.ones(len(x))
        x, w = _merge_duplicates(x, w)
        parts.append((x, w / w.sum()))
    (pos, pw), (neg, nw) = parts
    make_plates(pos, neg, 1.0, pw, nw)  # validation only: raises ValueError with a clear message
    return Scene(pos, neg, pw, nw)


def charge_starts(scene: Scene, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n line starts on P: charge indices (n,) spread by magnitude, and directions (n, D+1) uniform on the sphere."""
    rng = np.random.default_rng(seed)
    idx = systematic_indices(scene.pos_w, n, offset=rng.random()).numpy()
    u = rng.standard_normal((n, scene.D + 1))
    return idx, u / np.linalg.norm(u, axis=1, keepdims=True)


class Lines(NamedTuple):
    """Traced lines: paths (K arrays (T_k, D+1), z last), case names (K,), and the seconds the trace took."""

    paths: list[np.ndarray]
    cases: list[str]
    seconds: float


@st.cache_data(max_entries=64, show_spinner=False)
def field_lines(scene: Scene, L: float, n_lines: int, seed: int, sides: str = "both") -> Lines:
    """``n_lines`` lines leaving P's charges (chosen by magnitude), in a direction uniform on the sphere ('both': the
    flux-weighted two-sided start) or the same directions flipped to point towards Q ('forward')."""
    if sides not in ("both", "forward"):
        raise ValueError(f"sides must be 'both' or 'forward'; got {sides!r}.")
    idx, u = charge_starts(scene, n_lines, seed)
    if sides == "forward":
        u[:, -1] = np.abs(u[:, -1])
    t0 = time.perf_counter()
    trace = trace_robust(scene.plates(L), charges=idx, directions=u, return_paths=True, max_path_points=MAX_PATH_POINTS,
                         tol=TRACE_TOL)
    seconds = time.perf_counter() - t0
    return Lines([p.double().numpy() for p in trace.paths], [CASES[c] for c in trace.case.tolist()], seconds)


def landing_distance(scene: Scene, ends: np.ndarray) -> float:
    """Energy distance (data units) between end points X (K, D) and Q's charges as a weighted point set (Y, w):

        2 mean_i sum_j w_j |X_i - Y_j|  -  mean_{i != k} |X_i - X_k|  -  sum_{j,l} w_j w_l |Y_j - Y_l|.

    The end points of exact field lines are Q's charges themselves, drawn in proportion to their charge (Gauss's
    law), so the reference is that discrete distribution, not a Q beyond it: with the X term over pairs i != k and
    the Y term over all pairs, the estimate is 0 on average when the X follow (Y, w), for any number of points (the
    fully unbiased U-statistic would sit at -mean|Y - Y'| / M there). NaN below 2 end points.
    """
    if len(ends) < 2:
        return math.nan
    return energy_distance(ends, scene.neg, unbiased=True, weights_b=scene.neg_w)


@st.cache_data(max_entries=16, show_spinner=False)
def training_cloud(scene: Scene, L: float, sigma: float, n: int, seed: int, kind: str = "tent") -> np.ndarray:
    """(n, D+1) training points of Algorithm 1 from P and Q's charges: the sampler ``kind`` ("tent": between the plates
    with tent noise of mid-gap std ``sigma``; "whole_space": also behind the plates and far out) with that sigma."""
    g = torch.Generator().manual_seed(seed)
    ip = torch.randint(0, len(scene.pos), (n,), generator=g)
    iq = torch.randint(0, len(scene.neg), (n,), generator=g)
    pts = sample_points(torch.from_numpy(scene.pos)[ip], torch.from_numpy(scene.neg)[iq], L, SamplerConfig(kind=kind, sigma=float(sigma)), g)
    return pts.lifted().numpy()


class Probe(NamedTuple):
    """The field at one point: total E, P's part E+ and Q's part E- as (D+1,) vectors (z last), and log10 |E|."""

    E: np.ndarray
    E_pos: np.ndarray
    E_neg: np.ndarray
    log10_norm: float


@st.cache_data(max_entries=256, show_spinner=False)
def probe(scene: Scene, L: float, point: tuple[float, ...]) -> Probe:
    """Exact E, E+ and E- at ``point`` (D+1 coordinates, z last), float64."""
    x = torch.tensor([point], dtype=torch.float64)
    r = plate_field_at(x, scene.plates(L))
    return Probe(r.vector()[0].numpy(), r.pos.vector()[0].numpy(), r.neg.vector()[0].numpy(), float(r.log_norm[0]) / math.log(10))


class Slice(NamedTuple):
    """log10 |E| and the in-slice unit direction (dz, dx1) on a grid over z (nz,) and x1 (nx,), at x2 = ``y``."""

    z: np.ndarray
    x: np.ndarray
    log10_norm: np.ndarray  # (nx, nz)
    direction: np.ndarray  # (nx, nz, 2)


def slice_points(D: int, y: float, z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The grid (len(x) * len(z), D + 1) of the slice x2 = ``y`` (D = 2) or the (z, x1) plane (D = 1) over heights z
    and first coordinates x, row-major in x, z last."""
    zz, xx = np.meshgrid(z, x)
    cols = [xx.ravel()] + ([np.full(zz.size, y)] if D == 2 else []) + [zz.ravel()]
    return np.stack(cols, axis=1)


def near_slice(scene: Scene, L: float, y: float, width: float = 0.5) -> dict[str, np.ndarray]:
    """The charges of each plate within ``width`` of the slice x2 = ``y`` (all of them for D = 1), as points (z, x1)
    in the slice's plot coordinates: {"pos": (n, 2), "neg": (m, 2)}."""
    out = {}
    for side, pts, z in (("pos", scene.pos, 0.0), ("neg", scene.neg, L)):
        keep = np.abs(pts[:, 1] - y) < width if scene.D == 2 else np.ones(len(pts), bool)
        out[side] = np.stack([np.full(keep.sum(), z), pts[keep, 0]], axis=1)
    return out


@st.cache_data(max_entries=32, show_spinner=False)
def field_slice(scene: Scene, L: float, y: float, z_range: tuple[float, float], x_range: tuple[float, float], n: int = 61) -> Slice:
    """The exact field on an n x n grid of the plane x2 = y (D = 2) or of the whole (z, x1) plane (D = 1).

    Computed in float32 (a picture: log10 |E| to ~1e-5), about 4x faster than float64 here."""
    z = np.linspace(*z_range, n)
    x = np.linspace(*x_range, n)
    r = plate_field_at(torch.from_numpy(slice_points(scene.D, y, z, x)).float(), scene.plates(L))
    d = r.direction.double().numpy()
    inplane = np.stack([d[:, -1], d[:, 0]], axis=1)
    inplane /= np.maximum(np.linalg.norm(inplane, axis=1, keepdims=True), 1e-12)
    log10 = (r.log_norm.double().numpy() / math.log(10)).reshape(n, n)
    return Slice(z, x, np.where(np.isfinite(log10), log10, np.nan), inplane.reshape(n, n, 2))


# --------------------------------------------------------------------------------------------- Theorem 3.1 page
def plate_delta(scene: Scene, L: float) -> float:
    """Theorem 3.1's probe distance off the plates, as ``transport_trace`` chooses it (``default_delta``)."""
    spacing = max(median_spacing(torch.from_numpy(scene.pos)), median_spacing(torch.from_numpy(scene.neg)))
    return delta_from_spacing(spacing, L)


class Decision(NamedTuple):
    """E_z where a line first meets the Q plate: total just in front (z = L - delta) and just behind (L + delta), and
    behind the plate P's part and Q's part of it. Stop there iff front and behind have opposite signs."""

    front: float
    behind: float
    behind_pos: float
    behind_neg: float


class SingleLine(NamedTuple):
    """One start x on P traced forwards (from (x, +delta)) and backwards (from (x, -delta)) with the plate rule.

    For each direction: path (T, D+1), case name, arc length s (T,), E_z+ and E_z- (P's and Q's parts) along the
    path (T,), where it first meets the Q plate (D+1,) — its first crossing of z = L, or the Q charge it ends on when
    it never crosses — or None, and the ``Decision`` there (None when it never meets Q).
    """

    paths: dict[str, np.ndarray]
    cases: dict[str, str]
    s: dict[str, np.ndarray]
    ez_pos: dict[str, np.ndarray]
    ez_neg: dict[str, np.ndarray]
    crossing: dict[str, np.ndarray | None]
    decision: dict[str, Decision | None]
    forward_flux: float  # share of the plate's flux at x that leaves forwards: E_z(x, +delta) / (E_z(+) - E_z(-))
    delta: float  # the probe distance used (``plate_delta``)


@st.cache_data(max_entries=64, show_spinner=False)
def single_line(scene: Scene, L: float, start: tuple[float, ...]) -> SingleLine:
    """Trace both lines leaving the plate point ``start`` (D data coordinates) and read E_z+ / E_z- along them."""
    plates = scene.plates(L)
    delta = plate_delta(scene, L)
    x = np.asarray(start, dtype=np.float64)
    starts = np.stack([np.append(x, delta), np.append(x, -delta)])
    trace = trace_lines(plates, starts=starts, tol=1e-6, dtype=THEOREM_DTYPE, plate_delta=delta, return_paths=True, max_path_points=400)
    out: dict[str, dict] = {k: {} for k in ("paths", "cases", "s", "ez_pos", "ez_neg", "crossing", "decision")}
    for i, name in enumerate(("forward", "backward")):
        path = trace.paths[i].double()
        r = plate_field_at(path, plates)
        out["paths"][name] = path.numpy()
        out["cases"][name] = CASES[int(trace.case[i])]
        seg = torch.linalg.vector_norm(path[1:] - path[:-1], dim=1)
        out["s"][name] = torch.cat([torch.zeros(1, dtype=path.dtype), torch.cumsum(seg, 0)]).numpy()
        out["ez_pos"][name] = r.pos.vector()[:, -1].numpy()
        out["ez_neg"][name] = r.neg.vector()[:, -1].numpy()
        if bool(trace.crossed[i]) or int(trace.end_charge[i]) >= 0:  # first crossing of z = L, else the Q charge it ends on
            y = trace.crossing[i].double()
            out["crossing"][name] = y.numpy()
            probes = y.repeat(2, 1)
            probes[:, -1] = torch.tensor([L - delta, L + delta], dtype=probes.dtype)
            at = plate_field_at(probes, plates)
            total, p_part, q_part = at.vector()[:, -1], at.pos.vector()[:, -1], at.neg.vector()[:, -1]
            out["decision"][name] = Decision(float(total[0]), float(total[1]), float(p_part[1]), float(q_part[1]))
        else:
            out["crossing"][name] = None
            out["decision"][name] = None
    flux = float(forward_probability(plates, torch.from_numpy(x[None]), delta)[0])
    return SingleLine(**out, forward_flux=flux, delta=delta)


@st.cache_data(max_entries=32, show_spinner=False)
def case_examples(scene: Scene, L: float, p_toy: str | None, n_candidates: int = 96) -> dict[str, tuple[float, ...] | None]:
    """A start on P for each case of Theorem 3.1 in this scene: 'front' and 'behind' (the forward line's case; for
    'front' the candidate nearest P's centre wins, for 'behind' the farthest, whose backward line loops less far) and 'backward' (a candidate whose backward line loops round onto Q; the one
    sending the largest share of its flux backwards wins); of the best few, the first whose two lines both reach Q
    when traced as the page draws them (``single_line``) is taken.

    Candidates are P's centre and ``n_candidates`` fresh points of P (``fresh_p``). None where none shows the case.
    """
    centre = (scene.pos * scene.pos_w[:, None]).sum(0)
    cand = np.concatenate([centre[None], fresh_p(scene, p_toy, n_candidates, 0)])
    plates = scene.plates(L)
    delta = plate_delta(scene, L)
    k = len(cand)
    heights = np.concatenate([np.full(k, delta), np.full(k, -delta)])[:, None]
    starts = np.concatenate([np.concatenate([cand, cand]), heights], axis=1)
    trace = trace_robust(plates, starts=starts, plate_delta=delta, tol=TRACE_TOL)
    fwd_case, bwd_case = trace.case.numpy()[:k], trace.case.numpy()[k:]
    forward_share = forward_probability(plates, torch.from_numpy(cand), delta).numpy()
    dist = np.linalg.norm(cand - centre, axis=1)
    lost = CASES.index("lost")
    both_end = (fwd_case != lost) & (bwd_case != lost)
    out: dict[str, tuple[float, ...] | None] = {}
    for case, cases, score in (("front", fwd_case, dist), ("behind", fwd_case, -dist), ("backward", bwd_case, forward_share)):
        hits = np.flatnonzero(cases == CASES.index(case))
        ranked = [tuple(float(v) for v in cand[i]) for i in sorted(hits, key=lambda i: (not both_end[i], score[i]))]
        out[case] = _clear_example(scene, L, ranked, case)
    return out


def _clear_example(scene: Scene, L: float, ranked: list[tuple[float, ...]], case: str, tries: int = 4) -> tuple[float, ...] | None:
    """The first of the ``ranked`` starts (best first) whose two lines, traced as the page draws them
    (``single_line``), both reach Q and show ``case``; else the best one (None when there is none)."""
    line_name = "backward" if case == "backward" else "forward"
    for start in ranked[:tries]:
        line = single_line(scene, L, start)
        if line.cases[line_name] == case and "lost" not in line.cases.values():
            return start
    return ranked[0] if ranked else None


class Landings(NamedTuple):
    """Where K lines land on Q, for each kind of start ('two-sided': directions uniform on the sphere at P's charges,
    which is the flux-weighted choice of side; 'forward-only': the same directions turned towards Q): end points of
    the lines that reached Q (K', D), the case of every line (K,), the energy distance of the end points to Q's
    charges, and the seconds it took."""

    ends: dict[str, np.ndarray]
    cases: dict[str, list[str]]
    distance: dict[str, float]
    seconds: float


def fresh_p(scene: Scene, p_toy: str | None, K: int, seed: int) -> np.ndarray:
    """K fresh points of P (K, D): new samples of the toy, or for hand-built charges the charges (drawn by
    magnitude) jittered by their median nearest-neighbour spacing."""
    if p_toy is not None:
        return sample_toy(p_toy, K, D=scene.D, seed=seed + LANDING_SEED_OFFSET).numpy()
    rng = np.random.default_rng(seed + LANDING_SEED_OFFSET)
    idx = rng.choice(len(scene.pos), size=K, p=scene.pos_w)
    spacing = median_spacing(torch.from_numpy(scene.pos)) if len(scene.pos) > 1 else 0.0
    return scene.pos[idx] + (spacing or 0.1) * rng.standard_normal((K, scene.D))


def landings(scene: Scene, L: float, K: int, seed: int) -> Landings:
    """K lines of each kind of start from P's charges (the same charges and directions, see ``charge_starts``),
    traced to Q in one batch (``trace_robust``).

    For point charges this is Theorem 3.1's flux picture exactly: every direction at a charge carries the same flux,
    so two-sided lines land on Q's charges in proportion to their charge (Gauss's law). Plain function: it runs in a
    background thread (``app.background`` keeps its results).
    """
    t0 = time.perf_counter()
    idx, u = charge_starts(scene, K, seed + LANDING_SEED_OFFSET)
    u_fwd = u.copy()
    u_fwd[:, -1] = np.abs(u_fwd[:, -1])
    trace = trace_robust(scene.plates(L), charges=np.concatenate([idx, idx]), directions=np.concatenate([u, u_fwd]),
                         tol=TRACE_TOL)
    case = [CASES[c] for c in trace.case.tolist()]
    end = trace.end[:, :-1].double().numpy()
    ends, cases, distance = {}, {}, {}
    for name, part in (("two-sided", slice(0, K)), ("forward-only", slice(K, 2 * K))):
        cases[name] = case[part]
        ok = np.array([c != "lost" for c in cases[name]])
        ends[name] = end[part][ok]
        distance[name] = landing_distance(scene, ends[name])
    return Landings(ends, cases, distance, time.perf_counter() - t0)
