"""Page "Field lines": both plates and their charges, field lines coloured by Theorem 3.1 case, where they land on
Q (forward-only vs two-sided starts), a probe of E on a slice, and building the charges by hand."""

import streamlit as st

from app import exports, ui
from app.components.exact import charge_editor, landing_check, probe_tool, scene_page
from app.compute import exact
from app.figures import common as fc
from app.figures import exact as fe

SIDES = {"both": "Two-sided (flux)", "forward": "Forward only"}

scene, L, D, seed = scene_page(
    "Field lines between the plates",
    "P's samples are positive charges on the plate z = 0 (red), Q's samples negative charges on z = L (blue). "
    "Follow the electric field from a P charge and you arrive on Q: that is how EFM carries P to Q.",
)
ui.glossary(["P and Q", "field line", "flux", "Theorem 3.1", "lost", "energy distance", "V-statistic", "floor", "tent sampler", "S_D"])

c1, c2 = st.columns(2, vertical_alignment="bottom")  # two rows: five controls in one cut their labels at 1000 px
with c1:
    n_lines = int(ui.slider("Number of lines", "n_lines"))
with c2:
    sides = ui.segmented("Starts of the drawn lines", "sides", list(SIDES), SIDES)
c3, c4, c5 = st.columns(3, vertical_alignment="bottom")
with c3:
    cones = ui.toggle("Arrows", "cones")
with c4:
    cloud_on = ui.toggle("Training cloud", "cloud")
with c5:
    sigma = float(ui.slider("Noise σ", "sigma", disabled=not cloud_on))

lines = None
with ui.guard("Could not trace the field lines"), st.spinner("Tracing field lines…"):
    lines = exact.field_lines(scene, L, n_lines, seed, sides)
if lines is None:
    st.stop()
cloud = None
if cloud_on:
    with ui.guard("Could not draw the training points"):
        cloud = exact.training_cloud(scene, L, sigma, 600, seed)

left, right = st.columns([3, 2])
with left:
    fig = fe.field_lines_figure(scene.pos, scene.neg, L, lines.paths, lines.cases, pos_weights=scene.pos_w, neg_weights=scene.neg_w, cones=cones, cloud=cloud)
    ui.chart(fig, key="lines_fig")
    cols = [*st.columns(2), *st.columns(2)]  # two rows: four a row cut "backward" at 1000 px
    for col, (case, style) in zip(cols, fc.CASE_STYLE.items(), strict=True):
        col.metric(case, f"{lines.cases.count(case)}", help=style.label)
    st.caption(f"{len(lines.paths)} lines traced in {lines.seconds:.2f} s.")

with right:
    st.subheader("Where the lines land on Q")
    K = int(ui.slider("Landing points per kind of start", "land_k"))
    landing_slot = st.container()  # filled at the end of the script, so the background job starts after the page is drawn

ui.explain(
    "Every line leaves a red charge and ends on a blue one. **Front** lines (purple) go straight across. **Behind** lines "
    "(orange) slip through a gap between Q's charges, turn round and land on Q from behind. **Backward** lines (green) "
    "leave P away from Q and loop round the outside. Press ▶ Play to move a point along every line. Change L: about "
    "half of the flux leaves P backwards at every L; as L grows fewer lines pass behind Q, and the forward lines bulge "
    "further out sideways before they reach it.",
    "EFM moves a sample of P along its field line and reads off where it lands on Q (Theorem 3.1). Lines that leave P "
    "on both sides, in proportion to the flux, land on Q's charges in proportion to their charge (Gauss's law): the "
    "two-sided energy distance on the right stays at or below its floor (the spread of as many points drawn from Q's charges at random). Forward-only starts drop the backward flux (about "
    "half of it at every L on the paper's toy): they land worst near L = 6 and within noise at L = 30. What makes a "
    "large L hard for a learned field is elsewhere: the lines bulge far outside where a network is taught (page "
    "**Why large L is hard**).",
    [
        r"E(x) = \sum_i \frac{q_i\,(x - x_i)}{S_D\,\lVert x - x_i\rVert^{D+1}},\qquad q_i = +\tfrac1N \text{ on } P,\; -\tfrac1M \text{ on } Q",
        r"\frac{dx}{ds} = \frac{E(x)}{\lVert E(x)\rVert}\quad\text{(a field line, in arc length } s\text{)}",
    ],
)

# ------------------------------------------------------------------------------------------------------- probe
st.subheader("Probe the field")
box = fc.view_box(scene.pos, scene.neg, L)
probe_tool(scene, L, box)

# ------------------------------------------------------------------------------------------ charges by hand
if st.toggle(
    "Build the charges yourself: click, edit, upload", key="edit_open",
    help="Show the editor: a face-on view of the plates to click charges into, a table per plate, uploads and downloads.",
):
    charge_editor(scene, box)

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

with landing_slot:
    landing_check(scene, L, K, seed)
