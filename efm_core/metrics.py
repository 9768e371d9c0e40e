"""Quality metrics: distances between point clouds, and classifier/k-NN metrics for generated digits.

Every function is pure and takes torch tensors or numpy arrays (any float dtype, any device); computations run in
float64 on the CPU and return Python floats or CPU tensors.

Point clouds (n, D):
    ``w2_exact`` (optimal matching), ``energy_distance``, ``two_sample_floor`` (what two independent samples of the
    target score, the yardstick for "W2 against the floor"), ``pointcloud_report``; ``bootstrap``: any statistic of
    points with its noise (a ``Spread``, written "0.031 ± 0.012").
Images (n, C, H, W) in [-1, 1], compared as flat pixel vectors (L2 in [-1, 1] pixel units):
    ``knn_precision_recall`` (Kynkaanniemi et al. 2019), ``nearest_distances`` / ``memorised_share``
    (memorisation), ``frechet_distance`` of classifier features, ``class_shares``, ``hue_errors``,
    ``digits_report``, ``fashion_report`` (28x28 Fashion-MNIST) and ``translation_report``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .classifier import DigitsCNN, FashionCNN, as_digit_batch, as_fashion_batch, classifier_outputs, fashion_outputs
from .data.images import image_hues, load_digits
from .plates import check_points

W2_MAX_POINTS = 2000


def _points(name: str, x: object) -> Tensor:
    """``x`` as a validated float64 CPU tensor (n, D); a 1-D array is n points in D = 1."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().to("cpu", torch.float64)
    return check_points(name, t[:, None] if t.ndim == 1 else t)


