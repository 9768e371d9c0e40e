"""Page "Field lines": both plates and their charges, field lines coloured by Theorem 3.1 case, where they land on
Q (forward-only vs two-sided starts), a probe of E on a slice, and building the charges by hand."""

import numpy as np
import pandas as pd
import streamlit as st

from app import background, compute, exports, figures, state, ui
from app.state import CUSTOM_KEYS

PNG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
SIDES = {"both": "Two-sided (flux)", "forward": "Forward only"}

st.title("Field lines between the plates")
st.caption(
    "P's samples are positive charges on the plate z = 0 (red), Q's samples negative charges on z = L (blue). "
    "Follow the electric field from a P charge and you arrive on Q: that is how EFM carries P to Q."
)
scene = ui.scene_sidebar()
if scene is None:
    st.stop()
ss = st.session_state
L, D, seed = ui.current_L(), scene.D, int(ss["seed"])

c1, c2, c3, c4, c5 = st.columns([3, 4, 2, 3, 3], vertical_alignment="bottom")
with c1:
    n_lines = int(ui.slider("Number of lines", "n_lines"))
with c2:
    sides = ui.segmented("Starts of the drawn lines", "sides", list(SIDES), SIDES)
with c3:
    cones = ui.toggle("Arrows", "cones")
with c4:
    cloud_on = ui.toggle("Training cloud", "cloud")
with c5:
    sigma = float(ui.slider("Noise σ", "sigma", disabled=not cloud_on))

lines = None
with ui.guard("Could not trace the field lines"), st.spinner("Tracing field lines…"):
    lines = compute.field_lines(scene, L, n_lines, seed, sides)
if lines is None:
    st.stop()
cloud = None
if cloud_on:
    with ui.guard("Could not draw the training points"):
        cloud = compute.training_cloud(scene, L, sigma, 600, seed)

left, right = st.columns([3, 2])
with left:
    fig = figures.field_lines_figure(scene.pos, scene.neg, L, lines.paths, lines.cases, pos_weights=scene.pos_w, neg_weights=scene.neg_w, cones=cones, cloud=cloud)
    st.plotly_chart(fig, key="lines_fig", theme=None, config=PNG)
    cols = st.columns(len(figures.CASE_STYLE))
    for col, (case, style) in zip(cols, figures.CASE_STYLE.items(), strict=True):
        col.metric(case, f"{lines.cases.count(case)}", help=style.label)
    st.caption(f"{len(lines.paths)} lines traced in {lines.seconds:.2f} s.")

with right:
    st.subheader("Where the lines land on Q")
    K = int(ui.slider("Landing points per kind of start", "land_k"))
    landing_slot = st.container()  # filled at the end of the script, so the background job starts after the page is drawn

ui.explain(
    "Every line leaves a red charge and ends on a blue one. **Front** lines (purple) go straight across. **Behind** lines "
    "(orange) slip through a gap between Q's charges, turn round and land on Q from behind. **Backward** lines (green) "
    "leave P away from Q and loop round the outside. Press ▶ Play to move a point along every line. Change L: at L = 6 "
    "most lines cross directly; at L = 30 the plates look like two point charges to each other and many lines loop.",
    "EFM moves a sample of P along its field line and reads off where it lands on Q (Theorem 3.1). Lines that leave P "
    "on both sides, in proportion to the flux, land on Q's charges in proportion to their charge (Gauss's law): the "
    "two-sided energy distance on the right stays near 0. A sampler that only moves forward (as a network trained "
    "between the plates does) misses the backward flux; change L and watch how much that costs.",
    [
        r"E(x) = \sum_i \frac{q_i\,(x - x_i)}{S_D\,\lVert x - x_i\rVert^{D+1}},\qquad q_i = +\tfrac1N \text{ on } P,\; -\tfrac1M \text{ on } Q",
        r"\frac{dx}{ds} = \frac{E(x)}{\lVert E(x)\rVert}\quad\text{(a field line, in arc length } s\text{)}",
    ],
)

# ------------------------------------------------------------------------------------------------------- probe
st.subheader("Probe the field")
box = figures.view_box(scene.pos, scene.neg, L)
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
        sl = compute.field_slice(scene, L, y_slice, (box.z_lo, box.z_hi), box.ranges()[1])
    if sl is not None:
        near = {}
        for side, pts, z in (("pos", scene.pos, 0.0), ("neg", scene.neg, L)):
            keep = np.abs(pts[:, 1] - y_slice) < 0.5 if D == 2 else np.ones(len(pts), bool)
            near[side] = np.stack([np.full(keep.sum(), z), pts[keep, 0]], axis=1)
        slice_fig = figures.slice_figure(sl.z, sl.x, sl.log10_norm, sl.direction, L, near, (probe_point[-1], probe_point[0]))
        event = st.plotly_chart(slice_fig, key=ui.chart_key("probe_fig"), on_select="rerun", selection_mode="points", theme=None, config=PNG)

        def _move_probe(selection: dict) -> bool:
            p = selection["points"][0]
            ss["probe"] = (float(p["y"]),) + ((y_slice,) if D == 2 else ()) + (float(p["x"]),)
            return True

        ui.consume_selection("probe_fig", event, _move_probe)
