"""One protocol for a field to follow (efm_core.fields.Field): slab nets by their objective's rule, whole-space
nets, the exact field; a new objective that regresses unit directions needs no new code to be followed."""

import torch

from efm_core import make_plates, plate_field_at, sample_toy
from efm_core.fields import FIELD_RULES, exact_space_field, learned_field, space_field, unit_rule
from efm_core.nets import FieldMLP, FieldSpaceMLP, side_flags
from efm_core.solvers import transport

L = 3.0


def test_a_new_unit_objective_is_followed_like_efm_with_no_new_branch():
    torch.manual_seed(0)
    net = FieldMLP((2,), L, width=16, depth=2)
    x, z = torch.randn(8, 2), torch.rand(8) * L
    f_x, f_z = learned_field(net, "ifm", L)(x, z)
    assert "ifm" not in FIELD_RULES
    torch.testing.assert_close(f_x.square().sum(1) + f_z.square(), torch.ones(8))
    e_x, e_z = learned_field(net, "efm", L)(x, z)
    assert torch.equal(f_x, e_x) and torch.equal(f_z, e_z)
    a = transport(learned_field(net, "ifm", L), x, 0.0, L, steps=5)
    b = transport(learned_field(net, "efm", L), x, 0.0, L, steps=5)
    assert torch.equal(a.x, b.x) and a.nfe == b.nfe


def test_flow_matching_is_followed_as_a_velocity():
    torch.manual_seed(1)
    net = FieldMLP((2,), L, width=16, depth=2)
    x, z = torch.randn(4, 2), torch.rand(4) * L
    v, _ = net(x, z)
    f_x, f_z = learned_field(net, "fm", L)(x, z)
    assert torch.equal(f_x, v) and (f_z == L).all()
    u_x, u_z = unit_rule(v, torch.ones(4), L)
    torch.testing.assert_close(u_x.square().sum(1) + u_z.square(), torch.ones(4))


def test_whole_space_and_exact_fields_follow_the_same_protocol():
    torch.manual_seed(2)
    net = FieldSpaceMLP((2,), L, width=16, depth=2)
    x, z = torch.randn(6, 2), torch.tensor([-2.0, -0.1, 0.5, 2.9, 3.5, 40.0])
    f_x, f_z = space_field(net)(x, z)
    g_x, g_z = space_field(net)(x, z, side_flags(z, L))
    assert torch.equal(f_x, g_x) and torch.equal(f_z, g_z)
    torch.testing.assert_close(f_x.square().sum(1) + f_z.square(), torch.ones(6))
    plates = make_plates(sample_toy("gaussian", 16, D=2, seed=0), sample_toy("two_gaussians", 16, D=2, seed=1), L)
    e_x, e_z = exact_space_field(plates)(x.double(), z.double())
    u = plate_field_at(torch.cat([x.double(), z.double()[:, None]], dim=1), plates).direction
    assert torch.equal(torch.cat([e_x, e_z[:, None]], dim=1), u)
