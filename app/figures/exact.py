"""Figures of the exact field: numpy arrays in, ``plotly.graph_objects.Figure`` out (no Streamlit, no physics).

The field-line scene (3-D for D = 2, 2-D for D = 1, with its animation), the landing views, the probe slice, the
charge editor's face-on view, the Theorem 3.1 start picker and E_z profile, the L sweep and the High dimensions
charts. Conventions (axes, colours, ``uirevision``) are those of ``app.figures.common``.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from app.figures.common import (
    CASE_STYLE,
    MIN_MARKER,
    MIN_MARKER_3D,
    NEG_COLOR,
    POS_COLOR,
    PROBE_COLOR,
    TOOLBAR_BAND,
    VARIANT_STYLE,
    Box,
    add_slice_overlay,
    clip_to_box,
    compact,
    join_paths,
    log_ticks,
    new_figure,
    resample_path,
    square_view,
    thin_path,
    view_box,
)


def _axes(points: np.ndarray) -> dict[str, np.ndarray]:
    """Plot coordinates of points (n, D+1): x = z, y = x1 (and z = x2 in 3-D)."""
    out = {"x": compact(points[:, -1]), "y": compact(points[:, 0])}
    if points.shape[1] == 3:
        out["z"] = compact(points[:, 1])
    return out


def _lift(x: np.ndarray, z: float) -> np.ndarray:
    return np.concatenate([x, np.full((x.shape[0], 1), z)], axis=1)


def _marker_sizes(weights: np.ndarray | None, n: int, base: float) -> float | np.ndarray:
    if weights is None or n == 0 or np.allclose(weights, weights[0]):
        return base
    w = weights / weights.max()
    return base * (0.5 + 1.5 * np.sqrt(w))


# ---------------------------------------------------------------------------------------------- field-line scene
def field_lines_figure(
    pos: np.ndarray,
    neg: np.ndarray,
    L: float,
    paths: list[np.ndarray],
    cases: list[str],
    *,
    pos_weights: np.ndarray | None = None,
    neg_weights: np.ndarray | None = None,
    cones: bool = False,
    cloud: np.ndarray | None = None,
    marks: dict[str, np.ndarray] | None = None,
    box: Box | None = None,
    n_frames: int = 24,
    height: int = 500,
) -> go.Figure:
    """Both plates, their charges, and field lines coloured by case; 3-D for D = 2, 2-D for D = 1.

    Args:
        pos, neg: (N, D), (M, D) charges of P (z = 0) and Q (z = L) in data coordinates.
        paths: one (T_k, D+1) polyline per field line (z last); cases: the case name of each line (``CASE_STYLE``).
        pos_weights, neg_weights: optional (N,), (M,) magnitudes (marker size grows with them).
        cones: add direction arrows along the lines. cloud: optional (B, D+1) training points to show.
        marks: optional named points (D+1,) drawn as black crosses (e.g. a start, a crossing of z = L).
        box: the region drawn (default ``view_box``); lines are cut where they leave it.
        n_frames: frames of the client-side animation that moves one point along every line (0: none).

    Traces, in order: plate P, plate Q, P charges, Q charges, one trace per case present (legend "case (count)"),
    then the optional cones, cloud, marks (one trace each), and the moving points (the trace the frames update).
    """
    D = pos.shape[1]
    if D not in (1, 2):
        raise ValueError(f"field-line pictures exist for D = 1 and D = 2; got D = {D}.")
    box = box or view_box(pos, neg, L)
    three_d = D == 2
    Scatter = go.Scatter3d if three_d else go.Scatter
    fig = new_figure()
    for z, color, name in ((0.0, POS_COLOR, "plate P (z = 0)"), (L, NEG_COLOR, f"plate Q (z = L = {L:g})")):
        fig.add_trace(_plate_trace(z, box, color, name, three_d))
    for charges, w, color, name in (
        (pos, pos_weights, POS_COLOR, f"+ charges of P ({len(pos)})"),
        (neg, neg_weights, NEG_COLOR, f"− charges of Q ({len(neg)})"),
    ):
        z = 0.0 if color == POS_COLOR else L
        base = (3.0 if three_d else 6.0) * (2.5 if len(charges) <= 16 else 1.0)  # a few charges: draw them big
        size = _marker_sizes(w, len(charges), base)
        shown = clip_to_box(_lift(charges, z), box)
        fig.add_trace(Scatter(**_axes(shown), mode="markers", name=name, marker={"color": color, "size": size}, hoverinfo="skip"))
    clipped = [clip_to_box(thin_path(p), box) for p in paths]
    for case, style in CASE_STYLE.items():
        members = [c for c, k in zip(clipped, cases, strict=True) if k == case]
        if not members:
            continue
        joined = join_paths(members)
        fig.add_trace(
            Scatter(
                **_axes(joined), mode="lines", name=f"{case} ({len(members)})", legendgroup=case,
                line={"color": style.color, "width": (3 if three_d else 1.5) * (2 if len(paths) <= 4 else 1)}, hovertext=style.label, hoverinfo="text",
            )
        )
    if cones and paths:
        fig.add_trace(_cone_trace(clipped, box, three_d))
    if cloud is not None and len(cloud):
        fig.add_trace(
            Scatter(**_axes(cloud), mode="markers", name=f"training points ({len(cloud)})", marker={"color": "#555555", "size": MIN_MARKER_3D if three_d else MIN_MARKER, "opacity": 0.6}, hoverinfo="skip")
        )
    for name, point in (marks or {}).items():
        fig.add_trace(Scatter(**_axes(np.asarray(point, dtype=float)[None]), mode="markers", name=name, marker={"symbol": "x", "size": 6 if three_d else 12, "color": PROBE_COLOR}))
    if n_frames and paths:
        _add_animation(fig, paths, box, n_frames, three_d)
    _layout_scene(fig, box, three_d, height)
    return fig


def _plate_trace(z: float, box: Box, color: str, name: str, three_d: bool) -> go.BaseTraceType:
    ranges = box.ranges()
    y0, y1 = ranges[1]
    if not three_d:
        return go.Scatter(x=[z, z], y=[y0, y1], mode="lines", name=name, line={"color": color, "width": 4}, opacity=0.5, hoverinfo="name")
    w0, w1 = ranges[2]
    return go.Mesh3d(
        x=[z] * 4, y=[y0, y1, y1, y0], z=[w0, w0, w1, w1], i=[0, 0], j=[1, 2], k=[2, 3],
        color=color, opacity=0.15, name=name, showlegend=True, hoverinfo="name", flatshading=True,
    )


def _cone_trace(paths: list[np.ndarray], box: Box, three_d: bool) -> go.BaseTraceType:
    """Arrows at a few points of every line, pointing along it (the field's direction)."""
    at, direction = [], []
    for p in paths:
        ok = np.isfinite(p).all(axis=1)
        idx = np.flatnonzero(ok[:-1] & ok[1:])
        if idx.size == 0:
            continue
        pick = idx[np.linspace(0, idx.size - 1, min(4, idx.size)).astype(int)]
        step = p[pick + 1] - p[pick]
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        keep = norm[:, 0] > 0
        at.append(p[pick][keep])
        direction.append(step[keep] / norm[keep])
    pts = np.concatenate(at) if at else np.zeros((0, 3 if three_d else 2))
    vec = np.concatenate(direction) if direction else np.zeros_like(pts)
    if three_d:
        a, v = _axes(pts), _axes(vec)
        return go.Cone(
            x=a["x"], y=a["y"], z=a["z"], u=v["x"], v=v["y"], w=v["z"], sizemode="absolute", sizeref=box.half / 12,
            anchor="tail", colorscale=[[0, "#333333"], [1, "#333333"]], showscale=False, name="direction", showlegend=True, hoverinfo="skip",
        )
    angle = np.degrees(np.arctan2(vec[:, -1], vec[:, 0]))  # compass angle of (dz, dx1) in plot coordinates
    return go.Scatter(
        x=pts[:, -1], y=pts[:, 0], mode="markers", name="direction", hoverinfo="skip",
        marker={"symbol": "arrow", "angle": angle, "size": 9, "color": "#333333"},
    )


def _add_animation(fig: go.Figure, paths: list[np.ndarray], box: Box, n_frames: int, three_d: bool) -> None:
    """A trace of points at the lines' starts, and frames moving each along its line (by fraction of arc length)."""
    Scatter = go.Scatter3d if three_d else go.Scatter
    track = np.stack([resample_path(p, n_frames) for p in paths], axis=1)  # (frames, K, D+1)
    index = len(fig.data)
    marker = {"color": PROBE_COLOR, "size": 3 if three_d else 6}
    fig.add_trace(Scatter(**_axes(clip_to_box(track[0], box)), mode="markers", name="moving points", marker=marker, hoverinfo="skip"))
    kind = "scatter3d" if three_d else "scatter"
    # frame data as plain dicts: ~13x cheaper for Plotly to take in than trace objects (134 ms -> 10 ms for 24 frames)
    fig.frames = [
        go.Frame(data=[{"type": kind, "mode": "markers", "marker": marker, **_axes(clip_to_box(track[f], box))}], traces=[index], name=str(f))
        for f in range(n_frames)
    ]
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons", "direction": "left", "x": 0.0, "y": 1.0, "xanchor": "left", "yanchor": "bottom", "pad": {"b": 2}, "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, {"frame": {"duration": 80, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]},
                ],
            }
        ]
    )


