"""Page "Translation": coloured digits 2 -> 3 and 3 -> 2 with the pretrained EFM checkpoint and the flow-matching
baseline beside it; held-out inputs picked from a gallery or at random, each output with its trajectory strip
across z, the classifier's reading, hue in vs hue out, and the metrics over the whole gallery."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from app import exports_learning, learning, ui
from app import figures_learning as fl
from app.state import WIDGETS
from efm_core import image_hues, translation_report

DIRECTIONS = {"2to3": (2, 3), "3to2": (3, 2)}
DIRECTION_LABELS = {"2to3": "2 → 3", "3to2": "3 → 2"}
STRIP_LEVELS = 7
MAX_PICKS = 8
COLS = 12

st.title("Translation: coloured digits from one class to another")
st.caption(
    "Coloured 2s sit as positive charges on the plate z = 0, coloured 3s as negative charges on z = L. A network learned "
    "the direction of their field; moving an image along it from one plate to the other turns a 2 into a 3, and moving "
    "backwards turns a 3 into a 2. Flow matching, trained on the same data for the same number of steps, is shown beside."
)
ss = st.session_state

c1, c2, c3, c4 = st.columns([2, 3, 2, 2], vertical_alignment="bottom")
with c1:
    direction = ui.segmented("Direction", "tr_dir", list(DIRECTIONS), DIRECTION_LABELS)
with c2:
    solver = ui.select("Solver", "solver", list(learning.SOLVER_LABELS), learning.SOLVER_LABELS)
with c3:
    steps = int(ui.number("Solver steps", "solver_steps"))
with c4:
    gallery_seed = int(ui.number("Gallery seed", "tr_seed"))
source, target = DIRECTIONS[direction]

models: dict[str, tuple[str, bool]] = {}
for label, prefix in zip(learning.MODEL_NAMES, ("", "fm-"), strict=True):
    found = learning.translation_models(source, target, prefix)
    if found is not None:
        models[label] = found
    else:
        st.info(learning.missing_message(f"{prefix}cdigits-2to3"))
if "EFM" not in models:
    st.stop()

loaded = {}
for label, (name, _) in models.items():
    with ui.guard(f"Could not load the checkpoint {name}"):
        ckpt = learning.load_pretrained(name)
        if ckpt is not None:
            loaded[label] = ckpt
if not loaded:
    st.stop()

images, hues = learning.gallery(source, gallery_seed)
n_items = len(images)

results: dict[str, learning.Moved] = {}
with st.spinner("Translating the gallery…"):
    for label, ckpt in loaded.items():
        name, reverse = models[label]
        with ui.guard(f"Could not translate with {name}"):
            results[label] = learning.translate_items(learning.pretrained_key(name), ckpt, images, reverse, solver, steps, STRIP_LEVELS)
if not results:
    st.stop()


# ------------------------------------------------------------------------------------------------------- gallery
def _set_random() -> None:
    rng = np.random.default_rng()
    ss["tr_pick"] = sorted(int(i) for i in rng.choice(n_items, size=min(4, n_items), replace=False))


valid = [int(i) for i in ss.get("tr_pick", WIDGETS["tr_pick"].default) if 0 <= int(i) < n_items][:MAX_PICKS]
if valid != ss.get("tr_pick"):  # a smaller gallery (the other direction) or a hand-edited link
    ss["tr_pick"] = valid
st.subheader("Inputs")
st.markdown(
    f"The gallery holds every held-out {source} of the digits (never used in training), each in a random hue. "
    f"Click a tile to add it to the inputs or remove it (at most {MAX_PICKS})."
)
gallery_event = st.plotly_chart(
    fl.images_figure(images, COLS, labels=[f"#{i}" for i in range(n_items)], selected=valid, clickable=True, tile_px=44), width="content",
    key=ui.chart_key("tr_gallery"), on_select="rerun", selection_mode="points", theme=None, config={"displayModeBar": False},
)


def _toggle(selection: dict) -> bool:
    picks = list(ss.get("tr_pick", []))
    for p in selection["points"]:
        i = int(p.get("point_index", p.get("pointIndex", -1)))
        if 0 <= i < n_items:
            picks = [j for j in picks if j != i] if i in picks else (picks + [i])[-MAX_PICKS:]
    ss["tr_pick"] = sorted(picks)
    return True


ui.consume_selection("tr_gallery", gallery_event, _toggle)
p1, p2 = st.columns([8, 2], vertical_alignment="bottom")
with p1:
    ui._keep("tr_pick")
    picks = st.multiselect(
        "Inputs", list(range(n_items)), default=WIDGETS["tr_pick"].default, format_func=lambda i: f"#{i}", key="tr_pick",
        max_selections=MAX_PICKS, help=WIDGETS["tr_pick"].help, **ui.BOUND,
    )
p2.button("Random inputs", on_click=_set_random, help="Pick four gallery images at random.", width="stretch")
picks = [int(i) for i in (picks or [])][:MAX_PICKS]

# ------------------------------------------------------------------------------------------------------- outputs
st.subheader(f"Outputs: {DIRECTION_LABELS[direction]}")
if not picks:
    st.info("Pick at least one input in the gallery above.")
cols = st.columns(len(results))
for col, (label, moved) in zip(cols, results.items(), strict=True):
    name, reverse = models[label]
    with col:
        st.markdown(f"**{label}** · `{name}`{' run backwards' if reverse else ''} · NFE {moved.nfe} · {moved.seconds:.2f} s for {n_items} images · bad lines {moved.bad}")
        if picks:
            digits, probs = learning.readings(moved.x[picks])
            out_hues = image_hues(torch.from_numpy(moved.x[picks])).numpy()
            st.plotly_chart(
                fl.images_figure(fl.strip_images(moved.path, picks), STRIP_LEVELS, x_labels=[f"{z:.2g}" for z in moved.levels],
                                 x_title="z, from the input plate to the output plate", y_labels=[f"#{i}" for i in picks], tile_px=44),
                width="content", key=f"tr_strip_{label}", theme=None, config=fl.PLOT_CONFIG,
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
st.subheader("Over the whole gallery")
m_left, m_right = st.columns([3, 2])
with m_left:
    reports = {}
    for label, moved in results.items():
        with ui.guard(f"Could not score {label}"):
            reports[label] = translation_report(images, moved.x, target)
    mcols = st.columns(len(reports) or 1)
    for col, (label, rep) in zip(mcols, reports.items(), strict=True):
        with col:
            st.markdown(f"**{label}**")
            a, b = st.columns(2)
            a.metric(f"Read as {target}", f"{rep['read_as_target']:.0%}", help=f"Share of outputs the project's digit classifier reads as a {target} (grey = max over the colour channels).")
            b.metric("Hue kept (±30°)", f"{rep['hue_kept_share']:.0%}", help="Share of outputs whose stroke hue is within 30° of the input's (a colourless output counts as not kept).")
            a.metric("Median hue change", f"{rep['hue_error_median']:.0f}°", help="Median over the gallery of the circular difference between input and output hue.")
            b.metric("Confidence", f"{rep['confidence']:.2f}", help="Mean top probability of the classifier on the outputs.")
with m_right:
    outs = {label: image_hues(torch.from_numpy(moved.x)).numpy() for label, moved in results.items()}
    st.plotly_chart(fl.hue_figure(hues, outs, picks), key="tr_hue", theme=None, config=fl.PLOT_CONFIG)

with st.expander("All outputs", expanded=False):
    for label, moved in results.items():
        st.markdown(f"**{label}**")
        st.plotly_chart(fl.images_figure(moved.x, COLS, tile_px=36), width="content", key=f"tr_all_{label}", theme=None, config=fl.PLOT_CONFIG)

ui.explain(
    f"Each row of a strip is one input carried from its plate to the other, shown at {STRIP_LEVELS} heights z. The "
    "stroke slides from the shape of a 2 into the shape of a 3. The chart on the right puts every gallery image at its "
    "input hue (across) and its output hue (up): on the diagonal the colour was kept.",
    "Nothing in the field knows about colour: a 2 becomes the 3 its field line ends on. In 192 dimensions the field "
    "between a pair of images points almost exactly from one to the other, so a well-fitted field keeps no more colour "
    "than the pairs it was trained on: independently drawn pairs lose the hue, pairs matched by a minibatch "
    "optimal-transport plan (a red 2 with a red 3) keep it. "
    + {"ot": "The EFM model here was trained on OT-matched pairs. ", "independent": "The EFM model here was trained on independent pairs. "}.get(
        loaded["EFM"].config.sampler.get("pairing", "independent") if "EFM" in loaded else "", "")
    + "Flow matching with the same data and budget is the yardstick.",
    [
        r"\frac{dx}{dz} = \frac{f_x(x, z)}{\max(f_z(x, z), f_{\min})}:\quad x(0) = \text{a 2} \;\longrightarrow\; x(L) = \text{a 3}",
        r"\text{3} \to \text{2}:\ \text{the same equation integrated from } z = L \text{ down to } z = 0",
    ],
)

st.subheader("Export")
e1, e2, e3 = st.columns(3)
efm = results.get("EFM") or next(iter(results.values()))
e1.download_button("EFM outputs (PNG)", exports_learning.png_bytes(fl.image_grid(efm.x, COLS)), file_name=f"translation_{direction}.png", mime="image/png",
                   key="dl_tr_png", help="The gallery's outputs as one picture, 8x enlarged.")
e2.download_button("EFM outputs (NPY)", exports_learning.npy_bytes(efm.x), file_name=f"translation_{direction}.npy", key="dl_tr_npy",
                   help="The outputs as float32 (n, 3, 8, 8) in [-1, 1], the format the CLI's transport command reads and writes.")
e3.download_button("EFM trajectories (NPY)", exports_learning.npy_bytes(efm.path), file_name=f"translation_{direction}_trajectories.npy", key="dl_tr_traj",
                   help=f"The gallery at {STRIP_LEVELS} heights from the input plate to the output plate, float32 ({STRIP_LEVELS}, n, 3, 8, 8).")
