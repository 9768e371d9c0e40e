"""The learned-field pages: AppTest of Training lab, Translation and Generation (with tiny stand-in checkpoints, and
the shipped ones when present), and the adapters of ``app.compute`` (learned, lab, loading) against exact references."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import streamlit as st
import torch
from app_testing import ROOT, app_test, charts, decode, no_errors, select, wait_for
from learning_testing import tiny_checkpoint, tiny_checkpoints
from torch import nn

from app.compute import exact, lab, learned, loading
from app.figures.learned import (
    HALF_STRIP_LEVELS,
    HUE_DODGE,
    MIN_TILE_PX,
    STRIP_LEVELS,
    image_grid,
    label_band,
    tile_px,
    to_rgb,
)
from app.state import WIDGETS
from efm_core import generate, make_plates, plate_field_at
from efm_core.checkpoints import checkpoint_paths, load_checkpoint
from efm_core.data import datasets
from efm_core.data.datasets import FASHION_CLASSES
from efm_core.fields import learned_field

LAB, TRANSLATION, GENERATION = "app/pages/training_lab.py", "app/pages/translation.py", "app/pages/generation.py"


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    return tiny_checkpoints(tmp_path_factory.mktemp("pretrained"))


@pytest.fixture
def pretrained(ckpt_dir, monkeypatch):
    monkeypatch.setenv(loading.PRETRAINED_ENV, str(ckpt_dir))
    return ckpt_dir


def _fig(at, uirevision: str) -> dict:
    found = [f for f in charts(at) if f["layout"].get("uirevision") == uirevision]
    assert found, f"no figure {uirevision!r}; have {[f['layout'].get('uirevision') for f in charts(at)]}"
    return found[0]


def _has_fig(at, uirevision: str) -> bool:
    return any(f["layout"].get("uirevision") == uirevision for f in charts(at))


def _image_figs(at) -> list[dict]:
    return [f for f in charts(at) if f["data"] and f["data"][0]["type"] == "image"]


def _image(fig: dict) -> np.ndarray:
    return decode(fig["data"][0]["z"]).astype(np.uint8)


def _metric(at, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


# ----------------------------------------------------------------------------------------------------- training lab
def test_training_lab_trains_live_and_draws_the_error_map():
    at = app_test(LAB, lab_steps="2000", lab_width="32", lab_solver_steps="8")
    no_errors(at)
    assert any("Start training" in i.value for i in at.info)
    _button(at, "Start training").click().run()
    no_errors(at)
    run = at.session_state["lab_run"]
    wait_for(at, lambda at: _has_fig(at, "loss") and len(_fig(at, "loss")["data"]) and len(decode(_fig(at, "loss")["data"][0]["x"])) > 0)
    assert run.running and 0 < run.step_count < 2000
    first = decode(_fig(at, "loss")["data"][0]["x"])
    assert 0 < len(first) <= run.step_count and first[-1] == len(first)

    wait_for(at, lambda at: run.step_count > len(first))  # the run trains on its own thread; each rerun shows more
    at.run()
    grown = decode(_fig(at, "loss")["data"][0]["x"])
    assert len(grown) > len(first)
    assert len(_fig(at, "loss")["data"]) == 4  # EFM and flow matching: raw loss and its average each

    first_view = lab.LAB_FIRST_VIEW * 2000  # no pictures of a barely trained net (they would slow the training)
    assert run.step_count >= first_view or any("pictures appear after" in c.value for c in at.caption)
    wait_for(at, lambda at: run.step_count >= first_view and any(f["layout"].get("uirevision") == "error-map" for f in charts(at)))
    maps = [f for f in charts(at) if f["layout"].get("uirevision") == "error-map"]
    assert len(maps) == 2  # one tab per model
    angle = decode(maps[0]["data"][0]["z"]).reshape(41, 41)
    assert np.isfinite(angle).all() and angle.min() >= 0 and angle.max() <= 180
    for label in ("W2 to Q", "Energy distance", "NFE", "Bad lines", "Median angle to E"):
        assert len(_metric(at, label)) == 2, label
    assert _metric(at, "NFE") == ["16", "16"]  # Heun, 8 steps, 2 calls each
    for label in ("W2 to Q", "Energy distance"):  # each with its noise beneath: the std over bootstrap resamples of the points
        shown = [(m.value, m.delta) for m in at.metric if m.label == label]
        assert all(re.fullmatch(r"-?\d+\.\d{3}", v) and re.fullmatch(r"± \d+\.\d{3}", d) and d != "± 0.000" for v, d in shown), shown
    panels = _fig(at, "lab-lines")
    assert [a["text"] for a in panels["layout"]["annotations"]] == ["EFM: learned lines", "exact field lines (forward starts)", "flow matching: learned lines"]

    _button(at, "Stop").click().run()
    run.join(30)  # the worker ends its turn
    stopped = run.step_count
    at.run()
    assert run.step_count == stopped and not run.running
    assert any(b.label == "Continue" for b in at.button)


def test_training_lab_two_sided_moves_points_by_theorem_3_1():
    """The two-sided toggle: a whole-space net, lines of Theorem 3.1's cases beside the exact two-sided lines, a z
    range that shows the loops behind the plates, and training points behind the plates too."""
    at = app_test(LAB, lab_steps="200", lab_width="32", lab_fm="false", lab_two_sided="true")
    _button(at, "Start training").click().run()
    wait_for(at, lambda at: at.session_state["lab_run"].done, timeout=300)
    at.run()
    no_errors(at)
    run = at.session_state["lab_run"]
    assert run.done and run.trainers["EFM"].config.net["kind"] == "space_mlp"
    panels = _fig(at, "lab-lines")
    assert [a["text"] for a in panels["layout"]["annotations"]] == ["EFM (two-sided): learned lines", "exact field lines (two-sided starts)"]
    learned = [t["name"] for t in panels["data"] if t.get("xaxis", "x") == "x" and t["name"].split(" ")[0] in ("front", "behind", "backward", "lost")]
    assert any(n.startswith("backward") for n in learned), learned
    L = float(at.session_state["L"])
    assert panels["layout"]["xaxis"]["range"][0] < -0.3 * L  # the loops behind P are in view
    assert _metric(at, "NFE") and int(_metric(at, "NFE")[0]) > 4  # the arc solver, not the z solver's 2 x steps
    sampler = _fig(at, "sampler")
    z = decode(next(t for t in sampler["data"] if str(t.get("name")).startswith("training points"))["x"])
    assert (z < 0).any() and (z > L).any()
    assert sampler["layout"]["xaxis"]["range"][0] < -0.15 * L  # and the view shows them


def test_training_lab_changed_settings_stop_the_run_and_say_so():
    at = app_test(LAB, lab_steps="2000", lab_width="32", lab_solver_steps="4", lab_fm="false")
    _button(at, "Start training").click().run()
    assert list(at.session_state["lab_run"].trainers) == ["EFM"]
    next(s for s in at.selectbox if s.label == "Network width").set_value(64).run()
    no_errors(at)
    assert not at.session_state["lab_run"].running
    assert any("settings changed" in i.value for i in at.info)


def test_training_lab_draws_the_sampler_with_target_arrows():
    at = app_test(LAB, lab_sigma="0.5")
    fig = _fig(at, "sampler")
    seg = next(t for t in fig["data"] if t.get("name") == "target E/|E|")
    xs, ys = decode(seg["x"]), decode(seg["y"])
    assert np.isnan(xs[2::3]).all()  # one segment per training point: start, tip, gap
    n = len(xs) // 3
    pts = next(t for t in fig["data"] if str(t.get("name")).startswith("training points"))
    assert len(decode(pts["x"])) == n
    assert np.allclose(decode(pts["x"]), xs[0::3]) and np.allclose(decode(pts["y"]), ys[0::3])


def test_lab_run_learns_the_exact_direction():
    """A short run on a charge pair: at fresh training points the learned direction comes within a few degrees of E."""
    scene = exact.scene_charges(2, "single_point", "single_point", 1, 0, None, None)
    L = 2.0
    run = lab.LabRun(scene, lab.LabSettings(scene.key, L, 0.3, 64, 200, 3e-3, 0, False))
    pts, target = lab.sampler_arrows(scene, L, 0.3, 400, 5)

    def median_angle() -> float:
        fx, fz = learned_field(run.trainers["EFM"].ema, "efm", L)(torch.from_numpy(pts[:, :-1]).float(), torch.from_numpy(pts[:, -1]).float())
        cos = (torch.cat([fx, fz[:, None]], 1).double().numpy() * target).sum(1)
        return float(np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))))

    before = median_angle()
    run.advance(1e9)
    assert run.done and run.step_count == 200
    assert before > 45 and median_angle() < 8


class _ExactNet(nn.Module):
    """A 'network' that returns the exact unit field of given plates (sign = -1: the opposite direction)."""

    def __init__(self, plates, sign: float = 1.0) -> None:
        super().__init__()
        self.plates, self.sign = plates, sign
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x, z):
        d = plate_field_at(torch.cat([x.double(), z.double()[:, None]], 1), self.plates).direction * self.sign
        return d[:, :-1].float(), d[:, -1].float()


@pytest.mark.parametrize("D", [1, 2])
def test_direction_error_is_zero_for_the_exact_field_and_180_for_its_opposite(D):
    scene = exact.scene_charges(D, "gaussian", "two_moons", 24, 3, None, None)
    L, y = 3.0, 0.4
    plates = scene.plates(L)
    same = lab.direction_error(_ExactNet(plates), "efm", scene, L, y, (-4.0, 4.0), n=11)
    assert same.angle.shape == (11, 11) and same.z.min() > 0 and same.z.max() < L
    assert same.angle.max() < 0.05
    opposite = lab.direction_error(_ExactNet(plates, -1.0), "efm", scene, L, y, (-4.0, 4.0), n=11)
    assert opposite.angle.min() > 179.9


def test_charge_rows_reproduce_the_plate_field():
    x = np.array([[0.0, 0.0], [1.0, 0.5], [-2.0, 1.0]])
    rows = lab.charge_rows(x, np.full(3, 1 / 3))
    assert len(rows) >= lab.LAB_MIN_ROWS and len(rows) % 3 == 0
    q = np.array([[0.5, -0.5]])
    probes = torch.tensor([[0.3, 0.2, 0.7], [-1.0, 0.4, 1.5], [2.0, -1.0, 0.2]], dtype=torch.float64)
    weighted = plate_field_at(probes, make_plates(x, q, 2.0)).direction
    tiled = plate_field_at(probes, make_plates(rows, q, 2.0)).direction
    assert torch.allclose(weighted, tiled, atol=1e-12)

    w = np.array([0.5, 0.3, 0.2])
    rows = lab.charge_rows(x, w, min_rows=100)
    counts = np.array([np.sum(np.all(rows == c, axis=1)) for c in x])
    assert counts.sum() == 100 and np.abs(counts / 100 - w).max() <= 0.01


# ------------------------------------------------------------------------------------------------------ generation
def test_generation_respects_seed_and_count(pretrained):
    at = app_test(GENERATION, gen_n="5", gen_solver_steps="4")
    no_errors(at)
    grids = [f for f in _image_figs(at) if len(f["layout"].get("annotations", [])) == 5]
    assert len(grids) == 2  # EFM and flow matching, 5 captioned tiles each
    img = _image(grids[0])
    assert img.shape == (8 + label_band(8, 8, MIN_TILE_PX), 5 * 9 - 1, 3)  # one row of 5 tiles of 8x8 under a caption band
    captions = [a["text"] for a in grids[0]["layout"]["annotations"]]
    assert all(c.split(" · ")[0].isdigit() for c in captions)  # the classifier's digit, then its probability
    assert _metric(at, "NFE") == ["8", "8"]

    next(n for n in at.number_input if n.label == "Seed").set_value(1).run()
    other = _image([f for f in _image_figs(at) if len(f["layout"].get("annotations", [])) == 5][0])
    assert not np.array_equal(other, img)
    next(n for n in at.number_input if n.label == "Seed").set_value(0).run()
    again = _image([f for f in _image_figs(at) if len(f["layout"].get("annotations", [])) == 5][0])
    assert np.array_equal(again, img)


def test_generation_page_shows_the_cli_samples(tmp_path, monkeypatch):
    """At seed 0 the Generation page shows exactly the 16 images of
    ``python -m efm_core sample --checkpoint pretrained/digits-gen --n 16 --seed 0`` (the page calls efm_core.generate)."""
    monkeypatch.delenv(loading.PRETRAINED_ENV, raising=False)
    ckpt = loading.load_pretrained("digits-gen")
    if ckpt is None:
        pytest.skip("pretrained/digits-gen is not shipped")
    out = tmp_path / "x.npy"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(loading.PRETRAINED_ENV, None)
    cmd = [sys.executable, "-m", "efm_core", "sample", "--checkpoint", "pretrained/digits-gen", "--n", "16", "--seed", "0", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    cli = np.load(out)
    at = app_test(GENERATION, gen_n="16", gen_seed="0")
    no_errors(at)
    # the cached call the page made, with the page's arguments (default solver and steps, 8 snapshot heights)
    shown = learned.generate_items(loading.pretrained_key("digits-gen"), ckpt, 16, 0, WIDGETS["gen_solver"].default, WIDGETS["gen_solver_steps"].default, 8)
    assert shown.x.shape == cli.shape == (16, 1, 8, 8)
    np.testing.assert_allclose(shown.x, cli, rtol=0, atol=1e-5)
    grid = [f for f in _image_figs(at) if len(f["layout"].get("annotations", [])) == 16][0]  # the EFM grid comes first (captions on two lines)
    assert np.abs(_image(grid).astype(int) - image_grid(cli, 6, band=2 * label_band(8, 8, MIN_TILE_PX)).astype(int)).max() <= 1


def test_generation_restores_its_settings_from_the_url(pretrained):
    at = app_test(GENERATION, gen_seed="7", gen_n="3", gen_solver="Euler (the paper)", gen_solver_steps="6")  # a select box keeps its label in the URL
    no_errors(at)
    assert next(n for n in at.number_input if n.label == "Seed").value == 7
    assert next(n for n in at.number_input if n.label == "Samples").value == 3
    assert _metric(at, "NFE") == ["6", "6"]  # Euler: one network call per step


def _start_points(ckpt, n: int, seed: int) -> tuple[torch.Tensor, bool]:
    """The start points of the Generation page's samples (``efm_core.generate``, the snapshot at the start plate)."""
    return generate(ckpt.net, ckpt.config, n, seed=seed, snapshots=2).path[0], ckpt.config.one_plate


