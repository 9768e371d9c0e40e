"""The words of the app: the glossary every page draws its "Terms on this page" box from (``app.ui.glossary``), and
the texts of the Start here page (its five steps and the table comparing EFM with its relatives).

Plain data, no Streamlit. Math is written for Streamlit's markdown ($...$ is rendered as math).
"""

from __future__ import annotations

import math

from efm_core import Spread
from efm_core.data.datasets import FASHION_CLASSES

TERM_LABELS = {"S_D": "$S_D$", "f_min": r"$f_{\min}$"}  # glossary keys written as math where they are shown

GLOSSARY: dict[str, str] = {
    "EFM": "Electrostatic Field Matching (Kolesov et al., ICML 2025): samples of a source distribution P are positive "
    "charges on the plate $z = 0$, samples of a target Q negative charges on $z = L$; a point is moved from P to Q "
    "along the electric field of all the charges.",
    "P and Q": "P is the source (for generation: Gaussian noise), Q the target (the data). P's samples are the positive "
    "charges (red), Q's the negative charges (blue).",
    "z": "The coordinate across the gap between the plates ($z = 0$ on P, $z = L$ on Q). It plays the role of time in "
    "diffusion models and flow matching: a point starts at $z = 0$ and arrives at $z = L$.",
    "L": "The distance between the plates.",
    "field line": "A curve that is tangent to the electric field $E$ everywhere; a point moved along $E$ follows one.",
    "flux": "How much field passes through a surface: the integral of $E$ across it. By Gauss's law a charge sends out "
    "flux equal to its charge, so the share of lines leaving P in a direction is the share of flux going that way.",
    "Theorem 3.1": "Following the field from P, every line ends on Q, and the end points are distributed as Q. A line "
    "ends in one of three ways: **front** (it meets Q from the P side and stops), **behind** (it passes through Q where "
    "the field goes on, turns round and lands on Q from behind) or **backward** (it leaves P away from Q and loops "
    "round the outside onto Q).",
    "plate rule": "Where a line meets the plate $z = L$: stop if $E_z$ just in front of the plate and just behind it "
    "have opposite signs (the plate absorbs the line), continue otherwise.",
    "lost": "A line the tracer gave up on before it reached Q (it left the region the tracer covers, or took more "
    "steps than allowed). Lost lines are left out of the landing statistics and counted separately.",
    "energy distance": "A distance between two point clouds: $2\\,\\mathbb E|X-Y| - \\mathbb E|X-X'| - \\mathbb E|Y-Y'|$. "
    "It is 0 only for the same distribution. Computed from finitely many points it is never exactly 0: compare it "
    "with its **floor**, the value for as many points drawn from Q itself.",
    "floor": "The value a distance takes between two samples of the same distribution of the same size: the noise "
    "level below which a difference means nothing.",
    "V-statistic": "The energy distance estimated over all pairs of points, each point paired with itself included "
    "(distance 0): never negative and exactly 0 for identical clouds, so two samples of the same distribution score a "
    "little above 0 (its floor). The **U-statistic** leaves out the pairs of a point with itself: unbiased, so it can "
    "come out slightly negative.",
    "checkpoint": "A trained network saved as two files: `NAME.safetensors` (the weights, in a format that cannot run "
    "code) and `NAME.json` (its model card: the training settings, time and measured quality). The shipped names are "
    "built from parts: a method prefix (none: EFM; `fm-` flow matching; `pfgmpp-` PFGM++), the data (`digits`, "
    "`fashion` Fashion-MNIST, `cdigits` coloured digits, `toy-gauss-2gauss` Gaussian → two Gaussians, "
    "`toy-gauss-swiss` Gaussian → Swiss roll), the task (`-gen` generate from noise, `-2to3` turn 2s into 3s), the "
    "plate distance (`-L6`, `-L30`) and `-slab` for a slab net (without it, a toy checkpoint is a whole-space net).",
    "Heun": "Heun's method, the solver used by default: a second-order ODE step that takes a trial Euler step, then "
    "the step with the average of the slopes at its start and at the trial point (two network calls a step; Euler's "
    "one-call steps are the paper's Algorithm 2).",
    "W2": "The 2-Wasserstein distance: the root mean square distance moved when one point cloud is matched one to one "
    "with another in the cheapest way. Here compared with its floor (two samples of Q).",
    "NFE": "Number of function evaluations: how many (batched) calls of the network a solver made.",
    "EMA": "Exponential moving average of the network's weights during training; the averaged weights are the ones "
    "used to move points (smoother than the last step's weights).",
    "S_D": "$S_D$: the area of the unit sphere in $\\mathbb R^{D+1}$, the constant in Coulomb's law in $D + 1$ dimensions.",
    "f_min": "$f_{\\min}$: the smallest slope $f_z$ the z-solver divides by. Where the learned $f_z$ falls below it, the "
    "line would turn back; the solver guards the slope and counts the line as bad.",
    "bad lines": "Lines where the learned field turned back ($f_z \\le f_{\\min}$, the slope was guarded) or became "
    "non-finite; for two-sided EFM, lines that did not reach Q.",
    "asinh scale": "A sign-keeping logarithmic axis: $\\operatorname{asinh}(v / E_0)$ is linear near 0 and logarithmic "
    "for $|v| \\gg E_0$, so positive and negative values of very different sizes fit on one axis. $E_0$ is the scale "
    "where it turns from linear to logarithmic.",
    "minibatch OT plan": "Pairing each P sample of a training batch with a Q sample so that the total squared distance "
    "of the pairs is smallest (a minibatch optimal-transport plan), instead of pairing them at random.",
    "training region": "Where the tent sampler puts 99 % of its training points between the plates: at every height a "
    "ball round the line from P's mean to Q's mean. A network has never been taught the field outside it.",
    "tent sampler": "Algorithm 1's training points: a P sample and a Q sample, a height $z = tL$, the point on the "
    "segment between them at that height, plus noise of standard deviation $2\\sigma \\min(t, 1 - t)$.",
    "slab net": "A network taught the field only between the plates (tent sampler), followed forwards in z "
    "(Algorithm 2). It cannot send a line backwards.",
    "whole-space net": "A network taught the field everywhere (between the plates, behind them and far out), so that "
    "lines can leave P backwards and loop round, as Theorem 3.1's map needs.",
    "flow matching": "A generative method that learns a velocity field carrying noise to data along straight paths "
    "$x_t = (1 - t)\\,x_P + t\\,x_Q$ between random pairs.",
    "PFGM": "Poisson Flow Generative Models (Xu et al., NeurIPS 2022): the data are charges on one plate in D + 1 "
    "dimensions; samples start on a large hemisphere far out and follow the field of the data alone back to them.",
    "PFGM++": "Poisson Flow Generative Models++ (Xu et al., ICML 2023): the data sit on one plate in D + D_aug "
    "dimensions; a network learns to denoise points perturbed by the field of the data alone, and samples start on a "
    "prior far out and follow that field in to the data. It needs no P: a peer of EFM for generation, not for "
    "translation.",
    "D": "The data dimension: how many numbers one data item has (an 8×8 digit 64, a 28×28 picture 784).",
    "Fashion-MNIST": "Zalando's 70,000 grey 28×28 pictures of clothing (60,000 to train on, 10,000 held out) in ten "
    f"classes: {', '.join(FASHION_CLASSES)}. Read from local files (Debian's package `dataset-fashion-mnist`), never "
    "downloaded.",
    "nearest training image": "The training image at the smallest L2 distance (pixels in [−1, 1]) from a sample. A "
    "sample much closer to one than held-out real images are to theirs is a **near-copy**: memorised, not generated.",
}

