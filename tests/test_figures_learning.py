"""Figure builders and downloads of the learned-field pages, as pure functions (``fig.to_dict()``, bytes)."""

import io

import numpy as np
import pytest
from app_testing import decode
from PIL import Image

from app import exports
from app.figures import common as fc
from app.figures import learned as fl
from app.figures.common import view_box


def _images(n: int, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, c, 8, 8)).astype(np.float32)


def test_to_rgb_maps_the_data_range_to_bytes_and_greys_to_rgb():
    x = np.full((2, 1, 8, 8), -1.0)
    x[1] = 1.0
    x[0, 0, 0, 0] = 0.0
    x[0, 0, 0, 1] = 3.0  # out of range: clipped
    rgb = fl.to_rgb(x)
    assert rgb.shape == (2, 8, 8, 3) and rgb.dtype == np.uint8
    assert (rgb[1] == 255).all() and rgb[0, 0, 0].tolist() == [128, 128, 128] and rgb[0, 0, 1].tolist() == [255] * 3
    assert (rgb[0, 1:] == 0).all()
    with pytest.raises(ValueError, match="1 or 3"):
        fl.to_rgb(np.zeros((1, 2, 8, 8)))


@pytest.mark.parametrize(("n", "cols", "band"), [(5, 3, 0), (7, 4, 2), (1, 8, 3)])
def test_image_grid_puts_every_tile_where_grid_says(n, cols, band):
    x = _images(n)
    out = fl.image_grid(x, cols, band=band)
    grid = fl.Grid.of(n, cols, (8, 8), band=band)
    assert out.shape == (*grid.shape, 3)
    rgb = fl.to_rgb(x)
    covered = np.zeros(grid.shape, bool)
    for i in range(n):
        gx, gy = grid.origin(i)
        assert np.array_equal(out[gy : gy + 8, gx : gx + 8], rgb[i])
        covered[gy : gy + 8, gx : gx + 8] = True
    assert (out[~covered] == fl.PAD_WHITE).all()


def test_images_figure_click_targets_outlines_and_captions():
    x = _images(10)
    fig = fl.images_figure(x, 4, labels=[f"#{i}" for i in range(10)], selected=[2, 9], clickable=True).to_dict()
    img = decode(fig["data"][0]["z"])
    grid = fl.Grid.of(10, 4, (8, 8), band=fl.label_band(8, 8, fl.MIN_TILE_PX))
    assert img.shape == (*grid.shape, 3)
    tx, ty = decode(fig["data"][1]["x"]), decode(fig["data"][1]["y"])
    assert np.allclose(np.stack([tx, ty], 1), grid.centres(10))  # a click target on every tile centre
    assert len(fig["layout"]["shapes"]) == 2
    s = fig["layout"]["shapes"][1]
    assert s["x0"] < grid.centres(10)[9, 0] < s["x1"] and s["y0"] < grid.centres(10)[9, 1] < s["y1"]
    caps = fig["layout"]["annotations"]
    assert [a["text"] for a in caps] == [f"#{i}" for i in range(10)]
    assert all(a["y"] < grid.origin(i)[1] for i, a in enumerate(caps))  # each caption sits in the band above its tile
    assert fig["layout"]["yaxis"]["range"][0] > fig["layout"]["yaxis"]["range"][1]  # image rows go down


