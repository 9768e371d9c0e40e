"""Stated limits on sizes and scales, checked before anything is allocated, and the size of a net from its spec.

Every size a user, a file or a model card can choose has an upper bound here, so that no input makes the library or
the CLI allocate gigabytes or run without end. The limits are generous for the project's own work (the largest
shipped net has about 2 M parameters) and each refusal says which limit was hit and how to stay under it.

A net is sized without allocating it: ``net_size`` constructs it on PyTorch's ``meta`` device (shapes only, no memory,
no random numbers drawn) and asks it how many numbers one item's forward pass produces (a meta forward pass would
count them exactly, but its first call imports hundreds of modules and takes seconds).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from numbers import Integral
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

MAX_PARAMETERS = 64_000_000  # trainable parameters of one net (256 MB of float32 weights)
MAX_ACTIVATION_BYTES = 2 * 1024**3  # float32 outputs of every layer in one forward pass at the batch used (2 GiB)
MAX_WIDTH = 1 << 16  # features or channels of one layer (checked before building on meta)
MAX_NET_DEPTH = 64  # residual blocks of an MLP; U-Net levels x blocks per level (checked before building on meta)
MAX_ITEM_NUMBERS = 1 << 22  # numbers per data item (D, or C x H x W)
MAX_IMAGE_SIDE = 512  # pixels per side of an image read from a folder
MAX_BATCH = 1 << 16  # charges or training points per step (config n_charges, n_queries)
MAX_TRAIN_STEPS = 10_000_000  # training steps of one run
MAX_SOLVER_STEPS = 10_000  # solver steps per line (fixed-step count, rk45 initial and maximum steps)
MAX_ITEMS = 100_000  # items generated or translated in one call (CLI sample / transport --n, input rows)
MAX_EVAL_ITEMS = 5000  # items for metrics (exact W2 is O(n^3) in time and O(n^2) in memory)
MAX_POINTS = 1_000_000  # rows of a point-cloud file
MAX_LINES = 10_000  # field lines in one trace
MAX_TRACER_STEPS = 100_000  # attempted steps per field line
MAX_CARD_BYTES = 8 * 1024**2  # a JSON model card or config file
MAX_JSON_DEPTH = 32  # nesting levels of a JSON card or config (the project's own need 4)
MAX_ARRAY_BYTES = 1024**3  # a .npy file read as input
MAX_THREADS = 1024  # torch CPU threads
MAX_SEED = 2**63 - 1  # |seed| of a torch.Generator
FAR_ERROR = 1e-3  # warn where the cancellation error of the two plates' fields may exceed this (direction units)


def check_count(name: str, value: object, limit: int, minimum: int = 1, why: str = "") -> int:
    """``value`` as an int in [minimum, limit], else ValueError naming ``name``, the limit and ``why`` it exists."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}.")
    if value > limit:
        raise ValueError(f"{name} = {value} is above the limit of {limit}{f' ({why})' if why else ''}.")
    return int(value)


def check_seed(name: str, value: object) -> int:
    """A seed as an int with |seed| <= ``MAX_SEED`` (what ``torch.Generator.manual_seed`` accepts)."""
    return check_count(name, value, MAX_SEED, -MAX_SEED, "a torch generator seed is a 64-bit integer")


def read_json(path: Path, what: str) -> object:
    """The JSON document in the file ``path`` (at most ``MAX_CARD_BYTES``), checked by ``parse_json``."""
    size = path.stat().st_size
    if size > MAX_CARD_BYTES:
        raise ValueError(f"{path.name} has {size} bytes; a {what} is at most {MAX_CARD_BYTES} bytes.")
    return parse_json(path.read_bytes(), path.name, what)


def parse_json(raw: bytes, name: str, what: str) -> object:
    """A JSON document from ``raw`` bytes; ValueError naming ``name`` (never quoting the content) if it is larger
    than ``MAX_CARD_BYTES``, not UTF-8, not JSON, nested deeper than ``MAX_JSON_DEPTH`` (deep nesting would
    otherwise be a RecursionError) or holds an integer of more than 4300 digits."""
    if len(raw) > MAX_CARD_BYTES:
        raise ValueError(f"{name} has {len(raw)} bytes; a {what} is at most {MAX_CARD_BYTES} bytes.")
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{name} is not a valid JSON {what}: it is not UTF-8 text.") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} is not a valid JSON {what}: {err.msg} at line {err.lineno}, column {err.colno}.") from None
    except RecursionError:
        raise ValueError(f"{name} is not a usable JSON {what}: it is nested too deeply.") from None
    except ValueError as err:  # e.g. an integer with too many digits
        raise ValueError(f"{name} is not a usable JSON {what}: {err}.") from None
    if _depth(document) > MAX_JSON_DEPTH:
        raise ValueError(f"{name} is not a usable JSON {what}: it is nested more than {MAX_JSON_DEPTH} levels deep.")
    return document