def test_start_points_are_seeded_per_sample(ckpt_dir):
    config = load_checkpoint(ckpt_dir / "digits-gen")
    five, far = _start_points(config, 5, seed=3)
    three, _ = _start_points(config, 3, seed=3)
    assert not far and five.shape == (5, 1, 8, 8)
    assert torch.equal(five[:3], three)
    assert not torch.equal(_start_points(config, 3, seed=4)[0], three)


FASHION = "28×28 Fashion-MNIST"  # the data set switch's label (a segmented control keeps its label in the URL)


def _shipped_fashion(monkeypatch) -> None:
    monkeypatch.delenv(loading.PRETRAINED_ENV, raising=False)
    for name in loading.IMAGE_DATA["fashion"].pair.values():
        if loading.pretrained_path(name) is None:
            pytest.skip(f"pretrained/{name} is not shipped in this checkout")


def _fashion_page(**params: str):
    """The Generation page on Fashion-MNIST with 3 samples at 3 Heun steps (6 network calls a model)."""
    at = app_test(GENERATION, gen_data=FASHION, gen_f_n="3", gen_f_solver_steps="3", **params)
    no_errors(at)
    assert at.title[0].value == "Generation: from noise to clothing"
    grids = [f for f in _image_figs(at) if len(f["layout"].get("annotations", [])) == 3]
    assert len(grids) == 2 and _metric(at, "NFE") == ["6", "6"]  # EFM and flow matching, 3 read tiles each
    for fig in grids:
        img = _image(fig)
        band = img.shape[0] - 28
        assert img.shape == (28 + band, 3 * 29 - 1, 3) and 0 < band <= 2 * label_band(28, 28, tile_px(28))
        layout = fig["layout"]
        assert 28 * (layout["width"] - layout["margin"]["l"] - layout["margin"]["r"]) / img.shape[1] >= 84  # screen px per tile
        names = [a["text"].replace("<br>", " · ").split(" · ")[0] for a in layout["annotations"]]
        assert set(names) <= set(FASHION_CLASSES)  # the shipped FashionCNN's reading of every tile
    strips = [f for f in _image_figs(at) if f["layout"]["yaxis"].get("ticktext") == ["#0", "#1", "#2"]]
    assert len(strips) == 2 and _image(strips[0]).shape[1] == STRIP_LEVELS * 29 - 1  # the strip's heights of 28×28 tiles
    heads = [c for c in at.columns if any(m.value.startswith(("**EFM** ·", "**flow matching** ·")) for m in c.markdown)]
    assert len(heads) == 2 and all(len(c.children) == 1 for c in heads)  # a row of headers alone: the grids start level
    return at


