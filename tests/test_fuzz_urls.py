"""Fuzzing the links a user pastes (issue 14): hostile query parameters on the pages that read them. Every link either
opens the page with what it says, or opens it with valid values and a warning that names what was replaced; never an
exception, never a value outside a widget's bounds."""

from __future__ import annotations

import math

import pytest
from app_testing import app_test
from fuzz_testing import HUGE_FLOATS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.state import WIDGETS

# An AppTest run is about a second: few examples, each bounded (a hang fails the deadline).
URL_FUZZ = settings(max_examples=12, deadline=60000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PAGES = ["app/pages/field_lines.py", "app/pages/theorem.py"]
SCENE_KEYS = ["L", "n_charges", "seed", "D", "p_toy", "q_toy", "preset", "n_lines", "land_k", "sides"]
POINT_KEYS = ["cpos", "cneg", "probe", "thm_start"]

texts = st.one_of(
    st.sampled_from([str(v) for v in HUGE_FLOATS] + ["", " ", "1.5", "-1", "0", "1e9", "abc", "Two moons", "two_moons", "%00", "😀" * 3]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.text(max_size=30),
)
point_texts = st.one_of(
    texts,
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=4).map(lambda v: ":".join(f"{x:g}" for x in v)),
    st.lists(st.sampled_from(["1:2:1", "0:0:0", "nan:1:1", "1e300:0:1", "1:2"]), min_size=1, max_size=40).map("_".join),
)
links = st.fixed_dictionaries({}, optional={**{k: texts for k in SCENE_KEYS}, **{k: point_texts for k in POINT_KEYS}})


def _in_bounds(key: str, value: object) -> bool:
    w = WIDGETS[key]
    if w.lo is None or w.hi is None or isinstance(value, str):
        return True
    return math.isfinite(float(value)) and w.lo <= float(value) <= w.hi


@pytest.mark.parametrize("page", PAGES)
@URL_FUZZ
@given(params=links)
def test_any_link_opens_the_page_or_warns(page, params):
    at = app_test(page, **params)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for key in SCENE_KEYS:
        if key in at.session_state:
            assert _in_bounds(key, at.session_state[key]), (key, at.session_state[key])
    warned = " ".join(w.value for w in at.warning)
    for key, text in params.items():
        w = WIDGETS.get(key)
        if w is None or w.lo is None or w.hi is None or key not in at.session_state:
            continue
        try:
            asked = float(text)
        except ValueError:
            asked = math.nan
        if not (math.isfinite(asked) and w.lo <= asked <= w.hi) and str(text).strip():
            assert f"{key} = " in warned, (key, text, warned)
