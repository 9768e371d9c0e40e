"""Page "Training lab": train the field network live on the charges of the Field lines page, next to flow matching
at the same budget; the loss, the angle between the learned and the exact field, fresh points of P moved along the
learned fields beside the exact lines, their W2 / energy distance to Q, NFE and bad lines; and what the network is
taught (the training points and their target arrows)."""

import time

import numpy as np
import streamlit as st

from app import exports_learning, figures, learning, ui
from app import figures_learning as fl
from app.state import CUSTOM_KEYS

TICK = 0.5  # seconds between the live panel's reruns while training
CHUNK = 0.4  # seconds of training per rerun of the live panel
EVAL_EVERY = 1.5  # seconds of training between re-evaluations of the pictures while training
WIDTHS = [32, 64, 128, 256, 512]
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
SAMPLER_POINTS = 160

st.title("Training lab: a network learns the field")
st.caption(
    "The same charges as on the Field lines page (change them in the sidebar). Press **Start**: a small network learns "
    "the direction of E between the plates (EFM), and flow matching learns its own field on the same charges with the "
    "same budget. Then both move fresh points of P to Q."
)
scene = ui.scene_sidebar()
if scene is None:
    st.stop()
ss = st.session_state
L, D, seed = ui.current_L(), scene.D, int(ss["seed"])

c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 3, 3], vertical_alignment="bottom")
with c1:
    width = int(ui.select("Network width", "lab_width", WIDTHS))
with c2:
    steps = int(ui.number("Training steps", "lab_steps"))
with c3:
    lr = float(ui.select("Learning rate", "lab_lr", LRS, {v: f"{v:g}" for v in LRS}))
with c4:
    sigma = float(ui.slider("Noise σ (sampler)", "sigma"))
with c5:
    with_fm = ui.toggle("Flow matching too", "lab_fm")
s1, s2, s3, s4 = st.columns([3, 2, 2, 4], vertical_alignment="bottom")
with s1:
    solver = ui.select("Solver", "solver", list(learning.SOLVER_LABELS), learning.SOLVER_LABELS)
with s2:
    solver_steps = int(ui.number("Solver steps", "solver_steps"))
with s3:
    two_sided = ui.toggle("Two-sided EFM", "lab_two_sided")
with s4:
    y_slice = float(ui.slider("Slice at x₂ = (error map)", "probe_y", fmt="%.1f")) if D == 2 else 0.0

settings = learning.LabSettings(scene.key, L, sigma, width, steps, lr, seed, bool(with_fm), bool(two_sided))
p_source = None if ss.get(CUSTOM_KEYS["pos"]) is not None else ss["p_toy"]  # fresh points of P: new toy samples
run: learning.LabRun | None = ss.get("lab_run")
stale = run is not None and run.settings != settings
if stale and run.running:
    run.running = False


def _start() -> None:
    current = ss.get("lab_run")
    if current is not None and current.settings == settings and not current.done and current.error is None:
        current.running = True  # continue a paused run
        return
    try:
        new = learning.LabRun(scene, settings, p_source)
    except ValueError as err:
        ss["_lab_error"] = f"Could not set up training: {err}"
        return
    new.running = True
    ss["lab_run"] = new
    ss.pop("_lab_view", None)


def _stop() -> None:
    if ss.get("lab_run") is not None:
        ss["lab_run"].running = False


paused = run is not None and not stale and not run.done and not run.running and run.error is None
b1, b2, b3 = st.columns([2, 2, 6], vertical_alignment="center")
b1.button(
    "Continue" if paused else "Start training", type="primary", on_click=_start, disabled=run is not None and run.running and not stale,
    help="Train a fresh network with the settings above (or continue the paused run). The page stays usable while it trains.",
    width="stretch",
)
b2.button("Stop", on_click=_stop, disabled=run is None or not run.running, help="Pause training; the pictures show the last state.", width="stretch")
if ss.get("_lab_error"):
    st.error(ss.pop("_lab_error"))
if stale:
    b3.info("The settings changed since this run started: the pictures show the old run. Press **Start training** for a new one.")

box = figures.view_box(scene.pos, scene.neg, L)


