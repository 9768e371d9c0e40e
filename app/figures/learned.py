"""Figures of learned fields: numpy arrays in, ``plotly.graph_objects.Figure`` out (no Streamlit, no physics).

Same conventions as ``app.figures.common``: z is drawn horizontally (P's plate at z = 0 on the left, Q's at z = L on the
right), red = P, blue = Q, exact field lines coloured by their Theorem 3.1 case; learned models have their own
colours (``MODEL_COLOR``). Pictures of points in D = 2 show the projection onto the (z, x1) plane.

Images are (n, C, H, W) arrays in [-1, 1] (C = 1 grey or 3 RGB, black background), drawn as one ``go.Image`` of
tiles (``image_grid``) with crisp pixels. ``Grid`` says where each tile lies in plot coordinates, so click targets
and captions can be placed over it. Image figures set their own width and height (draw them with width="content").
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.common import (
    CASE_STYLE,
    MIN_MARKER,
    MODEL_COLOR,
    NEG_COLOR,
    POS_COLOR,
    TEMPLATE,
    TOOLBAR_BAND,
    Box,
    add_slice_overlay,
    clip_to_box,
    compact,
    join_paths,
    log_ticks,
    square_view,
    thin_path,
)

PAD_WHITE = 255  # the gaps between image tiles and the caption bands are white, like the page
MAX_CURVE_POINTS = 400  # a loss curve is thinned to at most this many points for drawing


# ----------------------------------------------------------------------------------------------------- training lab
def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= limit:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, limit).astype(int))
    return x[idx], y[idx]


STRIP_LEVELS = 9  # heights of a trajectory strip: z / L = 0, 1/8, …, 1, labelled at 0, 0.25, …, 1 (``strip_labels``)
HALF_STRIP_LEVELS = 5  # the same in half a page (Start here, Translation): z / L = 0, 0.25, …, 1, every one labelled
SUBPLOT_TITLE_BAND = 26  # px under the toolbar's band for the titles of side-by-side panels


def smooth(y: np.ndarray, span: int = 25) -> np.ndarray:
    """Exponential moving average (bias corrected) with time constant ``span`` steps: (k,) like ``y``."""
    a = 2.0 / (span + 1.0)
    out = np.empty(len(y))
    acc, norm = 0.0, 0.0
    for i, v in enumerate(y):
        acc = (1 - a) * acc + a * v
        norm = (1 - a) * norm + a
        out[i] = acc / norm
    return out


LOSS_TITLES = {"EFM": "EFM loss |f − E/|E||²", "flow matching": "flow-matching loss |v − (x<sub>Q</sub> − x<sub>P</sub>)|²",
               "PFGM++": "PFGM++ loss (EDM denoising)"}  # short: three titles a row were cut at 1400 px


def loss_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], total_steps: int, height: int = 280) -> go.Figure:
    """Loss against training step, one panel per model (the two losses have different units), log y.

    curves: model name -> (steps (k,), losses (k,)). Per model two traces: the raw loss (thin) and its moving average.
    The x axes span the whole run (``total_steps``) so the curve visibly grows.
    """
    names = list(curves)
    fig = make_subplots(rows=1, cols=max(1, len(names)), subplot_titles=[LOSS_TITLES.get(n, n) for n in names] or [""], horizontal_spacing=0.08)
    for col, name in enumerate(names, start=1):
        steps, loss = curves[name]
        color = MODEL_COLOR.get(name, "#333333")
        xs, ys = _thin(steps, loss)
        fig.add_trace(go.Scatter(x=compact(xs), y=compact(ys), mode="lines", name=f"{name} loss", line={"color": color, "width": 1}, opacity=0.35), row=1, col=col)
        xs, ys = _thin(steps, smooth(loss)) if len(loss) else (steps, loss)
        fig.add_trace(go.Scatter(x=compact(xs), y=compact(ys), mode="lines", name=f"{name} (average)", line={"color": color, "width": 2.5}), row=1, col=col)
        fig.update_xaxes(title_text="training step", range=[0, max(total_steps, 1)], row=1, col=col)
        positive = loss[np.isfinite(loss) & (loss > 0)]
        fig.update_yaxes(**(log_ticks(float(positive.min()), float(positive.max()), most=5) if positive.size else {"type": "log"}),
                         title_text="loss (log scale)" if col == 1 else None, row=1, col=col)
    fig.update_layout(template=TEMPLATE, height=height, showlegend=False, uirevision="loss", margin={"t": TOOLBAR_BAND + SUBPLOT_TITLE_BAND})
    return fig


def error_map_figure(z: np.ndarray, x: np.ndarray, angle: np.ndarray, L: float, charges: dict[str, np.ndarray], height: int = 380) -> go.Figure:
    """Heat map of the angle (degrees) between a learned and the exact field on a slice (z horizontal, x1 vertical).

    Args: z (nz,), x (nx,): grid axes; angle (nx, nz); charges: {"pos": (n, 2), "neg": (m, 2)} points (z, x1) of the
    charges near the slice. The colour scale ends at 90° (a field at right angles or worse shows as 90°).
    Trace 0 is the heat map.
    """
    cos = np.cos(np.radians(angle))
    fig = go.Figure(
        go.Heatmap(
            x=z, y=x, z=angle, zmin=0.0, zmax=90.0, colorscale="YlOrRd", customdata=cos,
            colorbar={"title": {"text": "angle (°)"}, "len": 0.8, "tickvals": [0, 15, 30, 45, 60, 75, 90], "ticktext": ["0", "15", "30", "45", "60", "75", "≥ 90"]},
            hovertemplate="z=%{x:.2f}<br>x₁=%{y:.2f}<br>angle=%{z:.1f}°<br>cos=%{customdata:.3f}<extra></extra>",
        )
    )
    add_slice_overlay(fig, L, charges)
    pad = 0.04 * L
    fig.update_layout(
        template=TEMPLATE, height=height, uirevision="error-map",
        xaxis={"title": {"text": "z"}, "range": [-pad, L + pad]}, yaxis={"title": {"text": "x₁"}, "range": [float(x[0]), float(x[-1])]},
    )
    return fig


def _plates_and_charges(fig: go.Figure, pos: np.ndarray, neg: np.ndarray, L: float, box: Box, row: int, col: int, legend: bool) -> None:
    y0, y1 = box.ranges()[1]
    for z, color, name in ((0.0, POS_COLOR, "plate P"), (L, NEG_COLOR, "plate Q")):
        fig.add_trace(go.Scatter(x=[z, z], y=[y0, y1], mode="lines", name=name, line={"color": color, "width": 4}, opacity=0.4, hoverinfo="name", showlegend=False), row=row, col=col)
    for pts, z, color, name in ((pos, 0.0, POS_COLOR, "P charges"), (neg, L, NEG_COLOR, "Q charges")):
        fig.add_trace(
            go.Scatter(x=np.full(len(pts), z), y=pts[:, 0], mode="markers", name=name, legendgroup=name, showlegend=legend, marker={"color": color, "size": 5}, hoverinfo="skip"),
            row=row, col=col,
        )


def trajectories_as_paths(levels: np.ndarray, path: np.ndarray) -> list[np.ndarray]:
    """A learned run's snapshots (K,), (K, n, D) as n polylines (K, D + 1) with z last (the format of field lines)."""
    return [np.concatenate([path[:, i, :], levels[:, None]], axis=1) for i in range(path.shape[1])]