def _flat(name: str, x: object) -> Tensor:
    """Images or points (n, ...) as float64 CPU rows (n, prod(...)), finite, n >= 1."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    return _points(name, t.detach().flatten(1) if t.ndim > 1 else t)


def _cdist(a: Tensor, b: Tensor) -> Tensor:
    """Exact Euclidean distances (n, m) of float64 rows, without the matmul shortcut (no cancellation error)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _row_step(m: int, budget: int = 2**24) -> int:
    """Rows per chunk so that a chunk of distances to m columns holds about ``budget`` entries (128 MiB)."""
    return max(1, budget // max(m, 1))


# --- point clouds --------------------------------------------------------------------------------------------------


def _pot():
    """POT's ``ot`` module, or None when the optional dependency is missing."""
    try:
        import ot
    except ImportError:
        return None
    return ot


W2_BACKENDS = ("auto", "pot", "scipy")


def w2_exact(a: object, b: object, a_weights: object = None, b_weights: object = None, backend: str = "auto") -> float:
    """Exact 2-Wasserstein distance between clouds a (n, D) and b (m, D), at most 2000 points each: W2 in data units.

    W2 = sqrt(min over transport plans pi of sum_ij pi_ij |a_i - b_j|^2), pi with marginals ``a_weights`` (n,) and
    ``b_weights`` (m,) (normalised; default uniform). ``backend``: 'pot' (POT's network simplex ``ot.emd2``: any n, m
    and weights), 'scipy' (the Hungarian algorithm ``linear_sum_assignment``: equal n = m and uniform weights only;
    with those the optimal plan is a permutation and both give the same value), 'auto' (POT if installed, else scipy).
    """
    if backend not in W2_BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(W2_BACKENDS)}; got {backend!r}.")
    x, y = _points("a", a), _points("b", b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a and b must have the same dimension; got {x.shape[1]} and {y.shape[1]}.")
    if max(x.shape[0], y.shape[0]) > W2_MAX_POINTS:
        raise ValueError(f"w2_exact is O(n^3): at most {W2_MAX_POINTS} points; got {max(x.shape[0], y.shape[0])}. Subsample, or use energy_distance.")
    wa, wb = _weights("a_weights", a_weights, x.shape[0]), _weights("b_weights", b_weights, y.shape[0])
    cost = (_cdist(x, y) ** 2).numpy()
    ot = _pot() if backend != "scipy" else None
    if backend == "pot" and ot is None:
        raise ValueError("backend 'pot' needs the POT package: pip install pot.")
    if ot is not None:
        n, m = cost.shape
        wa = np.full(n, 1.0 / n) if wa is None else wa.numpy()
        wb = np.full(m, 1.0 / m) if wb is None else wb.numpy()
        return math.sqrt(max(float(ot.emd2(wa, wb, cost, numItermax=100 * (n + m) ** 2)), 0.0))
    if x.shape[0] != y.shape[0] or wa is not None or wb is not None:
        raise ValueError("without POT, w2_exact needs equally many points and no weights; pip install pot, or subsample.")
    from scipy.optimize import linear_sum_assignment  # here, not at the top: importing scipy.optimize takes seconds

    rows, cols = linear_sum_assignment(cost)
    return math.sqrt(float(cost[rows, cols].mean()))


def _mean_distance(x: Tensor, y: Tensor, same: bool, unbiased: bool, wx: Tensor | None = None,
                   wy: Tensor | None = None) -> float:
    """Mean |X - Y| over the pairs of rows of x (n, D) and y (m, D), weighted by wx (n,) and wy (m,) (each summing to
    1) where given; pairs i != j only for a cloud with itself (``same``) when unweighted and ``unbiased``."""
    total = 0.0
    step = _row_step(y.shape[0])
    n, m = x.shape[0], y.shape[0]
    if wx is None and wy is None:
        for i in range(0, n, step):
            total += float(_cdist(x[i : i + step], y).sum())
        return total / (n * (n - 1)) if (same and unbiased) else total / (n * m)
    for i in range(0, n, step):
        d = _cdist(x[i : i + step], y)
        rows = d.mean(dim=1) if wy is None else d @ wy  # (chunk,) mean distance of each x to y
        total += float(rows.sum() if wx is None else rows @ wx[i : i + step])
    return total if wx is not None else total / n


def _weights(name: str, w: object | None, n: int) -> Tensor | None:
    if w is None:
        return None
    t = torch.as_tensor(w, dtype=torch.float64).reshape(-1)
    if t.numel() != n or not torch.isfinite(t).all() or (t < 0).any() or float(t.sum()) <= 0:
        raise ValueError(f"{name} must hold one finite weight >= 0 per point ({n}), not all 0.")
    return t / t.sum()


def energy_distance(a: object, b: object, unbiased: bool = False, weights_a: object | None = None,
                    weights_b: object | None = None) -> float:
    """Squared energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between clouds a (n, D) and b (m, D), any n, m.

    Default: the V-statistic (all pairs, including i = j), which is >= 0 and exactly 0 for identical clouds; in 1-D it
    equals 2 * integral (F_a - F_b)^2 dx of the empirical CDFs (scipy.stats.energy_distance returns its square root).
    ``unbiased=True`` uses the U-statistic (pairs i != j within a cloud): unbiased for the population value, can be
    slightly negative. Units: data units (a distance, not squared). Memory is chunked; time is O((n + m)^2 D).

    ``weights_a`` (n,), ``weights_b`` (m,): a cloud as a weighted discrete distribution (weights >= 0, normalised to
    sum 1), e.g. a plate's charges by magnitude. A weighted cloud's own term is over all pairs, w^T |Y - Y'| w (the
    distribution itself, so ``unbiased`` applies to the unweighted clouds only): with a unweighted and unbiased, the
    estimate is 0 on average when a's points are drawn from (b, weights_b), for any n.
    """
    x, y = _points("a", a), _points("b", b)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a and b must have the same dimension; got {x.shape[1]} and {y.shape[1]}.")
    wx, wy = _weights("weights_a", weights_a, x.shape[0]), _weights("weights_b", weights_b, y.shape[0])
    if unbiased and min(x.shape[0] if wx is None else 2, y.shape[0] if wy is None else 2) < 2:
        raise ValueError("the unbiased energy distance needs at least 2 points in each cloud.")
    return (
        2 * _mean_distance(x, y, False, unbiased, wx, wy)
        - _mean_distance(x, x, True, unbiased, wx, wx)
        - _mean_distance(y, y, True, unbiased, wy, wy)
    )


class Floor(NamedTuple):
    """Metric between two independent samples of the same distribution: mean and std over ``values``."""

    mean: float
    std: float
    values: tuple[float, ...]


def two_sample_floor(
    target: object | Callable[[int, int], object],
    n: int,
    metric: Callable[[object, object], float] = w2_exact,
    repeats: int = 5,
    seed: int = 0,
) -> Floor:
    """The score of a perfect model: ``metric`` between two independent n-samples of the target, ``repeats`` times.

    ``target`` is either a sampler ``target(n, seed) -> (n, D)`` (e.g. ``lambda n, s: sample_toy("two_moons", n,
    seed=s)``; seeds ``seed + 2r`` and ``seed + 2r + 1`` are used), or a finite cloud (N, D) with N >= 2n, from which
    two disjoint random subsets are drawn (resampling without replacement: duplicated points would fake a perfect
    match). Compare a model's metric at the same n against ``.mean``; W2 floors shrink slowly with n (about
    n^(-1/D) for D >= 3).
    """
    if repeats < 1 or n < 1:
        raise ValueError(f"n and repeats must be positive; got n={n}, repeats={repeats}.")
    values = []
    if callable(target):
        for r in range(repeats):
            values.append(metric(target(n, seed + 2 * r), target(n, seed + 2 * r + 1)))
    else:
        pool = _flat("target", target)
        if pool.shape[0] < 2 * n:
            raise ValueError(f"the target cloud has {pool.shape[0]} points; two disjoint samples of {n} need {2 * n}. Lower n or give a sampler.")
        g = torch.Generator().manual_seed(int(seed))
        for _ in range(repeats):
            idx = torch.randperm(pool.shape[0], generator=g)
            values.append(metric(pool[idx[:n]], pool[idx[n : 2 * n]]))
    arr = np.asarray(values, dtype=np.float64)
    return Floor(float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, tuple(float(v) for v in arr))


BOOTSTRAP_RESAMPLES = 20  # resamples of ``bootstrap``: enough for a std to one significant digit, cheap


class Spread(NamedTuple):
    """A statistic and its noise: ``value`` on all the points, ``std`` its spread over bootstrap resamples of them.

    ``format(s, ".3f")`` (an f-string ``f"{s:.3f}"``) writes both, "0.031 ± 0.012"; ``s.scaled(100)`` as a percentage.
    """

    value: float
    std: float

    def __format__(self, spec: str) -> str:
        return f"{self.value:{spec}} ± {self.std:{spec}}"

    def scaled(self, k: float) -> Spread:
        """Value and std times ``k`` (e.g. 100 for a share in %)."""
        return Spread(k * self.value, k * self.std)

    @classmethod
    def of_share(cls, p: float, n: int) -> Spread:
        """A share ``p`` of ``n`` items with its binomial noise sqrt(p (1 - p) / n), which is what ``bootstrap`` of
        the 0/1 flags gives on average (for a report that keeps the share, not the flags)."""
        return cls(float(p), math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.nan)

    def below(self, other: Spread, z: float = 2.0) -> bool:
        """Whether this value is smaller than ``other``'s beyond the noise: by more than ``z`` combined stds."""
        return other.value - self.value > z * math.hypot(self.std, other.std)


def bootstrap(statistic: Callable[[np.ndarray], float], points: object, resamples: int = BOOTSTRAP_RESAMPLES,
              seed: int = 0) -> Spread:
    """``statistic(points)`` with its noise: the std over ``resamples`` resamples of the n rows of ``points`` (n, ...)
    drawn with replacement (the bootstrap, Efron 1979). Costs ``resamples`` + 1 calls on the points already computed;
    NaN for both below 2 points. A share is ``bootstrap(np.mean, flags)`` (its std about sqrt(p (1 - p) / n))."""
    x = np.asarray(points)
    if len(x) < 2:
        return Spread(math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = [float(statistic(x[rng.integers(0, len(x), len(x))])) for _ in range(resamples)]
    return Spread(float(statistic(x)), float(np.std(draws, ddof=1)))


def _finite_rows(name: str, x: object) -> tuple[Tensor, float]:
    """Rows of ``x`` (n, ...) flattened to float64 (n, F) with the non-finite ones dropped, and their share."""
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach().to("cpu", torch.float64)
    t = t.flatten(1) if t.ndim > 1 else t[:, None]
    if t.shape[0] == 0:
        raise ValueError(f"no {name} were given; there is nothing to evaluate.")
    ok = torch.isfinite(t).all(dim=1)
    if not ok.any():
        raise ValueError(f"every one of the {t.shape[0]} {name} is NaN or infinite; there is nothing to evaluate.")
    return t[ok], float(1 - ok.double().mean())


def pointcloud_report(
    samples: object,
    target: object,
    target_sampler: Callable[[int, int], object] | None = None,
    max_n: int = 1000,
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Metrics of generated points ``samples`` (n, D) against the target cloud ``target`` (m, D).

    Returns a dict: ``n`` (points used for W2), ``nonfinite_share`` (rows of samples with NaN/inf, dropped),
    ``w2`` (``w2_exact`` on n = min(finite n, m, max_n) points of each, seeded subsets), ``energy`` (V-statistic on
    all finite points), ``w2_floor`` / ``w2_floor_std`` (``two_sample_floor`` at the same n: from ``target_sampler``
    if given, else from disjoint subsets of ``target`` when m >= 2n, else None) and ``w2_over_floor``.
    """
    x, bad = _finite_rows("samples", samples)
    y = _flat("target", target)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples and target must have the same dimension; got {x.shape[1]} and {y.shape[1]}.")
    n = min(x.shape[0], y.shape[0], max_n, W2_MAX_POINTS)
    g = torch.Generator().manual_seed(int(seed))
    xs = x[torch.randperm(x.shape[0], generator=g)[:n]]
    ys = y[torch.randperm(y.shape[0], generator=g)[:n]]
    w2 = w2_exact(xs, ys)
    floor = None
    if target_sampler is not None:
        floor = two_sample_floor(target_sampler, n, repeats=repeats, seed=seed)
    elif y.shape[0] >= 2 * n:
        floor = two_sample_floor(y, n, repeats=repeats, seed=seed)
    return {
        "n": n,
        "nonfinite_share": bad,
        "w2": w2,
        "energy": energy_distance(x, y),
        "w2_floor": floor.mean if floor else None,
        "w2_floor_std": floor.std if floor else None,
        "w2_over_floor": w2 / floor.mean if floor and floor.mean > 0 else None,
    }


# --- images ----------------------------------------------------------------------------------------------------------


def knn_precision_recall(samples: object, reference: object, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkaanniemi et al. 2019) of samples (n, ...) against reference (m, ...).

    Vectors are compared flat, by Euclidean distance (pass images for pixel space, classifier features for feature
    space). Each point's radius is the distance to its k-th nearest neighbour within its own set (itself excluded).
    Precision: share of samples inside at least one reference ball; recall: share of reference points inside at
    least one sample ball. Both depend on n and m: compare models at the same sizes.
    """
    x, y = _flat("samples", samples), _flat("reference", reference)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples and reference must have the same size per item; got {x.shape[1]} and {y.shape[1]}.")
    if min(x.shape[0], y.shape[0]) <= k:
        raise ValueError(f"k-NN precision/recall with k={k} needs more than {k} samples and reference items.")
    return _coverage(x, y, k), _coverage(y, x, k)


def _kth_radius(x: Tensor, k: int) -> Tensor:
    step = _row_step(x.shape[0])
    return torch.cat([_cdist(x[i : i + step], x).kthvalue(k + 1, dim=1).values for i in range(0, x.shape[0], step)])


def _coverage(points: Tensor, centres: Tensor, k: int) -> float:
    """Share of ``points`` within the k-NN ball of at least one of ``centres``."""
    radius = _kth_radius(centres, k)
    step = _row_step(centres.shape[0])
    inside = [(_cdist(points[i : i + step], centres) <= radius).any(dim=1) for i in range(0, points.shape[0], step)]
    return float(torch.cat(inside).double().mean())


def nearest_neighbours(samples: object, train: object, exact: bool = True) -> tuple[Tensor, Tensor]:
    """For every sample (n, ...) its nearest training item (m, ...), flattened, in L2: (distance (n,) float64, index
    (n,) int64), chunked in memory.

    For digits in [-1, 1] pixels, held-out real digits (``digits_split``) lie 0.94 or more from their nearest
    training digit (99 % of them 1.25 or more, median 2.05), so a sample within 0.5 of one is a near-copy.
    ``exact=True``: direct differences. ``exact=False`` finds the distances through float64 matrix products
    (|a|^2 + |b|^2 - 2 a.b; within 1e-12 of the exact distances for [-1, 1] pixels at D = 784), tens of times
    faster for 1000 samples against 60,000 images.
    """
    x, y = _flat("samples", samples), _flat("train", train)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"samples and train must have the same size per item; got {x.shape[1]} and {y.shape[1]}.")
    step = _row_step(y.shape[0])
    y2 = None if exact else y.square().sum(1)
    best = []
    for i in range(0, x.shape[0], step):
        rows = x[i : i + step]
        if exact:
            best.append(_cdist(rows, y).min(dim=1))
        else:
            best.append((rows.square().sum(1, keepdim=True) + y2 - 2 * rows @ y.T).min(dim=1))
    distance = torch.cat([b.values for b in best])
    return (distance if exact else distance.clamp_min(0).sqrt()), torch.cat([b.indices for b in best])


def nearest_distances(samples: object, train: object, exact: bool = True) -> Tensor:
    """L2 distance (n,) float64 from every sample (n, ...) to its nearest training item (m, ...), flattened
    (``nearest_neighbours`` without the indices)."""
    return nearest_neighbours(samples, train, exact)[0]


DIGITS_COPY_DISTANCE = 0.5  # L2 in [-1, 1] pixels at D = 64; see nearest_neighbours


def memorised_share(samples: object, train: object, threshold: float = DIGITS_COPY_DISTANCE) -> float:
    """Share of samples closer than ``threshold`` (L2, pixel units) to a training item: near-copies."""
    return float((nearest_distances(samples, train) < threshold).double().mean())


def frechet_distance(features_a: object, features_b: object) -> float:
    """Frechet distance |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussians fitted to (n, F), (m, F).

    The matrix square root is taken as (S_a^(1/2) S_b S_a^(1/2))^(1/2) through symmetric eigendecompositions in
    float64, so the result is real and >= 0 (up to rounding). Needs n, m >= 2. Units: squared feature units.
    """
    a, b = _flat("features_a", features_a), _flat("features_b", features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} and {b.shape[1]}.")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("the Frechet distance needs at least 2 items on each side.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross)


def class_shares(probs: Tensor) -> Tensor:
    """Share (10,) of items whose most probable class is each digit, from class probabilities (n, 10)."""
    return torch.bincount(probs.argmax(1), minlength=probs.shape[1]).double() / probs.shape[0]


def hue_errors(inputs: object, outputs: object) -> Tensor:
    """Circular hue difference in degrees (n,) in [0, 180] between paired RGB images (n, 3, H, W); NaN if colourless."""
    a, b = (torch.as_tensor(np.asarray(v)) if not isinstance(v, Tensor) else v for v in (inputs, outputs))
    if a.shape != b.shape:
        raise ValueError(f"inputs and outputs must be paired images of the same shape; got {tuple(a.shape)} and {tuple(b.shape)}.")
    diff = torch.remainder(image_hues(b.detach().cpu()) - image_hues(a.detach().cpu()), 360.0)
    return torch.minimum(diff, 360.0 - diff)


def _image_report(bad: float, probs: Tensor, feats: Tensor, ref_feats: Tensor, pr: tuple[float, float],
                  nearest: Tensor, copy_distance: float) -> dict:
    """The dict of ``digits_report`` / ``fashion_report`` from the classifier's probabilities (n, 10) and features
    of the samples and the reference, k-NN (precision, recall), and the nearest-training distances (n,)."""
    shares = class_shares(probs)
    return {
        "n": int(probs.shape[0]),
        "nonfinite_share": bad,
        "confidence": float(probs.max(1).values.mean()),
        "class_shares": [round(float(v), 4) for v in shares],
        "class_share_min": float(shares.min()),
        "class_share_max": float(shares.max()),
        "fd": frechet_distance(feats, ref_feats),
        "precision": pr[0],
        "recall": pr[1],
        "nearest_train_median": float(nearest.median()),
        "nearest_train_min": float(nearest.min()),
        "memorised_share": float((nearest < copy_distance).double().mean()),
    }


def digits_report(
    samples: object,
    reference: object | None = None,
    train: object | None = None,
    k: int = 3,
    model: DigitsCNN | None = None,
) -> dict:
    """All metrics of generated digits ``samples`` (n, 1, 8, 8) in [-1, 1] (RGB samples are read as grey = max).

    ``reference`` (real digits for precision/recall and FD) and ``train`` (the images the generator was trained on,
    for memorisation) both default to all 1797 of scikit-learn's digits. Non-finite samples are dropped and counted;
    pixels are clipped to [-1, 1] (as displayed) before every metric.
    Returns a dict of floats (lists for class shares):

    * ``n``, ``nonfinite_share``;
    * ``confidence``: mean top class probability of the project's classifier; ``class_shares`` (10 shares of argmax
      classes), ``class_share_min``, ``class_share_max``;
    * ``fd``: Frechet distance of the classifier's 128-D penultimate features, samples vs reference;
    * ``precision``, ``recall``: k-NN (k=3) in **pixel space** against the reference (the issue's bars);
    * ``nearest_train_median``, ``nearest_train_min``: L2 to the nearest training image; ``memorised_share``: share
      closer than 0.5.
    """
    flat, bad = _finite_rows("samples", samples)
    if flat.shape[1] % 64:
        raise ValueError(f"digit samples must be 8x8 images (n, C, 8, 8); got {flat.shape[1]} values per sample.")
    x = as_digit_batch(flat.reshape(flat.shape[0], -1, 8, 8))
    ref = load_digits().images if reference is None else as_digit_batch(reference)
    tr = load_digits().images if train is None else as_digit_batch(train)
    probs, feats = classifier_outputs(x, model)
    _, ref_feats = classifier_outputs(ref, model)
    nearest = nearest_distances(x, tr)
    precision, recall = knn_precision_recall(x, ref, k)
    return _image_report(bad, probs, feats, ref_feats, (precision, recall), nearest, DIGITS_COPY_DISTANCE)


FASHION_COPY_DISTANCE = 2.0  # L2 in [-1, 1] pixels at D = 784; see fashion_report


def fashion_report(
    samples: object, reference: object, train: object, k: int = 5, model: FashionCNN | None = None
) -> dict:
    """Metrics of generated Fashion-MNIST images ``samples`` (n, 1, 28, 28) in [-1, 1] against real images.

    ``reference``: real held-out images (the test split), for precision/recall and FD; ``train``: the generator's
    training images, for near-copies. Non-finite samples are dropped and counted, pixels clipped to [-1, 1].
    Returns a dict: ``n``, ``nonfinite_share``; ``confidence``, ``class_shares`` (10, in ``datasets.FASHION_CLASSES``
    order), ``class_share_min`` / ``_max`` of the project's ``FashionCNN``; ``fd``: Frechet distance of its 128-D
    features, samples vs reference; ``precision``, ``recall``: k-NN (k = 5) in that **feature space**;
    ``nearest_train_median`` / ``_min`` (pixel L2 to the nearest training image) and ``memorised_share``: share
    closer than ``FASHION_COPY_DISTANCE`` (2.0: of 1000 held-out test images one lies that close to a training
    image, 0.9 % within 3.0; their median distance is 7.0).
    """
    flat, bad = _finite_rows("samples", samples)
    x = as_fashion_batch(flat.float())
    probs, feats = fashion_outputs(x, model)
    _, ref_feats = fashion_outputs(reference, model)
    nearest = nearest_distances(x, as_fashion_batch(train), exact=False)
    precision, recall = knn_precision_recall(feats, ref_feats, k)
    return _image_report(bad, probs, feats, ref_feats, (precision, recall), nearest, FASHION_COPY_DISTANCE)


def translation_report(
    inputs: object, outputs: object, target_class: int, hue_tolerance: float = 30.0, model: DigitsCNN | None = None
) -> dict:
    """Metrics of a digit translation (e.g. coloured 2 -> 3): paired ``inputs`` and ``outputs`` (n, C, 8, 8).

    ``read_as_target``: share of outputs whose classifier argmax (grey = max over channels) is ``target_class``;
    ``confidence``: their mean top probability; for RGB images also ``hue_error_median`` (degrees) and
    ``hue_kept_share``: share of pairs whose stroke hues differ by at most ``hue_tolerance`` degrees (a colourless
    output counts as not kept). Non-finite outputs count as failures on every share.
    """
    out = outputs if isinstance(outputs, Tensor) else torch.as_tensor(np.asarray(outputs))
    out = out.detach().cpu().float()
    if out.ndim != 4 or out.shape[0] == 0:
        raise ValueError(f"outputs must be images (n, C, 8, 8); got shape {tuple(out.shape)}.")
    ok = torch.isfinite(out.reshape(out.shape[0], -1)).all(1)
    probs, _ = classifier_outputs(torch.where(ok[:, None, None, None], out, -1.0), model)
    hit = (probs.argmax(1) == int(target_class)) & ok
    report = {
        "n": int(out.shape[0]),
        "nonfinite_share": float(1 - ok.float().mean()),
        "read_as_target": float(hit.double().mean()),
        "confidence": float(probs.max(1).values[ok].mean()) if ok.any() else 0.0,
    }
    if out.shape[1] == 3:
        errors = hue_errors(inputs, torch.where(ok[:, None, None, None], out, -1.0))
        kept = (errors <= hue_tolerance) & ok
        report["hue_error_median"] = float(errors.nanmedian()) if (~errors.isnan()).any() else float("nan")
        report["hue_kept_share"] = float(kept.double().mean())
    return report