def test_strip_figure_rows_are_items_and_columns_are_heights():
    K, n = 5, 4
    path = np.stack([np.full((n, 3, 8, 8), -1.0 + 0.5 * k) for k in range(K)])
    path[:, 2] = 1.0
    tiles = fl.strip_images(path, [2, 0])
    assert tiles.shape == (2 * K, 3, 8, 8)
    assert (tiles[:K] == 1.0).all() and np.allclose(tiles[K:, 0, 0, 0], -1.0 + 0.5 * np.arange(K))
    fig = fl.images_figure(tiles, K, x_labels=[f"{z}" for z in range(K)], y_labels=["#2", "#0"], x_title="z").to_dict()
    assert fig["layout"]["xaxis"]["ticktext"] == ["0", "1", "2", "3", "4"] and fig["layout"]["yaxis"]["ticktext"] == ["#2", "#0"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "z"


def test_strip_columns_are_labelled_by_round_shares_of_the_way():
    # not z = 0, 0.71, 1.4, …: the columns of a strip from z = 0 to L (or back) at round shares of the way
    quarters = ["0", "", "0.25", "", "0.5", "", "0.75", "", "1"]
    assert fl.strip_labels(np.linspace(0, 5.0, fl.STRIP_LEVELS)) == quarters
    assert fl.strip_labels(np.linspace(6.0, 0, fl.STRIP_LEVELS)) == quarters  # a translation backwards, Q -> P
    assert fl.strip_labels(np.linspace(0, 1.0, 5)) == ["0", "0.25", "0.5", "0.75", "1"]
    path = np.zeros((fl.STRIP_LEVELS, 2, 1, 8, 8))
    fig = fl.strip_figure(path, np.linspace(0, 5.0, fl.STRIP_LEVELS), [0, 1], "z / L").to_dict()
    assert fig["layout"]["xaxis"]["ticktext"] == quarters and fig["layout"]["xaxis"]["title"]["text"] == "z / L"


def test_smooth_is_a_bias_corrected_average():
    assert np.allclose(fl.smooth(np.full(50, 3.0)), 3.0)
    y = np.r_[np.zeros(100), np.ones(400)]
    s = fl.smooth(y, span=9)
    assert s[0] == 0 and s[99] == 0 and abs(s[-1] - 1) < 1e-9 and np.all(np.diff(s) >= 0)


def test_loss_figure_has_a_panel_per_model_and_thins_long_curves():
    steps = np.arange(1, 5001, dtype=float)
    fig = fl.loss_figure({"EFM": (steps, 1 / steps), "flow matching": (steps[:10], np.ones(10))}, total_steps=6000).to_dict()
    assert len(fig["data"]) == 4
    raw = fig["data"][0]
    xs = decode(raw["x"])
    assert len(xs) <= fl.MAX_CURVE_POINTS and xs[0] == 1 and xs[-1] == 5000
    assert np.allclose(decode(raw["y"]), 1 / xs)
    assert len(decode(fig["data"][2]["x"])) == 10
    assert fig["layout"]["xaxis"]["range"] == [0, 6000] and fig["layout"]["yaxis"]["type"] == "log"


def test_error_map_figure_shows_the_angles_and_their_cosines():
    z, x = np.linspace(0.1, 2.9, 4), np.linspace(-2, 2, 3)
    angle = np.arange(12.0).reshape(3, 4) * 10
    fig = fl.error_map_figure(z, x, angle, 3.0, {"pos": np.array([[0.0, 0.5]]), "neg": np.zeros((0, 2))}).to_dict()
    heat = fig["data"][0]
    assert heat["type"] == "heatmap" and np.allclose(decode(heat["z"]).reshape(3, 4), angle)
    assert np.allclose(decode(heat["customdata"]).reshape(3, 4), np.cos(np.radians(angle)))
    assert [t["name"] for t in fig["data"][1:]] == ["P charges"]


def test_sampler_arrows_point_along_the_projected_targets():
    rng = np.random.default_rng(1)
    pts = np.c_[rng.normal(size=(6, 2)), rng.uniform(0.5, 5.5, 6)]
    d = rng.normal(size=(6, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pos, neg = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    box = view_box(pos, neg, 6.0)
    fig = fl.sampler_figure(pts, d, pos, neg, 6.0, box).to_dict()
    seg = next(t for t in fig["data"] if t.get("name") == "target E/|E|")
    xs, ys = decode(seg["x"]), decode(seg["y"])
    step = np.stack([xs[1::3] - xs[0::3], ys[1::3] - ys[0::3]], 1)  # (dz, dx1) of each arrow
    length = 0.05 * (box.z_hi - box.z_lo)
    assert np.allclose(step, length * d[:, [2, 0]])
    heads = fig["data"][fig["data"].index(seg) + 1]
    assert np.allclose(decode(heads["marker"]["angle"]), np.degrees(np.arctan2(d[:, 2], d[:, 0])))


def test_sampler_arrows_stop_at_the_plates():
    # training points next to the plates, their arrows pointing across them: every arrow ends on the plate at most
    rng = np.random.default_rng(2)
    z = np.r_[rng.uniform(5.9, 6.0, 20), rng.uniform(0.0, 0.1, 20), rng.uniform(6.0, 6.1, 5)]
    d = np.c_[rng.normal(size=(45, 2)), np.r_[np.ones(20), -np.ones(20), -np.ones(5)]]
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = np.c_[rng.normal(size=(45, 2)), z]
    pos, neg = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    fig = fl.sampler_figure(pts, d, pos, neg, 6.0, view_box(pos, neg, 6.0)).to_dict()
    seg = next(t for t in fig["data"] if t.get("name") == "target E/|E|")
    start, tip = decode(seg["x"])[0::3], decode(seg["x"])[1::3]
    assert np.all(tip[:20] <= 6.0 + 1e-5) and np.all(tip[20:40] >= -1e-5) and np.all(tip[40:] >= 6.0 - 1e-5)
    assert np.all(tip[:20] > start[:20] - 1e-6)  # shortened, never turned round
    heads = fig["data"][fig["data"].index(seg) + 1]
    assert np.allclose(decode(heads["x"]), tip)


def test_lines_panels_put_learned_and_exact_lines_side_by_side():
    levels = np.linspace(0, 2.0, 5)
    path = np.random.default_rng(2).normal(size=(5, 3, 2))
    learned = fl.trajectories_as_paths(levels, path)
    assert len(learned) == 3 and learned[1].shape == (5, 3) and np.allclose(learned[1][:, -1], levels) and np.allclose(learned[1][:, :2], path[:, 1])
    exact = [np.array([[0.0, 0.0, 0.1], [0.0, 0.2, 1.9]]), np.array([[0.5, 0.0, 0.1], [1.0, 0.0, -0.5]])]
    pos, neg = np.zeros((2, 2)), np.ones((2, 2))
    fig = fl.lines_panels_figure({"EFM": (learned, fc.MODEL_COLOR["EFM"]), "exact": (exact, ["front", "backward"])}, pos, neg, 2.0, view_box(pos, neg, 2.0)).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert "EFM" in names and "front (1)" in names and "backward (1)" in names
    efm = next(t for t in fig["data"] if t["name"] == "EFM")
    assert efm["xaxis"] == "x" and next(t for t in fig["data"] if t["name"] == "front (1)")["xaxis"] == "x2"
    assert np.isnan(decode(efm["x"])).sum() == 3  # one gap after each of the 3 learned lines


def test_hue_figure_marks_colourless_outputs():
    hue_in = np.array([10.0, 200.0, 350.0])
    fig = fl.hue_figure(hue_in, {"EFM": np.array([12.0, np.nan, 5.0])}, picked=[2]).to_dict()
    t = fig["data"][2]
    top = fig["layout"]["yaxis"]["range"][1]
    assert np.allclose(decode(t["y"]), [2.0, top - 4, 15.0])  # the change, wrapped round 360; colourless on the top edge
    assert t["marker"]["symbol"] == ["circle", "x", "circle"] and t["marker"]["size"][2] > t["marker"]["size"][0]
    assert t["marker"]["color"][0].startswith("rgb(")


def test_hue_figure_keeps_two_agreeing_models_apart():
    # EFM and flow matching keep nearly the same hues: their markers must not cover each other (they did on the
    # in-vs-out diagonal); dodged sideways by more than a marker's half width, half transparent, and every change on the chart
    hue_in = np.linspace(0, 350, 35)
    fig = fl.hue_figure(hue_in, {"EFM": hue_in + 1.0, "flow matching": hue_in + 4.0}).to_dict()
    efm, fm = fig["data"][2], fig["data"][3]
    x_span = np.diff(fig["layout"]["xaxis"]["range"])[0]
    px_per_degree = 300 / x_span  # the chart is at least 300 px wide on the page
    assert (decode(fm["x"]) - decode(efm["x"]))[0] * px_per_degree >= max(efm["marker"]["size"]) / 2
    assert efm["opacity"] < 1 and fm["opacity"] < 1
    lo, hi = fig["layout"]["yaxis"]["range"]
    assert lo < -30 and hi > 30 and hi <= 184  # the ±30° band inside, no wasted half turn


@pytest.mark.parametrize("D", [1, 2])
def test_points_figure_for_point_models(D):
    pts = np.random.default_rng(0).normal(size=(20, D))
    fig = fl.points_figure({"EFM": pts}, pts[:5], "Q charges").to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names[0 if D == 1 else -1] == "Q charges"  # in D = 2 drawn over the samples, which land on it
    model = next(t for t in fig["data"] if t["name"] != "Q charges")
    assert model["type"] == ("histogram" if D == 1 else "scatter")
    if D == 2:  # the view is Q's box with a margin of half its size; the legend counts what falls outside
        ref = pts[:5]
        centre, half = (ref.min(0) + ref.max(0)) / 2, np.maximum((ref.max(0) - ref.min(0)) / 2, 1.0)
        outside = int((np.abs(pts - centre) > 1.5 * half).any(axis=1).sum())
        assert fig["layout"]["xaxis"]["range"] == pytest.approx([centre[0] - 1.5 * half[0], centre[0] + 1.5 * half[0]])
        assert model["name"] == ("EFM" if outside == 0 else f"EFM ({outside} outside the view)")


def test_npy_and_png_downloads_round_trip():
    x = _images(3)
    back = np.load(io.BytesIO(exports.npy_bytes(x.astype(np.float64))), allow_pickle=False)
    assert back.dtype == np.float32 and np.array_equal(back, x)
    rgb = fl.image_grid(x, 3)
    png = Image.open(io.BytesIO(exports.png_bytes(rgb, scale=4)))
    assert png.size == (rgb.shape[1] * 4, rgb.shape[0] * 4)
    assert np.array_equal(np.asarray(png.convert("RGB"))[::4, ::4], rgb)
    with pytest.raises(ValueError, match="uint8 RGB"):
        exports.png_bytes(rgb.astype(float))


def test_loss_csv_lists_every_step():
    text = exports.loss_csv({"EFM": (np.array([1.0, 2.0]), np.array([0.5, 0.25])), "flow matching": (np.array([1.0]), np.array([3.0]))})
    assert text.splitlines() == ["model,step,loss", "EFM,1,0.5", "EFM,2,0.25", "flow matching,1,3"]
