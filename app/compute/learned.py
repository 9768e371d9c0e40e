"""Learned fields moved in the app: checkpoints' samples and translations (through the core's ``generate`` /
``translate``), points carried along a training run's net (``move``, ``move_two_sided``, through them too), and the
digit helpers the pages show beside them (held-out gallery, classifier readings, nearest training item).

No drawing and no widgets here; Streamlit only for caching (``st.cache_data``; checkpoints are passed with a leading
underscore and identified by their cache key, see ``app.compute.loading``).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import streamlit as st
import torch
from torch import Tensor, nn

from efm_core import (
    CASES,
    Trajectory,
    classifier_outputs,
    colourise,
    digits_split,
    generate,
    grey,
    image_hues,
    select_classes,
    translate,
    translation_report,
)
from efm_core.checkpoints import Checkpoint
from efm_core.classifier import fashion_outputs
from efm_core.config import ExperimentConfig
from efm_core.data.datasets import FASHION_CLASSES, fashion_available
from efm_core.data.sources import IMAGE_SETS, FiniteSource, make_source
from efm_core.metrics import nearest_neighbours
from efm_core.paths import SOLVERS

SOLVER_LABELS = {"euler": "Euler (the paper)", "heun": "Heun", "rk45": "Adaptive (RK45)"}
assert set(SOLVER_LABELS) == set(SOLVERS), "every solver of efm_core needs a label here"
MODEL_NAMES = ("EFM", "flow matching")
CLASSIFIED = ("digits", "coloured_digits", "fashion_mnist")  # data kinds a shipped classifier reads (``readings``)
IMAGE_RANGE = (-1.0, 1.0)  # pixels of every image data set
EXACT_NEAREST_MAX_D = 256  # nearest training items by direct differences up to this size per item, matrix products above


class Moved(NamedTuple):
    """Items carried along a learned field, as the pages show them: a core ``Trajectory`` in numpy, clipped, timed.

    x: (n, *shape) end points (images clipped to the data range, as shown); levels: (K,) snapshot heights z;
    path: (K, n, *shape) the items at those heights (clipped like x); nfe: batched network calls; bad: lines whose
    slope was guarded (f_z <= f_min, the line would have turned back), that went non-finite or were lost; seconds:
    wall time. Two-sided moves (``move_two_sided``) have no heights: levels is empty, path holds the lines after
    every solver step (S + 1, n, D + 1) with z last, ``lines`` the same as n polylines without their standing tails,
    ``cases`` their Theorem 3.1 cases. Moves from a prior (``move_from_prior``) keep no path ((0, n, *shape)).
    """

    x: np.ndarray
    levels: np.ndarray
    path: np.ndarray
    nfe: int
    bad: int
    seconds: float
    lines: list[np.ndarray] | None = None
    cases: list[str] | None = None


def _polylines(path: np.ndarray) -> list[np.ndarray]:
    """The n lines of a two-sided path (S + 1, n, D + 1) as polylines (float64), each cut after its last move."""
    moving = np.any(np.diff(path, axis=0) != 0, axis=2)  # (S, n): the line moved in that step
    last = [int(np.nonzero(moving[:, i])[0].max()) + 2 if moving[:, i].any() else 1 for i in range(path.shape[1])]
    return [path[: last[i], i].astype(np.float64) for i in range(path.shape[1])]


def _moved(r: Trajectory, seconds: float, clip: tuple[float, float] | None = None) -> Moved:
    """A core ``Trajectory`` as ``Moved``: end points and snapshots clipped to ``clip``; a two-sided one (with
    cases) also as polylines."""
    x = r.x.cpu()
    if clip is not None:
        x = x.clamp(*clip)
    if r.path is None:
        return Moved(x.numpy(), np.zeros(0), np.zeros((0, *x.shape)), r.nfe, int(r.bad.sum()), seconds)
    path = r.path.cpu() if clip is None else r.path.cpu().clamp(*clip)
    levels = np.zeros(0) if r.levels is None else r.levels.cpu().numpy()
    if r.case is None:
        return Moved(x.numpy(), levels, path.numpy(), r.nfe, int(r.bad.sum()), seconds)
    cases = [CASES[c] for c in r.case.tolist()]
    return Moved(x.numpy(), levels, path.numpy(), r.nfe, int(r.bad.sum()), seconds, _polylines(path.numpy()), cases)


def move(
    net: nn.Module, config: ExperimentConfig, x0: Tensor, *, reverse: bool = False, solver: str | None = None,
    steps: int | None = None, f_min: float | None = None, snapshots: int = 8, clip: tuple[float, float] | None = None,
) -> Moved:
    """Carry ``x0`` (n, *shape) from the plate z = 0 to z = L along the learned field of ``net`` trained by ``config``
    (or back, ``reverse``): ``efm_core.translate`` with the config's solver, ``solver`` (one of ``SOLVERS``),
    ``steps`` (the initial step count for rk45) and ``f_min`` overriding it where given; ``snapshots`` >= 2 heights
    are recorded for the trajectory strips. Raises ValueError for bad solver options."""
    t0 = time.perf_counter()
    r = translate(net, config, x0, reverse=reverse, kind=solver, steps=steps, f_min=f_min, snapshots=snapshots)
    return _moved(r, time.perf_counter() - t0, clip)


def move_from_prior(net: nn.Module, config: ExperimentConfig, n: int, seed: int) -> Moved:
    """``n`` samples of a model that starts on its own prior (PFGM, PFGM++; ``efm_core.generate`` with its solver):
    end points only (no heights, no path); bad counts guarded or non-finite lines."""
    t0 = time.perf_counter()
    r = generate(net, config, n, seed)
    return _moved(r, time.perf_counter() - t0)


def move_two_sided(net: nn.Module, config: ExperimentConfig, x0: Tensor, seed: int,
                   max_steps: int | None = None) -> Moved:
    """Carry points ``x0`` (n, D) of P to Q by Theorem 3.1's map along the whole-space field of ``net`` (the config's
    arc solver through ``efm_core.translate``: side chosen by the flux share, seeded by ``seed``); lines still
    running after ``max_steps`` RK4 steps (the solver's default where None) are lost."""
    t0 = time.perf_counter()
    r = translate(net, config, x0, seed=seed, max_steps=max_steps, return_path=True)
    return _moved(r, time.perf_counter() - t0)


@st.cache_data(max_entries=32, show_spinner=False)
def generate_items(key: str, _ckpt: Checkpoint, n: int, seed: int, solver: str, steps: int, snapshots: int = 8) -> Moved:
    """``n`` samples of the checkpoint (``key`` identifies it for the cache): ``efm_core.generate`` at ``seed`` with
    the page's solver, ``snapshots`` heights recorded, clipped to the data range as displayed (as the CLI's sample)."""
    t0 = time.perf_counter()
    r = generate(_ckpt.net, _ckpt.config, int(n), seed=int(seed), kind=solver, steps=int(steps), snapshots=snapshots)
    return _moved(r, time.perf_counter() - t0, data_clip(_ckpt.config))


@st.cache_data(max_entries=32, show_spinner=False)
def translate_items(key: str, _ckpt: Checkpoint, items: np.ndarray, reverse: bool, solver: str, steps: int, snapshots: int = 8) -> Moved:
    """``items`` (n, *shape) of P carried to Q by the checkpoint (``key`` identifies it), or of Q back to P
    (``reverse``): ``efm_core.translate`` with the page's solver, clipped to the data range of the end plate."""
    return translate_moved(_ckpt, items, reverse, solver, steps, snapshots)


def translate_moved(ckpt: Checkpoint, items: np.ndarray, reverse: bool, solver: str, steps: int, snapshots: int = 8) -> Moved:
    """``translate_items`` without the cache (a plain function for background jobs, ``app.background``)."""
    x = torch.from_numpy(np.ascontiguousarray(items))
    t0 = time.perf_counter()
    r = translate(ckpt.net, ckpt.config, x, reverse=reverse, kind=solver, steps=int(steps), snapshots=snapshots)
    return _moved(r, time.perf_counter() - t0, data_clip(ckpt.config, reverse))


def data_end(config: ExperimentConfig, reverse: bool = False) -> dict:
    """The data spec at the end of a run: Q's, or P's for a reverse run and for PFGM / PFGM++ (they generate P's data)."""
    return config.p if (reverse or config.one_plate) else config.q


def data_clip(config: ExperimentConfig, reverse: bool = False) -> tuple[float, float] | None:
    """The value range of the data at the end of a run ((-1, 1) for images, None for points). A local image set
    (Fashion-MNIST, CIFAR-10) is not read for it: the samples of a shipped checkpoint need no data set installed."""
    spec = data_end(config, reverse)
    return IMAGE_RANGE if spec.get("kind") in IMAGE_SETS else make_source(spec).clip


@st.cache_data(max_entries=8, show_spinner=False)
def gallery(digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out coloured digits of one class (never seen in training): images (n, 3, 8, 8) in [-1, 1] and their hues
    (n,) in degrees, drawn uniformly with ``seed``."""
    _, test = digits_split()
    grey = select_classes(test, [int(digit)]).images
    hues = 360.0 * torch.rand(grey.shape[0], generator=torch.Generator().manual_seed(int(seed)))
    return colourise(grey, hues).numpy(), hues.numpy()


def readings(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The project's classifier of the images' data set on images (n, C, 8, 8) (digits; grey = max over channels) or
    (n, 1, 28, 28) (Fashion-MNIST): (class (n,), probability (n,))."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    probs, _ = fashion_outputs(x) if images.shape[-2:] == (28, 28) else classifier_outputs(x)
    top = probs.max(dim=1)
    return top.indices.numpy(), top.values.numpy()


def reading_labels(images: np.ndarray) -> list[str]:
    """``readings`` as tile captions: "7 · 98%" for a digit, "Trouser · 98%" for Fashion-MNIST."""
    classes, probs = readings(images)
    names = FASHION_CLASSES if images.shape[-2:] == (28, 28) else [str(d) for d in range(10)]
    return [f"{names[c]} · {p:.0%}" for c, p in zip(classes, probs, strict=True)]


def nearest_training(config: ExperimentConfig, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Each sample (n, *shape) beside its nearest training item of the model's data end plate: (the samples as
    compared (n, *shape'), their nearest items (n, *shape'), L2 distances (n,)); None when that data is no finite set.

    Coloured samples of a grey training set (coloured digits) are compared in grey (max over channels). A local image
    set that is not installed raises ``efm_core.data.datasets.DatasetError`` saying how to install it.
    """
    train = make_source(data_end(config))
    if not isinstance(train, FiniteSource):
        return None
    items = train.items
    if items.shape[1:] != samples.shape[1:]:
        samples = grey(torch.from_numpy(samples)).numpy()
    exact = items[0].numel() <= EXACT_NEAREST_MAX_D
    dist, idx = (t.numpy() for t in nearest_neighbours(samples, items, exact=exact))
    return samples, items[idx].numpy(), dist


def data_installed(config: ExperimentConfig) -> bool:
    """False when the model's data end is Fashion-MNIST and its files are not there (no file is read to tell)."""
    return data_end(config).get("kind") != "fashion_mnist" or fashion_available()


def reference_points(config: ExperimentConfig, n: int) -> np.ndarray:
    """(max(n, 256), D) points of the model's data (Q's, or P's for a model with no Q) to draw beside its samples."""
    return make_source(config.q if config.q is not None else config.p).reference(max(n, 256)).double().numpy()


def hues(images: np.ndarray) -> np.ndarray:
    """Stroke hue in degrees (n,) of coloured images (n, 3, H, W), NaN for a colourless one."""
    return image_hues(torch.from_numpy(np.ascontiguousarray(images))).numpy()


def translation_scores(inputs: np.ndarray, outputs: np.ndarray, target: int) -> dict[str, float]:
    """``efm_core.translation_report`` of a translation of coloured digits to the class ``target``."""
    return translation_report(inputs, outputs, target)
