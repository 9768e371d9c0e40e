"""Figure builders of app/figures/ (common, exact) as pure functions: arrays in, checked through fig.to_dict()."""

import numpy as np
import pytest
from app_testing import decode, names, trace

from app.figures import common as fc
from app.figures import exact as fe


def _scene(D=2, n=20, L=6.0, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.standard_normal((n, D))
    neg = rng.standard_normal((n, D)) + np.eye(D)[0] * 5
    return pos, neg, L


def _line(start, end, n=11):
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) * np.asarray(start, float) + t * np.asarray(end, float)


def test_view_box_holds_plates_and_charges():
    pos, neg, L = _scene()
    box = fc.view_box(pos, neg, L)
    assert box.z_lo < 0 < L < box.z_hi
    for pts in (pos, neg):
        assert np.all(np.abs(pts - np.array(box.centre)) <= np.array(box.halves))
    assert box.halves[1] >= 0.5 * box.halves[0]  # a narrow direction still shows the loops


def test_clip_to_box_cuts_outside_points_only():
    box = fc.Box(-1.0, 7.0, (0.0, 0.0), (2.0, 2.0))
    path = np.array([[0.0, 0.0, 1.0], [5.0, 0.0, 1.0], [0.0, 0.0, 9.0], [1.0, -1.0, 6.5]])
    out = fc.clip_to_box(path, box)
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
    np.testing.assert_array_equal(out[[0, 3]], path[[0, 3]])


def test_join_paths_separates_lines_by_nan_rows():
    a, b = _line([0, 0, 0], [1, 1, 1], 3), _line([2, 2, 2], [3, 3, 3], 4)
    joined = fc.join_paths([a, b])
    assert joined.shape == (3 + 1 + 4 + 1, 3)
    assert np.isnan(joined[3]).all() and np.isnan(joined[-1]).all()
    np.testing.assert_array_equal(joined[4:8], b)


def test_resample_path_is_even_in_arc_length():
    # a polyline with one long and one short segment: resampled points are equally spaced along it
    path = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    out = fc.resample_path(path, 5)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    np.testing.assert_allclose(steps, 1.0, atol=1e-12)
    np.testing.assert_array_equal(out[0], path[0])
    np.testing.assert_array_equal(out[-1], path[-1])


def test_field_lines_figure_3d_traces_cases_and_ranges():
    pos, neg, L = _scene()
    paths = [_line([0, 0, 0], [5, 0, L]), _line([0, 1, 0], [5, 1, L]), _line([0, 0, 0], [5, 0, L])]
    cases = ["front", "behind", "front"]
    fig = fe.field_lines_figure(pos, neg, L, paths, cases).to_dict()
    assert names(fig) == ["plate P (z = 0)", f"plate Q (z = L = {L:g})", "+ charges of P (20)", "− charges of Q (20)", "front (2)", "behind (1)", "moving points"]
    assert [t["type"] for t in fig["data"]][:2] == ["mesh3d", "mesh3d"]
    front = trace(fig, "front")
    assert front["type"] == "scatter3d" and front["line"]["color"] == fc.CASE_STYLE["front"].color
    # plot x is z: two lines of 11 points and a NaN row after each
    z = decode(front["x"])
    assert z.shape == (24,) and np.isnan(z[11]) and np.isnan(z[23])
    np.testing.assert_allclose(z[[0, 10]], [0.0, L])
    box = fc.view_box(pos, neg, L)
    assert fig["layout"]["scene"]["xaxis"]["range"] == [box.z_lo, box.z_hi]
    assert fig["layout"]["scene"]["yaxis"]["range"] == [box.centre[0] - box.halves[0], box.centre[0] + box.halves[0]]
    assert fig["layout"]["scene"]["zaxis"]["range"] == [box.centre[1] - box.halves[1], box.centre[1] + box.halves[1]]
    assert fig["layout"]["uirevision"] and fig["layout"]["scene"]["uirevision"]
    # charges coloured by sign
    assert trace(fig, "+ charges")["marker"]["color"] == fc.POS_COLOR
    assert trace(fig, "− charges")["marker"]["color"] == fc.NEG_COLOR


