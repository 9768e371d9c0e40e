"""Page "Why large L is hard": the measured L sweep of the exact field (backward share, the landing energy distance
of forward-only and two-sided starts with its floor, the bulge and the share of lines outside the tent sampler's
training region), and the shipped Gaussian -> two Gaussians checkpoints at L = 6 and L = 30 side by side without
training: the slab net followed forwards in z beside the whole-space net with Theorem 3.1's two-sided lines."""

import streamlit as st

from app import state, ui
from app.components.large_l import l_sweep
from app.compute import exact, large_l, loading
from app.figures import common as fc
from app.figures import story

SEED = 0
N_POINTS = 256  # fresh points of P moved by each checkpoint (and exact lines traced) for the numbers
DRAWN = 48
MODELS = {"slab": "toy-gauss-2gauss-L{L:g}-slab", "two-sided": "toy-gauss-2gauss-L{L:g}"}

ui.page_header(
    "Why large L is hard",
    "The paper's learned sampler maps P to Q much better at L = 6 than at L = 30. Is the exact field to blame, or the "
    "network? Measured here on the paper's toy: P = N(0, I), Q = two Gaussians with modes at (±8, 0), 256 charges a plate.",
)
ui.glossary(["checkpoint", "flux", "energy distance", "V-statistic", "floor", "training region", "tent sampler", "slab net", "whole-space net", "Heun", "f_min", "bad lines", "W2", "lost"])
scene = exact.scene_charges(2, "gaussian", "two_gaussians", 256, SEED, None, None)

st.subheader("1. The exact field over L")
st.markdown(
    "For each L: P's flux that leaves backwards (fresh points of P, Theorem 3.1's side choice); where lines from P's "
    "charges land, started on both sides (two-sided) or all turned towards Q (forward-only), as an energy distance to "
    "Q's charges beside its floor; and how far the forward lines bulge sideways, against the region where the tent "
    f"sampler (mid-gap noise σ = {large_l.REGION_SIGMA:g}, as the slab checkpoints) puts 99 % of its training points."
)
l_sweep(scene, state.SWEEP_LINES, SEED, "gaussian", None, "ll_sweep")

st.subheader("2. The shipped checkpoints at L = 6 and L = 30, no training needed")
st.markdown(
    f"{N_POINTS} fresh points of P moved by each checkpoint (a trained network saved to a file; the names: Terms on "
    f"this page); {DRAWN} of their lines drawn. **Slab net** (`{MODELS['slab'].format(L=6)}`, `-L30-slab`): an MLP taught "
    "between the plates by the tent sampler, followed forwards in z (the paper's Algorithm 2, here with Heun's steps). "
    f"**Whole-space net** (`{MODELS['two-sided'].format(L=6)}`, `-L30`): taught everywhere, followed by Theorem 3.1's "
    "two-sided map. The blue band is the slab net's training region."
)
floor = large_l.sample_floor(scene, "two_gaussians", N_POINTS, SEED)
found: dict[float, dict] = {}
for L in (6.0, 30.0):
    ckpts = {}
    for kind, pattern in MODELS.items():
        with ui.guard(f"Could not load {pattern.format(L=L)}"):
            ckpt = loading.load_pretrained(pattern.format(L=L))
            if ckpt is None:
                st.info(loading.missing_message(pattern.format(L=L)))
            else:
                ckpts[kind] = (loading.pretrained_key(pattern.format(L=L)), ckpt)
    if len(ckpts) < 2:
        continue
    with st.spinner(f"Moving {N_POINTS} points with both checkpoints at L = {L:g}…"):
        region = large_l.tent_region(scene, L)
        paths, cases = large_l.forward_lines(scene, L, N_POINTS, SEED, "gaussian")
        runs = {kind: large_l.checkpoint_lines(key, ckpt, scene, N_POINTS, SEED) for kind, (key, ckpt) in ckpts.items()}
    exact_out = large_l.share([region.outside(p) for p in paths])
    found[L] = {"exact_out": exact_out, "runs": runs}
    st.markdown(f"#### L = {L:g}")
    box = fc.Box(-0.3 * L, 1.3 * L, (0.0, 0.0), (max(12.0, 0.9 * L),) * 2)
    panels = {
        "exact forward lines": (paths[:DRAWN], cases[:DRAWN]),
        "slab net, Heun in z": (runs["slab"].lines[:DRAWN], fc.MODEL_COLOR["EFM"]),
        "whole-space net, two-sided": (runs["two-sided"].lines[:DRAWN], runs["two-sided"].moved.cases[:DRAWN]),
    }
    ui.chart(story.region_panels_figure(panels, scene.pos, scene.neg, L, box, region.edges, region.centre, region.radius), key=f"ll_panels_{L:g}")
    cols = [*st.columns(3), *st.columns(3)]  # two rows: five a row cut the labels at 1000 px
    noise = f"± is one standard deviation over bootstrap resamples of the {N_POINTS} lines."
    cols[0].metric("Exact lines leaving the region", f"{exact_out.scaled(100):.0f} %", help=f"Share of {N_POINTS} exact forward lines with a point between the plates outside the training region. {noise}")
    for col, kind in zip(cols[1:3], ("slab", "two-sided"), strict=True):
        col.metric(f"{kind}: energy distance", f"{runs[kind].energy:.3f}", help=f"Energy distance (V-statistic: over all pairs of points, ≥ 0) of the {N_POINTS} end points to Q's charges. "
                   f"Floor: {floor[0]:.3f} on average for {N_POINTS} fresh samples of Q, 95 % below {floor[1]:.3f} (higher than "
                   f"section 1's floor, which is for points drawn from Q's charges themselves: fresh samples also differ from those charges). {noise}")
    cols[3].metric("slab: bad lines", f"{runs['slab'].bad_share.scaled(100):.0f} %", help=f"Lines where the learned f_z fell to f_min or below (the slope was guarded). {noise}")
    for col, kind in zip(cols[4:6], ("slab", "two-sided"), strict=True):
        col.metric(f"{kind}: W2 / floor (card)", f"{large_l.card_ratio(ckpts[kind][1].card['metrics']):.1f}×",
                   help="W2 of 1000 samples to the target over the two-sample floor, measured when the checkpoint was saved; ± from "
                   "the floor's spread over its repeats.")

if len(found) == 2:
    a, b = found[6.0], found[30.0]
    st.markdown(
        f"**What the two rows show.** The exact forward lines leave the training region in {a['exact_out'].scaled(100):.0f} % of "
        f"cases at L = 6 and {b['exact_out'].scaled(100):.0f} % at L = 30. Where they leave it, the slab net was never taught the "
        f"field: at L = 30, {b['runs']['slab'].bad_share.scaled(100):.0f} % of its lines meet $f_z \\le f_{{\\min}}$ (at L = 6: "
        f"{a['runs']['slab'].bad_share.scaled(100):.0f} %), and its end points are {b['runs']['slab'].energy:.3f} from Q in energy "
        f"distance (floor {floor[0]:.3f}). The whole-space net, taught everywhere and followed on both sides, lands "
        f"{b['runs']['two-sided'].energy:.3f} from Q at L = 30 and {a['runs']['two-sided'].energy:.3f} at L = 6. So large L "
        "is hard to **learn**, not to map: the exact forward-only map is fine at L = 30 (section 1), but its lines run "
        "where a slab sampler never puts a training point."
    )
