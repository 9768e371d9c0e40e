"""Page "High dimensions": the same two Gaussians in D = 2 ... 3072, and real data beside them (noise -> 8×8 digits
at D = 64, or noise -> Fashion-MNIST's 28×28 clothing at D = 784). The field collapses onto the nearest charge,
r^-(D+1) leaves float32 (and float64), and following the exact field memorises the training set: noise lands on
training images, the learned field does not. Without Fashion-MNIST installed its part says how to install it."""

import numpy as np
import streamlit as st

from app import lesson, ui
from app.components.dimensions import memorisation
from app.compute import dimensions, loading
from app.compute.loading import IMAGE_DATA
from app.figures import exact as fe

DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512, 784, 1024, 3072)

st.title("High dimensions: why EFM learns a network")
st.caption(
    "P = N(0, I) and Q = the same Gaussian shifted along the first axis, in data dimension D from 2 up to 3072 "
    "(a 32 × 32 colour image). Same charges per plate, same gap L: only D changes. The red stars are real data: "
    "noise → scikit-learn's 8 × 8 digits (D = 64) or Fashion-MNIST's 28 × 28 clothing (D = 784), as many charges, the same L."
)
ui.glossary(["S_D", "D", "P and Q", "field line", "Theorem 3.1", "lost", "Fashion-MNIST"])
data = ui.segmented("Real data (the red stars)", "hd_data", list(IMAGE_DATA), {k: f"{d.label} (D = {d.D})" for k, d in IMAGE_DATA.items()})
info = IMAGE_DATA[data]
c1, c2, c3 = st.columns(3)
with c1:
    shift = float(ui.slider("Shift between P and Q", "hd_shift", fmt="%.1f"))
with c2:
    n = int(ui.slider("Charges per plate", "hd_n"))
with c3:
    L = float(ui.slider("Plate distance L", "hd_L", fmt="%.1f"))

stats = None
with ui.guard("Could not compute the high-dimension statistics"), st.spinner(f"Computing in {len(DIMS)} dimensions…"):
    stats = dimensions.dimension_stats(DIMS, n, shift, L)
if stats is None:
    st.stop()
dims = stats.dims
real = None
with ui.guard(f"Could not compute the statistics of {info.label}"):
    try:
        real = dimensions.real_stats(data, n, L)
    except loading.DatasetError:  # a data set read from local files that is not installed
        st.info(loading.missing_data_message(f"The red stars and the memorisation check at D = {info.D}", "the Gaussians' curves need no data"))
REAL = f"noise → {info.label} (D = {info.D})"


def _star(values: np.ndarray, quartiles: bool = False, name: str = REAL) -> tuple:
    """The real data's measurement for ``dimension_figure(extra=...)``: values (1,) or quartiles (1, 3)."""
    if quartiles:
        return (name, info.D, float(values[0, 1]), (float(values[0, 0]), float(values[0, 2])))
    return (name, info.D, float(values[0]), None)

a, b = st.columns(2)
with a:
    st.markdown("**1. The field collapses onto one charge.** Share of |E| contributed by the single largest charge, at points between the plates (median and quartiles).")
    fig = fe.dimension_figure(dims, {"largest charge's share of |E|": stats.top_share[:, 1]}, "share", bands={"largest charge's share of |E|": (stats.top_share[:, 0], stats.top_share[:, 2])},
                                  extra=_star(real.top_share, True) if real else None)
    fig.update_yaxes(range=[0, 1.02])
    ui.chart(fig, key="hd_share")
