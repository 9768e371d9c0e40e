"""The learned-field pages in headless Chromium: train live in the Training lab until done, pick a gallery image on the
Translation page by clicking it, generate, upload a checkpoint (a good one and a bad one); screenshots of each (to
pytest's tmp dir; also to $EFM_SCREENSHOT_DIR when set, which is how docs/screenshots/ is made).

The server and browser fixtures and helpers are those of tests/test_browser.py. The shipped checkpoints are used when
all four are in pretrained/; otherwise tiny stand-ins (``learning_testing.tiny_checkpoints``) keep the pages working.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import test_browser
from learning_testing import TINY_NAMES, tiny_checkpoint, tiny_checkpoints
from test_browser import CHROMIUM, _idle, _open, _plots, _shot, _text

from app.compute import learned, loading
from app.figures import learned as fl
from app.figures.learned import Grid
from efm_core.checkpoints import checkpoint_paths

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
server, page = test_browser.server, test_browser.page  # the module-scoped fixtures: this module gets its own server
SERVER_ENV = {"OMP_NUM_THREADS": "1"}  # small nets beside a browser on 2 cores: one torch thread (see docs/performance_app_learning.md)


@pytest.fixture(scope="module", autouse=True)
def _server_env(tmp_path_factory):
    """Environment of the module's server (set before it starts): one torch thread, and stand-in checkpoints when the
    shipped ones are missing."""
    env = dict(SERVER_ENV)
    if not all(loading.pretrained_path(name) for name in TINY_NAMES):
        env[loading.PRETRAINED_ENV] = str(tiny_checkpoints(tmp_path_factory.mktemp("pretrained")))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def _tall(page):
    """These pages are long: screenshots of 1400 x 2600 show the pictures below the controls too."""
    page.set_viewport_size({"width": 1400, "height": 2600})


def _figure_data(page, index: int) -> list[dict]:
    return page.evaluate(f"() => [...document.querySelectorAll('.js-plotly-plot')][{index}]._fullData.map(t => ({{name: String(t.name || t.type), n: (t.x || []).length}}))")


def test_training_lab_page_trains_until_done(server, page, tmp_path):
    _open(page, f"{server}/training_lab?q_toy=Two+moons&lab_steps=1000&lab_width=64")  # Gaussian -> two moons, as in the docs
    assert "Press Start training" in _text(page)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.body.innerText.includes('step 1000 / 1000')", timeout=300_000)
    _idle(page)
    plots = _plots(page)
    loss = next(i for i, names in enumerate(plots) if "EFM loss" in names)
    assert [t["n"] for t in _figure_data(page, loss) if t["name"] == "EFM loss"] == [fl.MAX_CURVE_POINTS]  # 1000 steps, thinned
    assert any("heatmap" in names for names in plots)  # the error map
    assert any("EFM: learned lines" in names for names in plots) and any("flow matching: learned lines" in names for names in plots)
    assert "Continue" not in _text(page) and "Start training" in _text(page)
    _shot(page, tmp_path, "training_lab")


def test_training_lab_two_sided_draws_lines_round_the_outside(server, page, tmp_path):
    """Two-sided EFM on Gaussian -> two Gaussians (the Field lines default) at L = 6: lines of every case, backward
    ones included, in the learned panel beside the exact two-sided lines."""
    _open(page, f"{server}/training_lab?lab_steps=1000&lab_width=128&lab_fm=false&lab_two_sided=true")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_function("() => document.body.innerText.includes('step 1000 / 1000')", timeout=300_000)
    _idle(page)
    names = [t["name"] for t in _figure_data(page, next(i for i, n in enumerate(_plots(page)) if any(x.startswith("backward") for x in n)))]
    assert sum(n.startswith("backward") for n in names) == 2, names  # learned and exact panels
    assert "Theorem 3.1's map" in _text(page)
    _shot(page, tmp_path, "training_lab_two_sided")


def test_translation_page_picks_a_gallery_image_by_click(server, page, tmp_path):
    _open(page, f"{server}/translation")
    assert "Read as 3" in _text(page)
    gallery = page.locator(".js-plotly-plot").first
    gallery.scroll_into_view_if_needed()
    box = gallery.locator(".nsewdrag").first.bounding_box()
    n = len(learned.gallery(2, 0)[0])
    grid = Grid.of(n, 8, (8, 8), band=fl.label_band(8, 8, fl.MIN_TILE_PX))
    height, width = grid.shape
    cx, cy = grid.centres(n)[5]
    x, y = box["x"] + (cx + 0.5) / width * box["width"], box["y"] + (cy + 0.5) / height * box["height"]
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    _idle(page)
    page.mouse.move(5, 5)  # no hover label over the gallery in the screenshot
    time.sleep(0.5)
    assert "tr_pick=%235" in page.url  # the link now lists gallery image #5 among the inputs
    strips = [names for names in _plots(page) if names == ["image"]]
    assert len(strips) >= 2
    _shot(page, tmp_path, "translation")


def test_generation_page_generates_and_takes_uploads(server, page, tmp_path):
    _open(page, f"{server}/generation?gen_n=16")
    assert "NFE" in _text(page) and "Memorisation check" in _text(page)
    _shot(page, tmp_path, "generation")

    page.locator("button").filter(has_text="Your checkpoint").first.click()  # a segmented-control option
    _idle(page)
    base = tiny_checkpoint(tmp_path, "digits-gen")
    st_path, js_path = checkpoint_paths(base)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(js_path)])
    _idle(page)
    assert "This upload cannot be used" in _text(page) and "no .safetensors file" in _text(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(st_path)])  # adds the missing file
    _idle(page)
    text = _text(page)
    assert "This upload cannot be used" not in text and "digits-gen · EFM" in text
    _shot(page, tmp_path, "generation_upload")