def _layout_scene(fig: go.Figure, box: Box, three_d: bool, height: int) -> None:
    ranges = box.ranges()
    if three_d:
        fig.update_layout(
            scene={
                "xaxis": {"title": {"text": "z"}, "range": list(ranges[0]), "nticks": 6},
                "yaxis": {"title": {"text": "x₁"}, "range": list(ranges[1]), "nticks": 4},
                "zaxis": {"title": {"text": "x₂"}, "range": list(ranges[2]), "nticks": 4},
                "aspectmode": "manual",
                "aspectratio": {"x": 1.5, "y": 1.0, "z": float(np.clip(box.halves[1] / box.halves[0], 0.5, 1.0))},
                # seen from the front right and above: x2 ticks on the left, x1 ticks on the right (they never overlap)
                "camera": {"eye": {"x": 1.0, "y": -2.1, "z": 0.9}, "center": {"x": 0.0, "y": 0.0, "z": -0.1}},
                "domain": {"x": [0.06, 1.0], "y": [0.0, 1.0]},
                "uirevision": "scene",
            },
        )
    else:
        fig.update_layout(
            xaxis={"title": {"text": "z"}, "range": list(ranges[0])},
            yaxis={"title": {"text": "x₁"}, "range": list(ranges[1]), "scaleanchor": "x", "scaleratio": 1},
        )
    fig.update_layout(height=height, uirevision="field-lines")