def _near_slice(run_scene, run_L: float) -> dict[str, np.ndarray]:
    out = {}
    for side, pts, z in (("pos", run_scene.pos, 0.0), ("neg", run_scene.neg, run_L)):
        keep = np.abs(pts[:, 1] - y_slice) < 0.5 if run_scene.D == 2 else np.ones(len(pts), bool)
        out[side] = np.stack([np.full(keep.sum(), z), pts[keep, 0]], axis=1)
    return out


def _metrics(view: learning.LabView) -> None:
    cols = st.columns(len(view.metrics))
    for col, (name, m) in zip(cols, view.metrics.items(), strict=True):
        with col:
            st.markdown(f"**{name}**")
            a, b = st.columns(2)
            a.metric("W2 to Q", f"{m['w2']:.3f}", help="Exact 2-Wasserstein distance between the moved points and as many of Q's charges (drawn by magnitude). Lower is better.")
            b.metric("Energy distance", f"{m['energy']:.3f}", help="Unbiased energy distance between the moved points and Q's charges: about 0 when they follow Q.")
            a.metric("NFE", f"{m['nfe']:.0f}", help="Network evaluations (batched) the solver used to move all points.")
            b.metric("Bad lines", f"{m['bad']:.0f}", help="Lines where the field turned back (f_z ≤ 0.05, the slope was guarded) or became non-finite; "
                     "for two-sided EFM, lines that did not reach Q within the solver's step limit (lost).")
            st.metric("Median angle to E", f"{m['angle']:.1f}°", help="Median over the slice of the angle between this model's field and the exact E (the map below).")


@st.fragment(run_every=TICK if run is not None and run.running else None)
def live() -> None:
    run: learning.LabRun | None = ss.get("lab_run")
    if run is None:
        st.info("Press **Start training**. 2000 steps take well under a minute on a laptop; the pictures update as it learns.")
        return
    if run.running:
        run.advance(CHUNK)
        if run.done or not run.running:
            run.running = False
            st.rerun()  # a full rerun: the buttons change and this panel's timer stops
    if run.error:
        st.error(run.error)
    total = run.settings.steps
    st.progress(min(run.step_count / total, 1.0), text=f"step {run.step_count} / {total} · {run.steps_per_second():.0f} steps/s (EFM)"
                + (" · training…" if run.running else (" · done" if run.done else " · paused")))
    curves = run.losses()
    st.plotly_chart(fl.loss_figure(curves, total), key="lab_loss", theme=None, config=fl.PLOT_CONFIG)

    view: learning.LabView | None = ss.get("_lab_view")
    key = (id(run), run.step_count, solver, solver_steps, y_slice)
    due = view is None or ss.get("_lab_view_key") != key
    if run.running and view is not None and time.perf_counter() - ss.get("_lab_view_time", 0.0) < EVAL_EVERY:
        due = False
    run_box = figures.view_box(run.scene.pos, run.scene.neg, run.settings.L)
    if due:
        with ui.guard("Could not evaluate the learned fields"):
            view = learning.lab_view(run, solver, solver_steps, y_slice, run_box.ranges()[1])
            ss["_lab_view"], ss["_lab_view_key"], ss["_lab_view_time"] = view, key, time.perf_counter()
    if view is None:
        return
    both = run.settings.two_sided
    st.caption(f"Pictures and numbers below: the averaged (EMA) weights at step {view.step}, {len(next(iter(view.moved.values())).x)} fresh points of P."
               + (" Two-sided EFM moves them by Theorem 3.1's map (lines in arc length, both sides of P); the solver above moves flow matching." if both else ""))
    _metrics(view)

    starts = run.starts[: learning.LAB_DRAWN]
    drawn = learning.LAB_DRAWN
    learned = {
        f"{name}{' (two-sided)' if m.lines is not None else ''}: learned lines": (
            (m.lines[:drawn], m.cases[:drawn]) if m.lines is not None
            else (fl.trajectories_as_paths(m.levels, m.path[:, :drawn]), fl.MODEL_COLOR[name])
        )
        for name, m in view.moved.items()
    }
    exact = {}
    with ui.guard("Could not trace the exact lines"):
        title = "exact field lines (two-sided starts)" if both else "exact field lines (forward starts)"
        exact[title] = learning.exact_lines(run.scene, run.settings.L, starts, "both" if both else "forward", run.settings.seed)
    first, *rest = learned.items()  # EFM, then the exact lines, then flow matching
    panels = dict([first, *exact.items(), *rest])
    st.plotly_chart(fl.lines_panels_figure(panels, run.scene.pos, run.scene.neg, run.settings.L, run_box, outside=both), key="lab_lines", theme=None, config=fl.PLOT_CONFIG)

    m1, m2 = st.columns([3, 2])
    with m1:
        st.markdown("**Angle between the learned field and E**" + (f" (slice x₂ = {y_slice:g})" if D == 2 else ""))
        tabs = st.tabs(list(view.errors))
        for tab, (name, err) in zip(tabs, view.errors.items(), strict=True):
            with tab:
                st.plotly_chart(fl.error_map_figure(err.z, err.x, err.angle, run.settings.L, _near_slice(run.scene, run.settings.L)), key=f"lab_error_{name}", theme=None, config=fl.PLOT_CONFIG)
    with m2:
        st.markdown("**Where the moved points land on Q**")
        ends = {name: m.x for name, m in view.moved.items()}
        st.plotly_chart(fl.points_figure(ends, run.scene.neg, "Q charges", height=380), key="lab_landing", theme=None, config=fl.PLOT_CONFIG)

    e1, e2, e3 = st.columns(3)
    e1.download_button("Loss log (CSV)", exports_learning.loss_csv(curves), file_name="training_loss.csv", mime="text/csv", key="dl_lab_loss",
                       help="Every step's loss of each model: model, step, loss.")
    e2.download_button("Moved points (NPY)", exports_learning.npy_bytes(view.moved["EFM"].x), file_name="efm_moved_points.npy", key="dl_lab_points",
                       help="The EFM end points on Q, float32 (K, D). Load with numpy.load.")
    e3.download_button("EFM trajectories (NPY)", exports_learning.npy_bytes(view.moved["EFM"].path), file_name="efm_trajectories.npy", key="dl_lab_paths",
                       help="Two-sided: the moved points after every solver step, z last, float32 (S + 1, K, D + 1)." if both
                       else "The moved points at 24 heights from z = 0 to z = L, float32 (24, K, D).")