def test_generation_switches_to_fashion_mnist(monkeypatch):
    """The data set switch runs the shipped fashion-gen / fm-fashion-gen pair: 28×28 tiles of at least 84 screen px
    read by the Fashion-MNIST classifier, the trajectory strips, and (with the data set) the nearest training images."""
    _shipped_fashion(monkeypatch)
    at = _fashion_page()
    if not datasets.fashion_available():
        return
    wait_for(at, lambda a: len(_metric(a, "Median distance")) == 2, 120)  # searched in the background
    no_errors(at)
    assert all(float(v) > 2.0 for v in _metric(at, "Median distance"))  # no near-copies of training images
    nearest = [f for f in _image_figs(at) if f["layout"]["yaxis"].get("ticktext") == ["sample", "nearest"]]
    assert len(nearest) == 2 and _image(nearest[0]).shape[1] == 3 * 29 - 1


def test_generation_without_fashion_mnist_installed_says_how_to_get_it(tmp_path, monkeypatch):
    """Samples and readings need only the shipped checkpoints; the nearest images say how to install the data set."""
    _shipped_fashion(monkeypatch)
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))  # an empty folder: no Fashion-MNIST
    st.cache_data.clear()
    at = _fashion_page(gen_seed="3")
    assert any("apt-get install" in i.value and datasets.ENV_VAR in i.value for i in at.info)
    assert not _metric(at, "Median distance")


