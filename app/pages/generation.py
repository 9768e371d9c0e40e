"""Page "Generation": noise -> digits with the pretrained EFM checkpoint and flow matching beside it (seed, count,
solver and steps; a grid of samples, a trajectory strip, NFE and time; per sample the classifier's reading and the
nearest training image), or with a checkpoint the user uploads (validated, with a clear message for anything else)."""

import numpy as np
import streamlit as st
import torch

from app import exports_learning, learning, ui
from app import figures_learning as fl
from efm_core import grey
from efm_core.checkpoints import Checkpoint
from efm_core.presets import FiniteSource, make_source

PRETRAINED = {"EFM": "digits-gen", "flow matching": "fm-digits-gen"}
SOURCES = {"pretrained": "Shipped checkpoints", "upload": "Your checkpoint"}
STRIP_LEVELS = 8
STRIP_ROWS = 6
COLS = 8

st.title("Generation: from noise to digits")
st.caption(
    "Gaussian noise sits as positive charges on the plate z = 0, scikit-learn's 8×8 digits as negative charges on z = L. "
    "A network learned the direction of their field; each sample is a noise image moved along it to the digits' plate."
)
ss = st.session_state

# ------------------------------------------------------------------------------------------------------- upload
UPLOAD_KEY = "_gen_upload"  # (digest, base name, tensor bytes, card bytes) of the last valid upload


def _on_upload() -> None:
    files = ss.get("gen_files") or []
    if not files:
        return
    try:
        upload = learning.read_upload([(f.name, f.getvalue()) for f in files])
        learning.load_uploaded(*upload)
    except ValueError as err:  # CheckpointError is a ValueError
        ss["_gen_upload_error"] = str(err)
        return
    ss[UPLOAD_KEY] = upload
    ss["gen_model"] = "upload"


source = ui.segmented("Model", "gen_model", list(SOURCES), SOURCES)
if source == "upload" or ss.get("_gen_upload_error"):
    with st.container(border=True):
        st.file_uploader(
            "Upload a checkpoint: NAME.safetensors and NAME.json together", type=["safetensors", "json"], accept_multiple_files=True,
            key="gen_files", on_change=_on_upload,
            help="The two files `python -m efm_core train` writes. The card is checked (format, config, hashes, tensor shapes) and "
            f"nothing in it is executed; at most {learning.MAX_UPLOAD_BYTES // 2**20} MB.",
        )
        if ss.get("_gen_upload_error"):
            st.error(f"This upload cannot be used: {ss.pop('_gen_upload_error')} The previous model is kept.")

c1, c2, c3, c4 = st.columns([2, 2, 3, 2], vertical_alignment="bottom")
with c1:
    seed = int(ui.number("Seed", "gen_seed"))
with c2:
    n = int(ui.number("Samples", "gen_n"))
with c3:
    solver = ui.select("Solver", "solver", list(learning.SOLVER_LABELS), learning.SOLVER_LABELS)
with c4:
    steps = int(ui.number("Solver steps", "solver_steps"))

models: dict[str, tuple[str, Checkpoint]] = {}  # label -> (cache key, checkpoint)
if source == "upload":
    upload = ss.get(UPLOAD_KEY)
    if upload is None:
        st.info("Upload a checkpoint made by `python -m efm_core train` (both files at once) to generate with it.")
        st.stop()
    with ui.guard("Could not load the uploaded checkpoint"):
        models[upload[1]] = (upload[0], learning.load_uploaded(*upload))
else:
    for label, name in PRETRAINED.items():
        with ui.guard(f"Could not load the checkpoint {name}"):
            ckpt = learning.load_pretrained(name)
            if ckpt is None:
                st.info(learning.missing_message(name))
            else:
                models[label] = (learning.pretrained_key(name), ckpt)
if not models:
    st.stop()

results: dict[str, learning.Moved] = {}
with st.spinner("Generating…"):
    for label, (key, ckpt) in models.items():
        with ui.guard(f"Could not generate with {label}"):
            results[label] = learning.generate_items(key, ckpt, n, seed, solver, steps, STRIP_LEVELS)
if not results:
    st.stop()


def _is_digits(ckpt: Checkpoint) -> bool:
    end = ckpt.config.p if ckpt.config.one_plate else ckpt.config.q
    return end.get("kind") in ("digits", "coloured_digits")


