"""Figures of the "Why large L is hard" page: the measured L sweep (landing energy distance with its floor, the
backward share, the bulge and the share of lines outside the training region), and lines beside the tent sampler's
training region. Conventions of ``app.figures.common`` (z horizontal, P red on the left, Q blue on the right)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.common import TEMPLATE, TOOLBAR_BAND, VARIANT_STYLE, Box, error_bars
from app.figures.learned import SUBPLOT_TITLE_BAND, lines_panels_figure

REGION_COLOR = "#9ecae1"
FLOOR_COLOR = "#bbbbbb"


def l_sweep_figure(
    Ls: np.ndarray, ed: dict[str, tuple[np.ndarray, np.ndarray]], floor: tuple[np.ndarray, np.ndarray],
    backward: tuple[np.ndarray, np.ndarray], bulge: np.ndarray, radius: np.ndarray, outside: tuple[np.ndarray, np.ndarray],
    current_L: float | None = None, height: int = 320,
) -> go.Figure:
    """Three panels over L: (1) energy distance of the landing points per kind of start, with the floor (mean and 95th
    percentile for as many points drawn from Q) as a grey band; (2) the share of P's flux leaving backwards; (3) the
    forward lines' bulge at z = L / 2 against the training region's radius, and the share of lines leaving it.
    ``ed``, ``backward`` and ``outside`` are (values, stds) over L: the stds are drawn as error bars (±1 std)."""
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, specs=[[{}, {}, {"secondary_y": True}]],
                        subplot_titles=("energy distance to Q", "backward flux share", "bulge vs region"))  # short: they overlapped at 1000 px
    fig.add_trace(go.Scatter(x=np.r_[Ls, Ls[::-1]], y=np.r_[np.zeros_like(Ls), floor[1][::-1]], fill="toself", mode="none",
                             fillcolor="rgba(187,187,187,0.35)", name="floor (95 % of Q's own samples)", hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(x=Ls, y=floor[0], mode="lines", line={"color": FLOOR_COLOR, "dash": "dash"}, name="floor (mean)"), row=1, col=1)
    for name, (values, std) in ed.items():
        color, symbol = VARIANT_STYLE.get(name, ("#333333", "circle"))
        fig.add_trace(go.Scatter(x=Ls, y=values, error_y=error_bars(std), name=f"{name} starts", mode="lines+markers", line={"color": color},
                                 marker={"symbol": symbol, "size": 9}), row=1, col=1)
    fig.add_trace(go.Scatter(x=Ls, y=backward[0], error_y=error_bars(backward[1]), name="backward share", mode="lines+markers",
                             line={"color": "#2ca02c"}, showlegend=False), row=1, col=2)
    fig.add_trace(go.Scatter(x=Ls, y=bulge, name="bulge of the forward lines (max |x| at z = L/2)", mode="lines+markers",
                             line={"color": "#333333"}), row=1, col=3)
    fig.add_trace(go.Scatter(x=Ls, y=radius, name="training region's radius at z = L/2", mode="lines", line={"color": REGION_COLOR, "width": 3}),
                  row=1, col=3)
    fig.add_trace(go.Scatter(x=Ls, y=100 * outside[0], error_y=error_bars(100 * outside[1]), name="lines leaving the region (%, right axis)", mode="lines+markers",
                             line={"color": "#ff7f0e", "dash": "dot"}), row=1, col=3, secondary_y=True)
    if current_L is not None:
        for col in (1, 2, 3):
            fig.add_vline(x=current_L, line={"color": "#000000", "dash": "dot", "width": 1}, row=1, col=col)
    fig.update_xaxes(title_text="L", range=[0, float(max(Ls)) * 1.05])
    fig.update_yaxes(title_text="energy distance", rangemode="tozero", tickformat=".2f", automargin=True, row=1, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1], row=1, col=2)
    fig.update_yaxes(title_text="distance from the axis", rangemode="tozero", row=1, col=3)
    fig.update_yaxes(title_text="% of lines", range=[0, 100], tickmode="linear", tick0=0, dtick=25, row=1, col=3, secondary_y=True, showgrid=False)
    fig.update_layout(template=TEMPLATE, height=height + TOOLBAR_BAND, margin={"l": 64, "r": 0, "t": TOOLBAR_BAND + SUBPLOT_TITLE_BAND, "b": 0},
                      legend={"orientation": "h", "y": -0.28}, uirevision="l-sweep")  # the left margin holds the first panel's title clear of its tick labels; the top one the toolbar clear of the titles
    return fig


def region_panels_figure(
    panels: dict[str, tuple[list[np.ndarray], list[str] | str]], pos: np.ndarray, neg: np.ndarray, L: float, box: Box,
    edges: np.ndarray, centre: np.ndarray, radius: np.ndarray, height: int = 360,
) -> go.Figure:
    """``lines_panels_figure`` with the tent sampler's training region (height bins ``edges`` (B + 1,), centre line
    (B, D), radius (B,)) drawn in every panel as a band in the (z, x1) projection."""
    fig = lines_panels_figure(panels, pos, neg, L, box, height=height)
    z = np.repeat(edges, 2)[1:-1]
    lo, hi = np.repeat(centre[:, 0] - radius, 2), np.repeat(centre[:, 0] + radius, 2)
    for col in range(1, len(panels) + 1):
        fig.add_trace(go.Scatter(x=np.r_[z, z[::-1]], y=np.r_[lo, hi[::-1]], fill="toself", mode="lines", line={"color": REGION_COLOR, "width": 1},
                                 fillcolor="rgba(158,202,225,0.25)", name="training region (99 % of the tent sampler's points)",
                                 legendgroup="region", showlegend=col == 1, hoverinfo="skip"), row=1, col=col)
    return fig