with pc2:
    with ui.guard("Could not evaluate the field at the probe"):
        pr = compute.probe(scene, L, tuple(float(v) for v in probe_point))
        names = [f"x{i + 1}" for i in range(D)] + ["z"]
        st.markdown("Probe at (" + ", ".join(f"{n} = {v:.2f}" for n, v in zip(names, probe_point, strict=True)) + "). Click the slice to move it.")
        table = pd.DataFrame(
            {label: list(v) + [float(np.linalg.norm(v))] for label, v in (("E (total)", pr.E), ("E₊ (P)", pr.E_pos), ("E₋ (Q)", pr.E_neg))},
            index=[f"{n} component" for n in names] + ["norm |·|"],
        )
        st.dataframe(table.style.format("{:.3e}"), width="stretch")
        verdict = "towards Q (+z)" if pr.E[-1] > 0 else "away from Q (−z)"
        st.markdown(
            f"log₁₀|E| = {pr.log10_norm:.2f}. The z components: E_z⁺ = {pr.E_pos[-1]:.3e} (P pushes), "
            f"E_z⁻ = {pr.E_neg[-1]:.3e} (Q pulls); their sum points {verdict}."
        )

# ------------------------------------------------------------------------------------------ charges by hand
if st.toggle(
    "Build the charges yourself: click, edit, upload", key="edit_open",
    help="Show the editor: a face-on view of the plates to click charges into, a table per plate, uploads and downloads.",
):
    st.markdown(
        "Click a grey dot to add a charge there; select charges (click, box or lasso) and remove them; edit the tables; "
        "or upload a CSV / NPY point cloud (one charge per row: coordinates, then an optional charge magnitude). "
        "Each plate's magnitudes are scaled to total charge 1 (P: +1, Q: −1)."
    )
    rows = {}
    for side, pts, w in (("pos", scene.pos, scene.pos_w), ("neg", scene.neg, scene.neg_w)):
        custom = ss.get(CUSTOM_KEYS[side])
        rows[side] = custom if custom is not None else np.concatenate([pts, (w * len(w))[:, None]], axis=1)
    target = st.segmented_control(
        "A click adds a charge to", ["pos", "neg"], default="pos", format_func=lambda s: "P (+)" if s == "pos" else "Q (−)",
        key="edit_target", required=True, help="Which plate a click on a grey dot adds a charge to (D = 1: the row you click decides).",
    )
    c0, h0 = box.centre, box.halves
    ticks = np.linspace(-1.0, 1.0, 25)
    if D == 2:
        gx, gy = np.meshgrid(c0[0] + h0[0] * ticks, c0[1] + h0[1] * ticks)
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    else:
        grid = np.concatenate([np.stack([c0[0] + h0[0] * ticks, np.full(25, level)], axis=1) for level in (0.0, 1.0)])
    editor_event = st.plotly_chart(
        figures.plate_editor_figure(rows["pos"], rows["neg"], grid), key=ui.chart_key("editor"), on_select="rerun",
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
                coords = [p["x"], p["y"]] if D == 2 else [p["x"]]
                new = np.array([coords + [1.0]])
                base = rows[side]
                with ui.guard("Could not add the charge"):
                    ss[CUSTOM_KEYS[side]] = state.check_charges(np.concatenate([base, new]), D, state.PLATE_NAMES[side])
                    rows[side] = ss[CUSTOM_KEYS[side]]
                    added = True
            elif curve in (1, 2):
                chosen["pos" if curve == 1 else "neg"].append(int(p.get("point_index", p.get("pointIndex", 0))))
        ss["_editor_selected"] = chosen
        return added

    ui.consume_selection("editor", editor_event, _add_or_select)
    chosen = ss.get("_editor_selected") or {"pos": [], "neg": []}
    n_chosen = len(chosen["pos"]) + len(chosen["neg"])

    def _remove_selected() -> None:
        for side in ("pos", "neg"):
            if chosen[side]:
                keep = np.setdiff1d(np.arange(len(rows[side])), chosen[side])
                if keep.size == 0:
                    ss["_editor_error"] = f"{state.PLATE_NAMES[side]} needs at least one charge; not all can be removed."
                    continue
                ss[CUSTOM_KEYS[side]] = rows[side][keep]
        ss["_editor_selected"] = None
        ss["_editor_version"] = ss.get("_editor_version", 0) + 1

    st.button(
        f"Remove {n_chosen} selected charge{'s' if n_chosen != 1 else ''}", disabled=n_chosen == 0, on_click=_remove_selected,
        help="Select charges in the picture above (click one, or drag a box / lasso), then remove them.",
    )
    if ss.get("_editor_error"):
        st.error(ss.pop("_editor_error"))

    t1, t2 = st.columns(2)
    for col, side in ((t1, "pos"), (t2, "neg")):
        with col:
            st.markdown(f"**{state.PLATE_NAMES[side]}**")
            names = [f"x{i + 1}" for i in range(D)] + ["q"]
            base = pd.DataFrame(rows[side], columns=names)
            edit_key = state.table_key(side, rows[side])
            edited = st.data_editor(
                base, num_rows="dynamic", key=edit_key, height=220,
                column_config={"q": st.column_config.NumberColumn("q", help="Charge magnitude (> 0); the plate's sign is fixed.", min_value=0.0)},
            )
            changed = edited.shape != base.shape or not np.allclose(edited.to_numpy(dtype=float), base.to_numpy(), equal_nan=True)
            if changed:
                filled = edited.dropna(how="all")
                new_rows = None
                with ui.guard(f"The table of {state.PLATE_NAMES[side]} was not applied"):
                    new_rows = state.check_charges(filled.to_numpy(dtype=float), D, "the table")
                if new_rows is not None:
                    ss[CUSTOM_KEYS[side]] = new_rows
                    st.rerun()

            def _on_upload(side: str = side) -> None:
                up = ss.get(f"upload_{side}")
                if up is None:
                    return
                try:
                    ss[CUSTOM_KEYS[side]] = state.parse_upload(up.name, up.getvalue(), int(ss.get("D", 2)))
                except ValueError as err:
                    ss[f"_upload_error_{side}"] = str(err)

            st.file_uploader(
                f"Upload charges for {'P' if side == 'pos' else 'Q'} (CSV or NPY)", type=["csv", "txt", "npy"], key=f"upload_{side}",
                on_change=_on_upload, help=f"One charge per row: {D} coordinate(s), then an optional magnitude > 0. At most {state.MAX_CHARGES} rows.",
            )
            if ss.get(f"_upload_error_{side}"):
                st.error(ss.pop(f"_upload_error_{side}") + " The plate keeps its previous charges.")
            st.download_button(
                f"Download {'P' if side == 'pos' else 'Q'} charges (CSV)", state.charges_csv(rows[side]), file_name=f"charges_{side}.csv",
                mime="text/csv", key=f"dl_charges_{side}", help="The charges as a CSV you can edit and upload again.",
            )

# ---------------------------------------------------------------------------------------------------- exports
st.subheader("Export")
e1, e2 = st.columns(2)
e1.download_button(
    "Lines (CSV)", lambda: exports.lines_csv(lines.paths, lines.cases), file_name="field_lines.csv", mime="text/csv", key="dl_lines",
    help="Every drawn line as a polyline: line id, its Theorem 3.1 case, point index and coordinates (z last).",
)
e2.download_button(
    "End points of the lines (CSV)", lambda: exports.endpoints_csv(lines.paths, lines.cases), file_name="end_points.csv",
    mime="text/csv", key="dl_ends", help="Start and end point and case of every drawn line.",
)
st.caption("The pictures download as PNG from the camera icon in each chart's toolbar.")

# ------------------------------------------------------------------------------------------ landing check (last)
job_key = ("landings", scene.key, L, K, seed)
job = background.submit("landings", {job_key: (compute.landings, (scene, L, K, seed))})[job_key]
pending = not job.done()


@st.fragment(run_every=0.5 if pending else None)
def landing_panel() -> None:
    if not job.done():
        st.info(f"Tracing {K} lines of each kind of start to Q, in the background… (the picture on the left is up to date)")
        return
    if pending:  # finished while this fragment was polling: one full rerun draws it without the timer
        st.rerun()
    if job.exception() is not None:
        st.error(f"The landing check failed: {job.exception()}")
        return
    land = job.result()
    st.markdown("**Energy distance of the landing points to Q's charges** (0: the same distribution)")
    m1, m2 = st.columns(2)
    for col, name in ((m1, "two-sided"), (m2, "forward-only")):
        ed = land.distance[name]
        col.metric(
            f"{name} starts", "—" if np.isnan(ed) else f"{ed:.3f}",
            help="Energy distance between the end points and Q's charges (unbiased estimate: it scatters around 0 "
            "when the end points follow Q). Two-sided starts (the side drawn in proportion to the flux) reproduce Q; "
            "forward-only starts do not.",
        )
    if D == 2:
        st.plotly_chart(figures.landing_scatter(scene.neg, land.ends), key="landing_fig", theme=None, config=PNG)
    st.plotly_chart(figures.landing_histogram(scene.neg, land.ends), key="landing_hist", theme=None, config=PNG)
    lost = {k: v.count("lost") for k, v in land.cases.items()}
    st.caption(
        f"{K} lines of each kind from P's charges ({land.seconds:.1f} s): two-sided = directions uniform on the sphere "
        f"(each carries the same flux), forward-only = the same directions turned towards Q. Lines that never reached Q are left out: "
        f"two-sided {lost['two-sided']}, forward-only {lost['forward-only']}."
    )
    st.download_button(
        "Landing points (CSV)", lambda: exports.points_csv(land.ends), file_name="landing_points.csv", mime="text/csv",
        key="dl_landings", help="End points on Q of both kinds of start (kind, x1..xD).",
    )


with landing_slot:
    landing_panel()
