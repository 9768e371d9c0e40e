"""The Training lab's live run in the page: the Start / Continue / Stop buttons, and the panel (a fragment) that
polls the run (which trains on its own worker thread, ``LabRun.resume``) and draws the loss, the learned lines beside
the exact ones, the angle to E on a slice, where the moved points land, the metrics and the downloads.

Streamlit code; the run itself is ``app.compute.lab.LabRun`` (kept in the session state under ``lab_run``) and its
evaluation ``app.compute.lab.lab_view``.
"""

from __future__ import annotations

import math
import time

import streamlit as st

from app import exports, ui
from app.compute import exact, lab
from app.figures import common as fc
from app.figures import learned as fl

TICK = 1.0  # seconds between reruns of the progress and loss while training (the run trains on its own thread)
PICTURE_TICK = 4.0  # seconds between redraws of the pictures while training (drawing holds the GIL the training needs)
# measured on 2 cores: the bare training by benchmarks/bench_app_learning.py (docs/performance_app_learning.md), this
# page in a browser by benchmarks/bench_browser.py (docs/performance_browser.md)
TIME_NOTE = ("On a 2-core machine 2000 steps of EFM at width 128 took about 30 s in this page, 45 s with flow "
             "matching beside it (12 s and 23 s of the training alone); the bar below shows the rate this run really "
             "gets, in steps per wall-clock second.")
EVAL_SHARE = 0.2  # at most this share of the wall time spent evaluating while training (it competes with the training)


def controls(scene: exact.Scene, settings: lab.LabSettings, p_toy: str | None) -> bool:
    """The buttons that start, continue and stop a run with ``settings``; returns whether a run is training now.

    A run whose settings differ from the page's is stale: it stops, and the page says that its pictures are old.
    """
    ss = st.session_state
    run: lab.LabRun | None = ss.get("lab_run")
    stale = run is not None and run.settings != settings
    if stale and run.running:
        run.pause()

    def _start() -> None:
        current = ss.get("lab_run")
        if current is not None and current.settings == settings and not current.done and current.error is None:
            current.resume()  # continue a paused run (a no-op if it is training already)
            return
        if current is not None:
            current.pause()
        try:
            new = lab.LabRun(scene, settings, p_toy)
        except ValueError as err:
            ss["_lab_error"] = f"Could not set up training: {err}"
            return
        ss["lab_run"] = new
        ss.pop("_lab_view", None)
        new.resume()

    def _stop() -> None:
        if ss.get("lab_run") is not None:
            ss["lab_run"].pause()

    paused = run is not None and not stale and not run.done and not run.running and run.error is None
    b1, b2, b3 = st.columns([3, 2, 5], vertical_alignment="center")
    b1.button(
        "Continue" if paused else "Start training", type="primary", on_click=_start,
        disabled=run is not None and run.running and not stale,
        help="Train a fresh network with the settings above (or continue the paused run). The page stays usable while "
        "it trains.",
        width="stretch",
    )
    b2.button("Stop", on_click=_stop, disabled=run is None or not run.running,
              help="Pause training; the pictures show the last state.", width="stretch")
    if ss.get("_lab_error"):
        st.error(ss.pop("_lab_error"))
    if stale:
        b3.info("The settings changed since this run started: the pictures show the old run. Press **Start training** "
                "for a new one.")
    return run is not None and run.running


def live_panel(training: bool, solver: str, solver_steps: int, y_slice: float) -> None:
    """The run's panel while ``training``: its progress and loss every ``TICK`` seconds, the pictures (an evaluation
    of the run) every ``PICTURE_TICK`` seconds, each in its own fragment, so that drawing competes little with the
    training thread; the downloads once the run is paused or done."""

    @st.fragment(run_every=TICK if training else None)
    def progress() -> None:
        run: lab.LabRun | None = st.session_state.get("lab_run")
        if run is None:
            st.info(f"Press **Start training**. {TIME_NOTE} The pictures update as it learns.")
            return
        run.touch()
        if training and not run.running:
            st.rerun()  # it finished or stopped: a full rerun, so that the buttons change and the timers stop
        if run.error:
            st.error(run.error)
        total = run.settings.steps
        phase = " · training…" if run.running else (" · done" if run.done else " · paused")
        st.progress(min(run.step_count / total, 1.0),
                    text=f"step {run.step_count} / {total} · {run.steps_per_second():.0f} steps/s (wall clock)" + phase)
        ui.chart(fl.loss_figure(run.losses(), total), key="lab_loss")

    @st.fragment(run_every=PICTURE_TICK if training else None)
    def pictures() -> None:
        run: lab.LabRun | None = st.session_state.get("lab_run")
        first = math.ceil(lab.LAB_FIRST_VIEW * run.settings.steps) if run is not None else 0
        if run is not None and run.running and run.step_count < first:
            st.caption(f"The pictures appear after the first {first} steps (an untrained network shows nothing yet).")
            return
        view = None if run is None else _view(run, solver, solver_steps, y_slice)
        if view is not None:
            _pictures(run, view, y_slice)
            if not run.running:
                _downloads(view, run.losses(), run.settings.two_sided)

    progress()
    pictures()