def test_generation_says_what_to_do_when_a_checkpoint_is_missing(tmp_path, monkeypatch):
    tiny_checkpoint(tmp_path, "digits-gen")
    monkeypatch.setenv(loading.PRETRAINED_ENV, str(tmp_path))
    at = app_test(GENERATION, gen_n="2", gen_solver_steps="2")
    no_errors(at)
    assert any("fm-digits-gen" in i.value and "python -m efm_core train" in i.value for i in at.info)
    assert _metric(at, "NFE") == ["4"]  # the EFM model still generates


def _upload(at, files):
    at.file_uploader[0].set_value(files).run()
    return at


def _checkpoint_files(base) -> list[tuple[str, bytes, str]]:
    st_path, js_path = checkpoint_paths(base)
    return [(st_path.name, st_path.read_bytes(), "application/octet-stream"), (js_path.name, js_path.read_bytes(), "application/json")]


def test_uploaded_checkpoint_generates(ckpt_dir):
    at = app_test(GENERATION, gen_model="Your checkpoint", gen_n="4", gen_solver_steps="3")
    no_errors(at)
    assert any("Upload a checkpoint" in i.value for i in at.info)
    _upload(at, _checkpoint_files(ckpt_dir / "digits-gen"))
    no_errors(at)
    assert _metric(at, "NFE") == ["6"]
    assert any(m.value.startswith("**digits-gen**") for m in at.markdown)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda files: files[1:], "no .safetensors file"),
        (lambda files: [("model.safetensors", b"\x80\x04\x95pickle", "application/octet-stream"), files[1]], "pickle"),
        (lambda files: [files[0], (files[1][0], b"{not json", "application/json")], "not a valid JSON model card"),
        (lambda files: [*files, ("other.json", b"{}", "application/json")], "2 .json files"),
    ],
)
def test_bad_upload_shows_an_error_and_keeps_the_page(ckpt_dir, make, message):
    at = app_test(GENERATION, gen_model="Your checkpoint")
    _upload(at, make(_checkpoint_files(ckpt_dir / "digits-gen")))
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_read_upload_names_what_is_wrong():
    with pytest.raises(ValueError, match="neither a .safetensors nor a .json"):
        loading.read_upload([("notes.txt", b"hello")])
    with pytest.raises(ValueError, match="the app takes checkpoints up to"):
        loading.read_upload([("a.safetensors", bytes(loading.MAX_UPLOAD_BYTES)), ("a.json", b"{}")])
    digest, base, st_bytes, js_bytes = loading.read_upload([("my model.json", b"{}"), ("x.safetensors", b"abc")])
    assert base == "my_model" and st_bytes == b"abc" and js_bytes == b"{}" and len(digest) == 64


