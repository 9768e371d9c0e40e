"""AppTest of the "High dimensions" page: its controls change the statistics, and the charts say what the page
claims (collapse onto one charge, direct arithmetic breaking where log space does not)."""

import numpy as np
import pytest
import torch
from app_testing import app_test, chart, charts, decode, no_errors, trace, wait_for

from app import background
from app.compute import dimensions, learned, loading
from efm_core.data import datasets

PAGE = "app/pages/high_dimensions.py"
FASHION = "28×28 Fashion-MNIST (D = 784)"  # the real-data switch's label (a segmented control keeps its label in the URL)
needs_fashion = pytest.mark.skipif(not datasets.fashion_available(), reason=f"Fashion-MNIST not installed ({datasets.FASHION_APT})")


@pytest.fixture(autouse=True)
def _no_leftover_background_work():
    yield
    background.cancel_pending()


def _has_images(at) -> bool:
    return any(f["data"][0]["type"] == "image" for f in charts(at))


def test_page_shows_collapse_and_underflow():
    at = app_test(PAGE)
    no_errors(at)
    share = chart(at, "largest charge's share")
    assert share["layout"]["xaxis"]["type"] == "log"
    dims = decode(trace(share, "largest charge's share")["x"])
    assert dims[0] == 2 and dims[-1] == 3072
    y = decode(trace(share, "largest charge's share")["y"])
    assert y[0] < 0.3 and y[-1] > 0.95
    broken = chart(at, "direct, float32")
    assert decode(trace(broken, "direct, float32")["y"])[-1] == 1.0
    assert np.all(decode(trace(broken, "log space")["y"]) == 0.0)
    assert len(at.latex) >= 2


def test_float_limit_labels_sit_where_no_line_is():
    # the labels of float32's and float64's smallest numbers sit at the chart's left end, under their dashed line,
    # where the weights' curves are still near 0: far above the labels (they overlapped the falling curves on the right)
    at = app_test(PAGE)
    weights = chart(at, "largest weight")
    labels = [a for a in weights["layout"]["annotations"] if a["text"].startswith("smallest float")]
    assert len(labels) == 2
    low_left = min(decode(trace(weights, name)["y"])[:3].min() for name in ("largest weight", "smallest weight"))
    for a in labels:
        assert a["x"] == 0 and a["xanchor"] == "left" and a["yanchor"] == "top", a
        assert low_left - a["y"] > 30  # the curves there are over 30 decades above the label's top


def test_controls_change_the_statistics():
    at = app_test(PAGE)
    before = decode(trace(chart(at, "largest weight"), "largest weight")["y"])
    at.slider(key="hd_L").set_value(30.0).run()
    no_errors(at)
    after = decode(trace(chart(at, "largest weight"), "largest weight")["y"])
    assert np.all(after[1:] < before[1:])  # farther plates: every weight r^-(D+1) smaller
    at.slider(key="hd_shift").set_value(10.0).run()
    at.slider(key="hd_n").set_value(64).run()
    no_errors(at)


def test_real_digits_sit_beside_the_gaussians_and_the_exact_map_memorises():
    """A red star per chart at D = 64 for noise -> digits, and the exact map's lines end on training digits
    (distance 0 to the nearest one) while the learned field's images are new (when digits-gen is shipped)."""
    at = app_test(PAGE)
    wait_for(at, _has_images)  # the memorisation check arrives from the background
    no_errors(at)
    star = trace(chart(at, "noise → 8×8 digits"), "noise → 8×8 digits (D = 64)")
    assert decode(star["x"]).tolist() == [64] and 0 < decode(star["y"])[0] <= 1
    mem = dimensions.real_memorisation("digits", 32, 6.0)  # the page's charges per plate (tests' small default) and L
    ended = [i for i, case in enumerate(mem.cases) if case != "lost"]
    assert len(ended) == min(len(mem.cases), mem.traced - mem.lost) > 0  # the lines that ended come first
    assert np.all(mem.nearest[ended] < 1e-5) and np.all(mem.charge[ended] >= 0)
    images = next(f for f in charts(at) if f["data"][0]["type"] == "image")
    ckpt = loading.load_pretrained("digits-gen")
    assert len(images["layout"]["yaxis"]["ticktext"]) == (2 if ckpt is None else 3)
    if ckpt is not None:
        starts = torch.from_numpy(mem.starts).float().reshape(-1, 1, 8, 8)
        moved = learned.move(ckpt.net, ckpt.config, starts, clip=(-1.0, 1.0))
        assert dimensions.nearest_training_image(moved.x.reshape(len(mem.starts), -1)).min() > 0.5


