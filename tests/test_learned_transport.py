"""Transport along a learned field: exact answers on known fields, the slope guard, never NaN, snapshots, NFE."""

import math

import pytest
import torch

from efm_core.fields import learned_field
from efm_core.nets import FieldMLP
from efm_core.solvers import transport

SOLVERS = ["euler", "heun", "rk45"]


def constant_field(c):
    def field(x, z):
        return c.expand_as(x).clone(), torch.full((x.shape[0],), 2.0, dtype=x.dtype)

    return field


def growth_field(x, z):  # dx/dz = x / 2 (f_z = 2): x(z) = x0 exp(z / 2)
    return x.clone(), torch.full((x.shape[0],), 2.0, dtype=x.dtype)


@pytest.mark.parametrize("solver", SOLVERS)
def test_straight_field_is_exact_forward_and_back(solver):
    x0 = torch.randn(7, 2, dtype=torch.float64)
    c = torch.tensor([1.0, -0.5], dtype=torch.float64)
    out = transport(constant_field(c), x0, 0.0, 3.0, solver=solver, steps=4)
    torch.testing.assert_close(out.x, x0 + 1.5 * c, rtol=0, atol=1e-12)  # slope c / 2 over 3 units of z
    assert torch.equal(out.z, torch.full((7,), 3.0, dtype=torch.float64))
    back = transport(constant_field(c), out.x, 3.0, 0.0, solver=solver, steps=4)
    torch.testing.assert_close(back.x, x0, rtol=0, atol=1e-12)
    assert not out.bad.any() and not back.bad.any()


def test_orders_of_accuracy_and_nfe():
    x0 = torch.ones(3, 1, dtype=torch.float64)
    exact = math.exp(1.0)  # z from 0 to 2

    def err(solver, steps):
        out = transport(growth_field, x0, 0.0, 2.0, solver=solver, steps=steps)
        return float((out.x - exact).abs().max()), out.nfe

    (e1, n1), (e2, n2) = err("euler", 20), err("euler", 40)
    assert (n1, n2) == (20, 40) and 1.8 < e1 / e2 < 2.2  # first order
    (h1, m1), (h2, m2) = err("heun", 20), err("heun", 40)
    assert (m1, m2) == (40, 80) and 3.6 < h1 / h2 < 4.4  # second order
    for tol in (1e-4, 1e-8):
        out = transport(growth_field, x0, 0.0, 2.0, solver="rk45", steps=5, rtol=tol, atol=tol)
        assert float((out.x - exact).abs().max()) < 10 * tol * exact
    coarse = transport(growth_field, x0, 0.0, 2.0, solver="rk45", steps=5, rtol=1e-4, atol=1e-4)
    fine = transport(growth_field, x0, 0.0, 2.0, solver="rk45", steps=5, rtol=1e-8, atol=1e-8)
    assert fine.nfe > coarse.nfe  # the step size adapts to the tolerance


@pytest.mark.parametrize("solver", SOLVERS)
def test_bad_network_never_gives_nan(solver):
    """f_z <= 0 everywhere (and a huge f_x): every line is guarded and flagged, none is NaN, all end on the plate."""

    def bad(x, z):
        return 1e3 * torch.sin(3 * x) + 50.0, -torch.ones(x.shape[0], dtype=x.dtype) * (1 + z)

    x0 = torch.randn(200, 2, dtype=torch.float32)
    out = transport(bad, x0, 0.0, 6.0, solver=solver, steps=20, max_steps=200)
    assert torch.isfinite(out.x).all()
    assert bool(out.turned_back.all()) and not out.nonfinite.any()
    assert torch.equal(out.z, torch.full((200,), 6.0))


@pytest.mark.parametrize("solver", SOLVERS)
def test_nonfinite_field_freezes_only_those_lines(solver):
    def field(x, z):
        f_x = torch.ones_like(x)
        f_x[x[:, 0] > 1.5] = float("nan")  # a net that breaks in one region
        return f_x, torch.ones(x.shape[0], dtype=x.dtype)

    x0 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-3.0, 1.0]], dtype=torch.float64)
    out = transport(field, x0, 0.0, 2.0, solver=solver, steps=10, snapshots=5)
    assert torch.isfinite(out.x).all() and torch.isfinite(out.path).all()
    assert out.nonfinite.tolist() == [True, True, False]  # lines 0 and 1 reach x > 1.5 before z = 2
    torch.testing.assert_close(out.x[2], x0[2] + 2.0)
    # frozen at its last finite point: at most one step (0.2) past where the field breaks, short of the plate
    assert float(out.x[0, 0]) <= 1.5 + 0.2 + 1e-9 and float(out.z[0]) < 2.0


@pytest.mark.parametrize("solver", SOLVERS)
def test_snapshots_sit_on_the_line(solver):
    c = torch.tensor([2.0], dtype=torch.float64)
    x0 = torch.randn(4, 1, dtype=torch.float64)
    out = transport(constant_field(c), x0, 4.0, 0.0, solver=solver, steps=3, snapshots=9)
    assert out.levels.tolist() == torch.linspace(4.0, 0.0, 9).tolist()
    expected = x0[None] + (out.levels - 4.0)[:, None, None]  # slope 1
    torch.testing.assert_close(out.path, expected, rtol=0, atol=1e-12)


def test_images_and_learned_field_adapters():
    torch.manual_seed(0)
    net = FieldMLP((1, 4, 4), 3.0, width=8, depth=1)
    x0 = torch.randn(5, 1, 4, 4)
    out = transport(learned_field(net, "efm", 3.0), x0, 0.0, 3.0, steps=3)
    assert out.x.shape == x0.shape and torch.isfinite(out.x).all()
    f_x, f_z = learned_field(net, "fm", 3.0)(x0, torch.zeros(5))
    torch.testing.assert_close(f_x, net(x0, torch.zeros(5))[0].detach())
    assert torch.equal(f_z, torch.full((5,), 3.0))  # (v, L): dx/dz = v / L


def test_argument_checks():
    x0 = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="solver"):
        transport(growth_field, x0, 0.0, 1.0, solver="rk4")
    with pytest.raises(ValueError, match="f_min"):
        transport(growth_field, x0, 0.0, 1.0, f_min=0.0)
    with pytest.raises(ValueError, match="NaN"):
        transport(growth_field, torch.full((2, 2), float("nan")), 0.0, 1.0)
    with pytest.raises(ValueError, match="snapshots"):
        transport(growth_field, x0, 0.0, 1.0, snapshots=1)