def test_field_lines_figure_animation_moves_points_along_lines():
    pos, neg, L = _scene()
    paths = [_line([0, 0, 0], [5, 0, L]), _line([1, 0, 0], [5, 2, L])]
    fig = fe.field_lines_figure(pos, neg, L, paths, ["front", "front"], n_frames=7).to_dict()
    assert len(fig["frames"]) == 7
    moving = len(fig["data"]) - 1
    assert names(fig)[moving] == "moving points"
    assert all(f["traces"] == [moving] for f in fig["frames"])
    first, last = fig["frames"][0]["data"][0], fig["frames"][-1]["data"][0]
    np.testing.assert_allclose(decode(first["x"]), [0.0, 0.0])  # z at the starts
    np.testing.assert_allclose(decode(last["x"]), [L, L])  # z at the ends
    assert fig["layout"]["updatemenus"][0]["buttons"][0]["method"] == "animate"


def test_field_lines_figure_options_add_traces():
    pos, neg, L = _scene()
    paths = [_line([0, 0, 0], [5, 0, L])]
    cloud = np.zeros((5, 3))
    fig = fe.field_lines_figure(pos, neg, L, paths, ["backward"], cones=True, cloud=cloud, marks={"start": np.zeros(3)}, n_frames=0).to_dict()
    assert names(fig)[4:] == ["backward (1)", "direction", "training points (5)", "start"]
    cone = trace(fig, "direction")
    assert cone["type"] == "cone"
    # the cones point along the line: +z in data is +x in the plot
    u = decode(cone["u"])
    assert np.all(u > 0)
    assert "frames" not in fig or not fig["frames"]


def test_field_lines_figure_d1_is_two_dimensional():
    pos, neg, L = _scene(D=1)
    paths = [_line([0, 0], [5, L])]
    fig = fe.field_lines_figure(pos, neg, L, paths, ["front"], cones=True).to_dict()
    assert {t["type"] for t in fig["data"]} == {"scatter"}
    assert "scene" not in fig["layout"] or "xaxis" not in fig["layout"].get("scene", {})
    assert fig["layout"]["xaxis"]["title"]["text"] == "z"
    # the D = 1 arrows point along the line: compass angle of (dz, dx1) = (L, 5) in plot coordinates
    arrows = trace(fig, "direction")
    np.testing.assert_allclose(decode(arrows["marker"]["angle"]), np.degrees(np.arctan2(L, 5)), atol=1e-9)


def test_field_lines_figure_rejects_other_dimensions():
    with pytest.raises(ValueError, match="D = 1 and D = 2"):
        fe.field_lines_figure(np.zeros((2, 3)), np.ones((2, 3)), 1.0, [], [])


def test_fit_box_zooms_to_the_paths_but_keeps_the_plates():
    pos, neg, L = _scene()
    base = fc.view_box(pos, neg, L)
    box = fc.fit_box([_line([0, 0, 0], [1, 0, L])], base, L)
    assert box.z_lo <= 0 and box.z_hi >= L and all(h <= b for h, b in zip(box.halves, base.halves, strict=True))


def test_landing_views_share_bins_and_name_the_kinds():
    rng = np.random.default_rng(1)
    neg = rng.standard_normal((50, 2))
    ends = {"two-sided": rng.standard_normal((30, 2)), "forward-only": rng.standard_normal((20, 2))}
    scatter = fe.landing_scatter(neg, ends).to_dict()
    assert names(scatter) == ["two-sided ends (30)", "forward-only ends (20)", "Q charges"]  # Q drawn over the ends
    hist = fe.landing_histogram(neg, ends).to_dict()
    assert [t["type"] for t in hist["data"]] == ["histogram"] * 3
    assert len({str(t["xbins"]) for t in hist["data"]}) == 1
    assert all(t["histnorm"] == "probability density" for t in hist["data"])


