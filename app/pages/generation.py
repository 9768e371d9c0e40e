"""Page "Generation": noise -> images with a shipped pair of checkpoints, EFM and flow matching beside it, on
scikit-learn's 8×8 digits or Fashion-MNIST's 28×28 clothing (seed, count, solver and steps; a grid of samples, a
trajectory strip, NFE and time; per sample the classifier's reading and the nearest training image), or with a
checkpoint the user uploads (validated, with a clear message for anything else). The Fashion-MNIST samples and
readings need only the shipped checkpoints; the nearest training images need the data set, and say so without it."""

from typing import NamedTuple

import streamlit as st

from app import exports, lesson, ui
from app.components.learned import memorisation_check
from app.components.loading import shipped, upload_box, uploaded
from app.compute import learned, loading
from app.compute.loading import IMAGE_DATA, Checkpoint
from app.figures import learned as fl


class Look(NamedTuple):
    """How a data set is drawn: its count and steps widgets, tiles per row of the grid (half the page wide at 1000 px)
    and of the nearest images, sample rows of the strip, strips and nearest images one model below the other
    (``stacked``, for pictures wider than half the page)."""

    n_key: str
    steps_key: str
    cols: int
    nearest_cols: int
    strip_rows: int
    stacked: bool


LOOKS = {"digits": Look("gen_n", "gen_solver_steps", 6, 6, 6, False), "fashion": Look("gen_f_n", "gen_f_solver_steps", 4, 8, 3, True)}
SOURCES = {"pretrained": "Shipped checkpoints", "upload": "Your checkpoint"}

header = st.container()
m1, m2 = st.columns(2)
with m1:
    source = ui.segmented("Model", "gen_model", list(SOURCES), SOURCES)
with m2:
    data = ui.segmented("Data set", "gen_data", list(IMAGE_DATA), {k: d.label for k, d in IMAGE_DATA.items()}, disabled=source == "upload")
data = data if source == "pretrained" else "digits"  # an upload brings its own data (the app rebuilds digits, toys)
look, info = LOOKS[data], IMAGE_DATA[data]
tile = fl.tile_px(info.shape[1])
with header:
    ui.page_header(*lesson.GENERATION[data])
    ui.glossary(["P and Q", "z", "D", *(["Fashion-MNIST"] if data == "fashion" else []), "NFE", "bad lines", "f_min", "nearest training image", "flow matching", "checkpoint", "Heun"])
upload_box(source == "upload")

c1, c2, c3, c4 = st.columns([2, 2, 3, 2], vertical_alignment="bottom")
with c1:
    seed = int(ui.number("Seed", "gen_seed"))
with c2:
    n = int(ui.number("Samples", look.n_key))
with c3:
    solver = ui.select("Solver", "gen_solver", list(learned.SOLVER_LABELS), learned.SOLVER_LABELS)
with c4:
    steps = int(ui.number("Solver steps", look.steps_key))

models = uploaded() if source == "upload" else shipped(info.pair)  # label -> (cache key, checkpoint)
if not models:
    st.stop()

results: dict[str, learned.Moved] = {}
with st.spinner("Generating…"):
    for label, (key, ckpt) in models.items():
        with ui.guard(f"Could not generate with {label}"):
            results[label] = learned.generate_items(key, ckpt, n, seed, solver, steps, fl.STRIP_LEVELS)
if not results:
    st.stop()


def _images(label: str, ckpt: Checkpoint, moved: learned.Moved) -> None:
    labels = None
    if learned.data_end(ckpt.config).get("kind") in learned.CLASSIFIED:
        with ui.guard("Could not read the samples with the classifier"):
            labels = learned.reading_labels(moved.x)
    ui.chart(fl.images_figure(moved.x, look.cols, labels=labels, tile_px=tile), width="content", key=f"gen_grid_{label}")


