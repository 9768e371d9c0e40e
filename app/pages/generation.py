"""Page "Generation": noise -> digits with the pretrained EFM checkpoint and flow matching beside it (seed, count,
solver and steps; a grid of samples, a trajectory strip, NFE and time; per sample the classifier's reading and the
nearest training image), or with a checkpoint the user uploads (validated, with a clear message for anything else)."""

import numpy as np
import streamlit as st

from app import exports, model_picker, ui
from app.compute import learned, loading
from app.compute.loading import Checkpoint
from app.figures import learned as fl

PRETRAINED = {"EFM": "digits-gen", "flow matching": "fm-digits-gen"}
SOURCES = {"pretrained": "Shipped checkpoints", "upload": "Your checkpoint"}
STRIP_LEVELS = 8
STRIP_ROWS = 6
COLS = 6  # tiles per row: 6 x 64 px fit the page's half width
NEAREST_COLS = 6

ui.page_header(
    "Generation: from noise to digits",
    "Gaussian noise sits as positive charges on the plate z = 0, scikit-learn's 8×8 digits as negative charges on z = L. "
    "A network learned the direction of their field; each sample is a noise image moved along it to the digits' plate.",
)
ui.glossary(["P and Q", "z", "NFE", "bad lines", "f_min", "EMA", "flow matching"])
source = ui.segmented("Model", "gen_model", list(SOURCES), SOURCES)
model_picker.upload_box(source == "upload")

c1, c2, c3, c4 = st.columns([2, 2, 3, 2], vertical_alignment="bottom")
with c1:
    seed = int(ui.number("Seed", "gen_seed"))
with c2:
    n = int(ui.number("Samples", "gen_n"))
with c3:
    solver = ui.select("Solver", "gen_solver", list(learned.SOLVER_LABELS), learned.SOLVER_LABELS)
with c4:
    steps = int(ui.number("Solver steps", "gen_solver_steps"))

models = model_picker.uploaded() if source == "upload" else model_picker.shipped(PRETRAINED)  # label -> (cache key, checkpoint)
if not models:
    st.stop()

results: dict[str, learned.Moved] = {}
with st.spinner("Generating…"):
    for label, (key, ckpt) in models.items():
        with ui.guard(f"Could not generate with {label}"):
            results[label] = learned.generate_items(key, ckpt, n, seed, solver, steps, STRIP_LEVELS)
if not results:
    st.stop()


def _is_digits(ckpt: Checkpoint) -> bool:
    return learned.data_end(ckpt.config).get("kind") in ("digits", "coloured_digits")


def _images(label: str, ckpt: Checkpoint, moved: learned.Moved) -> None:
    labels = None
    if _is_digits(ckpt):
        digits, probs = learned.readings(moved.x)
        labels = [f"{d} · {p:.0%}" for d, p in zip(digits, probs, strict=True)]
    ui.chart(fl.images_figure(moved.x, COLS, labels=labels), width="content", key=f"gen_grid_{label}")
    rows = list(range(min(STRIP_ROWS, moved.x.shape[0])))
    st.markdown("**Trajectory strip**: the first samples on their way")
    ui.chart(
        fl.strip_figure(moved.path, moved.levels, rows, "z, from the noise plate to the data plate"), width="content",
        key=f"gen_strip_{label}",
    )


def _nearest(label: str, ckpt: Checkpoint, moved: learned.Moved) -> None:
    found = learned.nearest_training(ckpt.config, moved.x)
    if found is None:
        return
    samples, nearest, dist = found
    ui.chart(fl.nearest_figure(samples, nearest, dist, NEAREST_COLS), width="content", key=f"gen_nearest_{label}")
    a, b = st.columns(2)
    a.metric("Median distance", f"{np.median(dist):.2f}", help="Median L2 distance (pixels in [-1, 1]) from a sample to its nearest training image. Held-out real digits lie 0.94 or more, median 2.05, from theirs.")
    b.metric("Near-copies", f"{np.mean(dist < 0.5):.0%}", help="Share of samples closer than 0.5 to a training image: memorised rather than generated.")


cols = st.columns(len(results))
for col, (label, moved) in zip(cols, results.items(), strict=True):
    ckpt = models[label][1]
    with col:
        st.markdown(f"**{label}** · {loading.describe(ckpt)}")
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
    st.subheader("Memorisation check: each sample beside its nearest training image")
    cols = st.columns(len(results))
    for col, (label, moved) in zip(cols, results.items(), strict=True):
        with col, ui.guard(f"Could not compare {label} with the training images"):
            st.markdown(f"**{label}**")
            _nearest(label, models[label][1], moved)

ui.explain(
    "Every tile is one sample, read by the project's digit classifier (its digit and probability above the tile). The "
    "strip shows samples on their way: at z = 0 pure noise, then the field sharpens them into strokes. EFM and flow "
    "matching start from the same noise (sample i starts from the same image in both), so their outputs can be "
    "compared one by one. The last rows put each sample beside the training digit nearest to it.",
    "Following the exact field of the training set would only reproduce training digits (the High dimensions page "
    "shows why). A learned field generalises: its samples should read as digits, cover all classes, and not be copies "
    "of training images. Euler with few steps is cheap but crude; Heun or the adaptive solver cost more network calls.",
    [
        r"x(0) \sim \mathcal N(0, I_{64}),\qquad \frac{dx}{dz} = \frac{f_x(x, z)}{\max(f_z(x, z), f_{\min})},\qquad x(L) \approx \text{a digit}",
        r"\text{Euler: } x_{k+1} = x_k + h\,\frac{f_x}{f_z}(x_k, z_k),\quad h = L / N",
    ],
)

st.subheader("Export")
label, moved = next(iter(results.items()))
e1, e2, e3 = st.columns(3)
if moved.x.ndim == 4:
    e1.download_button("Samples (PNG)", exports.png_bytes(fl.image_grid(moved.x, COLS)), file_name=f"samples_seed{seed}.png", mime="image/png",
                       key="dl_gen_png", help=f"The {label} samples as one picture, 8x enlarged.")
e2.download_button("Samples (NPY)", exports.npy_bytes(moved.x), file_name=f"samples_seed{seed}.npy", key="dl_gen_npy",
                   help=f"The {label} samples as float32 ({', '.join(str(s) for s in moved.x.shape)}), the format of `python -m efm_core sample`.")
e3.download_button("Trajectories (NPY)", exports.npy_bytes(moved.path), file_name=f"trajectories_seed{seed}.npy", key="dl_gen_traj",
                   help=f"The {label} samples at {STRIP_LEVELS} heights from z = 0 to z = L, float32 ({STRIP_LEVELS}, n, ...).")
