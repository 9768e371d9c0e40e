"""The field-line tracer: exact dipole invariants, Gauss's law for lines, Theorem 3.1's cases, the plate rule, no NaN
for odd inputs, bounded work, paths, seeds and argument validation."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from efm_core import CASES, lines, make_plates, plate_field_at, sample_toy, trace_lines

FRONT, BEHIND, BACKWARD, LOST = (CASES.index(c) for c in ("front", "behind", "backward", "lost"))


def _angles_to_directions(theta: torch.Tensor, D: int) -> torch.Tensor:
    """Unit vectors at polar angle theta from +z (D = 1: in the (x, z) plane; D = 2: azimuth 0.7 + theta)."""
    if D == 1:
        return torch.stack([torch.sin(theta), torch.cos(theta)], 1)
    phi = 0.7 + theta
    return torch.stack([torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)], 1)


@pytest.mark.parametrize("D", [1, 2])
def test_dipole_lines_keep_their_exact_invariant(D: int) -> None:
    """One charge on each plate: every line ends on the negative charge, along a known curve.

    D = 1 (R^2, potential log r): lines are circles through both charges, so arg((p - A) / (p - B)) is constant.
    D = 2 (R^3): the flux through a cap, cos(angle at B) - cos(angle at A) (angles from +z), is constant, and a line
    stays in the plane of the axis and its start direction (constant azimuth).
    """
    L, tol = 1.5, 1e-6
    plates = make_plates(torch.zeros(1, D, dtype=torch.float64), torch.zeros(1, D, dtype=torch.float64), L)
    theta = torch.linspace(0.05, 2.8, 16, dtype=torch.float64)
    u = _angles_to_directions(theta, D)
    tr = trace_lines(plates, charges=[0] * 16, directions=u, tol=tol, return_paths=True, max_path_points=10**6)
    assert (tr.end_charge == 0).all()
    torch.testing.assert_close(tr.end, torch.tensor([[0.0] * D + [L]], dtype=torch.float64).expand(16, -1))
    worst = 0.0
    for path, t in zip(tr.paths, theta, strict=True):
        p = path[:-1]  # the last point is the charge itself
        a, b = p.clone(), p.clone()
        b[:, -1] -= L
        if D == 1:
            ratio = torch.complex(a[:, 0], a[:, 1]) / torch.complex(b[:, 0], b[:, 1])
            drift = (ratio / ratio[0]).angle().abs()
        else:
            inv = b[:, -1] / b.norm(dim=1) - a[:, -1] / a.norm(dim=1)
            drift = (inv - (-1.0 - torch.cos(t))).abs()  # start: angle t at A, angle pi at B
            azimuth = torch.atan2(p[:, 1], p[:, 0]) - (0.7 + t)
            assert torch.sin(azimuth).abs().max() < 1e-9
        worst = max(worst, float(drift.max()))
    assert worst < 20 * tol, f"invariant drifted by {worst:.2e}"
    # backward lines (leaving into z < 0) are labelled so, forward ones that stay between the plates are front
    assert (tr.case[theta > math.pi / 2 + 0.1] == BACKWARD).all()
    assert (tr.case[theta < math.pi / 2 - 0.1] == FRONT).all()


def _gauss_plates(D: int):
    pos = sample_toy("gaussian", 64, D, seed=0)
    neg = 2.0 * sample_toy("gaussian", 64, D, seed=1)
    weights = 0.5 + torch.rand(64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return make_plates(pos, neg, 2.0, neg_weights=weights)


@pytest.mark.parametrize("D", [1, 2])
def test_gauss_law_for_lines(D: int) -> None:
    """Lines started uniformly in direction from every positive charge (spread by charge) end on the negative charges
    in proportion to their charges: chi-square test of the end counts. The test has power: the lines that left
    forwards only, or the right counts against the wrong (equal) charges, are rejected."""
    plates = _gauss_plates(D)
    n = 1024
    tr = trace_lines(plates, n_lines=n, tol=1e-4, seed=1)
    lost = tr.case == LOST
    assert float(lost.double().mean()) < 0.01
    assert ((tr.end_charge >= 0) | lost).all()
    assert math.isclose(float(tr.flux.sum()), 1.0, rel_tol=1e-12)
    ended = tr.end_charge[~lost]

    def p_value(end_charge: torch.Tensor, weights: torch.Tensor) -> float:
        counts = torch.bincount(end_charge, minlength=64).double()
        return float(stats.chisquare(counts.numpy(), (weights / weights.sum() * counts.sum()).numpy()).pvalue)

    assert p_value(ended, plates.neg_weights) > 0.01
    forward = (tr.start[:, -1] > 0) & ~lost  # started with u_z > 0
    assert int(forward.sum()) > 400
    assert p_value(tr.end_charge[forward], plates.neg_weights) < 1e-6
    assert p_value(ended, torch.ones(64, dtype=torch.float64)) < 1e-6


def test_lines_spread_over_charges_by_weight() -> None:
    pos = sample_toy("gaussian", 5, 2, seed=0)
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 10.0], dtype=torch.float64)
    plates = make_plates(pos, pos + 1.0, 1.0, pos_weights=w)
    tr = trace_lines(plates, n_lines=40, tol=1e-3, max_steps=1)
    counts = torch.bincount(tr.start_charge, minlength=5)
    assert counts.tolist() == [2, 4, 6, 8, 20]
    d = torch.linalg.vector_norm(
        tr.start - torch.cat([pos, torch.zeros(5, 1, dtype=torch.float64)], 1)[tr.start_charge], dim=1
    )
    torch.testing.assert_close(d, torch.full_like(d, d[0].item()))  # all rho off their charge
    per = trace_lines(plates, per_charge=3, tol=1e-3, max_steps=1)
    assert per.start_charge.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    torch.testing.assert_close(per.flux, (w / w.sum()).repeat_interleave(3) / 3)


def _gap_plates():
    """P: 16 charges on [-0.5, 0.5]; Q: 8 charges on [-3, -1] and 8 on [1, 3], L = 1: a gap in Q above P's middle."""
    pos = torch.linspace(-0.5, 0.5, 16, dtype=torch.float64)[:, None]
    neg = torch.cat([torch.linspace(-3, -1, 8), torch.linspace(1, 3, 8)]).double()[:, None]
    return make_plates(pos, neg, 1.0)


