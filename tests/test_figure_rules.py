"""The layout rules every figure shares (app/figures/common.py), checked on the figure JSON: the legend in the
figure's own bottom band, the toolbar's band on top, honest log ticks, markers large enough to see, image tiles of at
least 64 px, views that are not thin strips, and no figure payload over 150 kB at the page defaults."""

import numpy as np
import plotly.graph_objects as go
import pytest

from app import ui
from app.compute import exact
from app.figures import common as fc
from app.figures import exact as fe
from app.figures import learned as fl
from app.state import WIDGETS

PAYLOAD_LIMIT = 150_000  # bytes of figure JSON (issue 12)


def _full_layout(fig: go.Figure) -> dict:
    """The layout as the browser resolves it: the template's values under the figure's own."""
    own = {k: v for k, v in fig.layout.to_plotly_json().items() if k != "template"}
    return fig.layout.template.layout.to_plotly_json() | own


def test_template_puts_the_legend_below_and_keeps_the_top_band_free():
    lay = fc.TEMPLATE.layout
    assert lay.legend.yref == "container" and lay.legend.y == 0 and lay.legend.yanchor == "bottom"
    assert lay.margin.t >= fc.TOOLBAR_BAND and lay.xaxis.automargin and lay.yaxis.automargin


def test_no_figure_overrides_the_shared_legend_or_squeezes_the_margins():
    rng = np.random.default_rng(0)
    neg = rng.standard_normal((40, 2)) + [8, 0]
    figs = [
        fe.landing_scatter(neg, {"two-sided": neg + 0.1}), fe.landing_histogram(neg, {"two-sided": neg}),
        fe.dimension_figure(np.array([2, 4, 8, 16]), {"a": np.array([1e-3, 1e-2, 0.1, 1.0])}, "share", log_y=True),
        fl.loss_figure({"EFM": (np.arange(1.0, 201), np.linspace(8, 2, 200))}, 200),
        fl.points_figure({"EFM": neg}, neg, "Q charges"),
    ]
    for fig in figs:
        own = fig.layout.to_plotly_json()
        assert "legend" not in own or "y" not in own["legend"], own.get("legend")
        assert own.get("margin", {}).get("t", fc.TOOLBAR_BAND) >= fc.TOOLBAR_BAND


@pytest.mark.parametrize("lo, hi", [(2.0, 8.0), (0.011, 37.0), (1e-5, 1e-1), (0.3, 0.9)])
def test_log_ticks_are_plain_numbers_inside_the_range(lo, hi):
    t = fc.log_ticks(lo, hi)
    vals = t["tickvals"]
    assert 2 <= len(vals) <= 6 and all(lo <= v <= hi for v in vals) and vals == sorted(vals)
    assert t["ticktext"] == [f"{v:g}" for v in vals]  # the labels say the values (no bare digits "8 7 6 … 10 9")


def test_loss_axis_is_labelled_by_its_values():
    steps = np.arange(1.0, 2001)
    curves = {"EFM": (steps, 0.5 + 7 * np.exp(-steps / 300)), "flow matching": (steps, 2 + 8 * np.exp(-steps / 500))}
    fig = fl.loss_figure(curves, 2000)
    for axis in ("yaxis", "yaxis2"):
        ax = fig.layout[axis]
        assert ax.type == "log" and ax.tickmode == "array" and list(ax.ticktext) == [f"{v:g}" for v in ax.tickvals]
    assert fig.layout.margin.t >= fc.TOOLBAR_BAND + fl.SUBPLOT_TITLE_BAND  # subplot titles under the toolbar's band


def test_square_view_is_never_a_thin_strip():
    pts = np.array([[-15.0, -1.0], [15.0, 1.0]])
    (x0, x1), (y0, y1) = fc.square_view(pts)
    assert (x1 - x0) / (y1 - y0) <= 1.6 + 1e-9 and x0 < -15 and x1 > 15


def test_markers_are_large_enough_to_see():
    rng = np.random.default_rng(0)
    pos, neg = rng.standard_normal((30, 2)), rng.standard_normal((30, 2)) + [6, 0]
    lines = [np.stack([np.linspace(0, 1, 5), np.zeros(5), np.linspace(0, 6, 5)], axis=1)]
    for D, floor in ((2, fc.MIN_MARKER_3D), (1, fc.MIN_MARKER)):
        p, n = pos[:, :D], neg[:, :D]
        paths = [ln[:, [0, 2]] if D == 1 else ln for ln in lines]
        fig = fe.field_lines_figure(p, n, 6.0, paths, ["front"], cloud=rng.standard_normal((50, D + 1)))
        cloud = next(t for t in fig.data if t.name.startswith("training points"))
        assert cloud.marker.size >= floor


