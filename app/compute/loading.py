"""Model loading for the app: the shipped checkpoints (``pretrained/`` or ``$EFM_PRETRAINED_DIR``) and uploaded ones.

Models are loaded once per process with ``st.cache_resource``: pretrained ones keyed by file path and modification
time (a replaced checkpoint is reloaded), uploaded ones by the SHA-256 of the uploaded bytes. An upload is checked
before anything is built (file names, size, the card's config: no data read from files, no nets too big to allocate)
and then verified like any checkpoint (``efm_core.checkpoints.load_checkpoint``: safetensors + JSON, no code runs).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import streamlit as st

from efm_core.checkpoints import Checkpoint, CheckpointError, checkpoint_paths, load_checkpoint
from efm_core.config import ExperimentConfig
from efm_core.data import datasets
from efm_core.data.sources import data_info
from efm_core.metrics import DIGITS_COPY_DISTANCE, FASHION_COPY_DISTANCE

PRETRAINED_ENV = "EFM_PRETRAINED_DIR"  # overrides the folder of the shipped checkpoints (tests, your own runs)
# a data set read from local files that is not installed: pages catch it from here, never from efm_core
DatasetError = datasets.DatasetError


def pretrained_dir() -> Path:
    """The folder of the shipped checkpoints: ``$EFM_PRETRAINED_DIR`` if set, else ``pretrained/`` of this
    repository."""
    env = os.environ.get(PRETRAINED_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "pretrained"


def pretrained_path(name: str) -> Path | None:
    """``pretrained_dir() / name`` if both its files (NAME.safetensors and NAME.json) are there, else None."""
    base = pretrained_dir() / name
    return base if all(p.is_file() for p in checkpoint_paths(base)) else None


@st.cache_resource(max_entries=16, show_spinner=False)
def _load_file(path: str, stamp: tuple[float, int]) -> Checkpoint:
    """A checkpoint loaded once per process and (path, modification time and size of its tensor file)."""
    return load_checkpoint(path)


def load_pretrained(name: str) -> Checkpoint | None:
    """The shipped checkpoint ``name``, None if it is not there. Raises ``CheckpointError`` if it is there but
    broken."""
    base = pretrained_path(name)
    if base is None:
        return None
    info = checkpoint_paths(base)[0].stat()
    return _load_file(str(base), (info.st_mtime, info.st_size))


def pretrained_key(name: str) -> str:
    """A cache key for the shipped checkpoint ``name`` that changes when its file is replaced ('' if missing)."""
    base = pretrained_path(name)
    if base is None:
        return ""
    info = checkpoint_paths(base)[0].stat()
    return f"{name}@{info.st_mtime_ns}:{info.st_size}"


def missing_message(name: str) -> str:
    """What to do when the checkpoint ``name`` is not in the pretrained folder."""
    return (
        f"The checkpoint **{name}** is not in `{pretrained_dir().name}/`. Train it with "
        f"`python -m efm_core train --preset {name} --out pretrained`, or upload one on the Generation page."
    )


MAX_UPLOAD_BYTES = 64 * 1024 * 1024
UPLOAD_NAME = "upload"  # the name an uploaded pair is written under, inside its own temporary folder
UPLOAD_SOURCES = ("toy", "gaussian", "digits", "coloured_digits")  # data the app can rebuild without reading files
MAX_ITEM_SIZE = 3 * 64 * 64  # numbers per data item
NET_LIMITS = {"width": 4096, "depth": 32, "channels": 512, "blocks": 8, "emb_features": 1024}


def _check_upload_config(config: ExperimentConfig, name: str) -> None:
    """Refuse configs the app should not build: data read from files on this server, nets too big to allocate, or
    PFGM / PFGM++ models (their lines start on a prior, not on P: the pages draw lines between two plates)."""
    if config.one_plate:
        raise CheckpointError(f"{name}: a {config.objective} model generates from its prior, which the app's pages "
                              "do not draw; sample and evaluate it with the CLI (python -m efm_core sample / eval).")
    for side in ("p", "q"):
        spec = getattr(config, side)
        if spec is not None and spec.get("kind") not in UPLOAD_SOURCES:
            raise CheckpointError(
                f"{name}: its data ({side} = {spec.get('kind')!r}) is read from files, which the app does not open for "
                f"an uploaded checkpoint. Use the CLI for it; here, data must be one of {', '.join(UPLOAD_SOURCES)}."
            )
    size = math.prod(data_info(config.p).shape)
    if size > MAX_ITEM_SIZE:
        raise CheckpointError(f"{name}: its data items have {size} numbers; the app handles at most {MAX_ITEM_SIZE}.")
    for key, limit in NET_LIMITS.items():
        value = config.net.get(key)
        if isinstance(value, int | float) and value > limit:
            raise CheckpointError(f"{name}: net {key} = {value} is larger than the app allows ({limit}).")
    mults = config.net.get("mults")
    if isinstance(mults, list) and (len(mults) > 5 or any(not isinstance(m, int) or m > 16 for m in mults)):
        raise CheckpointError(f"{name}: net mults {mults} are outside what the app allows (at most 5 levels, each "
                              "<= 16).")


def read_upload(files: Sequence[tuple[str, bytes]]) -> tuple[str, str, bytes, bytes]:
    """Check an upload of (file name, bytes) pairs: exactly one .safetensors and one .json, within the size limit.

    Returns (digest, base name, tensor bytes, card bytes); the digest keys the loaded model. Raises ValueError with a
    message for the user.
    """
    by_suffix: dict[str, list[tuple[str, bytes]]] = {".safetensors": [], ".json": []}
    for fname, data in files:
        suffix = Path(fname).suffix.lower()
        if suffix not in by_suffix:
            raise ValueError(f"{fname!r} is neither a .safetensors nor a .json file; a checkpoint is NAME.safetensors "
                             "+ NAME.json.")
        by_suffix[suffix].append((fname, data))
    for suffix, found in by_suffix.items():
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise ValueError(
                f"{what} {suffix} file{'s' if len(found) != 1 else ''} in the upload; upload exactly one "
                "NAME.safetensors and its NAME.json model card together (as written by `python -m efm_core train`)."
            )
    (_, st_bytes), (js_name, js_bytes) = by_suffix[".safetensors"][0], by_suffix[".json"][0]
    total = len(st_bytes) + len(js_bytes)
    if total > MAX_UPLOAD_BYTES:
        raise ValueError(f"the upload is {total / 2**20:.0f} MB; the app takes checkpoints up to "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB.")
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(js_name).stem)[:64] or "upload"
    digest = hashlib.sha256(st_bytes + b"\0" + js_bytes).hexdigest()
    return digest, base, st_bytes, js_bytes


@st.cache_resource(max_entries=4, show_spinner=False)
def load_uploaded(digest: str, base: str, _st_bytes: bytes, _js_bytes: bytes) -> Checkpoint:
    """An uploaded checkpoint (see ``read_upload``), verified like any other (``load_checkpoint``) after its config
    passed the app's own checks. Raises ``CheckpointError`` (a ValueError) saying what is wrong."""
    try:
        card = json.loads(_js_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{base}.json is not a valid JSON model card: {err}.") from None
    except RecursionError:
        raise CheckpointError(f"{base}.json is nested too deeply to be a model card.") from None
    if not isinstance(card, dict) or not isinstance(card.get("config"), dict):
        raise CheckpointError(f"{base}.json is not a Field Matching Lab model card (it has no 'config').")
    try:
        config = ExperimentConfig.from_dict(card["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{base}.json: its config is not valid: {err}") from None
    _check_upload_config(config, f"{base}.json")
    with tempfile.TemporaryDirectory() as folder:  # the pair under names the app chooses, never the upload's own
        st_path, js_path = checkpoint_paths(Path(folder) / UPLOAD_NAME)
        st_path.write_bytes(_st_bytes)
        js_path.write_bytes(_js_bytes)
        return load_checkpoint(Path(folder) / UPLOAD_NAME)


def describe(ckpt: Checkpoint) -> str:
    """One line about a checkpoint: objective, data, L, steps, training time."""
    c = ckpt.config
    what = {"efm": "EFM", "fm": "flow matching", "pfgm": "PFGM", "pfgmpp": "PFGM++"}[c.objective]
    minutes = ckpt.card.get("cpu_minutes") or (ckpt.card.get("train_seconds") or 0) / 60
    q = "—" if c.q is None else c.q.get("kind")
    return (f"{what}, {c.p.get('kind')} → {q}, L = {c.L:g}, {ckpt.card.get('steps')} steps, {minutes:.1f} min of "
            "training")


# ------------------------------------------------------------------------------------------- image data sets


class ImageData(NamedTuple):
    """An image data set the shipped checkpoints generate: its name in the app, the shipped pair (model label ->
    checkpoint name, EFM first), the image shape (C, H, W), the data spec of its training split (``make_source``),
    what its images show, the near-copy distance (``efm_core.metrics``) and what held-out real images score."""

    label: str
    pair: dict[str, str]
    shape: tuple[int, int, int]
    train: dict
    what: str
    copy: float
    held: str

    @property
    def D(self) -> int:
        """Numbers per image: the data dimension."""
        return math.prod(self.shape)


IMAGE_DATA = {
    "digits": ImageData(
        "8×8 digits", {"EFM": "digits-gen", "flow matching": "fm-digits-gen"}, (1, 8, 8),
        {"kind": "digits", "classes": None, "split": "train"}, "digits", DIGITS_COPY_DISTANCE,
        "Held-out real digits lie 0.94 or more, median 2.05, from theirs.",
    ),
    "fashion": ImageData(
        "28×28 Fashion-MNIST", {"EFM": "fashion-gen", "flow matching": "fm-fashion-gen"}, (1, 28, 28),
        {"kind": "fashion_mnist", "split": "train", "classes": None}, "clothing", FASHION_COPY_DISTANCE,
        "Held-out test images lie at a median 7.0 from theirs (0.1 % closer than 2.0: the set has near-duplicates).",
    ),
}


def missing_data_message(what: str, still: str) -> str:
    """What to do when Fashion-MNIST is not installed: ``what`` (e.g. "The nearest training images") needs it,
    ``still`` says what works without it."""
    return (
        f"{what} need the Fashion-MNIST data set, which is not installed on this server; {still}. Install it with "
        f"`{datasets.FASHION_APT}` (Debian, into `{datasets.FASHION_DEFAULT_DIR}`), or set `{datasets.ENV_VAR}` to a "
        "folder with its four idx files, and reload the page."
    )


# ------------------------------------------------------------------------------------------------- digits helpers


def translation_models(source: int, target: int, prefix: str = "") -> tuple[str, bool] | None:
    """(checkpoint name, reverse) that translates coloured ``source`` digits to ``target``: ``cdigits-AtoB`` forwards,
    or ``cdigits-BtoA`` run backwards along the same field; None if neither is there. ``prefix`` 'fm-' for FM."""
    forward, backward = f"{prefix}cdigits-{source}to{target}", f"{prefix}cdigits-{target}to{source}"
    if pretrained_path(forward) is not None:
        return forward, False
    if pretrained_path(backward) is not None:
        return backward, True
    return None


# ---------------------------------------------------------------------------------------------------- training lab
