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

PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}  # every chart's toolbar
MODEL_COLOR = {"EFM": "#111111", "flow matching": "#8c564b"}
POS_COLOR = "#d62728"
NEG_COLOR = "#1f77b4"
PROBE_COLOR = "#111111"
GRID = "#e5e9f0"
_AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID}
# a small template of our own: Plotly's "plotly_white" costs ~12 ms to apply to every figure (its full validation)
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#262730"}, "hovermode": "closest",
        "xaxis": {**_AXIS, "automargin": True}, "yaxis": {**_AXIS, "automargin": True},
        "scene": {k: {**_AXIS, "backgroundcolor": "white", "showbackground": True} for k in ("xaxis", "yaxis", "zaxis")},
        "colorway": ["#7b3294", "#ff7f0e", "#2ca02c", "#333333"],
    }
)


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
    """The part of ``base`` that holds ``paths`` (and both plates), with ``pad`` around: a closer view of a few lines."""
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




def add_slice_overlay(fig: go.Figure, L: float, charges: dict[str, np.ndarray], label_at: str) -> None:
    """On a slice picture (z horizontal, x1 vertical): both plates as vertical lines (labels at ``label_at``) and the
    charges near the slice, {"pos": (n, 2), "neg": (m, 2)} points (z, x1), one trace per plate."""
    for z, color, name in ((0.0, POS_COLOR, "plate P"), (L, NEG_COLOR, "plate Q")):
        fig.add_vline(x=z, line={"color": color, "width": 3}, annotation_text=name, annotation_position=label_at)
    for side, color in (("pos", POS_COLOR), ("neg", NEG_COLOR)):
        pts = charges.get(side)
        if pts is not None and len(pts):
            fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="P charges" if side == "pos" else "Q charges", marker={"color": color, "size": 5}, hoverinfo="skip"))


def site_grid(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Clickable sites (n * n, 2) of a face-on view: an n x n grid over [lo_0, hi_0] x [lo_1, hi_1] (plot x, y)."""
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
