"""Page "Theorem 3.1": one start on P traced forwards and backwards, E_z+ and E_z- along its line with the
stop / continue decision at z = L, presets showing each case, and a cached sweep over L."""

import numpy as np
import streamlit as st

from app import lesson, state, ui
from app.components.exact import plate_decision, scene_page, start_picker
from app.components.large_l import l_sweep
from app.compute import exact
from app.figures import common as fc
from app.figures import exact as fe

CASE_NAMES = {"front": "Front", "behind": "Behind", "backward": "Backward"}
LINE_NAMES = {"forward": "Forward line", "backward": "Backward line"}

scene, L, D, seed = scene_page(
    "Theorem 3.1: where does a line end?",
    "A point of P emits field lines on both sides of its plate. Pick a start on P and follow both: the forward line "
    "ends on Q from the front or slips through and returns from behind; the backward line loops round the outside.",
)
ss = st.session_state
st.markdown("**Theorem 3.1** (Kolesov et al.): " + lesson.GLOSSARY["Theorem 3.1"])
ui.glossary(["Theorem 3.1", "flux", "plate rule", "asinh scale", "lost", "energy distance", "V-statistic", "floor", "tent sampler", "training region"])


def _on_preset() -> None:
    ss["thm_start"] = None
    ss["thm_line"] = "backward" if ss["thm_preset"] == "backward" else "forward"


# one control a row: side by side, their labels were cut at 1000 px
preset = ui.segmented("Show me a line that ends…", "thm_preset", list(CASE_NAMES), {
    "front": "on Q from the front", "behind": "on Q from behind", "backward": "after leaving P backwards"}, on_change=_on_preset)
which = ui.segmented("Chart follows the", "thm_line", list(LINE_NAMES), LINE_NAMES)

start = ss.get("thm_start")
if start is not None and len(start) != D:
    start = None
if start is None:
    with ui.guard("Could not find example starts"), st.spinner("Looking for a start that shows this case…"):
        examples = exact.case_examples(scene, L, ui.p_toy())
        start = examples.get(preset) or next((v for v in examples.values() if v is not None), None)
        if examples.get(preset) is None:
            st.info(f"In this scene, at L = {L:g}, no start among the ones tried shows the case '{preset}'; showing another one. Try another L.")
if start is None:
    start = tuple(float(v) for v in (scene.pos * scene.pos_w[:, None]).sum(0))

line = None
with ui.guard("Could not trace the lines from this start"), st.spinner("Tracing…"):
    line = exact.single_line(scene, L, tuple(float(v) for v in start))
if line is None:
    st.stop()

left, right = st.columns([3, 2])
with left:
    marks = {"start": np.append(start, 0.0)}
    if line.crossing[which] is not None:
        marks["meets Q"] = line.crossing[which]
    names = list(LINE_NAMES)
    fig = fe.field_lines_figure(
        scene.pos, scene.neg, L, [line.paths[n] for n in names], [line.cases[n] for n in names],
        pos_weights=scene.pos_w, neg_weights=scene.neg_w, marks=marks, height=520,
        box=fc.fit_box([line.paths[n] for n in names], fc.view_box(scene.pos, scene.neg, L), L),
    )
    ui.chart(fig, key="thm_lines")
with right:
    start_picker(scene, start)
    share = line.forward_flux
    st.metric("Flux leaving this point forwards", f"{100 * share:.0f} %", help="The z component of E just above the plate over its jump across the plate: the share of this point's flux (its lines) that starts towards Q. The rest leaves backwards.")
    st.markdown(f"Forward line: **{line.cases['forward']}**. Backward line: **{line.cases['backward']}**.")
    if "lost" in line.cases.values():
        st.caption("**lost**: the tracer gave up on that line before it reached Q (it went beyond the region the tracer "
                   "covers, or took too many steps). By Gauss's law it still ends on Q; pick another start to see where.")

st.subheader(f"$E_z^+$ and $E_z^-$ along the {which} line")
p1, p2 = st.columns([3, 2])
with p1:
    s_cross = None
    if line.crossing[which] is not None:
        k = int(np.argmin(np.linalg.norm(line.paths[which] - line.crossing[which], axis=1)))
        s_cross = float(line.s[which][k])
    ui.chart(
        fe.ez_profile_figure(line.s[which], line.ez_pos[which], line.ez_neg[which], line.paths[which][:, -1], L, s_cross),
        key="thm_profile",
    )
with p2:
    plate_decision(line, which)

ui.explain(
    "The 3-D view shows the two lines that leave your start: the forward one (towards Q) and the backward one. The "
    "chart follows one of them and plots the z components of P's field $E^+$ and Q's field $E^-$ on a sign-keeping "
    "logarithmic (asinh) scale. $E_z^-$ flips sign when the line crosses the Q plate, because Q's field always points "
    "at Q; $E_z^+$ does not.",
    "A sampler has to decide what to do when a line reaches z = L. The paper's rule: **stop if the field just in "
    "front of the plate and just behind it have opposite signs** (the plate absorbs the line there), **continue if "
    "they have the same sign** (the line passes through and returns from behind). Lines that continue, and lines "
    "that leave P backwards, still end on Q — Gauss's law sends all of P's flux to Q — and only counting them makes "
    "the landing points follow Q.",
    [
        r"\text{stop at } (y, L) \iff E_z(y, L^-)\,E_z(y, L^+) < 0",  # short equations: long ones were cut at 1000 px
        r"\text{arriving from the front: } E_z(y, L^+) \le 0",
        r"\Pr[\text{forward} \mid x] = \frac{E_z(x, 0^+)}{E_z(x, 0^+) - E_z(x, 0^-)}",
        r"E_z(x, 0^+) - E_z(x, 0^-) = \rho_P(x)",
    ],
)

# ------------------------------------------------------------------------------------------------ sweep over L
st.subheader("Sweep over L: the cases, and what forward-only starts cost")
st.markdown(
    "Every L traces the same starts along the exact field of these charges. The cases (bottom): as L grows, fewer "
    "lines pass behind Q and more end on it from the front. The energy distance (top left) compares where the lines "
    "land with Q's charges; the grey band is its floor, the value for as many points drawn from Q itself. The bulge "
    "(top right) is how far the forward lines swing out halfway between the plates, against where a tent sampler "
    "puts its training points — which is what makes large L hard for a learned field (page **Why large L is hard**). "
    f"With the default scene and {state.SWEEP_LINES} lines per L this is that page's sweep, number for number; with "
    "other lines or charges the values differ, by about their ± noise for the same charges."
)
K = int(ui.slider("Lines per L (each kind of start)", "sweep_lines"))
l_sweep(scene, K, seed, ui.p_toy(), L, "thm_sweep", cases=True)
st.page_link("app/pages/large_l.py", label="Why large L is hard: the shipped checkpoints at L = 6 and 30", icon=":material/arrow_forward:")
