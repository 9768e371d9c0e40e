"""PFGM and PFGM++ (efm_core.pfgm): closed-form laws of their kernels and priors, PFGM's target against the exact
field, both samplers on exact fields, a short PFGM++ training that reaches the toy bar, and the CLI round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from efm_core.cli import main
from efm_core.config import ExperimentConfig
from efm_core.field import plate_field_at
from efm_core.fields import pfgm_field
from efm_core.pfgm import (
    PFGMOptions,
    PFGMppOptions,
    method_options,
    pfgm_perturb,
    pfgm_prior,
    pfgm_target,
    pfgmpp_denoise,
    pfgmpp_perturbation,
)
from efm_core.plates import make_plates
from efm_core.presets import get_preset
from efm_core.sampling import evaluate, generate
from efm_core.solvers import edm_levels, edm_sample, transport
from efm_core.train import Trainer


def _radius_cdf(r: float, N: int, D: float, sigma: float) -> float:
    """CDF of |x - y| under the PFGM++ kernel, by quadrature of r^(N-1) / (r^2 + sigma^2 D)^((N+D)/2) (float64)."""

    def density(t: float) -> float:
        return math.exp((N - 1) * math.log(t) - (N + D) / 2 * math.log(t * t + sigma * sigma * D))

    scale = sigma * math.sqrt(D)
    total = sum(integrate.quad(density, a, b, limit=200)[0] for a, b in ((0, scale), (scale, 10 * scale), (10 * scale, math.inf)))
    return integrate.quad(density, 0, r, limit=200)[0] / total


@pytest.mark.parametrize(("N", "D"), [(2, 1), (2, 4), (64, 128), (3, 7)])
def test_pfgmpp_radius_has_the_kernel_density(N, D):
    """r = |x - y| has density proportional to r^(N-1) / (r^2 + sigma^2 D)^((N+D)/2): r^2 / (N sigma^2) ~ F(N, D)
    by a KS test of 20000 draws, and that F law is the kernel's radius law (quadrature); E r^2 = sigma^2 N D / (D - 2)."""
    sigma = 0.7
    x = pfgmpp_perturbation(20000, (N,), torch.full((20000,), sigma, dtype=torch.float64), D, torch.Generator().manual_seed(N))
    r = torch.linalg.vector_norm(x, dim=1).numpy()
    assert stats.kstest(r**2 / (N * sigma**2), stats.f(N, D).cdf).pvalue > 1e-3
    for q in (0.1, 0.5, 0.9):
        r_q = sigma * math.sqrt(N * stats.f(N, D).ppf(q))
        assert _radius_cdf(r_q, N, D, sigma) == pytest.approx(q, abs=1e-6)
    if D > 2:
        assert float(np.mean(r**2)) == pytest.approx(sigma**2 * N * D / (D - 2), rel=0.05)


def test_pfgmpp_infinite_D_is_the_gaussian_of_diffusion():
    sigma = torch.full((20000,), 2.0, dtype=torch.float64)
    x = pfgmpp_perturbation(20000, (3,), sigma, math.inf, torch.Generator().manual_seed(3))
    assert stats.kstest(x.flatten().numpy() / 2.0, "norm").pvalue > 1e-3
    large = pfgmpp_perturbation(5000, (3,), sigma[:5000], 4096, torch.Generator().manual_seed(4))
    assert float(large.square().mean()) == pytest.approx(4.0 * 4096 / 4094, rel=0.03)


