"""The High dimensions page's memorisation check (Streamlit code; the numbers from ``app.compute.dimensions``): fresh
noise carried along the exact field of noise charges on P and training images on Q lands on the training images,
the shipped network's samples from the same noise do not. The exact lines are traced in the background and drawn in
place, so the page's charts never wait for them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import background, lesson, ui
from app.compute import dimensions, loading
from app.compute.loading import IMAGE_DATA
from app.figures import learned as fl


def memorisation(data: str, n: int, L: float, trace: bool) -> None:
    """Section 5 for the image data ``data`` (a key of ``IMAGE_DATA``), ``n`` charges per plate, plates ``L`` apart;
    the lines are traced only when ``trace`` (the data set is installed)."""
    info = IMAGE_DATA[data]
    gen = info.pair["EFM"]
    st.subheader("5. Following the exact field memorises; the learned field does not")
    st.markdown(
        f"Fresh noise, carried by Theorem 3.1's map along the exact field of {n} noise charges on P and {n} training "
        f"images of {info.label} on Q (L = {L:g}): each line ends **on** one of the image charges, a copy of a "
        f"training image (distance 0 to its nearest training image). The shipped `{gen}` network, from the same "
        "noise, draws new images."
    )
    ckpt = None
    with ui.guard(f"Could not load {gen}"):
        ckpt = loading.load_pretrained(gen)
    if not trace:
        return

    def waiting(done: int, total: int) -> None:
        st.info(f"Tracing 8 lines in {info.D + 1} dimensions, in the background… (the charts above are up to date)")

    def draw(ready: list) -> None:
        _draw(ready[0][1], data, gen)

    job_key = ("memorised", data, n, L, loading.pretrained_key(gen))
    job = background.submit("memorised", {job_key: (dimensions.memorisation_check, (n, L, ckpt, data))})[job_key]
    ui.background_panel([job], 0.5, f"Tracing the exact lines at D = {info.D}", waiting, draw)


def _draw(check: dimensions.MemorisationCheck, data: str, gen: str) -> None:
    """The noise, the exact lines' ends (with the nearest image's index and distance) and the learned samples."""
    info = IMAGE_DATA[data]
    mem, moved, near = check
    k = len(mem.starts)
    lost = np.array(mem.cases)[:, None] == "lost"
    rows = [mem.starts, np.where(lost, 0.0, mem.ends)]  # a lost line's last point is no image
    labels = [""] * k + [f"#{c} · {d:.2f}" if case != "lost" else "lost"
                         for c, d, case in zip(mem.charge, mem.nearest, mem.cases, strict=True)]
    names = ["noise (start)", "exact: end"] + (["learned: end"] if moved is not None else [])
    if moved is not None:
        rows, labels = rows + [moved], labels + [f"{d:.2f}" for d in near]
    tiles = np.concatenate(rows).reshape(-1, *info.shape)
    figure = fl.images_figure(tiles, k, labels=labels, y_labels=names, tile_px=fl.tile_px(info.shape[1]))
    ui.chart(figure, key="hd_memorised")
    caption = lesson.memorised_caption(info.held, info.D, mem.traced, mem.lost, mem.charge.tolist())
    st.caption(caption + ("" if moved is not None else f" The learned row needs pretrained/{gen}."))
