"""AppTest of the "Field lines" page: every main control changes the figure JSON; clicks, tables and uploads edit
the charges; bad input gives st.error and keeps the previous state; the background landing check arrives."""

import io

import numpy as np
import pytest
from app_testing import app_test, case_counts, chart, decode, no_errors, select, trace, wait_for

from app import background, state
from app.compute import exact, large_l


@pytest.fixture(autouse=True)
def _no_leftover_background_work():
    yield
    background.cancel_pending()


def _lines_fig(at) -> dict:
    return chart(at, "plate P")


def _sidebar_number(at, label):
    return next(n for n in at.sidebar.number_input if n.label == label)


def test_default_page_shows_lines_between_the_plates():
    at = app_test("app/pages/field_lines.py")
    no_errors(at)
    fig = _lines_fig(at)
    counts = case_counts(fig)
    assert sum(counts.values()) == 8  # n_lines from the URL
    assert trace(fig, "plate P")["type"] == "mesh3d" and trace(fig, "plate Q")["name"] == "plate Q (z = L = 6)"
    assert trace(fig, "+ charges of P")["name"] == "+ charges of P (32)"
    z_range = fig["layout"]["scene"]["xaxis"]["range"]
    assert z_range[0] < 0 and z_range[1] > 6
    assert len(fig["frames"]) > 0  # the play button's frames
    metrics = {m.label: m.value for m in at.metric}
    assert sum(int(metrics[c]) for c in ("front", "behind", "backward", "lost")) == 8
    assert any(b.label == "Lines (CSV)" for b in at.get("download_button"))


def test_number_of_lines_slider():
    at = app_test("app/pages/field_lines.py")
    at.slider(key="n_lines").set_value(16).run()
    no_errors(at)
    assert sum(case_counts(_lines_fig(at)).values()) == 16


def test_L_slider_and_the_L_30_button():
    at = app_test("app/pages/field_lines.py")
    at.slider(key="L").set_value(12.0).run()
    no_errors(at)
    fig = _lines_fig(at)
    assert trace(fig, "plate Q")["name"] == "plate Q (z = L = 12)"
    assert fig["layout"]["scene"]["xaxis"]["range"][1] > 12
    next(b for b in at.sidebar.button if b.label == "L = 30").click().run()
    assert at.session_state["L"] == 30.0
    assert trace(_lines_fig(at), "plate Q")["name"] == "plate Q (z = L = 30)"


def test_forward_only_starts_leave_towards_q():
    at = app_test("app/pages/field_lines.py")
    at.button_group(key="sides").set_value("forward").run()
    no_errors(at)
    fig = _lines_fig(at)
    assert sum(case_counts(fig).values()) == 8
    for case in case_counts(fig):
        z = decode(trace(fig, case)["x"])  # plot x is z; lines separated by NaN
        starts = np.concatenate([[0], np.flatnonzero(np.isnan(z[:-1])) + 1])
        starts = starts[np.abs(z[starts]) < 0.01]  # true starts, next to P (a line cut by the view box re-enters elsewhere)
        assert starts.size and np.all(z[starts + 1] >= z[starts] - 1e-6)


def test_arrows_cloud_and_sigma():
    at = app_test("app/pages/field_lines.py")
    at.toggle(key="cones").set_value(True).run()
    at.toggle(key="cloud").set_value(True).run()
    no_errors(at)
    fig = _lines_fig(at)
    assert trace(fig, "direction")["type"] == "cone"
    cloud = trace(fig, "training points")
    z0 = decode(cloud["x"])
    assert np.all((z0 >= 0) & (z0 <= 6))
    spread0 = np.std(decode(cloud["z"]))
    at.slider(key="sigma").set_value(2.0).run()
    assert np.std(decode(trace(_lines_fig(at), "training points")["z"])) > spread0


def test_d1_gives_a_flat_picture_and_presets_change_the_scene():
    at = app_test("app/pages/field_lines.py")
    at.sidebar.button_group(key="D").set_value(1).run()
    no_errors(at)
    fig = _lines_fig(at)
    assert {t["type"] for t in fig["data"]} == {"scatter"}
    assert fig["layout"]["xaxis"]["title"]["text"] == "z"
    at.sidebar.selectbox(key="preset").set_value("capacitor").run()
    no_errors(at)
    assert at.session_state["p_toy"] == "uniform_disc" and at.session_state["L"] == 1.0
    assert trace(_lines_fig(at), "plate Q")["name"] == "plate Q (z = L = 1)"


def test_probe_moves_where_the_slice_is_clicked():
    at = app_test("app/pages/field_lines.py")
    select(at, "probe_fig_0", [{"x": 2.0, "y": -1.5, "curve_number": 1, "point_index": 0}])
    no_errors(at)
    assert at.session_state["probe"] == (-1.5, 0.0, 2.0)
    fig = chart(at, "click to probe")
    assert decode(trace(fig, "probe")["x"]).tolist() == [2.0]
    assert any("x₁ = -1.50" in m.value and "z = 2.00" in m.value for m in at.markdown)
    assert at.query_params["probe"] == "-1.5:0:2"  # the link carries the probe
    # E, E+ and E- at the probe as lines of text that wrap to their column (a table's third column was cut at 1000 px)
    lines = next(m.value for m in at.markdown if m.value.startswith("- **E (total)**")).split("\n")
    assert [line.split("**")[1] for line in lines] == ["E (total)", "E⁺ (P)", "E⁻ (Q)"] and not at.table and not at.dataframe
    probe = exact.probe(exact.scene_charges(2, "gaussian", "two_gaussians", 32, 0, None, None), 6.0, (-1.5, 0.0, 2.0))
    assert lines[0].endswith(f"; norm {np.linalg.norm(probe.E):.3e}")