def lines_panels_figure(
    panels: dict[str, tuple[list[np.ndarray], list[str] | str]], pos: np.ndarray, neg: np.ndarray, L: float, box: Box, height: int = 380,
    outside: bool = False,
) -> go.Figure:
    """Side-by-side panels of lines between the plates, projected onto (z, x1), sharing their axes; ``outside``: show
    the whole box in z (lines that leave backwards and loop round), not just 0.3 L beyond the plates.

    panels: title -> (paths (T_k, D + 1) with z last, then either one colour for all of them or a Theorem 3.1 case per
    path (coloured by ``CASE_STYLE``)). Each panel: plates, charges, then one lines trace per colour group.
    """
    titles = list(panels)
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, shared_yaxes=True, horizontal_spacing=0.03)
    shown_cases: set[str] = set()
    for col, title in enumerate(titles, start=1):
        paths, colouring = panels[title]
        _plates_and_charges(fig, pos, neg, L, box, 1, col, legend=col == 1)
        clipped = [clip_to_box(thin_path(p), box) for p in paths]
        if isinstance(colouring, str):
            groups = [(title, colouring, clipped)]
        else:
            groups = [(case, CASE_STYLE[case].color, [p for p, c in zip(clipped, colouring, strict=True) if c == case]) for case in CASE_STYLE]
        for name, color, members in groups:
            if not members:
                continue
            joined = join_paths(members)
            legend = isinstance(colouring, str) or name not in shown_cases
            shown_cases.add(name)
            fig.add_trace(
                go.Scatter(x=compact(joined[:, -1]), y=compact(joined[:, 0]), mode="lines", name=f"{name} ({len(members)})" if not isinstance(colouring, str) else name,
                           legendgroup=name, showlegend=legend, line={"color": color, "width": 1.3}, hoverinfo="skip"),
                row=1, col=col,
            )
    zr, xr = box.ranges()[0], box.ranges()[1]
    lo, hi = (zr[0], zr[1]) if outside else (max(zr[0], -0.3 * L), min(zr[1], 1.3 * L))
    fig.update_xaxes(title_text="z", range=[lo, hi])
    fig.update_yaxes(range=list(xr))
    fig.update_yaxes(title_text="x₁", col=1)
    fig.update_layout(template=TEMPLATE, height=height, uirevision="lab-lines", margin={"t": TOOLBAR_BAND + SUBPLOT_TITLE_BAND})
    return fig


