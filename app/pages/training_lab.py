"""Page "Training lab": train the field network live on the charges of the Field lines page, next to flow matching
at the same budget; the loss, the angle between the learned and the exact field, fresh points of P moved along the
learned fields beside the exact lines, their W2 / energy distance to Q, NFE and bad lines; and what the network is
taught (the training points and their target arrows)."""


import streamlit as st

from app import ui
from app.components.exact import scene_page
from app.components.lab import controls, live_panel
from app.compute import lab, learned
from app.figures import common as fc
from app.figures import learned as fl

WIDTHS = [32, 64, 128, 256, 512]
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
SAMPLER_POINTS = 160

scene, L, D, seed = scene_page(
    "Training lab: a network learns the field",
    "The same charges as on the Field lines page (change them in the sidebar). Press **Start**: a small network learns "
    "the direction of E between the plates (EFM), and flow matching learns its own field on the same charges with the "
    "same budget. Then both move fresh points of P to Q.",
)

ui.glossary(["tent sampler", "whole-space net", "flow matching", "PFGM++", "EMA", "W2", "energy distance", "V-statistic", "Heun", "NFE", "bad lines", "f_min", "training region"])
c1, c2, c3 = st.columns(3, vertical_alignment="bottom")  # rows of three: five a row cut the labels at 1000 px
with c1:
    width = int(ui.select("Network width", "lab_width", WIDTHS))
with c2:
    steps = int(ui.number("Training steps", "lab_steps"))
with c3:
    lr = float(ui.select("Learning rate", "lab_lr", LRS, {v: f"{v:g}" for v in LRS}))
c4, c5, c6 = st.columns(3, vertical_alignment="bottom")
with c4:
    sigma = float(ui.slider("Noise σ (sampler)", "lab_sigma"))
with c5:
    with_fm = ui.toggle("Flow matching", "lab_fm")
with c6:
    with_pfgmpp = ui.toggle("PFGM++", "lab_pfgmpp")
s1, s2, s3 = st.columns(3, vertical_alignment="bottom")
with s1:
    two_sided = ui.toggle("Two-sided EFM", "lab_two_sided")
with s2:
    solver = ui.select("Solver", "lab_solver", list(learned.SOLVER_LABELS), learned.SOLVER_LABELS)
with s3:
    solver_steps = int(ui.number("Solver steps", "lab_solver_steps"))
with st.columns(3)[0]:
    y_slice = float(ui.slider("Slice at x₂ = (error map)", "lab_y", fmt="%.1f")) if D == 2 else 0.0

settings = lab.LabSettings(scene.key, L, sigma, width, steps, lr, seed, bool(with_fm), bool(two_sided), bool(with_pfgmpp))
training = controls(scene, settings, ui.p_toy())
live_panel(training, solver, solver_steps, y_slice)
box = fc.view_box(scene.pos, scene.neg, L)

ui.explain(
    "Top: the loss of each model as it trains. Middle: fresh samples of P moved to Q along each learned field (EFM "
    "black, flow matching brown), next to the exact field lines from the same starts (coloured by their Theorem 3.1 "
    "case; with **Two-sided EFM** its learned lines are coloured by case too, and both start on the side of P the "
    "flux picks). The heat map shows, at every point of a slice between the plates, the angle between a learned field and "
    "the exact E: pale is right, dark red is wrong (90° or more: at right angles or backwards). EFM's error is largest far from the data, "
    "where no training point fell; flow matching's field is not meant to follow E at all, its angle shows how different its "
    "paths are.",
    "EFM replaces the exact field, whose lines memorise the charges in high dimensions and take seconds to trace, by "
    "a network that is cheap to evaluate and generalises. The network only learns the field where it is taught (the "
    "training points below). The paper's solver follows it forwards in z only. At a large L that is hard to learn: "
    "the exact lines bulge far outside where the tent sampler puts its training points, the network must guess the "
    "field there, and the z-solver meets $f_z \\le f_{\\min}$ (page **Why large L is hard** measures it and shows the "
    "shipped checkpoints at L = 6 and 30). **Two-sided EFM** teaches the network the field in the whole space and "
    "moves points by Theorem 3.1's map: the side of P chosen by the flux there, lines round the outside, the plate "
    "rule on Q.",
    [
        r"\min_\theta\; \mathbb{E}_{t,\,x_P,\,x_Q,\,\varepsilon}\,\Big\| f_\theta(\tilde x) - \frac{E(\tilde x)}{\lVert E(\tilde x)\rVert}\Big\|^2,"
        r"\qquad \tilde x = \big((1-t)\,x_P + t\,x_Q + \varepsilon,\; tL\big)",
        r"\frac{dx}{dz} = \frac{f_x(x, z)}{\max(f_z(x, z),\, f_{\min})}\quad\text{from } z = 0 \text{ to } z = L \quad\text{(Algorithm 2)}",
        r"\text{flow matching:}\quad \min_\theta \mathbb{E}\,\lVert v_\theta(x_t, t) - (x_Q - x_P)\rVert^2,\qquad x_t = (1-t)\,x_P + t\,x_Q",
    ],
)

st.subheader("What the network is taught")
a, b = st.columns([3, 2])
with a:
    with ui.guard("Could not draw the training points"):
        pts, dirs = lab.sampler_arrows(scene, L, sigma, SAMPLER_POINTS, seed, "whole_space" if two_sided else "tent")
        ui.chart(fl.sampler_figure(pts, dirs, scene.pos, scene.neg, L, box, outside=two_sided), key="lab_sampler")
with b:
    st.markdown(
        f"Each step draws 256 pairs of a P charge and a Q charge, a height z = tL with t uniform in (0, 1), the point "
        f"on the segment between them at that height, and noise of standard deviation σ·2·min(t, 1 − t) (σ = {sigma:g} "
        f"mid-gap, none at the plates). The arrow at each point is the target: the direction of the exact field E of "
        f"all the charges there. Points off the segments teach the network the field around the data; with σ = 0 it "
        f"only sees the segments."
    )
    st.latex(r"\tilde x = \big((1-t)\,x_P + t\,x_Q + \varepsilon,\; tL\big)")
    st.latex(r"\varepsilon \sim \mathcal N\big(0,\, s(t)^2 I\big),\quad s(t) = 2\sigma \min(t, 1-t)")
    if two_sided:
        st.markdown(
            "**Two-sided EFM** draws only half of its points that way. A fifth lie behind a plate (a charge plus noise, at "
            "depth |N(0, (L/4)²)|), the rest on shells round the centre in random directions, with radii from L/10 to "
            "100 L: the backward lines loop far out, and the network must know the field there too."
        )