def test_click_adds_a_charge_and_selection_removes_it():
    at = app_test("app/pages/field_lines.py")
    assert not at.get("file_uploader")  # the editor stays closed (and costs nothing) until asked for
    at.toggle(key="edit_open").set_value(True).run()
    select(at, "editor_0", [{"x": 1.0, "y": 2.0, "curve_number": 0, "point_index": 3}])
    no_errors(at)
    rows = at.session_state["custom_pos"]
    assert rows.shape == (33, 3) and rows[-1].tolist() == [1.0, 2.0, 1.0]
    assert trace(_lines_fig(at), "+ charges of P")["name"] == "+ charges of P (33)"
    # select two charges of P in the editor (trace 1), then press the remove button
    select(at, "editor_1", [{"x": 0, "y": 0, "curve_number": 1, "point_index": 0}, {"x": 0, "y": 0, "curve_number": 1, "point_index": 32}])
    button = next(b for b in at.button if b.label.startswith("Remove 2 selected"))
    button.click().run()
    no_errors(at)
    assert at.session_state["custom_pos"].shape == (31, 3)
    assert not np.any(np.all(at.session_state["custom_pos"] == [1.0, 2.0, 1.0], axis=1))


def test_table_edit_is_applied_and_bad_edit_is_refused():
    at = app_test("app/pages/field_lines.py")
    at.sidebar.selectbox(key="preset").set_value("paper_swiss").run()
    at.sidebar.selectbox(key="preset").set_value("hand").run()  # the callback writes the hand-built charges
    assert at.toggle(key="edit_open").value  # and opens the editor
    before = at.session_state["custom_pos"].copy()
    editor_key = state.table_key("pos", before)
    at.session_state[editor_key] = {"edited_rows": {"0": {"q": -1.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("was not applied" in e.value and "> 0" in e.value for e in at.error)
    np.testing.assert_array_equal(at.session_state["custom_pos"], before)
    at.session_state[editor_key] = {"edited_rows": {"0": {"q": 5.0}}, "added_rows": [{"x1": 0.0, "x2": 4.0, "q": 1.0}], "deleted_rows": []}
    at.run()
    no_errors(at)
    rows = at.session_state["custom_pos"]
    assert rows.shape == (3, 3) and rows[0, 2] == 5.0 and rows[2].tolist() == [0.0, 4.0, 1.0]


def test_uploads_good_and_bad():
    at = app_test("app/pages/field_lines.py")
    at.toggle(key="edit_open").set_value(True).run()
    at.file_uploader(key="upload_neg").set_value(("q.csv", b"x1,x2\n1,1\n-1,-1\n2,0\n", "text/csv")).run()
    no_errors(at)
    assert at.session_state["custom_neg"].shape == (3, 3)
    assert trace(_lines_fig(at), "− charges of Q")["name"] == "− charges of Q (3)"
    bad = io.BytesIO()
    np.save(bad, np.full((5, 2), np.nan))
    for name, data in (("bad.npy", bad.getvalue()), ("bad.csv", b"1,2\nfoo,3\n"), ("big.csv", b"1,2\n" * 5000)):
        at.file_uploader(key="upload_neg").set_value((name, data, "application/octet-stream")).run()
        assert not at.exception
        assert any("previous charges" in e.value for e in at.error), name
        assert at.session_state["custom_neg"].shape == (3, 3)  # previous state kept
    next(b for b in at.sidebar.button if b.label == "Use a toy distribution again").click().run()
    assert at.session_state["custom_neg"] is None


def test_landing_check_arrives_from_the_background():
    at = app_test("app/pages/field_lines.py")
    wait_for(at, lambda a: any(m.label == "two-sided starts" for m in a.metric))
    no_errors(at)
    values = {m.label: m.value for m in at.metric}
    scene = exact.scene_charges(2, "gaussian", "two_gaussians", 32, 0, None, None)  # the page's scene (app_test's SMALL)
    expected = large_l.landing_distances(scene, exact.landings(scene, 6.0, 64, 0))
    for kind in ("two-sided", "forward-only"):  # each distance with its noise: "0.031 ± 0.012"
        assert values[f"{kind} starts"] == f"{expected[kind]:.3f}" and expected[kind].std > 0
    hist = chart(at, "two-sided ends")
    assert [t["type"] for t in hist["data"]] in (["scatter"] * 3, ["histogram"] * 3)


@pytest.mark.parametrize("preset", sorted(state.PRESETS))
def test_every_preset_draws_without_error(preset):
    at = app_test("app/pages/field_lines.py")
    at.sidebar.selectbox(key="preset").set_value(preset).run()
    no_errors(at)
    p = state.PRESETS[preset]
    fig = _lines_fig(at)
    assert trace(fig, "plate Q")["name"] == f"plate Q (z = L = {p.L:g})"
    assert sum(case_counts(fig).values()) == 8
    assert ("scene" in fig["layout"] and "xaxis" in fig["layout"]["scene"]) == (p.D == 2)
