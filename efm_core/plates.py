"""The two charged plates of EFM and validation of every input that reaches the core.

Conventions (used everywhere in ``efm_core``):

* data live in R^D; the augmented space is R^{D+1} with **z the last coordinate**;
* P's samples are positive charges on the plate z = 0, Q's samples negative charges on z = L;
* by default every positive charge is +1/N and every negative charge -1/M, so each plate carries total charge 1;
  optional per-charge weights (non-negative magnitudes) unbalance them, and are normalised to sum to 1 per plate
  unless ``normalize=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from torch import Tensor

from . import limits


def _as_tensor(name: str, value: object, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value))  # via numpy: Python floats stay float64, not float32
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be an array of numbers; got {type(value).__name__} ({err}).") from None
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"{name} must hold real numbers; got dtype {tensor.dtype}.")
    _check_storage(name, tensor)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype() if like is None else like.dtype)
    if like is not None:
        converted = tensor.to(dtype=like.dtype, device=like.device)
        if converted.dtype != tensor.dtype and bool(torch.isfinite(tensor).all()) and not bool(torch.isfinite(converted).all()):
            raise ValueError(
                f"{name} holds values beyond the range of {str(like.dtype).removeprefix('torch.')} "
                f"(|value| <= {torch.finfo(like.dtype).max:.3g}); rescale them."
            )
        tensor = converted
    return tensor


def is_number(value: object) -> bool:
    """A real number that is not a bool (numpy scalars count)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is a positive integer (int or numpy integer, not bool); else ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def systematic_indices(weights: object, n: int, offset: float = 0.5) -> Tensor:
    """n indices (n,) int64 into ``weights`` (N,) >= 0 by systematic sampling: index i appears n w_i / sum(w) times
    up to rounding (so lines, or rows, are spread in proportion to the weights with the least possible noise).

    The n points u_k = (offset + k) / n, k = 0..n-1, in [0, 1) are looked up in the normalised cumulative weights
    (float64, on the CPU). ``offset`` in [0, 1): 0.5 (the default) is deterministic; a uniform random offset makes
    the counts unbiased; every count is within 1 of n w_i / sum(w).
    """
    n = check_positive_int("n", n)
    w = torch.as_tensor(weights).detach().to("cpu", torch.float64).reshape(-1)
    u = (float(offset) + torch.arange(n, dtype=torch.float64)) / n
    cum = torch.cumsum(w, 0)
    return torch.searchsorted(cum / cum[-1], u).clamp(max=w.numel() - 1)


def plate_stops(from_front: Tensor, e_z: Tensor) -> Tensor:
    """Theorem 3.1's plate rule, the one home of it (``lines`` and ``theorem`` both apply it): (B,) bool, a line that
    crosses the end plate stops there unless the field just beyond the plate carries it on.

    ``from_front`` (B,): the crossing comes from the side of the start plate; ``e_z`` (B,): the normal component of the
    field (along the direction of travel's axis, any positive scale) probed just beyond the crossing, behind the plate
    for a crossing from the front and in front of it for one from behind. A crossing from the front stops if
    e_z <= 0 (the field behind the plate points back into it), one from behind if e_z >= 0.
    """
    return torch.where(from_front, e_z <= 0, e_z >= 0)


def _check_storage(name: str, tensor: Tensor) -> None:
    """ValueError for tensors the core cannot compute with: meta (no data) and those that require grad (the
    exact field has no gradient; in-place work on them fails)."""
    if tensor.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor (shape only, no values); give a tensor with data, e.g. on the CPU.")
    if tensor.requires_grad:
        raise ValueError(f"{name} requires grad; the exact field is computed without autograd: pass {name.split()[0]}.detach().")


def check_points(name: str, value: object, dim: int | None = None, like: Tensor | None = None) -> Tensor:
    """Return ``value`` as a finite 2-D float tensor of shape (n, dim) with n >= 1, or raise ValueError.

    ``dim`` is the required number of columns (None: any). ``like`` fixes dtype and device.
    """
    tensor = _as_tensor(name, value, like)
    if tensor.ndim == 1 and dim == 1:
        tensor = tensor[:, None]
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n, {dim if dim is not None else 'dim'}); got shape {tuple(tensor.shape)}. "
            "Reshape it so that each row is one point."
        )
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty: give at least one point.")
    if dim is not None and tensor.shape[1] != dim:
        raise ValueError(
            f"{name} has {tensor.shape[1]} coordinates per point but {dim} are needed; "
            "check that every array uses the same data dimension D (points in R^{D+1} carry z last)."
        )
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).any(dim=1).sum())
        raise ValueError(f"{name} contains NaN or infinite values in {bad} row(s); remove or fix them.")
    limits.check_magnitude(name, tensor)
    return tensor


