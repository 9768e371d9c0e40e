"""What every figure of the app shares: the template, the colours, the geometry of the drawn box, the plate and
charge overlays of a slice, and the one Plotly config the pages pass to ``st.plotly_chart``.

Conventions shared by every picture:

* z (the axis between the plates) is drawn **horizontally**: P's plate on the left (z = 0), Q's on the right (z = L),
  as in the paper's figures. In 3-D (D = 2) the plot axes are (z, x1, x2); in 2-D (D = 1) they are (z, x1).
* red = the positive plate P and its charges, blue = the negative plate Q; field lines are coloured by their
  Theorem 3.1 case (``CASE_STYLE``), never red or blue; learned models have their own colours (``MODEL_COLOR``).
* every figure sets ``uirevision`` so that a user's camera / zoom survives Streamlit reruns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

MODEL_COLOR = {"EFM": "#111111", "flow matching": "#8c564b", "PFGM++": "#e377c2"}
POS_COLOR = "#d62728"
NEG_COLOR = "#1f77b4"
PROBE_COLOR = "#111111"
GRID = "#e5e9f0"
MAX_LINE_POINTS = 120  # points drawn per field line (``thin_path``)
TOOLBAR_BAND = 34  # px at the top of every figure where Plotly's toolbar appears on hover: nothing is drawn there
MIN_MARKER = 5  # px: the smallest marker of a 2-D picture (3-D markers are drawn smaller by WebGL: ``MIN_MARKER_3D``)
MIN_MARKER_3D = 3
COORD_DTYPE = np.float32  # coordinates are sent to the browser as float32 (7 digits: far below a pixel)
_AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID}
_AXIS_2D = {**_AXIS, "automargin": True, "title": {"standoff": 6}, "ticks": "outside", "ticklen": 3, "tickcolor": GRID}
# a small template of our own: Plotly's "plotly_white" costs ~12 ms to apply to every figure (its full validation).
# Its layout rules hold for every figure: tick labels and axis titles make room for themselves (automargin), the
# legend lies below everything, in the figure's own bottom band (yref "container": it pushes the plot up, never
# onto the axis title), the top band is left to the toolbar, and thin side margins keep the 3-D axis titles inside.
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#262730", "size": 13},
        "hovermode": "closest",
        "xaxis": _AXIS_2D, "yaxis": _AXIS_2D,
        "scene": {k: {**_AXIS, "backgroundcolor": "white", "showbackground": True}
                  for k in ("xaxis", "yaxis", "zaxis")},
        "colorway": ["#7b3294", "#ff7f0e", "#2ca02c", "#333333"],
        "margin": {"l": 8, "r": 8, "t": TOOLBAR_BAND, "b": 6},
        "legend": {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0.0, "xanchor": "left",
                   "font": {"size": 12}},
    }
)


def compact(values: np.ndarray) -> np.ndarray:
    """Coordinates as sent to the browser: float32 (half the bytes of float64; NaN gaps are kept)."""
    return np.asarray(values, dtype=COORD_DTYPE)


def new_figure(*traces: go.BaseTraceType) -> go.Figure:
    """A figure with our template (and without Plotly's default one, which is slow to apply)."""
    return go.Figure(data=list(traces), layout={"template": TEMPLATE})


@dataclass(frozen=True)
class CaseStyle:
    color: str
    label: str


CASE_STYLE: dict[str, CaseStyle] = {
    "front": CaseStyle("#7b3294", "front: ends on Q from the front"),
    "behind": CaseStyle("#ff7f0e", "behind: passes Q, returns from behind"),
    "backward": CaseStyle("#2ca02c", "backward: leaves P backwards, loops round"),
    "lost": CaseStyle("#7f7f7f", "lost: never reached Q"),
}
VARIANT_STYLE = {
    "two-sided": ("#2ca02c", "circle"),
    "forward-only": ("#7b3294", "x"),
}


# ------------------------------------------------------------------------------------------------------ geometry
@dataclass(frozen=True)
class Box:
    """The drawn region: z in [z_lo, z_hi], data coordinate j in [centre_j - half_j, centre_j + half_j]."""

    z_lo: float
    z_hi: float
    centre: tuple[float, ...]
    halves: tuple[float, ...]

    @property
    def half(self) -> float:
        """The largest half-width."""
        return max(self.halves)

    def ranges(self) -> list[tuple[float, float]]:
        """[(z range), (x1 range), ...] in plot-axis order."""
        return [(self.z_lo, self.z_hi)] + [(c - h, c + h) for c, h in zip(self.centre, self.halves, strict=True)]


def view_box(pos: np.ndarray, neg: np.ndarray, L: float) -> Box:
    """A box around both plates' charges (N, D), (M, D), wide enough to show the lines that loop round the outside.

    Each data coordinate gets twice the charges' half-spread along it, but at least half of the widest one (loops
    go out in every direction), 0.6 L and 3."""
    both = np.concatenate([pos, neg], axis=0)
    lo, hi = both.min(0), both.max(0)
    centre = 0.5 * (lo + hi)
    spread = 2.0 * (hi - lo) / 2.0
    widest = float(np.max(spread))
    halves = tuple(float(max(s, 0.5 * widest, 0.6 * L, 3.0)) for s in spread)
    margin = max(0.5 * L, 0.8 * max(halves))
    return Box(-margin, L + margin, tuple(float(c) for c in centre), halves)


def fit_box(paths: list[np.ndarray], base: Box, L: float, pad: float = 1.0) -> Box:
    """The part of ``base`` that holds ``paths`` (and both plates), with ``pad`` around: a closer view of a few
    lines."""
    pts = np.concatenate([clip_to_box(p, base) for p in paths]) if paths else np.zeros((0, len(base.centre) + 1))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return base
    z_lo = max(base.z_lo, min(float(pts[:, -1].min()), 0.0) - pad)
    z_hi = min(base.z_hi, max(float(pts[:, -1].max()), L) + pad)
    reach = np.abs(pts[:, :-1] - np.asarray(base.centre)).max(axis=0) + pad
    halves = tuple(float(max(min(h, r), 0.25 * (z_hi - z_lo))) for h, r in zip(base.halves, reach, strict=True))
    return Box(z_lo, z_hi, base.centre, halves)


def clip_to_box(path: np.ndarray, box: Box) -> np.ndarray:
    """Copy of ``path`` (T, D+1, z last) with points outside ``box`` set to NaN, so a line shows gaps there."""
    out = np.array(path, dtype=np.float64, copy=True)
    z = out[:, -1]
    inside = (z >= box.z_lo) & (z <= box.z_hi)
    for j, (c, h) in enumerate(zip(box.centre, box.halves, strict=True)):
        inside &= np.abs(out[:, j] - c) <= h
    out[~inside] = np.nan
    return out


def join_paths(paths: list[np.ndarray]) -> np.ndarray:
    """Stack paths (T_k, D+1) into one array with a NaN row after each path (one Plotly trace, gaps between lines)."""
    if not paths:
        return np.zeros((0, 0))
    d1 = paths[0].shape[1]
    gap = np.full((1, d1), np.nan)
    return np.concatenate([part for p in paths for part in (p, gap)], axis=0)


def resample_path(path: np.ndarray, n: int) -> np.ndarray:
    """``n`` points spread evenly in arc length along ``path`` (T, D+1): (n, D+1)."""
    if path.shape[0] == 1:
        return np.repeat(path, n, axis=0)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    target = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(target, s, path[:, j]) for j in range(path.shape[1])], axis=1)




