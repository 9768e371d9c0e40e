"""Data sources: what a config's data spec names, made into something to draw from (``make_source``).

A config only names its data (a spec dict, kept in checkpoints); this module makes it, and says what a spec alone
tells without reading anything (``spec_info``: the shape and value range of its items), so that building a net and
sampling from a checkpoint never read its data.

Data source specs:

* ``{"kind": "toy", "name": "two_moons", "D": 2}``: fresh samples of ``efm_core.data.TOYS[name]`` every draw;
* ``{"kind": "gaussian", "shape": [1, 8, 8], "std": 1.0}``: N(0, std^2 I) noise of any shape;
* ``{"kind": "digits", "classes": null, "split": "train"}``: scikit-learn's 8x8 digits (n, 1, 8, 8) in [-1, 1]
  (``split`` all | train | test of ``data.images.digits_split``; ``classes`` a list of digits or null for all);
* ``{"kind": "coloured_digits", "classes": [2], "split": "train"}``: the same strokes in one random hue per image,
  redrawn at every draw (hue augmentation), (n, 3, 8, 8);
* ``{"kind": "points_file", "path": "cloud.csv"}``: a user's point cloud (CSV or NPY, ``data.files.load_point_cloud``);
* ``{"kind": "image_folder", "path": "dir", "size": 8, "channels": 1}``: a user's images
  (``data.files.load_image_folder``);
* ``{"kind": "fashion_mnist", "split": "train", "classes": null}``: Fashion-MNIST (n, 1, 28, 28) in [-1, 1] from the
  local idx files (``data.datasets.load_fashion_mnist``: --data-dir / $EFM_DATA_DIR / the Debian package's folder);
  the train split holds out the published test split for evaluation;
* ``{"kind": "cifar10", "split": "train", "classes": null}``: CIFAR-10 (n, 3, 32, 32) in [-1, 1] from its binary
  batches (``data.datasets.load_cifar10``, --data-dir or $EFM_DATA_DIR);
* ``{"kind": "memory", "shape": [2], "clip": null, "name": "..."}``: items held in memory and handed to
  ``Trainer`` (``as_source``), e.g. the Training lab's charges; the spec names them, nothing is read or stored.

A draw of n items from a finite set (digits, files, memory) is a random subset without replacement, or the whole set
in random order when n exceeds its size.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch
from torch import Tensor

from . import datasets, files, images
from .toys import TOYS

SOURCE_KINDS = (
    "toy", "gaussian", "digits", "coloured_digits", "points_file", "image_folder", "fashion_mnist", "cifar10", "memory",
)
IMAGE_SETS = {"fashion_mnist": datasets.load_fashion_mnist, "cifar10": datasets.load_cifar10}  # local labelled sets
IMAGE_RANGE = (-1.0, 1.0)  # the value range of every image kind
_FIXED_SHAPES = {  # the item shape of every kind whose shape its spec does not state
    "digits": (1, 8, 8), "coloured_digits": (3, 8, 8), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32),
}


class DataInfo(NamedTuple):
    """What a plate's items are, as a model card records it: ``shape`` of one item and ``clip``, the valid value range
    ((-1, 1) for images, None for points)."""

    shape: tuple[int, ...]
    clip: tuple[float, float] | None

    def to_card(self) -> dict:
        """JSON-able: {"shape": [...], "clip": [lo, hi] or null}."""
        return {"shape": list(self.shape), "clip": None if self.clip is None else list(self.clip)}

    @classmethod
    def from_card(cls, entry: object) -> DataInfo:
        """The inverse of ``to_card``; ValueError for anything else."""
        shape = entry.get("shape") if isinstance(entry, dict) else None
        clip = entry.get("clip") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
            raise ValueError(f"a data entry needs 'shape', a list of positive integers; got {entry!r}.")
        if clip is not None and not (isinstance(clip, list) and len(clip) == 2 and all(isinstance(c, int | float)
                                                                                        for c in clip)):
            raise ValueError(f"a data entry's 'clip' is null or [low, high]; got {clip!r}.")
        return cls(tuple(shape), None if clip is None else (float(clip[0]), float(clip[1])))


def check_spec(spec: object, what: str = "a data spec") -> dict:
    """``spec`` if it is a dict whose 'kind' is one of ``SOURCE_KINDS``, else ValueError naming ``what``."""
    if not isinstance(spec, dict) or spec.get("kind") not in SOURCE_KINDS:
        raise ValueError(f"{what} must be a data spec, a dict whose 'kind' is one of {', '.join(SOURCE_KINDS)}; "
                         f"got {spec!r}.")
    return spec


def spec_info(spec: dict) -> DataInfo | None:
    """The shape and value range of a spec's items from the spec alone (nothing is read), or None where only its data
    can tell (a point file). ValueError for a bad spec."""
    kind = check_spec(spec)["kind"]
    if kind == "points_file":
        return None
    if kind == "toy":
        return ToySource(spec).info
    if kind in ("gaussian", "memory"):
        shape = _shape(spec)
        return DataInfo(shape, _clip(spec) if kind == "memory" else None)
    if kind == "image_folder":
        size = spec.get("size", 8)
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return DataInfo((int(spec.get("channels", 1)), int(h), int(w)), IMAGE_RANGE)
    return DataInfo(_FIXED_SHAPES[kind], IMAGE_RANGE)


def data_info(spec: dict) -> DataInfo:
    """``spec_info`` where the spec tells, else read from its data (a point file: ValueError if it is gone)."""
    info = spec_info(spec)
    return info if info is not None else make_source(spec).info


def _shape(spec: dict) -> tuple[int, ...]:
    shape = spec.get("shape")
    if not (isinstance(shape, list | tuple) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"a {spec['kind']} data spec needs 'shape', a list of positive integers such as [2] or "
                         f"[1, 8, 8]; got {shape!r}.")
    return tuple(shape)


def _clip(spec: dict) -> tuple[float, float] | None:
    clip = spec.get("clip")
    return DataInfo.from_card({"shape": [1], "clip": clip}).clip


class Source:
    """A distribution to draw from: ``sample(n, generator)`` -> float32 (n, *shape) on the CPU.

    ``clip`` is the valid range of the data ((-1, 1) for images, None for points), ``labels`` of a finite set
    (or None), ``reference(n, seed)`` held-out or fresh items for evaluation.
    """

    def __init__(self, spec: dict, shape: tuple[int, ...], clip: tuple[float, float] | None) -> None:
        self.spec = spec
        self.shape = shape
        self.clip = clip

    @property
    def info(self) -> DataInfo:
        """The shape of one item and the value range (what a model card records)."""
        return DataInfo(tuple(self.shape), self.clip)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """n fresh items (seeded) to evaluate against."""
        return self.sample(n, torch.Generator().manual_seed(int(seed)))


class ToySource(Source):
    def __init__(self, spec: dict) -> None:
        name, D = spec.get("name"), spec.get("D", 2)
        if name not in TOYS:
            raise ValueError(f"unknown toy {name!r} in a data spec; choose one of: {', '.join(TOYS)}.")
        if D not in (1, 2):
            raise ValueError(f"toys exist for D = 1 and D = 2; got D = {D!r}.")
        super().__init__(spec, (int(D),), None)
        self.sampler = TOYS[name]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.sampler(n, self.shape[0], generator).float()


class GaussianSource(Source):
    def __init__(self, spec: dict) -> None:
        std = spec.get("std", 1.0)
        shape = _shape(spec)
        if not (isinstance(std, int | float) and std > 0):
            raise ValueError(f"a gaussian data spec needs std > 0; got {std!r}.")
        super().__init__(spec, shape, None)
        self.std = float(std)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.std * torch.randn((n, *self.shape), generator=generator)


class FiniteSource(Source):
    """A finite set of items (n, *shape); draws are random subsets."""

    def __init__(self, spec: dict, items: Tensor, clip: tuple[float, float] | None,
                 labels: Tensor | None = None, held_out: Tensor | None = None) -> None:
        super().__init__(spec, tuple(items.shape[1:]), clip)
        self.items = items.float()
        self.labels = labels
        self.held_out = held_out

    def indices(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randperm(self.items.shape[0], generator=generator)[:n]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.items[self.indices(n, generator)]

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """The held-out items if the spec names a train split (all of them, up to n), else a seeded subset."""
        if self.held_out is not None:
            return self.held_out[:n]
        return super().reference(n, seed)


class ColouredDigitsSource(FiniteSource):
    """Grey digit strokes coloured with a fresh uniformly random hue at every draw. A draw of more items than the set
    holds repeats strokes (with replacement), each copy in its own hue, so that P and Q batches have n items each."""

    def __init__(self, spec: dict, items: Tensor, clip: tuple[float, float] | None,
                 labels: Tensor | None = None, held_out: Tensor | None = None) -> None:
        super().__init__(spec, items, clip, labels, held_out)
        self.shape = (3, *self.shape[1:])  # the grey strokes (1, H, W) are drawn as RGB (3, H, W)

    def indices(self, n: int, generator: torch.Generator) -> Tensor:
        size = self.items.shape[0]
        return super().indices(n, generator) if n <= size else torch.randint(size, (n,), generator=generator)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        idx = self.indices(n, generator)
        hues = 360.0 * torch.rand(idx.shape[0], generator=generator)
        return images.colourise(self.items[idx], hues)

    def reference(self, n: int, seed: int = 12345) -> Tensor:
        """n held-out strokes (cycled if there are fewer) in fresh random hues."""
        g = torch.Generator().manual_seed(int(seed))
        base = self.held_out if self.held_out is not None else self.items
        order = torch.randperm(base.shape[0], generator=g)
        base = base[order[torch.arange(n) % base.shape[0]]]
        return images.colourise(base, 360.0 * torch.rand(n, generator=g))


@lru_cache(maxsize=8)
def _digits(split: str, classes: tuple[int, ...] | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """(items, labels, held-out items) of one split of the digits, grey (n, 1, 8, 8)."""
    if split not in ("all", "train", "test"):
        raise ValueError(f"digits split must be 'all', 'train' or 'test'; got {split!r}.")
    if split == "all":
        data, other = images.load_digits(), None
    else:
        train, test = images.digits_split()
        data, other = (train, test) if split == "train" else (test, None)
    if classes is not None:
        data = images.select_classes(data, classes)
        other = images.select_classes(other, classes) if other is not None else None
    return data.images, data.labels, other.images if other is not None else None


def make_source(spec: dict) -> Source:
    """The data source of a spec (see the module docstring); ValueError for unknown kinds or bad options (and for a
    ``memory`` spec, whose items only ``as_source`` is given)."""
    kind = check_spec(spec)["kind"]
    if kind == "toy":
        return ToySource(spec)
    if kind == "gaussian":
        return GaussianSource(spec)
    if kind in ("digits", "coloured_digits"):
        classes = spec.get("classes")
        chosen = None if classes is None else tuple(int(c) for c in classes)
        items, labels, held = _digits(spec.get("split", "all"), chosen)
        cls = FiniteSource if kind == "digits" else ColouredDigitsSource
        return cls(spec, items, IMAGE_RANGE, labels, held)
    if kind in IMAGE_SETS:
        return _image_set(spec)
    if kind == "points_file":
        return FiniteSource(spec, files.load_point_cloud(_path(spec)), None)
    if kind == "memory":
        raise ValueError(f"a memory data spec ({spec.get('name', 'unnamed')!r}) names items held in memory: hand them "
                         "to Trainer (p_data / q_data), or use a spec that names data to read.")
    items = files.load_image_folder(_path(spec), spec.get("size", 8), spec.get("channels", 1))
    return FiniteSource(spec, items, IMAGE_RANGE)


def _image_set(spec: dict) -> FiniteSource:
    """A Fashion-MNIST or CIFAR-10 source: the split's images (optionally some classes), the test split held out."""
    split, classes = spec.get("split", "train"), spec.get("classes")
    if split not in datasets.SPLITS:
        raise ValueError(f"{spec['kind']} split must be 'train' or 'test'; got {split!r}.")
    if classes is not None and not (isinstance(classes, list) and classes
                                    and all(isinstance(c, int) and 0 <= c <= 9 for c in classes)):
        raise ValueError(f"{spec['kind']} classes must be null or a list of class numbers 0..9; got {classes!r}.")
    load = IMAGE_SETS[spec["kind"]]

    def pick(data: datasets.LabelledImages) -> datasets.LabelledImages:
        if classes is None:
            return data
        keep = torch.isin(data.labels, torch.tensor(classes))
        return datasets.LabelledImages(data.images[keep], data.labels[keep])

    data = pick(load(split))
    held = pick(load("test")).images if split == "train" else None
    return FiniteSource(spec, data.images, IMAGE_RANGE, data.labels, held)


def _path(spec: dict) -> str:
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"a {spec['kind']} data spec needs 'path', the file or folder to read; got {path!r}.")
    return path


def as_source(data: Source | Tensor | None, spec: dict, what: str) -> Source:
    """The source of one plate: ``data`` if given (a ``Source``, or a tensor of items (n, *shape) drawn as a finite
    set), else ``make_source(spec)``. ValueError if the items' shape or range differs from what the spec states;
    ``what`` names the plate in messages."""
    if data is None:
        return make_source(spec)
    info = spec_info(spec)
    if isinstance(data, Tensor):
        if data.ndim < 2 or data.shape[0] < 1 or not torch.isfinite(data).all():
            raise ValueError(f"{what}: in-memory data must be finite items (n, *shape) with n >= 1; "
                             f"got shape {tuple(data.shape)}.")
        data = FiniteSource(spec, data.detach().cpu(), None if info is None else info.clip)
    if not isinstance(data, Source):
        raise ValueError(f"{what}: data must be a Source or a tensor of items; got {type(data).__name__}.")
    if info is not None and info != data.info:
        raise ValueError(f"{what}: its spec {spec!r} states items {info.shape} in range {info.clip}, "
                         f"the data given are {data.info.shape} in range {data.info.clip}.")
    return data