def test_image_tiles_are_at_least_64_px_and_captions_readable():
    x = np.zeros((12, 1, 8, 8), dtype=np.float32)
    fig = fl.images_figure(x, 6, labels=[str(i) for i in range(12)], tile_px=30)
    width_px = fl.Grid.of(12, 6, (8, 8)).shape[1]
    plot_w = fig.layout.width - fig.layout.margin.l - fig.layout.margin.r
    assert plot_w / width_px * 9 >= fl.MIN_TILE_PX - 1  # screen pixels per tile (8 pixels + 1 of gap)
    assert fig.layout.annotations[0].font.size >= 12
    pair = fl.nearest_figure(x[:4], x[:4], np.arange(4.0), 4)
    assert list(pair.layout.yaxis.ticktext) == ["sample", "nearest"]


def test_clickable_and_image_charts_get_no_toolbar():
    assert ui.CLICK_CONFIG["displayModeBar"] is False and "displayModeBar" not in ui.PLOT_CONFIG


def test_thin_path_keeps_the_ends_and_at_most_the_limit():
    path = np.stack([np.linspace(0, 1, 1000), np.sin(np.linspace(0, 3, 1000)), np.linspace(0, 6, 1000)], axis=1)
    out = fc.thin_path(path)
    assert len(out) == fc.MAX_LINE_POINTS
    np.testing.assert_allclose(out[[0, -1]], path[[0, -1]])


@pytest.mark.slow
def test_default_figures_stay_under_150_kB():
    """The two heaviest pictures of the app at the page defaults: the 3-D field lines (with the cloud and the
    arrows on) and the probe slice; every other figure is smaller (docs/performance_browser.md lists them)."""
    d = lambda k: WIDGETS[k].default  # noqa: E731
    sc = exact.scene_charges(2, d("p_toy"), d("q_toy"), d("n_charges"), 0, None, None)
    L = d("L")
    lines = exact.field_lines(sc, L, d("n_lines"), 0, "both")
    cloud = exact.training_cloud(sc, L, d("sigma"), 600, 0)
    fig = fe.field_lines_figure(sc.pos, sc.neg, L, lines.paths, lines.cases, pos_weights=sc.pos_w,
                                neg_weights=sc.neg_w, cloud=cloud, cones=True)
    assert len(fig.to_json()) < PAYLOAD_LIMIT
    box = fc.view_box(sc.pos, sc.neg, L)
    sl = exact.field_slice(sc, L, 0.0, (box.z_lo, box.z_hi), box.ranges()[1])
    fig = fe.slice_figure(sl.z, sl.x, sl.log10_norm, sl.direction, L, exact.near_slice(sc, L, 0.0), (L / 2, 0.0))
    assert len(fig.to_json()) < PAYLOAD_LIMIT


def test_panel_titles_sit_under_the_toolbar_band():
    # Plotly's toolbar (on hover, top right) covered the "bulge vs region" title of the L sweep: every figure with
    # subplot titles keeps the toolbar's band and the titles' band free at the top
    from app.figures import story

    Ls, v = np.array([1.0, 6.0, 30.0]), np.array([0.1, 0.2, 0.1])
    noisy = (v, 0.1 * v)
    figs = [
        story.l_sweep_figure(Ls, {"two-sided": noisy, "forward-only": noisy}, (v, 2 * v), noisy, 10 * v, 5 * v, noisy),
        fl.loss_figure({"EFM": (np.arange(1.0, 11), np.linspace(2, 1, 10))}, 10),
    ]
    for fig in figs:
        titles = [a for a in fig.layout.annotations if a.yref == "paper" and a.y == 1]
        assert titles and fig.layout.margin.t >= fc.TOOLBAR_BAND + fl.SUBPLOT_TITLE_BAND, fig.layout.margin


def test_loss_panel_titles_fit_three_a_row():
    # three loss panels side by side at 1400 px: flow matching's 35 characters fit, PFGM++'s 36 were cut
    for title in fl.LOSS_TITLES.values():
        plain = title.replace("<sub>", "").replace("</sub>", "")
        assert len(plain) <= 35, title
