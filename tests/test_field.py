"""Physics and numerics of the exact two-plate field (efm_core.field).

References are float64 and written out from Coulomb's law in R^{D+1} with explicit differences; identities (Gauss's
law, E = -grad phi, superposition, mirror symmetry) are checked by quadrature and finite differences.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import efm_core.field as field_module
from efm_core import exact_field, lift, log_sphere_area, make_plates, plate_field_at, potential
from efm_core.field import FieldEvaluator, PlateField, combine

F64 = torch.float64


def sphere_area(D: int) -> float:
    """S_D = 2 pi^{(D+1)/2} / Gamma((D+1)/2), straight from the formula (small D only)."""
    return 2 * math.pi ** ((D + 1) / 2) / math.gamma((D + 1) / 2)


def coulomb(x: torch.Tensor, charges: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sum_i q_i (x - c_i) / (S_D |x - c_i|^{D+1}) in float64, explicit differences (low D: no under/overflow)."""
    x, charges, q = x.to(F64), charges.to(F64), q.to(F64)
    diff = x[:, None, :] - charges[None]
    r = diff.norm(dim=-1)
    return torch.einsum("bn,bnd->bd", q / r ** x.shape[1], diff) / sphere_area(x.shape[1] - 1)


def reference(points: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, L: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit direction and log|E| in float64 for equal weights, any D: explicit differences, per-query log-sum-exp.

    Chunked over queries only to bound memory; no charge chunking, no matrix-product distances, no top-k.
    """
    x = points.to(F64)
    D = pos.shape[1]
    dirs, logs = [], []
    for xb in x.split(max(1, 2**22 // (pos.shape[0] * (D + 1)))):
        parts = []
        for charges, z, sign in ((pos, 0.0, 1.0), (neg, L, -1.0)):
            diff = xb[:, None, :] - lift(charges.to(F64), z)[None]
            r2 = (diff * diff).sum(-1)
            logw = torch.where(r2 > 0, -0.5 * (D + 1) * torch.log(r2), torch.full_like(r2, -math.inf))
            logw = logw - math.log(charges.shape[0])
            top = logw.max(1).values
            v = sign * torch.einsum("bn,bnd->bd", torch.exp(logw - top[:, None]), diff)
            parts.append((v, top - log_sphere_area(D)))
        (vp, lp), (vn, ln) = parts
        top = torch.maximum(lp + torch.log(vp.norm(dim=1)), ln + torch.log(vn.norm(dim=1)))
        v = torch.exp(lp - top)[:, None] * vp + torch.exp(ln - top)[:, None] * vn
        dirs.append(v / v.norm(dim=1, keepdim=True))
        logs.append(top + torch.log(v.norm(dim=1)))
    return torch.cat(dirs), torch.cat(logs)


def two_plates(D: int, N: int, B: int, L: float = 3.0, seed: int = 0, near: int = 0):
    """Random plates (P ~ N(0, I), Q ~ N(2, I)), queries between and around them, ``near`` of them 1e-3 from a
    positive and ``near`` 1e-3 from a negative charge. Everything float32-rounded, returned as float64."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(N, D, generator=g, dtype=F64)
    neg = torch.randn(N, D, generator=g, dtype=F64) + 2.0
    t = torch.rand(B, 1, generator=g, dtype=F64)
    x = (1 - t) * torch.randn(B, D, generator=g, dtype=F64) + t * (torch.randn(B, D, generator=g, dtype=F64) + 2.0)
    points = torch.cat([x, t * L + 0.5 * torch.randn(B, 1, generator=g, dtype=F64)], 1)
    if near:
        off = torch.randn(2 * near, D + 1, generator=g, dtype=F64)
        off = 1e-3 * off / off.norm(dim=1, keepdim=True)
        points[:near] = lift(pos[:near], 0.0) + off[:near]
        points[near : 2 * near] = lift(neg[:near], L) + off[near:]
    as32 = lambda t: t.float().double()  # noqa: E731
    return as32(points), as32(pos), as32(neg), L


def angle_error(direction: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|d - d_ref| per row (about the angle between the unit vectors)."""
    return (direction.to(F64) - ref).norm(dim=1)


# ---------------------------------------------------------------------------------------------------------------
# Coulomb's law, S_D, superposition, symmetry


def test_sphere_area_known_values_and_recurrence():
    known = {0: 2.0, 1: 2 * math.pi, 2: 4 * math.pi, 3: 2 * math.pi**2, 4: 8 * math.pi**2 / 3}
    for D, area in known.items():
        assert log_sphere_area(D) == pytest.approx(math.log(area), rel=0, abs=1e-14)
    # S_{D+2} = 2 pi S_D / (D + 1), in logs, up to the image dimension
    for D in (5, 63, 783, 3071):
        assert log_sphere_area(D + 2) - log_sphere_area(D) == pytest.approx(math.log(2 * math.pi / (D + 1)), abs=1e-9)


@pytest.mark.parametrize("D", [1, 2, 3, 7])
@pytest.mark.parametrize("method", ["direct", "matmul"])
def test_point_charge_each_plate(D, method):
    g = torch.Generator().manual_seed(D)
    c_pos, c_neg, L = torch.randn(1, D, generator=g, dtype=F64), torch.randn(1, D, generator=g, dtype=F64), 1.7
    x = torch.randn(64, D + 1, generator=g, dtype=F64) * 2
    res = exact_field(x, c_pos, c_neg, L, method=method, full=True)
    for part, c, q in ((res.pos, lift(c_pos, 0.0), 1.0), (res.neg, lift(c_neg, L), -1.0)):
        r = (x - c).norm(dim=1, keepdim=True)
        expected = q * (x - c) / (sphere_area(D) * r ** (D + 1))
        torch.testing.assert_close(part.vector(), expected, rtol=1e-12, atol=0)
        torch.testing.assert_close(part.direction, q * (x - c) / r, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(res.vector(), res.pos.vector() + res.neg.vector(), rtol=1e-12, atol=0)
    torch.testing.assert_close(res.direction.norm(dim=1), torch.ones(64, dtype=F64), rtol=1e-14, atol=0)


@pytest.mark.parametrize("D", [784, 3072])
def test_point_charge_log_norm_high_dim(D):
    """|E| = 1 / (S_D r^D) is far outside float64 here; its log is exact: -log S_D - D log r."""
    g = torch.Generator().manual_seed(1)
    c = torch.randn(1, D, generator=g, dtype=F64)
    x = lift(c, 0.0) + torch.randn(8, D + 1, generator=g, dtype=F64) * torch.logspace(-3, 1, 8, dtype=F64)[:, None]
    res = exact_field(x, c, c, 1e6, full=True)
    r = (x - lift(c, 0.0)).norm(dim=1)
    torch.testing.assert_close(res.pos.log_norm, -log_sphere_area(D) - D * torch.log(r), rtol=1e-13, atol=0)
    torch.testing.assert_close(res.pos.direction, (x - lift(c, 0.0)) / r[:, None], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("D", [1, 2, 3])
def test_weighted_plates_match_coulomb_sum(D):
    g = torch.Generator().manual_seed(10 + D)
    pos, neg = torch.randn(5, D, generator=g, dtype=F64), torch.randn(7, D, generator=g, dtype=F64)
    wp, wn = torch.rand(5, generator=g, dtype=F64), torch.rand(7, generator=g, dtype=F64)
    x = torch.randn(50, D + 1, generator=g, dtype=F64) * 3
    res = exact_field(x, pos, neg, 2.0, pos_weights=wp, neg_weights=wn, full=True)
    expected_pos = coulomb(x, lift(pos, 0.0), wp / wp.sum())
    expected_neg = coulomb(x, lift(neg, 2.0), -wn / wn.sum())
    torch.testing.assert_close(res.pos.vector(), expected_pos, rtol=1e-11, atol=0)
    torch.testing.assert_close(res.neg.vector(), expected_neg, rtol=1e-11, atol=0)
    torch.testing.assert_close(res.vector(), expected_pos + expected_neg, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("D", [2, 40])
def test_superposition_of_plates(D):
    """Un-normalised charges: the field of the union of two charge sets is the sum of their fields."""
    g = torch.Generator().manual_seed(20)
    pa, pb = torch.randn(6, D, generator=g, dtype=F64), torch.randn(3, D, generator=g, dtype=F64) + 1
    na, nb = torch.randn(4, D, generator=g, dtype=F64), torch.randn(5, D, generator=g, dtype=F64) - 1
    wpa, wpb, wna, wnb = (torch.rand(n, generator=g, dtype=F64) + 0.1 for n in (6, 3, 4, 5))
    x = torch.randn(40, D + 1, generator=g, dtype=F64) * 2
    a = plate_field_at(x, make_plates(pa, na, 1.5, wpa, wna, normalize=False))
    b = plate_field_at(x, make_plates(pb, nb, 1.5, wpb, wnb, normalize=False))
    union = make_plates(torch.cat([pa, pb]), torch.cat([na, nb]), 1.5, torch.cat([wpa, wpb]), torch.cat([wna, wnb]), normalize=False)
    both = plate_field_at(x, union)
    # compare in log space (the fields are tiny at D = 40): E_union = E_a + E_b, scaled by exp(-top)
    top = torch.maximum(a.log_norm, b.log_norm)
    sum_scaled = torch.exp(a.log_norm - top)[:, None] * a.direction + torch.exp(b.log_norm - top)[:, None] * b.direction
    torch.testing.assert_close(torch.exp(both.log_norm - top)[:, None] * both.direction, sum_scaled, rtol=1e-10, atol=1e-13)


def test_weight_is_multiplicity_and_scale_free():
    """A charge of weight 2 is two coincident charges of weight 1; scaling all weights changes nothing."""
    g = torch.Generator().manual_seed(3)
    pos, neg, x = torch.randn(4, 2, generator=g, dtype=F64), torch.randn(3, 2, generator=g, dtype=F64), torch.randn(30, 3, generator=g, dtype=F64)
    w = torch.tensor([2.0, 1.0, 1.0, 1.0], dtype=F64)
    weighted = exact_field(x, pos, neg, 1.0, pos_weights=w, full=True)
    repeated = exact_field(x, torch.cat([pos, pos[:1]]), neg, 1.0, full=True)
    scaled = exact_field(x, pos, neg, 1.0, pos_weights=7.5 * w, neg_weights=[3.0, 3.0, 3.0], full=True)
    torch.testing.assert_close(weighted.vector(), repeated.vector(), rtol=1e-12, atol=0)
    torch.testing.assert_close(weighted.vector(), scaled.vector(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("D", [1, 2, 64])
@pytest.mark.parametrize("method", ["direct", "matmul"])
def test_mirror_symmetry(D, method):
    """Plates symmetric under x_1 -> -x_1: E_1 = 0 on the mirror plane, and the field is mirrored everywhere."""
    g = torch.Generator().manual_seed(4)
    half_p, half_n = torch.randn(5, D, generator=g, dtype=F64), torch.randn(6, D, generator=g, dtype=F64)
    flip = torch.ones(D + 1, dtype=F64)
    flip[0] = -1
    pos, neg = torch.cat([half_p, half_p * flip[:D]]), torch.cat([half_n, half_n * flip[:D]])
    x = torch.randn(30, D + 1, generator=g, dtype=F64)
    on_plane = x.clone()
    on_plane[:, 0] = 0.0
    res = exact_field(on_plane, pos, neg, 2.0, method=method, full=True)
    assert res.direction[:, 0].abs().max() < 1e-12
    assert torch.isfinite(res.log_norm).all()
    d, d_mirror = (exact_field(p, pos, neg, 2.0, method=method) for p in (x, x * flip))
    torch.testing.assert_close(d_mirror, d * flip, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Gauss's law and the potential


def _gauss_setup(D: int):
    """Charges at fixed places, each at least 0.4 from the surface |y - centre| = 1.5 (centre (0, .., 0, 0.5))."""
    if D == 1:
        pos = torch.tensor([[0.0], [0.6], [-2.5], [3.0]], dtype=F64)
        neg = torch.tensor([[0.3], [-0.9], [2.6]], dtype=F64)
    else:
        pos = torch.tensor([[0.0, 0.0], [0.5, 0.3], [3.0, 0.0], [-2.5, 1.0]], dtype=F64)
        neg = torch.tensor([[0.2, -0.4], [2.8, 2.8], [-3.0, -1.0]], dtype=F64)
    wp = torch.tensor([1.0, 2.0, 1.5, 3.0], dtype=F64)
    wn = torch.tensor([4.0, 1.0, 2.0], dtype=F64)
    return make_plates(pos, neg, 1.0, wp, wn, normalize=False)


def _enclosed(plates, centre: torch.Tensor, radius: float) -> float:
    inside = lambda c: ((c - centre).norm(dim=1) < radius).to(F64)  # noqa: E731
    return float((plates.pos_weights * inside(plates.lifted_pos())).sum() - (plates.neg_weights * inside(plates.lifted_neg())).sum())


def _flux(plates, centre: torch.Tensor, radius: float) -> float:
    """Flux of E out of the sphere |y - centre| = radius in R^{D+1}, D = 1 (circle) or 2 (sphere), by quadrature."""
    if plates.D == 1:
        t = torch.arange(512, dtype=F64) * (2 * math.pi / 512)  # trapezoid rule: spectral for periodic integrands
        normal = torch.stack([torch.cos(t), torch.sin(t)], 1)
        weight = torch.full_like(t, 2 * math.pi / 512 * radius)
    else:
        u, wu = np.polynomial.legendre.leggauss(96)  # u = cos(polar angle)
        u, wu = torch.as_tensor(u), torch.as_tensor(wu)
        phi = torch.arange(192, dtype=F64) * (2 * math.pi / 192)
        s = torch.sqrt(1 - u**2)
        normal = torch.stack([s[:, None] * torch.cos(phi), s[:, None] * torch.sin(phi), u[:, None].expand(-1, 192)], -1).reshape(-1, 3)
        weight = (wu[:, None] * (2 * math.pi / 192) * radius**2).expand(-1, 192).reshape(-1)
    E = plate_field_at(centre + radius * normal, plates).vector()
    return float(((E * normal).sum(1) * weight).sum())


@pytest.mark.parametrize("D", [1, 2])
@pytest.mark.parametrize("centre_xy, radius", [(0.0, 1.5), (0.0, 0.35), (2.7, 1.0), (-8.0, 2.0)])
def test_gauss_law(D, centre_xy, radius):
    plates = _gauss_setup(D)
    centre = torch.tensor([centre_xy] + [0.0] * (D - 1) + [0.5], dtype=F64)
    dist = lambda c: ((c - centre).norm(dim=1) - radius).abs().min()  # noqa: E731
    assert min(dist(plates.lifted_pos()), dist(plates.lifted_neg())) > 0.05  # no charge on the surface
    flux, enclosed = _flux(plates, centre, radius), _enclosed(plates, centre, radius)
    assert flux == pytest.approx(enclosed, abs=0.01 * max(1.0, abs(enclosed)))


def test_gauss_law_detects_a_wrong_constant():
    """The quadrature is sharp enough that dropping 1/S_D would be caught (guards the test above)."""
    plates = _gauss_setup(2)
    centre = torch.tensor([0.0, 0.0, 0.5], dtype=F64)
    assert abs(_flux(plates, centre, 1.5) - _enclosed(plates, centre, 1.5)) < 1e-6
    assert abs(_enclosed(plates, centre, 1.5)) > 0.5


@pytest.mark.parametrize("D", [1, 2, 3])
def test_field_is_minus_gradient_of_potential(D):
    g = torch.Generator().manual_seed(5)
    plates = make_plates(torch.randn(6, D, generator=g, dtype=F64), torch.randn(5, D, generator=g, dtype=F64), 1.3, torch.rand(6, generator=g, dtype=F64) + 0.2)
    x = torch.randn(20, D + 1, generator=g, dtype=F64) * 1.5
    x[:, -1] += 0.65
    h = 1e-5
    grad = torch.stack([(potential(x + h * e, plates) - potential(x - h * e, plates)) / (2 * h) for e in torch.eye(D + 1, dtype=F64)], 1)
    torch.testing.assert_close(plate_field_at(x, plates).vector(), -grad, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("D", [1, 2, 5])
def test_potential_is_the_green_function(D):
    """phi of a unit positive charge at distance r: -log(r)/(2 pi) in 2-D, r^{1-D} / ((D-1) S_D) above."""
    far = 1e9  # the negative charge sits ~1e9 away: its potential is a constant, subtracted below
    plates = make_plates(torch.zeros(1, D, dtype=F64), torch.zeros(1, D, dtype=F64), far)
    r = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
    x = torch.zeros(3, D + 1, dtype=F64)
    x[:, 0] = r

    def green(r):
        return -torch.log(r) / (2 * math.pi) if D == 1 else r ** (1 - D) / ((D - 1) * sphere_area(D))

    expected = green(r) - green(torch.full_like(r, far))
    torch.testing.assert_close(potential(x, plates), expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Accuracy against the float64 reference on the same (float32-rounded) inputs


@pytest.mark.parametrize("D", [1, 2, 64, 784, 3072])
def test_accuracy_against_float64_reference(D):
    points, pos, neg, L = two_plates(D, N=256, B=128, near=24)
    ref_dir, ref_log = reference(points, pos, neg, L)
    f64 = exact_field(points, pos, neg, L, full=True)
    assert angle_error(f64.direction, ref_dir).max() <= 1e-9
    assert (f64.log_norm - ref_log).abs().max() <= 1e-9
    f32 = exact_field(points.float(), pos.float(), neg.float(), L, full=True)
    assert f32.direction.dtype == torch.float32
    bound = 2e-5 if D <= 64 else 1e-3
    err = angle_error(f32.direction, ref_dir)
    assert err.max() <= bound, f"float32 direction error {err.max():.2e} at D={D}"
    # log|E| carries (D+1)/2 times the relative error of r^2 in float32
    assert (f32.log_norm.double() - ref_log).abs().max() <= 1e-5 * (D + 1) + 1e-4


def test_float32_survives_underflow_at_image_dimension():
    D = 3072
    points, pos, neg, L = (t.float() if torch.is_tensor(t) else t for t in two_plates(D, N=64, B=16))
    r = torch.cdist(points, lift(pos, 0.0))
    assert (r ** -(D + 1) == 0).all()  # the textbook formula gives 0/0 here
    direction = exact_field(points, pos, neg, L)
    assert torch.isfinite(direction).all()
    torch.testing.assert_close(direction.norm(dim=1), torch.ones(16), rtol=1e-5, atol=0)


@pytest.mark.parametrize("D", [1, 2, 16, 64])
def test_direct_and_matmul_agree(D):
    points, pos, neg, L = two_plates(D, N=200, B=64, near=8, seed=7)
    a = exact_field(points, pos, neg, L, method="direct", full=True)
    b = exact_field(points, pos, neg, L, method="matmul", full=True)
    assert angle_error(a.direction, b.direction).max() <= 1e-9
    assert (a.log_norm - b.log_norm).abs().max() <= 1e-9
    for pa, pb in ((a.pos, b.pos), (a.neg, b.neg)):
        assert angle_error(pa.direction, pb.direction).max() <= 1e-9


@pytest.mark.parametrize("D", [2, 64])
@pytest.mark.parametrize("method", ["direct", "matmul"])
def test_chunked_equals_unchunked(D, method):
    points, pos, neg, L = two_plates(D, N=90, B=37, near=4, seed=8)
    whole = exact_field(points, pos, neg, L, method=method, full=True)
    for chunk in (1, 7 * (D + 1), 1000):
        part = exact_field(points, pos, neg, L, method=method, chunk_elements=chunk, full=True)
        assert angle_error(part.direction, whole.direction).max() <= 1e-12
        torch.testing.assert_close(part.log_norm, whole.log_norm, rtol=0, atol=1e-12)


@pytest.mark.parametrize("D", [2, 64])
@pytest.mark.parametrize("method", ["direct", "matmul"])
def test_point_on_a_charge_is_the_field_of_the_others(D, method):
    g = torch.Generator().manual_seed(9)
    pos, neg = torch.randn(10, D, generator=g, dtype=F64), torch.randn(8, D, generator=g, dtype=F64)
    wp = torch.rand(10, generator=g, dtype=F64) + 0.1
    x = torch.cat([lift(pos[:1], 0.0), lift(neg[:1], 1.0)])
    on = plate_field_at(x, make_plates(pos, neg, 1.0, wp, normalize=False), method=method)
    without_pos = plate_field_at(x[:1], make_plates(pos[1:], neg, 1.0, wp[1:], normalize=False), method=method)
    without_neg = plate_field_at(x[1:], make_plates(pos, neg[1:], 1.0, wp, torch.ones(7, dtype=F64) / 8, normalize=False), method=method)
    assert torch.isfinite(on.direction).all() and torch.isfinite(on.log_norm).all()
    assert angle_error(on.direction[:1], without_pos.direction).max() <= 1e-10
    assert angle_error(on.direction[1:], without_neg.direction).max() <= 1e-10
    torch.testing.assert_close(on.log_norm, torch.cat([without_pos.log_norm, without_neg.log_norm]), rtol=0, atol=1e-10)
    f32 = plate_field_at(x.float(), make_plates(pos.float(), neg.float(), 1.0), method=method)
    assert torch.isfinite(f32.direction).all()


def _count_log_fallbacks(monkeypatch) -> list[int]:
    """Count the blocks of points the evaluator computes in log space (the power path's fallback)."""
    calls = [0]
    log_field = FieldEvaluator._log_field

    def counting(self, xb):
        calls[0] += 1
        return log_field(self, xb)

    monkeypatch.setattr(FieldEvaluator, "_log_field", counting)
    return calls


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_power_and_log_weights_agree(D, dtype, monkeypatch):
    """At low D the weights are plain powers (no log/exp); the log-space sums give the same field, and the power path
    really is the one used in ordinary geometry (points 1e-3 from charges included)."""
    points, pos, neg, L = two_plates(D, N=256, B=128, near=24, seed=11)
    plates = make_plates(pos.to(dtype), neg.to(dtype), L)
    fallbacks = _count_log_fallbacks(monkeypatch)
    power = plate_field_at(points.to(dtype), plates)
    assert fallbacks[0] == 0
    monkeypatch.setattr(field_module, "POWER_MAX_DIM", 0)
    logs = plate_field_at(points.to(dtype), plates)
    assert fallbacks[0] == 1
    ref_dir, ref_log = reference(points, pos, neg, L)
    bound = 1e-12 if dtype == torch.float64 else 2e-6
    for a, b in ((power, logs), (power.pos, logs.pos), (power.neg, logs.neg)):
        assert angle_error(a.direction, b.direction.double()).max() <= bound
        assert (a.log_norm.double() - b.log_norm.double()).abs().max() <= 2 * bound
    # the power path is at least as accurate as the log path (float32: ~2e-7 against ~7e-7)
    err_power, err_log = angle_error(power.direction, ref_dir).max(), angle_error(logs.direction, ref_dir).max()
    assert err_power <= 1.5 * err_log + 2e-15


@pytest.mark.parametrize("D", [1, 2, 3])
def test_power_path_falls_back_where_powers_are_not_representable(D, monkeypatch):
    """float32 points 1e-20 (D = 1) or 1e-15 from a charge (r^-(D+1) overflows) or 1e15 away (the field is too small
    for the power path's error bound): those blocks are recomputed in log space, and match the float64 reference."""
    pos = torch.tensor([[0.0] * D, [1.0] * D], dtype=F64)
    neg = torch.tensor([[0.5] * D, [-1.0] * D], dtype=F64)
    L = 1.0
    near = torch.tensor([[1e-20 if D == 1 else 1e-15] * D + [0.0]], dtype=F64)
    far = torch.tensor([[1e15] * D + [3e14]], dtype=F64)
    ordinary = torch.tensor([[0.3] * D + [0.4]], dtype=F64)
    plates = make_plates(pos.float(), neg.float(), L)
    fallbacks = _count_log_fallbacks(monkeypatch)
    for x, expect_fallback in ((near, True), (far, True), (ordinary, False)):
        before = fallbacks[0]
        res = plate_field_at(x.float(), plates)
        assert (fallbacks[0] > before) == expect_fallback
        for part, charges, sign in ((res.pos, lift(pos, 0.0), 1.0), (res.neg, lift(neg, L), -1.0)):
            # float64 Coulomb sum: no overflow at these distances
            ref = coulomb(x.float().double(), charges, torch.full((2,), sign / 2, dtype=F64))
            assert angle_error(part.direction, ref / ref.norm(dim=1, keepdim=True)).max() <= 2e-5
            assert (part.log_norm.double() - torch.log(ref.norm(dim=1))).abs().max() <= 1e-4


@pytest.mark.parametrize("D", [2, 3, 40])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_evaluator_direction_and_nearest(D, dtype):
    """A prepared evaluator gives plate_field_at's directions, at every call, and exact nearest-charge distances
    (from the power path's differences at low D, computed apart otherwise); on a charge the distance is 0."""
    points, pos, neg, L = two_plates(D, N=100, B=40, near=5, seed=12)
    points[-1] = lift(neg[3:4], L)[0]
    plates = make_plates(pos.to(dtype), neg.to(dtype), L)
    ev = FieldEvaluator(plates, chunk_elements=2000)  # several chunks of charges and of points
    x = points.to(dtype)
    whole = plate_field_at(x, plates)
    for _ in range(2):
        direction, near = ev.direction_and_nearest(x)
        assert direction.dtype == dtype
        assert angle_error(direction, whole.direction.double()).max() <= (1e-12 if dtype == torch.float64 else 2e-6)
        for got, charges in ((near.pos, lift(pos, 0.0)), (near.neg, lift(neg, L))):
            expected = (points[:, None, :] - charges[None]).norm(dim=-1).min(1).values
            rtol = 1e-5 if dtype == torch.float32 else 1e-12
            torch.testing.assert_close(got.double(), expected, rtol=rtol, atol=1e-7)
    assert near.neg[-1].item() == 0.0
    torch.testing.assert_close(ev.direction(x), direction)
    with pytest.raises(ValueError, match="make_plates"):
        FieldEvaluator((pos, neg, L))  # type: ignore[arg-type]


def test_zero_field_gives_zero_direction():
    """P's field vanishes exactly midway between two equal charges; a plate's part is then (0, -inf), never NaN."""
    pos = torch.tensor([[-1.0], [1.0]], dtype=F64)
    neg = torch.tensor([[0.0]], dtype=F64)
    res = exact_field(torch.tensor([[0.0, 0.0]], dtype=F64), pos, neg, 2.0, full=True)
    assert (res.pos.direction == 0).all() and res.pos.log_norm.item() == -math.inf
    assert (res.pos.vector() == 0).all()
    torch.testing.assert_close(res.direction, res.neg.direction)
    torch.testing.assert_close(res.direction, torch.tensor([[0.0, 1.0]], dtype=F64))
    # on the only charged charge of P, next to an uncharged one: P's principal-value field is exactly zero
    for method in ("direct", "matmul"):
        res = exact_field(torch.tensor([[1.0, 0.0]], dtype=F64), pos, neg, 2.0, pos_weights=[0.0, 1.0], method=method, full=True)
        assert (res.pos.direction == 0).all() and res.pos.log_norm.item() == -math.inf
    # both plates cancel exactly: the total is the zero vector with log|E| = -inf
    d = torch.tensor([[0.6, 0.8]], dtype=F64)
    total = combine(PlateField(d, torch.tensor([3.0], dtype=F64)), PlateField(-d, torch.tensor([3.0], dtype=F64)))
    assert (total.direction == 0).all() and total.log_norm.item() == -math.inf


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_follows_dtype_and_device_of_points(dtype):
    points, pos, neg, L = two_plates(3, N=10, B=5)
    res = exact_field(points.to(dtype), pos.double(), neg.float(), L, full=True)
    for t in (res.direction, res.log_norm, res.pos.direction, res.neg.log_norm):
        assert t.dtype == dtype and t.device == points.device
    assert exact_field(points.tolist(), pos.tolist(), neg.tolist(), L).dtype == torch.float64


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("D", [2, 784])
def test_cuda_equals_cpu(D):
    points, pos, neg, L = two_plates(D, N=300, B=100, near=8)
    cpu = exact_field(points, pos, neg, L, full=True)
    gpu = exact_field(points.cuda(), pos.cuda(), neg.cuda(), L, full=True)
    assert gpu.direction.device.type == "cuda"
    assert angle_error(gpu.direction.cpu(), cpu.direction).max() <= 1e-9
    torch.testing.assert_close(gpu.log_norm.cpu(), cpu.log_norm, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# Random finite inputs never give NaN


@settings(max_examples=60, deadline=None)
@given(
    D=st.integers(1, 6),
    data=st.data(),
    method=st.sampled_from(["direct", "matmul"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_random_finite_inputs_never_give_nan(D, data, method, dtype):
    coords = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
    n, m, b = (data.draw(st.integers(1, 12)) for _ in range(3))
    pos = data.draw(arrays(np.float64, (n, D), elements=coords))
    neg = data.draw(arrays(np.float64, (m, D), elements=coords))
    pts = data.draw(arrays(np.float64, (b, D + 1), elements=coords))
    if data.draw(st.booleans()):  # put some queries exactly on charges
        pts[0, :D], pts[0, D] = pos[0], 0.0
    L = data.draw(st.floats(1e-3, 1e3))
    res = exact_field(torch.as_tensor(pts, dtype=dtype), pos, neg, L, method=method, full=True)
    for t in (res.direction, res.log_norm, res.pos.direction, res.neg.direction):
        assert not torch.isnan(t).any()
    norms = res.direction.norm(dim=1)
    assert ((norms - 1).abs() < 1e-4).logical_or(norms == 0).all()
    assert (res.log_norm < math.inf).all()