with b:
    st.markdown("**2. Direct arithmetic breaks.** $\\log_{10}$ of the weights $r^{-(D+1)}$ (largest and smallest over all charges and points), against the range of float32 and float64.")
    fig = fe.dimension_figure(dims, {"largest weight": stats.log10_w_max, "smallest weight": stats.log10_w_min}, "log₁₀ r⁻⁽ᴰ⁺¹⁾",
                                  extra=_star(real.log10_w_min, name=REAL + ", smallest") if real else None)
    for name, (lo, _hi) in dimensions.FLOAT_RANGE.items():
        fig.add_hline(y=lo, line={"dash": "dash", "color": "#d62728" if name == "float32" else "#1f77b4"}, annotation_text=f"smallest {name} (10{ui.superscript(round(lo))})", annotation_position="bottom left")  # left: the curves are near 0 there, clear of the label
    low = min(-420.0, float(real.log10_w_min[0]) - 60) if real else -420.0  # the real data's star on the chart
    fig.update_yaxes(range=[low, 40])
    ui.chart(fig, key="hd_weights")
    off = dims[stats.log10_w_max < low]
    if off.size:
        st.caption(f"Off the chart below: D ≥ {int(off[0])}, down to $10^{{{stats.log10_w_min[-1]:.0f}}}$ at D = {int(dims[-1])}.")

c, d = st.columns(2)
with c:
    st.markdown("**3. Log space keeps working.** Share of points where the directly computed sum of weights is 0 or infinite (no direction), against the log-space field used here.")
    fig = fe.dimension_figure(dims, {"direct, float32": stats.f32_broken, "direct, float64": stats.f64_broken, "log space (efm_core)": np.zeros_like(dims)}, "share of points with no field",
                                  extra=_star(real.f32_broken, name=REAL + ", float32") if real else None)
    fig.update_yaxes(range=[-0.02, 1.02])
    ui.chart(fig, key="hd_broken")
with d:
    st.markdown("**4. The field is that of one sample.** Cosine between E and the field of the nearest charge alone (towards it on Q, away from it on P), median and quartiles.")
    fig = fe.dimension_figure(dims, {"cos(E, nearest charge's field)": stats.cos_nearest[:, 1]}, "cosine", bands={"cos(E, nearest charge's field)": (stats.cos_nearest[:, 0], stats.cos_nearest[:, 2])},
                                  extra=_star(real.cos_nearest, True) if real else None)
    ui.chart(fig, key="hd_cos")

k64 = int(np.searchsorted(dims, 64))
st.markdown(
    f"At D = {int(dims[-1])} the largest charge carries {stats.median_share(-1):.1f} % of the field (median, ± its bootstrap "
    f"noise); at D = 2 it carries {stats.median_share(0):.1f} %. Direct float32 arithmetic has no field at "
    f"{100 * stats.f32_broken[k64]:.0f} % of the points from D = 64 on."
)

if real is not None:
    st.markdown(lesson.real_data_text(info.label, info.D, real, float(stats.top_share[int(np.searchsorted(dims, info.D)), 1])))

memorisation(data, n, L, trace=real is not None)

ui.explain(
    "Four views of the same fact. Each charge's share of the field falls off like $r^{-D}$, so in high dimension the "
    "slightly nearer charge outweighs all others by many orders of magnitude: the field is, in effect, the field of "
    "one charge (1). The weights themselves leave the range of floating point (2), so the sum must be computed in "
    "log space, subtracting the largest log-weight before exponentiating (3) — which is how efm_core works to "
    "D = 3072. And the field's direction becomes that of the nearest sample alone (4): near Q it points straight at "
    "one training sample.",
    "Following the exact field of the training samples therefore carries every point of P onto one of Q's "
    "training samples: the exact map memorises, it never produces a new image. That is why EFM fits a neural "
    "network to the field instead: a smooth approximation that cannot resolve single charges, and so moves P to "
    "new samples that look like Q. The Training lab, Translation and Generation pages do exactly that.",
    [
        r"\lVert E_i(x)\rVert = \frac{q_i}{S_D\, r_i^{D}},\qquad \frac{\lVert E_{(1)}\rVert}{\lVert E_{(2)}\rVert} = \Bigl(\frac{r_{(2)}}{r_{(1)}}\Bigr)^{D} \xrightarrow{D\to\infty} \infty",
        r"E(x) = e^{\ell^*} \sum_i e^{\ell_i - \ell^*}\,(x - x_i),\qquad \ell_i = \log q_i - (D+1)\log r_i - \log S_D,\quad \ell^* = \max_i \ell_i",
    ],
)
