"""Theorem 3.1 along exact field lines: the flux-weighted two-sided map T carries fresh samples of P onto Q's charges,
the forward-only map does not; the flux split at the plate in closed-form limits; transport_exact's contract."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from efm_core import CASES, make_plates, sample_toy, transport_exact, transport_trace
from efm_core.metrics import energy_distance
from efm_core.theorem import default_delta, forward_probability

FRONT, BEHIND, BACKWARD, LOST = (CASES.index(c) for c in ("front", "behind", "backward", "lost"))
NORMAL = torch.distributions.Normal(0.0, 1.0)


def _plates_1d(n: int = 512):
    """P = N(0, 1), Q = 1/2 N(-3, 0.5^2) + 1/2 N(3, 0.5^2), n charges each at the quantiles (i + 1/2) / n.

    Quantile charges make the empirical plates match P and Q closely, so fresh samples of P must land like Q's
    charges; with random charges T maps onto the empirical Q_M, and a 53/47 split of a random P sample shows up.
    """
    p = NORMAL.icdf((torch.arange(n, dtype=torch.float64) + 0.5) / n)
    h = NORMAL.icdf((torch.arange(n // 2, dtype=torch.float64) + 0.5) / (n // 2))
    return make_plates(p[:, None], torch.cat([-3 + 0.5 * h, 3 + 0.5 * h])[:, None], 6.0)


def _plates_2d(n: int = 512):
    """P = N(0, I), Q = 1/2 N((-8, 0), I) + 1/2 N((8, 0), I), n charges each from scrambled Sobol points."""
    u = torch.quasirandom.SobolEngine(2, scramble=True, seed=0).draw(n, dtype=torch.float64)
    v = torch.quasirandom.SobolEngine(3, scramble=True, seed=1).draw(n, dtype=torch.float64)
    q = NORMAL.icdf(v[:, :2].clamp(1e-12, 1 - 1e-12))
    q[:, 0] += torch.where(v[:, 2] < 0.5, -8.0, 8.0)
    return make_plates(NORMAL.icdf(u.clamp(1e-12, 1 - 1e-12)), q, 6.0)


def _bootstrap_floor(charges: torch.Tensor, n: int, repeats: int = 20) -> float:
    """Mean energy distance between n charges drawn with replacement and all the charges: a perfect map's score."""
    g = torch.Generator().manual_seed(0)
    draws = [
        energy_distance(charges[torch.randint(0, len(charges), (n,), generator=g)], charges) for _ in range(repeats)
    ]
    return sum(draws) / repeats