def _plate_stop(z: np.ndarray, dz: np.ndarray, length: float, L: float) -> np.ndarray:
    """Arrow lengths (n,): ``length`` along unit directions with z components ``dz`` (n,) from heights ``z`` (n,),
    shortened so that no arrow crosses a plate (z = 0 or L) it starts in front of or behind: it stops there."""
    out = np.full(len(z), float(length))
    for plate in (0.0, L):
        gap = plate - z
        crosses = (gap * dz > 0) & (np.abs(dz) * length > np.abs(gap))  # heads for the plate and would pass it
        out[crosses] = np.minimum(out[crosses], gap[crosses] / dz[crosses])
    return out


def sampler_figure(
    points: np.ndarray, directions: np.ndarray, pos: np.ndarray, neg: np.ndarray, L: float, box: Box, height: int = 380, outside: bool = False,
) -> go.Figure:
    """Training points of Algorithm 1 with their target arrows E/|E| (projected onto (z, x1)); ``outside``: show the
    whole box in z (points behind the plates), not just 0.15 L beyond them.

    points, directions: (n, D + 1), z last. Traces: plates and charges, then the arrows (one trace of segments, an
    arrow head at each end; an arrow stops at a plate it would cross), then the points.
    """
    fig = make_subplots(rows=1, cols=1)
    _plates_and_charges(fig, pos, neg, L, box, 1, 1, legend=True)
    length = 0.05 * (box.ranges()[0][1] - box.ranges()[0][0])
    tips = points + _plate_stop(points[:, -1], directions[:, -1], length, L)[:, None] * directions
    seg = np.full((3 * len(points), 2), np.nan)
    seg[0::3] = points[:, [-1, 0]]
    seg[1::3] = tips[:, [-1, 0]]
    angle = np.degrees(np.arctan2(directions[:, -1], directions[:, 0]))
    fig.add_trace(go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name="target E/|E|", line={"color": "#444444", "width": 1}, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(x=tips[:, -1], y=tips[:, 0], mode="markers", showlegend=False, hoverinfo="skip",
                   marker={"symbol": "arrow", "angle": angle, "size": 7, "color": "#444444"})
    )
    fig.add_trace(
        go.Scatter(x=points[:, -1], y=points[:, 0], mode="markers", name=f"training points ({len(points)})", marker={"color": "#7b3294", "size": MIN_MARKER},
                   customdata=directions[:, [-1, 0]], hovertemplate="z=%{x:.2f}, x₁=%{y:.2f}<br>target (z, x₁) = (%{customdata[0]:.2f}, %{customdata[1]:.2f})<extra></extra>")
    )
    zr = box.ranges()[0]
    lo, hi = zr if outside else (max(zr[0], -0.15 * L), min(zr[1], 1.15 * L))
    inside = (points[:, -1] >= lo) & (points[:, -1] <= hi)
    if inside.any():  # every drawn arrow whole, with room for its head
        lo, hi = min(lo, float(tips[inside, -1].min()) - length), max(hi, float(tips[inside, -1].max()) + length)
    fig.update_layout(
        template=TEMPLATE, height=height, uirevision="sampler",
        xaxis={"title": {"text": "z"}, "range": [lo, hi]}, yaxis={"title": {"text": "x₁"}, "range": list(box.ranges()[1])},
    )
    return fig