def test_each_case_occurs_where_built() -> None:
    """front: a line aimed at Q's charges; behind: up through the gap and back onto Q from above; backward: down."""
    plates = _gap_plates()
    deg = torch.tensor([60.0, 5.0, 150.0], dtype=torch.float64) * math.pi / 180
    tr = trace_lines(plates, charges=[15, 8, 8], directions=_angles_to_directions(deg, 1), tol=1e-6)
    assert tr.case.tolist() == [FRONT, BEHIND, BACKWARD]
    assert (tr.end_charge >= 8).all()  # all three end on the right half of Q
    assert tr.side.tolist() == [-1, 1, 1]  # behind and backward lines arrive at their charge from above
    assert tr.crossed.tolist() == [False, True, True]
    assert abs(float(tr.crossing[1, 0])) < 1.0  # the behind line passes up through the gap


def test_plate_rule_stops_or_continues() -> None:
    """With the plate rule, the line through the gap goes on where E_z just behind the plate is > 0 (small delta) and
    stops at its first crossing where it is <= 0 (delta = 5 probes far above, where Q's pull wins)."""
    plates = _gap_plates()
    u = _angles_to_directions(torch.tensor([5.0 * math.pi / 180], dtype=torch.float64), 1)
    through = trace_lines(plates, charges=[8], directions=u, tol=1e-6, plate_delta=0.01)
    stopped = trace_lines(plates, charges=[8], directions=u, tol=1e-6, plate_delta=5.0)
    assert through.case.tolist() == [BEHIND] and through.end_charge.item() >= 8
    assert stopped.case.tolist() == [FRONT] and stopped.end_charge.item() == -1 and stopped.side.item() == -1
    torch.testing.assert_close(stopped.end, stopped.crossing)
    assert stopped.end[0, -1].item() == 1.0
    torch.testing.assert_close(stopped.crossing, through.crossing, atol=1e-5, rtol=0)  # same line up to there
    for delta, expect_up in ((0.01, True), (5.0, False)):
        probe = stopped.crossing.clone()
        probe[:, -1] += delta
        assert (plate_field_at(probe, plates).direction[0, -1].item() > 0) == expect_up


