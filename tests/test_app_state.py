"""app/state.py and app/exports.py as plain functions: charge tables, uploads, presets, URL round trip, CSV text."""

import io
import pickle

import numpy as np
import pytest

from app import exports, state


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_check_charges_accepts_coordinates_with_and_without_magnitudes():
    np.testing.assert_array_equal(state.check_charges([[1, 2], [3, 4]], 2), [[1, 2, 1], [3, 4, 1]])
    np.testing.assert_array_equal(state.check_charges([[1, 2, 0.5]], 2), [[1, 2, 0.5]])
    np.testing.assert_array_equal(state.check_charges([1.0, 2.0], 1), [[1, 1], [2, 1]])


@pytest.mark.parametrize(
    ("rows", "D", "message"),
    [
        ([[1, 2, 3, 4]], 2, "4 columns"),
        ([[1, np.nan]], 2, "NaN"),
        ([[1, 2, -1]], 2, "must be > 0"),
        ([[1, 2, 0]], 2, "must be > 0"),
        ([[1e9, 0]], 2, "within"),
        (np.zeros((0, 2)), 2, "no charges"),
        (np.zeros((state.MAX_CHARGES + 1, 2)), 2, f"at most {state.MAX_CHARGES}"),
        ([["a", "b"]], 2, "numbers"),
    ],
)
def test_check_charges_refuses_bad_tables_with_a_clear_message(rows, D, message):
    with pytest.raises(ValueError, match=message):
        state.check_charges(rows, D)


def test_parse_upload_csv_with_header_and_magnitudes():
    rows = state.parse_upload("cloud.csv", b"x1,x2,q\n1,2,3\n4,5,6\n", 2)
    np.testing.assert_array_equal(rows, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(state.parse_upload("c.txt", b"1\n2\n", 1), [[1, 1], [2, 1]])


def test_parse_upload_npy_and_round_trip_through_charges_csv():
    arr = np.array([[0.5, -1.25], [2.0, 3.0]])
    rows = state.parse_upload("cloud.npy", _npy(arr), 2)
    np.testing.assert_array_equal(rows, np.concatenate([arr, np.ones((2, 1))], axis=1))
    again = state.parse_upload("back.csv", state.charges_csv(rows).encode(), 2)
    np.testing.assert_allclose(again, rows)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.csv", b"", "empty"),
        ("a.csv", b"1,2\n3\n", "different numbers of columns"),
        ("a.csv", b"1,2\n3,x\n", "not a number"),
        ("a.csv", b"\xff\xfe\x00", "not a text file"),
        ("a.png", b"123", "unknown file type"),
        ("a.npy", b"not numpy", "not a valid .npy"),
        ("a.npy", _npy(np.array(["a", "b"])), "must hold numbers"),
        ("a.csv", b"1,2\n" * 5000, f"at most {state.MAX_CHARGES}"),
    ],
)
def test_parse_upload_refuses_bad_files(name, data, message):
    with pytest.raises(ValueError, match=message):
        state.parse_upload(name, data, 2)


def test_parse_upload_never_unpickles():
    payload = pickle.dumps([[1.0, 2.0]])
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    for data in (payload, buf.getvalue()):
        with pytest.raises(ValueError):
            state.parse_upload("evil.npy", data, 2)


def test_parse_upload_size_limit():
    with pytest.raises(ValueError, match="limit"):
        state.parse_upload("big.csv", b"0" * (state.MAX_UPLOAD_BYTES + 1), 2)


def test_presets_write_a_consistent_scene():
    ss: dict = {}
    for name, preset in state.PRESETS.items():
        state.apply_preset(ss, name)
        assert ss["preset"] == name and ss["L"] == preset.L and ss["D"] == preset.D
        assert ss["p_toy"] in state.TOY_LABELS and ss["q_toy"] in state.TOY_LABELS
        lo, hi = state.WIDGETS["L"].lo, state.WIDGETS["L"].hi
        assert lo <= ss["L"] <= hi and 1 <= ss["n_charges"] <= state.MAX_TOY_CHARGES
        if preset.hand_pos is not None:
            state.check_charges(ss["custom_pos"], preset.D)
            state.check_charges(ss["custom_neg"], preset.D)
        else:
            assert ss["custom_pos"] is None and ss["custom_neg"] is None
    with pytest.raises(ValueError, match="unknown preset"):
        state.apply_preset(ss, "nope")


def test_widget_defaults_lie_inside_their_bounds():
    for key, w in state.WIDGETS.items():
        if w.lo is not None:
            assert w.lo <= w.default <= w.hi, key


