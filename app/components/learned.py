"""The learned-field pages' pieces (Streamlit code; the numbers from ``app.compute.learned``):

* ``pick_inputs`` (Translation): a gallery of images whose tiles a click adds to or removes from the inputs, a
  multiselect of the same picks (kept in the URL as ``tr_pick``) and a button for random ones;
* ``whole_gallery`` (Translation): each model's scores over the whole gallery with their noise, and hue in vs out;
* ``memorisation_check`` (Generation): each sample beside its nearest training image, with the median distance and
  the share of near-copies. It is searched in the background (60,000 Fashion-MNIST images take seconds) and drawn in
  place, so the samples never wait for it; without the data set installed, a note says how to install it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import streamlit as st

from app import background, ui
from app.compute import learned, loading
from app.compute.loading import Checkpoint, ImageData
from app.figures import learned as fl
from app.state import WIDGETS
from efm_core import Spread


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
        fl.images_figure(images, cols, labels=[f"#{i}" for i in range(n_items)], selected=valid, clickable=True),
        width="content",
        key=ui.chart_key("tr_gallery"), on_select=ui.on_selection("tr_gallery", _toggle), selection_mode="points",
    )
    ui.consume_selection("tr_gallery", gallery_event, _toggle)
    p1, p2 = st.columns([8, 2], vertical_alignment="bottom")
    with p1:
        ui._keep("tr_pick")
        picks = st.multiselect(
            "Inputs", list(range(n_items)), default=WIDGETS["tr_pick"].default, format_func=lambda i: f"#{i}",
            key="tr_pick",
            max_selections=max_picks, help=WIDGETS["tr_pick"].help, **ui.BOUND,
        )
    p2.button("Random inputs", on_click=_set_random, help="Pick four gallery images at random.", width="stretch")
    return [int(i) for i in (picks or [])][:max_picks]


WHAT = "The nearest training images, their distances and the near-copy share"


def _draw(label: str, found: tuple[np.ndarray, np.ndarray, np.ndarray] | None, info: ImageData, tile: int,
          cols: int) -> None:
    st.markdown(f"**{label}**")
    if found is None:  # data that is no finite set (a toy's density): nothing to be near
        return
    samples, nearest, dist = found
    ui.chart(fl.nearest_figure(samples, nearest, dist, cols, tile_px=tile), width="content", key=f"gen_nearest_{label}")
    a, b = st.columns(2)
    a.metric("Median distance", f"{np.median(dist):.2f}",
             help=f"Median L2 distance (pixels in [-1, 1]) from a sample to its nearest training image. {info.held}")
    b.metric("Near-copies", f"{np.mean(dist < info.copy):.0%}",
             help=f"Share of samples closer than {info.copy:g} to a training image: memorised rather than generated.")


def memorisation_check(
    results: dict[str, learned.Moved], models: dict[str, tuple[str, Checkpoint]], info: ImageData, run: Hashable, *,
    tile: int, cols: int, stacked: bool,
) -> None:
    """The section for the samples ``results`` (label -> moved) of ``models`` (label -> (cache key, checkpoint)),
    ``cols`` per row at ``tile`` px, side by side or ``stacked`` (``ui.panels``); ``run`` (the page's count, seed,
    solver, steps) names the samples in the background jobs' keys."""
    st.subheader("Memorisation check: each sample beside its nearest training image")
    shown = {label: models[label] for label in results}
    if not all(learned.data_installed(ckpt.config) for _, ckpt in shown.values()):
        st.info(loading.missing_data_message(
            WHAT, "the samples and the classifier's readings above come from the shipped checkpoints alone"))
        return
    jobs = {(label, key, run): (learned.nearest_training, (ckpt.config, results[label].x))
            for label, (key, ckpt) in shown.items()}
    futures = list(background.submit("gen_nearest", jobs).values())

    def waiting(done: int, total: int) -> None:
        st.info(f"Searching the training images for each sample's nearest, in the background ({done} of {total} models "
                "done)… the samples above are up to date.")

    def draw(ready: list) -> None:
        for place, (i, found) in zip(ui.panels(len(shown), stacked), ready, strict=False):
            with place:
                _draw(list(shown)[i], found, info, tile, cols)

    ui.background_panel(futures, 0.5, "The search for the nearest training images", waiting, draw)


def _scores(where: Any, rep: dict, target: int) -> None:
    """One model's ``learned.translation_scores`` as four metrics in two columns of ``where``."""
    a, b = where.columns(2)
    noise = f"± is the binomial noise of a share of {rep['n']} images, sqrt(p (1 − p) / n)."
    ui.noisy_metric(a, f"Read as {target}", Spread.of_share(rep["read_as_target"], rep["n"]), ".0%",
                    f"Share of outputs the project's digit classifier reads as a {target} (grey = max over the colour "
                    f"channels). {noise}")
    ui.noisy_metric(b, "Hue kept (±30°)", Spread.of_share(rep["hue_kept_share"], rep["n"]), ".0%",
                    "Share of outputs whose stroke hue is within 30° of the input's (a colourless output counts as "
                    f"not kept). {noise}")
    a.metric("Hue change", f"{rep['hue_error_median']:.0f}°",
             help="Median over the gallery of the circular difference between input and output hue.")
    b.metric("Confidence", f"{rep['confidence']:.2f}", help="Mean top probability of the classifier on the outputs.")


def whole_gallery(
    results: dict[str, learned.Moved], images: np.ndarray, hues: np.ndarray, picks: list[int], target: int,
) -> None:
    """The section "Over the whole gallery": each model's scores (``results``: label -> the gallery ``images``
    (n, C, H, W) moved) beside the chart of input hue vs hue change (``hues`` (n,) in degrees; ``picks`` marked)."""
    st.subheader("Over the whole gallery")
    m_left, m_right = st.columns([3, 2])
    with m_left:
        reports = {}
        for label, moved in results.items():
            with ui.guard(f"Could not score {label}"):
                reports[label] = learned.translation_scores(images, moved.x, target)
        for col, (label, rep) in zip(st.columns(len(reports) or 1), reports.items(), strict=True):
            col.markdown(f"**{label}**")
            _scores(col, rep, target)
    with m_right:
        outs = {label: learned.hues(moved.x) for label, moved in results.items()}
        ui.chart(fl.hue_figure(hues, outs, picks), key="tr_hue")