def _view(run: lab.LabRun, solver: str, solver_steps: int, y_slice: float) -> lab.LabView | None:
    """The run evaluated (``lab.lab_view``), kept in the session; while training, only as often as keeps the
    evaluations under ``EVAL_SHARE`` of the wall time."""
    ss = st.session_state
    view: lab.LabView | None = ss.get("_lab_view")
    key = (id(run), run.step_count, solver, solver_steps, y_slice)
    due = view is None or ss.get("_lab_view_key") != key
    wait = ss.get("_lab_view_cost", 0.0) * (1 - EVAL_SHARE) / EVAL_SHARE
    if run.running and view is not None and time.perf_counter() - ss.get("_lab_view_time", 0.0) < wait:
        due = False
    if due:
        run_box = fc.view_box(run.scene.pos, run.scene.neg, run.settings.L)
        with ui.guard("Could not evaluate the learned fields"):
            t0 = time.perf_counter()
            view = lab.lab_view(run, solver, solver_steps, y_slice, run_box.ranges()[1])
            ss["_lab_view"], ss["_lab_view_key"] = view, (id(run), view.step, *key[2:])
            ss["_lab_view_time"] = time.perf_counter()
            ss["_lab_view_cost"] = ss["_lab_view_time"] - t0
    return view


def _metrics(view: lab.LabView) -> None:
    cols = st.columns(len(view.metrics))
    for col, (name, m) in zip(cols, view.metrics.items(), strict=True):
        with col:
            st.markdown(f"**{name}**")
            noise = f"± is one standard deviation over bootstrap resamples of the {lab.LAB_POINTS} moved points."
            ui.noisy_metric(st, "W2 to Q", m["w2"], ".3f", "Exact 2-Wasserstein distance between the moved points and "
                            f"as many of Q's charges (drawn by magnitude). Lower is better. {noise}")
            ui.noisy_metric(st, "Energy distance", m["energy"], ".3f", "Unbiased energy distance (the U-statistic) "
                            f"between the moved points and Q's charges: about 0 when they follow Q. {noise}")
            a, b = st.columns(2)
            a.metric("NFE", f"{m['nfe']:.0f}", help="Network evaluations (batched) the solver used to move all points.")
            b.metric("Bad lines", f"{m['bad']:.0f}",
                     help="Lines where the field turned back (f_z ≤ 0.05, the slope was guarded) or became "
                     "non-finite; for two-sided EFM, lines that did not reach Q within the solver's step limit (lost).")
            st.metric("Median angle to E", "—" if math.isnan(m["angle"]) else f"{m['angle']:.1f}°",
                      help="Median over the slice of the angle between this model's field and the exact E (the map "
                      "below); none for PFGM++, whose field is not a field between the plates.")


def _pictures(run: lab.LabRun, view: lab.LabView, y_slice: float) -> None:
    """Metrics, learned and exact lines side by side, the error maps and the landing points of one evaluation."""
    both, L, scene = run.settings.two_sided, run.settings.L, run.scene
    n_points = len(next(iter(view.moved.values())).x)
    st.caption(f"Pictures and numbers below: the averaged (EMA) weights at step {view.step}, {n_points} fresh points "
               "of P." + (" Two-sided EFM moves them by Theorem 3.1's map (lines in arc length, both sides of P); the "
                          "solver above moves flow matching." if both else ""))
    _metrics(view)
    drawn = lab.LAB_DRAWN
    learned_lines = {
        f"{name}{' (two-sided)' if m.lines is not None else ''}: learned lines": (
            (m.lines[:drawn], m.cases[:drawn]) if m.lines is not None
            else (fl.trajectories_as_paths(m.levels, m.path[:, :drawn]), fc.MODEL_COLOR[name])
        )
        for name, m in view.moved.items()
        if m.lines is not None or len(m.levels)  # PFGM++ starts on its prior, not on P: no lines beside E's
    }
    exact_lines = {}
    with ui.guard("Could not trace the exact lines"):
        title = "exact field lines (two-sided starts)" if both else "exact field lines (forward starts)"
        exact_lines[title] = lab.exact_lines(scene, L, run.starts[:drawn], "both" if both else "forward",
                                             run.settings.seed)
    first, *rest = learned_lines.items()  # EFM, then the exact lines, then flow matching
    run_box = fc.view_box(scene.pos, scene.neg, L)
    panels = dict([first, *exact_lines.items(), *rest])
    ui.chart(fl.lines_panels_figure(panels, scene.pos, scene.neg, L, run_box, outside=both), key="lab_lines")
    m1, m2 = st.columns([3, 2])
    with m1:
        st.markdown("**Angle between the learned field and E**"
                    + (f" (slice x₂ = {y_slice:g})" if scene.D == 2 else ""))
        tabs = st.tabs(list(view.errors))
        for tab, (name, err) in zip(tabs, view.errors.items(), strict=True):
            with tab:
                near = exact.near_slice(scene, L, y_slice)
                ui.chart(fl.error_map_figure(err.z, err.x, err.angle, L, near), key=f"lab_error_{name}")
    with m2:
        st.markdown("**Where the moved points land on Q**")
        ends = {name: m.x for name, m in view.moved.items()}
        ui.chart(fl.points_figure(ends, scene.neg, "Q charges", height=380), key="lab_landing")


def _downloads(view: lab.LabView, curves: dict, both: bool) -> None:
    e1, e2, e3 = st.columns(3)
    e1.download_button("Loss log (CSV)", exports.loss_csv(curves), file_name="training_loss.csv", mime="text/csv",
                       key="dl_lab_loss", help="Every step's loss of each model: model, step, loss.")
    e2.download_button("Moved points (NPY)", exports.npy_bytes(view.moved["EFM"].x), file_name="efm_moved_points.npy",
                       key="dl_lab_points", help="The EFM end points on Q, float32 (K, D). Load with numpy.load.")
    e3.download_button("EFM trajectories (NPY)", exports.npy_bytes(view.moved["EFM"].path),
                       file_name="efm_trajectories.npy", key="dl_lab_paths",
                       help="Two-sided: the moved points after every solver step, z last, float32 (S + 1, K, D + 1)."
                       if both else "The moved points at 24 heights from z = 0 to z = L, float32 (24, K, D).")
