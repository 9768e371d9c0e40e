"""PFGM (Xu et al. 2022) and PFGM++ (Xu et al. 2023), the Poisson-flow peers of EFM, as their papers and code define
them: options, perturbation kernels, priors, PFGM's target and the way their nets are conditioned. The data sit alone
on the plane z = 0 (``config.p``, no ``q``); the losses are in ``objectives``, the samplers in ``solvers`` (RK45 in
log z through ``fields.pfgm_field``; ``edm_sample``) and ``sampling.generate``.

PFGM: the data are charges on z = 0 of R^{N+1}. Training points (``pfgm_perturb``): (x - y, z) = sigma_end
(1 + tau)^m (g, |h|) with g ~ N(0, I_N), h ~ N(0, 1), m ~ U[0, M]; with ``restrict_M`` the points whose signed draw
h sigma_end is below 0.005 (about 69 % of them at sigma_end = 0.01: upstream tests the draw before taking |h|) get
m ~ U[0, 0.7 M] instead. Target (``pfgm_target``): sqrt(N) d / (|d| + gamma), d = sum_i w_i (y_i - x~) the empirical
Poisson field of the step's large batch written as a mean offset, w_i proportional to |x~ - y_i|^-(N+1): it points
along -E and its length grows with the distance to the data (gamma = 5 softens it). Prior (``pfgm_prior``): where
the lines of a point charge cross z = z_max (= ``config.L``): radius z_max sqrt(u / (1 - u)), u ~ Beta(N/2, 1/2),
clipped to [1, 3000] as upstream, in a uniform direction. Sampling: dx/d(log z) = z v_x / v_z from log z_max down to
log z_min = log 1e-3 by RK45; below z_exp the net's v_z is replaced by the value implied by |v_x| (Appendix B.2.3).

PFGM++: D_aug augmented dimensions (PFGM is D_aug = 1, diffusion the limit D_aug -> inf). Its kernel p_r(x | y) is
proportional to (|x - y|^2 + r^2)^-((N + D_aug)/2) with r = sigma sqrt(D_aug): a multivariate Student t of D_aug
degrees of freedom and scale sigma, drawn as x - y = sigma g / sqrt(chi2_D / D) (``pfgmpp_perturbation``; upstream
draws the same radius as r sqrt(u / (1 - u)), u ~ Beta(N/2, D/2)). The loss is EDM's denoiser loss with that kernel
(sigma ~ exp(N(P_mean, P_std^2)), weight (sigma^2 + sigma_data^2) / (sigma sigma_data)^2, EDM's preconditioning
``pfgmpp_denoise``); the prior is the kernel at sigma_max (= ``config.L``) round 0, and the sampler is EDM's
deterministic Heun in sigma on the rho = 7 schedule (``solvers.edm_sample``): dx/dsigma = (x - D(x, sigma)) / sigma
holds for every D_aug when r = sigma sqrt(D_aug).

The nets are the project's field nets (``net(x, h) -> (f_x, f_z)``); they see the log of z (PFGM) or of sigma
(PFGM++) mapped linearly to a height h in [0, L] (``net_height``), the way diffusion nets see log sigma. PFGM++ uses
f_x only. Hyperparameters live in ``config.method`` (``PFGMOptions`` / ``PFGMppOptions``), defaults upstream's CIFAR-10
values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from .plates import lift

OBJECTIVES = ("pfgm", "pfgmpp")  # objectives whose data sit alone on z = 0 and whose lines start on a prior
RESTRICT_Z = 0.005  # restrict_M: signed perturbation heights below this get the smaller range of m (upstream)
RESTRICT_SHARE = 0.7  # restrict_M: that range is [0, 0.7 M]
MAX_D_AUG = 65536  # chi2_D is drawn as a sum of D squares; "inf" is the diffusion limit
TARGET_CHUNK = 1 << 22  # pfgm_target: elements of one block of distances


def _number(name: str, value: object, low: float | None = 0.0, strict: bool = True) -> float:
    """``value`` as a float if it is a finite number above ``low`` (``strict``: >, else >=; None: any), else
    ValueError naming the option."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        raise ValueError(f"method option {name} must be a finite number{bound}; got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class PFGMOptions:
    """PFGM's hyperparameters (upstream's names). sigma_end, tau, M: the perturbation; restrict_M; gamma: the
    target's softening length; z_min: where sampling stops; radius: the prior radius clip [lo, hi]; z_exp: below
    this height the sampler uses the v_z implied by |v_x| (0 turns that off)."""

    sigma_end: float = 0.01
    tau: float = 0.03
    M: float = 291.0
    restrict_M: bool = True
    gamma: float = 5.0
    z_min: float = 1e-3
    radius: tuple[float, float] = (1.0, 3000.0)
    z_exp: float = 1.0

    def __post_init__(self) -> None:
        for name in ("sigma_end", "tau", "M", "gamma", "z_min"):
            _number(name, getattr(self, name))
        if not isinstance(self.restrict_M, bool):
            raise ValueError(f"method option restrict_M must be true or false; got {self.restrict_M!r}.")
        r = self.radius
        if not (isinstance(r, list | tuple) and len(r) == 2 and _number("radius", r[0]) < _number("radius", r[1])):
            raise ValueError(f"method option radius must be [lo, hi] with 0 < lo < hi; got {r!r}.")
        object.__setattr__(self, "radius", (float(r[0]), float(r[1])))
        _number("z_exp", self.z_exp, strict=False)


