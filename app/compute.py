"""Cached calls into ``efm_core`` for the pages: small hashable arguments in, numpy arrays out.

Every function here is a thin adapter (build the plates, call the core, convert to numpy) wrapped in
``st.cache_data``, so a rerun only recomputes what changed. Outside a Streamlit run (benchmarks, tests) the caches
still work, in memory. No drawing here; no widgets.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from efm_core import make_plates, plate_field_at, sample_toy
from efm_core.lines import CASES, trace_lines
from efm_core.metrics import energy_distance
from efm_core.plates import Plates
from efm_core.sampler import SamplerConfig, sample_points

TRACE_DTYPE = torch.float32  # the drawn lines: float32 is enough for a picture and ~1.5x faster
TRACE_TOL = 1e-3  # relative local error per step of the tracer (same end charges as 1e-6 in the measured cases)
THEOREM_DTYPE = torch.float64  # single lines whose E_z is read along the way: full precision
PLATE_DELTA = 0.03  # Theorem 3.1's probe distance behind / in front of the Q plate, and the start height off P
MAX_PATH_POINTS = 160
SWEEP_LS = (1.0, 2.0, 4.0, 6.0, 10.0, 20.0, 30.0, 50.0)


class Scene(NamedTuple):
    """Charges of both plates in data coordinates (float64): pos (N, D), neg (M, D), magnitudes (N,), (M,) summing to 1."""

    pos: np.ndarray
    neg: np.ndarray
    pos_w: np.ndarray
    neg_w: np.ndarray

    @property
    def D(self) -> int:
        return int(self.pos.shape[1])

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


def _systematic(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n charge indices, charge i chosen about n w_i times (systematic sampling: lines spread by flux)."""
    u = (rng.random() + np.arange(n)) / n
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum / cum[-1], u), len(weights) - 1)


class LineSet(NamedTuple):
    """Traced lines of one kind of start: paths (K arrays (T_k, D+1)), case names (K,), end points (K, D) on Q."""

    paths: list[np.ndarray]
    cases: list[str]
    ends: np.ndarray
    ended: np.ndarray  # (K,) bool: the line reached Q (not lost)


class Lines(NamedTuple):
    """Both kinds of start from the same charges: ``two`` (direction uniform on the sphere: the flux-weighted,
    two-sided start of Theorem 3.1) and ``fwd`` (the same directions flipped to point towards Q: forward only)."""

    two: LineSet
    fwd: LineSet
    seconds: float


@st.cache_data(max_entries=64, show_spinner=False)
def field_lines(scene: Scene, L: float, n_lines: int, seed: int) -> Lines:
    """Trace ``n_lines`` two-sided and ``n_lines`` forward-only lines in one batch (same charges, mirrored directions)."""
    import time

    rng = np.random.default_rng(seed)
    idx = _systematic(scene.pos_w, n_lines, rng)
    u = rng.standard_normal((n_lines, scene.D + 1))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    u_fwd = u.copy()
    u_fwd[:, -1] = np.abs(u_fwd[:, -1])
    t0 = time.perf_counter()
    trace = trace_lines(
        scene.plates(L), charges=np.concatenate([idx, idx]), directions=np.concatenate([u, u_fwd]), tol=TRACE_TOL,
        dtype=TRACE_DTYPE, return_paths=True, max_path_points=MAX_PATH_POINTS,
    )
    seconds = time.perf_counter() - t0
    paths = [p.double().numpy() for p in trace.paths]
    cases = [CASES[c] for c in trace.case.tolist()]
    ends = trace.end[:, :-1].double().numpy()
    ended = np.array([c != "lost" for c in cases])
    k = n_lines
    return Lines(
        LineSet(paths[:k], cases[:k], ends[:k], ended[:k]),
        LineSet(paths[k:], cases[k:], ends[k:], ended[k:]),
        seconds,
    )


@st.cache_data(max_entries=64, show_spinner=False)
def landing_distance(scene: Scene, ends: np.ndarray) -> float:
    """Energy distance (data units) between end points (K, D) and Q's charges; NaN without end points."""
    if len(ends) == 0:
        return math.nan
    return float(energy_distance(torch.from_numpy(ends), torch.from_numpy(scene.neg)))


