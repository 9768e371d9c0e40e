"""Interaction Field Matching: the exact string field (efm_core.interaction) and its lines (interaction_lines).

Every test compares against an independent closed form or a float64 sum written out here, so each can fail.
"""

from __future__ import annotations

import math

import pytest
import torch

from efm_core.interaction import IFMOptions, couple, ifm_points, interaction_field, tube_width
from efm_core.interaction_lines import trace_interaction_lines
from efm_core.metrics import energy_distance, two_sample_floor
from efm_core.plates import lift

L, S, CAP = 6.0, 0.7, 0.6


def _pairs(N: int, D: int, seed: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, D, generator=g, dtype=dtype), 3 * torch.randn(N, D, generator=g, dtype=dtype)


def _reference(X: torch.Tensor, a: torch.Tensor, b: torch.Tensor, L: float, S: float, d: float) -> torch.Tensor:
    """E = sum_k N(x; mu_k, sigma^2 I) (v_k, 1) written out in float64 (B, D+1), sigma from the formula itself."""
    x, z = X[:, :-1], X[:, -1]
    K = math.pi / (2 * d)
    sigma = torch.where(z < d, S * torch.sin(K * z), torch.where(z > L - d, S * torch.cos(K * (z - L + d)), S))
    ds = torch.where(z < d, S * K * torch.cos(K * z), torch.where(z > L - d, -S * K * torch.sin(K * (z - L + d)), 0.0))
    mu = a[None] + (z / L)[:, None, None] * (b - a)[None]
    diff = x[:, None, :] - mu
    D = x.shape[1]
    dens = torch.exp(-(diff**2).sum(-1) / (2 * sigma[:, None] ** 2)) / (2 * math.pi * sigma[:, None] ** 2) ** (D / 2)
    v = (b - a)[None] / L + (ds / sigma)[:, None, None] * diff
    return torch.cat([torch.einsum("bn,bnd->bd", dens, v), dens.sum(1, keepdim=True)], 1)


def _cfm_velocity(x, t, a, b, sigma, dsigma_dt):
    """The marginal velocity of conditional flow matching for x_t = (1 - t) a_k + t b_k + sigma_t eps, equal weights:
    sum_k w_k (b_k - a_k + (sigma_t' / sigma_t)(x - mu_k)), w_k proportional to N(x; mu_k, sigma_t^2 I)."""
    mu = (1 - t)[:, None, None] * a[None] + t[:, None, None] * b[None]
    diff = x[:, None, :] - mu
    w = torch.softmax(-(diff**2).sum(-1) / (2 * sigma[:, None] ** 2), dim=1)
    return torch.einsum("bn,bnd->bd", w, (b - a)[None] + (dsigma_dt / sigma)[:, None, None] * diff)


def _points_in_tubes(a, b, n, seed, z=None):
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(a.shape[0], (n,), generator=g)
    z = L * torch.rand(n, generator=g, dtype=a.dtype) if z is None else z
    sigma = tube_width(z, L, S, CAP).sigma
    x = a[k] + (z / L)[:, None] * (b - a)[k] + 2 * sigma[:, None] * torch.randn(n, a.shape[1], generator=g, dtype=a.dtype)
    return lift(x, z)


@pytest.mark.parametrize("D", [1, 2])
def test_flux_through_every_slice_is_one_per_tube_and_zero_outside(D):
    a, b = _pairs(5, D, seed=D)
    h = 0.004 if D == 1 else 0.06
    grid = torch.arange(-16.0, 16.0, h, dtype=torch.float64)
    cells = grid[:, None] if D == 1 else torch.cartesian_prod(grid, grid)
    for z in (0.2, 0.45, 0.6, 1.7, 3.0, 5.5, 5.8):  # sigma(z) >= 0.18 here, resolved by the grid
        f = interaction_field(lift(cells, torch.full((cells.shape[0],), z)), a, b, L, width=S, cap=CAP, log_magnitude=True)
        flux = float((torch.exp(f.log_magnitude) * f.direction[:, -1]).sum() * h**D)
        assert flux == pytest.approx(5.0, rel=1e-9), z
    for z in (-1.0, 0.0, L, L + 0.5):
        f = interaction_field(lift(cells[:50], torch.full((50,), z)), a, b, L, width=S, cap=CAP, log_magnitude=True)
        assert torch.all(f.direction == 0) and torch.all(f.log_magnitude == -math.inf)