def test_upload_refuses_configs_that_read_server_files(ckpt_dir, tmp_path):
    files = _checkpoint_files(ckpt_dir / "digits-gen")
    card = json.loads(files[1][1])
    card["config"]["q"] = {"kind": "points_file", "path": "/etc/passwd"}
    files[1] = (files[1][0], json.dumps(card).encode(), "application/json")
    at = app_test(GENERATION, gen_model="Your checkpoint")
    _upload(at, files)
    assert not at.exception
    assert any("read from files" in e.value for e in at.error)
    assert not any("root" in e.value for e in at.error)


def test_upload_refuses_nets_too_big_to_build(ckpt_dir):
    files = _checkpoint_files(ckpt_dir / "digits-gen")
    card = json.loads(files[1][1])
    card["config"]["net"]["width"] = 10**7
    with pytest.raises(ValueError, match="larger than the app allows"):
        loading.load_uploaded(*loading.read_upload([(n, b if n.endswith(".safetensors") else json.dumps(card).encode()) for n, b, _ in files]))


def test_upload_refuses_pfgm_models_whose_lines_start_on_a_prior(tmp_path):
    """A PFGM++ card (the shipped baseline's config) is refused with a message that points to the CLI."""
    card = {"config": json.loads((ROOT / "pretrained" / "configs" / "pfgmpp-toy-swiss.json").read_text())}
    with pytest.raises(ValueError, match="generates from its prior.*CLI"):
        loading.load_uploaded(*loading.read_upload([("m.safetensors", b"x"), ("m.json", json.dumps(card).encode())]))


