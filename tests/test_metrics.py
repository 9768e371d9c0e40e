"""Metrics against closed forms and exact identities; the digits classifier and its feature metrics on real data."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import torch

import efm_core.metrics as metrics
from efm_core.classifier import DEFAULT_PATH, accuracy, classifier_outputs, default_classifier, load_classifier
from efm_core.data import sample_toy
from efm_core.data.images import digits_split, load_coloured_digits, load_digits
from efm_core.metrics import (
    Spread,
    bootstrap,
    class_shares,
    digits_report,
    energy_distance,
    frechet_distance,
    hue_errors,
    knn_precision_recall,
    memorised_share,
    nearest_distances,
    pointcloud_report,
    translation_report,
    two_sample_floor,
    w2_exact,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- W2 --------------------------------------------------------------------------------------------------------------


def test_w2_of_translates_is_the_shift() -> None:
    a = _rng().normal(size=(300, 2))
    shift = np.array([3.0, -4.0])
    b = (a + shift)[_rng(1).permutation(300)]
    assert w2_exact(a, b) == pytest.approx(5.0, rel=1e-12)
    assert w2_exact(torch.from_numpy(a).float(), torch.from_numpy(a)) == pytest.approx(0.0, abs=1e-7)


def test_w2_in_one_dimension_is_the_sorted_matching() -> None:
    a, b = _rng(2).normal(size=500), _rng(3).exponential(size=500)
    expected = math.sqrt(np.mean((np.sort(a) - np.sort(b)) ** 2))
    assert w2_exact(a, b) == pytest.approx(expected, rel=1e-12)
    assert w2_exact(a[:, None], torch.from_numpy(b)[:, None]) == pytest.approx(expected, rel=1e-12)


def test_w2_equals_brute_force_over_permutations() -> None:
    a, b = _rng(4).normal(size=(7, 3)), _rng(5).normal(size=(7, 3))
    best = min(np.mean(np.sum((a - b[list(p)]) ** 2, axis=1)) for p in itertools.permutations(range(7)))
    assert w2_exact(a, b) == pytest.approx(math.sqrt(best), rel=1e-12)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), "same dimension"),
        (np.zeros((2001, 1)), np.zeros((2001, 1)), "at most 2000"),
        (np.array([[0.0], [np.nan]]), np.zeros((2, 1)), "NaN"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "empty"),
    ],
)
def test_w2_rejects_bad_input(a: np.ndarray, b: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        w2_exact(a, b)


def test_w2_by_pot_and_by_scipy_agree() -> None:
    """Equal sizes and uniform weights: POT's network simplex and scipy's assignment find the same optimum."""
    g = np.random.default_rng(3)
    a, b = g.normal(size=(300, 2)), 2 * g.normal(size=(300, 2)) + 0.5
    assert w2_exact(a, b, backend="pot") == pytest.approx(w2_exact(a, b, backend="scipy"), rel=1e-10)


def test_w2_with_weights_and_unequal_sizes() -> None:
    """A point repeated k times is the point with weight k; a cloud against its own weighted merge is 0 apart."""
    g = np.random.default_rng(4)
    a, b = g.normal(size=(40, 2)), g.normal(size=(25, 2))
    counts = g.integers(1, 4, size=25)
    repeated = np.repeat(b, counts, axis=0)
    assert w2_exact(a, b, b_weights=counts) == pytest.approx(w2_exact(a, repeated), rel=1e-9)
    assert w2_exact(repeated, b, b_weights=counts) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="weights"):
        w2_exact(a, b, b_weights=-counts)


def test_w2_falls_back_to_scipy_without_pot(monkeypatch: pytest.MonkeyPatch) -> None:
    g = np.random.default_rng(5)
    a, b = g.normal(size=(50, 2)), g.normal(size=(50, 2))
    expected = w2_exact(a, b, backend="scipy")
    monkeypatch.setattr(metrics, "_pot", lambda: None)
    assert w2_exact(a, b) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="pip install pot"):
        w2_exact(a, b[:40])
    with pytest.raises(ValueError, match="pip install pot"):
        w2_exact(a, b, backend="pot")


# --- energy distance ---------------------------------------------------------------------------------------------------


def test_energy_distance_zero_for_identical_sets() -> None:
    a = _rng(6).normal(size=(400, 2))
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(a, a[::-1].copy()) == pytest.approx(0.0, abs=1e-12)
    assert energy_distance(a, a, unbiased=True) < 0  # the U-statistic is unbiased, not non-negative


def test_energy_distance_in_1d_is_twice_the_squared_cdf_gap() -> None:
    a, b = _rng(7).normal(size=300), _rng(8).normal(1.0, 2.0, size=500)
    assert energy_distance(a, b) == pytest.approx(scipy.stats.energy_distance(a, b) ** 2, rel=1e-10)


def test_energy_distance_unbiased_matches_brute_force() -> None:
    a, b = _rng(9).normal(size=(9, 2)), _rng(10).normal(size=(6, 2))

    def mean_dist(x, y, skip_diag):
        pairs = [np.linalg.norm(p - q) for i, p in enumerate(x) for j, q in enumerate(y) if not (skip_diag and i == j)]
        return np.mean(pairs)

    expected = 2 * mean_dist(a, b, False) - mean_dist(a, a, True) - mean_dist(b, b, True)
    assert energy_distance(a, b, unbiased=True) == pytest.approx(expected, rel=1e-12)


def test_energy_distance_of_shifted_gaussians_matches_population_value() -> None:
    mu = 1.5
    x, y = _rng(11).normal(size=3000), _rng(12).normal(mu, 1.0, size=3000)
    s = math.sqrt(2.0)  # X - Y ~ N(-mu, 2), X - X' ~ N(0, 2)
    e_xy = s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * s**2)) + mu * (1 - 2 * scipy.stats.norm.cdf(-mu / s))
    population = 2 * e_xy - 2 * (2 / math.sqrt(math.pi))
    cdf_gap = scipy.integrate.quad(lambda t: (scipy.stats.norm.cdf(t) - scipy.stats.norm.cdf(t - mu)) ** 2, -12, 14)[0]
    assert population == pytest.approx(2 * cdf_gap, rel=1e-8)  # the two closed forms agree (1.1626)
    assert energy_distance(x, y, unbiased=True) == pytest.approx(population, abs=0.04)


def test_energy_distance_chunked_equals_one_block(monkeypatch) -> None:
    a, b = _rng(13).normal(size=(50, 3)), _rng(14).normal(size=(40, 3))
    whole = energy_distance(a, b)
    monkeypatch.setattr(metrics, "_row_step", lambda m, budget=0: 7)
    assert energy_distance(a, b) == pytest.approx(whole, rel=1e-13)


# --- floors and the point-cloud report -----------------------------------------------------------------------------------


def test_two_sample_floor_from_sampler_and_from_pool() -> None:
    moons = lambda n, seed: sample_toy("two_moons", n, seed=seed)  # noqa: E731
    floor = two_sample_floor(moons, 200, repeats=3, seed=0)
    assert len(floor.values) == 3 and floor.mean > 0
    assert floor.values[0] == pytest.approx(w2_exact(moons(200, 0), moons(200, 1)), rel=1e-12)
    assert two_sample_floor(moons, 200, repeats=3, seed=0) == floor
    shifted = sample_toy("two_moons", 200, seed=7) + torch.tensor([2.0, 0.0], dtype=torch.float64)
    assert w2_exact(shifted, moons(200, 8)) > 2 * floor.mean
    assert two_sample_floor(lambda n, s: np.zeros((n, 2)), 50).mean == 0.0
    pool = two_sample_floor(moons(1000, 5), 200, repeats=3)
    assert pool.mean == pytest.approx(floor.mean, rel=0.3)
    with pytest.raises(ValueError, match="two disjoint samples of 200 need 400"):
        two_sample_floor(moons(300, 0), 200)


def test_pointcloud_report_drops_nonfinite_rows_and_measures_against_floor() -> None:
    target = sample_toy("two_gaussians", 800, seed=1)
    samples = sample_toy("two_gaussians", 400, seed=2).clone()
    samples[:40] = float("nan")
    report = pointcloud_report(samples, target, max_n=300)
    assert report["n"] == 300 and report["nonfinite_share"] == pytest.approx(0.1)
    assert report["w2_floor"] > 0 and report["w2_over_floor"] == pytest.approx(report["w2"] / report["w2_floor"])
    assert report["w2_over_floor"] < 1.5
    assert report["energy"] == pytest.approx(energy_distance(samples[40:], target), rel=1e-12)
    bad = pointcloud_report(sample_toy("gaussian", 300, seed=3), target, max_n=300)
    assert bad["w2_over_floor"] > 3
    assert pointcloud_report(samples, target[:500])["w2_floor"] is None  # too few target points for two disjoint sets
    with pytest.raises(ValueError, match="nothing to evaluate"):
        pointcloud_report(np.full((5, 2), np.nan), target)


# --- k-NN precision / recall, memorisation, Frechet distance ---------------------------------------------------------


def test_knn_precision_recall_small_closed_form() -> None:
    reference = np.arange(5.0)[:, None]  # k=1 radii: 1 each
    samples = np.array([0.5, 10.0, 11.0, 12.0, 13.0])[:, None]  # radii 9.5, 1, 1, 1, 1
    assert knn_precision_recall(samples, reference, k=1) == (0.2, 1.0)
    with pytest.raises(ValueError, match="more than 5"):
        knn_precision_recall(samples, reference, k=5)


def test_knn_precision_recall_real_vs_real_and_noise() -> None:
    train, test = digits_split()
    precision, recall = knn_precision_recall(test.images, train.images, k=3)
    assert precision > 0.85 and recall > 0.85  # measured 0.908 / 0.926
    noise = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert knn_precision_recall(noise, train.images, k=3) == (0.0, 0.0)


def test_memorisation_flags_copies_not_held_out_digits() -> None:
    train, test = digits_split()
    near_copies = train.images[:100] + 0.02 * torch.randn(100, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert memorised_share(near_copies, train.images) == 1.0
    held_out = nearest_distances(test.images, train.images)
    assert memorised_share(test.images, train.images) == 0.0
    assert held_out.min() > 0.9 and float(held_out.quantile(0.01)) > 1.2  # measured: min 0.944, 1 % quantile 1.257
    manual = torch.cdist(test.images[:5].flatten(1).double(), train.images.flatten(1).double()).min(1).values
    assert torch.allclose(held_out[:5], manual, rtol=1e-12)


def test_frechet_distance_closed_form_and_reference() -> None:
    a = _rng(15).normal(size=(500, 4)) * [1.0, 2.0, 0.5, 1.0]
    b = _rng(16).normal(size=(400, 4)) @ _rng(17).normal(size=(4, 4)) + 3.0
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a.T), np.cov(b.T)
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)
    x, y = _rng(18).normal(2.0, 3.0, size=1000), _rng(19).normal(size=800)
    one_d = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(one_d, rel=1e-10)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


# --- the classifier and the digits report --------------------------------------------------------------------------------


def test_classifier_accuracy_on_held_out_digits_matches_its_card() -> None:
    train, test = digits_split()
    model = default_classifier()
    test_accuracy = accuracy(model, test.images, test.labels)
    assert test_accuracy >= 0.97  # measured 0.994
    card = json.loads(DEFAULT_PATH.with_suffix(".json").read_text())
    assert card["test_accuracy"] == pytest.approx(test_accuracy, abs=1e-4)
    probs, feats = classifier_outputs(test.images.reshape(-1, 64).numpy())
    assert probs.shape == (len(test.labels), 10) and feats.shape == (len(test.labels), 128)
    assert torch.allclose(probs.sum(1), torch.ones(len(test.labels)), atol=1e-5)
    shares = class_shares(probs)
    assert shares.sum() == pytest.approx(1.0) and shares.min() > 0.09 and shares.max() < 0.11


def test_classifier_reads_coloured_digits_through_max_over_channels() -> None:
    coloured = load_coloured_digits(seed=0, digits=digits_split()[1])
    probs, _ = classifier_outputs(coloured.images)
    assert float((probs.argmax(1) == coloured.labels).float().mean()) >= 0.97


def test_classifier_loading_refuses_missing_and_foreign_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="python -m efm_core.classifier"):
        load_classifier(tmp_path / "missing")
    (tmp_path / "bad.safetensors").write_bytes(b"\x80\x04pickle-ish garbage")
    (tmp_path / "bad.json").write_text(DEFAULT_PATH.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="corrupt"):
        load_classifier(tmp_path / "bad")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    (tmp_path / "other.json").write_text(DEFAULT_PATH.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="does not hold DigitsCNN weights"):
        load_classifier(tmp_path / "other")


def test_frechet_distance_of_classifier_features_real_vs_real_and_noise() -> None:
    train, test = digits_split()
    _, f_train = classifier_outputs(train.images)
    _, f_test = classifier_outputs(test.images)
    noise = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    _, f_noise = classifier_outputs(noise)
    real = frechet_distance(f_test, f_train)
    assert real < 15  # measured 4.8
    assert frechet_distance(f_noise, f_train) > 20 * real  # measured 591


def test_digits_report_on_held_out_real_digits_copies_and_noise() -> None:
    train, test = digits_split()
    real = digits_report(test.images, reference=train.images, train=train.images)
    assert real["precision"] > 0.85 and real["recall"] > 0.85 and real["memorised_share"] == 0.0
    assert 0.04 <= real["class_share_min"] and real["class_share_max"] <= 0.16 and real["confidence"] > 0.95
    assert real["fd"] < 15 and real["nearest_train_min"] > 0.9
    copies = digits_report(train.images[:200], reference=train.images, train=train.images)
    assert copies["memorised_share"] == 1.0 and copies["precision"] == 1.0
    noise = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2 - 1
    noise[:30] = float("nan")
    bad = digits_report(noise.numpy())
    assert bad["nonfinite_share"] == pytest.approx(0.1) and bad["n"] == 270
    assert bad["precision"] == 0.0 and bad["fd"] > 20 * real["fd"]


def test_hue_errors_are_circular() -> None:
    hues = torch.tensor([350.0, 100.0])
    base = load_digits([1]).images[:2]
    from efm_core.data.images import colourise

    errors = hue_errors(colourise(base, hues), colourise(base, torch.tensor([10.0, 280.0])))
    assert torch.allclose(errors, torch.tensor([20.0, 180.0]), atol=0.1)


def test_translation_report_reads_target_and_checks_hue() -> None:
    twos = load_coloured_digits([2], seed=0)
    threes = load_coloured_digits([3], seed=0)
    n = min(len(twos.labels), len(threes.labels))
    from efm_core.data.images import colourise, grey

    same_hue = colourise(grey(threes.images[:n]), twos.hues[:n])
    good = translation_report(twos.images[:n], same_hue, target_class=3)
    assert good["read_as_target"] >= 0.97 and good["hue_kept_share"] == 1.0 and good["hue_error_median"] < 0.5
    turned = colourise(grey(threes.images[:n]), twos.hues[:n] + 90.0)
    assert translation_report(twos.images[:n], turned, target_class=3)["hue_kept_share"] == 0.0
    unchanged = translation_report(twos.images[:n], twos.images[:n], target_class=3)
    assert unchanged["read_as_target"] < 0.05 and unchanged["hue_kept_share"] == 1.0
    broken = same_hue.clone()
    broken[: n // 2] = float("nan")
    report = translation_report(twos.images[:n], broken, target_class=3)
    assert report["nonfinite_share"] == pytest.approx((n // 2) / n)
    kept_at_most = (n - n // 2) / n + 1e-12
    assert report["read_as_target"] <= kept_at_most and report["hue_kept_share"] <= kept_at_most


def test_bootstrap_spread_is_the_statistic_with_its_sampling_noise():
    # the bootstrap std of a mean is close to the standard error s / sqrt(n); of a share, sqrt(p (1 - p) / n)
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    s = bootstrap(np.mean, x)
    assert s.value == float(np.mean(x)) and 0.5 < s.std / (x.std() / 20) < 1.6
    flags = np.arange(200) < 50
    share = bootstrap(np.mean, flags).scaled(100)
    assert share.value == 25 and 0.5 < share.std / (100 * np.sqrt(0.25 * 0.75 / 200)) < 1.6
    assert f"{Spread(0.0312, 0.0118):.3f}" == "0.031 ± 0.012" and f"{share:.0f}".endswith(f"± {share.std:.0f}")
    assert Spread(0.1, 0.01).below(Spread(0.2, 0.01)) and not Spread(0.1, 0.05).below(Spread(0.2, 0.05))
    assert np.isnan(bootstrap(np.mean, x[:1]).std)


def test_share_spread_is_the_bootstrap_noise_of_its_flags():
    flags = np.r_[np.ones(30), np.zeros(70)]
    s = metrics.Spread.of_share(0.3, 100)
    assert s.value == 0.3 and s.std == pytest.approx(np.sqrt(0.3 * 0.7 / 100))
    assert metrics.bootstrap(np.mean, flags, resamples=400).std == pytest.approx(s.std, rel=0.2)
    assert metrics.Spread.of_share(1.0, 50).std == 0.0
