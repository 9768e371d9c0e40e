"""AppTest of the "High dimensions" page: its controls change the statistics, and the charts say what the page
claims (collapse onto one charge, direct arithmetic breaking where log space does not)."""

import numpy as np
from app_testing import app_test, chart, decode, no_errors, trace

PAGE = "app/pages/high_dimensions.py"


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
