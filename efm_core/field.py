"""The exact electrostatic field of the two plates, in log space, for any dimension D.

Coulomb's law in R^{D+1}: a charge q at c makes E(x) = q (x - c) / (S_D |x - c|^{D+1}), with
S_D = 2 pi^{(D+1)/2} / Gamma((D+1)/2) the area of the unit sphere S^D.

For large D the factor r^{-(D+1)} over- and underflows (it is 0 in float32 for every charge at D = 3072), so each
plate's sum is computed as exp(l*) * sum_i exp(l_i - l*) (x - c_i) with log-weights l_i = log a_i - (D+1) log r_i and
their running maximum l* (an online log-sum-exp over chunks of charges, so memory is bounded by the chunk size and
never B x N x D at once). Weights below e^-60 of the largest are dropped: they cannot change a float64 result by more
than 1e-26 relative, and exp() of smaller numbers makes slow denormals.

Two ways to form r_i and sum_i w_i (x - c_i):

* ``direct``: explicit differences x - c_i, exact next to a charge; used for small D;
* ``matmul``: r^2 = |x|^2 + |c|^2 - 2 x.c and sum_i w_i (x - c_i) = (sum w) x - w @ C as matrix products (fast at
  high D). Both lose accuracy next to a charge by cancellation, so the ``TOP_K`` heaviest charges of every chunk are
  taken out of the matrix product and handled with explicit differences.

A query point exactly on a charge: that charge's own (directionless) contribution is left out, so the result is the
field of all the other charges there (the principal value), finite and well defined. Where the field vanishes exactly
the direction is the zero vector and log|E| is -inf.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor

from .plates import Plates, check_points, make_plates

LOG_WEIGHT_FLOOR = -60.0  # weights below exp(-60) of the largest are dropped
TOP_K = 4  # heaviest charges per chunk handled with explicit differences in the matmul path
DIRECT_MAX_DIM = 32  # auto: explicit differences while D + 1 <= this
DEFAULT_CHUNK_ELEMENTS = 1 << 22  # temporaries of about this many elements (32 MB in float64)


def log_sphere_area(D: int) -> float:
    """log S_D, the log of the area of the unit sphere S^D in R^{D+1}."""
    k = (D + 1) / 2.0
    return math.log(2.0) + k * math.log(math.pi) - math.lgamma(k)


class PlateField(NamedTuple):
    """Field of one plate at B points: E = exp(log_norm) * direction."""

    direction: Tensor  # (B, D+1), unit (zero where the field vanishes)
    log_norm: Tensor  # (B,), log |E| including 1/S_D (-inf where the field vanishes)

    def vector(self) -> Tensor:
        """(B, D+1) the true field; entries overflow to inf or underflow to 0 where exp(log_norm) is not representable."""
        return torch.exp(self.log_norm)[:, None] * self.direction


class FieldResult(NamedTuple):
    """Exact field at B points: the total E = E+ + E- and each plate's part."""

    direction: Tensor  # (B, D+1) unit E/|E|
    log_norm: Tensor  # (B,) log |E|
    pos: PlateField  # E+, the positive plate's field (points away from P)
    neg: PlateField  # E-, the negative plate's field (points towards Q)

    def vector(self) -> Tensor:
        """(B, D+1) the true field E with its 1/S_D constant, where representable (see PlateField.vector)."""
        return PlateField(self.direction, self.log_norm).vector()


def _normalise(acc: Tensor, log_scale: Tensor) -> PlateField:
    """Turn exp(log_scale) * acc into (unit direction, log norm), with zero vectors kept finite."""
    norm = torch.linalg.vector_norm(acc, dim=1)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    direction = acc / safe[:, None]
    log_norm = torch.where(norm > 0, log_scale + torch.log(safe), torch.full_like(norm, -math.inf))
    return PlateField(direction, log_norm)


