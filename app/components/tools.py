"""Interactive tools of the exact-field pages (Streamlit code, the numbers from ``app.compute.exact``):

* ``probe_tool`` (Field lines): the exact field on a slice (log10 |E| and its direction) that a click moves the probe
  on, and E, E+ (P) and E- (Q) at the probe as lines of text;
* ``start_picker`` (Theorem 3.1): plate P face on, a click picks the start of the lines.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import ui
from app.compute import exact
from app.figures import common as fc
from app.figures import exact as fe


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
            slice_fig = fe.slice_figure(sl.z, sl.x, sl.log10_norm, sl.direction, L, near, (probe_point[-1], probe_point[0]))

            def _move_probe(selection: dict) -> bool:
                p = selection["points"][0]
                ss["probe"] = (float(p["y"]),) + ((y_slice,) if D == 2 else ()) + (float(p["x"]),)
                return True

            event = ui.chart(slice_fig, key=ui.chart_key("probe_fig"), on_select=ui.on_selection("probe_fig", _move_probe), selection_mode="points")
            ui.consume_selection("probe_fig", event, _move_probe)
    with pc2:
        with ui.guard("Could not evaluate the field at the probe"):
            pr = exact.probe(scene, L, tuple(float(v) for v in probe_point))
            names = [f"x{ui.subscript(i + 1)}" for i in range(D)] + ["z"]
            st.markdown("Probe at (" + ", ".join(f"{n} = {v:.2f}" for n, v in zip(names, probe_point, strict=True)) + "). Click the slice to move it.")
            rows = (("E (total)", pr.E), ("E⁺ (P)", pr.E_pos), ("E⁻ (Q)", pr.E_neg))  # lines, not a table: a table's third column was cut at 1000 px
            st.markdown("\n".join(f"- **{label}**: " + ", ".join(f"{n} {x:.3e}" for n, x in zip(names, v, strict=True)) + f"; norm {np.linalg.norm(v):.3e}"
                                   for label, v in rows))
            verdict = "towards Q (+z)" if pr.E[-1] > 0 else "away from Q (−z)"
            st.markdown(
                f"$\\log_{{10}}|E| = {pr.log10_norm:.2f}$. The z components: ${ui.tex_number(pr.E_pos[-1])}$ from P "
                f"($E_z^+$, P pushes) and ${ui.tex_number(pr.E_neg[-1])}$ from Q ($E_z^-$, Q pulls); their sum points {verdict}."
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