# ------------------------------------------------------------------------------------------------------------ images
def to_rgb(images: np.ndarray) -> np.ndarray:
    """Images (n, C, H, W) in [-1, 1] (C = 1 or 3) as uint8 RGB (n, H, W, 3); values outside [-1, 1] are clipped."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (n, 1 or 3, H, W); got {images.shape}.")
    x = np.clip((np.asarray(images, dtype=np.float64) + 1.0) * 127.5, 0, 255).round().astype(np.uint8)
    x = np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x
    return np.transpose(x, (0, 2, 3, 1))


@dataclass(frozen=True)
class Grid:
    """Where the tiles of an image grid lie: ``cols`` x ``rows`` tiles of H x W pixels, ``pad`` pixels between them and
    a white band of ``band`` pixels above every row (room for captions). Plot coordinates = pixel indices."""

    cols: int
    rows: int
    H: int
    W: int
    pad: int = 1
    band: int = 0

    @classmethod
    def of(cls, n: int, cols: int, size: tuple[int, int], pad: int = 1, band: int = 0) -> Grid:
        cols = max(1, min(cols, n)) if n else 1
        return cls(cols, max(1, -(-n // cols)), int(size[0]), int(size[1]), pad, band)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the whole picture in pixels."""
        return self.rows * (self.H + self.pad + self.band) - self.pad, self.cols * (self.W + self.pad) - self.pad

    def origin(self, i: int) -> tuple[int, int]:
        """(x, y) pixel of the top-left corner of tile ``i``."""
        r, c = divmod(i, self.cols)
        return c * (self.W + self.pad), r * (self.H + self.pad + self.band) + self.band

    def centres(self, n: int) -> np.ndarray:
        """(n, 2) plot coordinates (x, y) of the first n tiles' centres."""
        return np.array([[x + (self.W - 1) / 2.0, y + (self.H - 1) / 2.0] for x, y in map(self.origin, range(n))]).reshape(n, 2)


def image_grid(images: np.ndarray, cols: int, pad: int = 1, band: int = 0) -> np.ndarray:
    """Tiles of ``images`` (n, C, H, W) row by row, ``cols`` per row, on white (``Grid`` geometry): uint8 (h, w, 3)."""
    rgb = to_rgb(images)
    grid = Grid.of(len(rgb), cols, rgb.shape[1:3], pad, band)
    out = np.full((*grid.shape, 3), PAD_WHITE, dtype=np.uint8)
    for i, tile in enumerate(rgb):
        x, y = grid.origin(i)
        out[y : y + grid.H, x : x + grid.W] = tile
    return out


MIN_TILE_PX = 64  # screen pixels of the smallest image tile (an 8 x 8 digit at 8 screen pixels per image pixel)
LABEL_PX = 20  # screen pixels of the caption band above a labelled tile


def tile_px(H: int) -> int:
    """Screen pixels per tile (image and its 1-pixel gap) for images H pixels high: ``MIN_TILE_PX`` for 8×8 digits,
    3 screen pixels per image pixel for larger ones (a 28×28 image 84 px wide, crisp at a whole scale)."""
    return max(MIN_TILE_PX, 3 * (int(H) + 1))
LABEL_FONT = 13


def label_band(H: int, W: int, tile_px: int) -> int:
    """Image pixels of the caption band above each tile of an ``images_figure`` with labels: at least ``LABEL_PX``
    screen pixels at ``tile_px`` screen pixels per tile of H x W pixels."""
    return max(2, int(np.ceil(LABEL_PX * (W + 1) / max(tile_px, MIN_TILE_PX))))


def _fit_labels(labels: Sequence[str] | None, tile_px: int) -> tuple[list[str] | None, int]:
    """Captions that fit a tile of ``tile_px`` screen pixels at ``LABEL_FONT``, and their number of lines: a caption
    too wide for one line is broken at its " · " into two."""
    if not labels:
        return None, 1
    fits = max(len(t) for t in labels) * 0.6 * LABEL_FONT <= tile_px - 4
    if fits or not any(" · " in t for t in labels):
        return list(labels), 1
    return [t.replace(" · ", "<br>") for t in labels], 2


