"""Interaction Field Matching (IFM; Manukhov, Kolesov, Palyulin, Korotin, ICLR 2026): one flux tube per pair.

A coupling pairs each quark x_q (a P sample on z = 0) with an antiquark x_qbar (a Q sample on z = L). Pair k carries
a string along the segment mu_k(z) = (1 - z/L) a_k + (z/L) b_k (a_k = pos[k], b_k = neg[pairs[k]]), Gaussian
across it with the width sigma(z) of ``tube_width``:

    E_k(x, z) = N(x; mu_k(z), sigma(z)^2 I_D) * (v_k(x, z), 1),  v_k = (b_k - a_k) / L + (sigma'/sigma)(z) (x - mu_k).

Choice of the field (documented, derived): E_k is the probability current of the Gaussian path with mean mu_k(z)
and std sigma(z), and v_k is that path's velocity field, so d/dz rho_k + div_x(rho_k v_k) = 0 (continuity): the
tube's divergence vanishes in the open slab, and its flux through every slice z = const is exactly one, whatever
its tilt (E_z is the Gaussian density of the offset, 1/sigma^D included). In the straight middle (sigma' = 0) E_k
is parallel to (b_k - a_k, L). In the end caps v_k fans out of the quark (z -> 0: v -> (x - a_k) / z, a radial
field from the point (a_k, 0)) and into the antiquark (z -> L: v -> (b_k - x) / (L - z)). The authors'
``src/ifm_field.py`` tilts the cap direction by tan(alpha) = r sigma'/sigma and divides by cos(alpha): the same
direction; it sets the strength along the unit axis (so a tilted tube's z-flux is smaller by L / |axis|), uses
sigma^(D-1) and a +1e-2 regulariser. Here every tube carries exactly one unit of flux, so following the field
carries P to Q for any plan whose marginals are P and Q (the IFM theorem).

Width (``tube_width``): sigma(z) = S sin(K z) for z < d, S for d <= z <= L - d, S cos(K (z - L + d)) for z > L - d,
K = pi / (2 d) (S = ``width`` in data units, d = ``cap`` in z units, 0 < d <= L / 2).

The sum over the pairs is taken in log space (log-weights l_k = log N_k, row max, softmax), so E = exp(logsumexp l)
* (v~, 1) with v~ = sum_k softmax(l)_k v_k: float32-safe at any D (the densities themselves underflow at D = 784).
Since the weights are the posterior of pair k given x at t = z / L, L v~ is exactly the marginal velocity of
conditional flow matching for the Gaussian path through the same pairs with sigma_t = sigma(t L) (the duality of
Shlenskii et al., arXiv 2602.02261).

Outside the open slab (z <= 0 or z >= L; on the plates the tubes shrink to their points and the field is a sum of
point sources, not a function) the field is zero: direction 0 and log-magnitude -inf.

Training (``IFMObjective``): a pair from the plan, z ~ U(eps, L - eps), x = mu(z) + sigma(z) N(0, I) (the tube's
own density: no noise at the plates, the most mid-gap), the target the unit field of all the step's pairs there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .field import resolve_method
from .plates import check_gap, check_points, is_number
from .sampler import TrainingPoints, ot_pairing

PLANS = ("independent", "ot")
TOP_K = 4  # matmul path: the heaviest pairs per query get explicit differences (exact next to a tube's axis)
DEFAULT_CHUNK_ELEMENTS = 1 << 22


class InteractionField(NamedTuple):
    """The interaction field at B points: ``direction`` (B, D+1) unit E/|E| (0 outside the slab) and
    ``log_magnitude`` (B,) log|E| (-inf outside; None unless asked for)."""

    direction: Tensor
    log_magnitude: Tensor | None


class TubeWidth(NamedTuple):
    """sigma(z) and sigma'(z) / sigma(z) at heights z (B,); ``inside`` (B,) bool, 0 < z < L."""

    sigma: Tensor
    dlog: Tensor
    inside: Tensor