# -------------------------------------------------------------------------------------------------- landing views
def landing_scatter(neg: np.ndarray, ends: dict[str, np.ndarray], height: int = 400) -> go.Figure:
    """Where lines land on the Q plate (D = 2): each variant's end points (name -> (K, 2)) and, drawn over them, Q's
    charges (blue, outlined in white so that they stay visible). Equal scales, the view ``square_view`` of all points.

    Traces: one per variant, then "Q charges"."""
    fig = new_figure()
    for name, pts in ends.items():
        color, symbol = VARIANT_STYLE.get(name, ("#333333", "circle"))
        fig.add_trace(go.Scatter(x=compact(pts[:, 0]), y=compact(pts[:, 1]), mode="markers", name=f"{name} ends ({len(pts)})",
                                 marker={"color": color, "symbol": symbol, "size": 7, "opacity": 0.7}))
    fig.add_trace(go.Scatter(x=compact(neg[:, 0]), y=compact(neg[:, 1]), mode="markers", name="Q charges",
                             marker={"color": NEG_COLOR, "size": MIN_MARKER, "line": {"width": 0.8, "color": "white"}}))
    xr, yr = square_view(np.concatenate([neg, *ends.values()]))
    fig.update_layout(
        height=height, uirevision="landing",
        xaxis={"title": {"text": "x₁"}, "range": xr, "constrain": "domain"},
        yaxis={"title": {"text": "x₂"}, "range": yr, "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
    )
    return fig


def landing_histogram(neg: np.ndarray, ends: dict[str, np.ndarray], height: int = 260) -> go.Figure:
    """Densities of the first coordinate x1 on Q: Q's charges against each variant's end points."""
    both = np.concatenate([neg[:, 0]] + [e[:, 0] for e in ends.values()])
    lo, hi = float(np.min(both)), float(np.max(both))
    size = max((hi - lo) / 40.0, 1e-6)
    xbins = {"start": lo, "end": hi + size, "size": size}
    fig = new_figure(go.Histogram(x=neg[:, 0], name="Q charges", histnorm="probability density", xbins=xbins, marker={"color": NEG_COLOR}, opacity=0.45))
    for name, pts in ends.items():
        color, _ = VARIANT_STYLE.get(name, ("#333333", "circle"))
        fig.add_trace(go.Histogram(x=pts[:, 0], name=f"{name} ends", histnorm="probability density", xbins=xbins, marker={"color": color}, opacity=0.55))
    fig.update_layout(
        barmode="overlay", height=height, uirevision="hist",
        xaxis={"title": {"text": "x₁ on the Q plate"}}, yaxis={"title": {"text": "density"}},
    )
    return fig


# --------------------------------------------------------------------------------------------------- probe slice
def slice_figure(
    z_grid: np.ndarray,
    x_grid: np.ndarray,
    log10_norm: np.ndarray,
    direction: np.ndarray,
    L: float,
    charges: dict[str, np.ndarray],
    probe: tuple[float, float] | None,
    height: int = 420,
) -> go.Figure:
    """A 2-D slice (z horizontal, x1 vertical): log10 |E| as a heat map, field arrows, plates, nearby charges, probe.

    Args:
        z_grid (nz,), x_grid (nx,): grid axes. log10_norm (nx, nz): log10 |E| on the grid (rows follow x_grid).
        direction (nx, nz, 2): the in-slice unit direction (dz, dx1) of E on the grid.
        charges: {"pos": (n, 2) points (z, x1) of P's charges near the slice, "neg": likewise for Q}.
        probe: (z, x1) of the probe, or None.

    Trace 0 is the heat map; trace 1 is the clickable grid (invisible markers on every grid node; selecting one
    moves the probe there); then arrows, plates, charges and the probe.
    """
    zz, xx = np.meshgrid(z_grid, x_grid)
    fig = new_figure(
        go.Heatmap(x=compact(z_grid), y=compact(x_grid), z=compact(log10_norm), colorscale="Viridis", colorbar={"title": {"text": "log₁₀|E|"}, "len": 0.8}, hoverinfo="skip")
    )
    # the grid carries hover and click (a heat map is not selectable); hoverinfo must not be "skip", or clicks are lost
    fig.add_trace(
        go.Scatter(
            x=compact(zz.ravel()), y=compact(xx.ravel()), mode="markers", name="click to probe", marker={"size": 8, "opacity": 0.0, "color": "#ffffff"},
            customdata=compact(log10_norm.ravel()), hovertemplate="z=%{x:.2f}<br>x₁=%{y:.2f}<br>log₁₀|E|=%{customdata:.2f}<extra>click to probe</extra>",
            showlegend=False,
        )
    )
    step = max(1, len(z_grid) // 14)
    sub = (slice(None, None, step), slice(None, None, step))
    angle = np.degrees(np.arctan2(direction[sub][..., 0], direction[sub][..., 1]))
    fig.add_trace(
        go.Scatter(
            x=compact(zz[sub].ravel()), y=compact(xx[sub].ravel()), mode="markers", name="direction of E", hoverinfo="skip",
            marker={"symbol": "arrow", "angle": np.round(angle.ravel()).astype(np.int16), "size": 8, "color": "rgba(255,255,255,0.8)", "line": {"width": 0}},
        )
    )
    add_slice_overlay(fig, L, charges)
    if probe is not None:
        fig.add_trace(go.Scatter(x=[probe[0]], y=[probe[1]], mode="markers", name="probe", marker={"symbol": "x", "size": 14, "color": "#ffffff", "line": {"color": PROBE_COLOR, "width": 2}}))
    fig.update_layout(
        height=height, uirevision="slice", clickmode="event+select",
        dragmode=False, xaxis={"title": {"text": "z"}, "range": [float(z_grid[0]), float(z_grid[-1])], "constrain": "domain"},
        yaxis={"title": {"text": "x₁"}, "range": [float(x_grid[0]), float(x_grid[-1])], "scaleanchor": "x", "scaleratio": 1, "constrain": "domain"},
    )
    return fig


# ------------------------------------------------------------------------------------------------- charge editor
def plate_editor_figure(pos: np.ndarray, neg: np.ndarray, grid: np.ndarray, height: int = 380) -> go.Figure:
    """The plates seen face on, for building charges by hand (data coordinates; D = 1 shows x1 on both plates).

    Args:
        pos, neg: rows (n, D+1) of hand-built charges (coordinates, magnitude).
        grid: (G, 2) candidate sites in plot coordinates; clicking one adds a charge there.

    Trace 0 is the clickable grid (faint dots), trace 1 P's charges, trace 2 Q's charges (select them to remove).
    For D = 1 the plot's y is the plate (0 = P, 1 = Q); for D = 2 it is x2 and P and Q are overlaid.
    """
    D = pos.shape[1] - 1
    fig = new_figure(
        go.Scatter(x=compact(grid[:, 0]), y=compact(grid[:, 1]), mode="markers", name="click to add", marker={"size": 5, "color": "#cccccc", "opacity": 0.5}, hovertemplate="add at (%{x:.2f}, %{y:.2f})<extra></extra>")
    )
    for rows, color, name, level in ((pos, POS_COLOR, "P charges (+)", 0.0), (neg, NEG_COLOR, "Q charges (−)", 1.0)):
        y = rows[:, 1] if D == 2 else np.full(len(rows), level)
        fig.add_trace(
            go.Scatter(
                x=rows[:, 0], y=y, mode="markers", name=f"{name}: {len(rows)}", customdata=rows[:, -1],
                marker={"color": color, "size": 10 if len(rows) < 200 else 5, "line": {"width": 1, "color": "#ffffff"}},
                hovertemplate="(%{x:.2f}, %{y:.2f}), q=%{customdata:.3g}<extra></extra>",
            )
        )
    yaxis = {"title": {"text": "x₂"}, "scaleanchor": "x", "scaleratio": 1} if D == 2 else {"tickvals": [0, 1], "ticktext": ["P (z = 0)", "Q (z = L)"], "range": [-0.5, 1.5]}
    fig.update_layout(
        height=height, uirevision="editor", clickmode="event+select",
        dragmode="select", xaxis={"title": {"text": "x₁"}}, yaxis=yaxis,
    )
    return fig


# ----------------------------------------------------------------------------------------------- Theorem 3.1 page
def start_picker_figure(pos: np.ndarray, grid: np.ndarray, start: np.ndarray | None, height: int = 320) -> go.Figure:
    """Plate P face on: its charges (red) and clickable sites (grid (G, 2)); the chosen start as a cross.

    For D = 1 the plot's y is 0 for every point. Trace 0 is the clickable grid, trace 1 the charges, trace 2 the start.
    """
    D = pos.shape[1]
    py = pos[:, 1] if D == 2 else np.zeros(len(pos))
    fig = new_figure(go.Scatter(x=compact(grid[:, 0]), y=compact(grid[:, 1]), mode="markers", name="click to start here", marker={"size": 6, "color": "#cccccc", "opacity": 0.4}, hovertemplate="start at (%{x:.2f}, %{y:.2f})<extra></extra>"))
    fig.add_trace(go.Scatter(x=compact(pos[:, 0]), y=compact(py), mode="markers", name="P charges", marker={"color": POS_COLOR, "size": MIN_MARKER}, hoverinfo="skip"))
    if start is not None:
        sy = float(start[1]) if D == 2 else 0.0
        fig.add_trace(go.Scatter(x=[float(start[0])], y=[sy], mode="markers", name="start", marker={"symbol": "x", "size": 14, "color": PROBE_COLOR}))
    yaxis = {"title": {"text": "x₂"}, "scaleanchor": "x", "scaleratio": 1} if D == 2 else {"visible": False, "range": [-1, 1]}
    fig.update_layout(
        height=height if D == 2 else 160, uirevision="picker",
        clickmode="event+select", dragmode=False, xaxis={"title": {"text": "x₁"}}, yaxis=yaxis,
    )
    return fig


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(k: int) -> str:
    """10^k as a tick label: "1", "10", "10⁻³"."""
    return {0: "1", 1: "10"}.get(k, "10" + str(k).translate(_SUPERSCRIPT))


def _asinh_axis(values: np.ndarray) -> tuple[float, list[float], list[str]]:
    """Scale e0 and ticks for plotting asinh(v / e0): sign kept, many decades visible."""
    finite = np.abs(values[np.isfinite(values)])
    e0 = float(np.median(finite[finite > 0])) if np.any(finite > 0) else 1.0
    top = float(np.nanmax(np.arcsinh(finite / e0))) if finite.size else 1.0
    ticks = [0.0]
    labels = ["0"]
    decades = [k for k in range(-3, 8) if 1.0 < float(np.arcsinh(10.0**k / e0)) <= top + 1]  # clear of the 0 tick
    for k in decades[:: max(1, math.ceil(len(decades) / 4))]:  # at most 4 a side: labels 2 decades apart stay apart
        a = float(np.arcsinh(10.0**k / e0))
        ticks += [a, -a]
        labels += [_power(k), "−" + _power(k)]
    return e0, ticks, labels


def ez_profile_figure(
    s: np.ndarray, ez_pos: np.ndarray, ez_neg: np.ndarray, z: np.ndarray, L: float, s_cross: float | None, height: int = 340
) -> go.Figure:
    """E_z+ and E_z- (and their sum) along one field line against arc length s, on a sign-keeping asinh scale.

    Args:
        s (T,): arc length from the start. ez_pos, ez_neg (T,): z components of P's and Q's fields there.
        z (T,): the line's height (drawn on a second axis). s_cross: arc length where the line first reaches z = L.
    """
    e0, ticks, labels = _asinh_axis(np.concatenate([ez_pos, ez_neg]))
    f = lambda v: np.arcsinh(v / e0)  # noqa: E731
    fig = new_figure()
    fig.add_trace(go.Scatter(x=s, y=f(ez_pos), name="E<sub>z</sub><sup>+</sup> (P's field)", line={"color": POS_COLOR}))
    fig.add_trace(go.Scatter(x=s, y=f(ez_neg), name="E<sub>z</sub><sup>−</sup> (Q's field)", line={"color": NEG_COLOR}))
    fig.add_trace(go.Scatter(x=s, y=f(ez_pos + ez_neg), name="E<sub>z</sub> = E<sub>z</sub><sup>+</sup> + E<sub>z</sub><sup>−</sup>", line={"color": "#333333", "dash": "dot"}))
    fig.add_trace(go.Scatter(x=s, y=z, name="height z of the line", yaxis="y2", line={"color": "#999999", "width": 1}))
    if s_cross is not None:
        fig.add_vline(x=s_cross, line={"color": "#000000", "dash": "dash"}, annotation_text="meets Q", annotation_position="top")  # above the plot
    fig.add_hline(y=0, line={"color": "#bbbbbb", "width": 1})
    fig.update_layout(
        height=height, uirevision="profile", margin={"t": TOOLBAR_BAND + 16},
        xaxis={"title": {"text": "arc length s along the line"}},
        yaxis={"title": {"text": f"E<sub>z</sub> (asinh scale, E<sub>0</sub> = {e0:.2g})"}, "tickvals": ticks, "ticktext": labels},
        yaxis2={"title": {"text": "z"}, "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "auto", "nticks": 6, "automargin": True, "range": [min(0.0, float(np.min(z))) - 0.5, max(L, float(np.max(z))) + 0.5]},
    )
    return fig


def sweep_figures(
    Ls: np.ndarray, shares: dict[str, np.ndarray], errors: dict[str, np.ndarray], current_L: float | None = None,
    L_max: float | None = None, height: int = 300,
) -> tuple[go.Figure, go.Figure]:
    """The L sweep: the share of each line case against L, and the end-point error against Q per kind of start.

    ``current_L`` adds a dotted vertical line (a trace named "current L") at the L in use; the L axis runs from 0 to
    ``L_max`` (default: the largest L given), so that a sweep still filling in keeps its axis.
    """
    cases = new_figure()
    for case, style in CASE_STYLE.items():
        if case in shares:
            cases.add_trace(go.Scatter(x=Ls, y=shares[case], name=case, mode="lines+markers", line={"color": style.color}))
    err = new_figure()
    for name, values in errors.items():
        color, symbol = VARIANT_STYLE.get(name, ("#333333", "circle"))
        err.add_trace(go.Scatter(x=Ls, y=values, name=name, mode="lines+markers", line={"color": color}, marker={"symbol": symbol, "size": 9}))
    top = max([float(np.nanmax(v)) for v in errors.values() if np.isfinite(v).any()] + [1e-3])
    bottom = min([float(np.nanmin(v)) for v in errors.values() if np.isfinite(v).any()] + [0.0])
    for fig, (lo, hi), title in ((cases, (0.0, 1.0), "share of lines"), (err, (bottom, 1.05 * top), "energy distance to Q's charges")):
        if current_L is not None:
            fig.add_trace(go.Scatter(x=[current_L, current_L], y=[lo, hi], mode="lines", name="current L", line={"color": "#000000", "dash": "dot", "width": 1}))
        fig.update_layout(
            height=height, uirevision=title,
            xaxis={"title": {"text": "L"}, "range": [0.0, float(L_max or max(Ls)) * 1.03]}, yaxis={"title": {"text": title}, "range": [lo, hi if hi > lo else lo + 1]},
        )
    return cases, err


# ---------------------------------------------------------------------------------------------- high dimensions
def _positive_range(series: dict[str, np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([np.asarray(v, dtype=float).ravel() for v in series.values()])
    values = values[np.isfinite(values) & (values > 0)]
    return (float(values.min()), float(values.max())) if values.size else (1.0, 10.0)


def dimension_figure(
    dims: np.ndarray, series: dict[str, np.ndarray], y_title: str, *, log_y: bool = False, bands: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    height: int = 300, extra: tuple[str, float, float, tuple[float, float] | None] | None = None,
) -> go.Figure:
    """Quantities against the dimension D (log axis): one line per series, optional (low, high) bands; ``extra``:
    one more measurement (name, D, value, optional (low, high)) drawn as a star with an error bar, e.g. real data."""
    palette = ["#7b3294", "#ff7f0e", "#2ca02c", "#333333"]
    fig = new_figure()
    for i, (name, values) in enumerate(series.items()):
        color = palette[i % len(palette)]
        if bands and name in bands:
            lo, hi = bands[name]
            fig.add_trace(go.Scatter(x=np.concatenate([dims, dims[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself", line={"width": 0}, fillcolor=color, opacity=0.15, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=dims, y=values, name=name, mode="lines+markers", line={"color": color}))
    if extra is not None:
        name, D, value, spread = extra
        error = None if spread is None else {"type": "data", "array": [spread[1] - value], "arrayminus": [value - spread[0]], "color": "#d62728"}
        fig.add_trace(go.Scatter(x=[D], y=[value], name=name, mode="markers", error_y=error,
                                 marker={"symbol": "star", "size": 14, "color": "#d62728", "line": {"width": 1, "color": "white"}}))
    fig.update_layout(
        height=height, uirevision=y_title,
        xaxis={"title": {"text": "data dimension D"}, "type": "log", "tickmode": "array", "tickvals": list(dims[::2]), "ticktext": [f"{int(d)}" for d in dims[::2]]},
        yaxis={"title": {"text": y_title}, **(log_ticks(*_positive_range(series)) if log_y else {})},
    )
    return fig