def test_tube_is_divergence_free_in_the_caps_and_the_middle():
    a, b = _pairs(3, 2, seed=7)
    X = _points_in_tubes(a, b, 40, seed=1)
    X = X[(X[:, -1] > 0.05) & (X[:, -1] < L - 0.05)]
    h = 1e-5
    div = torch.zeros(X.shape[0], dtype=torch.float64)
    for i in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[i] = h
        div += (_reference(X + e, a, b, L, S, CAP)[:, i] - _reference(X - e, a, b, L, S, CAP)[:, i]) / (2 * h)
    scale = _reference(X, a, b, L, S, CAP).norm(dim=1) / 0.05
    assert torch.all(div.abs() <= 1e-5 * scale)


def test_straight_middle_is_parallel_to_the_segment():
    a, b = _pairs(1, 3, seed=3)
    g = torch.Generator().manual_seed(0)
    z = CAP + (L - 2 * CAP) * torch.rand(64, generator=g, dtype=torch.float64)
    x = 5 * torch.randn(64, 3, generator=g, dtype=torch.float64)
    u = interaction_field(lift(x, z), a, b, L, width=S, cap=CAP).direction
    axis = torch.cat([b - a, torch.tensor([[L]], dtype=torch.float64)], 1)
    assert torch.allclose(u, (axis / axis.norm()).expand_as(u), atol=1e-14)


@pytest.mark.parametrize("D", [1, 2, 3, 5, 8, 16])
def test_log_space_matches_a_float64_direct_sum(D):
    a, b = _pairs(7, D, seed=D)
    X = _points_in_tubes(a, b, 64, seed=D)
    ref = _reference(X, a, b, L, S, CAP)
    ref_dir, ref_log = ref / ref.norm(dim=1, keepdim=True), torch.log(ref.norm(dim=1))
    for method in ("direct", "matmul"):
        f64 = interaction_field(X, a, b, L, width=S, cap=CAP, log_magnitude=True, method=method)
        assert torch.allclose(f64.direction, ref_dir, atol=1e-10)
        assert torch.allclose(f64.log_magnitude, ref_log, atol=1e-9)
        f32 = interaction_field(X.float(), a.float(), b.float(), L, width=S, cap=CAP, log_magnitude=True, method=method)
        assert torch.allclose(f32.direction.double(), ref_dir, atol=2e-4)
        assert torch.allclose(f32.log_magnitude.double(), ref_log, atol=1e-3 * max(1.0, D / 4))


@pytest.mark.parametrize("D", [784, 3072])
def test_float32_is_finite_and_unit_in_high_dimensions(D):
    g = torch.Generator().manual_seed(D)
    a, b = torch.randn(64, D, generator=g), torch.rand(64, D, generator=g) * 2 - 1
    t = torch.rand(32, generator=g)
    x = (1 - t[:, None]) * a[:32] + t[:, None] * b[:32] + 0.05 * torch.randn(32, D, generator=g)
    X = lift(x, 30 * t)
    f = interaction_field(X, a, b, 30.0, width=0.05, cap=3.0, log_magnitude=True)
    assert torch.isfinite(f.direction).all() and torch.isfinite(f.log_magnitude).all()
    assert torch.allclose(f.direction.norm(dim=1), torch.ones(32), atol=1e-6)
    f64 = interaction_field(X.double(), a.double(), b.double(), 30.0, width=0.05, cap=3.0, log_magnitude=True, method="direct")
    assert torch.allclose(f.direction.double(), f64.direction, atol=1e-5)
    assert torch.allclose(f.log_magnitude.double(), f64.log_magnitude, rtol=1e-4)


@pytest.mark.parametrize("D", [1, 2, 4])
def test_duality_with_conditional_flow_matching(D):
    """L E_x / E_z is the marginal CFM velocity of the Gaussian path with sigma_t = sigma(t L), t = z / L: in the
    straight middle (sigma' = 0) and, with this field's caps, in the caps too."""
    a, b = _pairs(9, D, seed=11 + D)
    X = _points_in_tubes(a, b, 200, seed=D)
    z, t = X[:, -1], X[:, -1] / L
    u = interaction_field(X, a, b, L, width=S, cap=CAP).direction
    tube = tube_width(z, L, S, CAP)
    cfm = _cfm_velocity(X[:, :-1], t, a, b, tube.sigma, tube.dlog * tube.sigma * L)
    middle = (z >= CAP) & (z <= L - CAP)
    assert middle.sum() > 100
    assert torch.allclose(L * u[:, :-1] / u[:, -1:], cfm, atol=1e-12 * float(cfm.abs().max()) + 1e-12)


