"""Shared pieces of the fuzz suites (tests/test_fuzz_*.py): hostile values, and the rule every call must obey."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# every example is time-bounded by the deadline (generous: the machine may be shared), few examples, so that the
# suites stay well under a minute on one free core
FUZZ = settings(max_examples=30, deadline=15000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HUGE_FLOATS = [1e308, -1e308, 1e160, 1e150, 1e16, 3e38, 1e-308, 5e-324, 1e-12, math.inf, -math.inf, math.nan, 0.0, -0.0]
HUGE_INTS = [10**6, 10**9, 2**31, 2**63, 10**30, -(10**30), -1, 0]

floats = st.one_of(st.floats(-10, 10), st.sampled_from(HUGE_FLOATS))
ints = st.one_of(st.integers(-3, 40), st.sampled_from(HUGE_INTS))
odd_scalars = st.one_of(floats, ints, st.complex_numbers(max_magnitude=10), st.none(), st.booleans(), st.text(max_size=4))


def point_arrays(max_rows: int = 6, max_cols: int = 3) -> st.SearchStrategy:
    """Array-likes as a user might pass them: nested lists, numpy arrays of odd dtypes, tensors that are meta,
    require grad, are complex or integer."""
    shape = st.tuples(st.integers(0, max_rows), st.integers(0, max_cols))

    def build(draw_shape: tuple[int, int], fill: list, kind: str) -> object:
        n, d = draw_shape
        values = (fill * (n * d + 1))[: n * d]
        if kind == "list":
            return [values[i * d : (i + 1) * d] for i in range(n)]
        array = np.array(values, dtype=object).reshape(n, d) if values else np.zeros((n, d))
        if kind == "object":
            return array
        try:
            numeric = array.astype(np.complex128 if kind == "complex" else np.float64)
        except (TypeError, ValueError):
            return array
        if kind in ("numpy", "complex"):
            return numeric
        t = torch.from_numpy(numeric.real.copy() if np.iscomplexobj(numeric) else numeric)
        if kind == "meta":
            return t.to("meta")
        if kind == "grad":
            return t.requires_grad_()
        if kind == "float32":
            return t.float()
        return t.long() if np.isfinite(numeric).all() and kind == "int" else t

    return st.builds(
        build, shape, st.lists(odd_scalars | floats | floats, min_size=1, max_size=8),
        st.sampled_from(["list", "numpy", "object", "complex", "tensor", "meta", "grad", "float32", "int"]),
    )


def clear_or_correct(call: Callable[[], object], check: Callable[[object], None] | None = None) -> object | None:
    """Run ``call``: it may raise ValueError (a clear message) or return a result that ``check`` accepts; any other
    exception fails the example. Warnings (RuntimeWarning with a reason) are allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = call()
        except ValueError as err:
            message = str(err)
            assert message and "Traceback" not in message and len(message) < 2000, message
            return None
    if check is not None:
        check(result)
    return result
