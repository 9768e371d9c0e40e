"""AppTest of the "Theorem 3.1" page: presets show each case, a click moves the start, the decision at z = L matches
the line's case, and the background L sweep fills its charts."""

import numpy as np
import pytest
from app_testing import app_test, chart, decode, has_chart, names, no_errors, select, trace, wait_for

from app import background

PAGE = "app/pages/theorem.py"


@pytest.fixture(autouse=True)
def _no_leftover_background_work():
    yield
    background.cancel_pending()


def _cases(at) -> dict[str, str]:
    text = next(m.value for m in at.markdown if m.value.startswith("Forward line:"))
    fwd, bwd = text.split(". ")[:2]
    return {"forward": fwd.split("**")[1], "backward": bwd.split("**")[1]}


def test_presets_show_each_case():
    at = app_test(PAGE)
    no_errors(at)
    assert _cases(at)["forward"] == "behind"  # the default preset
    assert any("continues" in w.value for w in at.warning)  # same sign on both sides of Q: the line goes on
    profile = chart(at, "E<sub>z</sub><sup>+</sup>")
    assert names(profile)[:3] == ["E<sub>z</sub><sup>+</sup> (P's field)", "E<sub>z</sub><sup>−</sup> (Q's field)", "E<sub>z</sub> = E<sub>z</sub><sup>+</sup> + E<sub>z</sub><sup>−</sup>"]
    at.button_group(key="thm_preset").set_value("front").run()
    no_errors(at)
    assert _cases(at)["forward"] == "front"
    assert any("stops" in s.value for s in at.success)
    at.button_group(key="thm_preset").set_value("backward").run()
    no_errors(at)
    assert _cases(at)["backward"] == "backward"
    assert at.session_state["thm_line"] == "backward"
    assert any(h.value == "$E_z^+$ and $E_z^-$ along the backward line" for h in at.subheader)  # rendered as math
    lines = chart(at, "plate P")
    assert "backward (1)" in names(lines)


def test_click_on_p_moves_the_start():
    at = app_test(PAGE)
    select(at, "thm_picker_0", [{"x": 0.5, "y": -0.5, "curve_number": 0, "point_index": 0}])
    no_errors(at)
    assert at.session_state["thm_start"] == (0.5, -0.5)
    picker = chart(at, "click to start here")
    start = trace(picker, "start")
    assert decode(start["x"]).tolist() == [0.5] and decode(start["y"]).tolist() == [-0.5]
    lines = chart(at, "plate P")
    first = decode(trace(lines, "start")["y"])  # plot y is x1
    assert first.tolist() == [0.5]
    assert at.query_params["thm_start"] == "0.5:-0.5"


def test_line_chart_switch_and_sweep():
    at = app_test(PAGE)
    at.button_group(key="thm_line").set_value("backward").run()
    no_errors(at)
    assert any(h.value == "$E_z^+$ and $E_z^-$ along the backward line" for h in at.subheader)  # rendered as math
    wait_for(at, lambda a: not a.get("progress") and has_chart(a, "two-sided"), timeout=240)
    err = chart(at, "two-sided")
    assert len(decode(trace(err, "two-sided")["x"])) == 8
    cases = chart(at, "front")
    shares = np.stack([decode(trace(cases, c)["y"]) for c in ("front", "behind", "backward", "lost")])
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)
    assert decode(trace(cases, "current L")["x"]).tolist() == [6.0, 6.0]


def test_d1_theorem_page():
    at = app_test(PAGE, D="1")
    no_errors(at)
    lines = chart(at, "plate P")
    assert {t["type"] for t in lines["data"]} == {"scatter"}
    select(at, "thm_picker_0", [{"x": 1.0, "y": 0.0, "curve_number": 0, "point_index": 0}])
    no_errors(at)
    assert at.session_state["thm_start"] == (1.0,)


def test_a_click_is_applied_once_by_the_selection_callback(monkeypatch):
    """In the browser the click reaches ``ui.on_selection``'s callback before its rerun: the handler runs once and
    the chart's key version moves on, so the run that follows (``consume_selection``) finds no selection to apply
    again and draws the click's effect in one run, not two."""
    from app import ui

    state = {"thm_picker_0": {"selection": {"points": [{"x": 1.0, "y": 2.0}]}}}
    monkeypatch.setattr(ui.st, "session_state", state)
    calls = []

    def handler(selection: dict) -> bool:
        calls.append(selection["points"][0]["x"])
        return True

    ui.on_selection("thm_picker", handler)()
    assert calls == [1.0] and ui.chart_key("thm_picker") == "thm_picker_1"
    ui.consume_selection("thm_picker", state.get(ui.chart_key("thm_picker")), handler)  # the next run: a fresh key, no rerun
    assert calls == [1.0]
