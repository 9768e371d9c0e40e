"""app/compute/ (exact, dimensions): the adapters the pages call, checked against efm_core directly and against exact identities."""

import math

import numpy as np
import pytest
import torch

from app.compute import dimensions, exact
from efm_core import exact_field, plate_field_at


@pytest.fixture(scope="module")
def scene():
    return exact.scene_charges(2, "gaussian", "two_gaussians", 48, 0, None, None)


def test_scene_charges_toys_custom_and_merged_duplicates():
    s = exact.scene_charges(2, "single_point", "gaussian", 5, 0, None, None)
    assert s.pos.shape == (1, 2) and s.pos_w.tolist() == [1.0]  # five charges at one point become one
    custom = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 3.0]])
    s = exact.scene_charges(2, "gaussian", "gaussian", 5, 0, custom, None)
    np.testing.assert_array_equal(s.pos, custom[:, :2])
    np.testing.assert_allclose(s.pos_w, [0.25, 0.75])
    assert s.neg.shape == (5, 2) and math.isclose(s.neg_w.sum(), 1.0)
    assert s.key != exact.scene_charges(2, "gaussian", "gaussian", 5, 1, custom, None).key


def test_probe_is_the_sum_of_both_plates_and_matches_exact_field(scene):
    point = (0.3, -0.2, 2.5)
    pr = exact.probe(scene, 6.0, point)
    np.testing.assert_allclose(pr.E, pr.E_pos + pr.E_neg, rtol=1e-12, atol=1e-15)
    direction = exact_field(torch.tensor([point], dtype=torch.float64), scene.pos, scene.neg, 6.0, pos_weights=scene.pos_w, neg_weights=scene.neg_w)
    np.testing.assert_allclose(pr.E / np.linalg.norm(pr.E), direction[0].numpy(), atol=1e-12)
    assert pr.log10_norm == pytest.approx(math.log10(np.linalg.norm(pr.E)), abs=1e-12)
    assert pr.E_pos[-1] > 0 and pr.E_neg[-1] > 0  # between the plates P pushes and Q pulls towards +z


def test_field_slice_values_and_unit_directions(scene):
    sl = exact.field_slice(scene, 6.0, 0.5, (-2.0, 8.0), (-5.0, 5.0), n=9)
    assert sl.log10_norm.shape == (9, 9) and sl.direction.shape == (9, 9, 2)
    np.testing.assert_allclose(np.linalg.norm(sl.direction, axis=2), 1.0, atol=1e-9)
    i, j = 3, 5  # row = x1 index, column = z index
    ref = plate_field_at(torch.tensor([[sl.x[i], 0.5, sl.z[j]]], dtype=torch.float64), scene.plates(6.0))
    assert sl.log10_norm[i, j] == pytest.approx(float(ref.log_norm[0]) / math.log(10), abs=1e-5)  # float32 picture


def test_field_lines_forward_starts_leave_towards_q(scene):
    lines = exact.field_lines(scene, 6.0, 12, 0, "forward")
    assert len(lines.paths) == 12 and len(lines.cases) == 12
    assert all(p[1, -1] >= p[0, -1] - 1e-6 for p in lines.paths)
    both = exact.field_lines(scene, 6.0, 12, 0, "both")
    assert any(p[1, -1] < p[0, -1] for p in both.paths)  # some two-sided starts leave backwards
    assert set(both.cases) <= set(exact.CASES)
    with pytest.raises(ValueError):
        exact.field_lines(scene, 6.0, 4, 0, "sideways")


def test_case_examples_and_single_line_decisions_agree(scene):
    examples = exact.case_examples(scene, 6.0, "gaussian", n_candidates=24)
    for case in ("front", "behind"):
        start = examples[case]
        assert start is not None
        line = exact.single_line(scene, 6.0, start)
        assert line.cases["forward"] == case
        d = line.decision["forward"]
        assert d is not None and d.front > 0  # the forward line arrives from the front
        assert (d.front * d.behind <= 0) == (case == "front")  # opposite signs: stop; same sign: pass through
        assert d.behind == pytest.approx(d.behind_pos + d.behind_neg, rel=1e-9, abs=1e-15)
        assert 0.0 <= line.forward_flux <= 1.0
        s = line.s["forward"]
        assert s[0] == 0 and np.all(np.diff(s) >= 0)
    back = exact.single_line(scene, 6.0, examples["backward"])
    assert back.cases["backward"] == "backward" and back.paths["backward"][1, -1] < 0
    assert back.decision["backward"] is not None  # it loops round and meets Q


def test_landings_two_sided_vs_forward_only(scene):
    land = exact.landings(scene, 6.0, 64, 0)
    assert set(land.ends) == {"two-sided", "forward-only"}
    assert land.cases["forward-only"].count("backward") < land.cases["two-sided"].count("backward")
    for name, ends in land.ends.items():
        assert ends.shape[1] == 2 and np.isfinite(land.distance[name])


def test_two_sided_lines_land_on_q_and_forward_only_do_not():
    # Theorem 3.1 / Gauss's law: lines leaving P's charges in uniform directions end on Q's charges in proportion to
    # their charge; dropping the backward half distorts that (L = 6, Gaussian -> two Gaussians)
    s = exact.scene_charges(2, "gaussian", "two_gaussians", 128, 0, None, None)
    land = exact.landings(s, 6.0, 384, 0)
    assert abs(land.distance["two-sided"]) < 0.05 < 0.08 < land.distance["forward-only"]


def test_landing_distance_is_zero_on_average_for_draws_from_q():
    s = exact.scene_charges(2, "gaussian", "two_gaussians", 64, 0, None, None)
    rng = np.random.default_rng(0)
    draws = [exact.landing_distance(s, s.neg[rng.choice(64, size=40, p=s.neg_w)]) for _ in range(200)]
    assert abs(np.mean(draws)) < 3 * np.std(draws) / np.sqrt(len(draws))
    shifted = exact.landing_distance(s, s.neg + np.array([6.0, 0.0]))
    assert shifted > 5 * np.std(draws)


def test_training_cloud_lies_between_the_plates(scene):
    cloud = exact.training_cloud(scene, 6.0, 0.5, 200, 0)
    assert cloud.shape == (200, 3) and np.all((cloud[:, -1] >= 0) & (cloud[:, -1] <= 6.0))


def test_dimension_stats_show_collapse_and_underflow():
    dims = (2, 16, 64, 3072)
    st_ = dimensions.dimension_stats(dims, 32, 4.0, 6.0, n_query=16)
    share = st_.top_share[:, 1]
    assert share[0] < 0.3 < 0.95 < share[-1]
    assert st_.f32_broken[0] == 0 and st_.f32_broken[2] == 1 and st_.f64_broken[-1] == 1 and st_.f64_broken[0] == 0
    assert np.all(st_.log10_w_max >= st_.log10_w_min) and st_.log10_w_max[-1] < -300
    assert st_.cos_nearest[-1, 1] > 0.99


def test_field_lines_at_d1_reach_q():
    # D = 1 with close charges: float32 alone declares many lines lost next to a charge; the page's lines reach Q
    s1 = exact.scene_charges(1, "gaussian", "two_gaussians", 64, 0, None, None)
    lines = exact.field_lines(s1, 6.0, 8, 0, "both")
    assert lines.cases.count("lost") <= 1
