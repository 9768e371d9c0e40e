"""The measured L sweep in a page (Streamlit code): one background job per L (``app.compute.large_l.l_row``), the
chart of what it measured and the sentence computed from the same values (``app.lesson.sweep_text``). The Theorem
3.1 page and the "Why large L is hard" page both draw it; on the same charges they share the jobs."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import background, lesson, ui
from app.compute import exact, large_l
from app.figures import exact as fe
from app.figures import story
from efm_core import Spread


def rows_arrays(rows: list[large_l.LRow]) -> dict[str, np.ndarray]:
    """The sweep's rows as arrays by field name (L, backward_share, ed_two_sided, ...); a ``Spread`` field as its
    values under its name and its noise under ``<name>_std``."""
    out = {}
    for name in large_l.LRow._fields:
        values = [getattr(r, name) for r in rows]
        if isinstance(values[0], Spread):
            out[f"{name}_std"] = np.array([v.std for v in values], dtype=float)
            values = [v.value for v in values]
        if name != "case_shares":
            out[name] = np.array(values, dtype=float)
    return out


def l_sweep(scene: exact.Scene, K: int, seed: int, p_toy: str | None, current_L: float | None, key: str,
            cases: bool = False) -> None:
    """Submit the sweep over ``exact.SWEEP_LS`` (K lines of each kind) and draw it as its results arrive; the
    sentence once every L is in. ``cases``: also the share of each Theorem 3.1 case over L."""
    jobs = {("lstory", scene.key, Li, K, seed, p_toy): (large_l.l_row, (scene, Li, K, seed, p_toy))
            for Li in exact.SWEEP_LS}
    futures = list(background.submit("lstory", jobs).values())

    def waiting(done: int, total: int) -> None:
        st.progress(done / total,
                    text=f"Measuring {K} lines of each kind at {total} values of L, in the background: {done} done.")

    def draw(ready: list) -> None:
        rows = [r for _, r in ready]
        a = rows_arrays(rows)
        noisy = {name: (a[name], a[f"{name}_std"])
                 for name in ("ed_two_sided", "ed_forward", "backward_share", "outside_share")}
        fig = story.l_sweep_figure(a["L"], {"two-sided": noisy["ed_two_sided"], "forward-only": noisy["ed_forward"]},
                                   (a["floor_mean"], a["floor_hi"]), noisy["backward_share"], a["bulge"],
                                   a["region_radius"], noisy["outside_share"], current_L)
        ui.chart(fig, key=key)
        if cases:
            shares = {c: np.array([r.case_shares[c] for r in rows]) for c in rows[0].case_shares}
            cases_fig, _ = fe.sweep_figures(a["L"], shares, {}, current_L=current_L, L_max=max(exact.SWEEP_LS))
            ui.chart(cases_fig, key=f"{key}_cases")
        if len(rows) == len(jobs):
            st.markdown(lesson.sweep_text(rows))

    ui.background_panel(futures, 1.0, "The L sweep", waiting, draw, partial=True)