def check_tube(L: float, width: object, cap: object) -> tuple[float, float]:
    """Validated (width S, cap d): S > 0 in data units, 0 < d <= L / 2 in z units; ValueError says how to fix."""
    if not (is_number(width) and 0 < float(width) < math.inf):
        raise ValueError(f"the tube width S must be a finite number > 0 (data units); got {width!r}.")
    if not (is_number(cap) and 0 < float(cap) <= L / 2):
        raise ValueError(f"the end cap d must be a number in (0, L/2] = (0, {L / 2:g}] (z units); got {cap!r}.")
    return float(width), float(cap)


def tube_width(z: Tensor, L: float, width: float, cap: float) -> TubeWidth:
    """The tube's width sigma(z) (sin opening for z < d, S mid-gap, cos closing for z > L - d; K = pi / (2 d)) and
    its log-derivative sigma'/sigma, at heights ``z`` (B,). Outside 0 < z < L: sigma = 1 and dlog = 0 (placeholders,
    masked by ``inside``)."""
    K = math.pi / (2.0 * cap)
    inside = (z > 0) & (z < L)
    zc = torch.where(inside, z, torch.full_like(z, L / 2))
    low, high = zc < cap, zc > L - cap
    angle_low, angle_high = K * zc, K * (zc - L + cap)
    sigma = torch.where(low, width * torch.sin(angle_low), torch.where(high, width * torch.cos(angle_high), width))
    dlog = torch.where(low, K / torch.tan(angle_low), torch.where(high, -K * torch.tan(angle_high), 0.0))
    sigma = torch.where(inside & (sigma > 0), sigma, torch.ones_like(sigma))
    return TubeWidth(sigma, torch.where(inside, dlog, torch.zeros_like(dlog)), inside)


def _pair_sums(
    X: Tensor, t: Tensor, A: Tensor, Delta: Tensor, sigma: Tensor, method: str
) -> tuple[Tensor, Tensor, Tensor]:
    """For queries X (b, D) at t (b,) and pairs (A, Delta) (N, D): (logsumexp_k l_k (b,), sum_k w_k Delta_k (b, D),
    sum_k w_k (X - mu_k) (b, D)) with l_k = log N(X; A_k + t Delta_k, sigma^2 I) and w = softmax(l)."""
    D = X.shape[1]
    log_norm = -D * torch.log(sigma) - 0.5 * D * math.log(2 * math.pi)  # (b,)
    inv2 = 0.5 / sigma.square()
    if method == "direct":
        diff = X[:, None, :] - A[None] - t[:, None, None] * Delta[None]  # (b, N, D)
        logw = -(diff * diff).sum(-1) * inv2[:, None]
        w = torch.softmax(logw, dim=1)
        return torch.logsumexp(logw, 1) + log_norm, w @ Delta, torch.einsum("bn,bnd->bd", w, diff)
    # |X - A - t Delta|^2 = |X|^2 - 2 X.A - 2 t X.Delta + |A|^2 + 2 t A.Delta + t^2 |Delta|^2 (centred on A's mean)
    centre = A.mean(0)
    Xc, Ac = X - centre, A - centre
    tt = t[:, None]
    r2 = (Xc * Xc).sum(1, keepdim=True) - 2 * (Xc @ Ac.T) - 2 * tt * (Xc @ Delta.T)
    r2 = r2 + (Ac * Ac).sum(1)[None] + 2 * tt * (Ac * Delta).sum(1)[None] + tt.square() * (Delta * Delta).sum(1)[None]
    logw = -r2.clamp_min(0) * inv2[:, None]
    top = torch.topk(logw, min(TOP_K, A.shape[0]), dim=1).indices  # redo the nearest tubes exactly
    gap = X[:, None, :] - A[top] - tt[:, :, None] * Delta[top]
    logw = logw.scatter(1, top, -(gap * gap).sum(-1) * inv2[:, None])
    w = torch.softmax(logw, dim=1)
    w_top = torch.gather(w, 1, top)
    rest = w.scatter(1, top, 0.0)
    offset = (rest.sum(1, keepdim=True) * Xc - rest @ Ac - tt * (rest @ Delta)) + torch.einsum("bk,bkd->bd", w_top, gap)
    return torch.logsumexp(logw, 1) + log_norm, w @ Delta, offset