def test_plate_rule_holds_at_every_plate_stop() -> None:
    """Every line the plate rule stopped ends on z = L with E_z(L + delta) <= 0 (from the front) or E_z(L - delta) >= 0
    (from behind); every other ended line ends on a negative charge."""
    plates = make_plates(sample_toy("gaussian", 48, 2, seed=0), sample_toy("two_moons", 48, 2, seed=1), 3.0)
    delta = 0.3
    tr = trace_lines(plates, n_lines=256, tol=1e-4, plate_delta=delta)
    stop = (tr.end_charge < 0) & (tr.case != LOST)
    assert int(stop.sum()) >= 5  # the rule does stop some lines here
    assert (tr.end[stop, -1] == plates.L).all()
    probe = tr.end[stop].clone()
    probe[:, -1] -= delta * tr.side[stop].double()  # front (-1): L + delta; behind (+1): L - delta
    ez = plate_field_at(probe, plates).direction[:, -1]
    assert ((tr.side[stop] == -1) & (ez <= 0) | (tr.side[stop] == 1) & (ez >= 0)).all()


ODD = {
    "single charges": ([[0.0, 0.0]], [[0.5, 0.0]], 1.0),
    "coincident charges": ([[0.0, 0.0]] * 5, [[0.5, 0.0]] * 3 + [[1.0, 0.0]], 1.0),
    "huge L": ([[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [2.0, 0.0]], 1e4),
    "tiny L": ([[0.0, 0.0], [1.0, 0.0]], [[0.5, 0.0], [2.0, 0.0]], 1e-5),
    "far apart": ([[0.0, 0.0]], [[1e3, 0.0]], 1.0),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(ODD))
def test_no_nan_for_odd_inputs(name: str, dtype: torch.dtype) -> None:
    pos, neg, L = ODD[name]
    plates = make_plates(pos, neg, L)
    starts = torch.tensor(
        [[0.0, 0.0, 0.0], [0.25, 0.1, 0.5 * L], [0.5, 0.0, L], [3.0, -2.0, -1.0]], dtype=torch.float64
    )
    for tr in (
        trace_lines(plates, n_lines=32, tol=1e-4, dtype=dtype, return_paths=True, max_steps=400),
        trace_lines(
            plates, starts=starts, tol=1e-4, dtype=dtype, plate_delta=0.1 * L, return_paths=True, max_steps=400
        ),
    ):
        for field in ("start", "end", "crossing", "length", "flux"):
            value = getattr(tr, field)
            assert value.dtype == dtype and torch.isfinite(value).all(), field
        assert all(torch.isfinite(p).all() for p in tr.paths)
        assert ((tr.case >= 0) & (tr.case < len(CASES))).all()
        assert ((tr.end_charge >= -1) & (tr.end_charge < len(neg))).all()
        assert (tr.steps <= 400).all()
    if dtype == torch.float64 and name != "far apart":
        assert (trace_lines(plates, n_lines=32, tol=1e-4).case == LOST).double().mean() < 0.1


def test_work_is_bounded_and_counted() -> None:
    plates = _gauss_plates(2)
    tr = trace_lines(plates, n_lines=16, tol=1e-6, max_steps=3)
    assert (tr.steps <= 3).all() and (tr.case == LOST).all() and (tr.side == 0).all()
    assert (tr.evals <= 1 + 3 * 7).all() and (tr.evals >= 1 + 3 * 6).all()


def test_paths_run_from_start_to_end() -> None:
    plates = _gauss_plates(2)
    tr = trace_lines(plates, n_lines=24, tol=1e-4, return_paths=True, max_path_points=12)
    assert trace_lines(plates, n_lines=2, tol=1e-4).paths is None
    assert len(tr.paths) == 24
    for k, path in enumerate(tr.paths):
        assert 2 <= path.shape[0] <= 12 and path.shape[1] == 3
        torch.testing.assert_close(path[0], tr.start[k])
        torch.testing.assert_close(path[-1], tr.end[k])
        assert float(torch.linalg.vector_norm(path[1:] - path[:-1], dim=1).sum()) <= float(tr.length[k]) + 1e-9


def test_tolerance_and_float32_keep_the_end_charges() -> None:
    plates = _gauss_plates(2)
    ref = trace_lines(plates, n_lines=64, tol=1e-6, seed=4)
    for kw in ({"tol": 1e-4}, {"tol": 1e-4, "dtype": torch.float32}):
        tr = trace_lines(plates, n_lines=64, seed=4, **kw)
        assert float((tr.end_charge == ref.end_charge).double().mean()) >= 0.95, kw
    assert ref.evals.double().mean() > 1.5 * tr.evals.double().mean()


def test_float32_resolves_dense_charges_in_d1() -> None:
    """512 charges a plate at D = 1: the spacing (~3e-3) is ~1e-4 of the coordinates, so rho = 1e-3 x spacing lies below
    float32 resolution and lines could never be captured; with rho floored at 64 float32 epsilons they end like the
    float64 lines."""
    plates = make_plates(sample_toy("gaussian", 512, 1, seed=0), sample_toy("two_gaussians", 512, 1, seed=1), 6.0)
    ref = trace_lines(plates, n_lines=128, tol=1e-4, seed=3)
    tr = trace_lines(plates, n_lines=128, tol=1e-4, seed=3, dtype=torch.float32)
    assert int((tr.case == LOST).sum()) <= int((ref.case == LOST).sum()) + 1
    assert float((tr.end_charge == ref.end_charge).double().mean()) >= 0.9
    assert float((tr.case == ref.case).double().mean()) >= 0.95


def test_seed_reproduces_and_changes_directions() -> None:
    plates = _gauss_plates(1)
    a = trace_lines(plates, n_lines=8, tol=1e-3, seed=7)
    b = trace_lines(plates, n_lines=8, tol=1e-3, seed=7)
    c = trace_lines(plates, n_lines=8, tol=1e-3, seed=8, max_steps=1)
    assert torch.equal(a.end, b.end) and torch.equal(a.case, b.case)
    assert not torch.equal(a.start, c.start)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"n_lines": 4, "per_charge": 2}, "exactly one"),
        ({"n_lines": 0}, "n_lines"),
        ({"n_lines": 2.5}, "n_lines"),
        ({"per_charge": -1}, "per_charge"),
        ({"charges": [0, 99]}, "index"),
        ({"charges": [0.5]}, "integer"),
        ({"charges": []}, "integer"),
        ({"starts": [[0.0, 1.0]]}, "coordinates"),
        ({"starts": [[0.0, float("nan"), 1.0]]}, "NaN"),
        ({"starts": [[0.0, 0.0, 1.0]], "directions": [[0.0, 0.0, 1.0]]}, "directions"),
        ({"n_lines": 2, "directions": [[0.0, 0.0, 1.0]]}, "one direction per line"),
        ({"n_lines": 1, "directions": [[0.0, 0.0, 0.0]]}, "zero vector"),
        ({"n_lines": 1, "tol": 0.0}, "tol"),
        ({"n_lines": 1, "tol": 2.0}, "tol"),
        ({"n_lines": 1, "dtype": torch.float16}, "dtype"),
        ({"n_lines": 1, "max_steps": 0}, "max_steps"),
        ({"n_lines": 1, "max_path_points": 1}, "max_path_points"),
        ({"n_lines": 1, "plate_delta": -0.1}, "plate_delta"),
        ({"n_lines": 1, "seed": "x"}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, match: str) -> None:
    plates = make_plates([[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0]], 1.0)
    with pytest.raises(ValueError, match=match):
        trace_lines(plates, **kwargs)


