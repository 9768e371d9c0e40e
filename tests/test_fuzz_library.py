"""Fuzzing the library's entry points with hostile inputs: a clear ValueError or a correct result, nothing else,
each example time-bounded (hypothesis deadline)."""

import torch
from fuzz_testing import FUZZ, clear_or_correct, floats, ints, odd_scalars, point_arrays
from hypothesis import given
from hypothesis import strategies as st

from efm_core import exact_field, make_plates, trace_lines
from efm_core.lines import CASES

gaps = st.one_of(floats, ints, odd_scalars)


def _unit_rows(result, rows: int) -> None:
    assert isinstance(result, torch.Tensor) and result.shape[0] == rows
    assert torch.isfinite(result).all()
    norms = torch.linalg.vector_norm(result.double(), dim=1)
    assert ((norms - 1).abs() < 1e-4).all() or (norms == 0).all(), norms


@FUZZ
@given(pos=point_arrays(), neg=point_arrays(), L=gaps, weights=st.one_of(st.none(), point_arrays(4, 1)))
def test_make_plates_is_valid_or_a_value_error(pos, neg, L, weights):
    def check(plates):
        assert plates.pos.shape[1] == plates.neg.shape[1] and 0 < plates.L < float("inf")
        for w in (plates.pos_weights, plates.neg_weights):
            assert torch.isfinite(w).all() and (w >= 0).all() and abs(float(w.sum()) - 1) < 1e-5

    clear_or_correct(lambda: make_plates(pos, neg, L, pos_weights=weights), check)


@FUZZ
@given(points=point_arrays(4, 3), pos=point_arrays(4, 2), L=gaps)
def test_exact_field_is_unit_directions_or_a_value_error(points, pos, L):
    neg = [[0.5] * max(1, len(pos[0]) if isinstance(pos, list) and pos and pos[0] else 1)] * 2
    result = clear_or_correct(lambda: exact_field(points, pos, neg, L))
    if result is not None:
        rows = len(points) if isinstance(points, list) else points.shape[0]
        _unit_rows(result, rows)


@FUZZ
@given(
    L=st.one_of(st.floats(1e-13, 1e3), st.sampled_from([1e-12, 1e150, 1e300])),
    source=st.sampled_from(["n_lines", "per_charge", "charges", "starts"]),
    count=st.one_of(st.integers(-2, 6), st.sampled_from([10**5, 10**9, 2.5, "4", None])),
    max_steps=st.one_of(st.integers(1, 60), st.sampled_from([0, 10**9, -1])),
    scale=st.sampled_from([1.0, 1e-9, 1e6, 1e140]),
)
def test_trace_lines_is_bounded_and_valid_or_a_value_error(L, source, count, max_steps, scale):
    g = torch.Generator().manual_seed(0)
    pos, neg = scale * torch.randn(5, 1, generator=g, dtype=torch.float64), scale * torch.randn(5, 1, generator=g, dtype=torch.float64)
    plates = clear_or_correct(lambda: make_plates(pos, neg, L))
    if plates is None:
        return
    value = {"charges": [count] * 3 if count is not None else None, "starts": [[0.1, float(L) / 2]] * 3}.get(source, count)

    def check(tr):
        assert set(tr.case.tolist()) <= set(range(len(CASES)))
        assert torch.isfinite(tr.end).all() and torch.isfinite(tr.start).all()

    clear_or_correct(lambda: trace_lines(plates, **{source: value}, max_steps=max_steps, tol=1e-3), check)
