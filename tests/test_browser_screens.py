"""Every page in headless Chromium at 1400 x 1000 and at 1000 x 800: it opens without an exception and its
screenshots are saved as ``<page>_1400x1000.png``, ``<page>_1000x800.png`` (the first screen) and
``<page>_1400x1000_full.png`` (the whole page, tall viewport) to pytest's tmp dir, and to $EFM_SCREENSHOT_DIR when set
(``EFM_SCREENSHOT_DIR=docs/screenshots pytest -m browser tests/test_browser_screens.py`` makes docs/screenshots/).

One page load per page: the smaller size is the same page resized (Plotly relayouts in the browser, no rerun).
The server and browser fixtures and helpers are those of tests/test_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
import test_browser
from test_browser import CHROMIUM, ROOT, SMALL, _idle, _open, _shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
server, page = test_browser.server, test_browser.page  # this module gets its own server
PAGES = sorted(p.stem for p in (ROOT / "app" / "pages").glob("*.py"))
SIZES = ((1400, 1000), (1000, 800))
# (screenshot name, page, extra URL settings): the 28×28 data set on the pages that switch to it (a bound
# segmented control is written into the URL by its label)
VARIANTS = [(name, name, "") for name in PAGES] + [
    ("generation_fashion", "generation", "&gen_data=" + quote("28×28 Fashion-MNIST")),
    ("high_dimensions_fashion", "high_dimensions", "&hd_data=" + quote("28×28 Fashion-MNIST (D = 784)")),
]


def _url_path(name: str) -> str:
    """A page's address: "" for the router's default page (``default=True`` in streamlit_app.py), else its name."""
    router = (ROOT / "streamlit_app.py").read_text()
    default = re.search(r'default=stem == "(\w+)"', router)
    return "" if default is not None and default.group(1) == name else name


@pytest.mark.parametrize(("name", "page_name", "extra"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_page_screenshots(server, page, tmp_path, name, page_name, extra):
    page.set_viewport_size({"width": 1400, "height": 1000})
    _open(page, f"{server}/{_url_path(page_name)}?{SMALL}{extra}")
    page.wait_for_timeout(1500)  # background panels (landing check, sweep) draw in place
    _idle(page)
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(800)
        _shot(page, tmp_path, f"{name}_{w}x{h}")
    page.set_viewport_size({"width": 1400, "height": 3600})
    page.wait_for_timeout(1200)
    _shot(page, tmp_path, f"{name}_1400x1000_full")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Page not found" not in page.locator("body").inner_text()
    if "fashion" in name:  # the link chose the 28×28 data set: its option is the checked one
        assert page.get_by_role("radio", name=re.compile("Fashion-MNIST"), checked=True).count() == 1
