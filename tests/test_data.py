"""Toy distributions (efm_core.data): shapes, seeds and the statistic that defines each toy.

Sample sizes of 4000 make binomial fractions accurate to about +-0.008 (1 sd); bounds are >= 4 sd wide.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from efm_core import TOYS, sample_toy

F64 = torch.float64
N = 4000
FIRST_COORDINATE_TOYS = ["swiss_roll", "two_moons", "eight_gaussians", "rings", "checkerboard"]


@pytest.mark.parametrize("D", [1, 2])
@pytest.mark.parametrize("name", list(TOYS))
def test_shape_dtype_and_seeds(name, D):
    x = sample_toy(name, 50, D=D, seed=3)
    assert x.shape == (50, D) and x.dtype == F64 and torch.isfinite(x).all()
    assert torch.equal(x, sample_toy(name, 50, D=D, seed=3))
    if name != "single_point":
        assert not torch.equal(x, sample_toy(name, 50, D=D, seed=4))
        assert not torch.equal(sample_toy(name, 50, D=D, seed=None), sample_toy(name, 50, D=D, seed=None))


@pytest.mark.parametrize("name", FIRST_COORDINATE_TOYS)
def test_one_dimensional_version_is_the_first_coordinate(name):
    assert torch.equal(sample_toy(name, 300, D=1, seed=5), sample_toy(name, 300, D=2, seed=5)[:, :1])


@pytest.mark.parametrize("D", [1, 2])
def test_gaussian_is_standard_normal(D):
    x = sample_toy("gaussian", N, D=D)
    assert x.mean(0).abs().max() < 0.07  # sd of the mean 1/sqrt(4000) = 0.016
    torch.testing.assert_close(torch.cov(x.T).reshape(D, D), torch.eye(D, dtype=F64), rtol=0, atol=0.1)


@pytest.mark.parametrize("D", [1, 2])
def test_two_gaussians_modes_at_plus_minus_eight_with_half_the_mass(D):
    x = sample_toy("two_gaussians", N, D=D, seed=1)
    right = x[:, 0] > 0
    assert abs(right.double().mean().item() - 0.5) < 0.035
    for side, centre in ((right, 8.0), (~right, -8.0)):
        assert abs(x[side, 0].mean().item() - centre) < 0.1
        assert abs(x[side, 0].std().item() - 1.0) < 0.07
    if D == 2:
        assert abs(x[:, 1].mean().item()) < 0.07 and abs(x[:, 1].std().item() - 1.0) < 0.05


def test_eight_gaussians_on_a_circle_of_radius_five():
    x = sample_toy("eight_gaussians", N, seed=2)
    angles = torch.arange(8, dtype=F64) * math.pi / 4
    centres = 5.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    dist, nearest = torch.cdist(x, centres).min(1)
    counts = torch.bincount(nearest, minlength=8).double() / N
    assert (counts - 1 / 8).abs().max() < 0.03
    assert abs(dist.square().mean().item() - 2 * 0.5**2) < 0.05  # E|noise|^2 = 2 sigma^2 for sigma = 0.5


def test_rings_radii_two_four_six_with_a_third_each():
    r = sample_toy("rings", N, seed=3).norm(dim=1)
    nearest = torch.round(r / 2).clamp(1, 3)
    assert (r - 2 * nearest).abs().max() < 0.8  # noise 0.15: 5 sd
    assert (r - 2 * nearest).abs().mean() < 0.15
    counts = torch.bincount(nearest.long(), minlength=4)[1:].double() / N
    assert (counts - 1 / 3).abs().max() < 0.035


def test_checkerboard_fills_the_eight_even_squares_uniformly():
    x = sample_toy("checkerboard", N, seed=4)
    assert (x.abs() <= 4).all()
    col, row = torch.floor((x[:, 0] + 4) / 2).long(), torch.floor((x[:, 1] + 4) / 2).long()
    assert ((col + row) % 2 == 0).all()
    counts = torch.bincount(4 * row + col, minlength=16).double() / N
    even = torch.tensor([(r + c) % 2 == 0 for r in range(4) for c in range(4)])
    assert (counts[~even] == 0).all() and (counts[even] - 1 / 8).abs().max() < 0.025
    x1 = sample_toy("checkerboard", N, D=1, seed=4)[:, 0]
    assert (x1.abs() <= 4).all() and abs(x1.mean().item()) < 0.15 and abs(x1.var().item() - 64 / 12) < 0.4


@pytest.mark.parametrize("D", [1, 2])
def test_uniform_disc_radius_three(D):
    x = sample_toy("uniform_disc", N, D=D, seed=5)
    r = x.norm(dim=1)
    assert (r <= 3).all() and r.max() > 2.95
    # uniform: P(r < 3/2) = (1/2)^D
    assert abs((r < 1.5).double().mean().item() - 0.5**D) < 0.035
    assert x.mean(0).abs().max() < 0.12


def test_two_moons_lie_on_two_centred_half_circles():
    x = sample_toy("two_moons", N, seed=6)
    assert x.mean(0).abs().max() < 0.2  # centred (sd of the mean about 0.04)
    # upper moon: circle of radius 3 about 3 * (-0.5, -0.25); lower: about 3 * (0.5, 0.25); noise sd 0.3
    upper = ((x - torch.tensor([-1.5, -0.75], dtype=F64)).norm(dim=1) - 3).abs()
    lower = ((x - torch.tensor([1.5, 0.75], dtype=F64)).norm(dim=1) - 3).abs()
    off = torch.minimum(upper, lower)
    assert off.mean() < 0.3 and off.max() < 1.5


def test_swiss_roll_is_the_authors_scale():
    x = sample_toy("swiss_roll", N, seed=7)
    r = x.norm(dim=1)
    # make_swiss_roll(noise=0.8)[:, [0, 2]] / 5: t in [1.5 pi, 4.5 pi], radius 0.2 t (+ noise sd 0.16): about [0.94, 2.8]
    assert r.quantile(0.01) > 0.6 and r.quantile(0.99) < 3.25 and 1.5 < r.mean() < 2.25
    assert x.abs().max() < 3.75
    assert x.std(0).tolist() == pytest.approx([1.34, 1.39], abs=0.05)  # the authors' toy (issue 15)


@pytest.mark.parametrize("D", [1, 2])
def test_single_point_is_the_origin(D):
    assert torch.equal(sample_toy("single_point", 7, D=D), torch.zeros(7, D, dtype=F64))


def test_integer_like_arguments_are_accepted():
    x = sample_toy("gaussian", np.int64(5), D=np.int32(1), seed=np.int64(2))
    assert torch.equal(x, sample_toy("gaussian", 5, D=1, seed=2))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "gaussain"}, r"unknown toy 'gaussain'; choose one of: gaussian, "),
        ({"name": ["gaussian"]}, r"unknown toy"),
        ({"D": 3}, r"toys exist for D = 1 and D = 2; got D = 3"),
        ({"D": 0}, r"toys exist for D = 1 and D = 2"),
        ({"D": 2.0}, r"toys exist for D = 1 and D = 2; got D = 2.0"),
        ({"D": True}, r"toys exist for D = 1 and D = 2"),
        ({"n": 0}, r"n must be a positive integer; got 0"),
        ({"n": -5}, r"n must be a positive integer"),
        ({"n": 2.5}, r"n must be a positive integer"),
        ({"n": "10"}, r"n must be a positive integer"),
        ({"n": True}, r"n must be a positive integer"),
        ({"seed": 1.5}, r"seed must be an integer or None"),
        ({"seed": "a"}, r"seed must be an integer or None"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"name": "gaussian", "n": 10, "D": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        sample_toy(**args)