@pytest.mark.parametrize("N", [2, 64])
def test_pfgm_prior_is_the_point_charge_flux_clipped_to_its_radius_range(N):
    """Radius R on z = z_max: R^2 / (N z_max^2) ~ F(N, 1) (the flux of a point charge through the plane, Beta(N/2,
    1/2) in upstream's form); the clip to [1, 3000] puts exactly the tail masses on 1 and 3000."""
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
    """With M -> 0 the multiplier is 1: (x - y, z) / sigma_end is N(0, I_{N+1}) with z folded up, its squared length
    chi2(N+1); restrict_M keeps the scale below (1 + tau)^(0.7 M) for the draws it restricts (about 69 %)."""
    N, n = 5, 20000
    y = torch.randn(n, N, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    o = PFGMOptions(M=1e-9, restrict_M=False)
    x, z = pfgm_perturb(y, o, torch.Generator().manual_seed(2))
    r2 = ((x - y).square().sum(1) + z.square()) / o.sigma_end**2
    assert bool((z >= 0).all()) and stats.kstest(r2.numpy(), stats.chi2(N + 1).cdf).pvalue > 1e-3
    o = PFGMOptions()
    x, z = pfgm_perturb(y, o, torch.Generator().manual_seed(3))
    scale = torch.sqrt((x - y).square().sum(1) + z.square()) / o.sigma_end / math.sqrt(N + 1)
    assert float((scale < (1 + o.tau) ** (0.7 * o.M) * 3).double().mean()) > 0.69


def test_pfgm_target_points_along_minus_E_with_the_distance_in_its_length():
    g = torch.Generator().manual_seed(5)
    data = torch.randn(300, 2, dtype=torch.float64, generator=g)
    x = torch.tensor([[0.1, 0.2], [3.0, -2.0], [30.0, 5.0]], dtype=torch.float64)
    z = torch.tensor([0.5, 10.0, 2.0], dtype=torch.float64)
    got = pfgm_target(x, z, data, gamma=5.0)
    E = plate_field_at(torch.cat([x, z[:, None]], 1), make_plates(data, data[:1], 1e6)).pos.direction  # the data plate alone
    cos = (got * -E).sum(1) / torch.linalg.vector_norm(got, dim=1)
    torch.testing.assert_close(cos, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-10)
    one = pfgm_target(x, z, data[:1], gamma=5.0)  # one charge: sqrt(N) (y - x~) / (|y - x~| + gamma)
    d = torch.cat([data[:1] - x, -z[:, None]], 1)
    torch.testing.assert_close(one, math.sqrt(2) * d / (torch.linalg.vector_norm(d, dim=1, keepdim=True) + 5.0))


class _Fixed(torch.nn.Module):
    """A 'net' whose output is a given function of (x, h), in float64."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.fn = fn

    def forward(self, x, h):
        return self.fn(x, h)


def test_edm_sampler_with_the_exact_denoiser_of_a_gaussian_recovers_it():
    """Data N(0, s^2 I), D_aug = inf, sigma_data = s: with F = 0 the preconditioned denoiser s^2 x / (s^2 + sigma^2)
    is the exact one, and the ODE maps the prior N(0, (sigma_max^2 + s^2) I) onto x_T s / sqrt(sigma_max^2 + s^2)."""
    s, L = 1.5, 80.0
    o = PFGMppOptions(D_aug="inf", sigma_data=s)
    net = _Fixed(lambda x, h: (torch.zeros_like(x), torch.zeros(x.shape[0], dtype=x.dtype)))
    x0 = torch.randn(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    exact = x0 * s / math.sqrt(L**2 + s**2)
    errors = []
    for steps in (18, 400):
        r = edm_sample(lambda x, sigma: pfgmpp_denoise(net, x, sigma, o, L), x0, edm_levels(steps, o.sigma_min, L, o.rho))
        assert r.nfe == 2 * steps - 1 and not bool(r.bad.any())
        errors.append(float(((r.x - exact) / exact).abs().max()))
    assert errors[1] < 1e-4 and errors[1] < errors[0] < 0.05
    levels = edm_levels(3, 0.002, 80.0, 7.0)
    assert levels[0] == pytest.approx(80.0) and levels[2] == pytest.approx(0.002) and levels[-1] == 0.0


def test_edm_sampler_freezes_a_line_whose_denoiser_goes_non_finite():
    def denoise(x, sigma):
        out = torch.zeros_like(x)
        out[0] = torch.where(sigma[0] < 1.0, torch.tensor(float("nan"), dtype=x.dtype), out[0, 0])
        return out

    r = edm_sample(denoise, torch.ones(3, 2, dtype=torch.float64), edm_levels(10, 0.002, 80.0, 7.0))
    assert r.nonfinite.tolist() == [True, False, False] and bool(torch.isfinite(r.x).all())
    assert float(r.z[0]) >= 1.0 and r.z[1:].tolist() == [0.0, 0.0]


def test_pfgm_sampler_with_the_exact_field_of_one_charge_follows_its_straight_lines():
    """Data = one charge at the origin: the lines of the exact PFGM field are the rays to the charge, so x / z is
    constant and a prior point x0 on z = z_max ends at x0 z_min / z_max (RK45 in log z, through z_exp)."""
    o, L = PFGMOptions(), 40.0
    data = torch.zeros(1, 2, dtype=torch.float64)

    def exact(x, h):
        z = torch.exp(h / L * (math.log(L) - math.log(o.z_min)) + math.log(o.z_min))  # net_height inverted
        t = pfgm_target(x, z, data, o.gamma)
        return t[:, :-1], t[:, -1]

    x0 = pfgm_prior(100, (2,), L, o.radius, torch.Generator().manual_seed(0)).double()
    field = pfgm_field(_Fixed(exact), o, L)
    r = transport(field, x0, math.log(L), math.log(o.z_min), solver="rk45", rtol=1e-6, atol=1e-9, f_min=1e-6)
    assert not bool(r.bad.any())
    # within 1 %: below z_exp the substitution infers |d_x| from |v_x| as if d had no z part (0.6 % at most here)
    torch.testing.assert_close(r.x, x0 * o.z_min / L, rtol=1e-2, atol=1e-6)


def test_method_options_are_validated_and_kept_out_of_efm_cards():
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
    with pytest.raises(ValueError, match="EDM's sampler"):
        get_preset("pfgmpp-two_moons").replace(solver={"kind": "rk45"})
    with pytest.raises(ValueError, match="set q to null"):
        get_preset("pfgmpp-two_moons").replace(q={"kind": "toy", "name": "gaussian", "D": 2})
    assert "method" not in get_preset("digits-gen").to_dict()
    config = get_preset("pfgmpp-digits")
    assert ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.method_options.d_aug == 128 and config.one_plate


@pytest.mark.parametrize("name", ["pfgm-two_moons", "pfgmpp-two_moons", "pfgmpp-digits"])
def test_one_plate_models_train_and_generate_finite_points_per_item(name):
    config = get_preset(name).replace(steps=3, warmup=1, n_charges=128, n_queries=64)
    trainer = Trainer(config, device="cpu")
    trainer.run(progress=False)
    options = {"max_steps": 50} if name.startswith("pfgm-") else {"steps": 4}
    five, three = (generate(trainer.ema, config, n, seed=2, **options).x for n in (5, 3))
    assert bool(torch.isfinite(five).all()) and five.shape[1:] == three.shape[1:] == tuple(trainer.p_source.shape)
    if name.startswith("pfgmpp-"):  # per-item seeds (an untrained PFGM's lines run off to 1e28: no closeness there)
        torch.testing.assert_close(five[:3], three, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="one plate only"):
        from efm_core.sampling import translate

        translate(trainer.ema, config, five)


def test_pfgmpp_learns_the_two_moons_within_three_times_the_floor():
    """A small PFGM++ (D_aug = 4) learns the moons in a few seconds: W2 of 500 samples within 3x the two-sample floor."""
    torch.manual_seed(0)
    config = get_preset("pfgmpp-two_moons").replace(
        net={"kind": "mlp", "width": 64, "depth": 2}, steps=400, warmup=50, n_charges=256, n_queries=256,
    )
    trainer = Trainer(config, device="cpu")
    trainer.run(progress=False)
    report = evaluate(trainer.ema, config, n=500, seed=1)
    assert report["transport_nfe"] == 35 and report["transport_bad_share"] == 0.0
    assert report["w2_over_floor"] <= 3.0, report


def test_cli_trains_samples_and_evaluates_pfgmpp(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--preset", "pfgmpp-two_moons", "--steps", "3", "--out", str(out), "--device", "cpu", "--eval-n", "50", "--quiet", "--slim"]) == 0
    card = json.loads((out / "pfgmpp-two_moons.json").read_text())
    assert card["config"]["method"]["D_aug"] == 4 and card["metrics"]["transport_nfe"] == 35
    npy = tmp_path / "x.npy"
    assert main(["sample", "--checkpoint", str(out / "pfgmpp-two_moons"), "--n", "4", "--out", str(npy), "--steps", "5"]) == 0
    assert np.load(npy).shape == (4, 2)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(out / "pfgmpp-two_moons"), "--n", "40", "--solver", "euler", "--steps", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["transport_nfe"] == 5
    assert main(["sample", "--checkpoint", str(out / "pfgmpp-two_moons"), "--n", "4", "--out", str(npy), "--solver", "rk45"]) == 2
