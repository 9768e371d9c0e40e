"""Safe checkpoints: ``NAME.safetensors`` (tensors only) + ``NAME.json`` (model card), never executing code.

The JSON card holds the format name and version, the full ``ExperimentConfig`` (data, L, sampler, net, seed...),
what each plate's items are (``data``: {"p": {"shape": [...], "clip": [lo, hi] or null}, "q": ... or null}, so that
rebuilding the net and sampling never read the data; a card without it, from before, falls back on what its data
specs state, reading a point file only where nothing else tells its shape: ``card_data``), the training steps and
time, metrics at save time, a manifest of every tensor (dtype and shape) and the SHA-256 of the tensor file (the
card itself is not hashed). Loading refuses, with one clear ``CheckpointError`` (a ValueError) message: a missing file, a
pickle or zip file (``torch.save`` output can run code when loaded, so it is never opened), anything that is not
safetensors, a tensor file whose hash, names, dtypes or shapes differ from its card, a card from a newer format,
and weights that do not fit the net the config describes.

Tensor names: ``net.*`` the weights used for sampling (the EMA weights), ``train.*`` the optional training state
(raw weights, optimiser moments, random generator states) that makes ``--resume`` exact.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from . import limits
from .config import ExperimentConfig
from .data.sources import DataInfo, data_info, spec_info
from .nets import build_net

FORMAT = "field-matching-lab/checkpoint"
FORMAT_VERSION = 1
NET_PREFIX = "net."
TRAIN_PREFIX = "train."
_MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which file and why."""


class Checkpoint(NamedTuple):
    """A loaded checkpoint: its config, JSON card, all tensors, and the net (``net.*`` weights, eval mode)."""

    config: ExperimentConfig
    card: dict
    tensors: dict[str, Tensor]
    net: nn.Module

    def data(self, plate: str) -> DataInfo | None:
        """What the items of plate ``'p'`` or ``'q'`` are (shape, value range), as the card records them (None: no
        data on that plate)."""
        entry = self.card["data"][plate]
        return None if entry is None else DataInfo.from_card(entry)


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(NAME.safetensors, NAME.json) for ``path`` given with or without either suffix."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(tensors: dict[str, Tensor]) -> dict[str, dict]:
    return {k: {"dtype": str(v.dtype).removeprefix("torch."), "shape": list(v.shape)} for k, v in sorted(tensors.items())}


def _json_safe(value: object) -> object:
    """Metrics as strict JSON: NaN and infinities become None, tensors/numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_checkpoint(
    path: str | os.PathLike,
    config: ExperimentConfig,
    tensors: dict[str, Tensor],
    *,
    steps: int,
    metrics: dict | None = None,
    extra: dict | None = None,
    data: dict[str, DataInfo | None] | None = None,
) -> tuple[Path, Path]:
    """Write ``path``.safetensors and ``path``.json (atomically, each via a temporary file); returns both paths.

    ``tensors`` must contain the ``net.*`` weights; ``extra`` adds free-form card entries (e.g. train_seconds);
    ``data`` what the plates' items are ({"p": DataInfo, "q": DataInfo or None}; default ``plate_data(config)``).
    """
    data = plate_data(config) if data is None else data
    if not any(k.startswith(NET_PREFIX) for k in tensors):
        raise ValueError("a checkpoint needs the net's weights under names starting with 'net.'.")
    st_path, json_path = checkpoint_paths(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = st_path.with_name(st_path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, st_path)
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": config.name,
        "config": config.to_dict(),
        "data": {plate: None if info is None else info.to_card() for plate, info in data.items()},
        "steps": int(steps),
        "seed": config.seed,
        "metrics": _json_safe(metrics or {}),
        **_json_safe(extra or {}),
        "torch_version": torch.__version__,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "has_train_state": any(k.startswith(TRAIN_PREFIX) for k in tensors),
        "tensors": _manifest(tensors),
        "sha256": _sha256(st_path),
    }
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    return st_path, json_path


def read_card(path: str | os.PathLike) -> dict:
    """The validated JSON card of a checkpoint (its config parsed into ``card['config']`` as a dict)."""
    st_path, json_path = checkpoint_paths(path)
    for p in (json_path, st_path):
        if not p.is_file():
            raise CheckpointError(f"checkpoint {str(st_path.with_suffix(''))!r}: missing {p.name} (a checkpoint is NAME.safetensors + NAME.json).")
    try:
        card = limits.read_json(json_path, "model card")
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"{json_path.name} is not a Field Matching Lab model card (no \"format\": \"{FORMAT}\").")
    version = card.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{json_path.name} has no valid format_version.")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{json_path.name} has format version {version}; this code reads up to {FORMAT_VERSION}. Update the code.")
    for key, kind in (("config", dict), ("tensors", dict), ("sha256", str), ("steps", int)):
        if not isinstance(card.get(key), kind):
            raise CheckpointError(f"{json_path.name} lacks a valid {key!r} entry.")
    return card


def _check_safetensors_header(st_path: Path) -> None:
    """Refuse pickles, zips and anything whose first bytes are not a safetensors header, before parsing it."""
    with st_path.open("rb") as fh:
        head = fh.read(9)
    if head[:1] == b"\x80" or head[:2] == b"PK":
        raise CheckpointError(
            f"{st_path.name} is a pickle/torch.save file, not safetensors; it is refused because loading it could run code."
        )
    if len(head) < 9:
        raise CheckpointError(f"{st_path.name} is too short to be a safetensors file.")
    (size,) = struct.unpack("<Q", head[:8])
    if size > _MAX_HEADER or size > st_path.stat().st_size - 8 or head[8:9] != b"{":
        raise CheckpointError(f"{st_path.name} is not a safetensors file (its header is malformed).")


def load_tensors(path: str | os.PathLike) -> tuple[dict, dict[str, Tensor]]:
    """(card, tensors) of a checkpoint after every check that needs no net; tensors on the CPU."""
    card = read_card(path)
    st_path, json_path = checkpoint_paths(path)
    _check_safetensors_header(st_path)
    if _sha256(st_path) != card["sha256"]:
        raise CheckpointError(f"{st_path.name} does not match {json_path.name} (SHA-256 differs): the files belong to different checkpoints or one was modified.")
    try:
        tensors = load_file(str(st_path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{st_path.name} could not be read as safetensors: {err}.") from None
    if _manifest(tensors) != card["tensors"]:
        raise CheckpointError(f"{st_path.name}: tensor names, dtypes or shapes differ from the manifest in {json_path.name}.")
    return card, tensors


def net_state(tensors: dict[str, Tensor], prefix: str = NET_PREFIX) -> dict[str, Tensor]:
    """The state dict stored under ``prefix`` (prefix stripped)."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_into(net: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """``net.load_state_dict(state)`` with mismatches reported as one CheckpointError."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            part for part in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {unexpected[:3]}" if unexpected else "",
                f"wrong shape for {wrong[0]}: file {tuple(state[wrong[0]].shape)} vs config {tuple(own[wrong[0]].shape)}" if wrong else "",
            ) if part
        )
        raise CheckpointError(f"{what}: the weights do not fit the net described by its config ({detail}).")
    net.load_state_dict(state)