def check_gap(L: object, dtype: torch.dtype = torch.float64) -> float:
    """Return the plate distance L as a float, or raise ValueError unless it is > 0 and at most
    ``limits.max_coordinate(dtype)`` (beyond it squared distances overflow in ``dtype``)."""
    if isinstance(L, (str, bytes, bool)):
        raise ValueError(f"L must be a number (the distance between the plates), not {type(L).__name__} {L!r}.")
    try:
        gap = float(L)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"L must be a number (the distance between the plates); got {L!r}.") from None
    if not (gap > 0 and gap < float("inf")):
        raise ValueError(f"L must be finite and > 0 (the distance between the plates); got {gap}.")
    if gap > limits.max_coordinate(dtype):
        raise ValueError(f"L = {gap:.3g} is too large: in {str(dtype).removeprefix('torch.')} L is at most {limits.max_coordinate(dtype):.3g}. Rescale the data and L.")
    return gap


def check_weights(name: str, value: object | None, n: int, like: Tensor, normalize: bool = True) -> Tensor:
    """Per-charge magnitudes of one plate, shape (n,), non-negative, not all zero; default 1/n each."""
    if value is None:
        return torch.full((n,), 1.0 / n, dtype=like.dtype, device=like.device)
    weights = _as_tensor(name, value, like).reshape(-1)
    if weights.shape[0] != n:
        raise ValueError(f"{name} has {weights.shape[0]} entries but the plate has {n} charges; give one weight per charge.")
    if not torch.isfinite(weights).all():
        raise ValueError(f"{name} contains NaN or infinite values; every charge needs a finite weight.")
    if (weights < 0).any():
        raise ValueError(f"{name} must be non-negative magnitudes (the sign comes from the plate); found a negative entry.")
    top = weights.max()
    if top <= 0:
        raise ValueError(f"{name} sums to zero: at least one charge on the plate must carry charge.")
    if not normalize:
        return weights
    scaled = weights / top  # in [0, 1]: the sum cannot overflow even for magnitudes near the largest float
    return scaled / scaled.sum()


@dataclass(frozen=True)
class Plates:
    """Validated charges of both plates.

    Attributes:
        pos: (N, D) data coordinates of the positive charges (plate z = 0).
        neg: (M, D) data coordinates of the negative charges (plate z = L).
        L: plate distance, > 0.
        pos_weights: (N,) magnitudes of the positive charges (default 1/N each).
        neg_weights: (M,) magnitudes of the negative charges (default 1/M each).
    """

    pos: Tensor
    neg: Tensor
    L: float
    pos_weights: Tensor
    neg_weights: Tensor

    @property
    def D(self) -> int:
        """Data dimension D; the space is R^{D+1}."""
        return int(self.pos.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.pos.dtype

    @property
    def device(self) -> torch.device:
        return self.pos.device

    def lifted_pos(self) -> Tensor:
        """(N, D+1) positive charges in R^{D+1}: z = 0 appended."""
        return lift(self.pos, 0.0)

    def lifted_neg(self) -> Tensor:
        """(M, D+1) negative charges in R^{D+1}: z = L appended."""
        return lift(self.neg, self.L)

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Plates:
        kw = {"dtype": dtype or self.dtype, "device": device or self.device}
        return Plates(self.pos.to(**kw), self.neg.to(**kw), self.L, self.pos_weights.to(**kw), self.neg_weights.to(**kw))


def lift(x: Tensor, z: float | Tensor) -> Tensor:
    """Append the height ``z`` (scalar or (n,)) to data points ``x`` of shape (n, D): returns (n, D+1)."""
    col = torch.as_tensor(z, dtype=x.dtype, device=x.device).expand(x.shape[0])
    return torch.cat([x, col[:, None]], dim=1)


def make_plates(
    pos: object,
    neg: object,
    L: object,
    pos_weights: object | None = None,
    neg_weights: object | None = None,
    *,
    normalize: bool = True,
) -> Plates:
    """Validate and bundle both plates. ``pos`` (N, D) and ``neg`` (M, D) are data coordinates (no z column).

    The dtype and device follow ``pos`` (a float tensor); lists and numpy arrays become float64 tensors.
    Raises ValueError with a message that says what is wrong and how to fix it.
    """
    if not isinstance(pos, Tensor):
        pos = _as_tensor("pos", pos).to(torch.float64)
    p = check_points("pos (the positive charges on P)", pos)
    n = check_points("neg (the negative charges on Q)", neg, dim=p.shape[1], like=p)
    gap = check_gap(L, p.dtype)
    wp = check_weights("pos_weights", pos_weights, p.shape[0], p, normalize)
    wn = check_weights("neg_weights", neg_weights, n.shape[0], p, normalize)
    return Plates(p, n, gap, wp, wn)