# ----------------------------------------------------------------------------------------------------- translation
def test_translation_outputs_strips_and_hue_readout(pretrained):
    at = app_test(TRANSLATION, tr_solver_steps="4")
    no_errors(at)
    images, hues = learned.gallery(2, 0)
    strips = [f for f in _image_figs(at) if f["layout"]["yaxis"].get("ticktext")]
    assert len(strips) == 2  # EFM and flow matching
    for fig in strips:
        assert fig["layout"]["yaxis"]["ticktext"] == ["#0", "#1", "#2", "#3"]
        assert _image(fig).shape == (4 * 9 - 1, HALF_STRIP_LEVELS * 9 - 1, 3)  # 4 picked inputs x the heights of 8x8 RGB tiles
        assert fig["layout"]["xaxis"]["ticktext"] == ["0", "0.25", "0.5", "0.75", "1"]
    heads = [c for c in at.columns if any(m.value.startswith(("**EFM** ·", "**flow matching** ·")) for m in c.markdown)]
    assert len(heads) == 2 and all(len(c.children) == 1 for c in heads)  # a row of headers alone: the strips start level
    gallery = _image_figs(at)[0]
    assert len(decode(gallery["data"][1]["x"])) == len(images)  # one click target per gallery tile

    table = at.dataframe[0].value
    assert list(table["input"]) == ["#0", "#1", "#2", "#3"]
    assert np.allclose(table["hue in (°)"], np.round(hues[:4]))
    assert table["reads as"].between(0, 9).all()
    kept = _metric(at, "Hue kept (±30°)")
    assert len(kept) == 2 and all(v.endswith("%") for v in kept)
    reads = [m for m in at.metric if m.label.startswith("Read as")]
    for m in reads:  # every gallery share with its binomial noise, sqrt(p (1 - p) / n) of the gallery's images
        p = float(m.value.rstrip("%")) / 100
        assert m.delta == f"± {np.sqrt(p * (1 - p) / len(images)):.0%}", (m.value, m.delta, len(images))
    hue = _fig(at, "hue")
    assert np.allclose(decode(hue["data"][2]["x"]) + HUE_DODGE, hues, atol=1e-3)  # EFM's markers dodged left

    select(at, "tr_gallery_0", [{"point_index": 6, "curve_number": 1, "x": 0, "y": 0}])
    no_errors(at)
    assert at.session_state["tr_pick"] == [0, 1, 2, 3, 6]
    strips = [f for f in _image_figs(at) if f["layout"]["yaxis"].get("ticktext")]
    assert strips[0]["layout"]["yaxis"]["ticktext"][-1] == "#6"