@dataclass(frozen=True)
class PFGMppOptions:
    """PFGM++'s hyperparameters (upstream's names): D_aug (an integer from 1 to ``MAX_D_AUG``, or "inf" for the
    diffusion limit), P_mean and P_std of log sigma in training, sigma_data (the data's std, for EDM's
    preconditioning), sigma_min (the last sampling level; sigma_max is ``config.L``), rho (the schedule's curvature)."""

    D_aug: int | str = 128
    P_mean: float = -1.2
    P_std: float = 1.2
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    rho: float = 7.0

    def __post_init__(self) -> None:
        if self.D_aug != "inf" and not (isinstance(self.D_aug, int) and not isinstance(self.D_aug, bool) and 1 <= self.D_aug <= MAX_D_AUG):
            raise ValueError(f'method option D_aug must be an integer from 1 to {MAX_D_AUG} or "inf"; got {self.D_aug!r}.')
        _number("P_mean", self.P_mean, None)
        for name in ("P_std", "sigma_data", "sigma_min", "rho"):
            _number(name, getattr(self, name))

    @property
    def d_aug(self) -> float:
        """D_aug as a float (math.inf for the diffusion limit)."""
        return math.inf if self.D_aug == "inf" else float(self.D_aug)


def method_options(objective: str, spec: object) -> PFGMOptions | PFGMppOptions | None:
    """The validated options of ``config.method`` for ``objective`` (None for efm and fm, whose method must be {})."""
    if not isinstance(spec, dict):
        raise ValueError(f"config method must be a JSON object of options; got {spec!r}.")
    if objective not in OBJECTIVES:
        if spec:
            raise ValueError(f"config method holds PFGM / PFGM++ options; objective {objective!r} takes none: set it to {{}}.")
        return None
    cls = PFGMOptions if objective == "pfgm" else PFGMppOptions
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(spec) - set(known))
    if unknown:
        raise ValueError(f"unknown {objective} option(s) {unknown}; known: {known}.")
    return cls(**spec)


def options_dict(options: PFGMOptions | PFGMppOptions) -> dict:
    """JSON-able dict of options (the radius as a list)."""
    out = asdict(options)
    if "radius" in out:
        out["radius"] = list(out["radius"])
    return out


def net_height(s: Tensor, s_min: float, s_max: float, L: float) -> Tensor:
    """The height h (B,) the net sees for a level s (B,) (z for PFGM, sigma for PFGM++): log s mapped linearly so
    that s_min -> 0 and s_max -> L (levels outside [s_min, s_max] map outside [0, L])."""
    lo, hi = math.log(s_min), math.log(s_max)
    return L * (torch.log(s.clamp_min(1e-30)) - lo) / (hi - lo)


def _unit_rows(n: int, N: int, g: torch.Generator, like: Tensor) -> Tensor:
    """n uniformly random unit vectors (n, N) on the device and in the dtype of ``like``."""
    u = torch.randn(n, N, generator=g, device=like.device, dtype=like.dtype)
    return u / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(torch.finfo(like.dtype).tiny)


# --- PFGM ------------------------------------------------------------------------------------------------------------