def _depth(document: object) -> int:
    """Nesting depth of parsed JSON (0 for a number or string), found without recursion."""
    deepest, stack = 0, [(document, 0)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


# --- nets -------------------------------------------------------------------------------------------------------


class NetSize(NamedTuple):
    """Trainable parameters and the bytes of every layer's output in one forward pass at ``batch`` items."""

    parameters: int
    activation_bytes: int
    batch: int


def check_net_shape(kind: str, options: dict, data_shape: tuple[int, ...]) -> None:
    """Refuse, before any building, a width, depth, number of levels or item size above the stated limits."""
    numbers = math.prod(int(s) for s in data_shape)
    if numbers > MAX_ITEM_NUMBERS:
        raise ValueError(f"data items of shape {tuple(data_shape)} hold {numbers} numbers; the limit is {MAX_ITEM_NUMBERS}.")
    widths = [options.get(k, 1) for k in ("width", "emb_features")]
    widths += [options.get("channels", 1) * m for m in options.get("mults", (1,))]
    if max(widths) > MAX_WIDTH:
        raise ValueError(f"a {kind} net of width {max(widths)} (features or channels of one layer) is above the limit of {MAX_WIDTH}.")
    depth = options.get("depth", 0)
    if kind in ("unet", "edm_unet"):
        depth = len(options.get("mults", ())) * (1 + 2 * options.get("blocks", 1))
    if depth > MAX_NET_DEPTH:
        raise ValueError(f"a {kind} net of depth {depth} (blocks in all) is above the limit of {MAX_NET_DEPTH}.")


def net_size(make: Callable[[], nn.Module], batch: int = 1) -> NetSize:
    """Size of the net ``make()`` builds, found on the ``meta`` device (nothing is allocated and no random number is
    drawn): its trainable parameters and ``net.activation_numbers()`` (numbers per item in the layer outputs of
    one forward pass) x ``batch`` x 4 bytes."""
    with torch.device("meta"):
        net = make()
    parameters = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return NetSize(parameters, 4 * batch * int(net.activation_numbers()), batch)


def check_net_size(size: NetSize, what: str = "the net") -> None:
    """ValueError if ``size`` is above ``MAX_PARAMETERS`` or ``MAX_ACTIVATION_BYTES``, saying by how much."""
    if size.parameters > MAX_PARAMETERS:
        raise ValueError(
            f"{what} has {size.parameters:,} parameters; the limit is {MAX_PARAMETERS:,}. Use a smaller width, "
            "depth or number of channels."
        )
    if size.activation_bytes > MAX_ACTIVATION_BYTES:
        raise ValueError(
            f"{what} needs {size.activation_bytes / 1024**3:.3g} GiB of activations for a batch of {size.batch}; the "
            f"limit is {MAX_ACTIVATION_BYTES / 1024**3:g} GiB. Use a smaller batch or net."
        )


# --- scales of the exact field ----------------------------------------------------------------------------------


def max_coordinate(dtype: torch.dtype) -> float:
    """Largest |coordinate| (and L) the exact field accepts in ``dtype``: squared distances over up to ~3000
    dimensions stay finite (sqrt of the largest float, divided by 1e4): about 1.3e150 in float64, 1.8e15 in float32."""
    return math.sqrt(torch.finfo(dtype).max) / 1e4


def check_magnitude(name: str, tensor: Tensor) -> None:
    """ValueError if a float tensor holds a coordinate beyond ``max_coordinate`` of its dtype."""
    if tensor.numel() == 0 or not tensor.is_floating_point():
        return
    top = float(tensor.abs().max())
    limit = max_coordinate(tensor.dtype)
    if top > limit:
        raise ValueError(
            f"{name} has a coordinate of size {top:.3g}; in {str(tensor.dtype).removeprefix('torch.')} the field "
            f"is computed for |coordinates| <= {limit:.3g} (squared distances would overflow). Rescale the data."
        )


def warn_far_points(points: Tensor, pos: Tensor, neg: Tensor, L: float) -> None:
    """RuntimeWarning for query points so far from the charges that the two plates' fields cancel below the dtype's
    precision. ``points`` (B, D+1), ``pos``/``neg`` lifted charges (N, D+1), (M, D+1).

    Far away each plate's field is almost that of one point charge, and what is left of their difference is of
    relative size s / R, s = max(L, distance between the plates' centroids), R = the distance from the charges. The
    rounding error of the direction then grows like 5 eps R / s (measured against 400-digit arithmetic in D = 1: 1e-7
    at R / s = 1e8, 1e-3 at 1e12, meaningless beyond 1e14); the warning starts where it may exceed ``FAR_ERROR``.
    """
    if points.numel() == 0:
        return
    charges = torch.cat([pos, neg])
    centre = charges.mean(0)
    extent = float(torch.linalg.vector_norm(charges - centre, dim=1).max())
    s = max(L, float(torch.linalg.vector_norm(pos.mean(0) - neg.mean(0))))
    reach = FAR_ERROR / (5 * torch.finfo(points.dtype).eps) * s
    far = (torch.linalg.vector_norm(points - centre, dim=1) - extent) > reach
    if bool(far.any()):
        warnings.warn(
            f"{int(far.sum())} query point(s) lie more than {reach:.3g} from the charges ({reach / s:.3g} x the "
            f"plates' separation {s:.3g}): there the two plates' fields cancel below "
            f"{str(points.dtype).removeprefix('torch.')} precision and the direction may be wrong or zero.",
            RuntimeWarning,
            stacklevel=3,
        )


def warn_lost_lines(case: Tensor, lost: int, L: float, scale: float, dtype: torch.dtype) -> None:
    """RuntimeWarning when traced lines (``case`` (K,), ``lost`` the LOST index) are lost for a likely reason: the gap
    L is within a million float epsilons of the coordinates' ``scale`` (any line lost), or at least half are lost."""
    n_lost = int((case == lost).sum())
    resolution = 1e6 * torch.finfo(dtype).eps * scale
    if n_lost == 0 or (L >= resolution and 2 * n_lost < case.numel()):
        return
    reason = (
        f" L = {L:.3g} is below {resolution:.3g}, a million {str(dtype).removeprefix('torch.')} epsilons of the "
        "charges' coordinates: the tracer cannot resolve the gap. Rescale the data so that L is comparable to the "
        "charges' spacing."
        if L < resolution
        else " Lines are lost when they leave the region around the charges, stall at a zero of the field or run out "
        "of max_steps."
    )
    warnings.warn(f"{n_lost} of {case.numel()} field lines were lost.{reason}", RuntimeWarning, stacklevel=3)
