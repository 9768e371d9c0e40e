"""Page "Translation": coloured digits 2 -> 3 and 3 -> 2 with the pretrained EFM checkpoint and the flow-matching
baseline beside it; held-out inputs picked from a gallery or at random, each output with its trajectory strip
across z, the classifier's reading, hue in vs hue out, and the metrics over the whole gallery."""

import numpy as np
import pandas as pd
import streamlit as st

from app import exports, ui
from app.components.learned import pick_inputs, whole_gallery
from app.components.loading import shipped
from app.compute import learned, loading
from app.figures import learned as fl

DIRECTIONS = {"2to3": (2, 3), "3to2": (3, 2)}
DIRECTION_LABELS = {"2to3": "2 → 3", "3to2": "3 → 2"}
MAX_PICKS = 8
COLS = 8  # gallery tiles per row: 8 x 64 px fit the page at 1000 px

ui.page_header(
    "Translation: coloured digits from one class to another",
    "Coloured 2s sit as positive charges on the plate z = 0, coloured 3s as negative charges on z = L. A network learned "
    "the direction of their field; moving an image along it from one plate to the other turns a 2 into a 3, and moving "
    "backwards turns a 3 into a 2. Flow matching, trained on the same data for the same number of steps, is shown beside.",
)

ui.glossary(["P and Q", "z", "NFE", "bad lines", "minibatch OT plan", "flow matching", "checkpoint", "Heun"])
c1, c2, c3, c4 = st.columns([2, 3, 2, 2], vertical_alignment="bottom")
with c1:
    direction = ui.segmented("Direction", "tr_dir", list(DIRECTIONS), DIRECTION_LABELS)
with c2:
    solver = ui.select("Solver", "tr_solver", list(learned.SOLVER_LABELS), learned.SOLVER_LABELS)
with c3:
    steps = int(ui.number("Solver steps", "tr_solver_steps"))
with c4:
    gallery_seed = int(ui.number("Gallery seed", "tr_seed"))
source, target = DIRECTIONS[direction]

models: dict[str, tuple[str, bool]] = {}  # label -> (checkpoint name, run backwards)
for label, prefix in zip(learned.MODEL_NAMES, ("", "fm-"), strict=True):
    found = loading.translation_models(source, target, prefix)
    if found is not None:
        models[label] = found
    else:
        st.info(loading.missing_message(f"{prefix}cdigits-2to3"))
loaded = shipped({label: name for label, (name, _) in models.items()}) if "EFM" in models else {}  # label -> (key, ckpt)
if not loaded:
    st.stop()

images, hues = learned.gallery(source, gallery_seed)
n_items = len(images)

results: dict[str, learned.Moved] = {}
with st.spinner("Translating the gallery…"):
    for label, (key, ckpt) in loaded.items():
        name, reverse = models[label]
        with ui.guard(f"Could not translate with {name}"):
            results[label] = learned.translate_items(key, ckpt, images, reverse, solver, steps, fl.HALF_STRIP_LEVELS)
if not results:
    st.stop()


# ------------------------------------------------------------------------------------------------------- gallery
st.subheader("Inputs")
st.markdown(
    f"The gallery holds every held-out {source} of the digits (never used in training), each in a random hue. "
    f"Click a tile to add it to the inputs or remove it (at most {MAX_PICKS})."
)
picks = pick_inputs(images, COLS, MAX_PICKS)

# ------------------------------------------------------------------------------------------------------- outputs
st.subheader(f"Outputs: {DIRECTION_LABELS[direction]}")
if not picks:
    st.info("Pick at least one input in the gallery above.")
heads, bodies = st.columns(len(results)), st.columns(len(results))  # a row of headers: the strips below start level
for head, col, (label, moved) in zip(heads, bodies, results.items(), strict=True):
    name, reverse = models[label]
    head.markdown(f"**{label}** · `{name}`{' run backwards' if reverse else ''} · NFE {moved.nfe} · {moved.seconds:.2f} s for {n_items} images · bad lines {moved.bad}")
    with col:
        if picks:
            digits, probs = learned.readings(moved.x[picks])
            out_hues = learned.hues(moved.x[picks])
            ui.chart(
                fl.strip_figure(moved.path, moved.levels, picks, "share of the way: input (0) → output (1)"),
                width="content", key=f"tr_strip_{label}",
            )
            st.dataframe(
                pd.DataFrame({
                    "input": [f"#{i}" for i in picks], "reads as": digits, "probability": probs,
                    "hue in (°)": np.round(hues[picks]), "hue out (°)": np.round(out_hues),
                }),
                hide_index=True, key=f"tr_table_{label}",
                column_config={"probability": st.column_config.ProgressColumn("probability", min_value=0.0, max_value=1.0, format="percent")},
            )

# ---------------------------------------------------------------------------------------------------- metrics
whole_gallery(results, images, hues, picks, target)

with st.expander("All outputs", expanded=False):
    for label, moved in results.items():
        st.markdown(f"**{label}**")
        ui.chart(fl.images_figure(moved.x, COLS), width="content", key=f"tr_all_{label}")

ui.explain(
    f"Each row of a strip is one input carried from its plate to the other, shown at {fl.HALF_STRIP_LEVELS} heights z. The "
    "stroke slides from the shape of a 2 into the shape of a 3. The chart on the right puts every gallery image at its "
    "input hue (across) and how far its hue moved (up): on the zero line the colour was kept.",
    "Nothing in the field knows about colour: a 2 becomes the 3 its field line ends on. In 192 dimensions the field "
    "between a pair of images points almost exactly from one to the other, so a well-fitted field keeps no more colour "
    "than the pairs it was trained on: independently drawn pairs lose the hue, pairs matched by a minibatch "
    "optimal-transport plan (a red 2 with a red 3) keep it. "
    + {"ot": "The EFM model here was trained on OT-matched pairs. ", "independent": "The EFM model here was trained on independent pairs. "}.get(
        loaded["EFM"][1].config.sampler.get("pairing", "independent") if "EFM" in loaded else "", "")
    + "Flow matching with the same data and budget is the yardstick.",
    [
        r"\frac{dx}{dz} = \frac{f_x(x, z)}{\max(f_z(x, z), f_{\min})}:\quad x(0) = \text{a 2} \;\longrightarrow\; x(L) = \text{a 3}",
        r"\text{3} \to \text{2}:\ \text{the same equation integrated from } z = L \text{ down to } z = 0",
    ],
)

st.subheader("Export")
e1, e2, e3 = st.columns(3)
efm = results.get("EFM") or next(iter(results.values()))
e1.download_button("EFM outputs (PNG)", exports.png_bytes(fl.image_grid(efm.x, COLS)), file_name=f"translation_{direction}.png", mime="image/png",
                   key="dl_tr_png", help="The gallery's outputs as one picture, 8x enlarged.")
e2.download_button("EFM outputs (NPY)", exports.npy_bytes(efm.x), file_name=f"translation_{direction}.npy", key="dl_tr_npy",
                   help="The outputs as float32 (n, 3, 8, 8) in [-1, 1], the format the CLI's transport command reads and writes.")
e3.download_button("EFM trajectories (NPY)", exports.npy_bytes(efm.path), file_name=f"translation_{direction}_trajectories.npy", key="dl_tr_traj",
                   help=f"The gallery at {fl.HALF_STRIP_LEVELS} heights from the input plate to the output plate, float32 ({fl.HALF_STRIP_LEVELS}, n, 3, 8, 8).")
