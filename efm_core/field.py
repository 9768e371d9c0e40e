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

Low D (D + 1 <= ``POWER_MAX_DIM``, method ``direct``): the weights a_i r_i^{-(D+1)} are representable unless a query
is extremely close to or far from the charges, so they are computed as plain powers (``reciprocal``/``rsqrt`` and a
small integer power, no log/exp, charges stored per coordinate so that every pass is over contiguous (b, n) arrays).
The result is used only when it is provably as accurate as the log-space sum: the norm of each accumulated field (in
units of the largest magnitude) lies in [``_power_range``], which excludes inf/NaN (a query on a charge, overflow) and
any result that dropped or denormal terms could have changed by more than float epsilon; otherwise the same points
are recomputed in log space. In the tracer's geometry the fallback never triggers.

A query point exactly on a charge: that charge's own (directionless) contribution is left out, so the result is the
field of all the other charges there (the principal value), finite and well defined. Where the field vanishes exactly
the direction is the zero vector and log|E| is -inf.

``FieldEvaluator`` does all per-plate set-up once (lift to R^{D+1}, log-magnitudes, centre, per-coordinate layout) and
then evaluates the field at any number of point sets without validation; ``plate_field_at`` validates its points and
builds one. The field-line tracer keeps one evaluator for a whole trace.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor

from . import limits
from .plates import Plates, check_points, make_plates

LOG_WEIGHT_FLOOR = -60.0  # weights below exp(-60) of the largest are dropped
TOP_K = 4  # heaviest charges per chunk handled with explicit differences in the matmul path
DIRECT_MAX_DIM = 32  # auto: explicit differences while D + 1 <= this
POWER_MAX_DIM = 4  # direct: weights as plain powers (range-checked, else log space) while D + 1 <= this
POWER_BLOCK_BYTES = 8 << 20  # the power path's work arrays stay below this (cache; 1.6x faster at 256 x 2048 float64)
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


def _plate_sum_direct(x: Tensor, *, charges: Tensor, log_a: Tensor, n_chunk: int) -> tuple[Tensor, Tensor]:
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
    x: Tensor, *, charges: Tensor, log_a: Tensor, n_chunk: int, centre: Tensor, centred: Tensor, centred_sq: Tensor
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


class Nearest(NamedTuple):
    """Distances from B points to the nearest charge of each plate (from explicit differences)."""

    pos: Tensor  # (B,) distance to the nearest positive charge
    neg: Tensor  # (B,) distance to the nearest negative charge