def interaction_field(
    x: object,
    pos: object,
    neg: object,
    L: float,
    *,
    pairs: object | None = None,
    width: float = 1.0,
    cap: float | None = None,
    log_magnitude: bool = False,
    method: str = "auto",
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> InteractionField:
    """The exact interaction field (module docstring) at points ``x`` (B, D+1), z last.

    Args:
        pos: (N, D) quarks on z = 0. neg: (M, D) antiquarks on z = L. L: plate distance.
        pairs: (N,) int64, pos[i] is paired with neg[pairs[i]] (a permutation of range(M) when M = N, for the field
            to carry P to Q); None: pos[i] with neg[i] (then M = N).
        width: S, the tube's std mid-gap (data units). cap: d, the length of each end cap (z units, 0 < d <= L / 2;
            None: L / 10).
        log_magnitude: also return log|E| (each tube carries one unit of flux through every slice z = const).
        method: 'direct' (explicit differences, for small D), 'matmul' (matrix products, the nearest tubes redone
            with explicit differences) or 'auto' (as ``field.resolve_method``).
        chunk_elements: bound on the temporaries (queries are processed in chunks).

    Returns:
        ``InteractionField`` in the dtype and on the device of ``x`` (direction 0 and log|E| = -inf where z <= 0
        or z >= L).
    """
    X = check_points("points", x)
    L = check_gap(L, X.dtype)
    A = check_points("quarks", pos, dim=X.shape[1] - 1, like=X)
    B_all = check_points("antiquarks", neg, dim=X.shape[1] - 1, like=X)
    S, d = check_tube(L, width, L / 10 if cap is None else cap)
    Bq = B_all[check_pairs(pairs, A.shape[0], B_all.shape[0], X.device)]
    how = resolve_method(method, A.shape[1])
    Delta = Bq - A
    per_row = A.shape[0] * (A.shape[1] if how == "direct" else 1) + TOP_K * A.shape[1]
    step = max(1, int(chunk_elements) // max(per_row, 1))
    directions, logs = [], []
    for s in range(0, X.shape[0], step):
        direction, log_mag = _field_block(X[s : s + step], A, Delta, L, S, d, how)
        directions.append(direction)
        logs.append(log_mag)
    return InteractionField(torch.cat(directions), torch.cat(logs) if log_magnitude else None)


def check_pairs(pairs: object | None, n: int, m: int, device: torch.device) -> Tensor:
    """The (n,) int64 antiquark index of every quark (``pairs``, or 0 .. n-1 when None); ValueError if invalid."""
    if pairs is None:
        if n != m:
            raise ValueError(f"without pairs, quark i is paired with antiquark i: give as many of each; got {n} and {m}.")
        return torch.arange(n, device=device)
    index = torch.as_tensor(pairs, device=device)
    if index.dtype not in (torch.int64, torch.int32) or index.shape != (n,):
        raise ValueError(f"pairs must be an integer tensor of shape ({n},) (one antiquark per quark); got {index.dtype} "
                         f"{tuple(index.shape)}.")
    if n and (int(index.min()) < 0 or int(index.max()) >= m):
        raise ValueError(f"pairs must index the {m} antiquarks (0 .. {m - 1}); got values {int(index.min())} .. "
                         f"{int(index.max())}.")
    return index.long()


def _field_block(X: Tensor, A: Tensor, Delta: Tensor, L: float, S: float, d: float, how: str) -> tuple[Tensor, Tensor]:
    """Unit direction (b, D+1) and log|E| (b,) at the points X (b, D+1)."""
    z = X[:, -1]
    tube = tube_width(z, L, S, d)
    lse, w_delta, offset = _pair_sums(X[:, :-1], z / L, A, Delta, tube.sigma, how)
    v = w_delta / L + tube.dlog[:, None] * offset
    E = torch.cat([v, torch.ones_like(z)[:, None]], dim=1)
    norm = torch.linalg.vector_norm(E, dim=1)
    inside = tube.inside & torch.isfinite(lse) & torch.isfinite(norm)
    direction = torch.where(inside[:, None], E / norm[:, None], torch.zeros_like(E))
    log_mag = torch.where(inside, lse + torch.log(norm), torch.full_like(norm, -math.inf))
    return direction, log_mag


# --- couplings and training ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IFMOptions:
    """IFM's options (``config.method`` of an 'ifm' experiment): ``width`` S (data units), ``cap`` d (z units,
    0 < d <= L/2), ``plan`` 'independent' (pairs as drawn) or 'ot' (a minibatch OT plan of the whole batch), ``eps``
    the margin of the training heights, z ~ U(eps, L - eps)."""

    width: float = 1.0
    cap: float = 0.6
    plan: str = "independent"
    eps: float = 1e-3

    @classmethod
    def from_dict(cls, spec: object, L: float) -> IFMOptions:
        """Validated options for plate distance L; unknown keys or bad values raise ValueError."""
        if not isinstance(spec, dict):
            raise ValueError(f"config method must be a JSON object of IFM options; got {spec!r}.")
        known = sorted(f.name for f in fields(cls))
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise ValueError(f"unknown ifm option(s) {unknown}; known: {known}.")
        options = cls(**spec)
        check_tube(L, options.width, options.cap)
        if options.plan not in PLANS:
            raise ValueError(f"ifm plan must be one of {', '.join(PLANS)}; got {options.plan!r}.")
        if not (is_number(options.eps) and 0 < options.eps < options.cap):
            raise ValueError(f"ifm eps must be a number in (0, cap) = (0, {options.cap:g}); got {options.eps!r}.")
        return options

    def to_dict(self) -> dict:
        return asdict(self)


def couple(p: Tensor, q: Tensor, plan: str) -> Tensor:
    """The antiquarks in the order of the plan: q as drawn ('independent') or reordered by the exact minibatch OT
    assignment on squared distances ('ot', ``sampler.ot_pairing``; for equal uniform batches it is the EMD plan)."""
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}; got {plan!r}.")
    return ot_pairing(p, q) if plan == "ot" else q


def ifm_points(p: Tensor, q: Tensor, L: float, options: IFMOptions, generator: torch.Generator) -> TrainingPoints:
    """IFM's training points for B coupled pairs p, q (B, *shape): z ~ U(eps, L - eps), x = mu(z) + sigma(z) N(0, I),
    drawn with ``generator`` on the device and in the dtype of ``p``."""
    B = p.shape[0]
    u = torch.rand(B, generator=generator, device=p.device, dtype=p.dtype)
    z = options.eps + (L - 2 * options.eps) * u
    t = z / L
    sigma = tube_width(z, L, options.width, options.cap).sigma
    noise = torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype)
    tb = t.reshape(B, *([1] * (p.ndim - 1)))
    x = (1 - tb) * p + tb * q + sigma.reshape(tb.shape) * noise
    return TrainingPoints(x, z, t)