@st.cache_data(max_entries=16, show_spinner=False)
def training_cloud(scene: Scene, L: float, sigma: float, n: int, seed: int) -> np.ndarray:
    """(n, D+1) training points of Algorithm 1 (tent noise of mid-gap std ``sigma``) between P and Q's charges."""
    g = torch.Generator().manual_seed(seed)
    ip = torch.randint(0, len(scene.pos), (n,), generator=g)
    iq = torch.randint(0, len(scene.neg), (n,), generator=g)
    pts = sample_points(torch.from_numpy(scene.pos)[ip], torch.from_numpy(scene.neg)[iq], L, SamplerConfig(kind="tent", sigma=float(sigma)), g)
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


@st.cache_data(max_entries=32, show_spinner=False)
def field_slice(scene: Scene, L: float, y: float, z_range: tuple[float, float], x_range: tuple[float, float], n: int = 61) -> Slice:
    """The exact field on an n x n grid of the plane x2 = y (D = 2) or of the whole (z, x1) plane (D = 1)."""
    z = np.linspace(*z_range, n)
    x = np.linspace(*x_range, n)
    zz, xx = np.meshgrid(z, x)
    cols = [xx.ravel()] + ([np.full(zz.size, y)] if scene.D == 2 else []) + [zz.ravel()]
    r = plate_field_at(torch.from_numpy(np.stack(cols, axis=1)), scene.plates(L))
    d = r.direction.numpy()
    inplane = np.stack([d[:, -1], d[:, 0]], axis=1)
    inplane /= np.maximum(np.linalg.norm(inplane, axis=1, keepdims=True), 1e-12)
    log10 = (r.log_norm.numpy() / math.log(10)).reshape(n, n)
    return Slice(z, x, np.where(np.isfinite(log10), log10, np.nan), inplane.reshape(n, n, 2))


# --------------------------------------------------------------------------------------------- Theorem 3.1 page
class SingleLine(NamedTuple):
    """One start x on P traced forwards (from (x, +delta)) and backwards (from (x, -delta)) with the plate rule.

    For each direction: path (T, D+1), case name, arc length s (T,), E_z+ and E_z- along the path (T,), the first
    crossing of z = L (D+1,) or None, and E_z+, E_z- just behind the plate there (the stop/continue decision).
    """

    paths: dict[str, np.ndarray]
    cases: dict[str, str]
    s: dict[str, np.ndarray]
    ez_pos: dict[str, np.ndarray]
    ez_neg: dict[str, np.ndarray]
    crossing: dict[str, np.ndarray | None]
    decision: dict[str, tuple[float, float] | None]
    forward_flux: float  # share of the plate's flux at x that leaves forwards: E_z(x, +delta) / (E_z(+) - E_z(-))


@st.cache_data(max_entries=64, show_spinner=False)
def single_line(scene: Scene, L: float, start: tuple[float, ...]) -> SingleLine:
    """Trace both lines leaving the plate point ``start`` (D data coordinates) and read E_z+ / E_z- along them."""
    plates = scene.plates(L)
    x = np.asarray(start, dtype=np.float64)
    starts = np.stack([np.append(x, PLATE_DELTA), np.append(x, -PLATE_DELTA)])
    trace = trace_lines(plates, starts=starts, tol=1e-6, dtype=THEOREM_DTYPE, plate_delta=PLATE_DELTA, return_paths=True, max_path_points=400)
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
        if bool(trace.crossed[i]):
            y = trace.crossing[i].double().clone()
            out["crossing"][name] = y.numpy()
            y[-1] = L + PLATE_DELTA
            behind = plate_field_at(y[None], plates)
            out["decision"][name] = (float(behind.pos.vector()[0, -1]), float(behind.neg.vector()[0, -1]))
        else:
            out["crossing"][name] = None
            out["decision"][name] = None
    e = plate_field_at(torch.from_numpy(starts), plates).vector()[:, -1].numpy()
    up, down = max(e[0], 0.0), max(-e[1], 0.0)
    flux = up / (up + down) if up + down > 0 else 1.0
    return SingleLine(**out, forward_flux=float(flux))


class Sweep(NamedTuple):
    """The L sweep: Ls (k,), share of each case among the two-sided lines (case -> (k,)), energy distance of the end
    points to Q's charges per start kind ('two-sided', 'forward-only' -> (k,))."""

    Ls: np.ndarray
    shares: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]