def _strip(label: str, moved: learned.Moved) -> None:
    rows = list(range(min(look.strip_rows, moved.x.shape[0])))
    st.markdown(f"**Trajectory strip{f' ({label})' if look.stacked else ''}**: the first samples on their way")
    ui.chart(fl.strip_figure(moved.path, moved.levels, rows, "z / L: noise plate (0) → data plate (1)", tile_px=tile), width="content", key=f"gen_strip_{label}")


heads, bodies = st.columns(len(results)), st.columns(len(results))  # a row of headers: the grids below start level
for head, col, (label, moved) in zip(heads, bodies, results.items(), strict=True):
    ckpt = models[label][1]
    head.markdown(f"**{label}** · {loading.describe(ckpt)}")
    with col:
        with st.expander("Model card"):
            ui.model_card(ckpt.card)
        a, b, c = st.columns(3)
        a.metric("NFE", moved.nfe, help="Batched network evaluations the solver used (Euler: one per step, Heun: two, adaptive: as many as its error control needed).")
        b.metric("Time", f"{moved.seconds:.2f} s", help=f"Wall time to move all {n} samples from noise to data (cached: changing nothing reuses it).")
        c.metric("Bad lines", moved.bad, help="Samples whose line turned back (the learned slope f_z fell to f_min or below and was guarded) or went non-finite.")
        if moved.x.ndim == 4:
            _images(label, ckpt, moved)
        else:
            reference = learned.reference_points(ckpt.config, n)
            ui.chart(fl.points_figure({label: moved.x}, reference if reference.shape[1] <= 2 else None), key=f"gen_points_{label}")

if any(m.x.ndim == 4 for m in results.values()):
    for place, (label, moved) in zip(ui.panels(len(results), look.stacked), results.items(), strict=True):
        with place:
            _strip(label, moved)
    memorisation_check(results, models, info, (n, seed, solver, steps), tile=tile, cols=look.nearest_cols, stacked=look.stacked)

ui.explain(
    "Every tile is one sample, read by the project's classifier of the data set (its class and probability above the "
    f"tile). The strip shows samples on their way: at z = 0 pure noise, then the field sharpens them into {info.what}. "
    "EFM and flow matching start from the same noise (sample i starts from the same image in both), so their outputs "
    "can be compared one by one. The last rows put each sample beside the training image nearest to it.",
    f"Following the exact field of the training set would only reproduce training images (the High dimensions page "
    f"shows why, at D = 64 and D = 784). A learned field generalises: its samples should read as {info.what}, cover all "
    "classes, and not be copies of training images. Euler with few steps is cheap but crude; Heun or the adaptive "
    "solver cost more network calls.",
    [
        rf"x(0) \sim \mathcal N(0, I_{{{info.D}}}),\qquad \frac{{dx}}{{dz}} = \frac{{f_x(x, z)}}{{\max(f_z(x, z), f_{{\min}})}},\qquad x(L) \approx \text{{a training-like image}}",
        r"\text{Euler: } x_{k+1} = x_k + h\,\frac{f_x}{f_z}(x_k, z_k),\quad h = L / N",
    ],
)

st.subheader("Export")
label, moved = next(iter(results.items()))
e1, e2, e3 = st.columns(3)
if moved.x.ndim == 4:
    e1.download_button("Samples (PNG)", exports.png_bytes(fl.image_grid(moved.x, look.cols)), file_name=f"samples_seed{seed}.png", mime="image/png",
                       key="dl_gen_png", help=f"The {label} samples as one picture, 8x enlarged.")
e2.download_button("Samples (NPY)", exports.npy_bytes(moved.x), file_name=f"samples_seed{seed}.npy", key="dl_gen_npy",
                   help=f"The {label} samples as float32 ({', '.join(str(s) for s in moved.x.shape)}), the format of `python -m efm_core sample`.")
e3.download_button("Trajectories (NPY)", exports.npy_bytes(moved.path), file_name=f"trajectories_seed{seed}.npy", key="dl_gen_traj",
                   help=f"The {label} samples at {fl.STRIP_LEVELS} heights from z = 0 to z = L, float32 ({fl.STRIP_LEVELS}, n, ...).")