class IFMObjective:
    """IFM's loss: |f(x~) - E_pi(x~) / |E_pi(x~)||^2 over the D+1 components, mean over ``n_queries`` training points
    on the first pairs of the plan; the target is the field of all the batch's pairs (float32, no grad)."""

    own_points = True  # IFM draws its own training points (``ifm_points``): a config's sampler must be {}
    parse_options = staticmethod(IFMOptions.from_dict)  # ``config.method`` -> IFMOptions

    def __init__(self, options: IFMOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    @classmethod
    def from_config(cls, config: object) -> IFMObjective:
        """The loss of an 'ifm' ``ExperimentConfig`` (its ``method_options``, ``L`` and ``n_queries``)."""
        return cls(config.method_options, config.L, config.n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        if q is None:
            raise ValueError("IFM pairs samples of both plates: give Q samples.")
        m = min(p.shape[0], q.shape[0])  # a finite set smaller than the batch gives fewer items: pair m of each
        p, q = p[:m], couple(p[:m], q[:m], self.options.plan)
        k = min(self.n_queries, p.shape[0])
        points = ifm_points(p[:k], q[:k], self.L, self.options, generator)
        with torch.no_grad():
            target = interaction_field(
                points.lifted().float(), p.flatten(1).float(), q.flatten(1).float(), self.L,
                width=self.options.width, cap=self.options.cap,
            ).direction
        f_x, f_z = net(points.x, points.z)
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()
