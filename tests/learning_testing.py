"""Helpers for the tests of the learned-field pages (imported by tests; not a test module)."""

from __future__ import annotations

from pathlib import Path

import torch

from efm_core.presets import get_preset
from efm_core.train import Trainer

# the checkpoints the Translation and Generation pages look for, as tiny untrained-quality stand-ins
TINY_NAMES = ("digits-gen", "fm-digits-gen", "cdigits-2to3", "fm-cdigits-2to3")


def tiny_checkpoint(folder: Path, name: str, steps: int = 2) -> Path:
    """Write ``folder/name`` (.safetensors + .json): the preset ``name`` with a 16-wide one-block MLP trained ``steps``
    steps on small batches (about a second). The pages only need the right data shapes and a valid card."""
    config = get_preset(name).replace(net={"kind": "mlp", "width": 16, "depth": 1}, steps=steps, n_charges=64, n_queries=32, warmup=1)
    with torch.random.fork_rng(devices=[]):
        trainer = Trainer(config, device="cpu")
        trainer.step(steps)
    base = Path(folder) / name
    trainer.save(base, train_state=False)
    return base


def tiny_checkpoints(folder: Path, names: tuple[str, ...] = TINY_NAMES) -> Path:
    """All of ``names`` in ``folder`` (see ``tiny_checkpoint``); returns the folder."""
    for name in names:
        tiny_checkpoint(folder, name)
    return Path(folder)