def test_slice_figure_grid_arrows_and_probe():
    z, x = np.linspace(-2, 8, 5), np.linspace(-3, 3, 4)
    log10 = np.arange(20.0).reshape(4, 5)
    direction = np.zeros((4, 5, 2))
    direction[..., 0] = 1.0  # E along +z everywhere
    fig = fe.slice_figure(z, x, log10, direction, 6.0, {"pos": np.array([[0.0, 1.0]])}, (3.0, 0.5)).to_dict()
    heat = fig["data"][0]
    assert heat["type"] == "heatmap"
    np.testing.assert_array_equal(decode(heat["z"]).reshape(4, 5), log10)
    grid = fig["data"][1]
    assert decode(grid["x"]).size == 20 and grid["marker"]["opacity"] == 0.0
    arrows = trace(fig, "direction of E")
    np.testing.assert_allclose(decode(arrows["marker"]["angle"]), 90.0)  # pointing right, towards Q
    probe = trace(fig, "probe")
    assert decode(probe["x"]).tolist() == [3.0] and decode(probe["y"]).tolist() == [0.5]
    assert fig["layout"]["xaxis"]["range"] == [-2.0, 8.0]


def test_plate_editor_figure_layout_by_dimension():
    grid = np.zeros((9, 2))
    pos2, neg2 = np.array([[0.0, 1.0, 1.0]]), np.array([[2.0, -1.0, 3.0], [1.0, 1.0, 1.0]])
    fig = fe.plate_editor_figure(pos2, neg2, grid).to_dict()
    assert names(fig) == ["click to add", "P charges (+): 1", "Q charges (−): 2"]
    np.testing.assert_array_equal(decode(fig["data"][2]["y"]), [-1.0, 1.0])
    np.testing.assert_array_equal(decode(fig["data"][2]["customdata"]), [3.0, 1.0])
    fig1 = fe.plate_editor_figure(np.array([[0.5, 1.0]]), np.array([[1.5, 1.0]]), grid).to_dict()
    assert decode(fig1["data"][1]["y"]).tolist() == [0.0] and decode(fig1["data"][2]["y"]).tolist() == [1.0]


def test_ez_profile_keeps_signs_on_the_asinh_scale():
    s = np.linspace(0, 10, 50)
    ez_pos = np.exp(-s)
    ez_neg = -np.linspace(1e-4, 10, 50)
    fig = fe.ez_profile_figure(s, ez_pos, ez_neg, s * 0.6, 6.0, s_cross=5.0).to_dict()
    y_pos, y_neg, y_tot = (decode(fig["data"][i]["y"]) for i in range(3))
    assert np.all(y_pos > 0) and np.all(y_neg < 0)
    np.testing.assert_array_equal(np.sign(y_tot), np.sign(ez_pos + ez_neg))
    assert np.all(np.diff(y_neg) < 0)  # monotone transform
    assert fig["layout"]["yaxis2"]["overlaying"] == "y"


def test_sweep_figures_mark_current_L_and_keep_axis():
    Ls = np.array([1.0, 6.0])
    shares = {"front": np.array([0.2, 0.5]), "backward": np.array([0.4, 0.45])}
    errors = {"two-sided": np.array([0.01, 0.02]), "forward-only": np.array([0.1, 0.3])}
    cases, err = (f.to_dict() for f in fe.sweep_figures(Ls, shares, errors, current_L=6.0, L_max=50.0))
    assert names(cases) == ["front", "backward", "current L"]
    assert names(err) == ["two-sided", "forward-only", "current L"]
    assert cases["layout"]["xaxis"]["range"][1] == pytest.approx(51.5)
    assert decode(trace(err, "current L")["x"]).tolist() == [6.0, 6.0]


def test_dimension_figure_log_axis_and_bands():
    dims = np.array([2.0, 8.0, 32.0])
    fig = fe.dimension_figure(dims, {"a": np.array([0.1, 0.5, 0.9])}, "share", bands={"a": (dims * 0, dims * 0 + 1)}).to_dict()
    assert fig["layout"]["xaxis"]["type"] == "log"
    assert len(fig["data"]) == 2 and fig["data"][0]["fill"] == "toself"
