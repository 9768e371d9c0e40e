"""The High dimensions page's analysis of the exact field: statistics of the log-weights per dimension D (largest
share, float32/float64 under- and overflow, the nearest charge's direction) for two Gaussians and for noise -> real
images (8×8 digits at D = 64, Fashion-MNIST at D = 784), and the exact map's memorisation of the training images.
Small hashable arguments in, numpy arrays out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch

from app.compute.exact import TRACE_DTYPE, TRACE_TOL
from app.compute.learned import EXACT_NEAREST_MAX_D, translate_moved
from app.compute.loading import IMAGE_DATA
from efm_core import CASES, make_plates, plate_field_at, transport_trace
from efm_core.checkpoints import Checkpoint
from efm_core.data.sources import make_source
from efm_core.metrics import Spread, bootstrap, nearest_neighbours

FLOAT_RANGE = {  # log10 of the smallest subnormal / largest finite number of each type (float32: 1.4e-45 / 3.4e38)
    name: (float(np.log10(np.finfo(t).smallest_subnormal)), float(np.log10(np.finfo(t).max))) for name, t in (("float32", np.float32), ("float64", np.float64))
}

class DimStats(NamedTuple):
    """Per dimension D (k,): quartiles (k, 3) of the largest charge's share of |E| and the noise of its median (k,),
    the std over bootstrap resamples of the points; log10 of the largest and
    smallest r^-(D+1) (k,); share of points where r^-(D+1) computed directly in float32 / float64 gives no usable
    field (every weight 0 or one infinite) (k,); quartiles (k, 3) of the cosine between E and the field of the
    nearest charge alone (towards it for a Q charge, away from it for a P charge)."""

    dims: np.ndarray
    top_share: np.ndarray
    top_share_std: np.ndarray
    log10_w_max: np.ndarray
    log10_w_min: np.ndarray
    f32_broken: np.ndarray
    f64_broken: np.ndarray
    cos_nearest: np.ndarray

    def median_share(self, i: int) -> Spread:
        """The median share of the largest charge at the i-th dimension with its noise (as a percentage)."""
        return Spread(float(self.top_share[i, 1]), float(self.top_share_std[i])).scaled(100)


def _quartiles(x: torch.Tensor) -> np.ndarray:
    return torch.quantile(x, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).numpy()


def _weight_stats(pos: torch.Tensor, neg: torch.Tensor, x: torch.Tensor, L: float) -> dict:
    """One dimension's row of ``DimStats`` for charges pos (n, D), neg (n, D) at distance L and queries x (k, D + 1)."""
    D = pos.shape[1]
    plates = make_plates(pos, neg, L)
    charges = torch.cat([plates.lifted_pos(), plates.lifted_neg()])
    r2 = torch.cdist(x, charges).square()
    log_contrib = -0.5 * D * torch.log(r2)  # |E_i| up to the common 1/(n S_D): r_i^-D
    log_w = -0.5 * (D + 1) * torch.log(r2) / math.log(10)  # log10 r^-(D+1)
    top = torch.exp(log_contrib.max(1).values - torch.logsumexp(log_contrib, 1))
    row = {"top": _quartiles(top), "top_std": bootstrap(np.median, top.numpy()).std,
           "wmax": float(log_w.max()), "wmin": float(log_w.min())}
    for name, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        w = (r2.to(dtype) ** (-(D + 1) / 2.0)).sum(1)  # the naive sum of weights
        row[name] = float((~torch.isfinite(w) | (w == 0)).double().mean())
    direction = plate_field_at(x, plates).direction
    nearest = r2.argmin(1)
    sign = torch.where(nearest < len(pos), 1.0, -1.0).to(x)  # P charges push, Q charges pull
    own = sign[:, None] * (x - charges[nearest])
    row["cos"] = _quartiles((direction * own).sum(1) / torch.linalg.vector_norm(own, dim=1))
    return row


def _segment_queries(a: torch.Tensor, b: torch.Tensor, L: float, g: torch.Generator) -> torch.Tensor:
    """Points (k, D + 1) on the segments from a (k, D) at z = 0 to b (k, D) at z = L, at heights tL, t ~ U(0.05, 0.95)."""
    t = 0.05 + 0.9 * torch.rand(len(a), generator=g, dtype=torch.float64)
    return torch.cat([(1 - t)[:, None] * a + t[:, None] * b, (t * L)[:, None]], dim=1)


def _dim_stats(dims: list[int], rows: list[dict]) -> DimStats:
    def col(k: str) -> np.ndarray:
        return np.stack([r[k] for r in rows]) if k in ("top", "cos") else np.asarray([r[k] for r in rows])

    return DimStats(np.asarray(dims, dtype=float), col("top"), col("top_std"), col("wmax"), col("wmin"), col("f32"), col("f64"), col("cos"))


