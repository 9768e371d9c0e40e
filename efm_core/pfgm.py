"""PFGM (Xu et al. 2022) and PFGM++ (Xu et al. 2023): the Poisson-flow peers of EFM, as their papers and code define
them, trained by the same loop (``train.Trainer``) on data that sit alone on the plane z = 0 (``config.p``).

PFGM (``objective = "pfgm"``): the data are charges on z = 0 of R^{N+1}. Training points come from PFGM's
perturbation kernel (``pfgm_perturb``): (x - y, z) = sigma_end (1 + tau)^m (g, |h|) with g ~ N(0, I_N),
h ~ N(0, 1), m ~ U[0, M]; with ``restrict_M`` the points whose signed draw h sigma_end is below 0.005 (about 69 % of
them at sigma_end = 0.01: upstream tests the draw before taking |h|) get m ~ U[0, 0.7 M] instead. The target
(``pfgm_target``) is sqrt(N) d / (|d| + gamma) with d the empirical Poisson field of the step's large batch of data
written as a mean offset, d = sum_i w_i (y_i - x~), w_i proportional to |x~ - y_i|^-(N+1): it points along -E and
its length grows with the distance to the data (gamma = 5 softens it), which the sampler uses below z = z_exp
(``pfgm_field``). The prior (``pfgm_prior``) is where the lines of a point charge cross the plane z = z_max
(= ``config.L``): radius z_max sqrt(u / (1 - u)), u ~ Beta(N/2, 1/2), clipped to [1, 3000] as upstream, uniform
direction. Sampling: the ODE dx/d(log z) = z v_x / v_z from log z_max down to log z_min = log 1e-3, with RK45
(``transport.transport`` in t = log z; ``pfgm_field`` is the field in that variable).

PFGM++ (``objective = "pfgmpp"``): D_aug augmented dimensions (PFGM is D_aug = 1, diffusion the limit D_aug -> inf).
Its perturbation kernel p_r(x | y) is proportional to (|x - y|^2 + r^2)^-((N + D_aug)/2) with r = sigma sqrt(D_aug):
a multivariate Student t of D_aug degrees of freedom and scale sigma, x - y = sigma g / sqrt(chi2_D / D_aug) with
g ~ N(0, I_N) (``pfgmpp_perturbation``; upstream draws the same radius as r sqrt(u / (1 - u)), u ~ Beta(N/2, D/2)).
The objective is EDM's denoiser loss with that kernel (sigma ~ exp(N(P_mean, P_std^2)), weight
(sigma^2 + sigma_data^2) / (sigma sigma_data)^2, EDM's preconditioning ``pfgmpp_denoise``); the prior is the kernel at
sigma_max (= ``config.L``) around 0, and the sampler (``pfgmpp_sample``) is EDM's deterministic Heun (or Euler) in
sigma on the schedule of rho = 7 from sigma_max to sigma_min, then one Euler step to 0 (2 steps - 1 calls for Heun):
dx/dsigma = (x - D(x, sigma)) / sigma holds for every D_aug when r = sigma sqrt(D_aug).

The nets are the project's field nets (``net(x, h) -> (f_x, f_z)``); they see the log of z (PFGM) or sigma (PFGM++)
mapped linearly to a height h in [0, L] (``net_height``), the way diffusion nets see log sigma. PFGM++ uses f_x only.
Hyperparameters live in ``config.method`` (``PFGMOptions`` / ``PFGMppOptions``); their defaults are upstream's
CIFAR-10 values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn

from .plates import lift
from .sampler import softmax_offset

OBJECTIVES = ("pfgm", "pfgmpp")  # objectives whose data sit alone on z = 0 and whose lines start on a prior
RESTRICT_Z = 0.005  # restrict_M: signed perturbation heights below this get the smaller range of m (upstream)
RESTRICT_SHARE = 0.7  # restrict_M: that range is [0, 0.7 M]
FieldFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def _positive(name: str, value: object) -> float:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        raise ValueError(f"method option {name} must be a finite number > 0; got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class PFGMOptions:
    """PFGM's hyperparameters (upstream's names). sigma_end, tau, M: the perturbation; restrict_M; gamma: the
    target's softening length; z_min: where sampling stops; radius: the prior radius clip [lo, hi]; z_exp: below it
    the sampler replaces the net's v_z by the value implied by |v_x| (upstream's Appendix B.2.3); 0 turns that off."""

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
            _positive(name, getattr(self, name))
        if not isinstance(self.restrict_M, bool):
            raise ValueError(f"method option restrict_M must be true or false; got {self.restrict_M!r}.")
        r = self.radius
        if not (isinstance(r, list | tuple) and len(r) == 2):
            raise ValueError(f"method option radius must be [lo, hi] with 0 < lo < hi; got {r!r}.")
        lo, hi = _positive("radius", r[0]), _positive("radius", r[1])
        if not lo < hi:
            raise ValueError(f"method option radius must be [lo, hi] with 0 < lo < hi; got {r!r}.")
        object.__setattr__(self, "radius", (lo, hi))
        if not (isinstance(self.z_exp, int | float) and math.isfinite(self.z_exp) and self.z_exp >= 0):
            raise ValueError(f"method option z_exp must be a finite number >= 0; got {self.z_exp!r}.")


@dataclass(frozen=True)
class PFGMppOptions:
    """PFGM++'s hyperparameters (upstream's names): D_aug (a number >= 1, or "inf" for the diffusion limit), P_mean
    and P_std of log sigma in training, sigma_data (the data's std, EDM's preconditioning), sigma_min (the last
    sampling level; sigma_max is ``config.L``), rho (the schedule's curvature)."""

    D_aug: float | str = 128.0
    P_mean: float = -1.2
    P_std: float = 1.2
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    rho: float = 7.0

    def __post_init__(self) -> None:
        if self.D_aug != "inf" and (_positive("D_aug", self.D_aug) < 1):
            raise ValueError(f"method option D_aug must be >= 1 or \"inf\"; got {self.D_aug!r}.")
        if not (isinstance(self.P_mean, int | float) and math.isfinite(self.P_mean)):
            raise ValueError(f"method option P_mean must be a finite number; got {self.P_mean!r}.")
        for name in ("P_std", "sigma_data", "sigma_min", "rho"):
            _positive(name, getattr(self, name))

    @property
    def d_aug(self) -> float:
        """D_aug as a float (math.inf for the diffusion limit)."""
        return math.inf if self.D_aug == "inf" else float(self.D_aug)


def method_options(objective: str, spec: dict) -> PFGMOptions | PFGMppOptions | None:
    """The validated options of ``config.method`` for ``objective`` (None for efm and fm, whose method must be {})."""
    if not isinstance(spec, dict):
        raise ValueError(f"config method must be a JSON object of options; got {spec!r}.")
    if objective not in OBJECTIVES:
        if spec:
            raise ValueError(f"config method holds PFGM / PFGM++ options; objective {objective!r} takes none: set it to {{}}.")
        return None
    cls = PFGMOptions if objective == "pfgm" else PFGMppOptions
    unknown = sorted(set(spec) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {objective} option(s) {unknown}; known: {sorted(f.name for f in fields(cls))}.")
    return cls(**spec)


def options_dict(options: PFGMOptions | PFGMppOptions) -> dict:
    """JSON-able dict of options (the radius as a list)."""
    out = asdict(options)
    if "radius" in out:
        out["radius"] = list(out["radius"])
    return out


def net_height(s: Tensor, s_min: float, s_max: float, L: float) -> Tensor:
    """The height h (B,) the net sees for a level s (B,) (z for PFGM, sigma for PFGM++): log s mapped linearly so
    that s_min -> 0 and s_max -> L (values outside [s_min, s_max] map outside [0, L])."""
    lo, hi = math.log(s_min), math.log(s_max)
    return L * (torch.log(s.clamp_min(1e-30)) - lo) / (hi - lo)


def _unit_rows(n: int, N: int, g: torch.Generator, like: Tensor) -> Tensor:
    u = torch.randn(n, N, generator=g, device=like.device, dtype=like.dtype)
    return u / torch.linalg.vector_norm(u, dim=1, keepdim=True).clamp_min(torch.finfo(like.dtype).tiny)


# --- PFGM --------------------------------------------------------------------------------------------------------------


def pfgm_perturb(y: Tensor, options: PFGMOptions, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """PFGM's training points around data ``y`` (B, *shape): returns (x (B, *shape), z (B,)), drawn with ``g`` on
    the device and in the dtype of ``y``. (x - y, z) = sigma_end (1 + tau)^m (g_N, |h|), m ~ U[0, M] (restricted to
    [0, 0.7 M] where h sigma_end < 0.005 with ``restrict_M``)."""
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
def pfgm_target(x: Tensor, z: Tensor, data: Tensor, gamma: float, chunk_elements: int = 1 << 22) -> Tensor:
    """PFGM's regression target (B, N+1) at points (x (B, *shape), z (B,)) for the data ``data`` (K, *shape) on
    z = 0: sqrt(N) d / (|d| + gamma), d = sum_i w_i (y_i - x~) with w proportional to |x~ - y_i|^-(N+1) (the
    direction of -E of the charges), in the dtype of ``x``."""
    points = lift(x.flatten(1), z.to(x.dtype))
    d = softmax_offset(points, lift(data.flatten(1).to(x), 0.0), max(1, chunk_elements // max(data.shape[0], 1)))
    N = points.shape[1] - 1
    return math.sqrt(N) * d / (torch.linalg.vector_norm(d, dim=1, keepdim=True) + gamma)


class PFGMObjective:
    """PFGM's loss: |f(x~) - target(x~)|^2 summed over the N+1 components, mean over the first ``n_queries`` data
    of the batch (perturbed by ``pfgm_perturb``); the target uses the whole batch (``n_charges`` items)."""

    def __init__(self, options: PFGMOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        x, z = pfgm_perturb(p[: self.n_queries], self.options, generator)
        target = pfgm_target(x.float(), z.float(), p.float(), self.options.gamma)
        f_x, f_z = net(x, net_height(z, self.options.z_min, self.L, self.L))
        pred = torch.cat([f_x.flatten(1), f_z[:, None]], dim=1)
        return (pred - target.to(pred)).square().sum(1).mean()


def pfgm_prior(n: int, shape: tuple[int, ...], z_max: float, radius: tuple[float, float], g: torch.Generator) -> Tensor:
    """n points (n, *shape) float32 of PFGM's prior on z = z_max: radius z_max |g_N| / |h| (the same law as
    z_max sqrt(u / (1 - u)), u ~ Beta(N/2, 1/2): the flux of a point charge through that plane), clipped to
    ``radius`` = (lo, hi), times a uniform direction. ``radius = (0, inf)`` gives the unclipped law."""
    N = math.prod(shape)
    like = torch.empty(0)
    chi_n = torch.linalg.vector_norm(torch.randn(n, N, generator=g, dtype=torch.float64), dim=1)
    h = torch.randn(n, generator=g, dtype=torch.float64).abs().clamp_min(1e-300)
    r = (float(z_max) * chi_n / h).clamp(*radius)
    return (_unit_rows(n, N, g, like.double()) * r[:, None]).float().reshape(n, *shape)


def pfgm_field(net: nn.Module, options: PFGMOptions, L: float) -> FieldFn:
    """PFGM's sampling ODE as a field in t = log z for ``transport.transport`` going down from log L to log z_min:
    field(x (B, *shape), t (B,)) -> (-z v_x, -v_z), so that the solver's dx/dt = f_x / f_z = z v_x / v_z, with
    (v_x, v_z) the net's prediction; below z_exp, v_z = -sqrt(N) z / (sqrt(|d_x|^2 + z^2) + gamma) with
    |d_x| = gamma s / (1 - s), s = |v_x| / sqrt(N) (upstream). Evaluated without gradients in the caller's dtype."""
    param = next(net.parameters())

    def field(x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.exp(t.to(param))
        with torch.no_grad():
            v_x, v_z = net(x.to(param), net_height(z, options.z_min, L, L))
        sqrt_n = math.sqrt(math.prod(x.shape[1:]))
        s = (torch.linalg.vector_norm(v_x.flatten(1), dim=1) / sqrt_n).clamp(0.0, 1.0 - 1e-6)
        d_x = options.gamma * s / (1.0 - s)
        implied = -sqrt_n * z / (torch.sqrt(d_x.square() + z.square()) + options.gamma)
        v_z = torch.where(z < options.z_exp, implied, v_z)
        scale = z.reshape(-1, *([1] * (x.ndim - 1)))
        return (-scale * v_x).to(x), (-v_z).to(x)

    return field


# --- PFGM++ ------------------------------------------------------------------------------------------------------------


def pfgmpp_perturbation(n: int, shape: tuple[int, ...], sigma: Tensor, d_aug: float, g: torch.Generator) -> Tensor:
    """n draws (n, *shape) of x - y under PFGM++'s kernel at levels ``sigma`` (n,) (device and dtype of sigma):
    sigma g / sqrt(chi2_D / D) with g ~ N(0, I_N), chi2_D a chi-square of D = d_aug degrees of freedom drawn as a
    sum of D squared normals (a non-integer D uses ceil(D)); d_aug = inf gives N(0, sigma^2 I) (diffusion)."""
    g_n = torch.randn(n, *shape, generator=g, device=sigma.device, dtype=sigma.dtype)
    scale = sigma.reshape(n, *([1] * len(shape)))
    if math.isinf(d_aug):
        return scale * g_n
    k = math.ceil(d_aug)
    chi2 = torch.randn(n, k, generator=g, device=sigma.device, dtype=sigma.dtype).square().sum(1)
    return scale * g_n / torch.sqrt(chi2 / k).clamp_min(1e-30).reshape(n, *([1] * len(shape)))


def pfgmpp_denoise(net: nn.Module, x: Tensor, sigma: Tensor, options: PFGMppOptions, L: float) -> Tensor:
    """EDM's preconditioned denoiser D(x, sigma) = c_skip x + c_out F(c_in x, h(sigma)) (B, *shape), F the net's f_x."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x)
    sd2 = options.sigma_data**2
    c_skip, c_out, c_in = sd2 / (s**2 + sd2), s * options.sigma_data / torch.sqrt(s**2 + sd2), 1.0 / torch.sqrt(s**2 + sd2)
    f_x, _ = net(c_in * x, net_height(sigma.to(x), options.sigma_min, L, L))
    return c_skip * x + c_out * f_x


class PFGMppObjective:
    """PFGM++'s loss: EDM's weighted denoiser loss sum((D(y + n, sigma) - y)^2) with n from the PFGM++ kernel, mean
    over the first ``n_queries`` data of the batch."""

    def __init__(self, options: PFGMppOptions, L: float, n_queries: int) -> None:
        self.options, self.L, self.n_queries = options, float(L), int(n_queries)

    def __call__(self, net: nn.Module, p: Tensor, q: Tensor | None, generator: torch.Generator) -> Tensor:
        y = p[: self.n_queries]
        o = self.options
        sigma = torch.exp(torch.randn(y.shape[0], generator=generator, device=y.device, dtype=y.dtype) * o.P_std + o.P_mean)
        x = y + pfgmpp_perturbation(y.shape[0], tuple(y.shape[1:]), sigma, o.d_aug, generator)
        weight = (sigma**2 + o.sigma_data**2) / (sigma * o.sigma_data) ** 2
        err = (pfgmpp_denoise(net, x, sigma, o, self.L) - y).flatten(1).square().sum(1)
        return (weight * err).mean()


def pfgmpp_prior(n: int, shape: tuple[int, ...], sigma_max: float, d_aug: float, g: torch.Generator) -> Tensor:
    """n points (n, *shape) float32 of PFGM++'s prior: the kernel at sigma_max around the origin."""
    return pfgmpp_perturbation(n, shape, torch.full((n,), float(sigma_max), dtype=torch.float64), d_aug, g).float()


def edm_levels(steps: int, sigma_min: float, sigma_max: float, rho: float) -> list[float]:
    """EDM's sampling levels: ``steps`` values from sigma_max to sigma_min on the rho schedule, then 0."""
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"the PFGM++ sampler needs steps >= 2 (levels from sigma_max to sigma_min); got {steps!r}.")
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + i / (steps - 1) * (b - a)) ** rho for i in range(steps)] + [0.0]


@torch.no_grad()
def pfgmpp_sample(net: nn.Module, x0: Tensor, options: PFGMppOptions, L: float, steps: int = 18, heun: bool = True) -> tuple[Tensor, int]:
    """Carry prior points ``x0`` (B, *shape) from sigma_max = L to 0 with EDM's deterministic sampler (Heun, or Euler
    with ``heun=False``) on ``edm_levels``; returns (samples (B, *shape), network calls). Non-finite rows stay as they
    came out (the caller counts them)."""
    param = next(net.parameters())
    x = x0.to(param)
    levels = edm_levels(steps, options.sigma_min, float(L), options.rho)
    nfe = 0

    def slope(x: Tensor, s: float) -> Tensor:
        sigma = torch.full((x.shape[0],), s, device=x.device, dtype=x.dtype)
        return (x - pfgmpp_denoise(net, x, sigma, options, L)) / s

    for s, s_next in zip(levels[:-1], levels[1:], strict=True):
        d = slope(x, s)
        nfe += 1
        x_next = x + (s_next - s) * d
        if heun and s_next > 0:
            x_next = x + (s_next - s) * 0.5 * (d + slope(x_next, s_next))
            nfe += 1
        x = x_next
    return x, nfe