GENERATION = {  # data set -> (title, caption) of the Generation page
    "digits": (
        "Generation: from noise to digits",
        "Gaussian noise sits as positive charges on the plate z = 0, scikit-learn's 8×8 digits (D = 64) as negative "
        "charges on z = L. A network learned the direction of their field; each sample is a noise image moved along it "
        "to the digits' plate.",
    ),
    "fashion": (
        "Generation: from noise to clothing",
        "Gaussian noise sits as positive charges on the plate z = 0, the 60,000 Fashion-MNIST training pictures (28×28, "
        f"D = 784; ten classes: {', '.join(FASHION_CLASSES)}) as negative charges on z = L. A U-Net learned the "
        "direction of their field; each sample is a noise image moved along it to the pictures' plate.",
    ),
}

STEPS = {
    "plates": "P's samples (the source, here Gaussian noise) are positive charges on the plate $z = 0$; Q's samples "
    "(the target, the data) are negative charges on $z = L$. The coordinate $z$ plays the role of time.",
    "lines": "The charges make an electric field; a point of P moved along it follows a field line and arrives on Q.",
    "cases": "Theorem 3.1: every line from P ends on Q, in one of three ways — **front** (straight across), **behind** "
    "(through Q, back from behind) or **backward** (away from Q, round the outside) — and the end points are "
    "distributed as Q.",
    "dims": "In high dimension the field at a point is, in effect, that of its nearest charge alone, so the exact lines "
    "only ever land on training samples (memorisation): EFM therefore learns a smooth network for the field.",
    "learned": "A network trained on the field of noise → digits carries fresh noise to new digits along its lines.",
}

COMPARISON = {
    "method": ["diffusion", "flow matching", "PFGM", "EFM"],
    "what moves": [
        "noise back to data, by reversing a noising process",
        "a point from noise to data",
        "a point from a far hemisphere to the data plane",
        "a point from the P plate ($z = 0$) to the Q plate ($z = L$)",
    ],
    "along what": [
        "the score (gradient of log density) over time t",
        "a velocity field over time t (straight paths between pairs)",
        "the electric field of the data charges alone, in D + 1 dimensions",
        "the electric field of P's (+) and Q's (−) charges, in D + 1 dimensions; z plays the role of time",
    ],
    "what the network learns": [
        "the score (or the noise) at each noise level",
        "the velocity $x_Q - x_P$ of the paths",
        "the direction of the data's field",
        "the direction $E/\\lVert E\\rVert$ of the two-plate field",
    ],
}