def _check_theorem(plates, n_starts: int) -> None:
    D = plates.D
    x = torch.randn(n_starts, D, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    result = {}
    for sides in ("both", "forward"):
        tr = transport_trace(plates, x, sides=sides, tol=1e-4, seed=1)
        ended = tr.case != LOST
        assert float(ended.double().mean()) > 0.98, sides
        assert (tr.end[ended, -1] == plates.L).all()  # every line ends on the Q plate
        ends = tr.end[ended, :D]
        result[sides] = (tr, energy_distance(ends, plates.neg), stats.ks_2samp(ends[:, 0], plates.neg[:, 0]).pvalue)
    floor = _bootstrap_floor(plates.neg, n_starts)
    (two, ed_two, ks_two), (fwd, ed_fwd, ks_fwd) = result["both"], result["forward"]
    assert ed_two <= 3 * floor, (ed_two, floor)
    assert ks_two >= 0.01
    assert ed_fwd >= 5 * max(ed_two, floor), (ed_fwd, ed_two, floor)
    assert ks_fwd < 1e-3
    # the flux that forward-only ignores is large, and two-sided lines show all three cases
    assert float((two.start[:, -1] < 0).double().mean()) > 0.25
    assert {FRONT, BEHIND, BACKWARD} <= set(two.case.tolist())
    assert (fwd.start[:, -1] > 0).all()


@pytest.mark.slow
def test_theorem_3_1_in_d1() -> None:
    _check_theorem(_plates_1d(), 1024)


@pytest.mark.slow
def test_theorem_3_1_in_d2() -> None:
    _check_theorem(_plates_2d(), 512)


def test_flux_split_in_closed_form_limits() -> None:
    """Far from Q (L = 1000) a uniform P plate of density sigma sends E = sigma / 2 each way, and Q's pull
    1 / (2 pi L) (D = 1) tips it: forward share 1/2 + 1 / (2 pi L sigma). Close to a wide Q (a capacitor) almost all
    flux leaves forwards."""
    grid = torch.linspace(-10, 10, 201, dtype=torch.float64)[:, None]
    sigma = (1 / 201) / 0.1
    x = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    far = forward_probability(make_plates(grid, grid, 1000.0), x, 0.25)
    torch.testing.assert_close(far, torch.full_like(far, 0.5 + 1 / (2 * math.pi * 1000.0 * sigma)), atol=2e-4, rtol=0)
    near = forward_probability(make_plates(grid, grid, 0.5), torch.tensor([[0.0], [9.9]], dtype=torch.float64), 0.25)
    assert near[0] > 0.95 and near[1] < near[0]
    grid2 = torch.cartesian_prod(torch.linspace(-10, 10, 41), torch.linspace(-10, 10, 41)).double()
    far2 = forward_probability(make_plates(grid2, grid2, 1000.0), torch.zeros(1, 2, dtype=torch.float64), 0.25)
    assert abs(float(far2[0]) - 0.5) < 1e-4


def _small_problem():
    pos = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    neg = 0.5 * torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 3.0
    starts = torch.randn(12, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    return starts, pos, neg


def test_transport_exact_contract() -> None:
    starts, pos, neg = _small_problem()
    ends, cases = transport_exact(starts, pos, neg, 2.0, seed=3)
    assert ends.shape == (12, 2) and ends.dtype == torch.float64 and torch.isfinite(ends).all()
    assert cases.shape == (12,) and cases.dtype == torch.int64 and ((cases >= 0) & (cases < 4)).all()
    again, cases_again = transport_exact(starts, pos, neg, 2.0, seed=3)
    assert torch.equal(ends, again) and torch.equal(cases, cases_again)
    trace = transport_trace(make_plates(pos, neg, 2.0), starts, seed=3)
    torch.testing.assert_close(trace.end[:, :2], ends)  # the richer variant is the same map
    ended = cases != LOST
    captured = ended & (trace.end_charge >= 0)
    assert int(captured.sum()) >= 6
    assert torch.equal(ends[captured], neg[trace.end_charge[captured]])  # captured lines end exactly on their charge
    f32, _ = transport_exact(starts, pos, neg, 2.0, seed=3, dtype=torch.float32, tol=1e-3)
    assert f32.dtype == torch.float32 and torch.isfinite(f32).all()
    weighted, _ = transport_exact(starts, pos, neg, 2.0, neg_weights=torch.linspace(0, 1, 32))
    assert torch.isfinite(weighted).all()


def test_sides_and_seeds() -> None:
    starts, pos, neg = _small_problem()
    plates = make_plates(pos, neg, 2.0)
    fwd = transport_trace(plates, starts, sides="forward", delta=0.1)
    torch.testing.assert_close(fwd.start[:, -1], torch.full((12,), 0.1, dtype=torch.float64))
    heights = torch.stack(
        [transport_trace(plates, starts, delta=0.1, seed=s, max_steps=1).start[:, -1] for s in range(4)]
    )
    assert ((heights == 0.1) | (heights == -0.1)).all()
    assert (heights > 0).any() and (heights < 0).any()
    assert not all(torch.equal(heights[0], h) for h in heights[1:])  # the side is drawn with the seed
    paths = transport_trace(plates, starts[:3], return_paths=True, max_path_points=20).paths
    assert paths is not None and len(paths) == 3 and all(2 <= len(p) <= 20 for p in paths)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"starts": [[0.0, 0.0, 0.0]]}, "coordinates"),
        ({"starts": [[float("nan"), 0.0]]}, "NaN"),
        ({"starts": torch.zeros(0, 2)}, "empty"),
        ({"sides": "backward"}, "sides"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 5.0}, "delta"),
        ({"L": -1.0}, "L must"),
        ({"neg": [[0.0, 0.0, 1.0]]}, "coordinates"),
        ({"tol": 0.0}, "tol"),
        ({"dtype": torch.int64}, "dtype"),
        ({"seed": 1.5}, "seed"),
        ({"max_steps": 0}, "max_steps"),
        ({"pos_weights": [1.0, -1.0]}, "non-negative"),
    ],
)
def test_transport_exact_rejects_bad_input(change: dict, match: str) -> None:
    args = {"starts": [[0.0, 0.0]], "pos": [[0.0, 0.0], [1.0, 0.0]], "neg": [[0.0, 1.0]], "L": 2.0}
    args.update(change)
    with pytest.raises(ValueError, match=match):
        transport_exact(**args)


def test_default_delta_is_the_one_transport_uses():
    plates = make_plates(sample_toy("gaussian", 64, 2, seed=3), sample_toy("two_gaussians", 64, 2, seed=4), 6.0)
    trace = transport_trace(plates, sample_toy("gaussian", 8, 2, seed=5), sides="both", seed=0)
    delta = default_delta(plates)
    assert 0 < delta <= 6.0 / 4
    torch.testing.assert_close(trace.start[:, -1].abs(), torch.full((8,), delta, dtype=trace.start.dtype))
    coincident = make_plates(torch.zeros(5, 2, dtype=torch.float64), torch.zeros(5, 2, dtype=torch.float64), 8.0)
    assert default_delta(coincident) == 2.0  # a quarter of L when every charge of both plates coincides
