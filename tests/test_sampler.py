"""Training points lie between the plates with the requested distribution; targets are the exact field's direction."""

import itertools

import pytest
import torch
from scipy import stats

from efm_core.field import exact_field
from efm_core.sampler import SamplerConfig, eq21_noise, field_target, ot_pairing, sample_points

L = 6.0


def _batches(n, D=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(n, D, generator=g, dtype=torch.float64)
    q = torch.randn(n, D, generator=g, dtype=torch.float64) * 0.5 + torch.tensor([4.0] + [0.0] * (D - 1), dtype=torch.float64)
    return p, q


@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_heights_uniform_between_the_plates(eps):
    p, q = _batches(20000)
    pts = sample_points(p, q, L, SamplerConfig(kind="none", eps=eps), torch.Generator().manual_seed(1))
    assert float(pts.z.min()) >= eps and float(pts.z.max()) <= L - eps
    assert stats.kstest(pts.z.numpy(), stats.uniform(loc=eps, scale=L - 2 * eps).cdf).pvalue > 1e-3
    torch.testing.assert_close(pts.t, pts.z / L)


def test_no_noise_is_the_linear_interpolation_p_at_0_q_at_L():
    p, q = _batches(500)
    pts = sample_points(p, q, L, SamplerConfig(kind="none"), torch.Generator().manual_seed(2))
    t = pts.z[:, None] / L
    torch.testing.assert_close(pts.x, (1 - t) * p + t * q, rtol=0, atol=1e-12)
    assert pts.lifted().shape == (500, 3) and torch.equal(pts.lifted()[:, -1], pts.z)


@pytest.mark.parametrize("kind", ["tent", "constant"])
def test_eq21_noise_has_the_schedule_std(kind):
    D, sigma = 3, 0.7
    p, q = _batches(40000, D)
    pts = sample_points(p, q, L, SamplerConfig(kind=kind, sigma=sigma), torch.Generator().manual_seed(3))
    t = pts.z / L
    residual = pts.x - ((1 - t[:, None]) * p + t[:, None] * q)
    scale = sigma * 2 * torch.minimum(t, 1 - t) if kind == "tent" else torch.full_like(t, sigma)
    standardised = residual / scale[:, None]
    assert abs(float(standardised.var()) - 1.0) < 0.03
    for lo, hi in [(0.0, 0.1), (0.45, 0.55), (0.9, 1.0)]:  # the schedule holds at every height, not only on average
        sel = (t >= lo) & (t < hi)
        assert abs(float(standardised[sel].var()) - 1.0) < 0.08
    if kind == "tent":  # vanishes at the plates
        edge = (t < 0.01) | (t > 0.99)
        assert float(residual[edge].abs().max()) < 0.02 * sigma * 6


def test_eq21_noise_norm_is_chi_and_direction_uniform():
    D, n = 5, 20000
    scale = torch.full((n,), 2.0, dtype=torch.float64)
    noise = eq21_noise((n, D), scale, torch.Generator().manual_seed(4), scale)
    r = torch.linalg.vector_norm(noise, dim=1) / 2.0
    assert stats.kstest(r.numpy(), stats.chi(D).cdf).pvalue > 1e-3
    u = noise / torch.linalg.vector_norm(noise, dim=1, keepdim=True)
    assert float(u.mean(0).abs().max()) < 0.03  # isotropic


def test_interpolating_samplers_need_q_and_bad_options_are_refused():
    p, _ = _batches(10)
    with pytest.raises(ValueError, match="Q samples"):
        sample_points(p, None, L, SamplerConfig(kind="tent"), torch.Generator())
    with pytest.raises(ValueError, match="sampler kind"):
        SamplerConfig(kind="gaussian")
    with pytest.raises(ValueError, match="sigma"):
        SamplerConfig(sigma=-1.0)
    with pytest.raises(ValueError, match="unknown sampler option"):
        SamplerConfig.from_dict({"kind": "tent", "sigmaa": 0.1})
    with pytest.raises(ValueError, match="no room"):
        sample_points(p, p, 1.0, SamplerConfig(eps=0.5), torch.Generator())


def test_ot_pairing_is_the_optimal_permutation():
    p, q = _batches(6, seed=7)
    best = min(itertools.permutations(range(6)), key=lambda s: float(((p - q[list(s)]) ** 2).sum()))
    paired = ot_pairing(p, q)
    torch.testing.assert_close(paired, q[list(best)])
    pts = sample_points(p, q, L, SamplerConfig(kind="none", pairing="ot"), torch.Generator().manual_seed(0))
    t = pts.z[:, None] / L
    torch.testing.assert_close(pts.x, (1 - t) * p + t * paired, rtol=0, atol=1e-12)


def _coulomb(points, charges, D):
    """Float64 reference: sum_i (x - c_i) / |x - c_i|^(D+1) for unit charges (direction only matters)."""
    diff = points[:, None, :] - charges[None, :, :]
    r = torch.linalg.vector_norm(diff, dim=2, keepdim=True)
    return (diff / r ** (D + 1)).sum(1)


def test_exact_target_is_the_unit_direction_of_the_exact_field():
    p, q = _batches(400, seed=8)
    pts = sample_points(p, q, L, SamplerConfig(kind="tent", sigma=0.5), torch.Generator().manual_seed(9))
    x = pts.lifted()
    target = field_target(x.float(), p.float(), q.float(), L, "exact")
    assert target.dtype == torch.float32
    torch.testing.assert_close(torch.linalg.vector_norm(target.double(), dim=1), torch.ones(400, dtype=torch.float64), rtol=0, atol=1e-5)
    lifted_p = torch.cat([p, torch.zeros(400, 1, dtype=torch.float64)], 1)
    lifted_q = torch.cat([q, torch.full((400, 1), L, dtype=torch.float64)], 1)
    ref = _coulomb(x, lifted_p, 2) - _coulomb(x, lifted_q, 2)
    ref = ref / torch.linalg.vector_norm(ref, dim=1, keepdim=True)
    assert float((target.double() - ref).abs().max()) < 1e-4
    torch.testing.assert_close(target.double(), exact_field(x, p, q, L), rtol=0, atol=1e-4)
