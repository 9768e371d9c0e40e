"""The exact scene's page pieces (Streamlit code, widgets and session state; the numbers from ``app.compute.exact``):

* ``scene_page`` / ``scene_sidebar``: the scene controls in the sidebar (preset, D, both plates, charges, seed, L);
* ``charge_editor`` (Field lines): click charges into a face-on view of the plates, select and remove them, edit each
  plate's table, upload a CSV / NPY point cloud, download the charges as CSV; rows ``(x_1, ..., x_D, q)`` are
  validated by ``app.state.check_charges`` / ``app.state.parse_upload`` and stored under ``app.state.CUSTOM_KEYS``;
* ``probe_tool`` (Field lines): the exact field on a slice (log10 |E| and its direction) that a click moves the probe
  on, and E, E+ (P) and E- (Q) at the probe as lines of text;
* ``start_picker`` (Theorem 3.1): plate P face on, a click picks the start of the lines;
* ``plate_decision`` (Theorem 3.1): E_z just in front of Q and just behind it where a line meets Q, stop or continue;
* ``landing_check`` (Field lines): where lines of both kinds of start land on Q, against the floor, in the
  background (the energy distances from ``app.compute.large_l``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import background, exports, state, ui
from app.compute import exact, large_l
from app.compute.exact import Scene, scene_charges
from app.figures import common as fc
from app.figures import exact as fe
from app.figures.common import Box, site_grid
from app.state import CUSTOM_KEYS, PRESET_LABELS, TOY_LABELS, WIDGETS


# ------------------------------------------------------------------------------------------------------ scene
def _on_preset() -> None:
    state.apply_preset(st.session_state, st.session_state["preset"])
    if st.session_state.get(CUSTOM_KEYS["pos"]) is not None:
        st.session_state["edit_open"] = True  # a hand-built preset opens the charge editor


def _set_L(value: float) -> None:
    st.session_state["L"] = value


def _drop_custom(side: str) -> None:
    st.session_state[CUSTOM_KEYS[side]] = None


def _plate_source(side: str, D: int) -> None:
    key = CUSTOM_KEYS[side]
    rows = st.session_state.get(key)
    st.session_state[key] = rows = state.fit_dimension(rows, D)
    plate = "P (+, z = 0)" if side == "pos" else "Q (−, z = L)"
    if rows is None:
        ui.select(f"{plate}: distribution", "p_toy" if side == "pos" else "q_toy", list(TOY_LABELS), TOY_LABELS)
        return
    st.markdown(f"**{plate}**: {len(rows)} hand-built / uploaded charge{'s' if len(rows) != 1 else ''}")
    st.button(
        "Use a toy distribution again", key=f"drop_{side}", on_click=_drop_custom, args=(side,),
        help="Forget the hand-built charges of this plate and sample the chosen toy distribution again.",
    )


def scene_sidebar() -> Scene | None:
    """The scene controls in the sidebar (preset, D, both plates, charges, seed, L with 6 / 30 buttons).

    Returns the scene's charges, or None (after an ``st.error``) when they cannot be built.
    """
    with st.sidebar:
        st.subheader("Scene")
        if st.session_state.get("preset") != (now := state.matching_preset(st.session_state)):
            st.session_state["preset"] = now  # a scene edited by hand reads "Custom"
        ui.select("Preset", "preset", list(PRESET_LABELS), PRESET_LABELS, on_change=_on_preset)
        D = ui.segmented("Data dimension D (1: plates are lines, 2: planes)", "D", [1, 2], {1: "1", 2: "2"})
        _plate_source("pos", D)
        _plate_source("neg", D)
        custom = {side: st.session_state.get(key) for side, key in CUSTOM_KEYS.items()}
        if any(v is None for v in custom.values()):
            ui.number("Charges per plate", "n_charges")
        ui.number("Seed", "seed")
        ui.slider("Plate distance L", "L", fmt="%.1f")
        c6, c30 = st.columns(2)
        c6.button("L = 6", on_click=_set_L, args=(6.0,),
                  help="The paper's good setting for a learned field: the exact lines stay close to where a tent "
                  "sampler puts its training points.", width="stretch")
        c30.button("L = 30", on_click=_set_L, args=(30.0,),
                   help="The paper's poor setting for a learned field. The exact map is still fine (about half the "
                   "flux leaves backwards at every L), but the lines bulge far outside where a tent sampler puts "
                   "training points, so a network taught only between the plates must guess the field there (page "
                   "Why large L is hard).", width="stretch")
        for side, rows in custom.items():
            if rows is not None and len(rows) > state.URL_MAX_CUSTOM:
                st.caption(f"{state.PLATE_NAMES[side]}: more than {state.URL_MAX_CUSTOM} hand-built charges are not "
                           "put into the link.")
    ss = st.session_state
    with ui.guard("Could not build the charges"):
        # hidden widgets: default
        value = {k: ss.get(k, WIDGETS[k].default) for k in ("p_toy", "q_toy", "n_charges", "seed")}
        return scene_charges(int(D), value["p_toy"], value["q_toy"], int(value["n_charges"]), int(value["seed"]),
                             custom["pos"], custom["neg"])
    return None


def current_L() -> float:
    return float(st.session_state.get("L", WIDGETS["L"].default))


def scene_page(title: str, caption: str) -> tuple[Scene, float, int, int]:
    """The opening of a page about the scene: title, caption, the scene sidebar; stops the page (after the sidebar's
    error) when the charges cannot be built. Returns (scene, L, D, seed)."""
    ui.page_header(title, caption)
    scene = scene_sidebar()
    if scene is None:
        st.stop()
    return scene, current_L(), scene.D, int(st.session_state["seed"])



# ---------------------------------------------------------------------------------------------- charge editor
SITES = 25  # clickable sites per axis of the face-on view


def charge_editor(scene: Scene, box: Box) -> None:
    """The whole editor for ``scene`` (its charges as the starting rows), sites spread over ``box``."""
    D = scene.D
    st.markdown(
        "Click a grey dot to add a charge there; select charges (click, box or lasso) and remove them; edit the "
        "tables; or upload a CSV / NPY point cloud (one charge per row: coordinates, then an optional charge "
        "magnitude). Each plate's magnitudes are scaled to total charge 1 (P: +1, Q: −1)."
    )
    rows = {}
    for side, pts, w in (("pos", scene.pos, scene.pos_w), ("neg", scene.neg, scene.neg_w)):
        custom = st.session_state.get(CUSTOM_KEYS[side])
        rows[side] = custom if custom is not None else np.concatenate([pts, (w * len(w))[:, None]], axis=1)
    _click_view(rows, D, box)
    t1, t2 = st.columns(2)
    for col, side in ((t1, "pos"), (t2, "neg")):
        with col:
            _plate_table(side, rows[side], D)
            _plate_files(side, rows[side], D)


def _sites(box: Box, D: int) -> np.ndarray:
    """Clickable sites (G, 2) in plot coordinates: a grid over the box face on (D = 2), or a row per plate (D = 1)."""
    lo, hi = np.asarray(box.centre) - np.asarray(box.halves), np.asarray(box.centre) + np.asarray(box.halves)
    if D == 2:
        return site_grid(lo, hi, SITES)
    xs = np.linspace(lo[0], hi[0], SITES)
    return np.concatenate([np.stack([xs, np.full(SITES, level)], axis=1) for level in (0.0, 1.0)])


def _click_view(rows: dict[str, np.ndarray], D: int, box: Box) -> None:
    """The face-on view: a click on a site adds a charge, a selection of charges can be removed."""
    ss = st.session_state
    target = st.segmented_control(
        "A click adds a charge to", ["pos", "neg"], default="pos",
        format_func=lambda s: "P (+)" if s == "pos" else "Q (−)", key="edit_target", required=True,
        help="Which plate a click on a grey dot adds a charge to (D = 1: the row you click decides).",
    )
    event = st.plotly_chart(
        fe.plate_editor_figure(rows["pos"], rows["neg"], _sites(box, D)), key=ui.chart_key("editor"), on_select="rerun",
        selection_mode=("points", "box", "lasso"), theme=None,
    )

    def _add_or_select(selection: dict) -> bool:
        added = False
        chosen = {"pos": [], "neg": []}
        sites = [p for p in selection["points"] if p.get("curve_number", p.get("curveNumber")) == 0]
        for p in selection["points"]:
            curve = p.get("curve_number", p.get("curveNumber"))
            if curve == 0 and len(sites) == 1:  # a click on one grey dot adds; a box over many dots does not
                side = ("pos" if p["y"] < 0.5 else "neg") if D == 1 else (target or "pos")
                new = np.array([([p["x"], p["y"]] if D == 2 else [p["x"]]) + [1.0]])
                with ui.guard("Could not add the charge"):
                    ss[CUSTOM_KEYS[side]] = state.check_charges(np.concatenate([rows[side], new]), D,
                                                                state.PLATE_NAMES[side])
                    rows[side] = ss[CUSTOM_KEYS[side]]
                    added = True
            elif curve in (1, 2):
                chosen["pos" if curve == 1 else "neg"].append(int(p.get("point_index", p.get("pointIndex", 0))))
        ss["_editor_selected"] = chosen
        return added

    ui.consume_selection("editor", event, _add_or_select)
    _remove_button(rows)


def _remove_button(rows: dict[str, np.ndarray]) -> None:
    """Remove the charges selected in the face-on view (a plate keeps at least one)."""
    ss = st.session_state
    chosen = ss.get("_editor_selected") or {"pos": [], "neg": []}
    n_chosen = len(chosen["pos"]) + len(chosen["neg"])

    def _remove_selected() -> None:
        for side in ("pos", "neg"):
            if chosen[side]:
                keep = np.setdiff1d(np.arange(len(rows[side])), chosen[side])
                if keep.size == 0:
                    ss["_editor_error"] = (f"{state.PLATE_NAMES[side]} needs at least one charge; not all can be "
                                           "removed.")
                    continue
                ss[CUSTOM_KEYS[side]] = rows[side][keep]
        ss["_editor_selected"] = None
        ss["_editor_version"] = ss.get("_editor_version", 0) + 1

    st.button(
        f"Remove {n_chosen} selected charge{'s' if n_chosen != 1 else ''}", disabled=n_chosen == 0,
        on_click=_remove_selected,
        help="Select charges in the picture above (click one, or drag a box / lasso), then remove them.",
    )
    if ss.get("_editor_error"):
        st.error(ss.pop("_editor_error"))


def _plate_table(side: str, rows: np.ndarray, D: int) -> None:
    """The editable table of one plate's charges; a valid edit replaces the plate's charges and reruns."""
    st.markdown(f"**{state.PLATE_NAMES[side]}**")
    base = pd.DataFrame(rows, columns=[f"x{i + 1}" for i in range(D)] + ["q"])
    edited = st.data_editor(
        base, num_rows="dynamic", key=state.table_key(side, rows), height=220,
        column_config={"q": st.column_config.NumberColumn(
            "q", help="Charge magnitude (> 0); the plate's sign is fixed.", min_value=0.0)},
    )
    changed = edited.shape != base.shape or not np.allclose(edited.to_numpy(dtype=float), base.to_numpy(),
                                                            equal_nan=True)
    if changed:
        new_rows = None
        with ui.guard(f"The table of {state.PLATE_NAMES[side]} was not applied"):
            new_rows = state.check_charges(edited.dropna(how="all").to_numpy(dtype=float), D, "the table")
        if new_rows is not None:
            st.session_state[CUSTOM_KEYS[side]] = new_rows
            st.rerun()


def _plate_files(side: str, rows: np.ndarray, D: int) -> None:
    """Upload a point cloud for one plate (CSV or NPY) and download its charges as CSV."""
    ss = st.session_state

    def _on_upload() -> None:
        up = ss.get(f"upload_{side}")
        if up is None:
            return
        try:
            ss[CUSTOM_KEYS[side]] = state.parse_upload(up.name, up.getvalue(), int(ss.get("D", 2)))
        except ValueError as err:
            ss[f"_upload_error_{side}"] = str(err)

    letter = "P" if side == "pos" else "Q"
    st.file_uploader(
        f"Upload charges for {letter} (CSV or NPY)", type=["csv", "txt", "npy"], key=f"upload_{side}",
        on_change=_on_upload,
        help=f"One charge per row: {D} coordinate(s), then an optional magnitude > 0. At most {state.MAX_CHARGES} "
        "rows.",
    )
    if ss.get(f"_upload_error_{side}"):
        st.error(ss.pop(f"_upload_error_{side}") + " The plate keeps its previous charges.")
    st.download_button(
        f"Download {letter} charges (CSV)", state.charges_csv(rows), file_name=f"charges_{side}.csv",
        mime="text/csv", key=f"dl_charges_{side}", help="The charges as a CSV you can edit and upload again.",
    )


# --------------------------------------------------------------------------------------- probe and start picker
def probe_tool(scene: exact.Scene, L: float, box: fc.Box) -> None:
    """The slice x2 = (a slider) through ``box`` with the probe on it, and the field at the probe: a fragment, so a
    click on the slice or a new slice reruns only this tool (and writes the probe into the link), not the page."""

    @st.fragment
    def tool() -> None:
        _probe(scene, L, box)
        ui.sync_url()

    tool()


def _probe(scene: exact.Scene, L: float, box: fc.Box) -> None:
    ss, D = st.session_state, scene.D
    y_slice = float(ui.slider("Slice at x₂ =", "probe_y", fmt="%.1f")) if D == 2 else 0.0
    probe_point = ss.get("probe")
    if probe_point is None or len(probe_point) != D + 1:
        probe_point = (box.centre[0],) + ((y_slice,) if D == 2 else ()) + (L / 2,)
    if D == 2 and probe_point[1] != y_slice:
        probe_point = (probe_point[0], y_slice, probe_point[2])
    pc1, pc2 = st.columns([3, 2])
    with pc1:
        sl = None
        with ui.guard("Could not compute the field on the slice"):
            sl = exact.field_slice(scene, L, y_slice, (box.z_lo, box.z_hi), box.ranges()[1])
        if sl is not None:
            near = exact.near_slice(scene, L, y_slice)
            slice_fig = fe.slice_figure(sl.z, sl.x, sl.log10_norm, sl.direction, L, near,
                                        (probe_point[-1], probe_point[0]))

            def _move_probe(selection: dict) -> bool:
                p = selection["points"][0]
                ss["probe"] = (float(p["y"]),) + ((y_slice,) if D == 2 else ()) + (float(p["x"]),)
                return True

            event = ui.chart(slice_fig, key=ui.chart_key("probe_fig"),
                             on_select=ui.on_selection("probe_fig", _move_probe), selection_mode="points")
            ui.consume_selection("probe_fig", event, _move_probe)
    with pc2:
        with ui.guard("Could not evaluate the field at the probe"):
            pr = exact.probe(scene, L, tuple(float(v) for v in probe_point))
            names = [f"x{ui.subscript(i + 1)}" for i in range(D)] + ["z"]
            st.markdown("Probe at (" + ", ".join(f"{n} = {v:.2f}" for n, v in zip(names, probe_point, strict=True))
                        + "). Click the slice to move it.")
            # lines, not a table: a table's third column was cut at 1000 px
            rows = (("E (total)", pr.E), ("E⁺ (P)", pr.E_pos), ("E⁻ (Q)", pr.E_neg))
            st.markdown("\n".join(
                f"- **{label}**: " + ", ".join(f"{n} {x:.3e}" for n, x in zip(names, v, strict=True))
                + f"; norm {np.linalg.norm(v):.3e}" for label, v in rows))
            verdict = "towards Q (+z)" if pr.E[-1] > 0 else "away from Q (−z)"
            st.markdown(
                f"$\\log_{{10}}|E| = {pr.log10_norm:.2f}$. The z components: ${ui.tex_number(pr.E_pos[-1])}$ from P "
                f"($E_z^+$, P pushes) and ${ui.tex_number(pr.E_neg[-1])}$ from Q ($E_z^-$, Q pulls); their sum points "
                f"{verdict}."
            )


def start_picker(scene: exact.Scene, start: tuple[float, ...]) -> None:
    """Plate P face on with clickable sites around its charges; a click stores the new start in ``thm_start``."""
    D = scene.D
    st.markdown("**Pick the start** (click a grey dot on P, seen face on):")
    lo, hi = scene.pos.min(0) - 1.0, scene.pos.max(0) + 1.0
    grid = fc.site_grid(lo, hi, 25) if D == 2 else np.stack([np.linspace(lo[0], hi[0], 41), np.zeros(41)], axis=1)

    def _pick(selection: dict) -> bool:
        p = selection["points"][0]
        st.session_state["thm_start"] = (float(p["x"]), float(p["y"])) if D == 2 else (float(p["x"]),)
        return True

    event = ui.chart(
        fe.start_picker_figure(scene.pos, grid, np.asarray(start)), key=ui.chart_key("thm_picker"),
        on_select=ui.on_selection("thm_picker", _pick), selection_mode="points",
    )
    ui.consume_selection("thm_picker", event, _pick)


# ------------------------------------------------------------------------------------ Theorem 3.1's plate rule
def plate_decision(line: exact.SingleLine, which: str) -> None:
    """Where the ``which`` line ("forward" / "backward") of ``line`` first meets the Q plate: the total E_z just in
    front of the plate and just behind it, the stop / continue verdict, and behind the plate P's and Q's parts."""
    decision = line.decision[which]
    if decision is None:
        st.markdown(f"This line never meets the Q plate (its case: **{line.cases[which]}**), so no decision is taken "
                    "there.")
        return
    st.markdown("Where the line first meets the Q plate, the total field just in front of the plate and just behind "
                f"it (±{line.delta:.3g}):")
    st.latex(rf"E_z(L^-) = {ui.tex_number(decision.front)}")
    st.latex(rf"E_z(L^+) = {ui.tex_number(decision.behind)}")
    if decision.front * decision.behind <= 0:
        st.success(
            "**Opposite signs**: the field points into the plate from both sides, so the plate absorbs the line here. "
            "The line **stops**: it ends on Q here."
        )
    else:
        st.warning(
            "**Same sign**: the field passes through the plate here. The line **continues**, turns round "
            "on the other side of Q and lands on it later."
        )
    st.markdown("Behind the plate the total is P's push plus Q's pull:")
    p, q = ui.tex_number(decision.behind_pos), ui.tex_number(decision.behind_neg)
    # two rows: one was cut in a narrow column
    st.latex(rf"\begin{{aligned}} E_z(L^+) &= \underbrace{{{p}}}_{{E_z^+\ (P)}} \\ "
             rf"&\quad + \underbrace{{{q}}}_{{E_z^-\ (Q)}} \end{{aligned}}")


# ---------------------------------------------------------------------------------------------- landing check
def landing_check(scene: Scene, L: float, K: int, seed: int) -> None:
    """Field lines' landing check: ``K`` lines of each kind of start (two-sided, forward-only) traced to Q in the
    background, then their energy distance to Q's charges against its floor, the landing points and a download."""
    job_key = ("landings", scene.key, L, K, seed)
    job = background.submit("landings", {job_key: (exact.landings, (scene, L, K, seed))})[job_key]

    def waiting(done: int, total: int) -> None:
        st.info(f"Tracing {K} lines of each kind of start to Q, in the background… (the picture on the left is up to "
                "date)")

    def draw(ready: list) -> None:
        _landing(scene, ready[0][1], K, seed)

    ui.background_panel([job], 0.5, "The landing check", waiting, draw)