@st.cache_data(max_entries=8, show_spinner=False)
def dimension_stats(dims: tuple[int, ...], n: int, shift: float, L: float, n_query: int = 64, seed: int = 0) -> DimStats:
    """P = N(0, I_D), Q = N(shift e1, I_D), ``n`` charges each, at distance L; queries on segments between fresh
    P and Q samples at heights z = tL, t ~ U(0.05, 0.95). All log-space sums in float64 (``plate_field_at``)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for D in dims:
        pos = torch.randn(n, D, generator=g, dtype=torch.float64)
        neg = torch.randn(n, D, generator=g, dtype=torch.float64)
        neg[:, 0] += shift
        a = torch.randn(n_query, D, generator=g, dtype=torch.float64)
        b = torch.randn(n_query, D, generator=g, dtype=torch.float64)
        b[:, 0] += shift
        rows.append(_weight_stats(pos, neg, _segment_queries(a, b, L, g), L))
    return _dim_stats(list(dims), rows)


def _real(data: str, n: int, g: torch.Generator) -> torch.Tensor:
    """n training images of ``data`` (a key of ``loading.IMAGE_DATA``) as rows (n, D) in [-1, 1], drawn with ``g``.
    A local data set that is not installed raises ``DatasetError`` saying how to install it."""
    return make_source(IMAGE_DATA[data].train).sample(n, g).flatten(1).double()


@st.cache_data(max_entries=8, show_spinner=False)
def real_stats(data: str, n: int, L: float, n_query: int = 64, seed: int = 0) -> DimStats:
    """``dimension_stats`` of real data (8×8 digits at D = 64, Fashion-MNIST at D = 784): P = N(0, I) noise, Q =
    ``n`` training images of ``data``."""
    g = torch.Generator().manual_seed(seed)
    D = IMAGE_DATA[data].D
    pos, neg = torch.randn(n, D, generator=g, dtype=torch.float64), _real(data, n, g)
    x = _segment_queries(torch.randn(n_query, D, generator=g, dtype=torch.float64), _real(data, n_query, g), L, g)
    return _dim_stats([D], [_weight_stats(pos, neg, x, L)])


class Memorised(NamedTuple):
    """Fresh noise carried along the exact field of noise charges -> training images, the lines that ended first:
    starts (k, D), ends (k, D), the index of the training image (Q charge) each line ended on (k,), -1 if none, the
    distance (pixels in [-1, 1], L2) from each end to the nearest training image of the whole split (k,), Theorem
    3.1's case of each line, and how many lines were traced and how many of them were lost (left the tracer's reach)."""

    starts: np.ndarray
    ends: np.ndarray
    charge: np.ndarray
    nearest: np.ndarray
    cases: list[str]
    traced: int
    lost: int


@st.cache_data(max_entries=8, show_spinner=False)
def real_memorisation(data: str, n: int, L: float, k: int = 8, seed: int = 0) -> Memorised:
    """Theorem 3.1's map along the exact field of ``n`` noise charges on P and ``n`` training images of ``data`` on Q,
    for 2k fresh noise points; the k shown are the lines that ended on Q first (in start order), then lost ones if
    fewer ended. Every line that ends, ends on one of the image charges: the exact map memorises."""
    return memorise(n, L, k, seed, data)


def memorise(n: int, L: float, k: int = 8, seed: int = 0, data: str = "digits") -> Memorised:
    """``real_memorisation`` without the cache (a plain function for background jobs, ``app.background``)."""
    g = torch.Generator().manual_seed(seed)
    D = IMAGE_DATA[data].D
    pos, neg = torch.randn(n, D, generator=g, dtype=torch.float64), _real(data, n, g)
    starts = torch.randn(2 * k, D, generator=g, dtype=torch.float64)
    trace = transport_trace(make_plates(pos, neg, L), starts, sides="both", seed=seed, tol=TRACE_TOL, dtype=TRACE_DTYPE)
    lost = trace.case == CASES.index("lost")
    pick = torch.argsort(lost.to(torch.int8), stable=True)[:k]
    ends = trace.end[pick, :D].double().numpy()
    return Memorised(
        starts[pick].numpy(), ends, trace.end_charge[pick].numpy(), nearest_training_image(ends, data),
        [CASES[c] for c in trace.case[pick].tolist()], 2 * k, int(lost.sum()),
    )


def nearest_training_image(images: np.ndarray, data: str = "digits") -> np.ndarray:
    """L2 distance (k,) from each of ``images`` (k, D) in [-1, 1] to its nearest training image of ``data``."""
    train = make_source(IMAGE_DATA[data].train).items
    exact = IMAGE_DATA[data].D <= EXACT_NEAREST_MAX_D
    return nearest_neighbours(np.asarray(images, dtype=np.float64), train, exact=exact)[0].numpy()


class MemorisationCheck(NamedTuple):
    """The High dimensions page's last section: the exact map's lines (``Memorised``) and, when a learned model is
    given, the same noise moved along its field (k, D) with each image's distance to its nearest training image (k,)."""

    mem: Memorised
    learned: np.ndarray | None
    learned_nearest: np.ndarray | None


def memorisation_check(n: int, L: float, ckpt: Checkpoint | None, data: str = "digits") -> MemorisationCheck:
    """``memorise(n, L, data=data)``, then its noise starts carried by ``ckpt`` (with the solver of its card) when
    given. Plain function: it runs in a background thread (``app.background`` keeps its results), so that the page's
    charts do not wait for it."""
    mem = memorise(n, L, data=data)
    if ckpt is None:
        return MemorisationCheck(mem, None, None)
    k, solver = len(mem.starts), ckpt.config.solver
    starts = mem.starts.astype(np.float32).reshape(k, *IMAGE_DATA[data].shape)
    moved = translate_moved(ckpt, starts, False, solver.get("kind", "heun"), solver.get("steps", 50)).x.reshape(k, -1)
    return MemorisationCheck(mem, moved, nearest_training_image(moved, data))