def _images(label: str, ckpt: Checkpoint, moved: learning.Moved) -> None:
    labels = None
    if _is_digits(ckpt):
        digits, probs = learning.readings(moved.x)
        labels = [f"{d} · {p:.0%}" for d, p in zip(digits, probs, strict=True)]
    st.plotly_chart(fl.images_figure(moved.x, COLS, labels=labels, tile_px=52), width="content", key=f"gen_grid_{label}", theme=None, config=fl.PLOT_CONFIG)
    rows = list(range(min(STRIP_ROWS, moved.x.shape[0])))
    st.markdown("**Trajectory strip**: the first samples on their way")
    st.plotly_chart(
        fl.images_figure(fl.strip_images(moved.path, rows), STRIP_LEVELS, x_labels=[f"{z:.2g}" for z in moved.levels], x_title="z, from the noise plate to the data plate",
                         y_labels=[f"#{i}" for i in rows], tile_px=40), width="content",
        key=f"gen_strip_{label}", theme=None, config=fl.PLOT_CONFIG,
    )


def _nearest(label: str, ckpt: Checkpoint, moved: learning.Moved) -> None:
    end = ckpt.config.p if ckpt.config.one_plate else ckpt.config.q
    train = make_source(end)
    if not isinstance(train, FiniteSource):
        return
    items, samples = train.items, moved.x
    if items.shape[1:] != samples.shape[1:]:  # coloured digits: the training strokes are grey; compare grey = max over channels
        samples = grey(torch.from_numpy(samples)).numpy()
    idx, dist = learning.nearest_items(samples, items)
    pairs = np.empty((2 * len(idx), *items.shape[1:]), dtype=np.float32)
    pairs[0::2], pairs[1::2] = samples, items[idx].numpy()
    labels = [t for i, d in enumerate(dist) for t in (f"#{i}", f"d = {d:.2f}")]
    st.plotly_chart(fl.images_figure(pairs, COLS, labels=labels, tile_px=44), width="content", key=f"gen_nearest_{label}", theme=None, config=fl.PLOT_CONFIG)
    a, b = st.columns(2)
    a.metric("Median distance", f"{np.median(dist):.2f}", help="Median L2 distance (pixels in [-1, 1]) from a sample to its nearest training image. Held-out real digits lie 0.94 or more, median 2.05, from theirs.")
    b.metric("Near-copies", f"{np.mean(dist < 0.5):.0%}", help="Share of samples closer than 0.5 to a training image: memorised rather than generated.")


cols = st.columns(len(results))
for col, (label, moved) in zip(cols, results.items(), strict=True):
    ckpt = models[label][1]
    with col:
        st.markdown(f"**{label}** · {learning.describe(ckpt)}")
        with st.expander("Model card"):
            st.json({k: v for k, v in ckpt.card.items() if k != "tensors"}, expanded=1)
        a, b, c = st.columns(3)
        a.metric("NFE", moved.nfe, help="Batched network evaluations the solver used (Euler: one per step, Heun: two, adaptive: as many as its error control needed).")
        b.metric("Time", f"{moved.seconds:.2f} s", help=f"Wall time to move all {n} samples from noise to data (cached: changing nothing reuses it).")
        c.metric("Bad lines", moved.bad, help="Samples whose line turned back (f_z ≤ f_min, the slope was guarded) or went non-finite.")
        if moved.x.ndim == 4:
            _images(label, ckpt, moved)
        else:
            reference = make_source(ckpt.config.q if ckpt.config.q is not None else ckpt.config.p).reference(max(n, 256)).double().numpy()
            st.plotly_chart(fl.points_figure({label: moved.x}, reference if reference.shape[1] <= 2 else None), key=f"gen_points_{label}", theme=None, config=fl.PLOT_CONFIG)

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
    e1.download_button("Samples (PNG)", exports_learning.png_bytes(fl.image_grid(moved.x, COLS)), file_name=f"samples_seed{seed}.png", mime="image/png",
                       key="dl_gen_png", help=f"The {label} samples as one picture, 8x enlarged.")
e2.download_button("Samples (NPY)", exports_learning.npy_bytes(moved.x), file_name=f"samples_seed{seed}.npy", key="dl_gen_npy",
                   help=f"The {label} samples as float32 ({', '.join(str(s) for s in moved.x.shape)}), the format of `python -m efm_core sample`.")
e3.download_button("Trajectories (NPY)", exports_learning.npy_bytes(moved.path), file_name=f"trajectories_seed{seed}.npy", key="dl_gen_traj",
                   help=f"The {label} samples at {STRIP_LEVELS} heights from z = 0 to z = L, float32 ({STRIP_LEVELS}, n, ...).")