def test_translation_runs_the_field_backwards_for_3_to_2(pretrained):
    at = app_test(TRANSLATION, tr_dir="3 → 2", tr_solver_steps="4")
    no_errors(at)
    assert any("run backwards" in m.value for m in at.markdown)
    images, _ = learned.gallery(3, 0)
    strips = [f for f in _image_figs(at) if f["layout"]["yaxis"].get("ticktext")]
    first_column = _image(strips[0])[0:8, 0:8]
    assert np.array_equal(first_column, to_rgb(images[:1])[0])  # the strip starts at the input (z = L)
    assert _metric(at, "Read as 2")


def test_translation_without_checkpoints_explains_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv(loading.PRETRAINED_ENV, str(tmp_path))
    at = app_test(TRANSLATION)
    no_errors(at)
    assert any("cdigits-2to3" in i.value for i in at.info)


def test_shipped_checkpoints_work_on_both_pages():
    """With the real pretrained/ checkpoints (CI has them): a few samples and the gallery, no error."""
    for name in ("digits-gen", "cdigits-2to3"):
        if loading.pretrained_path(name) is None:
            pytest.skip(f"pretrained/{name} is not shipped in this checkout")
    at = app_test(GENERATION, gen_n="4")
    no_errors(at)
    at.switch_page(TRANSLATION).run()
    no_errors(at)
    reads = _metric(at, "Read as 3")
    assert reads and float(reads[0].rstrip("%")) >= 50


def test_training_lab_trains_pfgmpp_beside_efm_on_qs_charges():
    """PFGM++ in the lab: trained in lockstep with EFM on Q's charges alone, its fresh samples carried from its prior to
    Q and scored like the others (W2, energy distance, 35 network calls); no lines beside E's and no angle map."""
    scene = exact.scene_charges(2, "gaussian", "two_moons", 32, 0, None, None)
    run = lab.LabRun(scene, lab.LabSettings(scene.key, 6.0, 0.1, 32, 60, 1e-3, 0, False, False, True))
    assert list(run.trainers) == ["EFM", lab.PFGMPP_NAME]
    assert run.trainers[lab.PFGMPP_NAME].config.objective == "pfgmpp" and run.trainers[lab.PFGMPP_NAME].config.q is None
    while not run.done:
        run.advance(5.0)
    assert {t.step_count for t in run.trainers.values()} == {60}
    view = lab.lab_view(run, "heun", 8, 0.0, (-6.0, 6.0))
    m = view.metrics[lab.PFGMPP_NAME]
    assert np.isfinite(m["w2"].value) and np.isfinite(m["energy"].std) and m["nfe"] == 2 * lab.PFGMPP_STEPS - 1 and np.isnan(m["angle"])
    assert view.moved[lab.PFGMPP_NAME].x.shape == run.starts.shape and lab.PFGMPP_NAME not in view.errors