def images_figure(
    images: np.ndarray, cols: int, *, labels: Sequence[str] | None = None, selected: Sequence[int] = (), clickable: bool = False,
    tile_px: int = MIN_TILE_PX, x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None, x_title: str = "",
) -> go.Figure:
    """A grid of images as one ``go.Image`` (trace 0), ``tile_px`` (at least ``MIN_TILE_PX``) screen pixels per tile.

    labels: a caption per tile (in a band above it). selected: tiles outlined in the theme colour. clickable: add
    trace 1, invisible markers on the tile centres whose selection events give the tile index (``point_index``).
    x_labels / y_labels: names of the columns / rows (e.g. the heights z of a trajectory strip); x_title: the name of
    the column axis (e.g. "z").
    """
    n, _, H, W = images.shape
    tile_px = max(tile_px, MIN_TILE_PX)
    labels, lines = _fit_labels(labels, tile_px)
    band = lines * label_band(H, W, tile_px) if labels else 0
    grid = Grid.of(n, cols, (H, W), band=band)
    fig = go.Figure(go.Image(z=image_grid(images, grid.cols, band=band), hoverinfo="skip"))
    centres = grid.centres(n)
    if clickable:
        fig.add_trace(
            go.Scatter(x=centres[:, 0], y=centres[:, 1], mode="markers", marker={"size": tile_px * 0.8, "opacity": 0.0, "symbol": "square"},
                       hovertemplate="#%{pointNumber}<extra>click to pick</extra>", showlegend=False, name="tiles")
        )
    shapes = [
        {"type": "rect", "x0": centres[i, 0] - W / 2 - 0.1, "x1": centres[i, 0] + W / 2 + 0.1, "y0": centres[i, 1] - H / 2 - 0.1,
         "y1": centres[i, 1] + H / 2 + 0.1, "line": {"color": POS_COLOR, "width": 3}}
        for i in selected if 0 <= i < n
    ]
    annotations = [
        {"x": centres[i, 0], "y": centres[i, 1] - H / 2 - band / 2, "text": text, "showarrow": False, "font": {"size": LABEL_FONT, "color": "#222222"}, "yanchor": "middle"}
        for i, text in enumerate(labels or []) if i < n
    ]
    height_px, width_px = grid.shape
    xaxis = {"visible": x_labels is not None, "range": [-0.5, width_px - 0.5], "showgrid": False, "zeroline": False}
    if x_labels is not None:
        ticks = [grid.centres(grid.cols)[c, 0] for c in range(min(len(x_labels), grid.cols))]
        xaxis.update(tickmode="array", tickvals=ticks, ticktext=list(x_labels)[: len(ticks)], side="top", tickangle=0, title={"text": x_title, "standoff": 2})
    yaxis = {"visible": y_labels is not None, "range": [height_px - 0.5, -0.5], "showgrid": False, "zeroline": False, "scaleanchor": "x"}
    if y_labels is not None:
        yaxis.update(tickmode="array", tickvals=[grid.centres(n)[r * grid.cols, 1] for r in range(min(len(y_labels), grid.rows))], ticktext=list(y_labels))
    scale = tile_px / (W + grid.pad)
    top = (48 if x_title else 28) if x_labels is not None else 2
    left = 12 + 8 * max(len(t) for t in y_labels) if y_labels else 2
    fig.update_layout(
        template=TEMPLATE, height=int(height_px * scale) + top + 4, width=int(width_px * scale) + left + 4,
        margin={"l": left, "r": 2, "t": top, "b": 2}, xaxis={**xaxis, "automargin": False}, yaxis={**yaxis, "automargin": False}, shapes=shapes,
        annotations=annotations, dragmode=False, clickmode="event+select", showlegend=False, plot_bgcolor="white",
    )
    return fig