live()

ui.explain(
    "Top: the loss of each model as it trains. Middle: fresh samples of P moved to Q along each learned field (EFM "
    "black, flow matching brown), next to the exact field lines from the same starts (coloured by their Theorem 3.1 "
    "case; with **Two-sided EFM** its learned lines are coloured by case too, and both start on the side of P the "
    "flux picks). The heat map shows, at every point of a slice between the plates, the angle between a learned field and "
    "the exact E: pale is right, dark red is wrong (90° or more: at right angles or backwards). EFM's error is largest close to the charges (where E turns sharply) "
    "and far from the data; flow matching's field is not meant to follow E at all, its angle shows how different its "
    "paths are.",
    "EFM replaces the exact field, whose lines memorise the charges in high dimensions and take seconds to trace, by "
    "a network that is cheap to evaluate and generalises. The network only learns the field where it is taught (the "
    "training points below). The paper's solver follows it forwards in z only, so it misses the flux that leaves P "
    "backwards (close to half of it at large L) and maps a large L poorly, as the paper reports. **Two-sided EFM** "
    "teaches the network the field in the whole space and moves points by Theorem 3.1's map: the side of P chosen by "
    "the flux there, lines round the outside, the plate rule on Q. On the shipped toys it meets the 2× W2 bar at "
    "L = 30 as well as at L = 6 (docs/pretrained.md).",
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
        pts, dirs = learning.sampler_arrows(scene, L, sigma, SAMPLER_POINTS, seed, "whole_space" if two_sided else "tent")
        st.plotly_chart(fl.sampler_figure(pts, dirs, scene.pos, scene.neg, L, box, outside=two_sided), key="lab_sampler", theme=None, config=fl.PLOT_CONFIG)
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
