"""PFGM and PFGM++ (efm_core.pfgm): closed-form laws of their kernels and priors, PFGM's target, the samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from efm_core.field import plate_field_at
from efm_core.pfgm import (
    PFGMOptions,
    PFGMppOptions,
    edm_levels,
    method_options,
    pfgm_field,
    pfgm_perturb,
    pfgm_prior,
    pfgm_target,
    pfgmpp_perturbation,
    pfgmpp_sample,
)
from efm_core.plates import make_plates
from efm_core.presets import get_preset
from efm_core.train import Trainer, evaluate
from efm_core.transport import transport


def _radius_cdf(r: float, N: int, D: float, sigma: float) -> float:
    """CDF of |x - y| under the PFGM++ kernel, by quadrature of r^(N-1) / (r^2 + sigma^2 D)^((N+D)/2) (float64)."""
    def density(t: float) -> float:
        return math.exp((N - 1) * math.log(t) - (N + D) / 2 * math.log(t * t + sigma * sigma * D))
    scale = sigma * math.sqrt(D)
    total = sum(integrate.quad(density, a, b, limit=200)[0] for a, b in ((0, scale), (scale, 10 * scale), (10 * scale, math.inf)))
    return integrate.quad(density, 0, r, limit=200)[0] / total


@pytest.mark.parametrize(("N", "D"), [(2, 1.0), (2, 4.0), (64, 128.0), (3, 7.0)])
def test_pfgmpp_radius_has_the_kernel_density(N, D):
    """r = |x - y| has density proportional to r^(N-1) / (r^2 + sigma^2 D)^((N+D)/2): KS test of 20000 draws against
    that CDF (by quadrature), and r^2 / (N sigma^2) ~ F(N, D) (its closed form)."""
    sigma = 0.7
    x = pfgmpp_perturbation(20000, (N,), torch.full((20000,), sigma, dtype=torch.float64), D, torch.Generator().manual_seed(N))
    r = torch.linalg.vector_norm(x, dim=1).numpy()
    assert stats.kstest(r**2 / (N * sigma**2), stats.f(N, D).cdf).pvalue > 1e-3
    for q in (0.1, 0.5, 0.9):  # the F law is the kernel's radius law
        r_q = sigma * math.sqrt(N * stats.f(N, D).ppf(q))
        assert _radius_cdf(r_q, N, D, sigma) == pytest.approx(q, abs=1e-6)
    if D > 2:  # E r^2 = sigma^2 N D / (D - 2)
        assert float(np.mean(r**2)) == pytest.approx(sigma**2 * N * D / (D - 2), rel=0.05)


def test_pfgmpp_infinite_D_is_the_gaussian_of_diffusion():
    sigma = torch.full((20000,), 2.0, dtype=torch.float64)
    x = pfgmpp_perturbation(20000, (3,), sigma, math.inf, torch.Generator().manual_seed(3))
    assert stats.kstest(x.flatten().numpy() / 2.0, "norm").pvalue > 1e-3
    large = pfgmpp_perturbation(20000, (3,), sigma, 4096.0, torch.Generator().manual_seed(4))
    assert float(large.square().mean()) == pytest.approx(4.0 * 4096 / 4094, rel=0.03)


@pytest.mark.parametrize("N", [2, 64])
def test_pfgm_prior_is_the_point_charge_flux_clipped_to_its_radius_range(N):
    """Radius R on z = z_max: R^2 / (N z_max^2) ~ F(N, 1) (the flux of a point charge through the plane, Beta(N/2,
    1/2) in upstream's form); clipping puts exactly the tail masses on 1 and 3000."""
    z_max, n = 40.0, 40000
    R = torch.linalg.vector_norm(pfgm_prior(n, (N,), z_max, (1.0, 3000.0), torch.Generator().manual_seed(N)).double(), dim=1).numpy()
    law = stats.f(N, 1)
    p_hi, p_lo = law.sf((3000.0 / z_max) ** 2 / N), law.cdf((1.0 / z_max) ** 2 / N)
    hi, lo = np.isclose(R, 3000.0, rtol=1e-5), np.isclose(R, 1.0, rtol=1e-5)
    for share, p in ((hi.mean(), p_hi), (lo.mean(), p_lo)):
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-4
    inside = R[~hi & ~lo]
    truncated = lambda v: (law.cdf(v) - p_lo) / (1 - p_lo - p_hi)  # noqa: E731
    assert stats.kstest(inside**2 / (N * z_max**2), truncated).pvalue > 1e-3
    free = torch.linalg.vector_norm(pfgm_prior(n, (N,), z_max, (0.0, math.inf), torch.Generator().manual_seed(9)).double(), dim=1)
    assert stats.kstest(free.numpy() ** 2 / (N * z_max**2), law.cdf).pvalue > 1e-3


def test_pfgm_perturbation_is_a_folded_isotropic_gaussian():
    """With M -> 0 the multiplier is 1: (x - y, z) / sigma_end is N(0, I_{N+1}) with z folded up, so its squared
    length is chi2(N+1); restrict_M keeps the scale below (1 + tau)^(0.7 M) for the draws it restricts."""
    N, n = 5, 20000
    y = torch.randn(n, N, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    o = PFGMOptions(M=1e-9, restrict_M=False)
    x, z = pfgm_perturb(y, o, torch.Generator().manual_seed(2))
    r2 = ((x - y).square().sum(1) + z.square()) / o.sigma_end**2
    assert bool((z >= 0).all()) and stats.kstest(r2.numpy(), stats.chi2(N + 1).cdf).pvalue > 1e-3
    o = PFGMOptions()
    x, z = pfgm_perturb(y, o, torch.Generator().manual_seed(3))
    scale = torch.sqrt((x - y).square().sum(1) + z.square()) / o.sigma_end / math.sqrt(N + 1)
    assert float((scale < (1 + o.tau) ** (0.7 * o.M) * 3).double().mean()) > 0.69  # about 69 % restricted


def test_pfgm_target_points_along_minus_E_with_the_distance_in_its_length():
    g = torch.Generator().manual_seed(5)
    data = torch.randn(300, 2, dtype=torch.float64, generator=g)
    x = torch.tensor([[0.1, 0.2], [3.0, -2.0], [30.0, 5.0]], dtype=torch.float64)
    z = torch.tensor([0.5, 10.0, 2.0], dtype=torch.float64)
    got = pfgm_target(x, z, data, gamma=5.0)
    points = torch.cat([x, z[:, None]], 1)
    E = plate_field_at(points, make_plates(data, data[:1], 1e6)).pos.direction  # the data plate's field alone
    cos = (got * -E).sum(1) / torch.linalg.vector_norm(got, dim=1)
    torch.testing.assert_close(cos, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-10)
    one = pfgm_target(x, z, data[:1], gamma=5.0)  # a single charge: sqrt(N) (y - x~) / (|y - x~| + gamma)
    d = torch.cat([data[:1] - x, -z[:, None]], 1)
    torch.testing.assert_close(one, math.sqrt(2) * d / (torch.linalg.vector_norm(d, dim=1, keepdim=True) + 5.0))


def test_edm_sampler_with_the_exact_denoiser_of_a_gaussian_recovers_it():
    """Data N(0, s^2 I), D_aug = inf: D(x, sigma) = s^2 x / (s^2 + sigma^2) is exact, the ODE maps the prior's
    N(0, (sigma_max^2 + s^2) I) onto N(0, s^2 I): x_0 = x_T s / sqrt(sigma_max^2 + s^2)."""
    s, L = 1.5, 80.0
    o = PFGMppOptions(D_aug="inf", sigma_data=s)

    class Exact(torch.nn.Module):  # F chosen so that the preconditioned denoiser is the exact one
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, x_in, h):
            return torch.zeros_like(x_in), torch.zeros(x_in.shape[0], dtype=x_in.dtype)

    x0 = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    coarse, nfe = pfgmpp_sample(Exact(), x0, o, L, steps=18)
    fine, _ = pfgmpp_sample(Exact(), x0, o, L, steps=400)
    exact = x0 * s / math.sqrt(L**2 + s**2)
    assert nfe == 35  # EDM's 18 levels: 2 * 18 - 1 calls
    err = [float(((v - exact) / exact).abs().max()) for v in (coarse, fine)]
    assert err[1] < 1e-4 and err[1] < err[0] < 0.05
    assert edm_levels(3, 0.002, 80.0, 7.0)[0] == pytest.approx(80.0) and edm_levels(3, 0.002, 80.0, 7.0)[-1] == 0.0


def test_method_options_are_validated():
    with pytest.raises(ValueError, match="unknown pfgmpp option"):
        method_options("pfgmpp", {"D": 4})
    with pytest.raises(ValueError, match="D_aug"):
        method_options("pfgmpp", {"D_aug": 0.5})
    with pytest.raises(ValueError, match="radius"):
        method_options("pfgm", {"radius": [3, 1]})
    with pytest.raises(ValueError, match="takes none"):
        get_preset("tiny").replace(method={"gamma": 5.0})
    with pytest.raises(ValueError, match="set sampler to"):
        get_preset("pfgm-two_moons").replace(sampler={"kind": "tent"})


@pytest.mark.parametrize("name", ["pfgm-two_moons", "pfgmpp-two_moons"])
def test_one_plate_models_train_and_generate_finite_points(name):
    config = get_preset(name).replace(steps=3, warmup=1, n_charges=128, n_queries=64)
    trainer = Trainer(config, device="cpu")
    trainer.run(progress=False)
    report = evaluate(trainer.ema, config, n=50, max_steps=50) if name.startswith("pfgm-") else evaluate(trainer.ema, config, n=50, steps=4)
    assert report["n"] == 50 and report["nonfinite_share"] == 0.0 and math.isfinite(report["w2"])


def test_pfgm_sampler_with_the_exact_field_of_one_charge_follows_its_straight_lines():
    """Data = one charge at the origin: the exact PFGM field's lines are the rays to the charge, so x / z is constant
    and a prior point x0 on z = z_max ends at x0 z_min / z_max (RK45 in log z, through the z_exp substitution)."""
    o, L = PFGMOptions(), 40.0
    data = torch.zeros(1, 2, dtype=torch.float64)

    class Exact(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, x, h):
            z = torch.exp(h / L * (math.log(L) - math.log(o.z_min)) + math.log(o.z_min))
            t = pfgm_target(x, z, data, o.gamma)
            return t[:, :-1], t[:, -1]

    x0 = pfgm_prior(100, (2,), L, o.radius, torch.Generator().manual_seed(0)).double()
    r = transport(pfgm_field(Exact(), o, L), x0, math.log(L), math.log(o.z_min), solver="rk45", rtol=1e-6, atol=1e-9, f_min=1e-6)
    assert not bool(r.bad.any())
    # within 1 %: below z_exp the substitution infers |d_x| from |v_x| as if d had no z part (0.6 % at most here)
    torch.testing.assert_close(r.x, x0 * o.z_min / L, rtol=1e-2, atol=1e-6)
