"""AppTest of the frame: the URL restores the state (widgets and hand-built charges), bad links are ignored with a
message, and settings survive page switches."""

import numpy as np
import pytest
from app_testing import app_test, chart, names, no_errors, trace

from app import background


@pytest.fixture(autouse=True)
def _no_leftover_background_work():
    yield
    background.cancel_pending()


def test_url_parameters_restore_the_scene():
    at = app_test("app/pages/field_lines.py", L="12.5", p_toy="Three rings", q_toy="Checkerboard", D="1", n_lines="12", seed="3")  # options travel as their labels
    no_errors(at)
    assert at.slider(key="L").value == 12.5 and at.session_state["p_toy"] == "rings" and at.session_state["seed"] == 3
    fig = chart(at, "plate P")
    assert trace(fig, "plate Q")["name"] == "plate Q (z = L = 12.5)"
    assert {t["type"] for t in fig["data"]} == {"scatter"}  # D = 1
    assert sum(int(n.split("(")[1][:-1]) for n in names(fig) if n.split(" ")[0] in ("front", "behind", "backward", "lost")) == 12


def test_hand_built_charges_travel_in_the_link():
    at = app_test("app/pages/field_lines.py", cpos="-2:0:1_2:0:1", cneg="0:0:1", probe="0:0:3")
    no_errors(at)
    np.testing.assert_array_equal(at.session_state["custom_pos"], [[-2, 0, 1], [2, 0, 1]])
    assert at.session_state["probe"] == (0.0, 0.0, 3.0)
    fig = chart(at, "plate P")
    assert trace(fig, "+ charges of P")["name"] == "+ charges of P (2)"
    assert trace(fig, "− charges of Q")["name"] == "− charges of Q (1)"
    assert at.query_params["cpos"] == "-2:0:1_2:0:1"


@pytest.mark.parametrize("params", [{"L": "abc"}, {"L": "1e9"}, {"n_charges": "999999"}, {"D": "7"}, {"p_toy": "unicorn"}])
def test_bad_widget_values_in_the_link_are_ignored(params):
    at = app_test("app/pages/field_lines.py", **params)
    no_errors(at)
    assert at.slider(key="L").value == 6.0 and at.session_state["p_toy"] == "gaussian" and at.session_state["D"] == 2


def test_bad_charges_in_the_link_give_a_warning():
    at = app_test("app/pages/field_lines.py", cpos="1:2:-5", probe="nan:1:2")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("Ignored the link's P" in w for w in warnings) and any("probe" in w for w in warnings)
    assert at.session_state["custom_pos"] is None and at.session_state["probe"] is None


def test_settings_survive_page_switches():
    at = app_test("app/pages/field_lines.py")
    at.slider(key="L").set_value(20.0).run()
    at.sidebar.selectbox(key="q_toy").set_value("rings").run()
    at.switch_page("app/pages/theorem.py").run()
    no_errors(at)
    assert at.slider(key="L").value == 20.0 and at.session_state["q_toy"] == "rings"
    assert trace(chart(at, "plate P"), "plate Q")["name"] == "plate Q (z = L = 20)"
    at.switch_page("app/pages/high_dimensions.py").run()
    at.switch_page("app/pages/field_lines.py").run()
    no_errors(at)
    assert at.slider(key="L").value == 20.0 and at.slider(key="n_lines").value == 8
    assert trace(chart(at, "plate P"), "plate Q")["name"] == "plate Q (z = L = 20)"
