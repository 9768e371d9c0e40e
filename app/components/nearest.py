"""The Generation page's memorisation check: each sample beside its nearest training image, with the median distance
and the share of near-copies. It is searched in the background (60,000 Fashion-MNIST images take seconds) and drawn
in place, so the samples never wait for it; without the data set installed, a note says how to install it.
Streamlit code; the numbers come from ``app.compute.learned.nearest_training``."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import streamlit as st

from app import background, ui
from app.compute import learned, loading
from app.compute.loading import Checkpoint, ImageData
from app.figures import learned as fl

WHAT = "The nearest training images, their distances and the near-copy share"


def _draw(label: str, found: tuple[np.ndarray, np.ndarray, np.ndarray] | None, info: ImageData, tile: int, cols: int) -> None:
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
        st.info(loading.missing_data_message(WHAT, "the samples and the classifier's readings above come from the shipped checkpoints alone"))
        return
    jobs = {(label, key, run): (learned.nearest_training, (ckpt.config, results[label].x)) for label, (key, ckpt) in shown.items()}
    futures = list(background.submit("gen_nearest", jobs).values())

    def waiting(done: int, total: int) -> None:
        st.info(f"Searching the training images for each sample's nearest, in the background ({done} of {total} models "
                "done)… the samples above are up to date.")

    def draw(ready: list) -> None:
        for place, (i, found) in zip(ui.panels(len(shown), stacked), ready, strict=False):
            with place:
                _draw(list(shown)[i], found, info, tile, cols)

    ui.background_panel(futures, 0.5, "The search for the nearest training images", waiting, draw)
