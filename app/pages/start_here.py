"""Page "Start here" (the default page): EFM in five short steps, each a small live view with one sentence, one
control and a link to the page that goes deeper; then EFM beside diffusion, flow matching and PFGM."""

import numpy as np
import streamlit as st

from app import lesson, ui
from app.compute import dimensions, exact, learned, loading
from app.figures import common as fc
from app.figures import exact as fe
from app.figures import learned as fl

L = 6.0
CASES = {"front": "front", "behind": "behind", "backward": "backward"}
DIMS = (2, 8, 32, 128, 512)
HD_CHARGES = 128

ui.page_header(
    "Start here: Electrostatic Field Matching in five steps",
    "EFM (Electrostatic Field Matching, Kolesov et al., ICML 2025) moves samples of a source distribution P (noise) "
    "to a target distribution Q (data) along an electric field. Each step below is live: change its one control.",
)
ui.glossary(["EFM", "P and Q", "z", "field line", "flux", "Theorem 3.1", "lost", "D", "PFGM"])


def step(number: int, title: str, text: str) -> tuple:
    """A step's frame: its heading and sentence on the left (the control goes below), the view on the right."""
    st.divider()
    left, right = st.columns([2, 3], vertical_alignment="top")
    left.markdown(f"#### {number}. {title}")
    left.markdown(text)
    return left, right


BOX = fc.Box(-1.5 * L, 2.5 * L, (0.0,), (15.0,))  # the steps' view: the gap and the near outside


def flat_scene(n: int) -> exact.Scene:
    """Gaussian -> two Gaussians with plates as lines (D = 1): cheap to trace, easy to read."""
    return exact.scene_charges(1, "gaussian", "two_gaussians", n, 0, None, None)


# 1 ---------------------------------------------------------------------------------------------- charges and plates
left, right = step(1, "Charges on two plates", lesson.STEPS["plates"])
with left:
    n = int(ui.segmented("Charges per plate", "start_n", [8, 32, 128], {8: "8", 32: "32", 128: "128"}))
    st.page_link("app/pages/field_lines.py", label="Field lines: build your own plates", icon=":material/arrow_forward:")
scene = flat_scene(n)
ui.chart(fe.field_lines_figure(scene.pos, scene.neg, L, [], [], pos_weights=scene.pos_w, neg_weights=scene.neg_w, height=340, box=BOX), right, key="start_plates")

# 2 ---------------------------------------------------------------------------------------------------------- lines
left, right = step(2, "The field and its lines", lesson.STEPS["lines"])
with left:
    k = int(ui.slider("Field lines", "start_lines"))
    st.page_link("app/pages/field_lines.py", label="Field lines: in 3-D, with a probe of E", icon=":material/arrow_forward:")
lines = None
with ui.guard("Could not trace the field lines"):
    lines = exact.field_lines(scene, L, k, 0)
if lines is not None:
    ui.chart(fe.field_lines_figure(scene.pos, scene.neg, L, lines.paths, lines.cases, pos_weights=scene.pos_w, neg_weights=scene.neg_w, height=340, box=BOX),
             right, key="start_lines_fig")

# 3 ---------------------------------------------------------------------------------------------------------- cases
left, right = step(3, "Where lines end: Theorem 3.1", lesson.STEPS["cases"])
with left:
    case = ui.segmented("Show the lines that end", "start_case", list(CASES), CASES)
    st.page_link("app/pages/theorem.py", label="Theorem 3.1: the plate rule, line by line", icon=":material/arrow_forward:")
if lines is not None:
    keep = [i for i, c in enumerate(lines.cases) if c == case]
    with left:
        st.markdown(f"Of the **{len(lines.cases)}** lines of step 2, **{len(keep)}** end **{case}**"
                    + (f" and {lines.cases.count('lost')} were lost (the tracer gave up)." if "lost" in lines.cases else "."))
    ui.chart(fe.field_lines_figure(scene.pos, scene.neg, L, [lines.paths[i] for i in keep], [case] * len(keep), pos_weights=scene.pos_w,
                                   neg_weights=scene.neg_w, height=340, box=BOX), right, key="start_cases_fig")

# 4 --------------------------------------------------------------------------------------------- why learn a network
left, right = step(4, "Why a network is learned", lesson.STEPS["dims"])
with left:
    D = int(ui.select("Data dimension D", "start_D", list(DIMS)))
    st.page_link("app/pages/high_dimensions.py", label="High dimensions: collapse and memorisation", icon=":material/arrow_forward:")
stats = None
with ui.guard("Could not compute the high-dimension statistics"):
    stats = dimensions.dimension_stats(DIMS, HD_CHARGES, 4.0, L)
if stats is not None:
    share = stats.median_share(DIMS.index(D))
    with left:
        st.markdown(f"At **D = {D}** the single nearest charge carries **{share:.0f} %** of the field (median over points "
                    f"between the plates, {HD_CHARGES} charges a plate, ± its bootstrap noise); at D = 2 it carries {stats.median_share(0):.0f} %.")
    name = "largest charge's share of |E|"
    fig = fe.dimension_figure(stats.dims, {name: stats.top_share[:, 1]}, "share", bands={name: (stats.top_share[:, 0], stats.top_share[:, 2])})
    fig.update_yaxes(range=[0, 1.02])
    fig.update_layout(height=300)
    ui.chart(fig, right, key="start_dims")

# 5 ------------------------------------------------------------------------------------------------ learned transport
left, right = step(5, "Learned transport: noise → digits", lesson.STEPS["learned"])
with left:
    seed = int(ui.number("Seed of the noise", "start_seed"))
    st.page_link("app/pages/generation.py", label="Generation: more samples and solvers", icon=":material/arrow_forward:")
    st.page_link("app/pages/training_lab.py", label="Training lab: train a field network yourself", icon=":material/arrow_forward:")
with right, ui.guard("Could not generate digits"):
    ckpt = loading.load_pretrained("digits-gen")
    if ckpt is None:
        st.info(loading.missing_message("digits-gen"))
    else:
        moved = learned.generate_items(loading.pretrained_key("digits-gen"), ckpt, 6, seed, "heun", 20, fl.HALF_STRIP_LEVELS)
        ui.chart(fl.strip_figure(moved.path, moved.levels, list(range(6)), "z / L: noise (0) → digits (1)", tile_px=64),
                 width="content", key="start_strip")
        digits, _ = learned.readings(moved.x)
        st.caption("Each row: one noise image carried along the learned field, at 5 heights z = 0, L/4, L/2, 3L/4 and L. Read by the digit classifier as: "
                   + ", ".join(str(int(d)) for d in np.asarray(digits)) + ".")

# ------------------------------------------------------------------------------------------------------ comparison
st.divider()
st.subheader("EFM and its relatives")
st.markdown(lesson.comparison_markdown())
st.markdown(
    "Why is a large L hard for a learned EFM? The exact map is not the problem: see "
    "**Why large L is hard**, which measures it and shows the shipped models side by side."
)
st.page_link("app/pages/large_l.py", label="Why large L is hard", icon=":material/arrow_forward:")