def pfgm_perturb(y: Tensor, options: PFGMOptions, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """PFGM's training points round data ``y`` (B, *shape): (x (B, *shape), z (B,)), drawn with ``g`` on the device
    and in the dtype of ``y``: (x - y, z) = sigma_end (1 + tau)^m (g_N, |h|), m ~ U[0, M], restricted to
    [0, 0.7 M] where h sigma_end < 0.005 with ``restrict_M``."""
    B, N = y.shape[0], math.prod(y.shape[1:])
    h = torch.randn(B, generator=g, device=y.device, dtype=y.dtype) * options.sigma_end
    m = torch.rand(B, generator=g, device=y.device, dtype=y.dtype) * options.M
    if options.restrict_M:
        small = torch.rand(B, generator=g, device=y.device, dtype=y.dtype) * float(int(options.M * RESTRICT_SHARE))
        m = torch.where(h < RESTRICT_Z, small, m)
    mult = torch.exp(m * math.log1p(options.tau))
    g_n = torch.randn(B, N, generator=g, device=y.device, dtype=y.dtype) * options.sigma_end
    radius = torch.linalg.vector_norm(g_n, dim=1) * mult
    x = y + (_unit_rows(B, N, g, y) * radius[:, None]).reshape(y.shape)
    return x, h.abs() * mult


@torch.no_grad()
def pfgm_target(x: Tensor, z: Tensor, data: Tensor, gamma: float) -> Tensor:
    """PFGM's regression target (B, N+1) at points (x (B, *shape), z (B,)) for the data (K, *shape) on z = 0:
    sqrt(N) d / (|d| + gamma), d = sum_i w_i (y_i - x~) with w = softmax(-(N+1) log |x~ - y_i|) (the direction of -E
    of those charges, ``field.plate_field_at``), in the dtype of ``x``; distances by explicit differences."""
    points = lift(x.flatten(1), z.to(x.dtype))
    charges = data.flatten(1).to(x)
    N = charges.shape[1]
    rows = max(1, TARGET_CHUNK // max(charges.shape[0] * N, 1))
    out = []
    for block in points.split(rows):
        r2 = torch.cdist(block[:, :-1], charges, compute_mode="donot_use_mm_for_euclid_dist").square() + block[:, -1:].square()
        w = torch.softmax(-(N + 1) / 2 * torch.log(r2.clamp_min(torch.finfo(x.dtype).tiny)), dim=1)
        out.append(torch.cat([w @ charges - block[:, :-1], -block[:, -1:]], dim=1))
    d = torch.cat(out)
    return math.sqrt(N) * d / (torch.linalg.vector_norm(d, dim=1, keepdim=True) + gamma)


def pfgm_prior(n: int, shape: tuple[int, ...], z_max: float, radius: tuple[float, float], g: torch.Generator) -> Tensor:
    """n points (n, *shape) float32 of PFGM's prior on z = z_max: radius z_max |g_N| / |h| (the law of
    z_max sqrt(u / (1 - u)), u ~ Beta(N/2, 1/2): the flux of a point charge through that plane), clipped to
    ``radius`` = (lo, hi), in a uniform direction. ``radius = (0, inf)`` gives the unclipped law."""
    N = math.prod(shape)
    chi_n = torch.linalg.vector_norm(torch.randn(n, N, generator=g, dtype=torch.float64), dim=1)
    h = torch.randn(n, generator=g, dtype=torch.float64).abs().clamp_min(1e-300)
    r = (float(z_max) * chi_n / h).clamp(*radius)
    return (_unit_rows(n, N, g, chi_n) * r[:, None]).float().reshape(n, *shape)


# --- PFGM++ ----------------------------------------------------------------------------------------------------------


def pfgmpp_perturbation(n: int, shape: tuple[int, ...], sigma: Tensor, d_aug: float, g: torch.Generator) -> Tensor:
    """n draws (n, *shape) of x - y under PFGM++'s kernel at levels ``sigma`` (n,) (its device and dtype):
    sigma g / sqrt(chi2_D / D) with g ~ N(0, I_N) and chi2_D a sum of D = d_aug squared normals; d_aug = inf gives
    N(0, sigma^2 I) (diffusion)."""
    g_n = torch.randn(n, *shape, generator=g, device=sigma.device, dtype=sigma.dtype)
    scale = sigma.reshape(n, *([1] * len(shape)))
    if math.isinf(d_aug):
        return scale * g_n
    k = int(d_aug)
    chi2 = torch.randn(n, k, generator=g, device=sigma.device, dtype=sigma.dtype).square().sum(1)
    return scale * g_n / torch.sqrt(chi2 / k).clamp_min(1e-30).reshape(n, *([1] * len(shape)))


def pfgmpp_prior(n: int, shape: tuple[int, ...], sigma_max: float, d_aug: float, g: torch.Generator) -> Tensor:
    """n points (n, *shape) float32 of PFGM++'s prior: its kernel at sigma_max round the origin."""
    return pfgmpp_perturbation(n, shape, torch.full((n,), float(sigma_max), dtype=torch.float64), d_aug, g).float()


def pfgmpp_denoise(net: nn.Module, x: Tensor, sigma: Tensor, options: PFGMppOptions, L: float) -> Tensor:
    """EDM's preconditioned denoiser D(x, sigma) = c_skip x + c_out F(c_in x, h(sigma)) (B, *shape) at levels
    ``sigma`` (B,), F the net's f_x; sigma_max = ``L``."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x)
    sd2 = options.sigma_data**2
    c_skip, c_out, c_in = sd2 / (s**2 + sd2), s * options.sigma_data / torch.sqrt(s**2 + sd2), 1.0 / torch.sqrt(s**2 + sd2)
    f_x, _ = net(c_in * x, net_height(sigma.to(x), options.sigma_min, L, L))
    return c_skip * x + c_out * f_x
