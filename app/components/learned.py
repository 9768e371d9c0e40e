"""The Translation page's input picker: a gallery of images whose tiles a click adds to or removes from the inputs,
a multiselect of the same picks (kept in the URL as ``tr_pick``) and a button for random ones. Streamlit code."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import ui
from app.figures import learned as fl
from app.state import WIDGETS


def pick_inputs(images: np.ndarray, cols: int, max_picks: int) -> list[int]:
    """The gallery of ``images`` (n, C, H, W), ``cols`` per row; returns the picked indices (at most ``max_picks``)."""
    ss = st.session_state
    n_items = len(images)

    def _set_random() -> None:
        rng = np.random.default_rng()
        ss["tr_pick"] = sorted(int(i) for i in rng.choice(n_items, size=min(4, n_items), replace=False))

    valid = [int(i) for i in ss.get("tr_pick", WIDGETS["tr_pick"].default) if 0 <= int(i) < n_items][:max_picks]
    if valid != ss.get("tr_pick"):  # a smaller gallery (the other direction) or a hand-edited link
        ss["tr_pick"] = valid

    def _toggle(selection: dict) -> bool:
        picks = list(ss.get("tr_pick", []))
        for p in selection["points"]:
            i = int(p.get("point_index", p.get("pointIndex", -1)))
            if 0 <= i < n_items:
                picks = [j for j in picks if j != i] if i in picks else (picks + [i])[-max_picks:]
        ss["tr_pick"] = sorted(picks)
        return True

    gallery_event = ui.chart(
        fl.images_figure(images, cols, labels=[f"#{i}" for i in range(n_items)], selected=valid, clickable=True), width="content",
        key=ui.chart_key("tr_gallery"), on_select=ui.on_selection("tr_gallery", _toggle), selection_mode="points",
    )
    ui.consume_selection("tr_gallery", gallery_event, _toggle)
    p1, p2 = st.columns([8, 2], vertical_alignment="bottom")
    with p1:
        ui._keep("tr_pick")
        picks = st.multiselect(
            "Inputs", list(range(n_items)), default=WIDGETS["tr_pick"].default, format_func=lambda i: f"#{i}", key="tr_pick",
            max_selections=max_picks, help=WIDGETS["tr_pick"].help, **ui.BOUND,
        )
    p2.button("Random inputs", on_click=_set_random, help="Pick four gallery images at random.", width="stretch")
    return [int(i) for i in (picks or [])][:max_picks]