@pytest.mark.parametrize("D", [1, 2])
def test_lines_from_each_quark_land_on_its_own_antiquark(D):
    g = torch.Generator().manual_seed(D)
    if D == 1:  # in a plane lines cannot cross: the antiquarks lie in the quarks' order, their index shuffled
        a = torch.tensor([[0.0], [4.0], [8.0], [12.0]], dtype=torch.float64)
        pairs = torch.randperm(4, generator=g)
        b = torch.empty_like(a)
        b[pairs] = a + 2.0
    else:  # random pairs whose segments stay 8 widths apart at every height
        for _ in range(1000):
            a, b = 10 * torch.rand(5, 2, generator=g, dtype=torch.float64), 10 * torch.rand(5, 2, generator=g, dtype=torch.float64)
            pairs = torch.randperm(5, generator=g)
            t = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None, None]
            centres = (1 - t) * a[None] + t * b[pairs][None]
            gaps = torch.cdist(centres, centres) + 1e9 * torch.eye(5, dtype=torch.float64)
            if gaps.min() > 8 * 0.3:
                break
    trace = trace_interaction_lines(a, b, L, pairs=pairs, width=0.3, cap=CAP, per_charge=6, return_paths=True)
    assert torch.equal(trace.end_charge, pairs[trace.start_charge])
    assert torch.allclose(trace.end[:, :-1], b[pairs[trace.start_charge]], atol=1e-4)
    assert torch.all(trace.case == 0) and torch.allclose(trace.end[:, -1], torch.full((trace.end.shape[0],), L, dtype=torch.float64))
    path = trace.paths[0]
    assert torch.all(path[1:, -1] >= path[:-1, -1]) and path[0, -1] == 0 and path[-1, -1] == L


@pytest.mark.parametrize("plan", ["independent", "ot"])
def test_following_the_exact_field_moves_p_to_q_at_the_floor(plan):
    """Lines from 300 Gaussian quarks (4 a quark, equal flux) through overlapping tubes end on Q's samples in the
    right proportions: the energy distance of their ends to fresh Q samples is at the two-sample floor."""
    from efm_core.data import sample_toy

    n = 300
    p = sample_toy("gaussian", n, seed=1).double()
    q = couple(p, sample_toy("two_gaussians", n, seed=2).double(), plan)
    trace = trace_interaction_lines(p, q, L, width=1.5, cap=CAP, per_charge=4, rtol=1e-5)
    moved = trace.end[:, :-1]
    assert torch.all(trace.case == 0)

    def ed(x, y):
        return energy_distance(x, y)

    floor = two_sample_floor(lambda m, s: sample_toy("two_gaussians", m, seed=100 + s).double(), 4 * n, ed, repeats=8)
    score = ed(moved, sample_toy("two_gaussians", 4 * n, seed=99).double())
    assert score <= floor.mean + 3 * floor.std, (score, floor)


def test_training_points_follow_the_tubes_and_options_validate():
    p, q = _pairs(4000, 2, seed=5)
    options = IFMOptions.from_dict({"width": 0.5, "cap": 0.6, "plan": "independent", "eps": 1e-3}, L)
    pts = ifm_points(p, q, L, options, torch.Generator().manual_seed(0))
    assert float(pts.z.min()) >= 1e-3 and float(pts.z.max()) <= L - 1e-3
    offset = pts.x - ((1 - pts.t)[:, None] * p + pts.t[:, None] * q)
    ratio = offset / tube_width(pts.z, L, 0.5, 0.6).sigma[:, None]
    assert float(ratio.std()) == pytest.approx(1.0, abs=0.03)
    for bad in ({"cap": 4.0}, {"width": 0.0}, {"plan": "sinkhorn"}, {"eps": 1.0}, {"sigma": 1}):
        with pytest.raises(ValueError):
            IFMOptions.from_dict(bad, L)
    with pytest.raises(ValueError, match="pairs"):
        interaction_field(torch.zeros(1, 3), torch.zeros(2, 2), torch.zeros(2, 2), L, pairs=torch.tensor([0, 2]))