def test_fit_dimension_drops_or_pads_coordinates():
    rows = np.array([[1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(state.fit_dimension(rows, 1), [[1.0, 0.5]])
    np.testing.assert_array_equal(state.fit_dimension(np.array([[1.0, 0.5]]), 2), [[1.0, 0.0, 0.5]])
    assert state.fit_dimension(None, 2) is None


def test_charges_round_trip_through_the_url():
    rows = np.array([[1.5, -2.0, 1.0], [0.25, 3.0, 2.0]])
    text = state.encode_charges(rows)
    np.testing.assert_allclose(state.decode_charges(text, 2), rows)
    params = state.custom_url_params({"pos": rows, "neg": np.zeros((state.URL_MAX_CUSTOM + 1, 3)) + 1})
    assert set(params) == {"cpos"}  # too many charges on Q for a link
    with pytest.raises(ValueError):
        state.decode_charges("1:2_3", 1)


def test_init_session_reads_the_link_once_and_reports_bad_parts():
    ss: dict = {}
    warnings = state.init_session(ss, {"D": "2", "cpos": "1:2:1_3:4:1", "cneg": "garbage", "probe": "1:0:3", "thm_start": "x"})
    np.testing.assert_array_equal(ss["custom_pos"], [[1, 2, 1], [3, 4, 1]])
    assert ss["custom_neg"] is None and ss["probe"] == (1.0, 0.0, 3.0) and ss["thm_start"] is None
    assert len(warnings) == 2 and any("Q" in w for w in warnings)
    ss["probe"] = (9.0, 9.0, 9.0)
    assert state.init_session(ss, {"probe": "1:0:3"}) == [] and ss["probe"] == (9.0, 9.0, 9.0)


def test_url_extras_write_what_init_session_reads():
    ss = {"custom_pos": np.array([[1.0, 2.0, 1.0]]), "custom_neg": None, "probe": (1.0, 2.0, 3.0), "thm_start": None}
    extras = state.url_extras(ss, "field_lines", True)
    assert extras["cneg"] is None and extras["thm_start"] is None
    fresh: dict = {}
    state.init_session(fresh, {k: v for k, v in extras.items() if v is not None})
    np.testing.assert_array_equal(fresh["custom_pos"], ss["custom_pos"])
    assert fresh["probe"] == ss["probe"]


def test_url_extras_belong_to_their_page():
    ss = {"custom_pos": np.array([[1.0, 2.0, 1.0]]), "custom_neg": None, "probe": (1.0, 2.0, 3.0), "thm_start": (0.5, 0.5)}
    assert state.url_extras(ss, "theorem", True)["thm_start"] == "0.5:0.5"
    assert state.url_extras(ss, "theorem", True)["probe"] is None  # the probe is the Field lines page's
    elsewhere = state.url_extras(ss, "generation", False)
    assert all(v is None for v in elsewhere.values()), elsewhere  # no scene, no clicked points on other pages


def test_matching_preset_reads_custom_after_a_hand_edit():
    ss: dict = {}
    for name in state.PRESETS:
        state.apply_preset(ss, name)
        assert state.matching_preset(ss) == name
    state.apply_preset(ss, "paper_mixture")
    ss["q_toy"] = "swiss_roll"
    assert state.matching_preset(ss) == "paper_swiss"  # that is a preset too
    ss["n_charges"] = 100
    assert state.matching_preset(ss) == state.CUSTOM
    state.apply_preset(ss, "paper_mixture")
    ss["custom_pos"] = np.array([[0.0, 0.0, 1.0]])
    assert state.matching_preset(ss) == state.CUSTOM
    state.apply_preset(ss, state.CUSTOM)  # choosing "Custom" keeps the scene
    assert ss["preset"] == state.CUSTOM and ss["custom_pos"] is not None


def test_exports_csv_text():
    paths = [np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]), np.array([[5.0, 5.0, 0.0]])]
    text = exports.lines_csv(paths, ["front", "lost"])
    lines = text.strip().split("\n")
    assert lines[0] == "line,case,point,x1,x2,z" and lines[2] == "0,front,1,1,2,3" and lines[3] == "1,lost,0,5,5,0"
    ends = exports.endpoints_csv(paths, ["front", "lost"]).strip().split("\n")
    assert ends[0] == "line,case,start_x1,start_x2,start_z,end_x1,end_x2,end_z" and ends[1] == "0,front,0,0,0,1,2,3"
    pts = exports.points_csv({"a": np.array([[1.0], [2.0]])}).strip().split("\n")
    assert pts == ["set,x1", "a,1", "a,2"]


def test_a_page_switch_never_resets_a_setting_to_its_default():
    """A switch that brings a setting back at its default (the browser's mount-time value) gets the remembered one;
    a setting changed on the same page, or set to its default by the user, is left as it is."""
    ss: dict = {}
    state.keep_settings_across_page_switch(ss, "field_lines")
    ss.update(L=12.0, n_charges=64, seed=3)
    state.remember_settings(ss)
    ss.update(L=state.WIDGETS["L"].default, n_charges=state.WIDGETS["n_charges"].default)  # what the switch brought
    assert sorted(state.keep_settings_across_page_switch(ss, "high_dimensions")) == ["L", "n_charges"]
    assert (ss["L"], ss["n_charges"], ss["seed"]) == (12.0, 64, 3)
    state.remember_settings(ss)
    ss["L"] = state.WIDGETS["L"].default  # the user moved L back to its default on this page
    assert state.keep_settings_across_page_switch(ss, "high_dimensions") == []
    state.remember_settings(ss)
    assert state.keep_settings_across_page_switch(ss, "theorem") == [] and ss["L"] == state.WIDGETS["L"].default