def _landing(scene: Scene, land: exact.Landings, K: int, seed: int) -> None:
    distance, floor = large_l.landing_distances(scene, land), large_l.landing_floor(scene, K, seed)
    st.markdown(f"**Energy distance of the landing points to Q's charges** — floor {floor[0]:.3f}: the value for {K} "
                f"points drawn from Q's charges themselves (95 % of such draws are below {floor[1]:.3f}); ± is one "
                f"standard deviation over bootstrap resamples of the {K} landing points")
    for name in ("two-sided", "forward-only"):  # one a row: side by side, "0.031 ± 0.012" was cut in this column
        ed = distance[name]
        st.metric(
            f"{name} starts", "—" if np.isnan(ed.value) else f"{ed:.3f}",
            help="Energy distance (V-statistic: the estimator over all pairs of points, never negative) between the "
            "end points and Q's charges, ± its noise. At or below the floor: indistinguishable from Q with this many "
            "lines. Two-sided starts (the side drawn in proportion to the flux) reproduce Q at every L; forward-only "
            "starts drop the backward flux.",
        )
    if scene.D == 2:
        ui.chart(fe.landing_scatter(scene.neg, land.ends), key="landing_fig")
    ui.chart(fe.landing_histogram(scene.neg, land.ends), key="landing_hist")
    lost = {k: v.count("lost") for k, v in land.cases.items()}
    st.caption(
        f"{K} lines of each kind from P's charges ({land.seconds:.1f} s): two-sided = directions uniform on the "
        "sphere (each carries the same flux), forward-only = the same directions turned towards Q. **Lost** lines "
        f"(the tracer gave up before they reached Q) are left out: two-sided {lost['two-sided']}, forward-only "
        f"{lost['forward-only']}."
    )
    st.download_button(
        "Landing points (CSV)", lambda: exports.points_csv(land.ends), file_name="landing_points.csv", mime="text/csv",
        key="dl_landings", help="End points on Q of both kinds of start (kind, x1..xD).",
    )