def thin_path(path: np.ndarray, limit: int = MAX_LINE_POINTS) -> np.ndarray:
    """``path`` (T, D+1) as drawn: at most ``limit`` points, spread evenly in arc length (the tracer's fine steps near
    the charges are far below a pixel); a short path is returned as it is."""
    return path if len(path) <= limit or not np.isfinite(path).all() else resample_path(path, limit)


def square_view(points: np.ndarray, pad: float = 0.15, widest: float = 1.6) -> tuple[list[float], list[float]]:
    """x and y ranges around ``points`` (n, 2) for a picture with equal scales: ``pad`` of the size on each side, and
    the narrow direction widened until the box is at most ``widest`` : 1 (a flat cloud is not drawn as a thin strip)."""
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    centre, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * (1 + 2 * pad), 0.5)
    half = np.maximum(half, half.max() / widest)
    return ([float(centre[0] - half[0]), float(centre[0] + half[0])],
            [float(centre[1] - half[1]), float(centre[1] + half[1])])


def error_bars(std: np.ndarray) -> dict:
    """Plotly error bars of ±1 ``std`` (a statistic's noise, e.g. ``efm_core.bootstrap``'s), thin, in their trace's
    colour."""
    return {"type": "data", "array": np.asarray(std, dtype=float), "visible": True, "thickness": 1.2, "width": 3}


def log_ticks(lo: float, hi: float, most: int = 6) -> dict:
    """Tick settings of a log axis over the data range [lo, hi] (both > 0): labelled powers of ten when the range spans
    two decades or more, else the 1-2-5 values inside it, every label a plain number (never Plotly's bare digits)."""
    lo, hi = max(lo, 1e-300), max(hi, lo * 1.0001)
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    for mantissas in (((1.0,), (1.0, 5.0), (1.0, 2.0, 5.0)) if k1 - k0 >= 2
                      else ((1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))):
        vals = [m * 10.0**k for k in range(k0, k1 + 1) for m in mantissas if lo <= m * 10.0**k <= hi]
        if len(vals) >= 2 or mantissas == (1.0, 1.5, 2.0, 3.0, 5.0, 7.0):
            break
    if len(vals) > most:
        vals = vals[:: -(-len(vals) // most)]
    return {"type": "log", "tickmode": "array", "tickvals": vals, "ticktext": [f"{v:g}" for v in vals],
            "minor": {"showgrid": False}}


def add_slice_overlay(fig: go.Figure, L: float, charges: dict[str, np.ndarray]) -> None:
    """On a slice picture (z horizontal, x1 vertical): both plates as vertical lines, each labelled at the bottom on
    its outer side (P's left of z = 0, Q's right of z = L, so the two labels never meet), and the charges near the
    slice, {"pos": (n, 2), "neg": (m, 2)} points (z, x1), one trace per plate."""
    for z, color, name, side in ((0.0, POS_COLOR, "plate P", "bottom left"), (L, NEG_COLOR, "plate Q", "bottom right")):
        fig.add_vline(x=z, line={"color": color, "width": 3}, annotation_text=name, annotation_position=side,
                      annotation_bgcolor="rgba(255,255,255,0.85)", annotation_font={"color": color})
    for side, color in (("pos", POS_COLOR), ("neg", NEG_COLOR)):
        pts = charges.get(side)
        if pts is not None and len(pts):
            fig.add_trace(go.Scatter(
                x=compact(pts[:, 0]), y=compact(pts[:, 1]), mode="markers",
                name="P charges" if side == "pos" else "Q charges",
                marker={"color": color, "size": MIN_MARKER, "line": {"width": 0.5, "color": "white"}}, hoverinfo="skip",
            ))


def site_grid(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Clickable sites (n * n, 2) of a face-on view: an n x n grid over [lo_0, hi_0] x [lo_1, hi_1] (plot x, y)."""
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