def plate_data(config: ExperimentConfig) -> dict[str, DataInfo | None]:
    """What the items of each plate of ``config`` are ({"p": DataInfo, "q": DataInfo or None}), from its specs
    (``data.sources.data_info``: a point file is read for its shape)."""
    return {"p": data_info(config.p), "q": None if config.q is None else data_info(config.q)}


def card_data(card: dict, config: ExperimentConfig, name: str) -> dict[str, DataInfo | None]:
    """What the items of each plate are, as the card ``name`` records them. A card without ``data`` (saved before it
    was recorded) falls back on what the config's specs state; a point file (no value range) has the shape of the
    other plate (P and Q share it), and only when both plates are point files is one read, else a CheckpointError
    says how to mend the card."""
    if "data" in card:
        return _recorded_data(card["data"], config, name)
    specs = {"p": config.p, "q": config.q}
    stated = {plate: None if spec is None else spec_info(spec) for plate, spec in specs.items()}
    shape = next((info.shape for info in stated.values() if info is not None), None)
    if shape is None:
        try:
            shape = data_info(config.p).shape
        except ValueError as err:
            raise CheckpointError(
                f"{name} records no data shapes (saved before they were recorded) and its P data, which would tell "
                f"them, cannot be read: {err} Put the file back, or add to the card "
                '"data": {"p": {"shape": [D], "clip": null}, "q": {"shape": [D], "clip": null}}.'
            ) from None
    return {plate: None if spec is None else stated[plate] or DataInfo(shape, None) for plate, spec in specs.items()}


def _recorded_data(entries: object, config: ExperimentConfig, name: str) -> dict[str, DataInfo | None]:
    """The card's ``data`` entry, checked against the config's plates and what their specs state."""
    try:
        data = {plate: None if entries[plate] is None else DataInfo.from_card(entries[plate]) for plate in ("p", "q")}
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{name}: its 'data' entry is not valid ({err}).") from None
    for plate, spec in (("p", config.p), ("q", config.q)):
        if (spec is None) != (data[plate] is None):
            raise CheckpointError(f"{name}: its 'data' entry does not match its config's plates ({plate}).")
        stated = None if spec is None else spec_info(spec)
        if stated is not None and stated != data[plate]:
            raise CheckpointError(f"{name}: its 'data' entry for {plate} ({data[plate]}) differs from what its "
                                  f"config's data spec states ({stated}); fix one of them.")
    return data


def build_model(config: ExperimentConfig, shape: tuple[int, ...] | None = None) -> nn.Module:
    """An untrained net for ``config`` and items of ``shape`` (default: what its P spec states, ``plate_data``),
    refused (ValueError) before it is allocated if its parameters, or its activations at the training batch
    ``n_queries``, are above the stated limits (``nets.build_net``, ``efm_core.limits``)."""
    shape = data_info(config.p).shape if shape is None else shape
    return build_net(config.net, shape, config.L, batch=config.n_queries)


def check_batch(config: ExperimentConfig, n: int, what: str = "n", shape: tuple[int, ...] | None = None) -> None:
    """ValueError unless ``n`` items of ``shape`` (default as ``build_model``) fit one forward pass of ``config``'s net
    under ``limits.MAX_ACTIVATION_BYTES`` (sized on the meta device, nothing allocated); ``what`` names the argument
    in the message."""
    shape = data_info(config.p).shape if shape is None else shape
    size = limits.net_size(lambda: build_net(config.net, shape, config.L), n)
    limits.check_net_size(size, f"{what} = {n} items through this model")


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and verify a checkpoint; the net is rebuilt from the card's config and recorded data shape (nothing of
    the data is read; ``card_data`` for older cards) and holds the ``net.*`` weights. The returned card always has
    ``data`` (``Checkpoint.data``)."""
    card, tensors = load_tensors(path)
    name = checkpoint_paths(path)[1].name
    try:
        config = ExperimentConfig.from_dict(card["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{name}: its config is not valid: {err}") from None
    data = card_data(card, config, name)
    try:
        net = build_model(config, data["p"].shape)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{name}: its config is not valid: {err}") from None
    load_into(net, net_state(tensors), name)
    card = {**card, "data": {plate: None if info is None else info.to_card() for plate, info in data.items()}}
    return Checkpoint(config, card, tensors, net.to(device).eval())