def sweep_L(scene: Scene, n_lines: int, seed: int, Ls: tuple[float, ...] = SWEEP_LS, progress=None) -> Sweep:
    """Trace at every L (each L is its own cached ``field_lines`` call); ``progress(i, n)`` is called as it goes."""
    shares = {c: [] for c in CASES}
    errors = {"two-sided": [], "forward-only": []}
    for i, L in enumerate(Ls):
        if progress is not None:
            progress(i, len(Ls))
        lines = field_lines(scene, float(L), n_lines, seed)
        for c in CASES:
            shares[c].append(float(np.mean([k == c for k in lines.two.cases])))
        for name, ls in (("two-sided", lines.two), ("forward-only", lines.fwd)):
            errors[name].append(landing_distance(scene, ls.ends[ls.ended]))
    return Sweep(np.asarray(Ls, dtype=float), {c: np.asarray(v) for c, v in shares.items()}, {k: np.asarray(v) for k, v in errors.items()})


# -------------------------------------------------------------------------------------------- high dimensions
class DimStats(NamedTuple):
    """Per dimension D (k,): quartiles (k, 3) of the largest charge's share of |E|; log10 of the largest and
    smallest r^-(D+1) (k,); share of points where float32 r^-(D+1) gives no usable field (k,); quartiles (k, 3) of
    the cosine between E and the direction to the nearest Q charge, for points in the upper half of the gap."""

    dims: np.ndarray
    top_share: np.ndarray
    log10_w_max: np.ndarray
    log10_w_min: np.ndarray
    f32_broken: np.ndarray
    cos_nearest: np.ndarray


@st.cache_data(max_entries=8, show_spinner=False)
def dimension_stats(dims: tuple[int, ...], n: int, shift: float, L: float, n_query: int = 64, seed: int = 0) -> DimStats:
    """P = N(0, I_D), Q = N(shift e1, I_D), ``n`` charges each, at distance L; queries on segments between fresh
    P and Q samples at heights z = tL, t ~ U(0.05, 0.95). All log-space sums in float64 (``plate_field_at``)."""
    g = torch.Generator().manual_seed(seed)
    rows = {k: [] for k in ("top", "wmax", "wmin", "f32", "cos")}
    for D in dims:
        pos = torch.randn(n, D, generator=g, dtype=torch.float64)
        neg = torch.randn(n, D, generator=g, dtype=torch.float64)
        neg[:, 0] += shift
        t = 0.05 + 0.9 * torch.rand(n_query, generator=g, dtype=torch.float64)
        a = torch.randn(n_query, D, generator=g, dtype=torch.float64)
        b = torch.randn(n_query, D, generator=g, dtype=torch.float64)
        b[:, 0] += shift
        x = torch.cat([(1 - t)[:, None] * a + t[:, None] * b, (t * L)[:, None]], dim=1)
        plates = make_plates(pos, neg, L)
        charges = torch.cat([plates.lifted_pos(), plates.lifted_neg()])
        r2 = torch.cdist(x, charges).square()
        log_contrib = -0.5 * D * torch.log(r2)  # |E_i| up to the common 1/(n S_D): r_i^-D
        top = torch.exp(log_contrib.max(1).values - torch.logsumexp(log_contrib, 1))
        log_w = -0.5 * (D + 1) * torch.log(r2) / math.log(10)  # log10 r^-(D+1)
        w32 = r2.float() ** (-(D + 1) / 2.0)
        broken = ~torch.isfinite(w32.sum(1)) | (w32.sum(1) == 0)
        direction = plate_field_at(x, plates).direction
        upper = t > 0.5
        to_near = plates.lifted_neg()[torch.cdist(x[upper], plates.lifted_neg()).argmin(1)] - x[upper]
        cos = (direction[upper] * to_near).sum(1) / torch.linalg.vector_norm(to_near, dim=1)
        rows["top"].append(torch.quantile(top, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).numpy())
        rows["wmax"].append(float(log_w.max()))
        rows["wmin"].append(float(log_w.min()))
        rows["f32"].append(float(broken.double().mean()))
        rows["cos"].append(torch.quantile(cos, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).numpy())
    return DimStats(
        np.asarray(dims, dtype=float), np.stack(rows["top"]), np.asarray(rows["wmax"]), np.asarray(rows["wmin"]),
        np.asarray(rows["f32"]), np.stack(rows["cos"]),
    )