def test_plates_must_be_validated() -> None:
    with pytest.raises(ValueError, match="make_plates"):
        trace_lines(([[0.0]], [[0.0]], 1.0), n_lines=1)  # type: ignore[arg-type]


def test_trace_robust_traces_the_lines_float32_loses_again_in_float64(monkeypatch):
    """Lines float32 reports lost are traced again in float64 from the same start (forced here on lines 1 and 3):
    their ends and paths are float64's; the others keep float32's results."""
    pos = sample_toy("gaussian", 48, D=2, seed=0)
    plates = make_plates(pos, sample_toy("two_gaussians", 48, D=2, seed=1), 6.0)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 48, (5,), generator=g)
    u = torch.randn(5, 3, generator=g, dtype=torch.float64)
    real = lines.trace_lines

    def flaky(plates, **kw):
        out = real(plates, **kw)
        if kw["dtype"] == torch.float32:
            case = out.case.clone()
            case[[1, 3]] = lines.LOST
            out = out._replace(case=case)
        return out

    monkeypatch.setattr(lines, "trace_lines", flaky)
    robust = lines.trace_robust(plates, charges=idx, directions=u, return_paths=True, tol=1e-3)
    ref = real(plates, charges=idx, directions=u, dtype=torch.float64, tol=1e-3, return_paths=True)
    first = real(plates, charges=idx, directions=u, dtype=torch.float32, tol=1e-3, return_paths=True)
    assert lines.LOST not in robust.case.tolist() and robust.end.dtype == torch.float32
    assert torch.equal(robust.end_charge, ref.end_charge)
    for i in (1, 3):
        assert torch.equal(robust.paths[i], ref.paths[i])
    for i in (0, 2, 4):
        assert torch.equal(robust.paths[i], first.paths[i]) and torch.equal(robust.end[i], first.end[i])
    with pytest.raises(ValueError, match="starts, or charges with directions"):
        lines.trace_robust(plates, n_lines=4)