def test_the_memorisation_check_runs_in_the_background_and_matches_the_cached_map():
    """The page's four charts do not wait for the D = 64 tracing: it is a background job (``memorisation_check``)
    whose exact part is the cached ``real_memorisation``, drawn in place when it arrives."""
    check = dimensions.memorisation_check(32, 7.0, None)
    mem = dimensions.real_memorisation("digits", 32, 7.0)
    assert np.array_equal(check.mem.ends, mem.ends) and check.mem.cases == mem.cases and check.learned is None
    at = app_test(PAGE, hd_L="7.0")
    no_errors(at)
    assert len(charts(at)) >= 4
    if not _has_images(at):  # still tracing: the page says so
        assert any("in the background" in i.value for i in at.info)
    wait_for(at, _has_images)
    no_errors(at)


@needs_fashion
def test_fashion_mnist_at_d_784_collapses_underflows_and_memorises():
    """The switch puts real 28×28 images beside the Gaussians: a star at D = 784 in every chart, the weights out of
    float64's range (the star still on the weights chart), and exact lines that end on training images (28×28 tiles
    of at least 84 px) while fashion-gen's images from the same noise are new."""
    at = app_test(PAGE, hd_data=FASHION)
    no_errors(at)
    name = "noise → 28×28 Fashion-MNIST (D = 784)"
    share = trace(chart(at, "largest charge's share"), name)
    assert decode(share["x"]).tolist() == [784] and decode(share["y"])[0] > 0.99  # the nearest charge is the field
    weights = chart(at, "largest weight")
    smallest = decode(trace(weights, name + ", smallest")["y"])[0]
    assert smallest < -323 and weights["layout"]["yaxis"]["range"][0] < smallest  # below float64, still on the chart
    assert decode(trace(chart(at, "direct, float32"), name + ", float32")["y"])[0] == 1.0
    assert any("D = 784" in m.value and "float64" in m.value for m in at.markdown)
    wait_for(at, _has_images, 120)
    no_errors(at)
    images = next(f for f in charts(at) if f["data"][0]["type"] == "image")
    z = decode(images["data"][0]["z"])
    assert z.shape[1] == 8 * 29 - 1  # eight 28×28 tiles a row
    layout = images["layout"]
    assert 28 * (layout["width"] - layout["margin"]["l"] - layout["margin"]["r"]) / z.shape[1] >= 84  # screen px a tile
    mem = dimensions.real_memorisation("fashion", 32, 6.0)
    ended = [i for i, case in enumerate(mem.cases) if case != "lost"]
    assert ended and np.all(mem.nearest[ended] < 1e-4) and np.all(mem.charge[ended] >= 0)
    if loading.load_pretrained("fashion-gen") is not None:
        assert len(images["layout"]["yaxis"]["ticktext"]) == 3
        near = [float(a["text"]) for a in images["layout"]["annotations"][-8:]]  # the learned row: distances only
        assert min(near) > 2.0  # no near-copy (held-out test images: median 7.0)


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))  # an empty folder: no Fashion-MNIST
    dimensions.real_stats.clear()
    at = app_test(PAGE, hd_data=FASHION)
    no_errors(at)
    assert any("apt-get install" in i.value and datasets.ENV_VAR in i.value for i in at.info)
    assert len(charts(at)) == 4 and not any(str(t.get("name", "")).startswith("noise →") for f in charts(at) for t in f["data"])