def nearest(
    x: Tensor, charges: Tensor, distinct: bool = False, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> tuple[Tensor, Tensor]:
    """Distance (B,) and index (B,) of the nearest row of ``charges`` (n, d) to each row of ``x`` (B, d).

    Explicit differences for d <= DIRECT_MAX_DIM; above, matrix-product distances pick the nearest row and its distance
    is recomputed exactly. ``distinct``: ignore charges at distance 0 (inf where there is no other one).
    """
    B, d1 = x.shape
    rows = max(1, chunk_elements // max(1, charges.shape[0] * min(d1, DIRECT_MAX_DIM)))
    dists, idxs = [], []
    for start in range(0, B, rows):
        xb = x[start : start + rows]
        if d1 <= DIRECT_MAX_DIM:
            d = torch.cdist(xb, charges, compute_mode="donot_use_mm_for_euclid_dist")
        else:  # matrix products are cheap but inexact next to a charge: recompute the winner exactly below
            d = torch.cdist(xb, charges)
        if distinct:
            d = torch.where(d > 0, d, torch.full_like(d, math.inf))
        dist, idx = d.min(dim=1)
        if d1 > DIRECT_MAX_DIM:
            dist = torch.linalg.vector_norm(xb - charges[idx], dim=1)
            if distinct:
                dist = torch.where(dist > 0, dist, torch.full_like(dist, math.inf))
        dists.append(dist)
        idxs.append(idx)
    return torch.cat(dists), torch.cat(idxs)


def _inverse_power(r2: Tensor, k: int) -> Tensor:
    """r2^(-k/2) in place in ``r2``, for k = 1..4: reciprocal or rsqrt and a power of at most 3 (no log/exp)."""
    base = r2.reciprocal_() if k % 2 == 0 else r2.rsqrt_()
    e = k // 2 if k % 2 == 0 else k
    return base if e == 1 else base.pow_(e)


def _power_range(dtype: torch.dtype, n_charges: int, d1: int) -> tuple[float, float]:
    """[lo, hi] for the norm of a field summed with plain power weights (magnitudes scaled to at most 1).

    Inside it the sum is as accurate as the log-space one: a term lost to overflow of r^2 (r^2 >= max, so the term is
    at most r^{-D} <= sqrt(tiny)) or carried by a denormal weight (error <= 2 eps sqrt(tiny)) moves the sum by at most
    ``n_charges`` x 2 sqrt(tiny), which is eps x lo; hi keeps the squares in the norm finite. NaN and inf are outside.
    """
    info = torch.finfo(dtype)
    return n_charges * 2.0 * math.sqrt(info.tiny) / info.eps, math.sqrt(info.max / d1)


def _running(op, old: Tensor | None, new: Tensor) -> Tensor:
    """op(old, new), or new where there is no old yet (running sums and minima over chunks)."""
    return new if old is None else op(old, new)


class _LogPlate(NamedTuple):
    """One plate prepared for the log-space sums."""

    charges: Tensor  # (N, D+1) lifted charges
    log_a: Tensor  # (N,) log magnitudes (-inf for zero magnitudes: they get zero weight)
    sign: float  # +1 (P) or -1 (Q)
    centred: Tensor  # (N, D+1) charges - centre (matmul path; empty otherwise)
    centred_sq: Tensor  # (N,) |centred|^2 (matmul path; empty otherwise)


class FieldEvaluator:
    """The exact field of fixed ``plates``, set up once and evaluated at many point sets (see module docstring).

    Calls do not validate: points must be a finite (B, D+1) tensor in the evaluator's ``dtype`` on its ``device``
    (``plate_field_at`` checks them and builds an evaluator). Results are in that dtype on that device. An evaluator
    reuses its work memory between calls, so one evaluator must not be called from two threads at once.

    Args:
        plates: validated plates (``make_plates``); moved to ``dtype`` / ``device`` (default: the plates' own).
        method: 'auto', 'direct' or 'matmul' (see module docstring).
        chunk_elements: size of the temporaries (elements); memory stays bounded for any B, N, D.
    """

    def __init__(
        self,
        plates: Plates,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        method: str = "auto",
        chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    ) -> None:
        if not isinstance(plates, Plates):
            raise ValueError(
                f"plates must be a Plates (build one with make_plates(pos, neg, L)); got {type(plates).__name__}."
            )
        self.plates = plates.to(dtype=dtype, device=device)
        self.method = resolve_method(method, self.plates.D)
        self.chunk_elements = int(chunk_elements)
        d1 = self.plates.D + 1
        pos, neg = self.plates.lifted_pos(), self.plates.lifted_neg()
        self.centre = 0.5 * (pos.mean(0) + neg.mean(0))
        self._log_area = log_sphere_area(self.plates.D)
        self._log_plates = (
            self._log_plate(pos, self.plates.pos_weights, 1.0),
            self._log_plate(neg, self.plates.neg_weights, -1.0),
        )
        self._power = self.method == "direct" and d1 <= POWER_MAX_DIM
        n_all = pos.shape[0] + neg.shape[0]
        if self._power:
            scale = torch.maximum(self.plates.pos_weights.max(), self.plates.neg_weights.max())
            self._coords = torch.cat([pos, neg]).T.contiguous()  # (D+1, N+M): every pass runs over contiguous rows
            self._q = torch.cat([self.plates.pos_weights, -self.plates.neg_weights]) / scale
            self._log_scale = float(torch.log(scale)) - self._log_area
            self._range = _power_range(self.plates.dtype, n_all, d1)
            self._n_chunk = max(1, min(n_all, self.chunk_elements // ((d1 + 2) * 64)))
            self._b_chunk = max(
                1,
                min(
                    self.chunk_elements // (self._n_chunk * (d1 + 2)),
                    POWER_BLOCK_BYTES // (self._n_chunk * (d1 + 1) * self._coords.element_size()),
                ),
            )
            self._buffer = self._coords.new_empty(0)  # work arrays of _power_sums, grown on demand
        else:
            self._b_chunk = 1 << 62  # one block: the log-space sums chunk points and charges per plate themselves

    @property
    def dtype(self) -> torch.dtype:
        return self.plates.dtype

    @property
    def device(self) -> torch.device:
        return self.plates.device

    def _log_plate(self, charges: Tensor, weights: Tensor, sign: float) -> _LogPlate:
        empty = charges.new_empty(0)
        if self.method == "matmul":
            centred = charges - self.centre
            return _LogPlate(charges, torch.log(weights), sign, centred, (centred * centred).sum(1))
        return _LogPlate(charges, torch.log(weights), sign, empty, empty)

    def __call__(self, x: Tensor) -> FieldResult:
        """Exact field at ``x`` (B, D+1): total direction and log|E|, and each plate's part."""
        parts = [self._field_block(x[s : s + self._b_chunk]) for s in range(0, x.shape[0], self._b_chunk)]
        if len(parts) == 1:
            return parts[0]
        cat = lambda get: torch.cat([get(p) for p in parts])  # noqa: E731
        return FieldResult(
            cat(lambda p: p.direction),
            cat(lambda p: p.log_norm),
            PlateField(cat(lambda p: p.pos.direction), cat(lambda p: p.pos.log_norm)),
            PlateField(cat(lambda p: p.neg.direction), cat(lambda p: p.neg.log_norm)),
        )

    def direction(self, x: Tensor) -> Tensor:
        """Unit direction E/|E| (B, D+1) at ``x`` (the zero vector where E vanishes)."""
        return self._direction(x, with_nearest=False)[0]

    def direction_and_nearest(self, x: Tensor) -> tuple[Tensor, Nearest]:
        """Unit direction (B, D+1) at ``x`` and the distances to the nearest charge of each plate.

        The distances come from the power path's differences at no extra pass; otherwise they are computed apart.
        """
        direction, near = self._direction(x, with_nearest=True)
        assert near is not None
        return direction, near

    def _direction(self, x: Tensor, with_nearest: bool) -> tuple[Tensor, Nearest | None]:
        if x.shape[0] <= self._b_chunk:  # the tracer's case: one block, no lists
            return self._direction_block(x, with_nearest)
        blocks = [self._direction_block(x[s : s + self._b_chunk], with_nearest) for s in range(0, x.shape[0], self._b_chunk)]
        direction = torch.cat([d for d, _ in blocks])
        if not with_nearest:
            return direction, None
        return direction, Nearest(*(torch.cat(parts) for parts in zip(*(nr for _, nr in blocks), strict=True)))

    def _direction_block(self, xb: Tensor, with_nearest: bool) -> tuple[Tensor, Nearest | None]:
        nr = None
        if self._power:
            (total,), nr = self._power_sums(xb, split=False, with_nearest=with_nearest)
            norm = torch.linalg.vector_norm(total, dim=0)
            if self._in_range(norm):
                return (total / norm).T.contiguous(), nr
        d = self._log_field(xb).direction
        if with_nearest and nr is None:
            nr = Nearest(*(nearest(xb, p.charges, chunk_elements=self.chunk_elements)[0] for p in self._log_plates))
        return d, nr

    # -- the power path (low D) --------------------------------------------------------------------------------

    def _in_range(self, norm: Tensor) -> bool:
        """All norms within ``_power_range`` (one reduction; NaN fails)."""
        lo, hi = torch.aminmax(norm)
        return self._range[0] <= float(lo) and float(hi) <= self._range[1]

    def _power_sums(self, xb: Tensor, *, split: bool, with_nearest: bool) -> tuple[list[Tensor], Nearest | None]:
        """sum_i q_i (x - c_i) / r_i^{D+1} in units of the largest magnitude, not range-checked: [P's, Q's] sums, each
        (D+1, b), with ``split``, else [both plates together]; and the nearest distances (None unless asked)."""
        b, d1 = xb.shape
        n_pos = self.plates.pos.shape[0]
        n_all = self._coords.shape[1]
        acc: list[Tensor | None] = [None, None] if split else [None]
        r2_min: list[Tensor | None] = [None, None]  # P, Q
        xt = xb.T[:, :, None]
        for s in range(0, n_all, self._n_chunk):
            e = min(s + self._n_chunk, n_all)
            k = min(max(n_pos - s, 0), e - s)  # charges s .. s+k-1 of this chunk are positive, the rest negative
            plates = [(i, lo, hi) for i, lo, hi in ((0, 0, k), (1, k, e - s)) if hi > lo]
            diff, r2 = self._scratch(b, e - s)
            torch.sub(xt, self._coords[:, None, s:e], out=diff)  # (D+1, b, n)
            torch.mul(diff[0], diff[0], out=r2)
            for j in range(1, d1):
                r2.addcmul_(diff[j], diff[j])
            if with_nearest:
                for i, lo, hi in plates:
                    r2_min[i] = _running(torch.minimum, r2_min[i], r2[:, lo:hi].amin(1))
            w = _inverse_power(r2, d1).mul_(self._q[s:e])
            if split:
                for i, lo, hi in plates:
                    acc[i] = _running(torch.add, acc[i], diff[..., lo:hi].mul_(w[:, lo:hi]).sum(-1))
            else:
                acc[0] = _running(torch.add, acc[0], diff.mul_(w).sum(-1))
        near = Nearest(r2_min[0].sqrt(), r2_min[1].sqrt()) if with_nearest else None  # type: ignore[union-attr]
        return acc, near  # type: ignore[return-value]  # every plate has a charge: no None is left

    def _scratch(self, b: int, n: int) -> tuple[Tensor, Tensor]:
        """(D+1, b, n) and (b, n) work arrays, views of one buffer kept between calls: fresh temporaries of this size
        can cost a page fault per 4 kB on every call (measured in some processes, depending on the heap: 6x slower)."""
        d1 = self._coords.shape[0]
        size = d1 * b * n
        if self._buffer.numel() < size + b * n:
            self._buffer = self._coords.new_empty(size + b * n)
        return self._buffer[:size].view(d1, b, n), self._buffer[size : size + b * n].view(b, n)

    def _power_plate(self, acc: Tensor) -> PlateField | None:
        norm = torch.linalg.vector_norm(acc, dim=0)
        if not self._in_range(norm):
            return None
        return PlateField((acc / norm).T.contiguous(), torch.log(norm) + self._log_scale)

    # -- blocks of points ----------------------------------------------------------------------------------------

    def _field_block(self, xb: Tensor) -> FieldResult:
        if self._power:
            acc, _ = self._power_sums(xb, split=True, with_nearest=False)
            e_pos, e_neg = self._power_plate(acc[0]), self._power_plate(acc[1])
            if e_pos is not None and e_neg is not None:
                total = combine(e_pos, e_neg)
                return FieldResult(total.direction, total.log_norm, e_pos, e_neg)
        return self._log_field(xb)

    def _log_field(self, xb: Tensor) -> FieldResult:
        e_pos, e_neg = (self._log_plate_field(xb, plate) for plate in self._log_plates)
        total = combine(e_pos, e_neg)
        return FieldResult(total.direction, total.log_norm, e_pos, e_neg)

    def _log_plate_field(self, x: Tensor, plate: _LogPlate) -> PlateField:
        """Field of one plate at x (b, D+1) by log-space sums, chunked over points and charges."""
        d1 = x.shape[1]
        N = plate.charges.shape[0]
        if self.method == "direct":
            n_chunk = max(1, min(N, self.chunk_elements // (d1 * 64)))
            b_chunk = max(1, self.chunk_elements // (n_chunk * d1))
            kernel = partial(_plate_sum_direct, charges=plate.charges, log_a=plate.log_a, n_chunk=n_chunk)
        else:
            n_chunk = max(1, min(N, 4096, self.chunk_elements))
            b_chunk = max(1, min(self.chunk_elements // n_chunk, self.chunk_elements // (TOP_K * d1)))
            kernel = partial(
                _plate_sum_matmul,
                charges=plate.charges,
                log_a=plate.log_a,
                n_chunk=n_chunk,
                centre=self.centre,
                centred=plate.centred,
                centred_sq=plate.centred_sq,
            )
        parts = []
        for start in range(0, x.shape[0], b_chunk):
            running, acc = kernel(x[start : start + b_chunk])
            parts.append(_normalise(plate.sign * acc, running - self._log_area))
        if len(parts) == 1:
            return parts[0]
        return PlateField(torch.cat([p.direction for p in parts]), torch.cat([p.log_norm for p in parts]))


def plate_field_at(
    points: Tensor, plates: Plates, *, method: str = "auto", chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> FieldResult:
    """Exact field of validated ``plates`` at ``points`` (B, D+1); see module docstring for the numerics.

    Computation happens in the dtype and on the device of ``points``; the plates are moved there. For many calls on
    the same plates build one ``FieldEvaluator`` instead (this builds one per call).
    """
    x = check_points("points", points, dim=plates.D + 1)
    evaluator = FieldEvaluator(plates, dtype=x.dtype, device=x.device, method=method, chunk_elements=chunk_elements)
    limits.warn_far_points(x, evaluator.plates.lifted_pos(), evaluator.plates.lifted_neg(), plates.L)
    return evaluator(x)


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
    like = check_points("points", points)
    if not (isinstance(points, Tensor) and points.is_floating_point()):
        like = like.to(torch.float64)
    plates = make_plates(check_points("pos (the positive charges on P)", pos, like=like), neg, L, pos_weights, neg_weights)
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