def strip_images(path: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Tiles (len(rows) * K, C, H, W) of a trajectory (K, n, C, H, W): one row per chosen item, one column per height."""
    return np.concatenate([path[:, i] for i in rows], axis=0)


def strip_labels(levels: np.ndarray) -> list[str]:
    """Column labels of a strip at heights ``levels`` (K,): the share of the way from the first plate to the last
    (z / L when going from 0 to L), written only where it is a round quarter (0, 0.25, …, 1) and blank between;
    uneven heights keep their share to two decimals."""
    z = np.asarray(levels, dtype=np.float64)
    share = (z - z[0]) / (z[-1] - z[0]) if len(z) > 1 and z[-1] != z[0] else np.zeros_like(z)
    if len(z) > 2 and not np.allclose(np.diff(share), share[1]):
        return [f"{f:.2f}" for f in share]
    return [f"{round(4 * f) / 4:g}" if abs(4 * f - round(4 * f)) < 1e-6 else "" for f in share]


def strip_figure(path: np.ndarray, levels: np.ndarray, rows: Sequence[int], x_title: str, tile_px: int = MIN_TILE_PX) -> go.Figure:
    """A trajectory strip: the chosen items (rows, labelled #i) of a trajectory (K, n, C, H, W) at its K heights
    ``levels`` (columns, labelled by ``strip_labels``: round shares of the way), ``x_title`` naming the column axis.
    ``STRIP_LEVELS`` or ``HALF_STRIP_LEVELS`` evenly spaced heights put a label at 0, 0.25, 0.5, 0.75 and 1."""
    return images_figure(strip_images(path, rows), len(levels), x_labels=strip_labels(levels), x_title=x_title,
                         y_labels=[f"#{i}" for i in rows], tile_px=tile_px)


def nearest_figure(samples: np.ndarray, nearest: np.ndarray, dist: np.ndarray, cols: int, tile_px: int = MIN_TILE_PX) -> go.Figure:
    """Each sample (n, C, H, W) above its nearest training image (n, C, H, W): rows of ``cols`` samples, each followed
    by a row of their nearest training images, named on the left; captions: the sample's index and the L2 distance
    ``dist`` (n,) to its neighbour."""
    n = len(samples)
    chunks = [slice(i, min(i + cols, n)) for i in range(0, n, cols)]
    width = min(cols, n)
    blank = np.ones((1, *samples.shape[1:]), dtype=np.float32)  # white: no tile
    tiles, labels = [], []
    for c in chunks:
        pad = width - (c.stop - c.start)
        tiles += [samples[c], *[blank] * pad, nearest[c], *[blank] * pad]
        labels += [f"#{i}" for i in range(c.start, c.stop)] + [""] * pad + [f"d = {d:.2f}" for d in dist[c]] + [""] * pad
    names = ["sample", "nearest"] * len(chunks)
    return images_figure(np.concatenate(tiles), width, labels=labels, y_labels=names, tile_px=tile_px)


def _hue_colour(h: float) -> str:
    if not np.isfinite(h):
        return "#999999"
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, 1.0, 0.9)
    return f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})"


HUE_DODGE = 4.0  # degrees each model's markers are moved sideways so that EFM's and flow matching's do not cover each other


def hue_figure(hue_in: np.ndarray, hue_out: dict[str, np.ndarray], picked: Sequence[int] = (), tolerance: float = 30.0, height: int = 360) -> go.Figure:
    """Hue change (output minus input, wrapped to [-180, 180) degrees) against the input hue, one marker per
    translated image, coloured by its input hue: on the zero line the hue was kept.

    hue_out: model name -> (n,) output hues (NaN for a colourless output, drawn as a grey cross on the chart's top
    edge). The band of +- ``tolerance`` degrees marks "hue kept". The models' markers are dodged sideways by
    ``HUE_DODGE`` degrees and half transparent, so that two models that agree stay readable; ``picked`` items larger.
    Traces: the band edges (one trace), the zero line, then one trace per model.
    """
    change = {name: (np.asarray(out, dtype=float) - hue_in + 180.0) % 360.0 - 180.0 for name, out in hue_out.items()}
    seen = np.concatenate([np.abs(c[np.isfinite(c)]) for c in change.values()] + [np.zeros(1)])
    top = min(180.0, float(max(1.5 * tolerance, 10.0 * np.ceil((seen.max() + 5.0) / 10.0))))  # room for every change
    fig = go.Figure(go.Scatter(x=[0, 360, None, 0, 360], y=[-tolerance, -tolerance, None, tolerance, tolerance], mode="lines",
                               name=f"±{tolerance:g}°", line={"color": "#bbbbbb", "dash": "dot"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0, 360], y=[0, 0], mode="lines", name="hue kept", line={"color": "#888888"}, hoverinfo="skip"))
    colours = [_hue_colour(h) for h in hue_in]
    big = set(int(i) for i in picked)
    offsets = (np.arange(len(change)) - (len(change) - 1) / 2) * 2 * HUE_DODGE
    for (name, c), dx in zip(change.items(), offsets, strict=True):
        missing = ~np.isfinite(c)
        fig.add_trace(
            go.Scatter(
                x=hue_in + dx, y=np.where(missing, top, c), mode="markers", name=name, opacity=0.8, customdata=np.c_[hue_in, hue_out[name]],
                marker={"color": colours, "size": [13 if i in big else 9 for i in range(len(c))], "symbol": ["x" if m else ("circle" if name == "EFM" else "diamond") for m in missing],
                        "line": {"color": MODEL_COLOR.get(name, "#333333"), "width": 1.5}},
                hovertemplate="in %{customdata[0]:.0f}° → out %{customdata[1]:.0f}° (change %{y:.0f}°)<extra>" + name + "</extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE, height=height, uirevision="hue",
        xaxis={"title": {"text": "hue of the input (°)"}, "range": [-2 * HUE_DODGE, 360 + 2 * HUE_DODGE], "tickvals": list(range(0, 361, 60))},
        yaxis={"title": {"text": "hue change, output − input (°)"}, "range": [-top - 4, top + 4], "zeroline": False},
    )
    return fig


def points_figure(samples: dict[str, np.ndarray], reference: np.ndarray | None = None, reference_name: str = "data", height: int = 380) -> go.Figure:
    """Points in data space (D = 1 or 2; name -> (n, D), e.g. where each model lands on Q) and optionally reference
    points (m, D) in blue: a scatter (D = 2: x1 horizontal, x2 vertical) or overlaid densities (D = 1).

    With a reference in D = 2 the view is the reference's bounding box with a margin of half its size (so a few stray
    points do not shrink the picture); the legend counts the points outside the view.
    """
    D = next(iter(samples.values())).shape[1]
    fig = go.Figure()
    if D == 1:
        if reference is not None:
            fig.add_trace(go.Histogram(x=reference[:, 0], name=reference_name, histnorm="probability density", marker={"color": NEG_COLOR}, opacity=0.45))
        for name, pts in samples.items():
            fig.add_trace(go.Histogram(x=pts[:, 0], name=name, histnorm="probability density", marker={"color": MODEL_COLOR.get(name, "#333333")}, opacity=0.55))
        fig.update_layout(barmode="overlay", xaxis={"title": {"text": "x₁"}})
    else:
        lo = hi = None
        if reference is not None:
            (x0, x1), (y0, y1) = square_view(reference, pad=0.25)
            lo, hi = np.array([x0, y0]), np.array([x1, y1])
        for name, pts in samples.items():
            outside = 0 if lo is None else int((~np.all((pts >= lo) & (pts <= hi), axis=1)).sum())
            label = name + (f" ({outside} outside the view)" if outside else "")
            fig.add_trace(go.Scatter(x=compact(pts[:, 0]), y=compact(pts[:, 1]), mode="markers", name=label, marker={"color": MODEL_COLOR.get(name, "#333333"), "size": MIN_MARKER, "opacity": 0.75}))
        if reference is not None:  # drawn last, outlined: the samples land on it and would hide it
            fig.add_trace(go.Scatter(x=compact(reference[:, 0]), y=compact(reference[:, 1]), mode="markers", name=reference_name,
                                     marker={"color": NEG_COLOR, "size": MIN_MARKER, "opacity": 0.8, "line": {"width": 0.8, "color": "white"}}))
        fig.update_layout(xaxis={"title": {"text": "x₁"}}, yaxis={"title": {"text": "x₂"}, "scaleanchor": "x", "scaleratio": 1})
        if lo is not None:
            fig.update_layout(xaxis={"range": [lo[0], hi[0]], "constrain": "domain"}, yaxis={"range": [lo[1], hi[1]], "constrain": "domain"})
    fig.update_layout(template=TEMPLATE, height=height, uirevision="points")
    return fig