def comparison_markdown() -> str:
    """``COMPARISON`` as a markdown table (its cells hold math)."""
    heads = list(COMPARISON)
    rows = zip(*COMPARISON.values(), strict=True)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(f"**{r[0]}**" if i == 0 else r[i] for i in range(len(r))) + " |" for r in rows]
    return "\n".join(lines)


def sweep_text(rows: list) -> str:
    """What the L sweep shows, with its numbers and their noise (± one bootstrap std over the lines): ``rows`` are
    ``app.compute.large_l.LRow`` over L (all of them)."""
    by_L = {r.L: r for r in rows}
    back = [r.backward_share.value for r in rows]
    back_noise = max(r.backward_share.std for r in rows)
    worst = max(rows, key=lambda r: r.ed_forward.value)
    big = by_L.get(30.0, rows[-1])
    small = by_L.get(6.0, rows[0])
    return (
        f"**Measured on these charges** ({rows[0].lines} lines of each kind at every L; ± is one standard deviation "
        f"over bootstrap resamples of those lines). The share of P's flux that leaves backwards is "
        f"{min(back):.2f}–{max(back):.2f} at every L from {rows[0].L:g} to {rows[-1].L:g}, each ± {back_noise:.2f} or "
        f"less: it does not grow with L. The exact forward-only map's largest energy distance is at L = {worst.L:g} "
        f"({worst.ed_forward:.3f}; floor {worst.floor_mean:.3f}, 95 % of Q's own samples below {worst.floor_hi:.3f}); "
        f"at L = {big.L:g} it is {big.ed_forward:.3f}, {_band_verdict(big.ed_forward, big.floor_hi)} the floor's band. "
        f"What grows with L is how far the lines bulge sideways: halfway between the plates the forward lines reach "
        f"{big.bulge:.1f} from the axis at L = {big.L:g} ({small.bulge:.1f} at L = {small.L:g}), while the tent sampler "
        f"puts 99 % of its training points within {big.region_radius:.1f} of it. {big.outside_share.scaled(100):.0f} % of "
        f"the forward lines leave that training region at L = {big.L:g}, {small.outside_share.scaled(100):.0f} % at "
        f"L = {small.L:g}: a network taught only there must guess the field along most of the lines at large L."
    )


def _band_verdict(value: Spread, top: float) -> str:
    """Where a noisy ``value`` sits against the top of a floor's band: "inside" or "above" it beyond one std, else
    "at the edge of"."""
    if value.value + value.std <= top:
        return "inside"
    return "above" if value.value - value.std > top else "at the edge of"


def percent(share: float) -> str:
    """A share as a percentage with as many decimals as it takes to tell it from 100 % ("99.99999 %"); "more than
    99.9999 %" when that would take more than 5, "100 %" for 1."""
    gap = 1.0 - share
    if gap <= 0:
        return "100 %"
    decimals = 0 if gap >= 0.01 else math.ceil(-math.log10(gap)) - 2
    return f"{100 * share:.{decimals}f} %" if decimals <= 5 else "more than 99.9999 %"


def real_data_text(label: str, D: int, real: object, gauss_share: float) -> str:
    """What the red stars show: ``real`` is the ``app.compute.dimensions.DimStats`` (one row) of noise -> ``label``
    images at dimension D, ``gauss_share`` the Gaussians' median share of the largest charge at the same D."""
    share, f32, f64 = real.top_share[0, 1], real.f32_broken[0], real.f64_broken[0]
    text = (
        f"Real {label} at D = {D}: the largest charge carries {percent(share)} of the field (median; the Gaussians at "
        f"D = {D}: {percent(gauss_share)}), and direct float32 arithmetic has no field at "
        f"{100 * f32:.0f} % of the points"
    )
    if f64 > 0:
        text += (f", float64 at {100 * f64:.0f} %: even the largest weight, $10^{{{real.log10_w_max[0]:.0f}}}$, is below "
                 "the smallest float64 number, and only the log-space sum has a direction")
    return text + (
        f". Real images are not a Gaussian cloud: the nearest charge dominates {'less' if share < gauss_share else 'more'} "
        f"than among the Gaussians, and the cosine between E and its field alone is {real.cos_nearest[0, 1]:.2f}."
    )


def memorised_caption(held: str, D: int, traced: int, lost: int, charges: list[int]) -> str:
    """The caption of the High dimensions page's memorisation pictures: ``held`` what held-out real images score,
    ``traced`` lines at dimension D of which ``lost`` were lost, ``charges`` the training images the shown ones ended on."""
    ended = [c for c in charges if c >= 0]
    lost_text = (f"{lost} left the tracer's reach (lines that leave P backwards loop far out in {D + 1} dimensions)"
                 if lost else "none was lost")
    return (
        "Labels: the training image a line ended on (#index) and the L2 distance, in pixels of [−1, 1], from each image "
        f"to its nearest training image. {held} Of {traced} lines traced, {lost_text}; the first {len(charges)} shown "
        f"are the first that ended, on {len(set(ended))} different training images."
    )
