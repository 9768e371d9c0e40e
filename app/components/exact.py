"""The charge editor of the Field lines page: click charges into a face-on view of the plates, select and remove
them, edit each plate's table, upload a CSV / NPY point cloud, download the charges as CSV.

Streamlit code (widgets and session state), no physics: rows ``(x_1, ..., x_D, q)`` are validated by
``app.state.check_charges`` / ``app.state.parse_upload`` and stored under ``app.state.CUSTOM_KEYS``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import state, ui
from app.compute.exact import Scene
from app.figures import exact as fe
from app.figures.common import Box, site_grid
from app.state import CUSTOM_KEYS

SITES = 25  # clickable sites per axis of the face-on view


def charge_editor(scene: Scene, box: Box) -> None:
    """The whole editor for ``scene`` (its charges as the starting rows), sites spread over ``box``."""
    D = scene.D
    st.markdown(
        "Click a grey dot to add a charge there; select charges (click, box or lasso) and remove them; edit the tables; "
        "or upload a CSV / NPY point cloud (one charge per row: coordinates, then an optional charge magnitude). "
        "Each plate's magnitudes are scaled to total charge 1 (P: +1, Q: −1)."
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
        "A click adds a charge to", ["pos", "neg"], default="pos", format_func=lambda s: "P (+)" if s == "pos" else "Q (−)",
        key="edit_target", required=True, help="Which plate a click on a grey dot adds a charge to (D = 1: the row you click decides).",
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
                    ss[CUSTOM_KEYS[side]] = state.check_charges(np.concatenate([rows[side], new]), D, state.PLATE_NAMES[side])
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


def _plate_table(side: str, rows: np.ndarray, D: int) -> None:
    """The editable table of one plate's charges; a valid edit replaces the plate's charges and reruns."""
    st.markdown(f"**{state.PLATE_NAMES[side]}**")
    base = pd.DataFrame(rows, columns=[f"x{i + 1}" for i in range(D)] + ["q"])
    edited = st.data_editor(
        base, num_rows="dynamic", key=state.table_key(side, rows), height=220,
        column_config={"q": st.column_config.NumberColumn("q", help="Charge magnitude (> 0); the plate's sign is fixed.", min_value=0.0)},
    )
    changed = edited.shape != base.shape or not np.allclose(edited.to_numpy(dtype=float), base.to_numpy(), equal_nan=True)
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
        on_change=_on_upload, help=f"One charge per row: {D} coordinate(s), then an optional magnitude > 0. At most {state.MAX_CHARGES} rows.",
    )
    if ss.get(f"_upload_error_{side}"):
        st.error(ss.pop(f"_upload_error_{side}") + " The plate keeps its previous charges.")
    st.download_button(
        f"Download {letter} charges (CSV)", state.charges_csv(rows), file_name=f"charges_{side}.csv",
        mime="text/csv", key=f"dl_charges_{side}", help="The charges as a CSV you can edit and upload again.",
    )
