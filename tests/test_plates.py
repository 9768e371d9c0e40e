"""Validation of every input that reaches the core (efm_core.plates) and the plates' bookkeeping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from efm_core import exact_field, lift, make_plates, plate_field_at
from efm_core.limits import max_coordinate
from efm_core.plates import check_points

F64 = torch.float64
POS = [[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]]
NEG = [[1.0, 1.0], [-1.0, 0.0]]


# ---------------------------------------------------------------------------------------------------------------
# what a valid input becomes


def test_defaults_give_each_plate_total_charge_one():
    p = make_plates(POS, NEG, 2.0)
    assert p.D == 2 and p.L == 2.0 and p.dtype == F64
    torch.testing.assert_close(p.pos_weights, torch.full((3,), 1 / 3, dtype=F64))
    torch.testing.assert_close(p.neg_weights, torch.full((2,), 1 / 2, dtype=F64))


def test_python_floats_stay_float64():
    p = make_plates([[0.1, 0.2]], [[0.3, 0.7]], 1.0)
    assert p.pos.tolist() == [[0.1, 0.2]] and p.neg.tolist() == [[0.3, 0.7]]  # no float32 round trip
    p = make_plates(torch.zeros(1, 2, dtype=F64), [[0.3, 0.7]], 1.0)
    assert p.neg.tolist() == [[0.3, 0.7]]


def test_weights_are_normalised_unless_asked_not_to():
    p = make_plates(POS, NEG, 1.0, pos_weights=[1, 0, 3], neg_weights=np.array([2.0, 2.0]))
    torch.testing.assert_close(p.pos_weights, torch.tensor([0.25, 0.0, 0.75], dtype=F64))
    torch.testing.assert_close(p.neg_weights, torch.tensor([0.5, 0.5], dtype=F64))
    raw = make_plates(POS, NEG, 1.0, pos_weights=[1, 0, 3], normalize=False)
    torch.testing.assert_close(raw.pos_weights, torch.tensor([1.0, 0.0, 3.0], dtype=F64))


def test_dtype_follows_pos_and_neg_is_cast():
    p = make_plates(torch.zeros(3, 2, dtype=torch.float32), np.ones((2, 2)), 1)
    assert p.pos.dtype == p.neg.dtype == p.pos_weights.dtype == torch.float32
    assert make_plates(np.zeros((3, 2), dtype=np.int64), NEG, 1).pos.dtype == F64
    assert p.to(dtype=F64).neg.dtype == F64


def test_lift_puts_z_last():
    p = make_plates(POS, NEG, 2.5)
    torch.testing.assert_close(p.lifted_pos(), torch.tensor([[0.0, 1.0, 0.0], [2.0, -1.0, 0.0], [0.5, 0.5, 0.0]], dtype=F64))
    torch.testing.assert_close(p.lifted_neg()[:, -1], torch.full((2,), 2.5, dtype=F64))
    torch.testing.assert_close(lift(torch.zeros(2, 1), torch.tensor([1.0, 2.0])), torch.tensor([[0.0, 1.0], [0.0, 2.0]]))


def test_one_dimensional_points_for_D_equal_one():
    assert check_points("x", [1.0, 2.0, 3.0], dim=1).shape == (3, 1)


# ---------------------------------------------------------------------------------------------------------------
# bad input -> ValueError that says what is wrong


@pytest.mark.parametrize(
    "pos, neg, match",
    [
        (POS, [[1.0, 1.0, 0.0]], r"3 coordinates per point but 2 are needed"),
        ([1.0, 2.0], NEG, r"must be a 2-D array"),
        (np.zeros((2, 2, 2)), NEG, r"must be a 2-D array.*Reshape"),
        (POS, [1.0, 2.0], r"must be a 2-D array"),
        (np.zeros((0, 2)), NEG, r"pos.*is empty"),
        (POS, np.zeros((0, 2)), r"neg.*is empty"),
        ([[0.0, math.nan]] + POS, NEG, r"pos.*NaN or infinite values in 1 row"),
        (POS, [[math.inf, 0.0], [0.0, -math.inf]], r"neg.*NaN or infinite values in 2 row"),
        ([["a", "b"]], NEG, r"must be an array of numbers"),
        ([[1.0, 2.0], [3.0]], NEG, r"must be an array of numbers"),
        (torch.ones(2, 2, dtype=torch.bool), NEG, r"must hold real numbers"),
        (torch.ones(2, 2, dtype=torch.complex64), NEG, r"must hold real numbers"),
        ("not an array", NEG, r"must be an array of numbers"),
    ],
)
def test_bad_points(pos, neg, match):
    with pytest.raises(ValueError, match=match):
        make_plates(pos, neg, 1.0)


@pytest.mark.parametrize("L", [0, 0.0, -1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_bad_gap_values(L):
    with pytest.raises(ValueError, match=r"L must be finite and > 0"):
        make_plates(POS, NEG, L)


@pytest.mark.parametrize("L", ["1.0", "abc", b"2", True, None, [1.0, 2.0], object()])
def test_gap_that_is_not_a_number(L):
    with pytest.raises(ValueError, match=r"L must be a number"):
        make_plates(POS, NEG, L)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pos_weights": [1.0, -0.5, 1.0]}, r"pos_weights must be non-negative"),
        ({"neg_weights": [0.0, 0.0]}, r"neg_weights sums to zero"),
        ({"pos_weights": [1.0, 1.0]}, r"pos_weights has 2 entries but the plate has 3 charges"),
        ({"neg_weights": [1.0, 1.0, 1.0]}, r"neg_weights has 3 entries but the plate has 2"),
        ({"pos_weights": [1.0, math.nan, 1.0]}, r"pos_weights contains NaN or infinite"),
        ({"neg_weights": [math.inf, 1.0]}, r"neg_weights contains NaN or infinite"),
        ({"pos_weights": ["a", "b", "c"]}, r"pos_weights must be an array of numbers"),
    ],
)
def test_bad_weights(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_plates(POS, NEG, 1.0, **kwargs)


def test_field_entry_points_validate_points_and_method():
    plates = make_plates(POS, NEG, 1.0)
    with pytest.raises(ValueError, match=r"points has 2 coordinates per point but 3 are needed"):
        plate_field_at(torch.zeros(4, 2, dtype=F64), plates)
    with pytest.raises(ValueError, match=r"points contains NaN"):
        exact_field([[0.0, math.nan, 1.0]], POS, NEG, 1.0)
    with pytest.raises(ValueError, match=r"points is empty"):
        exact_field(torch.zeros(0, 3), POS, NEG, 1.0)
    with pytest.raises(ValueError, match=r"method must be 'auto', 'direct' or 'matmul'"):
        exact_field([[0.0, 0.0, 1.0]], POS, NEG, 1.0, method="fast")
    with pytest.raises(ValueError, match=r"L must be finite and > 0"):
        exact_field([[0.0, 0.0, 1.0]], POS, NEG, -2.0)


# ---------------------------------------------------------------------------------------------------------------
# properties


@settings(max_examples=80, deadline=None)
@given(L=st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)))
def test_any_non_positive_or_non_finite_gap_raises(L):
    with pytest.raises(ValueError, match=r"L must be"):
        make_plates(POS, NEG, L)


@settings(max_examples=80, deadline=None)
@given(L=st.floats(min_value=0.0, exclude_min=True, max_value=max_coordinate(torch.float64), allow_subnormal=True))
def test_any_positive_gap_up_to_the_stated_limit_is_kept_exactly(L):
    assert make_plates(POS, NEG, L).L == L


@settings(max_examples=30, deadline=None)
@given(L=st.floats(min_value=max_coordinate(torch.float64), exclude_min=True, allow_infinity=False))
def test_a_gap_beyond_the_stated_limit_is_refused(L):
    with pytest.raises(ValueError, match="too large"):
        make_plates(POS, NEG, L)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 6), d_pos=st.integers(1, 5), d_neg=st.integers(1, 5))
def test_mismatched_dimensions_always_raise(n, d_pos, d_neg):
    pos, neg = np.zeros((n, d_pos)), np.ones((n + 1, d_neg))
    if d_pos == d_neg:
        assert make_plates(pos, neg, 1.0).D == d_pos
    else:
        with pytest.raises(ValueError, match=rf"{d_neg} coordinates per point but {d_pos} are needed"):
            make_plates(pos, neg, 1.0)


@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.floats(0.0, 1e6), min_size=3, max_size=3))
def test_non_negative_weights_normalise_or_raise(weights):
    if sum(weights) > 0:
        w = make_plates(POS, NEG, 1.0, pos_weights=weights).pos_weights
        assert (w >= 0).all() and float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    else:
        with pytest.raises(ValueError, match=r"sums to zero"):
            make_plates(POS, NEG, 1.0, pos_weights=weights)