def _chunk_weights(logw: Tensor, running_max: Tensor, acc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Online log-sum-exp step: new running max, weights exp(logw - max) (floored), rescaled accumulator.

    ``logw`` (b, n) is a temporary and is overwritten (in-place steps save passes over the largest tensor).
    """
    new_max = torch.maximum(running_max, logw.amax(dim=1))
    shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    # clamp before exp (exp of denormals is ~10x slower), then zero everything at or below the floor
    w = torch.exp(logw.sub_(shift[:, None]).clamp_(min=LOG_WEIGHT_FLOOR - 1))
    w = torch.nn.functional.threshold_(w, math.exp(LOG_WEIGHT_FLOOR), 0.0)
    old = torch.where(torch.isfinite(running_max), torch.exp((running_max - shift).clamp(min=LOG_WEIGHT_FLOOR - 1)), torch.zeros_like(shift))
    old = torch.where(running_max - shift > LOG_WEIGHT_FLOOR, old, torch.zeros_like(old))
    return new_max, w, acc * old[:, None]


def _log_weights(r2: Tensor, log_a: Tensor, half_power: float) -> Tensor:
    """l = log a - (D+1)/2 log r^2, computed in place in ``r2`` (a temporary; ``log_a`` broadcasts against it).

    r = 0 (a query on the charge) gives +inf, or NaN for a zero charge: both become -inf, so that charge is left out.
    """
    logw = r2.log_().mul_(-half_power).add_(log_a)
    return logw.nan_to_num_(nan=-math.inf, posinf=-math.inf, neginf=-math.inf)


def _plate_sum_direct(x: Tensor, charges: Tensor, log_a: Tensor, n_chunk: int, centre: Tensor) -> tuple[Tensor, Tensor]:
    """sum_i a_i (x - c_i) / r_i^{D+1} as (running log max (b,), accumulator (b, D+1)) with explicit differences."""
    half_power = x.shape[1] / 2.0
    running = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
    acc = torch.zeros_like(x)
    for start in range(0, charges.shape[0], n_chunk):
        c = charges[start : start + n_chunk]
        diff = x[:, None, :] - c[None, :, :]
        logw = _log_weights((diff * diff).sum(-1), log_a[None, start : start + n_chunk], half_power)
        running, w, acc = _chunk_weights(logw, running, acc)
        acc = acc + torch.einsum("bn,bnd->bd", w, diff)
    return running, acc


def _plate_sum_matmul(
    x: Tensor, charges: Tensor, log_a: Tensor, n_chunk: int, centre: Tensor, *, centred: Tensor, centred_sq: Tensor
) -> tuple[Tensor, Tensor]:
    """As _plate_sum_direct, with matrix products; the TOP_K heaviest charges per chunk use explicit differences.

    The matrix products use coordinates relative to ``centre`` (the middle of the charges), which keeps their
    cancellation small: ``centred`` = charges - centre (N, D+1) and ``centred_sq`` = |centred|^2 (N,), computed once
    per plate. The explicit differences use the raw coordinates, which is exact next to a charge.
    """
    half_power = x.shape[1] / 2.0
    tiny = torch.finfo(x.dtype).tiny
    running = torch.full((x.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
    acc = torch.zeros_like(x)
    xc = x - centre
    x2 = (xc * xc).sum(1)
    for start in range(0, charges.shape[0], n_chunk):
        c = charges[start : start + n_chunk]
        cc = centred[start : start + n_chunk]
        la = log_a[start : start + n_chunk]
        # r^2 = |xc|^2 + |cc|^2 - 2 xc.cc, in place on the GEMM's output (addmm is 2x less accurate in float32)
        r2 = (xc @ cc.T).mul_(-2.0).add_(x2[:, None]).add_(centred_sq[None, start : start + n_chunk])
        # cancellation can make r^2 <= 0 next to a charge: clamp, so that charge ranks first and is redone exactly
        logw = _log_weights(r2.clamp_(min=tiny), la, half_power)
        top = torch.topk(logw, min(TOP_K, c.shape[0]), dim=1).indices
        # (b, k, D+1) c - x as explicit differences, exact next to the charge (index_select + in place: fewer passes)
        gap = torch.index_select(c, 0, top.reshape(-1)).view(*top.shape, -1).sub_(x[:, None, :])
        logw.scatter_(1, top, _log_weights((gap * gap).sum(-1), la[top], half_power))
        running, w, acc = _chunk_weights(logw, running, acc)
        w_top = torch.gather(w, 1, top)
        w.scatter_(1, top, 0.0)
        acc = acc + w.sum(1)[:, None] * xc - w @ cc - torch.einsum("bk,bkd->bd", w_top, gap)
    return running, acc


def _plate_field(
    x: Tensor, charges: Tensor, weights: Tensor, sign: float, method: str, chunk_elements: int, centre: Tensor
) -> PlateField:
    """Field of one plate (charges (N, D+1), magnitudes (N,), sign +1 or -1) at x (B, D+1)."""
    B, d1 = x.shape
    N = charges.shape[0]
    log_a = torch.log(weights)  # -inf for zero magnitudes: they get zero weight
    if method == "direct":
        n_chunk = max(1, min(N, chunk_elements // (d1 * 64)))
        b_chunk = max(1, chunk_elements // (n_chunk * d1))
        kernel = _plate_sum_direct
    else:
        n_chunk = max(1, min(N, 4096, chunk_elements))
        b_chunk = max(1, min(chunk_elements // n_chunk, chunk_elements // (TOP_K * d1)))
        centred = charges - centre
        kernel = partial(_plate_sum_matmul, centred=centred, centred_sq=(centred * centred).sum(1))
    parts = []
    for start in range(0, B, b_chunk):
        running, acc = kernel(x[start : start + b_chunk], charges, log_a, n_chunk, centre)
        parts.append(_normalise(sign * acc, running - log_sphere_area(d1 - 1)))
    return PlateField(torch.cat([p.direction for p in parts]), torch.cat([p.log_norm for p in parts]))


def combine(e_pos: PlateField, e_neg: PlateField) -> PlateField:
    """E+ + E- from the two plates' (direction, log norm), scaled by the larger norm so nothing overflows."""
    top = torch.maximum(e_pos.log_norm, e_neg.log_norm)
    shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    acc = torch.exp(e_pos.log_norm - shift)[:, None] * e_pos.direction + torch.exp(e_neg.log_norm - shift)[:, None] * e_neg.direction
    return _normalise(acc, shift)


def resolve_method(method: str, D: int) -> str:
    """'auto' picks explicit differences for D + 1 <= DIRECT_MAX_DIM and matrix products above."""
    if method not in ("auto", "direct", "matmul"):
        raise ValueError(f"method must be 'auto', 'direct' or 'matmul'; got {method!r}.")
    if method == "auto":
        return "direct" if D + 1 <= DIRECT_MAX_DIM else "matmul"
    return method


def plate_field_at(
    points: Tensor, plates: Plates, *, method: str = "auto", chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> FieldResult:
    """Exact field of validated ``plates`` at ``points`` (B, D+1); see module docstring for the numerics.

    Computation happens in the dtype and on the device of ``points``; the plates are moved there.
    """
    x = check_points("points", points, dim=plates.D + 1)
    plates = plates.to(dtype=x.dtype, device=x.device)
    how = resolve_method(method, plates.D)
    centre = 0.5 * (plates.lifted_pos().mean(0) + plates.lifted_neg().mean(0))
    e_pos = _plate_field(x, plates.lifted_pos(), plates.pos_weights, 1.0, how, chunk_elements, centre)
    e_neg = _plate_field(x, plates.lifted_neg(), plates.neg_weights, -1.0, how, chunk_elements, centre)
    total = combine(e_pos, e_neg)
    return FieldResult(total.direction, total.log_norm, e_pos, e_neg)


def exact_field(
    points: object,
    pos: object,
    neg: object,
    L: object,
    *,
    pos_weights: object | None = None,
    neg_weights: object | None = None,
    method: str = "auto",
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    full: bool = False,
) -> Tensor | FieldResult:
    """Unit direction E/|E| of the exact two-plate field at ``points``.

    Args:
        points: (B, D+1) query points, z last.
        pos: (N, D) positive charges on z = 0 (data coordinates). neg: (M, D) negative charges on z = L.
        L: plate distance, > 0.
        pos_weights, neg_weights: optional non-negative magnitudes per charge (normalised to sum 1 per plate).
        method: 'auto', 'direct' or 'matmul' (see module docstring).
        chunk_elements: size of the temporaries (elements); memory stays bounded for any B, N, D.
        full: return a FieldResult (direction, log|E|, E+ and E- as PlateFields) instead of the direction alone.

    Returns:
        (B, D+1) unit vectors in the dtype and on the device of ``points`` (or a FieldResult).
    """
    if isinstance(points, Tensor) and points.is_floating_point():
        like = points
    else:
        like = check_points("points", points).to(torch.float64)
    plates = make_plates(torch.as_tensor(pos, dtype=like.dtype, device=like.device) if not isinstance(pos, Tensor) else pos.to(like), neg, L, pos_weights, neg_weights)
    result = plate_field_at(like, plates, method=method, chunk_elements=chunk_elements)
    return result if full else result.direction


def potential(points: object, plates: Plates, *, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Tensor:
    """Electrostatic potential phi (B,) with E = -grad phi, in the dtype and on the device of ``points``.

    Green's function in R^{D+1}: G(r) = r^{1-D} / ((D-1) S_D) for D >= 2 and -log(r) / (2 pi) for D = 1.
    Each plate's sum is a log-sum-exp, so only the difference of the two plates can overflow (high D near a charge);
    on a charge the value is +inf (positive charge) or -inf (negative charge).
    """
    x = check_points("points", points, dim=plates.D + 1)
    plates = plates.to(dtype=x.dtype, device=x.device)
    D = plates.D
    out = []
    b_chunk = max(1, chunk_elements // max(1, max(plates.pos.shape[0], plates.neg.shape[0]) * (D + 1)))
    for start in range(0, x.shape[0], b_chunk):
        xb = x[start : start + b_chunk]
        r2_pos = torch.cdist(xb, plates.lifted_pos()).square()
        r2_neg = torch.cdist(xb, plates.lifted_neg()).square()
        if D == 1:
            phi = -(plates.pos_weights * 0.5 * torch.log(r2_pos)).sum(1) + (plates.neg_weights * 0.5 * torch.log(r2_neg)).sum(1)
            out.append(phi / (2 * math.pi))
            continue
        const = math.log(D - 1) + log_sphere_area(D)
        lp = torch.logsumexp(torch.log(plates.pos_weights) - 0.5 * (D - 1) * torch.log(r2_pos), dim=1) - const
        ln = torch.logsumexp(torch.log(plates.neg_weights) - 0.5 * (D - 1) * torch.log(r2_neg), dim=1) - const
        top = torch.maximum(lp, ln)
        shift = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        out.append(torch.exp(shift) * (torch.exp(lp - shift) - torch.exp(ln - shift)))
    return torch.cat(out)
